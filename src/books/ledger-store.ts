import type { BlockStatus, BlockSubmitResult, NoVerdictCause } from '../core/events.js';

/**
 * What the ledger writes, and the one interface every store (SQLite: ledger-sqlite*.ts; PostgreSQL: ledger-pg*.ts) implements with
 * the same schema (src/books/ledger-schema.ts). The writer (ledger-writer.ts) turns the core's events into
 * these records and hands a store one batch per transaction.
 */

/** One start of the proxy. Every batch refreshes its row (last_seen_at), so a run is in whichever file it wrote to. */
export interface LedgerRun {
  runId: string;
  startedAt: number;
  pid: number;
  host: string;
  version: string;
}

/** A share sent to the pool, with the pool's verdict (or why there was none). */
export interface ShareRecord {
  kind: 'share';
  shareId: number;
  at: number;
  answeredAt: number;
  worker: string;
  owner: string;
  /** The route that took the device and the target the share went to (the target of its job). */
  route: string;
  target: string;
  pool: string;
  connection: number;
  jobId: string;
  creditedDifficulty: number;
  shareDifficulty: number;
  /** The network's difficulty of the job the share was mined on (PPS values work by it). */
  networkDifficulty: number;
  verdict: 'accepted' | 'rejected' | 'unanswered';
  rejectCode: number | null;
  reason: string | null;
  noAnswerCause: NoVerdictCause | null;
  latencyMs: number;
  blockHash: string | null;
}

/** Shares the proxy accepted at the device's target in one minute (added to that minute's row). */
export interface LocalWorkRecord {
  kind: 'local-work';
  minute: number;
  worker: string;
  owner: string;
  shares: number;
  work: number;
}

export interface PoolSwitchRecord {
  kind: 'pool-switch';
  /** Order of the switch within its run. */
  seq: number;
  at: number;
  /** The route and target whose connection switched. */
  route: string;
  target: string;
  connection: number;
  from: string | null;
  to: string;
  reason: string;
}

export interface RunStopRecord {
  kind: 'run-stop';
  at: number;
  reason: string;
}

/**
 * Where a block stands in the books: `submitted` (or `rejected`, by dashd's answer) when it is recorded, then
 * as the block watcher last saw it (BlockStatus). `chainlocked` and `mature` are final and paid; `orphaned` is
 * final and never paid.
 */
export type BlockRowStatus = 'submitted' | 'rejected' | BlockStatus;
export const PAID_BLOCK_STATUSES: readonly BlockRowStatus[] = ['chainlocked', 'mature'];

/** Where a share or a block came from: its worker, owner, and the route, target, pool and connection it went to. */
export type SharePlace = Pick<ShareRecord, 'worker' | 'owner' | 'route' | 'target' | 'pool' | 'connection'>;

/** A block the proxy assembled from share `shareId` (of this run) and submitted to its dashd, with the answer. */
export interface BlockRecord extends SharePlace {
  kind: 'block';
  hash: string;
  height: number;
  /** When dashd answered the submitblock. */
  at: number;
  shareId: number;
  /** Duffs the coinbase pays the farm. */
  reward: number;
  coinbaseValue: number;
  payoutAddress: string;
  result: BlockSubmitResult;
  reason: string | null;
}

/** A submitted block's new place on dashd's best chain (a row written before at `at` or later is left as it is). */
export interface BlockStatusRecord {
  kind: 'block-status';
  hash: string;
  status: BlockStatus;
  confirmations: number;
  chainlock: boolean;
  reason: string;
  at: number;
}

export type LedgerRecord = ShareRecord | LocalWorkRecord | PoolSwitchRecord | RunStopRecord | BlockRecord | BlockStatusRecord;

export const MINUTE_MS = 60_000;
/** The first ms of the minute `at` falls in (the key of worker_minutes). */
export function minuteOf(at: number): number {
  return Math.floor(at / MINUTE_MS) * MINUTE_MS;
}

export interface LedgerStore {
  /** Where the books are (a file path, a database URL without its password): every message names it. */
  readonly location: string;
  /**
   * Open (creating an empty database) and bring the schema to the current version. Throws
   * `LedgerRefusedError` for a database that is not ours or is newer than this code, `LedgerFaultError`
   * when it cannot be reached now (missing directory, locked, full, read-only, I/O).
   */
  open(): Promise<void>;
  /**
   * Write `records` in one transaction, with the run's row refreshed (last_seen_at = `at`): all or nothing.
   * A share already written (same run and share id) is not written again. Opens the store when it is not
   * open. Throws `LedgerFaultError` (nothing written) when it cannot.
   */
  write(run: LedgerRun, records: readonly LedgerRecord[], at: number): Promise<void>;
  /**
   * One bounded step of retention (ledger-prune.ts), in one transaction: removes at most `maxRows` share rows
   * older than `beforeMs` (aligned down to its minute) with the per-minute rows that go with them, keeping the
   * two equal; payouts, splits, blocks, runs and pool switches stay. Resolves to the rows removed (0: nothing left to
   * prune). Opens the store when it is not open. Throws `LedgerFaultError` (nothing removed) when it cannot.
   */
  prune(beforeMs: number, maxRows: number): Promise<number>;
  close(): Promise<void>;
}

/** A database the ledger will not touch: not one of ours, or a newer schema. A configuration error. */
export class LedgerRefusedError extends Error {
  constructor(
    readonly location: string,
    readonly why: string,
  ) {
    super(`ledger ${location}: ${why}`);
    this.name = 'LedgerRefusedError';
  }
}

/**
 * Why the store cannot be written now (each logged once per episode, counted by the writer). `unreachable`:
 * a database server (PostgreSQL) that does not answer or dropped the connection.
 */
export type LedgerFaultCause = 'missing' | 'locked' | 'full' | 'read-only' | 'io' | 'unreachable' | 'refused' | 'other';

export class LedgerFaultError extends Error {
  constructor(
    readonly location: string,
    readonly fault: LedgerFaultCause,
    readonly detail: string,
  ) {
    super(`ledger ${location}: ${fault}: ${detail}`);
    this.name = 'LedgerFaultError';
  }
}
