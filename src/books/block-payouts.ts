import { silentLogger, type Logger } from '../core/log.js';
import { realTimers, type Timers } from '../util/timers.js';
import { formatDash } from './duffs.js';
import { LedgerInputError } from './ledger-input.js';
import { recordBlockPayout, type PayoutRules } from './ledger-payout.js';
import type { LedgerReader, RecordedPayout } from './ledger-reader.js';
import { LedgerFaultError, LedgerRefusedError, PAID_BLOCK_STATUSES } from './ledger-store.js';
import type { PayoutMethod } from './payouts.js';

/**
 * Splits each final solo block's reward among the owners, once: when the books' writer has committed a block
 * as chainlocked or mature (`settle()`, called by the app from the writer's onPaidBlocks), and at start for
 * any final block left unpaid (a stop or crash between the two). Each payout is recorded with
 * recordBlockPayout (ledger-payout.ts), which stores the payout's id on the block's row in the same
 * transaction and stores nothing for a block already paid: exactly once, across restarts and proxies sharing
 * the books. A block the books cannot split by the configuration (pplns without books.pplnsWindow, pps over
 * shares without a network difficulty) is logged once and left unpaid until the configuration allows it (the
 * next settle after a reload); books that cannot be written now are retried every `retryMs`.
 */
export interface BlockPayoutsOptions {
  reader: LedgerReader;
  /** The owners' fees and the PPLNS window in force (a reload may change them). */
  rules: () => PayoutRules;
  /** books.payoutMethod in force. */
  method: () => PayoutMethod;
  /** Told of each payout recorded (the owners view reads the books again). */
  onPayout?: (payout: RecordedPayout) => void;
  log?: Logger;
  timers?: Timers;
  retryMs?: number;
}

export const BLOCK_PAYOUTS_DEFAULTS = { retryMs: 30_000 } as const;

export class BlockPayouts {
  /** Payouts recorded by this instance. */
  recorded = 0;
  private readonly log: Logger;
  private readonly timers: Timers;
  private running: Promise<void> | null = null;
  private again = false;
  private retry: unknown = null;
  private stopped = false;
  private faulted = false;
  private readonly logged = new Set<string>();

  constructor(private readonly opts: BlockPayoutsOptions) {
    this.log = opts.log ?? silentLogger;
    this.timers = opts.timers ?? realTimers;
  }

  /** Pay the final blocks left unpaid (at start). */
  start(): Promise<void> {
    return this.settle();
  }

  /** Stop retrying; waits for a settle in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry !== null) this.timers.clearTimeout(this.retry);
    this.retry = null;
    await this.running;
  }

  /** Pay every final block without a payout; one pass at a time (a call during a pass makes one more after it). */
  settle(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.pass();
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async pass(): Promise<void> {
    try {
      await this.payAll();
      if (this.faulted) {
        this.faulted = false;
        this.log.info('ledger: splitting solo block rewards again');
        for (const key of this.logged) if (key.startsWith('fault\u0000')) this.logged.delete(key);
      }
    } catch (err) {
      // Books that cannot be read or written now (or anything unexpected): never thrown into the proxy, retried.
      const message = (err as Error).message ?? String(err);
      const known = err instanceof LedgerFaultError || err instanceof LedgerRefusedError;
      this.faulted = true;
      if (this.once(`fault\u0000${message}`)) this.log[known ? 'warn' : 'error']('ledger: cannot split solo block rewards now; retrying', { error: message, retryMs: this.retryMs });
      this.scheduleRetry();
    }
  }

  /** Every final block without a payout, split and recorded (none twice: recordBlockPayout). */
  private async payAll(): Promise<void> {
    const blocks = await this.opts.reader.blocks();
    for (const block of blocks) {
      if (block.payoutId !== null || !PAID_BLOCK_STATUSES.includes(block.status)) continue;
      try {
        const payout = await recordBlockPayout(this.opts.reader, block, blocks, this.opts.method(), this.opts.rules(), this.timers.now());
        if (payout === null) continue;
        this.recorded += 1;
        this.log.info('ledger: solo block reward split among owners', {
          block: block.hash,
          height: block.height,
          pool: block.pool,
          status: block.status,
          payout: payout.id,
          method: payout.method,
          reward: `${formatDash(payout.amount)} DASH`,
          owners: payout.splits.length,
        });
        this.opts.onPayout?.(payout);
      } catch (err) {
        if (!(err instanceof LedgerInputError)) throw err;
        if (this.once(`${block.hash}\u0000${err.message}`)) {
          this.log.error('ledger: a final solo block cannot be split by the configuration; it stays unpaid until it can', { block: block.hash, height: block.height, error: err.message });
        }
      }
    }
  }

  private get retryMs(): number {
    return this.opts.retryMs ?? BLOCK_PAYOUTS_DEFAULTS.retryMs;
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retry !== null) return;
    this.retry = this.timers.setTimeout(() => {
      this.retry = null;
      void this.settle();
    }, this.retryMs);
  }

  private once(key: string): boolean {
    if (this.logged.has(key)) return false;
    this.logged.add(key);
    return true;
  }
}
