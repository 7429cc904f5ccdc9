import t, { type Test } from 'tap';
import { medianHashrate, mostUnderweight, planRoute, placesOn, type Placement, type PlanDevice, type PlanTarget, type RoutePlan } from '../../src/routing/split-planner.js';
import { mulberry32 } from '../helpers/prng.js';

/**
 * The split planner: worked examples worked out by hand in the comments (70/30 over devices of mixed speed,
 * 97/3 over one device, a target going down, a device leaving, the move budget, unmeasured devices, devices
 * that cannot be sliced), then properties over hundreds of random routes from a seeded PRNG.
 */

const target = (name: string, weight: number, available = true): PlanTarget => ({ name, weight, available });
const device = (id: string, hashrate: number | null, current: string | null = null, sliceable = true, sliced = false): PlanDevice => ({ id, hashrate, current, sliceable, sliced });
const UNLIMITED = { maxMoves: Infinity };

/** The plan as { id: placement } for readable assertions. */
const byId = (devices: readonly PlanDevice[], plan: RoutePlan) => Object.fromEntries(devices.map((d, i) => [d.id, plan.placements[i]!]));
const loads = (plan: RoutePlan) => Object.fromEntries(plan.expected.map((e) => [e.target, e.hashrate]));
const whole = (name: string): Placement => ({ kind: 'whole', target: name });

/** The devices as the proxy would report them after applying `plan`: on their whole target, or on `pick` of their slices. */
function applied(devices: readonly PlanDevice[], plan: RoutePlan, pick: (slices: number) => number = () => 0): PlanDevice[] {
  return devices.map((d, i) => {
    const p = plan.placements[i]!;
    return p.kind === 'whole' ? { ...d, current: p.target, sliced: false } : { ...d, current: p.slices[pick(p.slices.length)]!.target, sliced: true };
  });
}

function approx(t: Test, actual: Record<string, number>, expected: Record<string, number>, tolerance: number, what: string): void {
  for (const k of Object.keys(expected)) t.ok(Math.abs((actual[k] ?? 0) - expected[k]!) <= tolerance, `${what}: ${k} ${actual[k]} vs ${expected[k]}`);
}

t.test('70/30 over fresh devices of mixed speed: laid on a line in id order, the device on the cut sliced', async (t) => {
  // Total 200: A gets 140, B 60. Line: d1 50 | d2 10 | d3 30 | d4 20 (110 so far) | d5 40: 30 to A, 10 to B | d6 50 to B.
  const devices = [device('d1', 50), device('d2', 10), device('d3', 30), device('d4', 20), device('d5', 40), device('d6', 50)];
  const plan = planRoute([target('A', 70), target('B', 30)], devices, UNLIMITED);
  t.same(byId(devices, plan), {
    d1: whole('A'),
    d2: whole('A'),
    d3: whole('A'),
    d4: whole('A'),
    d5: { kind: 'sliced', slices: [{ target: 'A', fraction: 0.75 }, { target: 'B', fraction: 0.25 }] },
    d6: whole('B'),
  });
  t.same(loads(plan), { A: 140, B: 60 });
  t.equal(plan.total, 200);
  t.equal(plan.moves, 0, 'placing new devices is no move');
});

t.test('70/30 over devices that cannot be sliced: whole, the largest first into the most room left', async (t) => {
  // Rooms A 140, B 60. d1 50 -> A (90 left), d6 50 -> A (40), d5 40 -> B (20; A 40 is not more than B 60),
  // d3 30 -> A (10), d4 20 -> B (0), d2 10 -> A (0): exact here by luck of the sizes.
  const devices = [50, 10, 30, 20, 40, 50].map((h, i) => device(`d${i + 1}`, h, null, false));
  const plan = planRoute([target('A', 70), target('B', 30)], devices, UNLIMITED);
  t.same(byId(devices, plan), { d1: whole('A'), d2: whole('A'), d3: whole('A'), d4: whole('B'), d5: whole('B'), d6: whole('A') });
  t.same(loads(plan), { A: 140, B: 60 });
});

t.test('97/3 over a single device: one sliced device, 0.97 / 0.03, wherever it mines now', async (t) => {
  const targets = [target('own', 97), target('fee', 3)];
  for (const current of [null, 'own', 'fee', 'gone']) {
    const plan = planRoute(targets, [device('rig', 1e12, current)], UNLIMITED);
    t.equal(plan.placements.length, 1);
    const p = plan.placements[0]!;
    t.equal(p.kind, 'sliced', `current ${current}`);
    if (p.kind !== 'sliced') continue;
    t.same(p.slices.map((s) => s.target), ['own', 'fee']);
    t.ok(Math.abs(p.slices[0]!.fraction - 0.97) < 1e-12 && Math.abs(p.slices[1]!.fraction - 0.03) < 1e-12, JSON.stringify(p.slices));
    t.equal(p.slices[0]!.fraction + p.slices[1]!.fraction, 1);
    t.equal(plan.moves, 0, 'a device on the cut is sliced, not moved');
    approx(t, loads(plan), { own: 0.97e12, fee: 0.03e12 }, 1, 'expected');
  }
});

t.test('97/3 over a single device that cannot be sliced: whole to the larger side', async (t) => {
  const targets = [target('own', 97), target('fee', 3)];
  for (const current of [null, 'own', 'fee']) {
    const plan = planRoute(targets, [device('rig', 100, current, false)], UNLIMITED);
    t.same(plan.placements, [whole('own')], `current ${current}`);
    t.equal(plan.moves, current === 'fee' ? 1 : 0);
  }
  // With no move allowed it stays where it is; 40/60 sends it to the 60 side when one move is allowed.
  t.same(planRoute(targets, [device('rig', 100, 'fee', false)], { maxMoves: 0 }).placements, [whole('fee')]);
  t.same(planRoute([target('A', 40), target('B', 60)], [device('rig', 100, 'A', false)], { maxMoves: 1 }).placements, [whole('B')]);
  t.same(planRoute([target('A', 60), target('B', 40)], [device('rig', 100, 'A', false)], { maxMoves: 1 }).placements, [whole('A')]);
});

t.test('a slice under minFraction is dropped: the device goes whole to the rest', async (t) => {
  const targets = [target('own', 1e7), target('fee', 1)];
  t.same(planRoute(targets, [device('rig', 100)], UNLIMITED).placements, [whole('own')], 'a 1e-7 slice is under the default 1e-6');
  const kept = planRoute(targets, [device('rig', 100)], { maxMoves: Infinity, minFraction: 0 }).placements[0]!;
  t.equal(kept.kind, 'sliced');
  if (kept.kind === 'sliced') t.ok(Math.abs(kept.slices[1]!.fraction - 1 / (1e7 + 1)) < 1e-15);
});

t.test('a target going unavailable: it gets nothing, the others share its weight, their devices stay', async (t) => {
  const targets = [target('A', 50), target('B', 30), target('C', 20)];
  const fleet = Array.from({ length: 10 }, (_, i) => device(`r${i}`, 10));
  const before = planRoute(targets, fleet, UNLIMITED);
  t.same(loads(before), { A: 50, B: 30, C: 20 });
  const now = applied(fleet, before);
  const down = [target('A', 50), target('B', 30), target('C', 20, false)];
  const plan = planRoute(down, now, UNLIMITED);
  t.ok(plan.placements.every((p) => !placesOn(p, 'C')), 'nothing on C');
  // 50/30 renormalized: A 62.5, B 37.5 of 100.
  approx(t, loads(plan), { A: 62.5, B: 37.5, C: 0 }, 1e-9, 'renormalized');
  now.forEach((d, i) => {
    if (d.current !== 'C') t.ok(placesOn(plan.placements[i]!, d.current!), `${d.id} stays on ${d.current}`);
  });
  t.equal(plan.moves, 0, "leaving a target that is down is no move (they could not stay)");
  // It comes back: the plan returns to 50/30/20.
  const back = planRoute(targets, applied(now, plan), UNLIMITED);
  approx(t, loads(back), { A: 50, B: 30, C: 20 }, 1e-9, 'back');
});

t.test('every target unavailable: no placement, nothing expected (the proxy falls back)', async (t) => {
  const plan = planRoute([target('A', 1, false), target('B', 2, false)], [device('a', 5, 'A'), device('b', null)], UNLIMITED);
  t.same(plan.placements, []);
  t.same(plan.expected, [{ target: 'A', hashrate: 0 }, { target: 'B', hashrate: 0 }]);
  t.equal(plan.total, 5 + 5);
  t.equal(plan.moves, 0);
  t.same(planRoute([], [device('a', 5)], UNLIMITED).placements, []);
});

t.test('a device leaving moves no whole device and changes at most the devices on the cuts', async (t) => {
  const rand = mulberry32(14);
  const targets = [target('A', 70), target('B', 30)];
  const fleet = Array.from({ length: 24 }, (_, i) => device(`rig${String(i).padStart(2, '0')}`, 50 + Math.floor(rand() * 150)));
  let now = applied(fleet, planRoute(targets, fleet, UNLIMITED));
  for (let k = 0; k < now.length; k += 5) {
    const left = now.filter((_, i) => i !== k);
    const plan = planRoute(targets, left, UNLIMITED);
    t.equal(plan.moves, 0, `rig ${k} leaves: no move`);
    const prior = planRoute(targets, now, UNLIMITED);
    const was = byId(now, prior);
    const changed = left.filter((d, i) => JSON.stringify(plan.placements[i]) !== JSON.stringify(was[d.id]));
    t.ok(changed.length <= 2, `rig ${k} leaves: ${changed.length} placements change (${changed.map((d) => d.id).join(' ')})`);
    approx(t, loads(plan), { A: 0.7 * plan.total, B: 0.3 * plan.total }, 1e-9 * plan.total, 'still 70/30');
    now = applied(now, prior);
  }
});

t.test('measurement noise smaller than a device moves no whole device, plan after plan', async (t) => {
  // Each target's whole devices overflow it by at most the noise; the first that breaks is cut (sliced), and
  // every later one still fits as long as that device is larger than the overflow (100 H/s and more against
  // a noise of 1% of 3,000 H/s at most).
  const rand = mulberry32(1407);
  const targets = [target('A', 50), target('B', 30), target('C', 20)];
  const speeds = Array.from({ length: 24 }, () => 100 + rand() * 150);
  let now = speeds.map((h, i) => device(`m${i}`, h));
  let moves = 0;
  let slicedAtOnce = 0;
  for (let round = 0; round < 50; round++) {
    now = now.map((d, i) => ({ ...d, hashrate: speeds[i]! * (1 + (rand() - 0.5) * 0.02) }));
    const plan = planRoute(targets, now, { maxMoves: 4 });
    moves += plan.moves;
    slicedAtOnce = Math.max(slicedAtOnce, plan.placements.filter((p) => p.kind === 'sliced').length);
    approx(t, loads(plan), { A: 0.5 * plan.total, B: 0.3 * plan.total, C: 0.2 * plan.total }, 1e-9 * plan.total, `round ${round}`);
    now = applied(now, plan, () => round % 2);
  }
  t.equal(moves, 0);
  t.ok(slicedAtOnce <= 2);
});

t.test('at most maxMoves devices move per plan, the largest first; repeated plans converge', async (t) => {
  const targets = [target('A', 50), target('B', 50)];
  let fleet = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((h) => device(`d${String(h).padStart(2, '0')}`, h, 'A'));
  // Total 55, A keeps d01..d09 in id order only while they fit 27.5: d01..d06 (21), d07 cut (6.5 on A), the rest
  // must move: d10, d09 (the largest two) with two moves allowed, d08 waits.
  const plan = planRoute(targets, fleet, { maxMoves: 2 });
  t.equal(plan.moves, 2);
  const got = byId(fleet, plan);
  t.same(got.d10, whole('B'));
  t.same(got.d09, whole('B'));
  t.same(got.d08, whole('A'));
  t.equal(got.d07!.kind, 'sliced');
  approx(t, loads(plan), { A: 21 + 6.5 + 8, B: 19 + 0.5 }, 1e-9, 'after one plan');
  let plans = 1;
  let last = plan;
  while (Math.abs(loads(last).A! - 27.5) > 1e-9 && plans < 10) {
    fleet = applied(fleet, last);
    last = planRoute(targets, fleet, { maxMoves: 2 });
    t.ok(last.moves <= 2);
    plans++;
  }
  t.equal(plans, 2, 'one more plan finishes the split');
});

t.test('devices not measured yet count as the median of the measured ones, or 1 when none is', async (t) => {
  const targets = [target('A', 1), target('B', 1)];
  const plan = planRoute(targets, [device('a', 10), device('b', 20), device('c', 30), device('d', null), device('e', Number.NaN), device('f', -4)], UNLIMITED);
  t.equal(plan.total, 10 + 20 + 30 + 3 * 20);
  t.equal(planRoute(targets, [device('a', 10), device('b', 30), device('c', null)], UNLIMITED).total, 60, 'an even count: the mean of the middle two');
  const none = planRoute(targets, [device('a', null), device('b', null), device('c', null), device('d', null)], UNLIMITED);
  t.equal(none.total, 4);
  t.same(loads(none), { A: 2, B: 2 });
});

t.test('median hashrate: of the measured devices (finite, non-negative), 1 when none is', async (t) => {
  t.equal(medianHashrate([{ hashrate: 5 }, { hashrate: null }, { hashrate: 1 }, { hashrate: 3 }]), 3);
  t.equal(medianHashrate([{ hashrate: 4 }, { hashrate: 2 }]), 3);
  t.equal(medianHashrate([{ hashrate: null }]), 1);
  t.equal(medianHashrate([{ hashrate: Number.NaN }, { hashrate: -4 }, { hashrate: 7 }]), 7);
});

t.test('devices of no hashrate are placed too; a route with no hashrate at all places every device', async (t) => {
  const targets = [target('A', 1), target('B', 1)];
  const plan = planRoute(targets, [device('a', 0), device('b', 0, 'B'), device('c', 10), device('d', 0, 'gone')], UNLIMITED);
  t.equal(plan.placements.length, 4);
  t.same(plan.placements[1], whole('B'), 'a device of no hashrate fits where it is');
  t.equal(plan.placements[0]!.kind, 'whole', 'nothing to slice');
  t.equal(plan.placements[3]!.kind, 'whole');
  t.same(plan.placements[2], { kind: 'sliced', slices: [{ target: 'A', fraction: 0.5 }, { target: 'B', fraction: 0.5 }] }, 'the only hashrate is split');
  t.same(loads(plan), { A: 5, B: 5 });
  const zero = planRoute(targets, [device('a', 0), device('b', 0)], UNLIMITED);
  t.equal(zero.placements.length, 2);
  t.equal(zero.total, 0);
});

t.test('bad weights make a target unavailable; duplicate names count once', async (t) => {
  const plan = planRoute([target('A', 0), target('B', Number.NaN), target('C', -1), target('D', 2), target('D', 5)], [device('a', 1), device('b', 2)], UNLIMITED);
  t.ok(plan.placements.every((p) => p.kind === 'whole' && p.target === 'D'));
});

t.test('the same input in any order gives the same plan', async (t) => {
  const rand = mulberry32(7);
  const targets = [target('A', 5), target('B', 3), target('C', 2)];
  const names = ['A', 'B', 'C', null];
  const fleet = Array.from({ length: 40 }, (_, i) => device(`x${i}`, rand() < 0.1 ? null : 1 + rand() * 100, names[Math.floor(rand() * 4)]!, rand() < 0.8));
  const one = byId(fleet, planRoute(targets, fleet, { maxMoves: 3 }));
  const shuffled = [...fleet].sort(() => rand() - 0.5);
  t.same(byId(shuffled, planRoute(targets, shuffled, { maxMoves: 3 })), one);
  t.same(byId(fleet, planRoute(targets, fleet, { maxMoves: 3 })), one);
});

t.test('mostUnderweight: the target furthest under its weight for a new device', async (t) => {
  const targets = [target('A', 70), target('B', 30)];
  t.equal(mostUnderweight(targets, new Map([['A', 70], ['B', 20]]), 10), 'B');
  t.equal(mostUnderweight(targets, new Map([['A', 50], ['B', 30]]), 10), 'A');
  t.equal(mostUnderweight(targets, new Map(), 0), 'A', 'a tie goes to the first');
  t.equal(mostUnderweight([target('A', 70, false), target('B', 30)], new Map([['B', 100]])), 'B');
  t.equal(mostUnderweight([target('A', 70, false)], new Map()), null);
});

// ---------------------------------------------------------------------------------------------------------
// Properties over random routes.

interface Case {
  targets: PlanTarget[];
  devices: PlanDevice[];
  maxMoves: number;
}

function randomCase(rand: () => number, opts: { sliceable?: boolean; unlimited?: boolean } = {}): Case {
  const n = 1 + Math.floor(rand() * 5);
  const targets = Array.from({ length: n }, (_, i) => target(`t${i}`, 1 + Math.floor(rand() * 100), rand() < 0.85));
  const names = [...targets.map((x) => x.name), null, 'elsewhere'];
  const count = Math.floor(rand() * 60);
  const devices = Array.from({ length: count }, (_, i) => {
    // Speeds over three orders of magnitude, some unmeasured.
    const h = rand() < 0.1 ? null : Math.exp(rand() * 7) * 1e9;
    return device(`dev${i}`, h, names[Math.floor(rand() * names.length)]!, opts.sliceable ?? rand() < 0.8, rand() < 0.1);
  });
  const maxMoves = opts.unlimited ? Infinity : Math.floor(rand() * 6);
  return { targets, devices, maxMoves };
}

function checkPlan(t: Test, c: Case, plan: RoutePlan, label: string): boolean {
  const available = new Set(c.targets.filter((x) => x.available).map((x) => x.name));
  const problems: string[] = [];
  if (available.size === 0) {
    if (plan.placements.length !== 0) problems.push('placements on a route with no target');
  } else if (plan.placements.length !== c.devices.length) problems.push('one placement per device');
  let sliced = 0;
  let moves = 0;
  plan.placements.forEach((p, i) => {
    const d = c.devices[i]!;
    const names = p.kind === 'whole' ? [p.target] : p.slices.map((s) => s.target);
    if (!names.every((x) => available.has(x))) problems.push(`${d.id} on an unavailable target`);
    if (p.kind === 'sliced') {
      sliced++;
      if (!d.sliceable) problems.push(`${d.id} sliced but not sliceable`);
      if (p.slices.length < 2 || new Set(names).size !== names.length) problems.push(`${d.id} slices`);
      if (!p.slices.every((s) => s.fraction > 0 && s.fraction < 1)) problems.push(`${d.id} fraction out of (0,1)`);
      if (Math.abs(p.slices.reduce((s, x) => s + x.fraction, 0) - 1) > 1e-12) problems.push(`${d.id} fractions do not sum to 1`);
    }
    if (d.current !== null && available.has(d.current) && !d.sliced && !placesOn(p, d.current)) moves++;
  });
  if (available.size > 0 && sliced > available.size - 1) problems.push(`${sliced} sliced devices for ${available.size} targets`);
  if (moves !== plan.moves) problems.push(`moves counted ${plan.moves}, recounted ${moves}`);
  if (moves > c.maxMoves) problems.push(`${moves} moves > ${c.maxMoves}`);
  const sum = plan.expected.reduce((s, e) => s + e.hashrate, 0);
  if (available.size > 0 && Math.abs(sum - plan.total) > 1e-9 * plan.total) problems.push(`expected sums to ${sum}, total ${plan.total}`);
  for (const e of plan.expected) if (!available.has(e.target) && e.hashrate !== 0) problems.push(`${e.target} unavailable but expects ${e.hashrate}`);
  if (problems.length > 0) t.fail(`${label}: ${problems.join('; ')}`);
  return problems.length === 0;
}

/** The expected split equals the weights (renormalized over the available targets) within `tolerance` x total. */
function exact(c: Case, plan: RoutePlan, tolerance: number): boolean {
  const weights = c.targets.filter((x) => x.available).reduce((s, x) => s + x.weight, 0);
  return c.targets.every((x, i) => Math.abs(plan.expected[i]!.hashrate - (x.available ? (x.weight / weights) * plan.total : 0)) <= tolerance * plan.total);
}

t.test('properties: valid placements, moves within the budget, at most targets-1 sliced devices', async (t) => {
  const rand = mulberry32(1401);
  let ok = 0;
  for (let k = 0; k < 500; k++) {
    const c = randomCase(rand);
    if (checkPlan(t, c, planRoute(c.targets, c.devices, { maxMoves: c.maxMoves }), `case ${k}`)) ok++;
  }
  t.equal(ok, 500);
});

t.test('properties: every device sliceable and moves unlimited -> each target gets exactly its weight', async (t) => {
  const rand = mulberry32(1402);
  let ok = 0;
  for (let k = 0; k < 500; k++) {
    const c = randomCase(rand, { sliceable: true, unlimited: true });
    const plan = planRoute(c.targets, c.devices, { maxMoves: c.maxMoves });
    if (checkPlan(t, c, plan, `case ${k}`) && (c.devices.length === 0 || exact(c, plan, 1e-6))) ok++;
    else t.fail(`case ${k}: ${JSON.stringify(plan.expected)} of ${plan.total}`);
  }
  t.equal(ok, 500);
});

t.test('properties: every device sliceable and new -> exact whatever the move budget', async (t) => {
  const rand = mulberry32(1403);
  for (let k = 0; k < 300; k++) {
    const c = randomCase(rand, { sliceable: true });
    c.devices = c.devices.map((d) => ({ ...d, current: null, sliced: false }));
    const plan = planRoute(c.targets, c.devices, { maxMoves: 0 });
    if (!(checkPlan(t, { ...c, maxMoves: 0 }, plan, `case ${k}`) && (c.devices.length === 0 || exact(c, plan, 1e-6)))) t.fail(`case ${k}`);
  }
  t.pass('300 routes');
});

t.test('properties: re-planning an applied plan moves no device and keeps the split', async (t) => {
  const rand = mulberry32(1404);
  for (let k = 0; k < 300; k++) {
    const c = randomCase(rand, { sliceable: true, unlimited: true });
    const first = planRoute(c.targets, c.devices, UNLIMITED);
    if (first.placements.length === 0) continue;
    const now = applied(c.devices, first, (n) => Math.floor(rand() * n));
    const again = planRoute(c.targets, now, UNLIMITED);
    checkPlan(t, { ...c, devices: now }, again, `case ${k}`);
    if (again.moves !== 0) t.fail(`case ${k}: ${again.moves} moves`);
    if (!exact(c, again, 1e-6)) t.fail(`case ${k}: split lost`);
    now.forEach((d, i) => {
      if (!d.sliced && !placesOn(again.placements[i]!, d.current!)) t.fail(`case ${k}: ${d.id} left ${d.current}`);
    });
  }
  t.pass('300 routes');
});

t.test('properties: with a move budget, repeated plans converge to the weights', async (t) => {
  const rand = mulberry32(1405);
  for (let k = 0; k < 200; k++) {
    const c = randomCase(rand, { sliceable: true });
    c.maxMoves = 1 + Math.floor(rand() * 4);
    let now = c.devices;
    let plan = planRoute(c.targets, now, c);
    let rounds = 1;
    const bound = Math.ceil(c.devices.length / c.maxMoves) + 1;
    while (plan.placements.length > 0 && !exact(c, plan, 1e-6) && rounds <= bound) {
      checkPlan(t, { ...c, devices: now }, plan, `case ${k} round ${rounds}`);
      now = applied(now, plan, (n) => Math.floor(rand() * n));
      plan = planRoute(c.targets, now, c);
      rounds++;
    }
    if (plan.placements.length > 0 && !exact(c, plan, 1e-6)) t.fail(`case ${k}: not exact after ${rounds} rounds (${c.devices.length} devices, ${c.maxMoves} moves a round)`);
  }
  t.pass('200 routes');
});

t.test('100,000 devices: one plan, every property', async (t) => {
  const rand = mulberry32(100_000);
  const targets = [target('A', 60), target('B', 25), target('C', 10), target('D', 5)];
  const names = ['A', 'B', 'C', 'D', null];
  const devices = Array.from({ length: 100_000 }, (_, i) => device(`w${i}`, rand() < 0.02 ? null : 1e12 * (1 + rand() * 9), names[Math.floor(rand() * 5)]!, rand() < 0.9));
  const c = { targets, devices, maxMoves: 50 };
  const plan = planRoute(targets, devices, c);
  t.ok(checkPlan(t, c, plan, '100k'));
});
