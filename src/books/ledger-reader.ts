import type { Duffs } from './duffs.js';
import type { BlockRow } from './ledger-blocks.js';
import type { OwnerShare, PaidBlock, PayoutMethod } from './payouts.js';

/**
 * Reading the books, and recording payouts in them: the one interface beside LedgerStore that every store
 * (SQLite: ledger-sqlite*.ts; PostgreSQL: ledger-pg*.ts) implements over the same schema. Each store runs the same SQL
 * (ledger-queries.ts) and the same checks (ledger-verify.ts); only how a query is run differs.
 * Times are ms since the epoch (UTC); a range is [from, to).
 */
export interface TimeRange {
  from: number;
  to: number;
}

export const REPORT_GROUPS = ['owner', 'worker', 'pool', 'route', 'target', 'day'] as const;
export type ReportGroup = (typeof REPORT_GROUPS)[number];

/** The shares sent to the pool in a range, grouped by owner, worker, pool, route, target or day (UTC). */
export interface ReportRow {
  /** The owner, worker, pool, route or target; for `day`, the day's first ms. */
  key: string | number;
  /** Shares sent to the pool, and what the pool made of them. */
  shares: number;
  accepted: number;
  rejected: number;
  unanswered: number;
  /** Sum of the credited difficulty of the pool-accepted shares (the work payouts are split by). */
  acceptedWork: number;
}

/** One pool-accepted share as a payout weighs it. */
export interface AcceptedUnit {
  at: number;
  owner: string;
  work: number;
  /** null on rows written before schema version 2 (PPS cannot value them). */
  networkDifficulty: number | null;
}

/** A payout to record: what the pool paid, for what, and how it was split. */
export interface PayoutEntry {
  recordedAt: number;
  amount: Duffs;
  method: PayoutMethod;
  /** The period it pays for, [from, to). */
  period: TimeRange;
  /** PPLNS: the blocks it pays for (times, and each block's reward when they were given); otherwise null. */
  blocks: PaidBlock[] | null;
  /** PPLNS: the window, in difficulty units; otherwise null. */
  pplnsWindow: number | null;
  /** PPS: the block reward the work was valued at; otherwise null. */
  blockReward: Duffs | null;
  note: string | null;
  /** The split (payouts.ts), one entry per owner. */
  splits: OwnerShare[];
}

export interface RecordedPayout extends PayoutEntry {
  /** 1, 2, ... in the order recorded. */
  id: number;
}

/** Something in the books that does not add up, named (ledger verify). */
export interface LedgerProblem {
  /** 'minute' (per-minute totals against share rows), 'payout' (a payout against its splits), 'block' (a solo block against its payout). */
  kind: 'minute' | 'payout' | 'block';
  message: string;
}

export interface LedgerReader {
  /** Where the books are (a file path, a database URL without its password). */
  readonly location: string;
  /** Shares sent to the pool in `range`, grouped; in key order. `owner`: only that owner's shares. */
  report(range: TimeRange, by: ReportGroup, owner?: string): Promise<ReportRow[]>;
  /** Every owner the books have seen (in share rows or splits), sorted. */
  owners(): Promise<string[]>;
  /** The pool-accepted shares in `range` (only those sent to `pool` when given), by time (PROP, PPLNS, PPS weigh these). */
  acceptedWork(range: TimeRange, pool?: string): Promise<AcceptedUnit[]>;
  /**
   * PPLNS: the first ms of the minute from which the farm's pool-accepted work up to `at` (by the per-minute
   * rows; only `pool`'s, by its share rows, when given) reaches `window`; the first minute of the books when it
   * never does, `at` when there is none.
   */
  windowStart(at: number, window: number, pool?: string): Promise<number>;
  /** Where the books' work begins: the time of the oldest share row kept (null: none). */
  firstShareAt(): Promise<number | null>;
  /** The solo blocks (found in `range` when given), by the time found. */
  blocks(range?: TimeRange): Promise<BlockRow[]>;
  /**
   * Store the payout of solo block `hash`'s reward and its splits, and the payout's id on the block's row, in
   * one transaction, only if the block is final and payable (chainlocked, mature) and has no payout yet; else
   * nothing is stored and the answer is null (exactly once, whoever tries and however often).
   */
  addBlockPayout(hash: string, entry: PayoutEntry): Promise<RecordedPayout | null>;
  /** Store a payout and its splits in one transaction; its id. */
  addPayout(entry: PayoutEntry): Promise<RecordedPayout>;
  /** Recorded payouts (recorded in `range` when given; with a split for `owner` when given), by id. */
  payouts(range?: TimeRange, owner?: string): Promise<RecordedPayout[]>;
  /** Internal consistency (minutes in `range` when given); empty when it all adds up. */
  verify(range?: TimeRange): Promise<LedgerProblem[]>;
  close(): Promise<void>;
}
