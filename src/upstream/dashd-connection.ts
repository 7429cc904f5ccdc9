import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { PowHasher } from '../chain/hasher.js';
import { DashdRpc, type RpcFailure, type RpcOutcome } from './dashd-rpc.js';
import { withDashdDefaults, type ResolvedDashdSettings } from './dashd-settings.js';
import { readSubmitBlockAnswer } from '../chain/block.js';
import { parseBlockTemplate } from '../chain/block-template.js';
import {
  claimedPrevhash,
  DASHD_EXTRANONCE1_BYTES,
  DASHD_EXTRANONCE2_BYTES,
  jobOf,
  judgeShare,
  tipOf,
  type DashdJob,
} from './dashd-work.js';
import type { DownCause, PoolDownInfo, PoolSession, PoolSessionEvents, UpstreamLog } from './pool-session.js';
import type { BlockSubmission, ExtranonceInfo, PoolConfig, SubmitResult, UpstreamSubmit } from './types.js';

/**
 * ONE session on the farm's own dashd (solo mining), with the surface of a pool session (pool-session.ts).
 *
 * Start: `getblockchaininfo` (the login, the chain, still syncing?), `validateaddress` of the payout address
 * (its scriptPubKey is what the coinbase pays), the first template: `ready` (an extranonce1 of 8 random
 * bytes, 8 bytes of extranonce2 for the proxy), then a clean `job`. Then new templates come by long poll
 * (`longpollid`; when dashd does not hold it, polling alone), dashd's tip is asked every `pollSeconds` (a
 * new tip fetches a template at once and makes a clean job) and a fresh template is taken every
 * `templateSeconds`. Every template goes through the chain's checks: a refused one is a `jobRefused`, and
 * when there is no checked work for the current tip the session ends (`fault`, then `down`, cause
 * `protocol`): nothing is ever mined on work the proxy could not check.
 *
 * A share is judged here (X11 with the slot's hasher): above the solo share target it is refused (23); at
 * or below it accepted at once; meeting the network's target, the block is assembled and sent with
 * `submitblock` at once, and the verdict carries it (`block`).
 *
 * Down causes: `connect` (dashd's RPC does not answer), `auth` (login, cookie, or a payout address dashd
 * says is invalid), `syncing` (initial download, masternode sync, no peers), `protocol` (a template that
 * fails our checks, or answers that are not RPC), `timeout` (no answer for 3 poll intervals + 10 s).
 */

export interface DashdConnectionOptions {
  /** X11 of an 80-byte header (the proxy's hasher). */
  hasher: PowHasher;
  /** Each RPC's wait, milliseconds (a long poll has none). Default 10000. */
  rpcTimeoutMs?: number;
  /** Block submissions: tries on transport errors, and the time they may take in all. Defaults 3 and 10000. */
  blockSubmitTries?: number;
  blockSubmitWindowMs?: number;
  /** Jobs kept for late shares (the oldest are forgotten). Default 16. */
  maxJobs?: number;
  /** dashd is gone when it answers nothing for 3 poll intervals plus this, milliseconds. Default 10000. */
  silenceSlackMs?: number;
  /**
   * The proxy's difficulty unit (`difficulty.multiplier`): a job's difficulty is said in it, so the target the
   * proxy forwards shares at is the one this session judges them by. Default 1.
   */
  difficultyMultiplier?: number;
  log?: UpstreamLog;
}

export const DASHD_CONNECTION_DEFAULTS = { rpcTimeoutMs: 10_000, blockSubmitTries: 3, blockSubmitWindowMs: 10_000, maxJobs: 16, silenceSlackMs: 10_000, difficultyMultiplier: 1 };
/** A long poll answered this fast with the same id this many times in a row: dashd does not hold it. */
const QUICK_LONGPOLL_MS = 500;
const QUICK_LONGPOLLS_TO_GIVE_UP = 3;

type State = 'new' | 'starting' | 'ready' | 'closed';

export class DashdConnection extends EventEmitter<PoolSessionEvents> implements PoolSession {
  readonly pool: PoolConfig;
  readonly url: string;
  readonly settings: ResolvedDashdSettings;
  private readonly rpc: DashdRpc;
  private readonly hasher: PowHasher;
  private readonly opts: typeof DASHD_CONNECTION_DEFAULTS;
  private readonly log: UpstreamLog;
  private readonly extranonce1 = randomBytes(DASHD_EXTRANONCE1_BYTES).toString('hex');
  private readonly tag: Buffer;

  private stateNow: State = 'new';
  private everReady = false;
  private downInfo: PoolDownInfo | null = null;
  private leaving: string | null = null;
  private retireTimer: NodeJS.Timeout | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private templateTimer: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private readonly longpollAbort = new AbortController();
  private longpolling = false;
  private lastAnswerAt = 0;

  private payoutScript: Buffer | null = null;
  private chain = '';
  /** The tip the current work builds on, and the long poll's id. */
  private tip: { prevhash: string; height: number; longpollid: string | null } | null = null;
  private readonly jobs = new Map<string, DashdJob>();
  private nextJobId = 1;
  private refusedInARow = 0;
  private fetching: Promise<void> | null = null;
  private fetchAgain = false;
  private pendingBlocks = 0;

  private resolveClosed!: () => void;
  readonly closed: Promise<void> = new Promise((resolve) => (this.resolveClosed = resolve));

  constructor(pool: PoolConfig, options: DashdConnectionOptions) {
    super();
    if (!pool.dashd) throw new Error(`pool '${pool.name}' is not a dashd entry`);
    this.pool = pool;
    this.settings = withDashdDefaults(pool.dashd);
    this.hasher = options.hasher;
    const defined = Object.fromEntries(Object.entries(options).filter(([k, v]) => v !== undefined && k in DASHD_CONNECTION_DEFAULTS));
    this.opts = { ...DASHD_CONNECTION_DEFAULTS, ...defined };
    this.log = options.log ?? (() => {});
    this.rpc = new DashdRpc({ url: pool.url, user: pool.user, password: pool.password, cookieFile: this.settings.cookieFile, timeoutMs: this.opts.rpcTimeoutMs });
    this.url = this.rpc.url;
    this.tag = Buffer.from(this.settings.coinbaseTag, 'ascii');
  }

  // ---- the session's surface ----------------------------------------------------------------------------

  get isReady(): boolean {
    return this.stateNow === 'ready';
  }
  get wasReady(): boolean {
    return this.everReady;
  }
  get extranonce(): ExtranonceInfo | null {
    return this.stateNow === 'ready' ? { extranonce1: this.extranonce1, extranonce2Size: DASHD_EXTRANONCE2_BYTES } : null;
  }
  /** dashd offers no version rolling. */
  get versionMask(): number | null {
    return null;
  }
  /** Why the session ended (null while alive). */
  get down(): PoolDownInfo | null {
    return this.downInfo;
  }
  /** The chain dashd is on (`main`, `test`, `regtest`, `devnet`), once known. */
  get network(): string {
    return this.chain;
  }

  start(): void {
    if (this.stateNow !== 'new') throw new Error(`dashd '${this.pool.name}': start() called twice`);
    this.stateNow = 'starting';
    void this.begin();
  }

  close(reason = 'closed by the proxy'): void {
    this.fail('owner', reason);
  }

  retire(reason: string, graceMs: number): void {
    if (this.stateNow === 'closed' || this.leaving !== null) return;
    this.leaving = reason;
    if (this.pendingBlocks === 0) return this.fail('owner', reason);
    this.retireTimer = setTimeout(() => this.fail('owner', reason), graceMs);
  }

  authorizeWorker(): Promise<boolean> {
    return Promise.resolve(this.isReady);
  }

  async submit(share: UpstreamSubmit): Promise<SubmitResult> {
    if (this.stateNow !== 'ready' || this.leaving !== null) {
      const lost = this.stateNow === 'closed';
      return { kind: 'unanswered', cause: lost ? 'connection-lost' : 'no-pool', reason: lost ? 'dashd session ended' : this.leaving ? 'dashd session is closing' : 'dashd session not ready', latencyMs: 0 };
    }
    const startedAt = performance.now();
    const latency = () => Math.round((performance.now() - startedAt) * 1000) / 1000;
    const job = this.jobs.get(share.jobId);
    if (!job) return { kind: 'rejected', code: 21, reason: 'job not found', latencyMs: latency() };
    const judged = judgeShare(job, share, this.extranonce1, this.hasher);
    if (judged.kind === 'refused') return { kind: 'rejected', code: judged.code, reason: judged.reason, latencyMs: latency() };
    if (judged.kind === 'share') return { kind: 'accepted', latencyMs: latency() };
    const block = await this.submitBlock(job, judged.block, judged.hash);
    const verdict: SubmitResult =
      block.result === 'rejected'
        ? { kind: 'rejected', code: 20, reason: `block rejected by dashd: ${block.reason ?? 'no reason given'}`, latencyMs: latency(), block }
        : { kind: 'accepted', latencyMs: latency(), block };
    return verdict;
  }

  // ---- start ----------------------------------------------------------------------------------------------

  private async begin(): Promise<void> {
    const info = await this.call('getblockchaininfo');
    if (info === undefined) return;
    const chain = readChainInfo(info);
    if (typeof chain === 'string') return this.fail('protocol', `dashd at ${this.url}: ${chain}`);
    this.chain = chain.chain;
    if (chain.initialBlockDownload) {
      const progress = chain.verificationProgress === null ? '' : `, ${Math.floor(chain.verificationProgress * 100)}% verified`;
      return this.fail('syncing', `dashd at ${this.url} is still syncing (initialblockdownload${progress}): no work from it until it is done`);
    }
    const address = await this.call('validateaddress', [this.settings.payoutAddress]);
    if (address === undefined) return;
    const script = readAddress(address);
    if (typeof script === 'string') return this.fail('auth', `dashd at ${this.url} (chain ${this.chain}): the payout address ${this.settings.payoutAddress} ${script}: fix dashd.payoutAddress`);
    this.payoutScript = script;
    this.armWatchdog();
    await this.fetchTemplate('first');
  }

  // ---- templates ------------------------------------------------------------------------------------------

  /** Fetch a template now (one at a time: a request meanwhile fetches once more after it). */
  private fetchTemplate(why: string): Promise<void> {
    if (this.fetching) {
      this.fetchAgain = true;
      return this.fetching;
    }
    this.fetching = (async () => {
      do {
        this.fetchAgain = false;
        const raw = await this.call('getblocktemplate', [{}]);
        if (raw === undefined) return;
        this.onTemplate(raw, why);
      } while (this.fetchAgain && !this.isClosed());
    })().finally(() => (this.fetching = null));
    return this.fetching;
  }

  private onTemplate(raw: unknown, why: string): void {
    if (this.isClosed()) return;
    const checked = parseBlockTemplate(raw);
    if (!checked.ok) return this.refuse(checked.reason, claimedPrevhash(raw));
    this.refusedInARow = 0;
    const t = checked.template;
    const tip = tipOf(t);
    const clean = this.tip === null || tip.prevhash !== this.tip.prevhash;
    if (clean) this.jobs.clear();
    let job: DashdJob;
    try {
      job = jobOf(t, { jobId: (this.nextJobId++).toString(16), payoutScript: this.payoutScript!, tag: this.tag, shareDifficulty: this.settings.shareDifficulty, cleanJobs: clean });
    } catch (e) {
      // The builder refused it (a scriptSig over 100 bytes): the same as a template that fails the checks.
      return this.refuse(`coinbase: ${(e as Error).message}`, tip.prevhash);
    }
    this.tip = tip;
    this.jobs.set(job.notify.jobId, job);
    while (this.jobs.size > this.opts.maxJobs) this.jobs.delete(this.jobs.keys().next().value as string);
    if (this.stateNow === 'starting') this.becomeReady();
    if (this.isClosed()) return;
    if (clean) this.log('info', `dashd ${this.pool.name}: new tip, height ${tip.height} (${why})`);
    this.emitSafely('job', {
      pool: this.pool.name,
      url: this.url,
      notify: job.notify,
      networkTarget: job.networkTarget,
      difficulty: job.difficulty * this.opts.difficultyMultiplier,
      extranonce: { extranonce1: this.extranonce1, extranonce2Size: DASHD_EXTRANONCE2_BYTES },
      receivedAt: Date.now(),
    });
    if (!this.longpolling && tip.longpollid !== null && !this.isClosed()) void this.longpoll();
  }

  /** A template we cannot mine on: said, and the end of the session when there is no checked work for the tip. */
  private refuse(why: string, claimedTip: string | null): void {
    this.refusedInARow++;
    const reason = `dashd at ${this.url} gave a template that fails our checks (${why}): nothing is mined on it`;
    this.log('warn', `dashd ${this.pool.name}: ${reason}`);
    this.emitSafely('jobRefused', { pool: this.pool.name, url: this.url, reason: why, inARow: this.refusedInARow });
    if (this.isClosed()) return;
    // Work on the current tip may go on; without it (or when the tip moved), there is nothing checked to mine.
    if (this.tip === null || claimedTip === null || claimedTip !== this.tip.prevhash) {
      this.emitSafely('fault', { pool: this.pool.name, url: this.url, reason });
      this.fail('protocol', reason);
    }
  }

  private becomeReady(): void {
    this.stateNow = 'ready';
    this.everReady = true;
    this.log('info', `dashd ${this.pool.name}: ready on chain ${this.chain}, paying ${this.settings.payoutAddress}`);
    this.emitSafely('ready', { pool: this.pool.name, url: this.url, extranonce1: this.extranonce1, extranonce2Size: DASHD_EXTRANONCE2_BYTES });
    if (this.isClosed()) return;
    this.schedulePoll();
    this.scheduleTemplateRefresh();
  }

  /** Ask for dashd's tip every pollSeconds: a new one fetches a template at once (a clean job). */
  private schedulePoll(): void {
    this.pollTimer = setTimeout(async () => {
      this.pollTimer = null;
      const best = await this.call('getbestblockhash');
      if (best === undefined) return;
      if (typeof best !== 'string') return this.fail('protocol', `dashd at ${this.url} answered getbestblockhash with ${JSON.stringify(best)?.slice(0, 80)}`);
      if (this.tip && best.toLowerCase() !== this.tip.prevhash) await this.fetchTemplate('new tip seen by polling');
      if (!this.isClosed()) this.schedulePoll();
    }, this.settings.pollSeconds * 1000);
  }

  private scheduleTemplateRefresh(): void {
    this.templateTimer = setTimeout(async () => {
      this.templateTimer = null;
      await this.fetchTemplate('template refresh');
      if (!this.isClosed()) this.scheduleTemplateRefresh();
    }, this.settings.templateSeconds * 1000);
  }

  /**
   * Long poll with the current template's id: dashd answers when its tip changes (or after a while). A dashd
   * that refuses it, or answers at once again and again, is not long-polled any more: polling goes on.
   */
  private async longpoll(): Promise<void> {
    this.longpolling = true;
    let quick = 0;
    while (!this.isClosed() && this.tip?.longpollid) {
      const sentAt = Date.now();
      const id = this.tip.longpollid;
      const out = await this.rpc.call('getblocktemplate', [{ longpollid: id }], { longpoll: true, signal: this.longpollAbort.signal });
      if (this.isClosed()) return;
      if (!out.ok) {
        if (out.failure.kind === 'rpc' || out.failure.kind === 'bad-answer') {
          this.log('info', `dashd ${this.pool.name}: long poll not available (${out.failure.message}); polling every ${this.settings.pollSeconds} s`);
          return;
        }
        // Down, syncing or a login problem: the polling loop judges those; wait a poll interval.
        await new Promise((r) => setTimeout(r, this.settings.pollSeconds * 1000));
        continue;
      }
      this.lastAnswerAt = Date.now();
      const answeredSameId = this.tip.longpollid === id && Date.now() - sentAt < QUICK_LONGPOLL_MS && claimedPrevhash(out.result) === this.tip.prevhash;
      quick = answeredSameId ? quick + 1 : 0;
      this.onTemplate(out.result, 'long poll');
      if (quick >= QUICK_LONGPOLLS_TO_GIVE_UP) {
        this.log('info', `dashd ${this.pool.name}: long poll answered at once ${quick} times; polling every ${this.settings.pollSeconds} s instead`);
        return;
      }
    }
  }

  /** A dashd that answers nothing for 3 poll intervals + 10 s is gone (its requests time out meanwhile). */
  private armWatchdog(): void {
    const limitMs = 3 * this.settings.pollSeconds * 1000 + this.opts.silenceSlackMs;
    this.lastAnswerAt = Date.now();
    this.watchdog = setInterval(() => {
      const silentMs = Date.now() - this.lastAnswerAt;
      if (silentMs > limitMs) this.fail('timeout', `dashd at ${this.url} stopped answering (nothing for ${Math.round(silentMs / 1000)} s)`);
    }, Math.min(1000, this.settings.pollSeconds * 1000));
  }

  // ---- blocks ---------------------------------------------------------------------------------------------

  /** `submitblock`, tried again on transport errors (a block is worth a lot) within the submit window. */
  private async submitBlock(job: DashdJob, block: Buffer, hash: string): Promise<BlockSubmission> {
    this.pendingBlocks++;
    const t = tipOf(job.template);
    const base = { hash, height: t.height, reward: Number(job.farmReward), coinbaseValue: Number(job.template.coinbaseValue), payoutAddress: this.settings.payoutAddress };
    const hex = block.toString('hex');
    const deadline = Date.now() + this.opts.blockSubmitWindowMs;
    let last: RpcFailure | null = null;
    let answer: { result: BlockSubmission['result']; reason: string | null } | null = null;
    this.log('info', `dashd ${this.pool.name}: share meets the network target: submitting block ${hash} at height ${t.height}`);
    for (let attempt = 1; attempt <= this.opts.blockSubmitTries; attempt++) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      const out = await this.rpc.call('submitblock', [hex], { timeoutMs: left });
      if (out.ok) {
        answer = readSubmitBlockAnswer(out.result, null);
        break;
      }
      last = out.failure;
      if (out.failure.kind === 'rpc' || out.failure.kind === 'bad-answer') {
        answer = readSubmitBlockAnswer(null, { code: out.failure.code, message: out.failure.rpcMessage ?? out.failure.message });
        break;
      }
      if (attempt < this.opts.blockSubmitTries) await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(0, deadline - Date.now()))));
    }
    this.pendingBlocks--;
    const done: BlockSubmission = answer
      ? { ...base, result: answer.result, reason: answer.reason }
      : { ...base, result: 'unanswered', reason: `no answer from dashd after ${this.opts.blockSubmitTries} tries: ${last?.message ?? 'no time left'}` };
    // The tip moved (ours, if accepted): new work at once.
    if (!this.isClosed()) void this.fetchTemplate('after submitting a block');
    if (this.leaving !== null && this.pendingBlocks === 0) this.fail('owner', this.leaving);
    if (this.isClosed() && this.pendingBlocks === 0) this.closeRpc();
    return done;
  }

  // ---- RPC and ending -------------------------------------------------------------------------------------

  /** One RPC of the session: its result (JSON: never undefined), or undefined when it failed (the session is then down, or closed). */
  private async call(method: string, params: unknown[] = []): Promise<unknown> {
    if (this.isClosed()) return undefined;
    const out: RpcOutcome = await this.rpc.call(method, params);
    if (this.isClosed()) return undefined;
    if (out.ok) {
      this.lastAnswerAt = Date.now();
      return out.result;
    }
    this.onFailure(out.failure);
    return undefined;
  }

  private onFailure(f: RpcFailure): void {
    // Not answering at all, during a session: the watchdog decides (a dashd busy for a moment is not down).
    if (f.kind === 'unreachable' && this.stateNow === 'ready') {
      this.log('debug', `dashd ${this.pool.name}: ${f.message}`);
      return;
    }
    const cause: DownCause = f.kind === 'unreachable' ? 'connect' : f.kind === 'auth' ? 'auth' : f.kind === 'syncing' ? 'syncing' : 'protocol';
    this.fail(cause, f.message);
  }

  private fail(cause: DownCause, reason: string): void {
    if (this.stateNow === 'closed') return;
    this.stateNow = 'closed';
    for (const t of [this.pollTimer, this.templateTimer, this.retireTimer]) if (t) clearTimeout(t);
    if (this.watchdog) clearInterval(this.watchdog);
    this.pollTimer = this.templateTimer = this.retireTimer = this.watchdog = null;
    this.longpollAbort.abort();
    this.jobs.clear();
    // A block being submitted is never cut off (the session's end waits for its answer, bounded by the
    // submit window); everything else ends now.
    if (this.pendingBlocks === 0) this.closeRpc();
    this.downInfo = { pool: this.pool.name, url: this.url, reason, cause };
    this.log(cause === 'owner' ? 'info' : this.wasReady ? 'warn' : 'debug', `dashd ${this.pool.name} down: ${reason}`);
    this.emitSafely('down', this.downInfo);
  }

  private closeRpc(): void {
    void this.rpc.close().then(() => this.resolveClosed());
  }

  private isClosed(): boolean {
    return this.stateNow === 'closed';
  }

  private emitSafely<K extends keyof PoolSessionEvents>(event: K, ...args: PoolSessionEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: PoolSessionEvents[K]) => boolean)(event, ...args);
    } catch (e) {
      this.log('error', `dashd ${this.pool.name}: a '${String(event)}' listener threw: ${(e as Error).message}`);
    }
  }
}

/** What the session needs of `getblockchaininfo`, or what is wrong with the answer. */
function readChainInfo(r: unknown): { chain: string; initialBlockDownload: boolean; verificationProgress: number | null } | string {
  if (typeof r !== 'object' || r === null) return 'getblockchaininfo did not answer an object';
  const o = r as Record<string, unknown>;
  if (typeof o.chain !== 'string') return 'getblockchaininfo has no chain';
  if (typeof o.initialblockdownload !== 'boolean') return 'getblockchaininfo has no initialblockdownload';
  return { chain: o.chain, initialBlockDownload: o.initialblockdownload, verificationProgress: typeof o.verificationprogress === 'number' ? o.verificationprogress : null };
}

/** The payout script from `validateaddress`, or why there is none. */
function readAddress(r: unknown): Buffer | string {
  if (typeof r !== 'object' || r === null) return 'could not be checked (validateaddress did not answer an object)';
  const o = r as Record<string, unknown>;
  if (o.isvalid !== true) return 'is not valid on this chain';
  if (typeof o.scriptPubKey !== 'string' || !/^([0-9a-fA-F]{2})+$/.test(o.scriptPubKey)) return 'has no scriptPubKey in validateaddress';
  return Buffer.from(o.scriptPubKey, 'hex');
}
