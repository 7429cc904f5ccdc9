import t from 'tap';
import { DEFAULT_VARDIFF, clamp, vardiffStart, vardiffUpdate, type VardiffOptions } from '../../src/proxy/vardiff.js';

const opts: VardiffOptions = { ...DEFAULT_VARDIFF, minDifficulty: 0.001, maxDifficulty: 1e6 };

/** Feed shares at a fixed interval for `seconds`; returns the difficulties it moved through. */
function run(rateForDifficulty: (d: number) => number, start: number, pool: number, seconds: number): number[] {
  const s = vardiffStart(start, pool, opts, 0);
  const seen = [s.difficulty];
  // Expected shares accumulate at the rate for the current difficulty (memoryless, deterministic);
  // several shares in one 100 ms step are delivered one call each.
  let owed = 0;
  for (let ms = 0; ms <= seconds * 1000; ms += 100) {
    owed += rateForDifficulty(s.difficulty) * 0.1;
    let d: number | null = null;
    if (owed < 1) d = vardiffUpdate(s, false, pool, opts, ms);
    for (; owed >= 1 && d === null; owed--) d = vardiffUpdate(s, true, pool, opts, ms);
    if (d !== null) {
      seen.push(d);
      owed = 0;
    }
  }
  return seen;
}

// A device of hashrate H finds shares at H / (d * 2^32) per second.
const device = (hashrate: number) => (d: number) => hashrate / (d * 2 ** 32);

t.test('converges to about 12 shares a minute from far too easy and far too hard', async (t) => {
  const hashrate = 1e12; // 1 TH/s: 12/min at d = H / (0.2 * 2^32) ≈ 1164
  const ideal = hashrate / (0.2 * 2 ** 32);
  for (const start of [0.01, 1e5]) {
    const seen = run(device(hashrate), start, 1e9, 1800);
    const last = seen.at(-1)!;
    t.ok(last > ideal * 0.6 && last < ideal * 1.6, `from ${start}: ended at ${last}, ideal ${ideal.toFixed(0)} (path ${seen.join(' > ')})`);
  }
});

t.test('each step is bounded by maxStep', async (t) => {
  const seen = run(device(1e12), 0.01, 1e9, 600);
  for (let i = 1; i < seen.length; i++) {
    const f = seen[i]! / seen[i - 1]!;
    t.ok(f <= opts.maxStep * 1.01 && f >= 1 / opts.maxStep / 1.01, `step ${seen[i - 1]} -> ${seen[i]}`);
  }
});

t.test('retargets no more often than retargetSeconds unless shares flood in', async (t) => {
  const s = vardiffStart(100, 1e9, opts, 0);
  // On target (one share per 5 s) for 29 s: no retarget.
  for (let ms = 0; ms < 29_000; ms += 5000) t.equal(vardiffUpdate(s, true, 1e9, opts, ms), null);
  // A flood: 50 shares in one second triggers an early retarget upwards.
  const s2 = vardiffStart(1, 1e9, opts, 0);
  let moved: number | null = null;
  for (let i = 0; i < 50 && moved === null; i++) moved = vardiffUpdate(s2, true, 1e9, opts, i * 20);
  t.ok(moved !== null && moved > 1, `flood retargeted to ${moved}`);
});

t.test('a device that goes quiet is lowered', async (t) => {
  const s = vardiffStart(100, 1e9, opts, 0);
  let d: number | null = null;
  for (let ms = 0; ms <= 40_000 && d === null; ms += 1000) d = vardiffUpdate(s, false, 1e9, opts, ms);
  t.ok(d !== null && d < 100 && d >= 100 / opts.maxStep, `quiet device lowered to ${d}`);
});

t.test('never above the pool difficulty, and follows the pool down at once', async (t) => {
  t.equal(vardiffStart(50, 8, opts, 0).difficulty, 8, 'start is clamped to the pool');
  const seen = run(device(1e13), 1, 16, 600);
  t.ok(seen.every((d) => d <= 16), `never above 16: ${seen.join(',')}`);
  const s = vardiffStart(10, 100, opts, 0);
  t.equal(vardiffUpdate(s, false, 4, opts, 1), 4, 'pool dropped to 4: device follows immediately');
  t.equal(clamp(1e-9, 100, opts), opts.minDifficulty, 'never below the minimum');
  t.equal(clamp(5, 0.0001, opts), 0.0001, 'a pool below our minimum wins: a device is never above the pool');
});
