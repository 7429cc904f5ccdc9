import { silentLogger, type Logger } from '../core/log.js';
import { realTimers, type Timers } from '../util/timers.js';
import { LedgerFaultError, type LedgerStore } from './ledger-store.js';

/**
 * Ledger retention: share rows and per-minute rows older than `retentionDays` are pruned in the background,
 * off the share path, on a timer (once shortly after start, then every `intervalMs`), in bounded steps of
 * the store's prune() (at most `maxRows` rows per statement, so no commit holds the database long). A run
 * logs once how many rows it removed. A fault is treated like a write fault: logged once per cause, the run
 * ends and the next one tries again; nothing is thrown. `retentionDays` 0 keeps everything (no timer).
 */
export interface LedgerRetentionOptions {
  store: LedgerStore;
  retentionDays: number;
  log?: Logger;
  timers?: Timers;
  /** The first run this long after start. */
  firstDelayMs?: number;
  intervalMs?: number;
  /** Rows per statement at most. */
  maxRows?: number;
}

export const LEDGER_RETENTION_DEFAULTS = { firstDelayMs: 60_000, intervalMs: 3_600_000, maxRows: 10_000 } as const;

const DAY_MS = 86_400_000;

export class LedgerRetention {
  /** Rows removed since start, and completed runs. */
  pruned = 0;
  runs = 0;
  /** The fault of the last run, or null. */
  fault: LedgerFaultError | null = null;

  private readonly log: Logger;
  private readonly timers: Timers;
  private readonly opts: Required<Omit<LedgerRetentionOptions, 'log' | 'timers'>>;
  private timer: unknown = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly logged = new Set<string>();

  constructor(opts: LedgerRetentionOptions) {
    this.opts = { ...LEDGER_RETENTION_DEFAULTS, ...opts };
    this.log = opts.log ?? silentLogger;
    this.timers = opts.timers ?? realTimers;
  }

  get enabled(): boolean {
    return this.opts.retentionDays > 0;
  }

  start(): void {
    if (this.enabled) this.schedule(this.opts.firstDelayMs);
  }

  /** Stop the timer and wait for a run in progress to finish its current step. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One run now (the timer's; tests): prunes until nothing older than the retention is left. Rows removed. */
  async runOnce(): Promise<number> {
    if (!this.enabled) return 0;
    if (this.running) await this.running;
    let removed = 0;
    const run = (async () => {
      const before = this.timers.now() - this.opts.retentionDays * DAY_MS;
      try {
        for (;;) {
          const n = await this.opts.store.prune(before, this.opts.maxRows);
          removed += n;
          if (n === 0 || this.stopped) break;
        }
        this.runs += 1;
        if (this.fault !== null) this.log.warn('ledger retention: pruning again', { ledger: this.opts.store.location, after: this.fault.fault });
        this.fault = null;
        this.logged.clear();
      } catch (err) {
        const fault = err instanceof LedgerFaultError ? err : new LedgerFaultError(this.opts.store.location, 'other', (err as Error).message ?? String(err));
        this.fault = fault;
        if (!this.logged.has(fault.fault)) {
          this.logged.add(fault.fault);
          this.log.error('ledger retention: cannot prune the books now; tried again at the next run', {
            ledger: this.opts.store.location,
            cause: fault.fault,
            detail: fault.detail,
            retryInMs: this.opts.intervalMs,
          });
        }
      }
      this.pruned += removed;
      if (removed > 0 || this.fault === null) {
        this.log.info('ledger retention: pruned', { ledger: this.opts.store.location, rows: removed, before: new Date(before).toISOString(), retentionDays: this.opts.retentionDays });
      }
    })();
    this.running = run;
    try {
      await run;
    } finally {
      this.running = null;
    }
    return removed;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      void this.runOnce().finally(() => this.schedule(this.opts.intervalMs));
    }, delayMs);
  }
}
