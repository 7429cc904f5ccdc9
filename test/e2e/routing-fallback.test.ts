import t from 'tap';
import { createProxyApp } from '../../src/app.js';
import { buildConfig } from '../../src/config.js';
import type { ProxyEventMap } from '../../src/core/events.js';
import { silentLogger } from '../../src/core/log.js';
import { applyConfig } from '../../src/reload.js';
import { checkBooks, startFleet, startPool, WAIT } from '../helpers/farm.js';
import { hasher } from '../helpers/share-kit.js';
import { until } from '../helpers/wait.js';

/**
 * Routes through the whole app, from the configuration: alice's devices mine on her own pool account (pool A),
 * the rest on the farm's (pool P). A's pool goes away: her devices mine on the default route meanwhile, then
 * come back, with no device dropped. A reload (SIGHUP) then gives her route a second target (pool B): the
 * split reaches B without a disconnect.
 */
t.test('a route\'s pool goes down: its devices fall back to the default route and come back; a reload adds a target; no device dropped', async (t) => {
  const users: Record<string, Set<string>> = { P: new Set(), A: new Set(), B: new Set() };
  const pool = (name: 'P' | 'A' | 'B') => startPool(t, { difficulty: 2e-7, authorizeUser: (u) => (users[name]!.add(u), true) });
  const [p, a, b] = [await pool('P'), await pool('A'), await pool('B')];
  const raw = {
    pools: [{ name: 'poolP', url: p.url, user: 'farm.main', password: 'x' }],
    routes: [{ name: 'alice', match: { workers: ['alice.*'] }, targets: [{ name: 'alice-own', pools: [{ name: 'poolA', url: a.url, user: 'alice.own', password: 'x' }] }] }],
    routing: { rebalanceSeconds: 1, maxMovesPerRebalance: 10, slicePeriodSeconds: 2, minSliceSeconds: 0.5 },
    listen: { host: '127.0.0.1', port: 0, tls: null },
    http: { host: '127.0.0.1', port: 0, token: null, allowedOrigins: [] },
    expectedDevices: 100,
    difficulty: { start: 2e-7, min: 1e-9, max: 1e9, targetSharesPerMinute: 12, retargetSeconds: 30, maxStep: 4, multiplier: 1 },
    upstream: { submitTimeoutSeconds: 10, failoverAfterAttempts: 2, probeIntervalSeconds: 30, connectTimeoutSeconds: 5 },
    shutdown: { drainSeconds: 5 },
  };
  const app = await createProxyApp(buildConfig(raw as never), { hasher, log: silentLogger });
  await app.start();
  t.teardown(() => app.stop());
  const moves: ProxyEventMap['device.route'][] = [];
  app.bus.on('device.route', (e) => moves.push(e));
  const fleet = await startFleet(t, app, { devices: 6, hashrate: 1000, workerName: (i) => (i < 4 ? `alice.rig${i}` : `other.rig${i}`) });
  await fleet.whenMining(6, WAIT);
  const accepted = (pool: typeof p) => pool.stats().totals.accepted;
  await until(() => accepted(a) >= 20 && accepted(p) >= 10, 'alice mines on A, the others on P', WAIT);
  const aliceOn = (target: string, reason: string) => () => new Set(moves.filter((e) => e.worker.startsWith('alice.') && e.target === target && e.reason === reason).map((e) => e.worker)).size === 4;

  // A goes away: alice's devices mine on the default route's target.
  await a.refuse('reset');
  a.dropAll();
  await until(aliceOn('default', 'fallback'), 'alice\'s 4 devices fall back to the default route', WAIT);
  const onP = accepted(p);
  await until(() => accepted(p) >= onP + 30, 'P accepts their shares meanwhile', WAIT);
  // A is back: they return.
  await a.resume();
  await until(aliceOn('alice-own', 'rebalance'), 'alice\'s devices back on her own target', WAIT);
  const onA = accepted(a);
  await until(() => accepted(a) >= onA + 20, 'A accepts shares again', WAIT);

  // SIGHUP: alice's route gets a second target on pool B, at equal weight.
  const next = structuredClone(raw);
  next.routes[0]!.targets.push({ name: 'alice-second', pools: [{ name: 'poolB', url: b.url, user: 'alice.second', password: 'x' }] });
  const diff = applyConfig(app, buildConfig(next as never));
  t.ok(diff.apply.includes('routes'), 'the routes are applied while running');
  await until(() => accepted(b) >= 20, 'B receives alice\'s shares after the reload', WAIT);
  t.ok(moves.some((e) => e.target === 'alice-second'), 'devices moved to the new target');

  t.same([...users.P!], ['farm.main'], 'each pool saw its own account only');
  t.same([...users.A!], ['alice.own']);
  t.same([...users.B!], ['alice.second']);
  await checkBooks(t, app, fleet, [p, a, b]);
});
