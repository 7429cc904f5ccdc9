import { formatDash } from '../books/duffs.js';
import type { RecordedPayout, TimeRange } from '../books/ledger-reader.js';
import type { PayoutMethod } from '../books/payouts.js';
import type { Logger } from '../core/log.js';

/**
 * Each owner's last payout, read from the books (src/books/ledger-reader.ts) for the dashboard's owners
 * view and /api/owners. Data flows one way: the books' reader (its own worker thread) is polled here in the
 * background; readers take `view()`, which never waits on the books. The proxy core is never involved.
 *
 * "Last payout" of an owner: the most recently recorded payout (highest id) whose split names the owner,
 * with the owner's total from that split (after hosting fees, fees received included), in DASH.
 *
 * The first read takes every payout; later reads take those recorded since the newest one seen, less
 * OVERLAP_MS (a payout recorded by another process with a slightly older clock is still found; ids make
 * a payout seen twice count once). `refresh()` reads at once (after a payout is recorded over the API).
 */

export interface LastPayout {
  payoutId: number;
  /** The owner's total from the payout's split, in DASH (8 decimals), and exactly in duffs. */
  amount: string;
  amountDuffs: string;
  /** The payout's whole amount, in DASH. */
  payoutAmount: string;
  method: PayoutMethod;
  /** When it was recorded, and the period it pays for [from, to) (ms since the epoch). */
  recordedAt: number;
  from: number;
  to: number;
}

export interface PayoutsView {
  /** False when the proxy keeps no books (neither `ledger.path` nor `ledger.url`): there are no payouts. */
  books: boolean;
  /** Each owner's last payout, by owner; an owner with none is absent. */
  lastPayouts: Record<string, LastPayout>;
  /** When the books were last read successfully (null: not yet). */
  checkedAt: number | null;
  /** Why the last read failed (null: it did not). */
  error: string | null;
}

/** What readers get when no books are kept. */
export const BOOKS_OFF: PayoutsView = Object.freeze({ books: false, lastPayouts: Object.freeze({}), checkedAt: null, error: null }) as PayoutsView;

/** Payouts recorded up to this long before the newest one seen are read again. */
export const OVERLAP_MS = 10 * 60_000;

/** No time is later than this (the largest Date). */
const END_OF_TIME = 8.64e15;

export interface OwnerPayoutsOptions {
  /** The books' payouts recorded in a range (all without one): LedgerReader.payouts. */
  read: (range?: TimeRange) => Promise<RecordedPayout[]>;
  /** How often the books are read (default 30 s). */
  refreshMs?: number;
  now?: () => number;
  log?: Logger;
}

export class OwnerPayouts {
  private readonly read: OwnerPayoutsOptions['read'];
  private readonly refreshMs: number;
  private readonly now: () => number;
  private readonly log: Logger | undefined;
  private readonly last = new Map<string, LastPayout>();
  private newestRecordedAt: number | null = null;
  private checkedAt: number | null = null;
  private error: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(opts: OwnerPayoutsOptions) {
    this.read = opts.read;
    this.refreshMs = opts.refreshMs ?? 30_000;
    if (!(this.refreshMs > 0) || !Number.isFinite(this.refreshMs)) throw new RangeError(`refreshMs must be a positive number, got ${opts.refreshMs}`);
    this.now = opts.now ?? Date.now;
    this.log = opts.log;
  }

  /** Read now, then every refreshMs. */
  start(): void {
    if (this.timer || this.stopped) return;
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
  }

  /** No more reads (the books' reader may be closed after this resolves): waits for a read in progress. */
  stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    return this.running ?? Promise.resolve();
  }

  view(): PayoutsView {
    return { books: true, lastPayouts: Object.fromEntries(this.last), checkedAt: this.checkedAt, error: this.error };
  }

  /** Read the payouts recorded since the last read; one read at a time (a call during a read reads once more after it). */
  refresh(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.readOnce().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        void this.refresh();
      }
    });
    return this.running;
  }

  private async readOnce(): Promise<void> {
    const since = this.newestRecordedAt;
    let payouts: RecordedPayout[];
    try {
      payouts = await this.read(since === null ? undefined : { from: since - OVERLAP_MS, to: END_OF_TIME });
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.error) this.log?.warn('cannot read the payouts for the owners view', { error: message });
      this.error = message;
      return;
    }
    for (const p of payouts) this.take(p);
    this.checkedAt = this.now();
    this.error = null;
  }

  private take(p: RecordedPayout): void {
    if (this.newestRecordedAt === null || p.recordedAt > this.newestRecordedAt) this.newestRecordedAt = p.recordedAt;
    for (const s of p.splits) {
      const known = this.last.get(s.owner);
      if (known && known.payoutId >= p.id) continue;
      this.last.set(s.owner, {
        payoutId: p.id,
        amount: formatDash(s.total),
        amountDuffs: s.total.toString(),
        payoutAmount: formatDash(p.amount),
        method: p.method,
        recordedAt: p.recordedAt,
        from: p.period.from,
        to: p.period.to,
      });
    }
  }
}
