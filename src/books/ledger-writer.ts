import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { EventBus, ProxyEventMap } from '../core/events.js';
import { silentLogger, type Logger } from '../core/log.js';
import { realTimers, type Timers } from '../util/timers.js';
import { DEFAULT_BOOKS } from './owners.js';
import { version as packageVersion } from '../version.js';
import { LedgerFaultError, LedgerRefusedError, minuteOf, PAID_BLOCK_STATUSES, type BlockStatusRecord, type LedgerFaultCause, type LedgerRecord, type LedgerRun, type LedgerStore, type LocalWorkRecord, type SharePlace, type ShareRecord } from './ledger-store.js';

/**
 * Keeps the books behind the share path. It listens to the core's events only, turns them into records in a
 * bounded in-memory queue, and commits that queue to a store in group commits: one transaction per batch, at
 * most one every `commitIntervalMs`. An event handler never waits on the disk and never throws into the bus.
 * Solo blocks (`block.submitted`, `block.status`) are records too; a commit that made blocks final and payable
 * is told to `onPaidBlocks` (the app splits their rewards then: src/books/block-payouts.ts).
 *
 * When the store cannot be written (missing, locked, full, read-only), records stay queued up to `maxQueued`
 * and the writer retries every `retryMs`; it logs each cause once per episode and says when it caught up.
 * A record it cannot keep (queue full, or left unwritten at stop) is counted in `dropped`, by cause, and
 * logged: never silent.
 */
export interface LedgerWriterOptions {
  store: LedgerStore;
  bus: EventBus;
  /** The owner of a worker at the moment its share is recorded (default: everything is the farm's). */
  ownerOf?: (worker: string) => string;
  log?: Logger;
  timers?: Timers;
  /** Group commit window: a record waits at most this long, and commits come at most this often. */
  commitIntervalMs?: number;
  /** Retry delay while the store cannot be written. */
  retryMs?: number;
  /** Records kept in memory at most (beyond: dropped and counted). */
  maxQueued?: number;
  /** Records in one transaction at most. */
  maxBatch?: number;
  /** Forwarded shares awaiting the pool's verdict, at most (beyond: the oldest is dropped and counted). */
  maxInFlight?: number;
  /** A commit (refreshing the run's last_seen_at) at least this often when idle, so an unclean stop is dated. */
  heartbeatMs?: number;
  /** Called after each commit (tests, benchmarks). */
  onCommit?: (info: { records: number; committed: number; at: number }) => void;
  /** Called after a commit that made blocks final and payable (chainlocked, mature): their reward can be split now. */
  onPaidBlocks?: (hashes: string[]) => void;
}

export const LEDGER_WRITER_DEFAULTS = {
  commitIntervalMs: 100,
  retryMs: 1_000,
  maxQueued: 200_000,
  maxBatch: 20_000,
  maxInFlight: 100_000,
  heartbeatMs: 30_000,
} as const;

/** Why records were dropped. */
export type LedgerDropCause = 'queue-full' | 'in-flight-full' | 'unwritten-at-stop' | 'bad-event';

/** What observers (metrics, alerts) read from the writer, when they look: the books' health, counted here only. */
export type LedgerHealth = Pick<LedgerWriter, 'location' | 'fault' | 'faultSince' | 'pending' | 'committed' | 'commits' | 'dropped' | 'droppedBy' | 'failuresBy'>;

/** What a forwarded share's row takes from its forwarding, kept until its verdict. */
type InFlightShare = Pick<ShareRecord, 'at' | 'worker' | 'owner' | 'route' | 'target' | 'pool' | 'connection' | 'jobId' | 'creditedDifficulty' | 'shareDifficulty' | 'networkDifficulty' | 'blockHash'>;

export class LedgerWriter {
  /** Records committed to the store so far. */
  committed = 0;
  /** Transactions committed so far. */
  commits = 0;
  /** Records dropped, in all and by cause. */
  dropped = 0;
  readonly droppedBy: Record<LedgerDropCause, number> = { 'queue-full': 0, 'in-flight-full': 0, 'unwritten-at-stop': 0, 'bad-event': 0 };
  /** Failed commit attempts, by cause. */
  readonly failuresBy: Partial<Record<LedgerFaultCause, number>> = {};
  /** The cause the store cannot be written now, or null when it can. */
  fault: LedgerFaultCause | null = null;
  /** When the current fault episode began (its first failed attempt), or null when the store can be written. */
  faultSince: number | null = null;
  readonly run: LedgerRun;

  private readonly opts: Required<Omit<LedgerWriterOptions, 'onCommit' | 'onPaidBlocks' | 'ownerOf' | 'log' | 'timers'>>;
  private readonly ownerOf: (worker: string) => string;
  private readonly log: Logger;
  private readonly timers: Timers;
  private readonly onCommit: LedgerWriterOptions['onCommit'];
  private readonly onPaidBlocks: LedgerWriterOptions['onPaidBlocks'];
  private queue: LedgerRecord[] = [];
  private readonly local = new Map<string, LocalWorkRecord>();
  private readonly inFlight = new Map<number, InFlightShare>();
  private readonly unsubscribe: (() => void)[] = [];
  private readonly logged = new Set<string>();
  private timer: unknown = null;
  private timerDue = 0;
  private flushing: Promise<void> | null = null;
  private runWritten = false;
  private switchSeq = 0;
  private state: 'new' | 'running' | 'stopped' = 'new';

  constructor(opts: LedgerWriterOptions) {
    this.opts = {
      store: opts.store,
      bus: opts.bus,
      commitIntervalMs: opts.commitIntervalMs ?? LEDGER_WRITER_DEFAULTS.commitIntervalMs,
      retryMs: opts.retryMs ?? LEDGER_WRITER_DEFAULTS.retryMs,
      maxQueued: opts.maxQueued ?? LEDGER_WRITER_DEFAULTS.maxQueued,
      maxBatch: opts.maxBatch ?? LEDGER_WRITER_DEFAULTS.maxBatch,
      maxInFlight: opts.maxInFlight ?? LEDGER_WRITER_DEFAULTS.maxInFlight,
      heartbeatMs: opts.heartbeatMs ?? LEDGER_WRITER_DEFAULTS.heartbeatMs,
    };
    this.ownerOf = opts.ownerOf ?? (() => DEFAULT_BOOKS.farmOwner);
    this.log = opts.log ?? silentLogger;
    this.timers = opts.timers ?? realTimers;
    this.onCommit = opts.onCommit;
    this.onPaidBlocks = opts.onPaidBlocks;
    this.run = { runId: randomUUID(), startedAt: this.timers.now(), pid: process.pid, host: hostname(), version: packageVersion };
  }

  /** Where the books are (the store's location: a file path, a database URL without its password). */
  get location(): string {
    return this.opts.store.location;
  }

  /** Records waiting to be written (queued, plus per-minute sums not yet queued). */
  get pending(): number {
    return this.queue.length + this.local.size;
  }

  /** Resolves when the commit in progress (if any) is over. */
  idle(): Promise<void> {
    return this.flushing ?? Promise.resolve();
  }

  /** Forwarded shares still waiting for the pool's verdict. */
  get awaitingVerdict(): number {
    return this.inFlight.size;
  }

  /**
   * Open the store and listen to the bus. A database that is not ours or is newer is refused (thrown: a
   * configuration error); one that cannot be reached now is a fault: logged, retried, mining goes on.
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error('ledger writer: start() once');
    try {
      await this.opts.store.open();
    } catch (err) {
      if (!(err instanceof LedgerFaultError)) throw err;
      this.noteFault(err);
    }
    this.state = 'running';
    const on = <K extends keyof ProxyEventMap>(name: K, handle: (e: ProxyEventMap[K]) => void) =>
      this.unsubscribe.push(
        this.opts.bus.on(name, (e) => {
          try {
            if (this.state === 'running') handle(e);
          } catch (err) {
            this.drop('bad-event', 1, (err as Error).message);
          }
        }),
      );
    on('share.accepted', (e) => this.onAccepted(e));
    on('share.forwarded', (e) => this.onForwarded(e));
    on('share.upstream', (e) => this.onVerdict(e));
    on('block.submitted', (e) => this.onBlock(e));
    on('block.status', (e) => this.enqueue({ kind: 'block-status', hash: e.hash, status: e.status, confirmations: e.confirmations, chainlock: e.chainlock, reason: e.reason, at: e.at }));
    on('pool.switch', (e) => this.enqueue({ kind: 'pool-switch', seq: ++this.switchSeq, at: e.at, route: e.route, target: e.target, connection: e.connection, from: e.from, to: e.to, reason: e.reason }));
    // The start itself is in the books at once (the run row), even before any share.
    this.schedule(this.fault ? this.opts.retryMs : 0);
  }

  /**
   * Stop listening, record the stop and write what is queued. Records still unwritten when the store fails
   * (or after `timeoutMs`) are counted as dropped and logged. Forwarded shares without a verdict yet are not
   * books: the proxy's shutdown waits for their answers before this is called.
   */
  async stop(reason = 'stopped', timeoutMs = 5_000): Promise<void> {
    if (this.state !== 'running') return;
    this.state = 'stopped';
    for (const off of this.unsubscribe.splice(0)) off();
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    this.enqueueLocal();
    this.queue.push({ kind: 'run-stop', at: this.timers.now(), reason });
    const deadline = this.timers.now() + timeoutMs;
    while (this.pending > 0 || !this.runWritten) {
      await (this.flushing ?? this.flush());
      if (this.pending === 0 && this.runWritten) break;
      if (this.fault !== null || this.timers.now() >= deadline) break;
    }
    const left = this.pending;
    if (left > 0) this.drop('unwritten-at-stop', left, `the ledger could not be written at stop (${this.fault ?? 'timeout'})`);
    this.queue = [];
    this.local.clear();
    await this.opts.store.close();
  }

  private onAccepted(e: ProxyEventMap['share.accepted']): void {
    const owner = this.ownerOf(e.worker);
    const minute = minuteOf(e.at);
    const key = `${minute}\u0000${e.worker}\u0000${owner}`;
    const sum = this.local.get(key);
    if (sum) {
      sum.shares += 1;
      sum.work += e.difficulty;
      return;
    }
    if (this.queue.length + this.local.size >= this.opts.maxQueued) return this.drop('queue-full', 1, 'the ledger queue is full');
    this.local.set(key, { kind: 'local-work', minute, worker: e.worker, owner, shares: 1, work: e.difficulty });
    this.scheduleNext();
  }

  private onForwarded(e: ProxyEventMap['share.forwarded']): void {
    if (this.inFlight.size >= this.opts.maxInFlight) {
      const oldest = this.inFlight.keys().next().value as number;
      this.inFlight.delete(oldest);
      this.drop('in-flight-full', 1, 'too many shares awaiting the pool verdict');
    }
    this.inFlight.set(e.shareId, {
      at: e.at,
      ...this.placeOf(e),
      jobId: e.jobId,
      creditedDifficulty: e.difficulty,
      shareDifficulty: e.shareDifficulty,
      networkDifficulty: e.networkDifficulty,
      blockHash: e.blockHash,
    });
  }

  private onVerdict(e: ProxyEventMap['share.upstream']): void {
    const s = this.inFlight.get(e.shareId);
    if (!s) return this.drop('bad-event', 1, `a verdict for share ${e.shareId}, which was not seen forwarded`);
    this.inFlight.delete(e.shareId);
    const v = e.verdict;
    this.enqueue({
      kind: 'share',
      shareId: e.shareId,
      at: s.at,
      answeredAt: e.at,
      worker: s.worker,
      owner: s.owner,
      route: s.route,
      target: s.target,
      pool: s.pool,
      connection: s.connection,
      jobId: s.jobId,
      creditedDifficulty: s.creditedDifficulty,
      shareDifficulty: s.shareDifficulty,
      networkDifficulty: s.networkDifficulty,
      verdict: v.kind,
      rejectCode: v.kind === 'rejected' ? v.code : null,
      reason: v.kind === 'accepted' ? null : v.reason,
      noAnswerCause: v.kind === 'unanswered' ? v.cause : null,
      latencyMs: e.latencyMs,
      blockHash: s.blockHash,
    });
  }

  /** A solo block (src/upstream/ via the proxy): its row, with the owner of its worker now. */
  private onBlock(e: ProxyEventMap['block.submitted']): void {
    for (const [name, v] of [['reward', e.reward], ['coinbaseValue', e.coinbaseValue]] as const) {
      if (!Number.isSafeInteger(v) || v < 0) return this.drop('bad-event', 1, `block ${e.hash}: ${name} ${v} is not a number of duffs`);
    }
    this.enqueue({
      kind: 'block',
      hash: e.hash,
      height: e.height,
      at: e.at,
      shareId: e.shareId,
      ...this.placeOf(e),
      reward: e.reward,
      coinbaseValue: e.coinbaseValue,
      payoutAddress: e.payoutAddress,
      result: e.result,
      reason: e.reason,
    });
  }

  /** A share's (or its block's) worker, its owner now, and where it went. */
  private placeOf(e: ProxyEventMap['share.forwarded'] | ProxyEventMap['block.submitted']): SharePlace {
    return { worker: e.worker, owner: this.ownerOf(e.worker), route: e.route, target: e.target, pool: e.pool, connection: e.connection };
  }

  private enqueue(record: LedgerRecord): void {
    if (this.queue.length + this.local.size >= this.opts.maxQueued) return this.drop('queue-full', 1, 'the ledger queue is full');
    this.queue.push(record);
    this.scheduleNext();
  }

  private enqueueLocal(): void {
    for (const r of this.local.values()) this.queue.push(r);
    this.local.clear();
  }

  /** The next commit: after the commit window, or the retry delay while the store is failing. */
  private scheduleNext(): void {
    this.schedule(this.fault !== null ? this.opts.retryMs : this.opts.commitIntervalMs);
  }

  /** A commit in `delayMs`, unless one is already due sooner (or running: it reschedules when done). */
  private schedule(delayMs: number): void {
    if (this.flushing !== null || this.state === 'stopped') return;
    const due = this.timers.now() + delayMs;
    if (this.timer !== null) {
      if (this.timerDue <= due) return;
      this.timers.clearTimeout(this.timer);
    }
    this.timerDue = due;
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, delayMs);
  }

  /** One group commit: the queue's head (at most maxBatch records) in one transaction. */
  private flush(): Promise<void> {
    const run = async () => {
      this.enqueueLocal();
      const batch = this.queue.slice(0, this.opts.maxBatch);
      const at = this.timers.now();
      try {
        await this.opts.store.write(this.run, batch, at);
      } catch (err) {
        this.noteFault(err instanceof LedgerFaultError ? err : new LedgerFaultError(this.opts.store.location, err instanceof LedgerRefusedError ? 'refused' : 'other', (err as Error).message));
        return;
      }
      this.queue.splice(0, batch.length);
      this.committed += batch.length;
      this.commits += 1;
      this.runWritten = true;
      if (this.fault !== null) {
        this.log.warn('ledger: writing again, caught up', { ledger: this.opts.store.location, after: this.fault, pending: this.pending });
        this.fault = null;
        this.faultSince = null;
        this.logged.clear();
      }
      this.onCommit?.({ records: batch.length, committed: this.committed, at });
      const paid = batch.filter((r): r is BlockStatusRecord => r.kind === 'block-status' && PAID_BLOCK_STATUSES.includes(r.status));
      if (paid.length > 0) this.onPaidBlocks?.(paid.map((r) => r.hash));
    };
    this.flushing = run().finally(() => {
      this.flushing = null;
      if (this.pending > 0 || this.fault !== null) this.scheduleNext();
      else this.schedule(this.opts.heartbeatMs);
    });
    return this.flushing;
  }

  private noteFault(err: LedgerFaultError): void {
    if (this.fault === null) this.faultSince = this.timers.now();
    this.fault = err.fault;
    this.failuresBy[err.fault] = (this.failuresBy[err.fault] ?? 0) + 1;
    if (this.once(`fault:${err.fault}`)) {
      this.log.error('ledger: cannot write the books; mining goes on, records are kept in memory and written when it can', {
        ledger: this.opts.store.location,
        cause: err.fault,
        error: err.message,
        pending: this.pending,
        maxQueued: this.opts.maxQueued,
      });
    }
  }

  private drop(cause: LedgerDropCause, count: number, why: string): void {
    this.dropped += count;
    this.droppedBy[cause] += count;
    if (this.once(`drop:${cause}`) || cause === 'unwritten-at-stop') {
      this.log.error('ledger: records dropped', { ledger: this.opts.store.location, cause, count, why, droppedSoFar: this.dropped });
    }
  }

  private once(key: string): boolean {
    if (this.logged.has(key)) return false;
    this.logged.add(key);
    return true;
  }
}
