import type { BlockSubmitResult } from '../core/events.js';
import type { Duffs } from './duffs.js';
import type { TimeRange } from './ledger-reader.js';
import type { BlockRecord, BlockRowStatus, BlockStatusRecord, SharePlace } from './ledger-store.js';

/**
 * The blocks table (schema version 4), written once for both stores: the SQL with `?` placeholders (a
 * PostgreSQL store numbers them), each statement's parameters, and a row as a BlockRow.
 */

/** A block as the books hold it. */
export interface BlockRow extends Pick<BlockRecord, 'hash' | 'height' | 'shareId' | keyof SharePlace> {
  foundAt: number;
  runId: string;
  reward: Duffs;
  coinbaseValue: Duffs;
  payoutAddress: string;
  submitResult: BlockSubmitResult;
  submitReason: string | null;
  status: BlockRowStatus;
  statusReason: string | null;
  confirmations: number;
  chainlock: boolean;
  statusAt: number;
  /** The payout that split its reward, or null (not final, orphaned, rejected, or not split yet). */
  payoutId: number | null;
}

/** Parameters: blockParams. A block recorded twice (a retried batch, a duplicate submission) keeps its first row. */
export const INSERT_BLOCK_SQL = `INSERT INTO blocks (hash, height, found_at, run_id, share_id, worker, owner, route, target, pool, connection, reward_duffs,
    coinbase_value_duffs, payout_address, submit_result, submit_reason, status, status_reason, confirmations, chainlock, status_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING`;

/** The row of a block as it is submitted: `rejected` when dashd refused it, else `submitted` until the watcher says more. */
export function blockParams(runId: string, r: BlockRecord): unknown[] {
  return [
    r.hash, r.height, r.at, runId, r.shareId, r.worker, r.owner, r.route, r.target, r.pool, r.connection, r.reward,
    r.coinbaseValue, r.payoutAddress, r.result, r.reason, r.result === 'rejected' ? 'rejected' : 'submitted', null, 0, 0, r.at,
  ];
}

/** Parameters: blockStatusParams. A status older than the row's is not applied (the rows move forward in time only). */
export const UPDATE_BLOCK_STATUS_SQL = `UPDATE blocks SET status = ?, status_reason = ?, confirmations = ?, chainlock = ?, status_at = ? WHERE hash = ? AND status_at <= ?`;

export function blockStatusParams(r: BlockStatusRecord): unknown[] {
  return [r.status, r.reason, r.confirmations, r.chainlock ? 1 : 0, r.at, r.hash, r.at];
}

const BLOCK_COLUMNS = `hash, height, found_at, run_id, share_id, worker, owner, route, target, pool, connection, reward_duffs, coinbase_value_duffs,
  payout_address, submit_result, submit_reason, status, status_reason, confirmations, chainlock, status_at, payout_id`;

/** Parameters: from, to of found_at (or none: all). Every column; by the time found. */
export function blocksSql(withRange: boolean): string {
  return `SELECT ${BLOCK_COLUMNS} FROM blocks${withRange ? ' WHERE found_at >= ? AND found_at < ?' : ''} ORDER BY found_at, hash`;
}

export function blocksParams(range?: TimeRange): unknown[] {
  return range ? [range.from, range.to] : [];
}

/** Parameters: hash. Columns: status, payout_id. Read inside the transaction that records its payout. */
export const BLOCK_PAYOUT_STATE_SQL = `SELECT status, payout_id FROM blocks WHERE hash = ?`;

/** Parameters: payout id, hash. */
export const SET_BLOCK_PAYOUT_SQL = `UPDATE blocks SET payout_id = ? WHERE hash = ? AND payout_id IS NULL`;

/** Columns: first (null: no share yet). Where the books' work begins: the oldest share row kept. */
export const FIRST_SHARE_SQL = `SELECT MIN(at) AS first FROM shares`;

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));

export function blockFromRow(r: Record<string, unknown>): BlockRow {
  return {
    hash: r.hash as string,
    height: num(r.height),
    foundAt: num(r.found_at),
    runId: r.run_id as string,
    shareId: num(r.share_id),
    worker: r.worker as string,
    owner: r.owner as string,
    route: r.route as string,
    target: r.target as string,
    pool: r.pool as string,
    connection: num(r.connection),
    reward: BigInt(r.reward_duffs as number | string),
    coinbaseValue: BigInt(r.coinbase_value_duffs as number | string),
    payoutAddress: r.payout_address as string,
    submitResult: r.submit_result as BlockSubmitResult,
    submitReason: (r.submit_reason as string | null) ?? null,
    status: r.status as BlockRowStatus,
    statusReason: (r.status_reason as string | null) ?? null,
    confirmations: num(r.confirmations),
    chainlock: num(r.chainlock) === 1,
    statusAt: num(r.status_at),
    payoutId: r.payout_id === null || r.payout_id === undefined ? null : num(r.payout_id),
  };
}

/** Whether the block row can still be (or was) paid: dashd took it and the chain has not orphaned it. */
export function mayPay(b: Pick<BlockRow, 'submitResult' | 'status'>): boolean {
  return (b.submitResult === 'accepted' || b.submitResult === 'inconclusive') && b.status !== 'orphaned' && b.status !== 'rejected';
}
