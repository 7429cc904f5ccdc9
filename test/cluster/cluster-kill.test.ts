import t from 'tap';
import { clusterUntil, startCluster, startFleet, startPool, WAIT } from './cluster-kit.js';
import { Receiver } from '../helpers/webhook-receiver.js';
import { sleep } from '../helpers/wait.js';

/**
 * kill -9 of one worker: the primary restarts it (a new pid, the next incarnation), its devices reconnect to
 * the other worker meanwhile, and no share is answered wrongly: the fleet's own judge finds no valid share
 * refused, the pool's judge accepts every share it got, and the shares the dead worker left in flight are
 * counted as unanswered (never as accepted or rejected).
 */
t.test('kill -9 of a worker: it comes back, its devices reconnect, no share answered wrongly', async (t) => {
  const { pool, shares } = await startPool(t);
  const hooks = await Receiver.start(t);
  const proc = await startCluster(t, pool, {
    difficulty: { start: 1e-6, min: 1e-9, max: 1e9, targetSharesPerMinute: 600, retargetSeconds: 600, maxStep: 4 },
    alerts: { webhooks: [{ url: hooks.url('/alerts'), events: ['worker.exited', 'pool.down'] }], instance: 'cluster-test' },
  });
  const fleet = await startFleet(t, proc.port, { devices: 16, hashrate: 1000 });
  await fleet.whenMining(16, WAIT);
  const before = await clusterUntil(proc, (v) => v.workers.every((w) => w.devices > 0 && w.ready) && v.workers.reduce((n, w) => n + w.devices, 0) === 16, 'the 16 devices on both workers');
  await fleet.waitFor(() => shares.length >= 20, WAIT);

  // The victim: the worker whose device port opened last, so the other one's pool connection was most likely
  // up before the host was listening (the alerts must know it is up: the victim's death is no pool down).
  const opened = proc.logs.filter((l) => l.msg === 'proxy worker listening').map((l) => l.proxyWorker!);
  const k = opened.at(-1)!;
  const victim = before.workers[k]!;
  const other = before.workers[1 - k]!;
  process.kill(victim.pid!, 'SIGKILL');

  // Its devices go to the other worker at once (the restart waits 1 s).
  await fleet.waitFor((s) => s.reconnects >= victim.devices, WAIT);
  const back = await clusterUntil(proc, (v) => v.workers[k]!.pid !== victim.pid && v.workers[k]!.ready && v.workers.reduce((n, w) => n + w.devices, 0) === 16, `worker ${k} back with a new pid, 16 devices held`);
  t.not(back.workers[k]!.pid, victim.pid, `worker ${k} has a new pid (${victim.pid} -> ${back.workers[k]!.pid})`);
  t.equal(back.workers[k]!.incarnation, 3, 'its third incarnation host-wide');
  t.equal(back.workers[k]!.restarts, 1, 'one restart');
  t.equal(back.workers[1 - k]!.pid, other.pid, 'the other worker was not touched');
  t.equal(back.workers[1 - k]!.restarts, 0);
  await fleet.whenMining(16, WAIT);
  const died = proc.logs.find((l) => l.msg.startsWith(`worker ${k} (pid ${victim.pid}) died (SIGKILL)`));
  t.ok(died, `the primary logged the death at once: ${died?.msg}`);
  t.equal(died?.proxyWorker, k, 'naming the worker process in its proxyWorker field');
  t.ok(proc.logs.some((l) => l.msg === `worker ${k} is back (pid ${back.workers[k]!.pid})`), 'and its return');
  await hooks.waitFor(1, '/alerts', WAIT);
  const alert = JSON.stringify(hooks.received[0]!.body);
  t.match(alert, `worker ${k} (pid ${victim.pid}) died (SIGKILL)`, 'the alert reached the webhook, naming the worker, its pid and the signal');
  t.match(alert, `its ${victim.devices} devices reconnect to the other workers`, 'and its devices');

  // Mine on for a moment across both again, then quiet.
  const settled = shares.length;
  await fleet.waitFor(() => shares.length >= settled + 20, WAIT);
  fleet.setHashrate(0);
  await sleep(1000);
  const s = fleet.stats();
  t.equal(s.totals.rejected, 0, `the proxy refused no valid share (${s.totals.accepted} accepted)`);
  t.ok(shares.every((e) => e.accepted), `the pool's judge accepted all ${shares.length} shares`);
  const summary = await proc.get<{ poolAccepted: number; poolRejected: number; poolUnanswered: number; poolUnansweredByCause: Record<string, number>; forwarded: number; inFlight: number; sessionsOpen: number }>('/api/summary');
  t.equal(summary.poolRejected, 0, 'no share called rejected by the pool');
  t.ok(summary.poolAccepted <= shares.length, `no share called accepted that the pool did not get (${summary.poolAccepted} <= ${shares.length})`);
  t.ok(shares.length <= summary.poolAccepted + summary.poolUnanswered, `the pool's shares not called accepted are among the dead worker's unanswered (${shares.length} <= ${summary.poolAccepted} + ${summary.poolUnanswered})`);
  t.equal(summary.poolAccepted + summary.poolUnanswered + summary.inFlight, summary.forwarded, 'every forwarded share has exactly one outcome');
  t.equal(summary.poolUnanswered, summary.poolUnansweredByCause['connection-lost'] ?? 0, "the dead worker's shares in flight are unanswered, cause connection-lost");
  t.equal(summary.sessionsOpen, 16, "the dead worker's sessions were closed in the books of the host");

  // The stop sends what the alerts still group: a worker's death is not its pool going down (the other
  // worker's connection to it stayed up).
  proc.child.kill('SIGTERM');
  t.same(await proc.exited, { code: 0, signal: null });
  const kinds = hooks.received.map((r) => JSON.stringify(r.body));
  t.notOk(kinds.some((k) => /pool\.down|is down/.test(k)), `no pool-down alert (${kinds.length} alert(s) sent)`);
});
