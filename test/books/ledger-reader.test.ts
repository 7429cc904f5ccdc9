import { writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { formatDash, parseDash } from '../../src/books/duffs.js';
import { formatPayouts, formatProblems, formatReport } from '../../src/books/ledger-format.js';
import { LedgerInputError } from '../../src/books/ledger-input.js';
import { recordPayout, type PayoutInput } from '../../src/books/ledger-payout.js';
import { MIGRATIONS } from '../../src/books/ledger-schema.js';
import { SqliteLedgerReader } from '../../src/books/ledger-sqlite-reader.js';
import { LedgerRefusedError } from '../../src/books/ledger-store.js';
import { payoutRules } from '../../src/books/open-reader.js';
import { BOOKS, D1, D2, filledBooks, OWNERS } from './books-fixture.js';
import { tempDir } from './ledger-kit.js';

const DAY1 = Date.UTC(2026, 11, 5);
const DAY2 = Date.UTC(2026, 11, 6);
const DAY3 = Date.UTC(2026, 11, 7);
const TWO_DAYS = { from: DAY1, to: DAY3 };
const rules = payoutRules({ owners: OWNERS, books: BOOKS });

async function reader(t: { teardown(fn: () => void | Promise<void>): void }) {
  const { file } = await filledBooks(t);
  const r = new SqliteLedgerReader(file);
  t.teardown(() => r.close());
  return { file, r };
}

/** A payout's splits as plain text per owner: [work, gross, fee, fees in, total]. */
function splits(p: { splits: { owner: string; work: number; gross: bigint; fee: bigint; feesReceived: bigint; total: bigint }[] }) {
  return Object.fromEntries(p.splits.map((s) => [s.owner, [s.work, formatDash(s.gross), formatDash(s.fee), formatDash(s.feesReceived), formatDash(s.total)]]));
}

t.test('reports over a ledger written by the writer: exact counts and work by owner, worker, pool and day', async (t) => {
  const { r } = await reader(t);
  t.same(await r.report(TWO_DAYS, 'owner'), [
    { key: 'alice', shares: 3, accepted: 2, rejected: 0, unanswered: 1, acceptedWork: 4000 },
    { key: 'bob', shares: 2, accepted: 1, rejected: 1, unanswered: 0, acceptedWork: 2000 },
    { key: 'farm', shares: 1, accepted: 1, rejected: 0, unanswered: 0, acceptedWork: 1000 },
  ]);
  t.same(await r.report(TWO_DAYS, 'worker'), [
    { key: 'alice.rig1', shares: 2, accepted: 1, rejected: 0, unanswered: 1, acceptedWork: 3000 },
    { key: 'alice.rig2', shares: 1, accepted: 1, rejected: 0, unanswered: 0, acceptedWork: 1000 },
    { key: 'bob.s19', shares: 2, accepted: 1, rejected: 1, unanswered: 0, acceptedWork: 2000 },
    { key: 'rig9', shares: 1, accepted: 1, rejected: 0, unanswered: 0, acceptedWork: 1000 },
  ]);
  t.same(await r.report(TWO_DAYS, 'pool'), [
    { key: 'backup', shares: 1, accepted: 1, rejected: 0, unanswered: 0, acceptedWork: 1000 },
    { key: 'main', shares: 5, accepted: 3, rejected: 1, unanswered: 1, acceptedWork: 6000 },
  ]);
  t.same(await r.report(TWO_DAYS, 'day'), [
    { key: DAY1, shares: 5, accepted: 3, rejected: 1, unanswered: 1, acceptedWork: 6000 },
    { key: DAY2, shares: 1, accepted: 1, rejected: 0, unanswered: 0, acceptedWork: 1000 },
  ]);
  t.same(await r.report({ from: DAY1, to: DAY2 }, 'owner', 'alice'), [{ key: 'alice', shares: 2, accepted: 1, rejected: 0, unanswered: 1, acceptedWork: 3000 }], 'one owner, one day');
  t.same(await r.report({ from: D1 + 2000, to: D1 + 3000 }, 'owner'), [{ key: 'bob', shares: 1, accepted: 1, rejected: 0, unanswered: 0, acceptedWork: 2000 }], '[from, to): from included, to not');
  t.same(await r.report({ from: DAY3, to: DAY3 + 1 }, 'owner'), [], 'nothing in the range');
  t.same(await r.owners(), ['alice', 'bob', 'farm']);
});

t.test('the report as a table, CSV and JSON', async (t) => {
  const { r } = await reader(t);
  const rows = await r.report(TWO_DAYS, 'owner');
  t.equal(
    formatReport(TWO_DAYS, 'owner', rows, 'table'),
    [
      'books 2026-12-05T00:00:00.000Z to 2026-12-07T00:00:00.000Z by owner',
      'owner  shares  accepted  rejected  unanswered  accepted_work  work_percent',
      'alice       3         2         0           1           4000         57.14',
      'bob         2         1         1           0           2000         28.57',
      'farm        1         1         0           0           1000         14.29',
      'total       6         4         1           1           7000        100.00',
      '',
    ].join('\n'),
  );
  t.equal(
    formatReport(TWO_DAYS, 'owner', rows, 'csv'),
    'owner,shares,accepted,rejected,unanswered,accepted_work,work_percent\r\nalice,3,2,0,1,4000,57.14\r\nbob,2,1,1,0,2000,28.57\r\nfarm,1,1,0,0,1000,14.29\r\n',
  );
  t.same(JSON.parse(formatReport(TWO_DAYS, 'day', await r.report(TWO_DAYS, 'day'), 'json')), {
    from: '2026-12-05T00:00:00.000Z',
    to: '2026-12-07T00:00:00.000Z',
    by: 'day',
    rows: [
      { day: '2026-12-05', shares: 5, accepted: 3, rejected: 1, unanswered: 1, acceptedWork: 6000, workPercent: 85.7143 },
      { day: '2026-12-06', shares: 1, accepted: 1, rejected: 0, unanswered: 0, acceptedWork: 1000, workPercent: 14.2857 },
    ],
    total: { shares: 6, accepted: 4, rejected: 1, unanswered: 1, acceptedWork: 7000 },
  });
  t.equal(formatReport(TWO_DAYS, 'worker', [{ key: 'odd,"name"', shares: 1, accepted: 1, rejected: 0, unanswered: 0, acceptedWork: 1 }], 'csv').split('\r\n')[1], '"odd,""name""",1,1,0,0,1,100.00', 'CSV quotes a worker name with a comma or quote');
});

t.test('payouts recorded from the books: PROP, PPLNS and PPS split exactly, stored with their splits', async (t) => {
  const { r } = await reader(t);
  const base: Omit<PayoutInput, 'amount' | 'method'> = { period: { from: DAY1, to: DAY2 }, blocks: null, blockReward: null, note: null };

  // PROP over day 1: alice 3000, bob 2000, farm 1000 (the README's PROP example).
  const prop = await recordPayout(r, { ...base, amount: parseDash('0.5'), method: 'prop', note: 'pool tx 1' }, rules, DAY3);
  t.equal(prop.id, 1);
  t.same(splits(prop), {
    alice: [3000, '0.25000000', '0.00500000', '0.00000000', '0.24500000'],
    bob: [2000, '0.16666667', '0.00000000', '0.00000000', '0.16666667'],
    farm: [1000, '0.08333333', '0.00000000', '0.00500000', '0.08833333'],
  });

  // PPLNS, window 5500: the block at 10:00:03.5 is paid by farm 1000 + bob 2000 + 2500 of alice's 3000;
  // the one at D2 by alice 1000 + farm 1000 + bob 2000 + 1500 of alice's 3000. 1.1 DASH each.
  const pplns = await recordPayout(r, { ...base, period: { from: DAY1, to: DAY3 }, amount: parseDash('2.2'), method: 'pplns', blocks: [{ at: D1 + 3500 }, { at: D2 }] }, rules, DAY3 + 1);
  t.same(splits(pplns), {
    alice: [5000, '1.00000000', '0.02000000', '0.00000000', '0.98000000'],
    bob: [4000, '0.80000000', '0.00000000', '0.00000000', '0.80000000'],
    farm: [2000, '0.40000000', '0.00000000', '0.02000000', '0.42000000'],
  });

  // PPS at a 1.5 DASH reward: alice 3000 x 1.5 / 1e6 + 1000 x 1.5 / 2e6 = 0.00525, bob 0.003, farm 0.0015.
  const pps = await recordPayout(r, { ...base, period: TWO_DAYS, amount: parseDash('0.00975'), method: 'pps', blockReward: parseDash('1.5') }, rules, DAY3 + 2);
  t.same(splits(pps), {
    alice: [4000, '0.00525000', '0.00010500', '0.00000000', '0.00514500'],
    bob: [2000, '0.00300000', '0.00000000', '0.00000000', '0.00300000'],
    farm: [1000, '0.00150000', '0.00000000', '0.00010500', '0.00160500'],
  });

  const stored = await r.payouts();
  t.same(stored, [prop, pplns, pps], 'read back as recorded');
  t.same(stored.map((p) => [p.id, p.method, p.pplnsWindow, p.blocks, p.blockReward, p.note]), [
    [1, 'prop', null, null, null, 'pool tx 1'],
    [2, 'pplns', 5500, [{ at: D1 + 3500 }, { at: D2 }], null, null],
    [3, 'pps', null, null, 150_000_000n, null],
  ]);
  for (const p of stored) t.equal(p.splits.reduce((a, s) => a + s.total, 0n), p.amount, `payout ${p.id}: the splits sum to the payout`);
  t.same((await r.payouts({ from: DAY3 + 1, to: DAY3 + 2 })).map((p) => p.id), [2], 'payouts recorded in a range');
  t.same(await r.verify(), [], 'the books are consistent');

  t.equal(
    formatPayouts([prop], 'table'),
    [
      'payout 1: 0.50000000 DASH by prop for 2026-12-05T00:00:00.000Z to 2026-12-06T00:00:00.000Z, recorded 2026-12-07T00:00:00.000Z (pool tx 1)',
      'owner  work       gross         fee     fees in       total',
      'alice  3000  0.25000000  0.00500000  0.00000000  0.24500000',
      'bob    2000  0.16666667  0.00000000  0.00000000  0.16666667',
      'farm   1000  0.08333333  0.00000000  0.00500000  0.08833333',
      '',
    ].join('\n'),
  );
  t.equal(formatPayouts([prop], 'csv').split('\r\n')[1], '1,2026-12-07T00:00:00.000Z,prop,2026-12-05T00:00:00.000Z,2026-12-06T00:00:00.000Z,0.50000000,alice,3000,0.25000000,0.00500000,0.00000000,0.24500000');
});

t.test('what a payout needs and lacks is refused, naming it', async (t) => {
  const { r } = await reader(t);
  const base: PayoutInput = { amount: 100n, method: 'prop', period: TWO_DAYS, blocks: null, blockReward: null, note: null };
  const cases: [string, PayoutInput, RegExp, typeof rules?][] = [
    ['pplns without blocks', { ...base, method: 'pplns' }, /a pplns payout needs the times of the blocks/],
    ['pplns without a window', { ...base, method: 'pplns', blocks: [{ at: D2 }] }, /books\.pplnsWindow is not set/, { ...rules, pplnsWindow: null }],
    ['pps without a reward', { ...base, method: 'pps' }, /a pps payout needs the block reward/],
    ['blocks for prop', { ...base, blocks: [{ at: D2 }] }, /only a pplns payout pays for blocks/],
    ['a reward for prop', { ...base, blockReward: 1n }, /only a pps payout values work by a block reward/],
  ];
  for (const [name, input, message, rulesFor] of cases) await t.rejects(recordPayout(r, input, rulesFor ?? rules, 0), { name: 'LedgerInputError', message }, name);
  t.same(await r.payouts(), [], 'nothing recorded');
});

t.test('PPS refuses shares recorded without their network difficulty (books older than schema 2)', async (t) => {
  const { file, r } = await reader(t);
  const db = new Database(file);
  db.prepare(`UPDATE shares SET network_difficulty = NULL WHERE worker = 'bob.s19'`).run();
  db.close();
  await t.rejects(recordPayout(r, { amount: 100n, method: 'pps', period: TWO_DAYS, blocks: null, blockReward: 1n, note: null }, rules, 0), new LedgerInputError('pps: 1 pool-accepted shares of the period were recorded without their network difficulty (books older than schema version 2): split this period by prop'));
});

t.test('verify names each tampered row: a minute against its shares, a payout against its splits', async (t) => {
  const { file, r } = await reader(t);
  await recordPayout(r, { amount: parseDash('0.5'), method: 'prop', period: { from: DAY1, to: DAY2 }, blocks: null, blockReward: null, note: null }, rules, DAY3);
  t.same(await r.verify(), []);
  const db = new Database(file);
  db.prepare(`UPDATE worker_minutes SET accepted = accepted + 1 WHERE worker = 'bob.s19'`).run();
  db.prepare(`UPDATE shares SET credited_difficulty = 1500 WHERE worker = 'rig9'`).run();
  db.prepare(`DELETE FROM worker_minutes WHERE worker = 'alice.rig2'`).run();
  db.prepare(`UPDATE payout_splits SET total_duffs = total_duffs + 1 WHERE owner = 'bob'`).run();
  db.close();
  const problems = await r.verify();
  t.same(
    problems.map((p) => `${p.kind}: ${p.message}`),
    [
      'minute: worker_minutes minute 2026-12-05T10:00:00.000Z worker "bob.s19" owner "bob": accepted 2, the share rows say 1',
      'minute: worker_minutes minute 2026-12-05T10:00:00.000Z worker "rig9" owner "farm": accepted_work 1000, the share rows say 1500',
      'minute: shares minute 2026-12-06T01:00:00.000Z worker "alice.rig2" owner "alice": 1 share rows and no worker_minutes row',
      'payout: payout 1 (0.50000000 DASH): the split of bob totals 0.16666668, gross - fee + fees received is 0.16666667',
      'payout: payout 1 (0.50000000 DASH): the splits total 0.50000001 DASH',
    ],
  );
  t.same(await r.verify({ from: DAY2, to: DAY3 }), [problems[2], problems[3], problems[4]], 'a range limits the minutes checked (payouts are always checked)');
  t.match(formatProblems(file, problems), /: 5 problems\n  - worker_minutes minute/);
});

t.test('a missing file, a foreign file: refused naming the file; a version 1 ledger is migrated with its rows', async (t) => {
  const dir = tempDir(t);
  const missing = path.join(dir, 'none.sqlite');
  await t.rejects(new SqliteLedgerReader(missing).report(TWO_DAYS, 'owner'), new LedgerRefusedError(missing, 'no such file (the proxy creates the books when it starts with ledger.path set)'));
  const foreign = path.join(dir, 'foreign.sqlite');
  writeFileSync(foreign, 'not a database, just text '.repeat(100));
  await t.rejects(new SqliteLedgerReader(foreign).owners(), { name: 'LedgerRefusedError', message: new RegExp(`ledger ${foreign.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not an SQLite database`) });

  const v1 = path.join(dir, 'v1.sqlite');
  const db = new Database(v1);
  db.pragma('application_id = 0x44465058');
  for (const sql of MIGRATIONS[0]!.statements) db.exec(sql);
  db.prepare('INSERT INTO schema_version VALUES (1, ?, 0)').run(MIGRATIONS[0]!.description);
  db.prepare(`INSERT INTO shares VALUES ('r', 1, ?, ?, 'bob.s1', 'bob', 'main', 0, 'j', 8, 9, 'accepted', NULL, NULL, NULL, 5, 0, NULL)`).run(D1, D1 + 5);
  db.prepare(`INSERT INTO worker_minutes (minute, worker, owner, accepted, accepted_work) VALUES (?, 'bob.s1', 'bob', 1, 8)`).run(D1);
  db.close();
  const r = new SqliteLedgerReader(v1);
  t.teardown(() => r.close());
  t.same(await r.acceptedWork(TWO_DAYS), [{ at: D1, owner: 'bob', work: 8, networkDifficulty: null }], 'the old row, without a network difficulty');
  t.same(await r.verify(), []);
  t.equal((await recordPayout(r, { amount: 10n, method: 'prop', period: TWO_DAYS, blocks: null, blockReward: null, note: null }, rules, 0)).splits.find((s) => s.owner === 'bob')!.gross, 10n, 'payouts can be recorded after the migration');
});
