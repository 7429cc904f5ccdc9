import t, { type Test } from 'tap';
import { checkBooks, mining, startFleet, startPool, startProxy, WAIT, type ProxyOverrides } from '../helpers/farm.js';
import { sleep, until } from '../helpers/wait.js';

/**
 * What the pool does to us, with devices mining through the proxy the whole time: it drops the connection,
 * refuses connections for a while, changes the extranonce, sends client.reconnect (failover between pools:
 * failover.test.ts). Devices stay connected throughout, and nothing is answered
 * "accepted" that a pool did not accept (for shares that went upstream) or that was invalid.
 */

/** One pool, the proxy, 12 devices mining through it with shares accepted: where every scenario here starts. */
async function miningFarm(t: Test, proxy: ProxyOverrides = {}) {
  const pool = await startPool(t, { difficulty: 1e-6 });
  const app = await startProxy(t, [pool], proxy);
  const fleet = await startFleet(t, app, { devices: 12 });
  await fleet.whenMining(12);
  await mining(fleet, app);
  return { pool, app, fleet };
}

t.test('the pool drops the connection: the proxy reconnects, devices follow the new extranonce and keep mining', async (t) => {
  const { pool, app, fleet } = await miningFarm(t);
  const en1 = app.proxy.channels[0]!.extranonce!.extranonce1;
  pool.dropAll();
  await until(() => app.proxy.channels[0]!.ready && app.proxy.channels[0]!.extranonce!.extranonce1 !== en1, 'a new pool session', WAIT);
  await until(() => fleet.stats().extranonceChanges >= 12, 'every device got mining.set_extranonce', WAIT);
  await mining(fleet, app);
  await checkBooks(t, app, fleet, [pool]);
});

t.test('the pool refuses connections for a while: backoff, then back to mining', async (t) => {
  const { pool, app, fleet } = await miningFarm(t, { failoverAfterAttempts: 100 });
  await pool.refuse('reset');
  pool.dropAll();
  await until(() => !app.proxy.isReady, 'the proxy notices', WAIT);
  await sleep(1500);
  t.equal(fleet.stats().disconnects, 0, 'devices are kept while the pool is away');
  await pool.resume();
  await until(() => app.proxy.isReady, 'the proxy is back', WAIT);
  await mining(fleet, app);
  await checkBooks(t, app, fleet, [pool]);
});

t.test('the pool changes the extranonce and sends client.reconnect', async (t) => {
  const { pool, app, fleet } = await miningFarm(t);
  pool.setExtranonce('all', 'c0ffee01');
  await until(() => app.proxy.channels[0]!.extranonce!.extranonce1 === 'c0ffee01', 'the proxy took the new extranonce1', WAIT);
  await until(() => fleet.allDeviceStats().every((d) => d.extranonce1?.startsWith('c0ffee01')), 'every device follows', WAIT);
  await mining(fleet, app);
  let opened = 0;
  pool.on('connection', (e) => {
    if (e.state === 'open') opened++;
  });
  t.equal(pool.sendReconnect({ waitSeconds: 0 }), 1, 'client.reconnect sent to the proxy\'s one connection');
  await until(() => opened >= 1, 'the proxy reconnected', WAIT);
  await until(() => app.proxy.isReady, 'ready again', WAIT);
  await mining(fleet, app);
  await checkBooks(t, app, fleet, [pool]);
});

