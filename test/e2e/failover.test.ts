import t from 'tap';
import { checkBooks, mining, startFleet, startPool, startProxy, WAIT } from '../helpers/farm.js';
import { until } from '../helpers/wait.js';

/**
 * Failover with devices mining through the proxy: pool A dies, pool B takes over, A returns and the proxy
 * goes back to it. Devices stay connected, and the books balance across both pools.
 */
t.test('failover: pool A dies, pool B takes over, A returns and the proxy goes back to it', async (t) => {
  const a = await startPool(t, { difficulty: 1e-6 });
  const b = await startPool(t, { difficulty: 1e-6 });
  const app = await startProxy(t, [a, b], { failoverAfterAttempts: 2, probeIntervalSeconds: 1 });
  const switches: string[] = [];
  app.bus.on('pool.switch', (e) => {
    if (e.from !== null) switches.push(`${e.from}->${e.to}`);
  });
  const fleet = await startFleet(t, app, { devices: 12 });
  await fleet.whenMining(12);
  await mining(fleet, app);
  const onA = a.stats().totals.accepted;
  t.ok(onA >= 0);

  await a.refuse('reset');
  a.dropAll();
  await until(() => app.proxy.channels[0]!.pool === 'poolB' && app.proxy.isReady, 'mining on pool B', WAIT);
  const bBefore = b.stats().totals.accepted;
  await until(() => b.stats().totals.accepted > bBefore || app.ledger.summary().accepted > 0, 'shares on B', WAIT);
  await mining(fleet, app);

  await a.resume();
  await until(() => app.proxy.channels[0]!.pool === 'poolA' && app.proxy.isReady, 'back on pool A', WAIT);
  await mining(fleet, app);
  t.same(switches.slice(0, 2), ['poolA->poolB', 'poolB->poolA'], `switches: ${switches.join(', ')}`);
  await checkBooks(t, app, fleet, [a, b]);
});
