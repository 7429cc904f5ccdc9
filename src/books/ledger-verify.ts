import { formatDash } from './duffs.js';
import type { BlockRow } from './ledger-blocks.js';
import type { LedgerProblem, RecordedPayout } from './ledger-reader.js';
import { PAID_BLOCK_STATUSES } from './ledger-store.js';

/**
 * The books' internal consistency (ledger verify), pure: each store reads the rows with the same SQL
 * (ledger-queries.ts) and hands them here.
 *   - minutes: each worker_minutes row's verdict counts and accepted work equal its share rows grouped the
 *     same way (minute, worker, owner), and no share rows lack their minute row; work is equal but for the
 *     rounding of summing in another order, bounded by the number of shares (sameWork);
 *   - payouts: each payout has splits; each split's total is gross - fee + fees received, none negative;
 *     the gross parts and the totals each sum to the payout; the fees taken equal the fees received;
 *   - blocks: a solo block's payout exists, is its alone, and is its reward (its splits sum to it: above); only
 *     a final payable block (chainlocked, mature) has one.
 */
export interface MinuteCounts {
  minute: number;
  worker: string;
  owner: string;
  accepted: number;
  rejected: number;
  unanswered: number;
  acceptedWork: number;
}

/**
 * Accepted work is a sum of floating-point difficulties, and the two sides of the check add the same n
 * pool-accepted shares in different orders: the writer adds each share to its minute row as it is written,
 * the database sums the share rows in an order of its own (SQLite with compensated summation, PostgreSQL
 * plainly, in partial sums when parallel). For terms >= 0, any order of summation is within (n - 1) u S of the
 * exact sum S (u = 2^-53, the unit roundoff of a double; Higham, "Accuracy and Stability of Numerical
 * Algorithms", 2nd ed., section 4.2), so two correct sums are at most 2 (n - 1) u S apart. The books allow
 * twice that, WORK_ROUNDING_PER_SHARE x n x the larger sum, and nothing more: a difference beyond it is not
 * rounding but work that one side has and the other has not. Difficulties travel exactly (SQLite stores the
 * double; PostgreSQL's float8 text round-trips), so there is no other rounding to allow for.
 */
export const WORK_ROUNDING_PER_SHARE = 4 * 2 ** -53;

/** Whether two sums of the same `shares` terms (each >= 0) are equal but for the order they were added in. */
export function sameWork(a: number, b: number, shares: number): boolean {
  return Math.abs(a - b) <= WORK_ROUNDING_PER_SHARE * Math.max(shares, 1) * Math.max(Math.abs(a), Math.abs(b));
}

const keyOf = (m: MinuteCounts) => `${m.minute}\u0000${m.worker}\u0000${m.owner}`;
const nameOf = (m: MinuteCounts) => `minute ${new Date(m.minute).toISOString()} worker ${JSON.stringify(m.worker)} owner ${JSON.stringify(m.owner)}`;

export function minuteProblems(minuteRows: readonly MinuteCounts[], fromShares: readonly MinuteCounts[]): LedgerProblem[] {
  const problems: LedgerProblem[] = [];
  const shares = new Map(fromShares.map((s) => [keyOf(s), s]));
  const sorted = [...minuteRows].sort((a, b) => a.minute - b.minute || (keyOf(a) < keyOf(b) ? -1 : 1));
  for (const m of sorted) {
    const s = shares.get(keyOf(m)) ?? { ...m, accepted: 0, rejected: 0, unanswered: 0, acceptedWork: 0 };
    shares.delete(keyOf(m));
    const diffs: string[] = [];
    for (const field of ['accepted', 'rejected', 'unanswered'] as const) {
      if (m[field] !== s[field]) diffs.push(`${field} ${m[field]}, the share rows say ${s[field]}`);
    }
    if (!sameWork(m.acceptedWork, s.acceptedWork, Math.max(m.accepted, s.accepted))) diffs.push(`accepted_work ${m.acceptedWork}, the share rows say ${s.acceptedWork}`);
    if (diffs.length > 0) problems.push({ kind: 'minute', message: `worker_minutes ${nameOf(m)}: ${diffs.join('; ')}` });
  }
  for (const s of [...shares.values()].sort((a, b) => a.minute - b.minute)) {
    problems.push({ kind: 'minute', message: `shares ${nameOf(s)}: ${s.accepted + s.rejected + s.unanswered} share rows and no worker_minutes row` });
  }
  return problems;
}

export function payoutProblems(payouts: readonly RecordedPayout[]): LedgerProblem[] {
  const problems: LedgerProblem[] = [];
  for (const p of payouts) {
    const at = `payout ${p.id} (${formatDash(p.amount)} DASH)`;
    if (p.splits.length === 0) {
      problems.push({ kind: 'payout', message: `${at}: no splits` });
      continue;
    }
    let gross = 0n;
    let total = 0n;
    let fees = 0n;
    let received = 0n;
    for (const s of p.splits) {
      gross += s.gross;
      total += s.total;
      fees += s.fee;
      received += s.feesReceived;
      if (s.gross < 0n || s.fee < 0n || s.feesReceived < 0n || s.total < 0n) problems.push({ kind: 'payout', message: `${at}: the split of ${s.owner} has a negative amount` });
      if (s.total !== s.gross - s.fee + s.feesReceived) {
        problems.push({ kind: 'payout', message: `${at}: the split of ${s.owner} totals ${formatDash(s.total)}, gross - fee + fees received is ${formatDash(s.gross - s.fee + s.feesReceived)}` });
      }
    }
    if (total !== p.amount) problems.push({ kind: 'payout', message: `${at}: the splits total ${formatDash(total)} DASH` });
    if (gross !== p.amount) problems.push({ kind: 'payout', message: `${at}: the gross parts sum to ${formatDash(gross)} DASH` });
    if (fees !== received) problems.push({ kind: 'payout', message: `${at}: fees taken ${formatDash(fees)} DASH, fees received ${formatDash(received)} DASH` });
  }
  return problems;
}

export function blockProblems(blocks: readonly BlockRow[], payouts: readonly RecordedPayout[]): LedgerProblem[] {
  const problems: LedgerProblem[] = [];
  const byId = new Map(payouts.map((p) => [p.id, p]));
  const paidBy = new Map<number, string>();
  for (const b of blocks) {
    if (b.payoutId === null) continue;
    const at = `block ${b.height} ${b.hash} (${formatDash(b.reward)} DASH, ${b.status})`;
    const p = byId.get(b.payoutId);
    if (!p) {
      problems.push({ kind: 'block', message: `${at}: its payout ${b.payoutId} is not in the books` });
      continue;
    }
    if (p.amount !== b.reward) problems.push({ kind: 'block', message: `${at}: its payout ${p.id} is ${formatDash(p.amount)} DASH, not its reward` });
    if (!PAID_BLOCK_STATUSES.includes(b.status)) problems.push({ kind: 'block', message: `${at}: paid (payout ${p.id}) but not chainlocked or mature` });
    const other = paidBy.get(p.id);
    if (other !== undefined) problems.push({ kind: 'block', message: `${at}: its payout ${p.id} is block ${other}'s too` });
    paidBy.set(p.id, b.hash);
  }
  return problems;
}
