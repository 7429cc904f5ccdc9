import { minuteOf } from './ledger-store.js';

/**
 * One bounded step of pruning the books (ledger retention), written once for both stores as a sequence of
 * portable statements (`?` placeholders) that a store runs in one transaction: a generator that yields each
 * statement and is sent back its result (the rows of a query, the rows changed by a DELETE/UPDATE).
 *
 * A step removes at most `maxRows` share rows older than `beforeMs` (oldest first) and keeps worker_minutes
 * equal to the share rows (what `ledger verify` checks) at every commit:
 *   - the minute rows whose share rows are all gone now are removed with them (at most one per share removed:
 *     a minute row with verdicts before that point had its shares in this step, the earlier steps having
 *     removed the rows of theirs);
 *   - the one minute cut in two by the step's limit has its verdict columns counted again from the share rows left;
 *   - minute rows with local work only (no share sent to the pool) are removed, at most `maxRows` per step.
 * Payouts, their splits, runs and pool switches are never touched. Call again until it removes nothing.
 */
export type PruneStatement = { kind: 'rows'; sql: string; params: unknown[] } | { kind: 'changes'; sql: string; params: unknown[] };
export type PruneResult = Record<string, unknown>[] | number;

/** `beforeMs` aligned down to its minute, so a minute goes with all its shares. */
export function pruneCutoff(beforeMs: number): number {
  return minuteOf(beforeMs);
}

export function* pruneStep(beforeMs: number, maxRows: number): Generator<PruneStatement, number, PruneResult> {
  if (!Number.isInteger(maxRows) || maxRows < 1) throw new RangeError(`prune: maxRows must be a positive integer, not ${maxRows}`);
  const cutoff = pruneCutoff(beforeMs);
  // The first share row this step leaves (if any): every minute before its minute is gone in full.
  const next = (yield { kind: 'rows', sql: `SELECT at FROM shares WHERE at < ? ORDER BY at LIMIT 1 OFFSET ?`, params: [cutoff, maxRows] }) as Record<string, unknown>[];
  const nextAt = next.length > 0 ? Number(next[0]!.at) : null;
  const whole = nextAt === null ? cutoff : minuteOf(nextAt);
  let removed = (yield {
    kind: 'changes',
    sql: `DELETE FROM shares WHERE (run_id, share_id) IN (SELECT run_id, share_id FROM shares WHERE at < ? ORDER BY at, run_id, share_id LIMIT ?)`,
    params: [cutoff, maxRows],
  }) as number;
  removed += (yield { kind: 'changes', sql: `DELETE FROM worker_minutes WHERE minute < ? AND accepted + rejected + unanswered > 0`, params: [whole] }) as number;
  if (nextAt !== null) {
    const from = whole;
    const to = whole + 60_000;
    const count = (verdict: string) =>
      `(SELECT COUNT(*) FROM shares s WHERE s.at >= ? AND s.at < ? AND s.worker = worker_minutes.worker AND s.owner = worker_minutes.owner AND s.verdict = '${verdict}')`;
    yield {
      kind: 'changes',
      sql: `UPDATE worker_minutes SET accepted = ${count('accepted')}, rejected = ${count('rejected')}, unanswered = ${count('unanswered')},
        accepted_work = (SELECT COALESCE(SUM(s.credited_difficulty), 0) FROM shares s WHERE s.at >= ? AND s.at < ? AND s.worker = worker_minutes.worker
          AND s.owner = worker_minutes.owner AND s.verdict = 'accepted')
        WHERE minute = ?`,
      params: [from, to, from, to, from, to, from, to, whole],
    };
  }
  removed += (yield {
    kind: 'changes',
    sql: `DELETE FROM worker_minutes WHERE (minute, worker, owner) IN
      (SELECT minute, worker, owner FROM worker_minutes WHERE minute < ? AND accepted + rejected + unanswered = 0 LIMIT ?)`,
    params: [whole, maxRows],
  }) as number;
  return removed;
}
