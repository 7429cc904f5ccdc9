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

/** Every device's extranonce1 (its prefix) and extranonce2 size, by device. */
const extranonces = (fleet: Awaited<ReturnType<typeof startFleet>>) => fleet.allDeviceStats().map((d) => `${d.extranonce1}/${d.extranonce2Size}`);

t.test('the pool drops the connection: the proxy reconnects under a new extranonce1, devices keep theirs and keep mining', async (t) => {
  const { pool, app, fleet } = await miningFarm(t);
  const en1 = app.proxy.channels[0]!.extranonce!.extranonce1;
  const before = extranonces(fleet);
  pool.dropAll();
  await until(() => app.proxy.channels[0]!.ready && app.proxy.channels[0]!.extranonce!.extranonce1 !== en1, 'a new pool session', WAIT);
  const acceptedByPool = pool.stats().totals.accepted;
  await mining(fleet, app);
  await until(() => pool.stats().totals.accepted >= acceptedByPool + 10, 'the pool accepts shares mined under its new extranonce1', WAIT);
  t.equal(fleet.stats().extranonceChanges, 0, 'no device was sent mining.set_extranonce');
  t.same(extranonces(fleet), before, 'every device mines with the extranonce it got at subscribe');
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
  const before = extranonces(fleet);
  pool.setExtranonce('all', 'c0ffee01');
  await until(() => app.proxy.channels[0]!.extranonce!.extranonce1 === 'c0ffee01', 'the proxy took the new extranonce1', WAIT);
  const acceptedByPool = pool.stats().totals.accepted;
  await mining(fleet, app);
  await until(() => pool.stats().totals.accepted >= acceptedByPool + 10, 'the pool accepts shares mined under extranonce1 c0ffee01', WAIT);
  t.equal(fleet.stats().extranonceChanges, 0, 'nothing was sent to the devices');
  t.same(extranonces(fleet), before, 'every device keeps its extranonce');
  let opened = 0;
  pool.on('connection', (e) => {
    if (e.state === 'open') opened++;
  });
  t.equal(pool.sendReconnect({ waitSeconds: 0 }), 1, 'client.reconnect sent to the proxy\'s one connection');
  await until(() => opened >= 1, 'the proxy reconnected', WAIT);
  await until(() => app.proxy.isReady, 'ready again', WAIT);
  await mining(fleet, app);
  t.equal(fleet.stats().extranonceChanges, 0, 'still nothing sent to the devices');
  await checkBooks(t, app, fleet, [pool]);
});
