import t from 'tap';
import { exactFraction, overCommonDenominator } from '../../src/books/exact.js';
import { openLedgerReader } from '../../src/books/open-reader.js';
import type { ShareRecord } from '../../src/books/ledger-store.js';
import { minuteProblems, sameWork, WORK_ROUNDING_PER_SHARE, type MinuteCounts } from '../../src/books/ledger-verify.js';
import { mulberry32 } from '../helpers/prng.js';
import { ledgerBackends } from './ledger-backends.js';

/**
 * ledger verify compares each minute row's accepted work (summed by the writer, one share at a time) with the
 * share rows' sum (summed by the database in its own order). Floating-point sums of the same terms in another
 * order differ in the last bits; the comparison allows exactly that (WORK_ROUNDING_PER_SHARE x shares x the
 * sum, src/books/ledger-verify.ts) and nothing more. The old rule (relative 1e-9, and 1e-9 absolute below 1)
 * let real differences through: these tests fail on it.
 */

const U = 2 ** -53;
const MINUTE = 60_000;
const T0 = Date.UTC(2026, 11, 5, 0, 0, 0);

/** What the books compared with before: a fixed relative tolerance, with an absolute floor of 1e-9. */
const oldSameWork = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));

/** Awkward difficulties: fractional, from 1e-4 to 1e8, with full 53-bit mantissas. */
function awkward(random: () => number): number {
  return 10 ** (random() * 12 - 4) * (1 + random()) + random() / 3;
}

const sum = (xs: readonly number[]) => xs.reduce((a, x) => a + x, 0);
function pairwise(xs: readonly number[]): number {
  if (xs.length <= 2) return sum(xs);
  const mid = xs.length >> 1;
  return pairwise(xs.slice(0, mid)) + pairwise(xs.slice(mid));
}
/** The exact sum (bigint fractions), rounded once to a double. */
function exactSum(xs: readonly number[]): number {
  const { sums, denominator } = overCommonDenominator([xs.map(exactFraction)]);
  // Scale so the quotient keeps 64 bits, then one rounding to a double.
  const shift = BigInt(Math.max(0, denominator.toString(2).length - sums[0]!.toString(2).length + 64));
  return Number((sums[0]! << shift) / denominator) / 2 ** Number(shift);
}

const ORDERS: [string, (xs: number[]) => number][] = [
  ['reversed', (xs) => sum([...xs].reverse())],
  ['ascending', (xs) => sum([...xs].sort((a, b) => a - b))],
  ['descending', (xs) => sum([...xs].sort((a, b) => b - a))],
  ['pairwise', pairwise],
  ['exact, rounded once', exactSum],
];

const minute = (i: number, accepted: number, acceptedWork: number): MinuteCounts => ({ minute: T0 + i * MINUTE, worker: `rig${i}`, owner: 'farm', accepted, rejected: 0, unanswered: 0, acceptedWork });

t.test('sums of many awkward fractional difficulties in any order are the same work; a difference past the rounding is named', async (t) => {
  const random = mulberry32(0x5eed13);
  const rows: number[][] = Array.from({ length: 120 }, (_, i) => Array.from({ length: 1 + Math.floor(random() * (i < 20 ? 20 : 3000)) }, () => awkward(random)));
  const writer = rows.map((xs, i) => minute(i, xs.length, sum(xs)));
  let differing = 0;
  for (const [name, order] of ORDERS) {
    const database = rows.map((xs, i) => minute(i, xs.length, order(xs)));
    differing += database.filter((d, i) => d.acceptedWork !== writer[i]!.acceptedWork).length;
    t.same(minuteProblems(writer, database), [], `${name}: no problem`);
    // The bound is what numerical analysis gives, and it holds here with room to spare.
    const worst = Math.max(...database.map((d, i) => Math.abs(d.acceptedWork - writer[i]!.acceptedWork) / (d.acceptedWork * d.accepted * U)));
    t.ok(worst <= WORK_ROUNDING_PER_SHARE / U, `${name}: worst difference ${worst.toFixed(3)} u per share`);
  }
  t.ok(differing > 300, `the orders really give other last bits (${differing} of ${rows.length * ORDERS.length} sums differ)`);

  // Tampered: one side off by 8 units of roundoff per share (twice the allowance): not rounding, work that is
  // not in the other side. The old rule took every one of these for equal.
  const tampered = writer.map((m) => ({ ...m, acceptedWork: m.acceptedWork * (1 + 8 * U * m.accepted) }));
  const problems = minuteProblems(tampered, rows.map((xs, i) => minute(i, xs.length, exactSum(xs))));
  t.equal(problems.length, rows.length, 'every tampered minute is named');
  t.match(problems[0]!.message, /^worker_minutes minute 2026-12-05T00:00:00\.000Z worker "rig0" owner "farm": accepted_work \S+, the share rows say \S+$/);
  t.ok(
    tampered.every((m, i) => oldSameWork(m.acceptedWork, writer[i]!.acceptedWork)),
    'the old comparison saw no difference in any of them',
  );
});

t.test('small work: 1e-9 of work missing from a minute of about 0.01 (1e-7 of it) is a difference; the old absolute floor of 1e-9 hid it', async (t) => {
  const random = mulberry32(7);
  const xs = Array.from({ length: 40 }, () => 1e-4 + random() * 4e-4);
  const whole = sum(xs);
  const lighter = whole - 1e-9;
  t.ok(oldSameWork(whole, lighter), 'the old rule: the same');
  t.notOk(sameWork(whole, lighter, xs.length), 'now: different');
  t.ok(sameWork(whole, pairwise([...xs].reverse()), xs.length), 'another order is still the same');
  t.ok(sameWork(0, 0, 0), 'no work, no shares');
  t.notOk(sameWork(0, Number.MIN_VALUE, 0), 'no shares allow no difference at all');
  t.ok(sameWork(0.1, 0.1, 1), 'one share: itself');
});

t.test('both stores: thousands of awkward shares verify as consistent; a minute row off past the rounding is named', async (t) => {
  const { backends, skipped } = await ledgerBackends(t);
  if (skipped) t.comment(`skipped: ${skipped}`);
  for (const backend of backends) {
    await t.test(backend.name, async (t) => {
      const location = await backend.fresh(t);
      const store = backend.store(location);
      const random = mulberry32(0xd1ff);
      const run = { runId: 'r1', startedAt: T0, pid: 1, host: 'h', version: 'v' };
      let id = 0;
      const records: ShareRecord[] = [];
      for (let m = 0; m < 6; m++) {
        for (let i = 0; i < 1500; i++) {
          const at = T0 + m * MINUTE + Math.floor(random() * MINUTE);
          const d = awkward(random);
          records.push({
            kind: 'share', shareId: ++id, at, answeredAt: at + 5, worker: `rig${i % 3}`, owner: 'farm', route: 'default', target: 'default', pool: 'main', connection: 0, jobId: 'j', creditedDifficulty: d,
            shareDifficulty: d * 2, networkDifficulty: 1e6, verdict: random() < 0.97 ? 'accepted' : 'rejected', rejectCode: null, reason: null, noAnswerCause: null, latencyMs: 5, blockHash: null,
          });
        }
      }
      // In time order, as the pool answers: the minute rows add the shares in another order than the database.
      records.sort((a, b) => a.at - b.at);
      for (let i = 0; i < records.length; i += 1000) await store.write(run, records.slice(i, i + 1000), T0);
      await store.close();

      const reader = openLedgerReader(backend.name === 'SQLite' ? { path: location, url: null, retentionDays: 0 } : { path: null, url: location, retentionDays: 0 })!;
      t.teardown(() => reader.close());
      t.same(await reader.verify(), [], 'consistent');

      const rows = (await backend.read(location)).minutes;
      t.equal(rows.length, 18, '6 minutes x 3 workers');
      const target = rows[7]!;
      const work = Number(target.accepted_work);
      const off = work * (1 + 8 * U * Number(target.accepted));
      t.ok(oldSameWork(work, off), 'a difference the old rule did not see');
      await tamper(backend.name, location, off, Number(target.minute), String(target.worker));
      const problems = await reader.verify();
      t.equal(problems.length, 1, 'named now');
      t.match(problems[0]!.message, new RegExp(`worker "${String(target.worker)}" owner "farm": accepted_work ${off}, the share rows say`));
    });
  }
});

async function tamper(kind: string, location: string, work: number, minuteAt: number, worker: string): Promise<void> {
  const sql = 'UPDATE worker_minutes SET accepted_work = $1 WHERE minute = $2 AND worker = $3';
  if (kind === 'SQLite') {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(location);
    db.prepare(sql.replace(/\$\d/g, '?')).run(work, minuteAt, worker);
    db.close();
    return;
  }
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: location });
  await client.connect();
  await client.query(sql, [work, minuteAt, worker]);
  await client.end();
}
