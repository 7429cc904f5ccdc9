import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { apportion } from '../../src/books/apportion.js';
import { formatDash, parseDash, type Duffs } from '../../src/books/duffs.js';
import { OwnerMap } from '../../src/books/owners.js';
import { PayoutError, splitPayout, type HostingFees, type PayoutRequest, type PayoutSplit } from '../../src/books/payouts.js';
import { mulberry32 } from '../helpers/prng.js';

/**
 * Payout splits: the README's worked examples (one per method, the hosting fee taken first), checked duff
 * by duff and against the tables printed in the README; the remainder rule; bad input; and properties over
 * random ledgers from a seeded PRNG (sums exact, nobody negative, fee-free owners get their exact share up
 * to one duff, the same result whatever the order of the rows).
 */

/** The README's owners: alice pays a 2% hosting fee, bob none, the farm owner is "farm". */
const owners = OwnerMap.compile({ alice: { workers: ['alice.*'], feePercent: 2 }, bob: { workers: ['bob.*'], feePercent: 0 } }, { farmOwner: 'farm' });

const totals = (s: PayoutSplit) => Object.fromEntries(s.shares.map((x) => [x.owner, x.total]));
const row = (s: PayoutSplit, owner: string) => s.shares.find((x) => x.owner === owner)!;
const sum = (s: PayoutSplit) => s.shares.reduce((a, x) => a + x.total, 0n);

/** A split as the README prints it (the test checks the README holds exactly this text). */
function table(s: PayoutSplit): string {
  const rows = [['owner', 'work', 'gross', 'fee', 'fees in', 'total'], ...s.shares.map((x) => [x.owner, String(x.work), formatDash(x.gross), formatDash(x.fee), formatDash(x.feesReceived), formatDash(x.total)])];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n');
}

const EXAMPLES: Record<string, PayoutRequest> = {
  prop: {
    method: 'prop',
    amount: parseDash('0.5'),
    work: [
      { owner: 'alice', work: 3000 },
      { owner: 'bob', work: 2000 },
      { owner: 'farm', work: 1000 },
    ],
  },
  pplns: {
    method: 'pplns',
    amount: parseDash('2'),
    window: 1000,
    blocks: [
      { at: 4, reward: parseDash('1') },
      { at: 6, reward: parseDash('1') },
    ],
    work: [
      { at: 1, owner: 'alice', work: 400 },
      { at: 2, owner: 'bob', work: 400 },
      { at: 3, owner: 'alice', work: 400 },
      { at: 4, owner: 'farm', work: 200 },
      { at: 5, owner: 'bob', work: 600 },
    ],
  },
  pps: {
    method: 'pps',
    amount: parseDash('0.03'),
    work: [
      { owner: 'alice', work: 1000, networkDifficulty: 100_000, blockReward: parseDash('1.5') },
      { owner: 'bob', work: 1000, networkDifficulty: 200_000, blockReward: parseDash('1.5') },
      { owner: 'farm', work: 500, networkDifficulty: 100_000, blockReward: parseDash('1.5') },
    ],
  },
};

t.test('README example, PROP: 0.5 DASH by work in the period, then alice\'s 2% fee to the farm', async (t) => {
  const s = splitPayout(EXAMPLES.prop!, owners);
  // 3000 : 2000 : 1000 of 50,000,000 duffs = 25,000,000 | 16,666,666.67 | 8,333,333.33: the one duff left
  // goes to bob (the largest fraction lost, 2/3). alice's fee: 2% of 25,000,000 = 500,000.
  t.same(
    s.shares.map((x) => [x.owner, x.gross, x.fee, x.feesReceived, x.total]),
    [
      ['alice', 25_000_000n, 500_000n, 0n, 24_500_000n],
      ['bob', 16_666_667n, 0n, 0n, 16_666_667n],
      ['farm', 8_333_333n, 0n, 500_000n, 8_833_333n],
    ],
  );
  t.equal(sum(s), 50_000_000n);
});

t.test('README example, PPLNS: each block paid by the last 1000 units of work before it, the edge unit in part', async (t) => {
  const s = splitPayout(EXAMPLES.pplns!, owners);
  // Block at 4: farm 200 + alice 400 (at 3) + bob 400 (at 2) = 1000; alice's unit at 1 is outside.
  // Block at 6: bob 600 + farm 200 + 200 of alice's 400 at 3 = 1000.
  t.same(
    s.shares.map((x) => [x.owner, x.work, x.gross, x.fee, x.total]),
    [
      ['alice', 600, 60_000_000n, 1_200_000n, 58_800_000n],
      ['bob', 1000, 100_000_000n, 0n, 100_000_000n],
      ['farm', 400, 40_000_000n, 0n, 41_200_000n],
    ],
  );
  t.equal(sum(s), 200_000_000n);
});

t.test('README example, PPS: work valued at reward x share difficulty / network difficulty, then the fee', async (t) => {
  const s = splitPayout(EXAMPLES.pps!, owners);
  // alice 1000 x 1.5 DASH / 100,000 = 0.015; bob 1000 x 1.5 / 200,000 = 0.0075; farm 500 x 1.5 / 100,000 = 0.0075.
  t.same(totals(s), { alice: 1_470_000n, bob: 750_000n, farm: 780_000n });
  t.same([row(s, 'alice').gross, row(s, 'alice').fee, row(s, 'farm').feesReceived], [1_500_000n, 30_000n, 30_000n]);
  const prop = splitPayout({ method: 'prop', amount: EXAMPLES.pps!.amount, work: EXAMPLES.pps!.work }, owners);
  t.equal(row(prop, 'alice').gross, 1_200_000n, 'by PROP the same work is 1000 of 2500: the difficulty rise is what PPS weighs');
});

t.test('the README prints these three splits exactly', async (t) => {
  const readme = readFileSync(path.resolve('README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## The books: owners and payouts'));
  t.ok(section.length > 0 && readme.includes('## The books: owners and payouts'), 'the section exists');
  for (const [name, request] of Object.entries(EXAMPLES)) {
    const printed = table(splitPayout(request, owners));
    t.ok(section.includes(printed), `${name}:\n${printed}`);
  }
});

t.test('the remainder rule: largest fraction lost first, ties to the earlier name; fees round down', async (t) => {
  t.same(apportion(10n, [1n, 1n, 1n]), [4n, 3n, 3n], 'a tie: the first listed gets the duff');
  t.same(apportion(10n, [1n, 2n, 4n]), [1n, 3n, 6n], '10/7, 20/7, 40/7: 1.43 3 .86 5.71 -> 1, 3, 6');
  t.same(apportion(0n, [1n, 2n]), [0n, 0n]);
  t.same(apportion(5n, [0n, 3n]), [0n, 5n]);
  t.equal(apportion(5n, [0n, 0n]), null, 'no weight: nothing to split by');
  t.same(apportion(1n, [1n, 1n, 1n, 1n]), [1n, 0n, 0n, 0n]);
  const s = splitPayout({ method: 'prop', amount: 10n, work: [{ owner: 'bob', work: 1 }, { owner: 'alice', work: 1 }, { owner: 'farm', work: 1 }] }, owners);
  t.same(totals(s), { alice: 4n, bob: 3n, farm: 3n }, 'owners are listed by name: alice wins the tie whatever the input order; her 2% of 4 duffs is 0.08: rounded down to 0');
  const fee = splitPayout({ method: 'prop', amount: 99n, work: [{ owner: 'alice', work: 1 }] }, owners);
  t.same([row(fee, 'alice').fee, row(fee, 'alice').total, row(fee, 'farm').total], [1n, 98n, 1n], '2% of 99 = 1.98: the fee is 1 duff');
});

t.test('no work at all: the payout is the farm owner\'s; an owner not in the map pays no fee', async (t) => {
  const none = splitPayout({ method: 'prop', amount: 1234n, work: [] }, owners);
  t.same(none.shares.map((x) => [x.owner, x.total]), [['farm', 1234n]]);
  const zero = splitPayout({ method: 'prop', amount: 7n, work: [{ owner: 'alice', work: 0 }] }, owners);
  t.same(totals(zero), { alice: 0n, farm: 7n });
  const gone = splitPayout({ method: 'prop', amount: 100n, work: [{ owner: 'carol', work: 1 }] }, owners);
  t.same(totals(gone), { carol: 100n, farm: 0n }, 'work recorded under an owner since removed keeps its money, fee-free');
  const lonely = splitPayout({ method: 'pplns', amount: 100n, window: 10, blocks: [{ at: 5 }, { at: 50 }], work: [{ at: 20, owner: 'bob', work: 4 }] }, owners);
  t.same(totals(lonely), { bob: 50n, farm: 50n }, 'a block with no work before it: its reward is the farm\'s');
  const fractional = splitPayout({ method: 'prop', amount: 3n, work: [{ owner: 'alice', work: 0.1 }, { owner: 'bob', work: 0.2 }] }, owners);
  t.same(totals(fractional), { alice: 1n, bob: 2n, farm: 0n }, 'fractional difficulty is weighed exactly (0.1 + 0.2)');
});

t.test('PPLNS without block rewards: equal parts, the extra duffs to the earliest blocks', async (t) => {
  const s = splitPayout({ method: 'pplns', amount: 5n, window: 1, blocks: [{ at: 30 }, { at: 20 }, { at: 10 }], work: [
    { at: 9, owner: 'alice', work: 1 }, { at: 19, owner: 'bob', work: 1 }, { at: 29, owner: 'farm', work: 1 },
  ] }, { farmOwner: 'farm', feeBasisPoints: () => 0 });
  t.same(totals(s), { alice: 2n, bob: 2n, farm: 1n }, 'blocks at 10 and 20 get 2 duffs, at 30 gets 1');
});

t.test('bad input is refused with the field named', async (t) => {
  const bad: [PayoutRequest, RegExp][] = [
    [{ method: 'prop', amount: -1n, work: [] }, /^amount must be a whole number of duffs, 0 or more \(got -1\)$/],
    [{ method: 'prop', amount: 1.5 as unknown as Duffs, work: [] }, /^amount must be a whole number of duffs/],
    [{ method: 'prop', amount: 1n, work: [{ owner: 'alice', work: -1 }] }, /^work\[0\]\.work must be a number of difficulty units >= 0 \(got -1\)$/],
    [{ method: 'prop', amount: 1n, work: [{ owner: 'alice', work: 1 }, { owner: 'bob', work: NaN }] }, /^work\[1\]\.work .* \(got NaN\)$/],
    [{ method: 'prop', amount: 1n, work: [{ owner: '', work: 1 }] }, /^work\[0\]\.owner must be an owner's name \(got ""\)$/],
    [{ method: 'pplns', amount: 1n, window: 0, blocks: [{ at: 1 }], work: [] }, /^window must be a number of difficulty units > 0 \(got 0\)$/],
    [{ method: 'pplns', amount: 1n, window: 1, blocks: [], work: [] }, /^blocks: a PPLNS payout pays for at least one block$/],
    [{ method: 'pplns', amount: 2n, window: 1, blocks: [{ at: 1, reward: 1n }, { at: 2 }], work: [] }, /give every block its reward, or none/],
    [{ method: 'pplns', amount: 3n, window: 1, blocks: [{ at: 1, reward: 1n }, { at: 2, reward: 1n }], work: [] }, /^blocks: the block rewards sum to 0\.00000002 DASH, 0\.00000001 DASH less than the amount, 0\.00000003 DASH: they must sum to it exactly$/],
    [{ method: 'pplns', amount: 1n, window: 1, blocks: [{ at: NaN }], work: [] }, /^blocks\[0\]\.at must be a time in ms \(got NaN\)$/],
    [{ method: 'pplns', amount: 1n, window: 1, blocks: [{ at: 1 }], work: [{ at: 1, owner: 'a', work: Infinity }] }, /^work\[0\]\.work .* \(got Infinity\)$/],
    [{ method: 'pps', amount: 1n, work: [{ owner: 'a', work: 1, networkDifficulty: 0, blockReward: 1n }] }, /^work\[0\]\.networkDifficulty must be a number > 0 \(got 0\)$/],
    [{ method: 'pps', amount: 1n, work: [{ owner: 'a', work: 1, networkDifficulty: 1, blockReward: -3n }] }, /^work\[0\]\.blockReward must be a whole number of duffs, 0 or more \(got -3\)$/],
  ];
  for (const [request, re] of bad) t.throws(() => splitPayout(request, owners), { name: 'PayoutError', message: re }, re.source);
  t.throws(() => splitPayout(EXAMPLES.prop!, { farmOwner: 'farm', feeBasisPoints: () => 10_001 }), { name: 'PayoutError', message: /hosting fee of alice must be 0 to 10000 basis points \(got 10001\)/ });
});

// ---- properties over random ledgers ------------------------------------------------------------------------

const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'farm'];

function randomLedger(seed: number): { request: PayoutRequest; fees: HostingFees; shuffled: PayoutRequest } {
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const owners = NAMES.slice(0, 1 + Math.floor(rnd() * NAMES.length));
  const bp = new Map(owners.map((o) => [o, rnd() < 0.4 ? 0 : Math.floor(rnd() * 3001)]));
  const fees: HostingFees = { farmOwner: 'farm', feeBasisPoints: (o) => bp.get(o) ?? 0 };
  const amount = BigInt(Math.floor(rnd() * 2 ** 40)) * (rnd() < 0.2 ? 1n : 1000n) + BigInt(Math.floor(rnd() * 1000));
  const difficulty = () => pick([0.001, 1, 2.5, 4096, 65536, 1e6, 1234.5678]) * (0.5 + rnd());
  const n = Math.floor(rnd() * 60);
  const method = pick(['prop', 'pplns', 'pps'] as const);
  const work = Array.from({ length: n }, () => ({
    owner: pick(owners),
    work: rnd() < 0.05 ? 0 : difficulty(),
    at: Math.floor(rnd() * 1000),
    networkDifficulty: pick([1e5, 2.5e5, 123456789.123]),
    blockReward: pick([150_000_000n, 178_000_000n]),
  }));
  let request: PayoutRequest;
  if (method === 'prop') request = { method, amount, work };
  else if (method === 'pps') request = { method, amount, work };
  else {
    const blocks = Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => ({ at: Math.floor(rnd() * 1100) }));
    request = { method, amount, window: difficulty() * (1 + rnd() * 20), blocks, work };
  }
  const shuffled = { ...request, work: [...request.work].sort(() => rnd() - 0.5) } as PayoutRequest;
  return { request, fees, shuffled };
}

t.test('properties over 400 random ledgers: exact sums, nobody negative, exact shares, order-free', async (t) => {
  let checked = 0;
  for (let seed = 1; seed <= 400; seed++) {
    const { request, fees, shuffled } = randomLedger(seed);
    const s = splitPayout(request, fees);
    const at = `seed ${seed} (${request.method}, ${request.work.length} rows)`;
    if (sum(s) !== request.amount) t.fail(`${at}: the totals sum to ${sum(s)}, the payout is ${request.amount}`);
    if (s.shares.some((x) => x.total < 0n || x.gross < 0n || x.fee < 0n || x.fee > x.gross)) t.fail(`${at}: a negative part or a fee above its gross`);
    if (s.shares.reduce((a, x) => a + x.gross, 0n) !== request.amount) t.fail(`${at}: the gross parts do not sum to the payout`);
    const farm = s.shares.find((x) => x.owner === 'farm');
    if (!farm || farm.feesReceived !== s.shares.reduce((a, x) => a + x.fee, 0n)) t.fail(`${at}: the farm owner does not receive every fee`);
    if (JSON.stringify(splitPayout(shuffled, fees), big) !== JSON.stringify(s, big)) t.fail(`${at}: the rows' order changed the split`);
    if (JSON.stringify(splitPayout(request, fees), big) !== JSON.stringify(s, big)) t.fail(`${at}: not deterministic`);
    // PROP: every owner's gross is within one duff of the exact share (a float check is plenty at this size).
    if (request.method === 'prop') {
      const total = request.work.reduce((a, u) => a + u.work, 0);
      for (const x of s.shares) {
        if (total === 0) continue;
        const exact = (Number(request.amount) * request.work.filter((u) => u.owner === x.owner).reduce((a, u) => a + u.work, 0)) / total;
        if (Math.abs(Number(x.gross) - exact) > 1 + exact * 1e-12) t.fail(`${at}: ${x.owner} got ${x.gross}, the exact share is ${exact}`);
        if (fees.feeBasisPoints(x.owner) === 0 && x.owner !== 'farm' && x.total !== x.gross) t.fail(`${at}: a fee-free owner lost money`);
      }
    }
    // PPS and PPLNS against a plain floating-point reading of the same rules: within a duff per block.
    const expected = floatGross(request);
    if (expected) {
      const slack = (request.method === 'pplns' ? request.blocks.length : 1) + Number(request.amount) * 1e-11;
      for (const x of s.shares) {
        const e = expected.get(x.owner) ?? 0;
        if (Math.abs(Number(x.gross) - e) > slack) t.fail(`${at}: ${x.owner} got ${x.gross}, the rule says ${e}`);
      }
    }
    checked++;
  }
  t.equal(checked, 400);
});

/** Gross shares by PPS or PPLNS in floating point, as the README words the rules (null for PROP). */
function floatGross(request: PayoutRequest): Map<string, number> | null {
  const out = new Map<string, number>();
  const credit = (owner: string, v: number) => out.set(owner, (out.get(owner) ?? 0) + v);
  const amount = Number(request.amount);
  if (request.method === 'pps') {
    const value = (u: (typeof request.work)[number]) => (Number(u.blockReward) * u.work) / u.networkDifficulty;
    const total = request.work.reduce((a, u) => a + value(u), 0);
    if (total === 0) return new Map([['farm', amount]]);
    for (const u of request.work) credit(u.owner, (amount * value(u)) / total);
    return out;
  }
  if (request.method !== 'pplns') return null;
  const units = [...request.work].sort((a, b) => a.at - b.at || (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : a.work - b.work));
  for (const block of request.blocks) {
    const reward = block.reward !== undefined ? Number(block.reward) : amount / request.blocks.length;
    const window = new Map<string, number>();
    let filled = 0;
    for (const u of units.filter((u) => u.at <= block.at).reverse()) {
      if (filled >= request.window) break;
      const take = Math.min(u.work, request.window - filled);
      filled += take;
      window.set(u.owner, (window.get(u.owner) ?? 0) + take);
    }
    if (filled === 0) credit('farm', reward);
    else for (const [owner, w] of window) credit(owner, (reward * w) / filled);
  }
  return out;
}

t.test('PPLNS with one block and a window larger than all the work is PROP over the work up to the block', async (t) => {
  for (let seed = 1; seed <= 100; seed++) {
    const rnd = mulberry32(seed);
    const work = Array.from({ length: 1 + Math.floor(rnd() * 30) }, () => ({ at: Math.floor(rnd() * 100), owner: NAMES[Math.floor(rnd() * NAMES.length)]!, work: 0.001 + rnd() * 5000 }));
    const amount = BigInt(Math.floor(rnd() * 1e12));
    const fees: HostingFees = { farmOwner: 'farm', feeBasisPoints: (o) => (o === 'alice' ? 250 : 0) };
    const pplns = splitPayout({ method: 'pplns', amount, window: 1e9, blocks: [{ at: 60 }], work }, fees);
    const prop = splitPayout({ method: 'prop', amount, work: work.filter((u) => u.at <= 60) }, fees);
    const money = (s: PayoutSplit) => s.shares.filter((x) => x.gross > 0n || x.owner === 'farm').map((x) => [x.owner, x.gross, x.fee, x.total]);
    t.same(money(pplns), money(prop), `seed ${seed}`);
  }
});

t.test('a fee-free owner\'s exact share: scaled weights give the proportional amount to the duff', async (t) => {
  const rnd = mulberry32(7);
  for (let i = 0; i < 200; i++) {
    const units = Array.from({ length: 1 + Math.floor(rnd() * 8) }, (_, k) => ({ owner: `o${k}`, work: 1 + Math.floor(rnd() * 1000) }));
    const total = BigInt(units.reduce((a, u) => a + u.work, 0));
    const amount = BigInt(Math.floor(rnd() * 1e12));
    const s = splitPayout({ method: 'prop', amount, work: units }, { farmOwner: 'farm', feeBasisPoints: () => 0 });
    for (const u of units) {
      const floor = (amount * BigInt(u.work)) / total;
      const got = row(s, u.owner).total;
      if (got !== floor && got !== floor + 1n) t.fail(`case ${i}: ${u.owner} got ${got}, exact share rounds down to ${floor}`);
    }
    // Exactly the remainder rule: the extra duffs are as many as the rounding lost, no more.
    const floors = units.reduce((a, u) => a + (amount * BigInt(u.work)) / total, 0n);
    const extra = s.shares.reduce((a, x) => a + x.total, 0n) - floors;
    if (extra < 0n || extra >= BigInt(units.length)) t.fail(`case ${i}: ${extra} extra duffs for ${units.length} owners`);
  }
  t.pass('200 cases');
});

t.test('a large period stays fast: 100,000 PROP rows, 20,000 PPS rows over 500 difficulties, 50 PPLNS blocks', async (t) => {
  const rnd = mulberry32(99);
  const names = Array.from({ length: 100 }, (_, i) => `owner${i}`);
  const started = performance.now();
  const prop = splitPayout({ method: 'prop', amount: parseDash('123.45678901'), work: Array.from({ length: 100_000 }, () => ({ owner: names[Math.floor(rnd() * 100)]!, work: 4096 * (0.5 + rnd()) })) }, owners);
  const pps = splitPayout({ method: 'pps', amount: parseDash('10'), work: Array.from({ length: 20_000 }, (_, i) => ({ owner: names[i % 100]!, work: 1000 * rnd(), networkDifficulty: 1e8 * (1 + (i % 500) / 1000 + rnd() * 1e-9 * (i % 500)), blockReward: 178_000_000n })) }, owners);
  const pplns = splitPayout({ method: 'pplns', amount: parseDash('89'), window: 5e6, blocks: Array.from({ length: 50 }, (_, i) => ({ at: 1000 + i * 1000 })), work: Array.from({ length: 50_000 }, (_, i) => ({ at: i, owner: names[Math.floor(rnd() * 100)]!, work: 4096 * (0.5 + rnd()) })) }, owners);
  const ms = performance.now() - started;
  t.equal(sum(prop), parseDash('123.45678901'));
  t.equal(sum(pps), parseDash('10'));
  t.equal(sum(pplns), parseDash('89'));
  t.ok(ms < 20_000, `took ${ms.toFixed(0)} ms`);
});

function big(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

t.test('PayoutError is an Error', async (t) => {
  t.ok(new PayoutError('x') instanceof Error);
});

t.test('exact arithmetic: a number is its exact binary fraction; sums over a common denominator', async (t) => {
  const { exactFraction, overCommonDenominator, toNumber } = await import('../../src/books/exact.js');
  t.same(exactFraction(0.1), { n: 3602879701896397n, d: 1n << 55n }, '0.1 as the double really holds it');
  t.same(exactFraction(4096), { n: 4096n, d: 1n });
  t.same(exactFraction(2.5), { n: 5n, d: 2n });
  t.same(exactFraction(Number.MIN_VALUE), { n: 1n, d: 1n << 1074n }, 'the smallest double too');
  for (const bad of [-1, NaN, Infinity]) t.throws(() => exactFraction(bad), RangeError, String(bad));
  const { sums, denominator } = overCommonDenominator([[exactFraction(0.1), exactFraction(0.2)], [{ n: 1n, d: 3n }], []]);
  t.equal(denominator, 3n << 55n);
  t.same(sums, [3602879701896397n * 3n + 3602879701896397n * 2n * 3n, 1n << 55n, 0n], '0.1 + 0.2 exactly (the double 0.2 is exactly twice the double 0.1), and 1/3; an empty list is 0');
  t.equal(toNumber({ n: 1n, d: 3n }), 1 / 3);
  t.equal(toNumber({ n: 10n ** 400n, d: 2n * 10n ** 400n }), 0.5, 'huge fractions keep their ratio');
});
