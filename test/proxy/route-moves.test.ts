import t from 'tap';
import { routeDecisions, type RoutedDevice } from '../../src/proxy/route-moves.js';
import type { RoutingTiming } from '../../src/routing/types.js';

const timing: RoutingTiming = { rebalanceMs: 60_000, maxMovesPerRebalance: 4, slicePeriodMs: 600_000, minSliceMs: 10_000 };
const dev = (id: number, hashrate: number | null, current: string | null, sliced = false): RoutedDevice => ({ id: String(id), key: id, hashrate, current, sliceable: true, sliced });

t.test('a route with an available target: the plan\'s placements, a sliced device with its schedule and its slice now', async (t) => {
  const route = { targets: [{ name: 'own', weight: 97, available: true }, { name: 'fee', weight: 3, available: true }], fallback: 'default' as const };
  const [one] = routeDecisions(route, [dev(1, 100, 'own')], null, new Map(), timing, 0);
  t.ok(one!.schedule, 'one device on 97/3: time-sliced');
  const slices = one!.schedule!.slices;
  t.same(slices.map((s) => s.target), ['own', 'fee']);
  const feeMs = slices[1]!.endMs - slices[1]!.startMs;
  t.ok(Math.abs(feeMs / one!.schedule!.periodMs - 0.03) < 0.001, '3% of its time on the fee target');
  t.ok(one!.schedule!.periodMs >= 600_000 && feeMs >= 10_000, 'no slice under minSliceMs');
  t.ok(['own', 'fee'].includes(one!.target) && one!.until > 0 && Number.isFinite(one!.until), 'its target now and when it changes');
  t.equal(one!.reason, 'rebalance');
  t.same(one!.slices, [{ target: 'own', fraction: 0.97 }, { target: 'fee', fraction: 0.03 }], 'the plan\'s fractions');
  t.equal(one!.unsliced, false);

  const even = { targets: [{ name: 'a', weight: 1, available: true }, { name: 'b', weight: 1, available: true }], fallback: 'none' as const };
  const whole = routeDecisions(even, [dev(1, 100, 'a'), dev(2, 100, 'b')], null, new Map(), timing, 0);
  t.same(whole.map((d) => [d.target, d.schedule, d.until]), [['a', null, Infinity], ['b', null, Infinity]], 'two equal devices on 50/50: each stays whole where it is');
  t.same(whole.map((d) => [d.slices, d.unsliced]), [[null, false], [null, false]], 'whole because the plan puts them whole');
});

t.test('devices that cannot be sliced: whole, and `unsliced` marks those the plan would have sliced', async (t) => {
  const route = { targets: [{ name: 'a', weight: 70, available: true }, { name: 'b', weight: 30, available: true }], fallback: 'none' as const };
  const fixed = (id: number, current: string | null): RoutedDevice => ({ ...dev(id, 100, current), sliceable: false });
  // Ten equal devices on 70/30: seven on a, three on b, nobody on a cut.
  const even = routeDecisions(route, Array.from({ length: 10 }, (_, i) => fixed(i, i < 7 ? 'a' : 'b')), null, new Map(), timing, 0);
  t.same(even.map((d) => [d.target, d.slices, d.unsliced]), Array.from({ length: 10 }, (_, i) => [i < 7 ? 'a' : 'b', null, false]), 'a split that needs no slice: nobody is marked');
  // One device: it would be sliced 70/30; it goes whole to a, marked.
  const [one] = routeDecisions(route, [fixed(1, null)], null, new Map(), timing, 0);
  t.same([one!.target, one!.schedule, one!.slices, one!.unsliced], ['a', null, null, true], 'the device on the cut goes whole to its larger part, marked');
  // Four equal devices: the cut falls inside the third (70% of 4 = 2.8 devices): only that one is marked.
  const four = routeDecisions(route, [fixed(1, 'a'), fixed(2, 'a'), fixed(3, 'a'), fixed(4, 'b')], null, new Map(), timing, 0);
  t.equal(four.filter((d) => d.unsliced).length, 1, 'one device on the cut');
  t.ok(four.every((d) => d.schedule === null && d.slices === null), 'none sliced');
});

t.test('no target of the route available: fallback to the default route\'s targets, or stay', async (t) => {
  const down = { targets: [{ name: 'own', weight: 1, available: false }], fallback: 'default' as const };
  const fallback = { targets: [{ name: 'd1', weight: 1, available: true }, { name: 'd2', weight: 1, available: true }, { name: 'd3', weight: 1, available: false }], fallback: 'none' as const };
  const loads = new Map([['d1', 300], ['d2', 0]]);
  const out = routeDecisions(down, [dev(1, 100, 'own'), dev(2, 100, 'own'), dev(3, null, 'd1'), dev(4, 100, null)], fallback, loads, timing, 0);
  t.same(out.map((d) => d.target), ['d2', 'd2', 'd1', 'd2'], 'spread where the fallback route is most under its weight; a device already there stays; never an unavailable one');
  t.ok(out.every((d) => d.reason === 'fallback' && d.schedule === null));
  t.same([...loads], [['d1', 300], ['d2', 300]], 'the loads grew by what was sent');

  const none = routeDecisions({ ...down, fallback: 'none' }, [dev(1, 100, 'own'), dev(2, 100, null)], fallback, new Map(), timing, 0);
  t.same(none.map((d) => d.target), ['own', 'own'], 'fallback none: they wait on the route\'s own target');
  const nowhere = routeDecisions(down, [dev(1, 100, 'own')], { ...fallback, targets: fallback.targets.map((x) => ({ ...x, available: false })) }, new Map(), timing, 0);
  t.same(nowhere.map((d) => d.target), ['own'], 'the fallback down too: they stay');
});
