import t from 'tap';
import { sliceAt, sliceSchedule, type SliceSchedule } from '../../src/routing/slice-schedule.js';
import type { Slice } from '../../src/routing/split-planner.js';
import { mulberry32 } from '../helpers/prng.js';

/**
 * The slice schedule: the period rule, the time each target gets over a period (walked switch by switch with
 * sliceAt, as the proxy would), the phase that spreads a fleet's switches, and properties over random slices.
 */

const TIMING = { slicePeriodMs: 600_000, minSliceMs: 10_000 };

/** Walks one period from `from`, switch by switch: the time spent on each target and the number of switches. */
function walk(schedule: SliceSchedule, from: number): { time: Map<string, number>; switches: number } {
  const time = new Map<string, number>();
  let at = from;
  let switches = 0;
  const end = from + schedule.periodMs;
  while (at < end) {
    const now = sliceAt(schedule, at);
    if (!(now.until > at)) throw new Error(`no progress at ${at}`);
    const next = Math.min(now.until, end);
    time.set(now.target, (time.get(now.target) ?? 0) + (next - at));
    if (next < end) {
      const after = sliceAt(schedule, next);
      if (after.target === now.target) throw new Error(`a switch at ${next} to the same target ${now.target}`);
      switches++;
    }
    at = next;
  }
  return { time, switches };
}

t.test('97/3: a 600 s period, 582 s on one target and 18 s on the other', async (t) => {
  const s = sliceSchedule([{ target: 'own', fraction: 0.97 }, { target: 'fee', fraction: 0.03 }], 'rig1', TIMING);
  t.equal(s.periodMs, 600_000, '10 s / 0.03 = 333 s is less than the period');
  t.same(s.slices, [
    { target: 'own', startMs: 0, endMs: 582_000 },
    { target: 'fee', startMs: 582_000, endMs: 600_000 },
  ]);
  for (const from of [0, 1_234_567, 1_765_000_000_000]) {
    const { time, switches } = walk(s, from);
    t.same(Object.fromEntries(time), { own: 582_000, fee: 18_000 }, `from ${from}`);
    t.ok(switches >= 1 && switches <= 2, 'one or two switches within a period window');
  }
});

t.test('a small fraction stretches the period so no slice is shorter than minSliceMs', async (t) => {
  const s = sliceSchedule([{ target: 'own', fraction: 0.995 }, { target: 'fee', fraction: 0.005 }], 'rig1', TIMING);
  t.equal(s.periodMs, 2_000_000, '10 s / 0.005');
  t.equal(s.slices[1]!.endMs - s.slices[1]!.startMs, 10_000);
  const wide = sliceSchedule([{ target: 'a', fraction: 0.5 }, { target: 'b', fraction: 0.5 }], 'x', { slicePeriodMs: 1_000, minSliceMs: 2_000 });
  t.equal(wide.periodMs, 4_000, 'minSliceMs / 0.5 beats a short period');
});

t.test('the switch time is exact: the target changes at `until`, not a millisecond before', async (t) => {
  const s = sliceSchedule([{ target: 'a', fraction: 0.25 }, { target: 'b', fraction: 0.75 }], 'dev', TIMING);
  const now = sliceAt(s, 5_000_000);
  t.equal(sliceAt(s, now.until - 1).target, now.target);
  t.not(sliceAt(s, now.until).target, now.target);
  t.ok(now.until - 5_000_000 <= s.periodMs);
});

t.test('one slice never switches; slices without a positive fraction are left out', async (t) => {
  const one = sliceSchedule([{ target: 'only', fraction: 1 }], 'k', TIMING);
  t.same(sliceAt(one, 123), { target: 'only', until: Infinity });
  const odd = sliceSchedule([{ target: 'a', fraction: 2 }, { target: 'z', fraction: 0 }, { target: 'b', fraction: 2 }, { target: 'n', fraction: Number.NaN }], 'k', TIMING);
  t.same(odd.slices.map((x) => x.target), ['a', 'b']);
  t.equal(odd.slices[0]!.endMs, 300_000, 'renormalized to 1/2 each');
  t.throws(() => sliceSchedule([], 'k', TIMING), RangeError);
  t.throws(() => sliceSchedule([{ target: 'a', fraction: 0 }], 'k', TIMING), RangeError);
});

t.test('a time before the epoch works as any other', async (t) => {
  const s = sliceSchedule([{ target: 'a', fraction: 0.5 }, { target: 'b', fraction: 0.5 }], 7, TIMING);
  const { time } = walk(s, -12_345_678);
  t.same(Object.fromEntries(time), { a: 300_000, b: 300_000 });
});

t.test("the phase is the device's own: the same key, the same phase; a fleet's switches spread over the period", async (t) => {
  const slices: Slice[] = [{ target: 'own', fraction: 0.98 }, { target: 'fee', fraction: 0.02 }];
  t.equal(sliceSchedule(slices, 'rack3.s19-07', TIMING).phaseMs, sliceSchedule(slices, 'rack3.s19-07', TIMING).phaseMs);
  const tenths = new Array<number>(10).fill(0);
  for (let i = 0; i < 2_000; i++) {
    const s = sliceSchedule(slices, `rack${i % 20}.rig${i}`, TIMING);
    const firstSwitch = sliceAt(s, 0).until;
    tenths[Math.floor((firstSwitch / s.periodMs) * 10) % 10]!++;
  }
  // 200 expected per tenth; binomial sd ~13: 140..260 is more than 4 sd either side.
  t.ok(tenths.every((n) => n >= 140 && n <= 260), `first switches per tenth of the period: ${tenths.join(' ')}`);
  // Session ids as keys spread as well.
  const byId = new Array<number>(10).fill(0);
  for (let id = 1; id <= 2_000; id++) byId[Math.floor((sliceSchedule(slices, id, TIMING).phaseMs / 600_000) * 10)]!++;
  t.ok(byId.every((n) => n >= 140 && n <= 260), `phases per tenth: ${byId.join(' ')}`);
});

t.test('properties: over one period each target gets its fraction of the time within a rounding step', async (t) => {
  const rand = mulberry32(1406);
  let ok = 0;
  for (let k = 0; k < 400; k++) {
    const n = 2 + Math.floor(rand() * 4);
    const raw = Array.from({ length: n }, () => 0.001 + rand());
    const sum = raw.reduce((s, x) => s + x, 0);
    const slices = raw.map((x, i) => ({ target: `t${i}`, fraction: x / sum }));
    const timing = { slicePeriodMs: 1_000 + Math.floor(rand() * 1_000_000), minSliceMs: Math.floor(rand() * 30_000) };
    const s = sliceSchedule(slices, `dev${k}`, timing);
    const smallest = Math.min(...slices.map((x) => x.fraction));
    const problems: string[] = [];
    if (s.periodMs < timing.slicePeriodMs || s.periodMs < timing.minSliceMs / smallest - 1e-6 || s.periodMs > Math.max(timing.slicePeriodMs, timing.minSliceMs / smallest) + 1) problems.push(`period ${s.periodMs}`);
    if (s.phaseMs < 0 || s.phaseMs >= s.periodMs || !Number.isInteger(s.phaseMs)) problems.push(`phase ${s.phaseMs}`);
    const { time, switches } = walk(s, Math.floor(rand() * 1e12));
    for (const x of slices) {
      const got = time.get(x.target) ?? 0;
      if (Math.abs(got - x.fraction * s.periodMs) > 1) problems.push(`${x.target}: ${got} ms for ${x.fraction} of ${s.periodMs}`);
      if (got < timing.minSliceMs - 1) problems.push(`${x.target}: ${got} ms is shorter than ${timing.minSliceMs}`);
    }
    if (switches > n) problems.push(`${switches} switches in a period`);
    if (problems.length === 0) ok++;
    else t.fail(`case ${k}: ${problems.join('; ')}`);
  }
  t.equal(ok, 400);
});
