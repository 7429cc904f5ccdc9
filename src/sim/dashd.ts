import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { isHex, u32Hex } from '../chain/bytes.js';
import type { PowHasher } from '../chain/hasher.js';
import { difficultyFromBits, targetFromBits } from '../chain/target.js';
import { loadX11Wasm } from '../chain/x11-wasm.js';
import { readAddress, type DashChain } from './dash-address.js';
import { judgeBlock } from './dashd-block-judge.js';
import { SimChain, type BlockSource, type ChainBlock } from './dashd-chain.js';
import { doubleSha256, hashHex } from './dashd-hashes.js';
import { RpcCode, RpcError, RpcHttpServer } from './dashd-http.js';
import { otherMinerBlock } from './dashd-other-miner.js';
import { planBlock, renderTemplate, type BlockPlan, type PlanOptions, type TemplateFault } from './dashd-template.js';
import type { Random } from './dashd-transactions.js';

/**
 * A simulated dashd for the proxy's solo mining: the JSON-RPC methods a solo miner uses, realistic Dash Core
 * 20 templates (dashd-template.ts), long-polling, and a `submitblock` that judges every block with the
 * simulator's own code (dashd-block-judge.ts). An accepted block becomes the tip: a new template, and every
 * waiting long-poll is answered. Blocks of other miners can come on a timer, ChainLocks come after
 * `chainlockMs`, and the test hooks make the faults a real node has (syncing, not connected, hung, a
 * template the proxy must refuse, a reorg, a restart on the same port with a new cookie).
 *
 * Methods: getblockchaininfo, getbestblockhash, getblockcount, getblockhash, getblock (verbosity 0 or 1),
 * validateaddress, getblocktemplate, submitblock.
 */

export interface SimDashdOptions {
  host?: string;
  /** Default 0: a free port (kept across stop()/start()). */
  port?: number;
  /** RPC login. With neither a user nor a cookie file, any login (or none) is accepted. */
  user?: string;
  password?: string;
  /** Write `__cookie__:<random>` here at every start (and remove it at stop); that login is accepted. */
  cookieFile?: string;
  /** Network (addresses' version bytes, `getblockchaininfo.chain`); default 'main'. */
  chain?: DashChain;
  /** Network target, compact (number or 8 hex digits); default 1f00ffff (about 65,536 hashes a block). */
  bits?: number | string;
  /** Height of the first template (default 2,100,000). */
  startHeight?: number;
  /** Block version (default 0x20000000). */
  version?: number;
  /** New coins per block, duffs (default 258,471,640). */
  subsidy?: number;
  /** Payment transactions per template besides the quorum commitment (default 3). */
  txCount?: number;
  /** A superblock every this many heights (default 16,616 as on mainnet; 0: never). */
  superblockInterval?: number;
  /** Duffs paid to a superblock's two payees (default 50 DASH). */
  superblockBudget?: number;
  /** A long-poll with the current `longpollid` is answered after this long without a new tip (default 30 s). */
  longpollSeconds?: number;
  /** false: ignore `longpollid` and answer at once, like a node without long-polling (default true). */
  longpoll?: boolean;
  /** A block from another miner this often (ms; default 0: never). */
  otherMinerIntervalMs?: number;
  /** A block on the best chain gets its ChainLock this long after it joined it (ms; default 2000; null: never). */
  chainlockMs?: number | null;
  /** When set, a submitted block's first output must pay this address (`bad-cb-payout` otherwise). */
  expectPayoutAddress?: string;
  hasher?: PowHasher;
  now?: () => number;
  random?: Random;
}

export type SubmitOutcome = 'accepted' | 'rejected' | 'inconclusive' | 'duplicate' | 'undecodable';

export interface SimDashdSubmitEvent {
  outcome: SubmitOutcome;
  /** Display hash, null when the bytes did not decode. */
  hash: string | null;
  height: number | null;
  /** The answer's words: the reject reason, `duplicate`..., the decode error; null when accepted. */
  reason: string | null;
  at: number;
}

export interface SimDashdTipEvent {
  hash: string;
  height: number;
  source: BlockSource;
}

export interface SimDashdEvents {
  submit: [SimDashdSubmitEvent];
  tip: [SimDashdTipEvent];
}

export interface SimDashdStats {
  listening: boolean;
  port: number;
  chain: DashChain;
  height: number;
  tip: string;
  /** Blocks submitted and made the tip. */
  blocksAccepted: number;
  /** Submitted blocks refused, by reason (`high-hash`, `bad-cb-payee`...). */
  blocksRejected: Record<string, number>;
  blocksInconclusive: number;
  duplicates: number;
  undecodable: number;
  otherMinerBlocks: number;
  /** Every submitted block accepted: hash and height, oldest first. */
  accepted: { hash: string; height: number }[];
  /** Requests answered per method (unknown ones included), and logins refused. */
  requests: Record<string, number>;
  unauthorized: number;
  templatesServed: number;
  longpollsWaiting: number;
}

export const COOKIE_USER = '__cookie__';
const DEFAULTS = {
  host: '127.0.0.1',
  chain: 'main' as DashChain,
  bits: 0x1f00ffff,
  startHeight: 2_100_000,
  version: 0x20000000,
  subsidy: 258_471_640,
  txCount: 3,
  superblockInterval: 16_616,
  superblockBudget: 50 * 100_000_000,
  longpollSeconds: 30,
  chainlockMs: 2000,
};
const MAX_INVALID_REMEMBERED = 10_000;
const SYNCING_PROGRESS = 0.43;

function parseBits(v: number | string): number {
  if (typeof v === 'number') return v >>> 0;
  if (!isHex(v, 4)) throw new RangeError(`bits must be 8 hex digits, got '${v}'`);
  return parseInt(v, 16) >>> 0;
}

function checkCount(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${v}`);
  return v;
}

function expectString(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new RpcError(RpcCode.TypeError, `${what}: expected a string, got ${v === undefined ? 'nothing' : JSON.stringify(v)}`);
  return v;
}

export class SimDashd extends EventEmitter<SimDashdEvents> {
  readonly chainName: DashChain;
  private readonly bits: number;
  private readonly planOptions: Omit<PlanOptions, 'random'>;
  private readonly longpollMs: number;
  private readonly longpollEnabled: boolean;
  private readonly otherMinerIntervalMs: number;
  private readonly chainlockMs: number | null;
  private readonly payoutScript: Buffer | null;
  private readonly now: () => number;
  private readonly random: Random;
  private readonly http: RpcHttpServer;
  private readonly chain: SimChain;
  private hasher: PowHasher | undefined;
  private plan: BlockPlan;
  private tipSeq = 0;
  private cookiePassword: string | null = null;
  private readonly invalid = new Set<string>();
  private readonly tipWaiters = new Set<() => void>();
  private readonly held = new Set<() => void>();
  private otherMinerTimer: NodeJS.Timeout | undefined;
  private syncing = false;
  private connected = true;
  private stalled = false;
  private fault: TemplateFault | null = null;
  private readonly counts = {
    blocksAccepted: 0,
    blocksRejected: {} as Record<string, number>,
    blocksInconclusive: 0,
    duplicates: 0,
    undecodable: 0,
    otherMinerBlocks: 0,
    accepted: [] as { hash: string; height: number }[],
    requests: {} as Record<string, number>,
    unauthorized: 0,
    templatesServed: 0,
  };

  constructor(private readonly opts: SimDashdOptions = {}) {
    super();
    this.chainName = opts.chain ?? DEFAULTS.chain;
    this.bits = parseBits(opts.bits ?? DEFAULTS.bits);
    if (targetFromBits(this.bits) === 0n) throw new RangeError(`bits ${u32Hex(this.bits)} encodes a zero target`);
    const startHeight = checkCount('startHeight', opts.startHeight ?? DEFAULTS.startHeight, 2, 0x7fffffff);
    const subsidy = checkCount('subsidy', opts.subsidy ?? DEFAULTS.subsidy, 0, 21e14);
    this.planOptions = {
      chain: this.chainName,
      bits: this.bits,
      version: (opts.version ?? DEFAULTS.version) >>> 0,
      subsidy: BigInt(subsidy),
      txCount: checkCount('txCount', opts.txCount ?? DEFAULTS.txCount, 0, 1000),
      superblockInterval: checkCount('superblockInterval', opts.superblockInterval ?? DEFAULTS.superblockInterval, 0, 1e9),
      superblockBudget: BigInt(checkCount('superblockBudget', opts.superblockBudget ?? DEFAULTS.superblockBudget, 0, 21e14)),
    };
    const longpollSeconds = opts.longpollSeconds ?? DEFAULTS.longpollSeconds;
    if (!(longpollSeconds > 0)) throw new RangeError(`longpollSeconds must be > 0, got ${longpollSeconds}`);
    this.longpollMs = longpollSeconds * 1000;
    this.longpollEnabled = opts.longpoll ?? true;
    this.otherMinerIntervalMs = opts.otherMinerIntervalMs ?? 0;
    this.chainlockMs = opts.chainlockMs === undefined ? DEFAULTS.chainlockMs : opts.chainlockMs;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? randomBytes;
    if (opts.expectPayoutAddress !== undefined) {
      const read = readAddress(opts.expectPayoutAddress, this.chainName);
      if (!read.isvalid) throw new RangeError(`expectPayoutAddress ${opts.expectPayoutAddress}: ${read.error}`);
      this.payoutScript = read.scriptPubKey;
    } else {
      this.payoutScript = null;
    }
    if (opts.cookieFile === undefined && opts.user === undefined && opts.password !== undefined) throw new RangeError('password without user');

    // The start block: the tip the first template builds on, made like another miner's. Its parent is made
    // up and its hash is not X11 (the hasher loads in start()): sha256d of its header with the leading zeros
    // of a block hash, unique all the same.
    const seconds = Math.floor(this.now() / 1000) - 150;
    const parentPlan = planBlock({ hash: this.random(32), height: startHeight - 2, time: seconds - 150, bits: this.bits }, this.planOptionsNow());
    const made = otherMinerBlock(parentPlan, seconds, this.random);
    const startHash = doubleSha256(made.header).fill(0, 28);
    this.chain = new SimChain({ hash: startHash, height: startHeight - 1, prevId: '', time: seconds, bits: this.bits, txids: made.txids.map(hashHex), raw: made.raw }, this.now());
    this.plan = this.planOnTip();

    this.http = new RpcHttpServer({
      host: opts.host ?? DEFAULTS.host,
      port: opts.port ?? 0,
      authorize: (user, password) => this.authorize(user, password),
      call: (method, params, request) => this.call(method, params, request.closed),
      gate: () => this.gate(),
      onUnauthorized: () => this.counts.unauthorized++,
    });
  }

  get port(): number {
    return this.http.port;
  }

  get url(): string {
    return `http://${this.opts.host ?? DEFAULTS.host}:${this.http.port}`;
  }

  /** The network difficulty of the simulated chain. */
  get networkDifficulty(): number {
    return difficultyFromBits(this.bits);
  }

  get height(): number {
    return this.chain.tip.height;
  }

  get tip(): string {
    return this.chain.tip.id;
  }

  /** The cookie's password while running with a cookie file. */
  get cookie(): string | null {
    return this.cookiePassword;
  }

  /** The plan of the next block (what `submitblock` checks against). */
  get nextBlock(): BlockPlan {
    return this.plan;
  }

  /** Listen (the first time on `port`, later on the same port again), write the cookie file, start the other miners. */
  async start(): Promise<{ port: number; url: string }> {
    if (this.http.listening) throw new Error('SimDashd: already started');
    this.hasher ??= this.opts.hasher ?? (await loadX11Wasm());
    if (this.opts.cookieFile !== undefined) {
      this.cookiePassword = randomBytes(32).toString('hex');
      writeFileSync(this.opts.cookieFile, `${COOKIE_USER}:${this.cookiePassword}`, { mode: 0o600 });
    }
    await this.http.listen();
    if (this.otherMinerIntervalMs > 0) {
      this.otherMinerTimer = setInterval(() => this.mineOtherBlock(), this.otherMinerIntervalMs);
      this.otherMinerTimer.unref();
    }
    return { port: this.port, url: this.url };
  }

  /** Stop answering: the port closes (waiting long-polls and held requests dropped), the cookie file goes. */
  async stop(): Promise<void> {
    if (this.otherMinerTimer) clearInterval(this.otherMinerTimer);
    this.otherMinerTimer = undefined;
    for (const wake of this.tipWaiters) wake();
    this.tipWaiters.clear();
    for (const release of this.held) release();
    this.held.clear();
    await this.http.close();
    if (this.opts.cookieFile !== undefined && this.cookiePassword !== null) rmSync(this.opts.cookieFile, { force: true });
    this.cookiePassword = null;
  }

  // ---- test hooks ----

  /** Report (or stop reporting) initial block download: templates refused with -10. */
  setInitialBlockDownload(syncing: boolean): void {
    this.syncing = syncing;
  }

  /** No peers: templates refused with -9. */
  setConnected(connected: boolean): void {
    this.connected = connected;
  }

  /** Requests get no answer while stalled (a hung node); they are answered once unstalled. */
  setStalled(stalled: boolean): void {
    this.stalled = stalled;
    if (!stalled) {
      for (const release of this.held) release();
      this.held.clear();
    }
  }

  /** Serve templates with this fault (the proxy must refuse them), or correct ones again (null). */
  setTemplateFault(fault: TemplateFault | null): void {
    this.fault = fault;
  }

  /** A block found by another miner on the tip: the tip moves. Returns its hash. */
  mineOtherBlock(): string {
    const made = otherMinerBlock(this.plan, Math.max(Math.floor(this.now() / 1000), this.plan.mintime), this.random);
    this.counts.otherMinerBlocks++;
    return this.connect({ hash: Buffer.from(this.hasherNow().hash(made.header)), raw: made.raw, txids: made.txids.map(hashHex), time: made.header.readUInt32LE(68) }, 'other-miner');
  }

  /**
   * Orphan block `hash` (and those after it): their confirmations turn -1, and another miner's block takes
   * its height, which is the new tip. Throws for a block not on the best chain or already chainlocked.
   */
  reorg(hash: string): string {
    this.chain.orphan(hash, this.now(), this.chainlockMs);
    this.plan = this.planOnTip();
    return this.mineOtherBlock();
  }

  stats(): SimDashdStats {
    const c = this.counts;
    return {
      listening: this.http.listening,
      port: this.port,
      chain: this.chainName,
      height: this.height,
      tip: this.tip,
      blocksAccepted: c.blocksAccepted,
      blocksRejected: { ...c.blocksRejected },
      blocksInconclusive: c.blocksInconclusive,
      duplicates: c.duplicates,
      undecodable: c.undecodable,
      otherMinerBlocks: c.otherMinerBlocks,
      accepted: c.accepted.map((a) => ({ ...a })),
      requests: { ...c.requests },
      unauthorized: c.unauthorized,
      templatesServed: c.templatesServed,
      longpollsWaiting: this.tipWaiters.size,
    };
  }

  // ---- internals ----

  private planOptionsNow(): PlanOptions {
    return { ...this.planOptions, random: this.random };
  }

  private planOnTip(): BlockPlan {
    const tip = this.chain.tip;
    return planBlock({ hash: tip.hash, height: tip.height, time: tip.time, bits: tip.bits }, this.planOptionsNow());
  }

  private hasherNow(): PowHasher {
    if (!this.hasher) throw new Error('SimDashd: start() first (the X11 hasher loads there)');
    return this.hasher;
  }

  private get longpollId(): string {
    return `${this.chain.tip.id}${this.tipSeq}`;
  }

  /** Add a block on the tip: it becomes the tip, a new plan is made and waiting long-polls are answered. */
  private connect(b: { hash: Buffer; raw: Buffer; txids: readonly string[]; time: number }, source: BlockSource): string {
    this.chain.add({ hash: b.hash, height: this.plan.height, prevId: this.chain.tip.id, time: b.time, bits: this.bits, txids: b.txids, raw: b.raw, source }, this.now());
    this.tipSeq++;
    this.plan = this.planOnTip();
    for (const wake of this.tipWaiters) wake();
    this.tipWaiters.clear();
    this.emit('tip', { hash: this.tip, height: this.height, source });
    return this.tip;
  }

  private authorize(user: string, password: string): boolean {
    if (this.cookiePassword !== null && user === COOKIE_USER && password === this.cookiePassword) return true;
    if (this.opts.user !== undefined) return user === this.opts.user && password === (this.opts.password ?? '');
    return this.opts.cookieFile === undefined;
  }

  private gate(): Promise<void> {
    if (!this.stalled) return Promise.resolve();
    return new Promise((resolve) => this.held.add(resolve));
  }

  private async call(method: string, params: unknown[], closed: AbortSignal): Promise<unknown> {
    this.counts.requests[method] = (this.counts.requests[method] ?? 0) + 1;
    switch (method) {
      case 'getblockchaininfo':
        return this.blockchainInfo();
      case 'getbestblockhash':
        return this.tip;
      case 'getblockcount':
        return this.height;
      case 'getblockhash':
        return this.blockHash(params[0]);
      case 'getblock':
        return this.getBlock(params[0], params[1]);
      case 'validateaddress':
        return this.validateAddress(params[0]);
      case 'getblocktemplate':
        return this.blockTemplate(params[0], closed);
      case 'submitblock':
        return this.submitBlock(params[0]);
      default:
        throw new RpcError(RpcCode.MethodNotFound, 'Method not found');
    }
  }

  private blockchainInfo(): Record<string, unknown> {
    const tip = this.chain.tip;
    return {
      chain: this.chainName,
      blocks: tip.height,
      headers: tip.height,
      bestblockhash: tip.id,
      difficulty: this.networkDifficulty,
      mediantime: tip.time,
      verificationprogress: this.syncing ? SYNCING_PROGRESS : 1,
      initialblockdownload: this.syncing,
      chainwork: '0'.repeat(64),
      size_on_disk: 0,
      pruned: false,
      warnings: '',
    };
  }

  private blockHash(height: unknown): string {
    if (typeof height !== 'number' || !Number.isInteger(height)) throw new RpcError(RpcCode.TypeError, `height: expected an integer, got ${JSON.stringify(height)}`);
    const block = this.chain.at(height);
    if (!block) throw new RpcError(RpcCode.InvalidParameter, 'Block height out of range');
    return block.id;
  }

  private getBlock(hash: unknown, verbosity: unknown): unknown {
    const id = expectString(hash, 'blockhash');
    if (!/^[0-9a-fA-F]{64}$/.test(id)) throw new RpcError(RpcCode.InvalidParameter, `blockhash must be of length 64 (not ${id.length}, for '${id}')`);
    const level = verbosity === undefined || verbosity === true ? 1 : verbosity === false ? 0 : verbosity;
    if (level !== 0 && level !== 1 && level !== 2) throw new RpcError(RpcCode.TypeError, `verbosity: expected 0, 1 or 2, got ${JSON.stringify(verbosity)}`);
    const block = this.chain.get(id);
    if (!block) throw new RpcError(RpcCode.InvalidAddressOrKey, 'Block not found');
    if (level === 0) return block.raw.toString('hex');
    return this.blockJson(block);
  }

  private blockJson(block: ChainBlock): Record<string, unknown> {
    const view = this.chain.view(block, this.now(), this.chainlockMs);
    const header = block.raw.subarray(0, 80);
    const next = view.confirmations > 1 ? this.chain.at(block.height + 1) : undefined;
    return {
      hash: block.id,
      confirmations: view.confirmations,
      size: block.raw.length,
      height: block.height,
      version: header.readUInt32LE(0),
      versionHex: u32Hex(header.readUInt32LE(0)),
      merkleroot: hashHex(header.subarray(36, 68)),
      tx: [...block.txids],
      time: block.time,
      mediantime: block.time,
      nonce: header.readUInt32LE(76),
      bits: u32Hex(block.bits),
      difficulty: difficultyFromBits(block.bits),
      nTx: block.txids.length,
      ...(block.prevId !== '' && { previousblockhash: block.prevId }),
      ...(next && { nextblockhash: next.id }),
      chainlock: view.chainlock,
    };
  }

  private validateAddress(address: unknown): Record<string, unknown> {
    const text = expectString(address, 'address');
    const read = readAddress(text, this.chainName);
    if (!read.isvalid) return { isvalid: false, error: read.error };
    return { isvalid: true, address: text, scriptPubKey: read.scriptPubKey.toString('hex'), isscript: read.isscript };
  }

  private refuseWhenNotReady(): void {
    if (!this.connected) throw new RpcError(RpcCode.ClientNotConnected, 'Dash Core is not connected!');
    if (this.syncing) throw new RpcError(RpcCode.ClientInInitialDownload, 'Dash Core is in initial sync and waiting for blocks...');
  }

  private async blockTemplate(request: unknown, closed: AbortSignal): Promise<Record<string, unknown>> {
    if (request !== undefined && (typeof request !== 'object' || request === null || Array.isArray(request))) {
      throw new RpcError(RpcCode.TypeError, `template_request: expected an object, got ${JSON.stringify(request)}`);
    }
    const longpollid = (request as { longpollid?: unknown } | undefined)?.longpollid;
    if (longpollid !== undefined && typeof longpollid !== 'string') throw new RpcError(RpcCode.TypeError, 'longpollid: expected a string');
    this.refuseWhenNotReady();
    if (this.longpollEnabled && longpollid === this.longpollId) await this.waitForTip(closed);
    this.refuseWhenNotReady();
    this.counts.templatesServed++;
    return renderTemplate(this.plan, { curtime: Math.floor(this.now() / 1000), longpollid: this.longpollId, fault: this.fault });
  }

  /** Resolves on a new tip, after `longpollSeconds`, when the client leaves, or at stop(). */
  private waitForTip(closed: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        closed.removeEventListener('abort', done);
        this.tipWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, this.longpollMs);
      closed.addEventListener('abort', done, { once: true });
      this.tipWaiters.add(done);
    });
  }

  private submitBlock(hex: unknown): string | null {
    const text = expectString(hex, 'hexdata');
    const verdict = judgeBlock(text, {
      plan: this.plan,
      tipId: this.tip,
      known: (id) => (this.chain.get(id) ? 'valid' : this.invalid.has(id) ? 'invalid' : undefined),
      hasher: this.hasherNow(),
      now: Math.floor(this.now() / 1000),
      payoutScript: this.payoutScript,
    });
    const at = this.now();
    const report = (outcome: SubmitOutcome, hash: string | null, height: number | null, reason: string | null) => this.emit('submit', { outcome, hash, height, reason, at });
    switch (verdict.kind) {
      case 'undecodable':
        this.counts.undecodable++;
        report('undecodable', null, null, verdict.message);
        throw new RpcError(RpcCode.DeserializationError, verdict.message);
      case 'duplicate':
        this.counts.duplicates++;
        report('duplicate', verdict.id, this.chain.get(verdict.id)?.height ?? null, verdict.reason);
        return verdict.reason;
      case 'inconclusive':
        this.counts.blocksInconclusive++;
        report('inconclusive', verdict.id, null, 'inconclusive');
        return 'inconclusive';
      case 'rejected':
        this.counts.blocksRejected[verdict.reason] = (this.counts.blocksRejected[verdict.reason] ?? 0) + 1;
        if (verdict.reason !== 'prev-blk-not-found') this.rememberInvalid(verdict.id);
        report('rejected', verdict.id, verdict.reason === 'prev-blk-not-found' ? null : this.plan.height, verdict.reason);
        return verdict.reason;
      case 'accepted': {
        const height = this.plan.height;
        this.counts.blocksAccepted++;
        this.counts.accepted.push({ hash: verdict.id, height });
        this.connect({ hash: verdict.hash, raw: Buffer.from(text, 'hex'), txids: verdict.txids, time: verdict.block.header.time }, 'submitted');
        report('accepted', verdict.id, height, null);
        return null;
      }
    }
  }

  private rememberInvalid(id: string): void {
    this.invalid.add(id);
    if (this.invalid.size > MAX_INVALID_REMEMBERED) this.invalid.delete(this.invalid.values().next().value as string);
  }
}
