import t from 'tap';
import { createProxyApp } from '../../src/app.js';
import { buildConfig } from '../../src/config.js';
import { silentLogger } from '../../src/core/log.js';
import { applyConfig } from '../../src/reload.js';
import { closedPort } from '../helpers/scripted-pool.js';
import { hasher } from '../helpers/share-kit.js';

/**
 * The routes in force reach the observers through the app: /api/routes (and with it the per-target metrics
 * and the dashboard) shows the configuration's routes, weights and pools, and a reload's new weights at
 * once. The observers read them from the app's routing; they never ask the proxy.
 */

t.test('/api/routes shows the routes of the configuration in force, and a reload’s new weights', async (t) => {
  const dead = `stratum+tcp://127.0.0.1:${await closedPort()}`;
  const target = (name: string, weight: number) => ({ name, weight, pools: [{ name: `${name}-pool`, url: dead, user: `${name}.farm` }] });
  const cfg = (feeWeight: number) =>
    buildConfig({
      pools: [{ name: 'main', url: dead, user: 'farm', password: 'x' }],
      listen: { host: '127.0.0.1', port: 0, tls: null },
      http: { host: '127.0.0.1', port: 0, token: null, allowedOrigins: [] },
      owners: { alice: {} } as never,
      routes: [{ name: 'alice', match: { owners: ['alice'] }, targets: [target('alice-own', 100 - feeWeight), target('fee', feeWeight)] }] as never,
      shutdown: { drainSeconds: 0 },
    });
  const app = await createProxyApp(cfg(2), { hasher, log: silentLogger });
  const { http } = await app.start();
  t.teardown(() => app.stop());
  const routes = async () => ((await (await fetch(`http://127.0.0.1:${http.port}/api/routes`)).json()) as { routes: { name: string; fallback: string; targets: { name: string; weight: number; weightShare: number; pools: string[] }[] }[] }).routes;
  const shape = (rs: Awaited<ReturnType<typeof routes>>) => rs.map((r) => [r.name, r.fallback, r.targets.map((x) => [x.name, x.weight, x.weightShare, x.pools])]);
  t.same(shape(await routes()), [
    ['alice', 'default', [['alice-own', 98, 0.98, ['alice-own-pool']], ['fee', 2, 0.02, ['fee-pool']]]],
    ['default', 'none', [['default', 1, 1, ['main']]]],
  ]);
  applyConfig(app, cfg(5));
  t.same(shape(await routes())[0], ['alice', 'default', [['alice-own', 95, 0.95, ['alice-own-pool']], ['fee', 5, 0.05, ['fee-pool']]]], 'the new weights at once');
});
