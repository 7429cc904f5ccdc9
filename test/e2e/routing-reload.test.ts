import t from 'tap';
import { reloadConfig } from '../../src/reload.js';
import { checkPoolSawItsOwn, poolEntry, routedConfig, settle, shares, startRoutedApp, startRoutedFleet, watchedPool, type WatchedPool } from '../helpers/routed-farm.js';
import { sleep, until } from '../helpers/wait.js';

/**
 * SIGHUP from 70/30 to 50/50, through the whole app: the farm's default route split between target `main`
 * (pool A) and `second` (pool B); a reload of the configuration with the new weights (what SIGHUP does:
 * src/reload.ts) moves the split without disconnecting a device, and no share is refused on the way.
 *
 * The statistical bound. Ten devices of 1200 H/s at difficulty D = 1.5e-8 (2^32 D = 64 hashes a share):
 * ~190 shares/s, N >= 2000 required in each 25 s window (~4500 expected). The plan splits the measured
 * hashrate exactly by the weights (the device on a cut is time-sliced), so two things move the achieved split:
 * (1) which pool each share lands on, binomial: sd = sqrt(w (1 - w) / N) <= sqrt(0.25 / 2000) = 1.1 points;
 * (2) the measured hashrate the plan rests on: after 20 s or more each device has ~200+ shares measured
 * (noise 7% or less), and the split's error from it is about w (1 - w) x 7% x sqrt(1/7 + 1/3) <= 1.2 points.
 * Together sd <= 1.7 points at the smallest N; 5 points is beyond 2.9 sigma there and beyond 4 sigma at the
 * expected N (sd ~1.2: the meters have had longer by the second window too).
 */

const D = 1.5e-8;
const DEVICES = 10;
const WINDOW_MS = 25_000;
const SETTLE_MS = 8000;
const MIN_SHARES = 2000;

t.test('SIGHUP from 70/30 to 50/50 moves the split of pool-accepted work without disconnecting a device', async (t) => {
  const a = await watchedPool(t, 'poolA', 0, D);
  const b = await watchedPool(t, 'poolB', 1, D);
  const config = (main: number, second: number) =>
    routedConfig(D, {
      routes: [
        {
          name: 'default',
          targets: [
            { name: 'main', weight: main, pools: [poolEntry(a, 'XfarmAddress.main')] },
            { name: 'second', weight: second, pools: [poolEntry(b, 'secondAccount.farm')] },
          ],
        },
      ],
      routing: { rebalanceSeconds: 2, maxMovesPerRebalance: 4, slicePeriodSeconds: 5, minSliceSeconds: 0.5 },
    });
  const { app, events } = await startRoutedApp(t, config(70, 30), ['device.route', 'device.disconnected', 'share.rejected', 'share.upstream', 'pool.up']);
  await until(() => new Set((events['pool.up'] ?? []).map((e) => e.target)).size === 2, 'both targets have a pool connection', 20_000);
  const fleet = await startRoutedFleet(t, app, { devices: DEVICES, hashrate: 1200, maxHashrate: DEVICES * 1200, workerName: (i) => `rig${i}` });

  const work = (w: WatchedPool) => w.pool.stats().totals;
  const window = async (label: string, weight: number) => {
    const start = { a: work(a), b: work(b) };
    await sleep(WINDOW_MS);
    const end = { a: work(a), b: work(b) };
    const n = end.a.accepted - start.a.accepted + end.b.accepted - start.b.accepted;
    const split = shares({ main: end.a.acceptedDifficulty - start.a.acceptedDifficulty, second: end.b.acceptedDifficulty - start.b.acceptedDifficulty });
    t.comment(`${label}: main ${(split.main! * 100).toFixed(2)}% of ${n} pool-accepted shares`);
    t.ok(n >= MIN_SHARES, `${label}: the window holds enough shares for the bound (${n} >= ${MIN_SHARES})`);
    t.ok(Math.abs(split.main! - weight) <= 0.05, `${label}: main got ${(split.main! * 100).toFixed(2)}% of the work (${weight * 100} +- 5)`);
  };

  await sleep(SETTLE_MS);
  await window('before the reload', 0.7);

  const reloadedAt = Date.now();
  const result = reloadConfig(app, () => config(50, 50));
  t.ok(result, 'the reload was applied');
  t.ok(result?.apply.includes('routes'), `the routes changed (${JSON.stringify(result?.apply)})`);
  t.same(
    app.routing.routes.find((r) => r.name === 'default')?.targets.map((x) => [x.name, x.weight]),
    [
      ['main', 50],
      ['second', 50],
    ],
    'the new weights are in force',
  );
  await until(() => (events['device.route'] ?? []).some((e) => e.at >= reloadedAt && e.target === 'second'), 'devices move to second after the reload', 10_000);
  await sleep(SETTLE_MS);
  await window('after the reload', 0.5);
  await settle(app, fleet);

  const moved = (events['device.route'] ?? []).filter((e) => e.at >= reloadedAt && e.reason !== 'slice');
  t.ok(moved.length > 0, `whole devices moved after the reload (${moved.map((e) => `${e.worker}->${e.target} (${e.reason})`).join(', ')})`);
  t.equal((events['device.disconnected'] ?? []).length, 0, 'the proxy disconnected no device');
  const f = fleet.stats();
  t.equal(f.disconnects, 0, 'no device saw its connection drop');
  t.equal(f.reconnects, 0, 'no device reconnected');
  t.equal(f.unanswered, 0, 'every submit was answered');
  t.equal(events['share.rejected']?.length ?? 0, 0, 'the proxy rejected no share');
  t.equal(f.totals.rejected, 0, `no device heard a rejection (${JSON.stringify(f.totals.rejectedByCode)})`);
  checkPoolSawItsOwn(t, a, ['XfarmAddress.main']);
  checkPoolSawItsOwn(t, b, ['secondAccount.farm']);
  t.equal(a.pool.stats().connectionsTotal, 1, 'pool A: the reload kept its connection (same pools)');
  t.equal(b.pool.stats().connectionsTotal, 1, 'pool B: the reload kept its connection (same pools)');
});
