import t from 'tap';
import { LineClient, errorOf } from '../helpers/line-client.js';
import { clusterUntil, startCluster, startPool, WAIT } from './cluster-kit.js';
import { until } from '../helpers/wait.js';

/**
 * SIGHUP at the primary reaches both workers: a changed live setting (the devices' shared password) is in
 * force in each, shown by devices on both workers refused with the new rule, and the changed restart-only
 * setting (`workers`) is reported as needing a restart.
 */
t.test('SIGHUP reaches both workers: a new password is in force on each', async (t) => {
  const { pool } = await startPool(t);
  const proc = await startCluster(t, pool);
  await clusterUntil(proc, (v) => v.workers.every((w) => w.ready), 'both workers ready');

  // Devices until both workers hold one (round-robin hands them out in turn), each authorized with 'x'.
  const clients: LineClient[] = [];
  t.teardown(() => clients.forEach((c) => c.close()));
  for (let i = 0; i < 6; i++) {
    const c = await LineClient.connect(proc.port);
    clients.push(c);
    await c.request('mining.subscribe', ['test/1.0']);
    t.equal((await c.request('mining.authorize', [`rig${i}`, 'x'])).result, true, `rig${i} authorized before the reload`);
    // Each worker reports what it holds (on a change, within a quarter second): wait until the count is in.
    const v = await clusterUntil(proc, (v) => v.workers.reduce((n, w) => n + w.devices, 0) === clients.length, `${clients.length} devices reported`);
    if (v.workers.every((w) => w.devices > 0)) break;
  }
  const view = await proc.cluster();
  t.ok(view.workers.every((w) => w.devices > 0), `a device on each worker: ${view.workers.map((w) => w.devices).join(' + ')}`);
  t.equal(view.workers.reduce((n, w) => n + w.devices, 0), clients.length, `${clients.length} devices over both workers`);

  proc.writeConfig({ access: { password: 'secret' }, workers: 3 });
  proc.child.kill('SIGHUP');
  await until(() => [0, 1].every((k) => proc.logs.some((l) => l.msg === 'configuration reloaded' && l.proxyWorker === k)), () => `both workers reloaded; logs: ${proc.logs.map((l) => `${l.proxyWorker ?? 'p'}:${l.msg}`).join(' | ')}`, WAIT);
  for (const k of [0, 1]) {
    const line = proc.logs.find((l) => l.msg === 'configuration reloaded' && l.proxyWorker === k)!;
    t.same(line.applied, ['access.password'], `worker ${k} applied the password`);
    t.same(line.restartNeeded, ['workers'], `worker ${k}: the worker count needs a restart`);
  }
  t.ok(proc.logs.some((l) => l.msg === 'configuration reloaded' && l.proxyWorker === undefined), 'the primary reloaded its part');

  // Every device authorizes again: on both workers the old password is refused now, the new one taken.
  for (const [i, c] of clients.entries()) {
    t.same(errorOf(await c.request('mining.authorize', [`late${i}`, 'x'])), [24, 'Wrong password', null], `late${i}: the old password is refused`);
    t.equal((await c.request('mining.authorize', [`late${i}`, 'secret'])).result, true, `late${i}: the new one is taken`);
  }
  t.equal((await proc.cluster()).workers.length, 2, 'still two workers (restart needed for 3)');
});
