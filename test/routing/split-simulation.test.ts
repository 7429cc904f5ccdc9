import t from 'tap';
import { HASHES_PER_DIFF1 } from '../../src/chain/target.js';
import { sliceAt, sliceSchedule, type SliceSchedule } from '../../src/routing/slice-schedule.js';
import { planRoute, type PlanDevice, type PlanTarget } from '../../src/routing/split-planner.js';
import { WorkMeter } from '../../src/routing/work-meter.js';
import { mulberry32 } from '../helpers/prng.js';

/**
 * The three pure parts together, as the proxy will drive them, on a simulated clock: devices find shares as
 * Poisson processes (seeded), each share is credited to the device's work meter and to the target the device
 * is on at that instant (its whole target, or its slice schedule's); every rebalance the route is planned from
 * the meters. The achieved split of the work is then compared with the weights.
 *
 * Statistical bound: a target's share of the work is a sum of Poisson counts, so its relative standard
 * deviation is about 1/sqrt(shares on it). The runs below give every target at least 9,000 shares (sd <= 1.1%),
 * so the +-5% bound of issue 14 is more than 4 sd wide; the seeds are fixed, so the runs are the same each time.
 */

const TIMING = { rebalanceMs: 60_000, maxMovesPerRebalance: 4, slicePeriodMs: 600_000, minSliceMs: 10_000 };
const DIFFICULTY = 256;

interface SimDevice {
  id: string;
  /** True speed in shares of DIFFICULTY per second. */
  sharesPerSecond: number;
  sliceable: boolean;
  meter: WorkMeter;
  nextShareAt: number;
  current: string | null;
  sliced: boolean;
  schedule: SliceSchedule | null;
}

interface Run {
  work: Map<string, number>;
  movesPerPlan: number[];
  maxSliced: number;
}

/** Work per target found in [from, to). */
interface Window {
  from: number;
  to: number;
  work: Map<string, number>;
}

const workWindow = (from: number, to: number): Window => ({ from, to, work: new Map() });

/** `availableAt` says which targets are up at a plan (all of them by default); `windows` collect the work found in them. */
function simulate(targets: PlanTarget[], devices: SimDevice[], durationMs: number, rand: () => number, availableAt = (_name: string, _at: number) => true, windows: Window[] = []): Run {
  const work = new Map<string, number>(targets.map((x) => [x.name, 0]));
  const exp = (rate: number) => (-Math.log(1 - rand()) / rate) * 1000;
  for (const d of devices) d.nextShareAt = exp(d.sharesPerSecond);
  const movesPerPlan: number[] = [];
  let maxSliced = 0;
  for (let at = 0; at < durationMs; at += TIMING.rebalanceMs) {
    const input: PlanDevice[] = devices.map((d) => ({ id: d.id, hashrate: d.meter.hashrate(at), current: d.current, sliceable: d.sliceable, sliced: d.sliced }));
    const plan = planRoute(targets.map((x) => ({ ...x, available: availableAt(x.name, at) })), input, { maxMoves: TIMING.maxMovesPerRebalance });
    movesPerPlan.push(plan.moves);
    maxSliced = Math.max(maxSliced, plan.placements.filter((p) => p.kind === 'sliced').length);
    devices.forEach((d, i) => {
      const p = plan.placements[i]!;
      d.sliced = p.kind === 'sliced';
      d.schedule = p.kind === 'sliced' ? sliceSchedule(p.slices, d.id, TIMING) : null;
      if (p.kind === 'whole') d.current = p.target;
    });
    const end = at + TIMING.rebalanceMs;
    for (const d of devices) {
      for (; d.nextShareAt < end; d.nextShareAt += exp(d.sharesPerSecond)) {
        const on = d.schedule ? sliceAt(d.schedule, d.nextShareAt).target : d.current!;
        d.meter.credit(DIFFICULTY, d.nextShareAt);
        work.set(on, work.get(on)! + DIFFICULTY);
        for (const w of windows) if (d.nextShareAt >= w.from && d.nextShareAt < w.to) w.work.set(on, (w.work.get(on) ?? 0) + DIFFICULTY);
      }
      if (d.schedule) d.current = sliceAt(d.schedule, end).target;
    }
  }
  return { work, movesPerPlan, maxSliced };
}

function fleetDevice(id: string, sharesPerSecond: number, sliceable = true): SimDevice {
  return { id, sharesPerSecond, sliceable, meter: new WorkMeter(0), nextShareAt: 0, current: null, sliced: false, schedule: null };
}

const shareOf = (run: Run, name: string) => run.work.get(name)! / [...run.work.values()].reduce((s, w) => s + w, 0);

t.test('70/30 over 24 devices of speeds 1 to 10: the work lands within 5% of the weights', async (t) => {
  const rand = mulberry32(70_30);
  const devices = Array.from({ length: 24 }, (_, i) => fleetDevice(`rig${i}`, 0.1 + rand() * 0.9));
  const run = simulate([{ name: 'A', weight: 70, available: true }, { name: 'B', weight: 30, available: true }], devices, 2 * 3_600_000, rand);
  const a = shareOf(run, 'A');
  t.ok(Math.abs(a - 0.7) <= 0.05 * 0.7, `A: ${(a * 100).toFixed(2)}%`);
  t.ok(Math.abs(1 - a - 0.3) <= 0.05 * 0.3, `B: ${((1 - a) * 100).toFixed(2)}%`);
  t.ok(run.work.get('B')! / DIFFICULTY > 9_000, 'enough shares for the bound');
  t.ok(run.movesPerPlan.every((m) => m <= TIMING.maxMovesPerRebalance), `moves per plan: ${run.movesPerPlan.join(',')}`);
  t.ok(run.maxSliced <= 1);
  // The meters read the true speeds (a 300 s memory of a share every few seconds: within 25%).
  const d = devices[0]!;
  const measured = d.meter.hashrate(2 * 3_600_000)!;
  const truth = d.sharesPerSecond * DIFFICULTY * HASHES_PER_DIFF1;
  t.ok(Math.abs(measured - truth) <= 0.25 * truth, `meter ${measured} vs ${truth}`);
});

t.test('97/3 over one device: 3% of its work goes to the fee target, within 5% of 3%', async (t) => {
  const rand = mulberry32(97_3);
  const devices = [fleetDevice('big', 10)];
  const run = simulate([{ name: 'own', weight: 97, available: true }, { name: 'fee', weight: 3, available: true }], devices, 10 * 3_600_000, rand);
  const fee = shareOf(run, 'fee');
  t.ok(Math.abs(fee - 0.03) <= 0.05 * 0.03, `fee: ${(fee * 100).toFixed(3)}%`);
  t.ok(run.work.get('fee')! / DIFFICULTY > 9_000, 'enough shares for the bound');
  t.equal(run.maxSliced, 1);
  t.ok(run.movesPerPlan.every((m) => m === 0));
});

t.test('70/30 where half the fleet cannot be sliced: still within 5%', async (t) => {
  const rand = mulberry32(70_31);
  const devices = Array.from({ length: 24 }, (_, i) => fleetDevice(`rig${i}`, 0.1 + rand() * 0.9, i % 2 === 0));
  const run = simulate([{ name: 'A', weight: 70, available: true }, { name: 'B', weight: 30, available: true }], devices, 2 * 3_600_000, rand);
  const a = shareOf(run, 'A');
  t.ok(Math.abs(a - 0.7) <= 0.05 * 0.7, `A: ${(a * 100).toFixed(2)}%`);
});

t.test('50/30/20 with C down for 30 minutes: nothing goes to C meanwhile, the split returns at 4 moves a plan', async (t) => {
  const rand = mulberry32(50_30_20);
  const devices = Array.from({ length: 40 }, (_, i) => fleetDevice(`rig${i}`, 0.1 + rand() * 0.9));
  const targets = [{ name: 'A', weight: 50, available: true }, { name: 'B', weight: 30, available: true }, { name: 'C', weight: 20, available: true }];
  const downFrom = 3_600_000;
  const downTo = 5_400_000;
  const isUp = (name: string, at: number) => name !== 'C' || at < downFrom || at >= downTo;
  // While C is down, and from 20 minutes after its return (its devices come back at 4 moves a plan).
  const meanwhile = workWindow(downFrom, downTo);
  const after = workWindow(downTo + 20 * 60_000, 4 * 3_600_000);
  const run = simulate(targets, devices, 4 * 3_600_000, rand, isUp, [meanwhile, after]);
  t.equal(meanwhile.work.get('C') ?? 0, 0, 'no share on C while it is down');
  const aWhile = meanwhile.work.get('A')! / (meanwhile.work.get('A')! + meanwhile.work.get('B')!);
  t.ok(Math.abs(aWhile - 50 / 80) <= 0.05 * (50 / 80), `A while C is down: ${(aWhile * 100).toFixed(2)}% (50/80 = 62.5%)`);
  const total = [...after.work.values()].reduce((x, y) => x + y, 0);
  for (const [name, w] of [['A', 0.5], ['B', 0.3], ['C', 0.2]] as const) {
    const got = (after.work.get(name) ?? 0) / total;
    t.ok(Math.abs(got - w) <= 0.05 * w, `${name} after the return: ${(got * 100).toFixed(2)}%`);
  }
  t.ok(run.movesPerPlan.every((m) => m <= TIMING.maxMovesPerRebalance));
});
