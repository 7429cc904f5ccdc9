import type { AcceptedUnit, PayoutEntry, RecordedPayout, ReportGroup, ReportRow, TimeRange } from './ledger-reader.js';
import type { MinuteCounts } from './ledger-verify.js';
import { byName, type OwnerShare, type PaidBlock, type PayoutMethod } from './payouts.js';

/**
 * The SQL every store runs to read the books (ledger-reader.ts), written once. Kept to what SQLite and
 * PostgreSQL read the same way: `?` placeholders in order (a PostgreSQL store numbers them $1, $2, ...),
 * integer division of BIGINT times for minutes and days, CASE inside SUM, no vendor functions. Rows come
 * back in no promised order where the reader sorts them itself (text collation differs between the two).
 */
const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

const GROUP_EXPRESSION: Record<ReportGroup, string> = {
  owner: 'owner',
  worker: 'worker',
  pool: 'pool',
  route: 'route',
  target: 'target',
  day: `(at / ${DAY_MS}) * ${DAY_MS}`,
};

const VERDICT_SUMS = `SUM(CASE WHEN verdict = 'accepted' THEN 1 ELSE 0 END) AS accepted,
  SUM(CASE WHEN verdict = 'rejected' THEN 1 ELSE 0 END) AS rejected,
  SUM(CASE WHEN verdict = 'unanswered' THEN 1 ELSE 0 END) AS unanswered,
  SUM(CASE WHEN verdict = 'accepted' THEN credited_difficulty ELSE 0 END) AS accepted_work`;

/** Parameters: from, to (, owner). Columns: k, shares, accepted, rejected, unanswered, accepted_work. */
export function reportSql(by: ReportGroup, withOwner: boolean): string {
  const k = GROUP_EXPRESSION[by];
  return `SELECT ${k} AS k, COUNT(*) AS shares, ${VERDICT_SUMS} FROM shares WHERE at >= ? AND at < ?${withOwner ? ' AND owner = ?' : ''} GROUP BY ${k}`;
}

/** Columns: owner. */
export const OWNERS_SQL = `SELECT DISTINCT owner FROM worker_minutes UNION SELECT DISTINCT owner FROM payout_splits`;

/** Parameters: from, to (, pool). Columns: at, owner, work, network_difficulty; by time, then as written. */
export function acceptedWorkSql(withPool: boolean): string {
  return `SELECT at, owner, credited_difficulty AS work, network_difficulty FROM shares
  WHERE verdict = 'accepted' AND at >= ? AND at < ?${withPool ? ' AND pool = ?' : ''} ORDER BY at, run_id, share_id`;
}

/** The parameters of acceptedWorkSql. */
export function acceptedWorkParams(range: TimeRange, pool?: string): unknown[] {
  return pool === undefined ? [range.from, range.to] : [range.from, range.to, pool];
}

/**
 * Parameters: at (, pool). Columns: minute, work; the latest minute first (read until the window is full). The
 * farm's work from the per-minute rows; one pool's from its share rows (worker_minutes has no pool).
 */
export function minuteWorkBackSql(withPool: boolean): string {
  if (!withPool) return `SELECT minute, SUM(accepted_work) AS work FROM worker_minutes WHERE minute <= ? GROUP BY minute ORDER BY minute DESC`;
  const minute = `(at / ${MINUTE_MS}) * ${MINUTE_MS}`;
  return `SELECT ${minute} AS minute, SUM(credited_difficulty) AS work FROM shares WHERE verdict = 'accepted' AND at <= ? AND pool = ? GROUP BY ${minute} ORDER BY minute DESC`;
}

/** The parameters of minuteWorkBackSql. */
export function minuteWorkBackParams(at: number, pool?: string): unknown[] {
  return pool === undefined ? [at] : [at, pool];
}

/** Columns: next_id (1 for the first payout). Run inside the recording transaction. */
export const NEXT_PAYOUT_ID_SQL = `SELECT COALESCE(MAX(id), 0) + 1 AS next_id FROM payouts`;

/** Parameters in column order. */
export const INSERT_PAYOUT_SQL = `INSERT INTO payouts (id, recorded_at, amount_duffs, method, period_from, period_to, blocks, pplns_window, block_reward_duffs, note)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/** Parameters in column order. */
export const INSERT_SPLIT_SQL = `INSERT INTO payout_splits (payout_id, owner, work, gross_duffs, fee_duffs, fees_received_duffs, total_duffs)
  VALUES (?, ?, ?, ?, ?, ?, ?)`;

/** Parameters: from, to of recorded_at (or none: all). Columns: every column of payouts. */
export function payoutsSql(withRange: boolean): string {
  return `SELECT id, recorded_at, amount_duffs, method, period_from, period_to, blocks, pplns_window, block_reward_duffs, note FROM payouts${
    withRange ? ' WHERE recorded_at >= ? AND recorded_at < ?' : ''
  } ORDER BY id`;
}

/** Columns: every column of payout_splits (all of them: the reader keeps those of the payouts it read). */
export const SPLITS_SQL = `SELECT payout_id, owner, work, gross_duffs, fee_duffs, fees_received_duffs, total_duffs FROM payout_splits ORDER BY payout_id`;

/** Parameters: from, to of the minute (or none). Columns: minute, worker, owner, accepted, rejected, unanswered, accepted_work. */
export function minuteRowsSql(withRange: boolean): string {
  return `SELECT minute, worker, owner, accepted, rejected, unanswered, accepted_work FROM worker_minutes${withRange ? ' WHERE minute >= ? AND minute < ?' : ''}`;
}

/** The share rows grouped as worker_minutes keys them. Parameters: from, to of the minute (or none). Same columns. */
export function minuteSharesSql(withRange: boolean): string {
  const minute = `(at / ${MINUTE_MS}) * ${MINUTE_MS}`;
  return `SELECT ${minute} AS minute, worker, owner, ${VERDICT_SUMS} FROM shares${withRange ? ` WHERE ${minute} >= ? AND ${minute} < ?` : ''} GROUP BY ${minute}, worker, owner`;
}

/** Rows as the drivers return them: numbers (or, from PostgreSQL, BIGINT as text). */
export type SqlRow = Record<string, unknown>;

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const duffs = (v: unknown): bigint => BigInt(v as number | string | bigint);

/** A payouts row and its split rows as a RecordedPayout. */
export function payoutFromRows(row: SqlRow, splits: readonly SqlRow[]): RecordedPayout {
  return {
    id: num(row.id),
    recordedAt: num(row.recorded_at),
    amount: duffs(row.amount_duffs),
    method: row.method as PayoutMethod,
    period: { from: num(row.period_from), to: num(row.period_to) },
    blocks: row.blocks === null ? null : blocksFromText(row.blocks as string),
    pplnsWindow: row.pplns_window === null ? null : num(row.pplns_window),
    blockReward: row.block_reward_duffs === null ? null : duffs(row.block_reward_duffs),
    note: (row.note as string | null) ?? null,
    splits: splits.map(splitFromRow).sort((a, b) => byName(a.owner, b.owner)),
  };
}

export function splitFromRow(row: SqlRow): OwnerShare {
  return {
    owner: row.owner as string,
    work: num(row.work),
    gross: duffs(row.gross_duffs),
    fee: duffs(row.fee_duffs),
    feesReceived: duffs(row.fees_received_duffs),
    total: duffs(row.total_duffs),
  };
}

/**
 * payouts.blocks: a JSON list of block times in ms when no block has its own reward (as written since
 * version 2), else a list of {"at": ms, "reward": "duffs"} (every block has one then).
 */
function blocksText(blocks: readonly PaidBlock[]): string {
  return JSON.stringify(blocks.map((b) => (b.reward === undefined ? b.at : { at: b.at, reward: b.reward.toString() })));
}

function blocksFromText(text: string): PaidBlock[] {
  return (JSON.parse(text) as (number | { at: number; reward: string })[]).map((b) => (typeof b === 'number' ? { at: b } : { at: b.at, reward: BigInt(b.reward) }));
}

/** The parameters of INSERT_PAYOUT_SQL. */
export function payoutParams(id: number, p: PayoutEntry): unknown[] {
  return [id, p.recordedAt, p.amount, p.method, p.period.from, p.period.to, p.blocks === null ? null : blocksText(p.blocks), p.pplnsWindow, p.blockReward, p.note];
}

/** The parameters of INSERT_SPLIT_SQL. */
export function splitParams(id: number, s: OwnerShare): unknown[] {
  return [id, s.owner, s.work, s.gross, s.fee, s.feesReceived, s.total];
}

/** A row of minuteRowsSql / minuteSharesSql. */
export function minuteFromRow(row: SqlRow): MinuteCounts {
  return {
    minute: num(row.minute),
    worker: row.worker as string,
    owner: row.owner as string,
    accepted: num(row.accepted),
    rejected: num(row.rejected),
    unanswered: num(row.unanswered),
    acceptedWork: num(row.accepted_work),
  };
}

/** Rows of reportSql as ReportRows, in key order (sorted here: text collation differs between stores). */
export function reportFromRows(rows: readonly SqlRow[], by: ReportGroup): ReportRow[] {
  return rows
    .map((r) => ({
      key: by === 'day' ? Number(r.k) : String(r.k),
      shares: num(r.shares),
      accepted: num(r.accepted),
      rejected: num(r.rejected),
      unanswered: num(r.unanswered),
      acceptedWork: num(r.accepted_work),
    }))
    .sort((a, b) => (typeof a.key === 'number' ? a.key - (b.key as number) : byName(a.key, b.key as string)));
}

/** A row of ACCEPTED_WORK_SQL. */
export function acceptedFromRow(r: SqlRow): AcceptedUnit {
  return { at: num(r.at), owner: r.owner as string, work: num(r.work), networkDifficulty: r.network_difficulty === null ? null : num(r.network_difficulty) };
}

/** PPLNS's window start from the rows of MINUTE_WORK_BACK_SQL (latest first), read until the window is full. */
export function windowStartFrom(rows: Iterable<SqlRow>, at: number, window: number): number {
  let start = at;
  let sum = 0;
  for (const r of rows) {
    start = num(r.minute);
    sum += num(r.work);
    if (sum >= window) break;
  }
  return start;
}

/** Rows of payoutsSql with all the split rows (SPLITS_SQL) as RecordedPayouts; `owner`: only those with a split for them. */
export function payoutsFromRows(rows: readonly SqlRow[], splitRows: readonly SqlRow[], owner?: string): RecordedPayout[] {
  const splits = new Map<number, SqlRow[]>();
  for (const s of splitRows) {
    const id = num(s.payout_id);
    const list = splits.get(id);
    if (list) list.push(s);
    else splits.set(id, [s]);
  }
  const payouts = rows.map((r) => payoutFromRows(r, splits.get(num(r.id)) ?? []));
  return owner === undefined ? payouts : payouts.filter((p) => p.splits.some((s) => s.owner === owner));
}
