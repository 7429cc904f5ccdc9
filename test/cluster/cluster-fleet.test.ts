import t from 'tap';
import { clusterUntil, parseMetrics, startCluster, startFleet, startPool, WAIT } from './cluster-kit.js';
import { quiesce } from '../helpers/farm.js';
import { sleep } from '../helpers/wait.js';

/**
 * `start --workers 2` looks like one proxy: a fleet spreads across both workers (round-robin), /api/cluster
 * shows devices on both, and the one /metrics has every device once, with the farm's totals equal to the sums
 * of the per-device series. The pool and the fleet judge every share with their own code.
 */
t.test('a fleet across 2 workers: /api/cluster, /metrics with each device once and totals equal to the sums', async (t) => {
  const { pool, shares } = await startPool(t);
  const proc = await startCluster(t, pool);
  const fleet = await startFleet(t, proc.port);
  await fleet.whenMining(20, WAIT);

  // Devices are counted from the workers' events, readiness is each worker's own message (checked every 250 ms).
  const view = await clusterUntil(proc, (v) => v.workers.reduce((n, w) => n + w.devices, 0) === 20 && v.workers.every((w) => w.ready), '20 devices over the ready workers');
  t.equal(view.workers.length, 2, 'two workers');
  t.ok(view.workers.every((w) => w.devices > 0 && w.ready && w.pid !== null && w.pid !== proc.child.pid), `devices on both: ${view.workers.map((w) => w.devices).join(' + ')}`);
  t.same(view.workers.map((w) => w.incarnation).sort(), [1, 2], 'incarnations 1 and 2');
  t.not(view.workers[0]!.pid, view.workers[1]!.pid, 'two processes');
  t.same((await proc.get<{ status: string }>('/readyz')).status, 'ready');
  t.ok(view.workers.every((w) => typeof w.openFiles.soft === 'number' && typeof w.openFiles.hard === 'number' && w.startedAt > 0 && w.restarts === 0), 'each with its open-files limit, start time, no restart');

  // The start-up as an operator reads it: one line per worker (its open-files limit in it), the routes once.
  const listening = proc.logs.filter((l) => l.msg === 'proxy worker listening');
  t.same(listening.map((l) => l.proxyWorker).sort(), [0, 1], 'one start-up line per worker');
  t.ok(listening.every((l) => typeof (l.openFiles as { soft?: unknown } | undefined)?.soft === 'number' && l.routes === undefined), 'with its open-files limit, without the routes');
  t.equal(proc.logs.filter((l) => typeof l.proxyWorker === 'number' && /^open files/.test(l.msg) && l.level === 'info').length, 0, 'no separate open-files line of a worker');
  t.equal(proc.logs.filter((l) => l.routes !== undefined).length, 1, "the routes once, in the primary's line");
  t.ok(proc.logs.some((l) => l.msg === 'proxy listening' && l.proxyWorker === undefined && Array.isArray(l.routes)));
  t.notOk(proc.logs.some((l) => typeof l.worker === 'number'), "no line names a worker process in the field of a device's name (worker)");

  // Shares for a while, then quiet: every submit answered, so a scrape's numbers stand still.
  await fleet.waitFor((s) => s.totals.accepted >= 100, WAIT);
  const s = await quiesce(fleet);
  await sleep(1500);
  t.equal(s.totals.rejected, 0, 'the proxy refused no valid share');
  t.ok(shares.length > 0 && shares.every((e) => e.accepted), `the pool's judge accepted all ${shares.length} shares it got`);

  const rows = parseMetrics(await proc.text('/metrics'));
  const connected = rows.filter((r) => r.name === 'dash_proxy_device_connected');
  const workers = connected.map((r) => r.labels.worker!);
  t.equal(workers.length, 20, 'one device_connected series per device');
  t.equal(new Set(workers).size, 20, 'each device once');
  const sum = (name: string, pick: (l: Record<string, string>) => boolean = () => true) => rows.filter((r) => r.name === name && pick(r.labels)).reduce((n, r) => n + r.value, 0);
  const accepted = sum('dash_proxy_shares_total', (l) => l.result === 'accepted');
  t.equal(accepted, s.totals.accepted, "the farm's accepted shares are the fleet's");
  t.equal(sum('dash_proxy_device_shares_total', (l) => l.result === 'accepted'), accepted, 'the per-device accepted shares sum to the total');
  t.equal(sum('dash_proxy_devices_connected'), 20, 'devices_connected');
  t.equal(sum('dash_proxy_sessions_open'), 20, 'sessions_open');
  const upstream = sum('dash_proxy_device_upstream_shares_total', (l) => l.result === 'accepted');
  t.equal(upstream, shares.length, "the per-device pool-accepted shares sum to the pool's count");
  t.equal(sum('dash_proxy_workers'), 2, 'dash_proxy_workers: both running');
  const rss = rows.filter((r) => r.name === 'dash_proxy_process_resident_memory_bytes');
  t.same(rss.map((r) => r.labels.proxy_worker).sort(), ['0', '1', 'primary'], 'each process its own memory series, labelled proxy_worker');
  t.ok(rss.every((r) => r.labels.worker === undefined), "no process series has the devices' worker label");
  t.equal(new Set(rows.filter((r) => r.name === 'dash_proxy_device_shares_total' && r.labels.result === 'accepted').map((r) => r.labels.worker)).size, 20, 'every device has its share series once');
});
