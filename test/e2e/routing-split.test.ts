import t from 'tap';
import { EventBus, type ProxyEventMap } from '../../src/core/events.js';
import { silentLogger } from '../../src/core/log.js';
import type { RoutingSpec } from '../../src/routing/types.js';
import { SimFleet } from '../../src/sim/fleet.js';
import { SimPool } from '../../src/sim/pool.js';
import { UpstreamSlot } from '../../src/upstream/upstream-slot.js';
import { proxyUnderTest } from '../helpers/proxy-under-test.js';
import { hasher } from '../helpers/share-kit.js';
import { sleep, until } from '../helpers/wait.js';

/**
 * A 70/30 split of 24 devices of very different speeds (150 to 2400 H/s, one slot of each speed in five)
 * between two pools, each under its own account, with a third pool for the default route: the proxy plans
 * the split from the hashrate it measures, moves whole devices and time-slices the ones on a cut, and every
 * share goes to the pool whose job it was mined on.
 *
 * The statistical bound. Devices mine at the pools' difficulty, so every share goes upstream and a pool's
 * accepted work is (its accepted shares) x difficulty. Over the measured window N shares are accepted by the
 * two pools together; the count going to A is binomial around 0.7 N (the plan sends 70% of the measured
 * hashrate there), so its share has standard deviation sqrt(0.7 x 0.3 / N); the plan itself rests on the
 * devices' measured rates, measured from the same shares, which adds noise of the same order. With N >= 4000
 * (the test requires it; about 6000 are expected: 16,000 H/s at difficulty 3.7e-8 is ~100 shares/s over 60 s)
 * the count noise is <= 0.72 points and the two together <= ~1.03 points: a 5-point miss is beyond 4.8 sigma
 * (p < 1e-6).
 */

const DIFFICULTY = 3.7e-8;
const SPEEDS = [150, 300, 600, 1200, 2400];
const DEVICES = 24;
const WINDOW_MS = 60_000;
const MIN_SHARES = 4000;
/** A network target no share reaches: no block, so no clean job makes a share stale (what is tested is the switches). */
const NO_BLOCKS = '1b0404cb';

t.test('a 70/30 split by measured hashrate lands within 5 points of the weights in pool-accepted work, with no share rejected at a switch', async (t) => {
  const seen: Record<string, Set<string>> = { A: new Set(), B: new Set(), C: new Set() };
  const pool = async (name: 'A' | 'B' | 'C') => {
    const p = new SimPool({ hasher, difficulty: DIFFICULTY, nbits: NO_BLOCKS, jobIntervalMs: 1000, blockIntervalMs: 0, submitWorkers: 'authorized', authorizeUser: (u) => (seen[name]!.add(u), true) });
    await p.listen();
    t.teardown(() => p.close());
    return p;
  };
  const [a, b, c] = [await pool('A'), await pool('B'), await pool('C')];
  const routing: RoutingSpec = {
    routes: [
      {
        name: 'alice',
        targets: [
          { name: 'alice-own', weight: 70, pools: [{ name: 'poolA', url: a.url, user: 'alice.farm', password: 'x' }] },
          { name: 'hosting-fee', weight: 30, pools: [{ name: 'poolB', url: b.url, user: 'host.fee', password: 'x' }] },
        ],
        fallback: 'default',
      },
      { name: 'default', targets: [{ name: 'default', weight: 1, pools: [{ name: 'poolC', url: c.url, user: 'farm.main', password: 'x' }] }], fallback: 'none' },
    ],
    routeOf: (worker) => (worker.startsWith('alice.') ? 'alice' : 'default'),
  };
  const bus = new EventBus();
  const events: { [K in keyof ProxyEventMap]?: ProxyEventMap[K][] } = {};
  for (const name of ['share.rejected', 'share.upstream', 'device.route'] as const) bus.on(name, (e) => ((events[name] ??= []) as unknown[]).push(e));
  const { proxy, port } = await proxyUnderTest(t, {
    proxy: {
      bus,
      log: silentLogger,
      createUpstream: (_index, target) => new UpstreamSlot({ pools: target.pools }),
      routing,
      routingTiming: { rebalanceMs: 2000, maxMovesPerRebalance: 4, slicePeriodMs: 3000, minSliceMs: 500 },
      startDifficulty: DIFFICULTY,
      vardiff: { minDifficulty: DIFFICULTY, maxDifficulty: DIFFICULTY },
      expectedDevices: 100,
    },
  });
  await until(() => proxy.groups.every((g) => g.available), 'every target has a pool connection with a job', 20_000);

  const fleet = new SimFleet({
    hasher,
    port,
    devices: DEVICES + 2,
    maxHashrate: 16_000,
    workerName: (i) => (i < DEVICES ? `alice.rig${i}` : `other.rig${i}`),
    deviceOptions: (i) => ({ hashrate: SPEEDS[i % SPEEDS.length]! }),
    reconnectDelayMs: 100,
    maxReconnectDelayMs: 500,
  });
  t.teardown(() => fleet.stop());
  await fleet.start();
  await fleet.whenMining(DEVICES + 2, 20_000);
  // The split settles: the meters measure, the plan moves at most 4 whole devices every 2 s.
  await sleep(15_000);

  const work = () => ({ a: a.stats().totals.acceptedDifficulty, b: b.stats().totals.acceptedDifficulty, n: a.stats().totals.accepted + b.stats().totals.accepted });
  const start = work();
  await sleep(WINDOW_MS);
  const end = work();
  fleet.setHashrate(0);
  await until(() => fleet.stats().totals.submitted === fleet.stats().totals.accepted + fleet.stats().totals.rejected + fleet.stats().unanswered, 'every submit answered', 10_000);
  await proxy.drain(5000);

  const shares = end.n - start.n;
  t.ok(shares >= MIN_SHARES, `the window holds enough shares for the bound (${shares} >= ${MIN_SHARES})`);
  const shareA = (end.a - start.a) / (end.a - start.a + end.b - start.b);
  t.ok(Math.abs(shareA - 0.7) <= 0.05, `pool A got ${(shareA * 100).toFixed(2)}% of the work (70 +- 5)`);
  t.comment(`split: A ${(shareA * 100).toFixed(2)}%, B ${((1 - shareA) * 100).toFixed(2)}% over ${shares} shares`);

  // Every pool saw its own account only, and accepted every share it got (a share of another pool's job would be refused).
  t.same([...seen.A!], ['alice.farm']);
  t.same([...seen.B!], ['host.fee']);
  t.same([...seen.C!], ['farm.main']);
  for (const [name, p] of [['A', a], ['B', b], ['C', c]] as const) {
    t.equal(p.stats().totals.rejected, 0, `pool ${name} rejected nothing`);
    t.ok(p.stats().totals.accepted > 0, `pool ${name} accepted shares`);
  }
  const routes = events['device.route'] ?? [];
  const switches = routes.filter((e) => e.reason === 'slice' || e.reason === 'rebalance').length;
  t.ok(switches > 0, `devices moved between targets (${switches} moves)`);
  t.ok(routes.some((e) => e.reason === 'slice'), 'some by time slices');
  t.equal(events['share.rejected']?.length ?? 0, 0, 'the proxy rejected no share');
  t.equal(fleet.stats().totals.rejected, 0, 'no device heard a rejection');
  t.equal(fleet.stats().disconnects, 0, 'no device was disconnected');
  const verdicts = events['share.upstream'] ?? [];
  t.ok(verdicts.every((e) => e.verdict.kind === 'accepted'), 'every forwarded share was accepted by its pool');
  // Where each share went, by target, agrees with what each pool counted.
  const byTarget = (target: string) => verdicts.filter((e) => e.target === target).length;
  t.equal(byTarget('alice-own'), a.stats().totals.accepted);
  t.equal(byTarget('hosting-fee'), b.stats().totals.accepted);
  t.equal(byTarget('default'), c.stats().totals.accepted);
});
