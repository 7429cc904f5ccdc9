import t from 'tap';
import { checkPoolSawItsOwn, poolEntry, routedConfig, settle, startRoutedApp, startRoutedFleet, watchedPool } from '../helpers/routed-farm.js';
import { until } from '../helpers/wait.js';

/**
 * A route whose pools all go down, through the whole app made from a configuration: route `alice` (workers
 * `alice.*`, fallback `default`) mines on its one target `alice-own` (pool A, alice's login); the rest of the
 * farm on the default route (pool C, the farm's login). Pool A goes away (stops listening, drops its
 * connections): alice's devices move to the default route and mine there, nobody is disconnected; pool A
 * comes back: they return to `alice-own`. The only shares a device hears refused are pool A's work it found
 * between the drop and its fallback move, and any in flight to pool A when it dropped (stale, 21).
 */

const D = 5e-8;
const ALICE = 4;
const OTHERS = 2;
const SHARES = 30;

t.test("a route's pools all go down: its devices mine on the default route, come back when the pool returns, none dropped", async (t) => {
  const a = await watchedPool(t, 'poolA', 0, D);
  const c = await watchedPool(t, 'poolC', 2, D);
  const config = routedConfig(D, {
    pools: [poolEntry(c, 'XfarmAddress.main')],
    routes: [{ name: 'alice', match: { workers: ['alice.*'] }, targets: [{ name: 'alice-own', pools: [poolEntry(a, 'XaliceAddress.hosted')] }], fallback: 'default' }],
    routing: { rebalanceSeconds: 2, maxMovesPerRebalance: 4, slicePeriodSeconds: 10, minSliceSeconds: 1 },
  });
  const { app, events } = await startRoutedApp(t, config, ['device.route', 'device.disconnected', 'share.rejected', 'share.upstream', 'pool.up', 'pool.down']);
  const fleet = await startRoutedFleet(t, app, { devices: ALICE + OTHERS, hashrate: 1000, maxHashrate: 6000, workerName: (i) => (i < ALICE ? `alice.rig${i}` : `rig.${i}`) });
  const isAlice = (worker: string | null) => worker !== null && worker.startsWith('alice.');

  // Where each device mines now, by its last placement.
  const placed = () => {
    const at = new Map<number, { worker: string; target: string; reason: string }>();
    for (const e of events['device.route'] ?? []) at.set(e.sessionId, { worker: e.worker, target: e.target, reason: e.reason });
    return [...at.values()];
  };
  const accepted = (target: string, who: (worker: string) => boolean) => (events['share.upstream'] ?? []).filter((e) => e.target === target && who(e.worker) && e.verdict.kind === 'accepted').length;

  await until(() => placed().filter((p) => isAlice(p.worker) && p.target === 'alice-own').length === ALICE, 'alice devices on alice-own', 20_000);
  await until(() => accepted('alice-own', isAlice) >= SHARES, `${SHARES} of alice's shares accepted by pool A`, 30_000);
  t.ok(placed().filter((p) => !isAlice(p.worker)).every((p) => p.target === 'default'), 'the other devices mine on the default route');

  // Pool A goes away.
  await a.pool.refuse('unlisten');
  a.pool.dropAll();
  const downAt = Date.now();
  await until(() => placed().filter((p) => isAlice(p.worker) && p.target === 'default' && p.reason === 'fallback').length === ALICE, () => `alice devices fall back to the default route (${JSON.stringify(placed())})`, 15_000);
  t.comment(`fell back ${Date.now() - downAt} ms after pool A went down`);
  const before = accepted('default', isAlice);
  await until(() => accepted('default', isAlice) >= before + SHARES, `${SHARES} of alice's shares accepted on the default route's pool`, 30_000);
  t.pass(`alice's devices mine on the default route's pool C (${accepted('default', isAlice)} shares)`);

  // Pool A comes back: they return (the upstream retries with backoff, up to 2^n s, so bounded but not at once).
  const aBefore = a.pool.stats().totals.accepted;
  await a.pool.resume();
  await until(() => placed().filter((p) => isAlice(p.worker) && p.target === 'alice-own').length === ALICE, () => `alice devices back on alice-own (${JSON.stringify(placed())})`, 60_000);
  await until(() => a.pool.stats().totals.accepted >= aBefore + SHARES, `${SHARES} more shares accepted by pool A`, 30_000);
  t.pass('alice devices mine on pool A again');
  await settle(app, fleet);

  const moves = (events['device.route'] ?? []).filter((e) => e.reason !== 'placed');
  t.ok(moves.every((e) => isAlice(e.worker)), 'only alice devices moved');
  t.equal((events['device.disconnected'] ?? []).length, 0, 'the proxy disconnected no device');
  const f = fleet.stats();
  t.equal(f.disconnects, 0, 'no device saw its connection drop');
  t.equal(f.reconnects, 0, 'no device reconnected');
  t.equal(f.unanswered, 0, 'every submit was answered');
  // Work on pool A's jobs found after it dropped cannot go anywhere: the proxy refuses it as stale (21) until
  // the device's fallback move gives it a job of pool C (shares of the old job may still come for a moment);
  // a share in flight to pool A when it dropped gets no verdict (stale to the device). Nothing else is refused.
  const fellBack = new Map((events['device.route'] ?? []).filter((e) => e.reason === 'fallback').map((e) => [e.sessionId, e.at]));
  const refused = events['share.rejected'] ?? [];
  t.ok(
    refused.every((e) => isAlice(e.worker) && e.code === 21 && e.at >= downAt && e.at <= (fellBack.get(e.sessionId) ?? 0) + 1000),
    `the proxy refused only alice's shares of pool A's jobs, as stale, between the drop and the fallback (${refused.length}: ${JSON.stringify(refused.slice(0, 3).map((e) => e.message))})`,
  );
  const lost = (events['share.upstream'] ?? []).filter((e) => e.verdict.kind !== 'accepted');
  t.ok(lost.every((e) => e.target === 'alice-own' && e.verdict.kind === 'unanswered'), `the only forwarded shares without acceptance were in flight to pool A (${lost.length})`);
  t.equal(f.totals.rejected, refused.length + lost.length, 'the devices heard a refusal for those only');
  t.ok(Object.keys(f.totals.rejectedByCode).every((code) => code === '21'), `as stale (${JSON.stringify(f.totals.rejectedByCode)})`);
  checkPoolSawItsOwn(t, a, ['XaliceAddress.hosted']);
  checkPoolSawItsOwn(t, c, ['XfarmAddress.main']);
  const poolAccepted = (target: string) => (events['share.upstream'] ?? []).filter((e) => e.target === target && e.verdict.kind === 'accepted').length;
  t.equal(poolAccepted('alice-own'), a.pool.stats().totals.accepted, "the proxy's accepted verdicts for alice-own are pool A's count");
  t.equal(poolAccepted('default'), c.pool.stats().totals.accepted, "the proxy's accepted verdicts for default are pool C's count");
});
