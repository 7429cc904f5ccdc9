import t from 'tap';
import { HASHES_PER_DIFF1 } from '../../src/chain/target.js';
import { METER_TIME_CONSTANT_MS, WorkMeter } from '../../src/routing/work-meter.js';

/**
 * The work meter: credited difficulty x the Dash diff-1 work per second, with an exponential memory. Shares
 * are fed on a regular clock (one every `everyMs`), so the expected rate is exact and the tolerances only
 * cover the discreteness of the shares.
 */

const TAU = METER_TIME_CONSTANT_MS;

/** Credits a share of `difficulty` every `everyMs` from `from` (exclusive) to `to` (inclusive); returns `to`. */
function mine(meter: WorkMeter, difficulty: number, everyMs: number, from: number, to: number): number {
  for (let at = from + everyMs; at <= to; at += everyMs) meter.credit(difficulty, at);
  return to;
}

const near = (actual: number, expected: number, relative: number) => Math.abs(actual - expected) <= relative * expected;

t.test('not measured before the first credited share', async (t) => {
  const m = new WorkMeter(1_000);
  t.equal(m.hashrate(1_000), null);
  t.equal(m.hashrate(1_000_000), null);
  t.equal(m.shares, 0);
});

t.test('one share of difficulty 1 per second is HASHES_PER_DIFF1 H/s, from the first minute on', async (t) => {
  const m = new WorkMeter(0);
  mine(m, 1, 1_000, 0, 60_000);
  t.ok(near(m.hashrate(60_000)!, HASHES_PER_DIFF1, 0.02), `after 60 s: ${m.hashrate(60_000)}`);
  mine(m, 1, 1_000, 60_000, 3_600_000);
  t.ok(near(m.hashrate(3_600_000)!, HASHES_PER_DIFF1, 0.01), `after an hour: ${m.hashrate(3_600_000)}`);
  t.equal(m.shares, 3_600);
});

t.test('the difficulty scales the work: difficulty 512 every 4 s is 128 x diff-1 per second', async (t) => {
  const m = new WorkMeter(0);
  const at = mine(m, 512, 4_000, 0, 1_200_000);
  t.ok(near(m.hashrate(at)!, 128 * HASHES_PER_DIFF1, 0.01), String(m.hashrate(at)));
});

t.test('a device that slows down is followed within a few time constants', async (t) => {
  const m = new WorkMeter(0);
  let at = mine(m, 64, 1_000, 0, 4 * TAU);
  t.ok(near(m.hashrate(at)!, 64 * HASHES_PER_DIFF1, 0.01));
  at = mine(m, 32, 1_000, at, at + 3 * TAU);
  // After 3 tau the old rate weighs exp(-3) = 5%: within 6% of the new rate.
  t.ok(near(m.hashrate(at)!, 32 * HASHES_PER_DIFF1, 0.06), String(m.hashrate(at)));
  at = mine(m, 32, 1_000, at, at + 3 * TAU);
  t.ok(near(m.hashrate(at)!, 32 * HASHES_PER_DIFF1, 0.01), String(m.hashrate(at)));
});

t.test('a device that stops fades exponentially with the time constant', async (t) => {
  const m = new WorkMeter(0);
  const at = mine(m, 1, 1_000, 0, 10 * TAU);
  const before = m.hashrate(at)!;
  t.ok(near(m.hashrate(at + TAU)!, before * Math.exp(-1), 0.001));
  t.ok(m.hashrate(at + 10 * TAU)! < before * 1e-4);
});

t.test('a share at the first instant reads as a one-second window, not infinity', async (t) => {
  const m = new WorkMeter(5_000);
  m.credit(2, 5_000);
  t.equal(m.hashrate(5_000), 2 * HASHES_PER_DIFF1);
});

t.test('a clock that goes back reads as no time passing', async (t) => {
  const m = new WorkMeter(0);
  mine(m, 1, 1_000, 0, 600_000);
  const now = m.hashrate(600_000)!;
  t.ok(m.hashrate(500_000)! >= now, 'an earlier time sees the same work (over a shorter window), never a negative decay');
  t.ok(Number.isFinite(m.hashrate(-1_000_000)!));
  m.credit(1, 300_000); // late: counted, not decayed backwards
  t.ok(m.hashrate(600_000)! > now);
  t.ok(near(m.hashrate(600_000)! - now, (HASHES_PER_DIFF1 * 1000) / (TAU * -Math.expm1(-2)), 1e-9));
});

t.test('a difficulty that is not a positive number counts nothing', async (t) => {
  const m = new WorkMeter(0);
  for (const bad of [0, -1, Number.NaN, Infinity, -Infinity]) m.credit(bad, 1_000);
  t.equal(m.hashrate(2_000), null);
  t.equal(m.shares, 0);
});

t.test('a time constant that is not a positive number is refused', async (t) => {
  for (const bad of [0, -5, Number.NaN, Infinity]) t.throws(() => new WorkMeter(0, bad), RangeError);
});

t.test('the meter holds a few numbers, not the shares', async (t) => {
  const m = new WorkMeter(0);
  mine(m, 1, 100, 0, 600_000);
  t.ok(Object.values(m).every((v) => typeof v === 'number'), 'every field is a number');
  t.ok(Object.keys(m).length <= 5);
});
