import { gunzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { request } from 'undici';
import { EventBus, type PoolVerdict } from '../../src/core/events.js';
import { OwnerMap } from '../../src/books/owners.js';
import { FarmLedger, poolResultOf, type FarmLedgerOptions } from '../../src/observe/farm-ledger.js';
import { HttpServer } from '../../src/observe/http-server.js';
import { ProxyMetrics, type ProxyMetricsOptions } from '../../src/observe/metrics.js';
import { registerMetricsRoute } from '../../src/observe/metrics-route.js';
import { familyLines, seriesValue } from '../helpers/metrics-sut.js';
import { sleep } from '../helpers/wait.js';

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5);

function setup(t: Test, opts: ProxyMetricsOptions & Omit<FarmLedgerOptions, 'now'> = {}) {
  const bus = new EventBus();
  let now = T0;
  const { labelIp, version, processMetrics, ...ledgerOpts } = opts;
  const ledger = new FarmLedger(bus, { now: () => now, ...ledgerOpts });
  const metrics = new ProxyMetrics(bus, ledger, { processMetrics: processMetrics ?? false, ...(labelIp !== undefined && { labelIp }), ...(version !== undefined && { version }) });
  t.teardown(() => {
    metrics.close();
    ledger.close();
  });
  return {
    bus,
    ledger,
    metrics,
    setNow: (ms: number) => {
      now = ms;
    },
    render: () => metrics.render(),
    authorize: (worker: string, sessionId: number, at = now, ip = `10.0.0.${sessionId}`) => {
      bus.emit('device.connected', { sessionId, ip, at });
      bus.emit('device.authorized', { sessionId, worker, ip, at });
    },
    disconnect: (worker: string | null, sessionId: number, at = now, ip = `10.0.0.${sessionId}`) => bus.emit('device.disconnected', { sessionId, worker, ip, reason: 'closed', at }),
    accept: (worker: string, sessionId: number, difficulty: number, at = now, ip = `10.0.0.${sessionId}`) =>
      bus.emit('share.accepted', { sessionId, worker, route: 'default', target: 'default', ip, difficulty, shareDifficulty: difficulty * 2, meetsPool: false, meetsNetwork: false, at }),
  };
}

t.test('device metrics follow the device events', async (t) => {
  const s = setup(t);
  s.authorize('rig-1', 1);
  let text = await s.render();
  t.equal(seriesValue(text, 'dash_proxy_device_connected{worker="rig-1",owner="farm"}'), 1, 'connected after authorize');
  t.equal(seriesValue(text, 'dash_proxy_devices_connected'), 1);
  t.equal(seriesValue(text, 'dash_proxy_devices_offline'), 0);
  t.equal(seriesValue(text, 'dash_proxy_sessions_open'), 1);
  t.equal(seriesValue(text, 'dash_proxy_device_shares_total{worker="rig-1",owner="farm",result="accepted"}'), 0, 'accepted exported at 0');
  for (const r of ['invalid', 'stale', 'duplicate', 'low_difficulty']) {
    t.equal(seriesValue(text, `dash_proxy_device_shares_total{worker="rig-1",owner="farm",result="${r}"}`), 0, `${r} exported at 0 so rate() sees the first one`);
  }
  t.equal(seriesValue(text, 'dash_proxy_device_shares_total{worker="rig-1",owner="farm",result="unauthorized"}'), undefined, 'rare reasons only once seen');
  t.equal(seriesValue(text, 'dash_proxy_device_last_share_timestamp_seconds{worker="rig-1",owner="farm"}'), undefined, 'no last-share time before a share');
  t.equal(seriesValue(text, 'dash_proxy_device_difficulty{worker="rig-1",owner="farm"}'), 0);

  s.bus.emit('device.difficulty', { sessionId: 1, worker: 'rig-1', difficulty: 512, at: T0 });
  s.accept('rig-1', 1, 512, T0 + 1000);
  s.accept('rig-1', 1, 512, T0 + 2000);
  s.bus.emit('device.difficulty', { sessionId: 1, worker: 'rig-1', difficulty: 1024.5, at: T0 });
  s.accept('rig-1', 1, 1024.5, T0 + 3500);
  s.bus.emit('share.rejected', { sessionId: 1, worker: 'rig-1', ip: '10.0.0.1', reason: 'stale', code: 21, message: 'Job not found', at: T0 });
  s.bus.emit('share.rejected', { sessionId: 1, worker: 'rig-1', ip: '10.0.0.1', reason: 'stale', code: 21, message: 'Job not found', at: T0 });
  s.bus.emit('share.rejected', { sessionId: 1, worker: 'rig-1', ip: '10.0.0.1', reason: 'unauthorized', code: 24, message: 'x', at: T0 });
  for (let k = 0; k < 3; k++) s.bus.emit('share.forwarded', { sessionId: 1, worker: 'rig-1', route: 'default', target: 'default', connection: 0, pool: 'main', shareId: 0, jobId: '1', difficulty: 1, shareDifficulty: 1, networkDifficulty: 1e6, blockHash: null, at: T0 });
  s.bus.emit('share.upstream', { sessionId: 1, worker: 'rig-1', route: 'default', target: 'default', connection: 0, pool: 'main', shareId: 0, verdict: { kind: 'accepted' }, latencyMs: 40, at: T0 });
  s.bus.emit('share.upstream', { sessionId: 1, worker: 'rig-1', route: 'default', target: 'default', connection: 0, pool: 'main', shareId: 0, verdict: { kind: 'rejected', code: 22, reason: 'Duplicate share' }, latencyMs: 60, at: T0 });
  text = await s.render();
  t.equal(seriesValue(text, 'dash_proxy_device_shares_total{worker="rig-1",owner="farm",result="accepted"}'), 3);
  t.equal(seriesValue(text, 'dash_proxy_device_shares_total{worker="rig-1",owner="farm",result="stale"}'), 2);
  t.equal(seriesValue(text, 'dash_proxy_device_shares_total{worker="rig-1",owner="farm",result="unauthorized"}'), 1);
  t.equal(seriesValue(text, 'dash_proxy_device_shares_total{worker="rig-1",owner="farm",result="duplicate"}'), 0);
  t.equal(seriesValue(text, 'dash_proxy_device_work_total{worker="rig-1",owner="farm"}'), 512 + 512 + 1024.5, 'work = sum of credited difficulties');
  t.equal(seriesValue(text, 'dash_proxy_device_difficulty{worker="rig-1",owner="farm"}'), 1024.5);
  t.equal(seriesValue(text, 'dash_proxy_device_last_share_timestamp_seconds{worker="rig-1",owner="farm"}'), (T0 + 3500) / 1000);
  t.equal(seriesValue(text, 'dash_proxy_device_upstream_shares_total{worker="rig-1",owner="farm",result="accepted"}'), 1);
  t.equal(seriesValue(text, 'dash_proxy_device_upstream_shares_total{worker="rig-1",owner="farm",result="rejected"}'), 1);
  t.equal(seriesValue(text, 'dash_proxy_device_upstream_shares_total{worker="rig-1",owner="farm",result="unanswered"}'), 0);
  // Farm-wide counters move with them.
  t.equal(seriesValue(text, 'dash_proxy_forwarded_shares_total'), 3);
  t.equal(seriesValue(text, 'dash_proxy_upstream_in_flight_shares'), 1, 'forwarded, no verdict yet');
  t.equal(seriesValue(text, 'dash_proxy_upstream_connection_shares_total{connection="0",route="default",target="default",result="duplicate"}'), 1);
  t.equal(seriesValue(text, 'dash_proxy_shares_total{result="accepted"}'), 3);
  t.equal(seriesValue(text, 'dash_proxy_shares_total{result="stale"}'), 2);
  t.equal(seriesValue(text, 'dash_proxy_work_total'), 2048.5);
  t.equal(seriesValue(text, 'dash_proxy_upstream_shares_total{pool="main",route="default",target="default",result="accepted"}'), 1);
  t.equal(seriesValue(text, 'dash_proxy_upstream_shares_total{pool="main",route="default",target="default",result="duplicate"}'), 1);
  t.equal(seriesValue(text, 'dash_proxy_upstream_submit_seconds_count{pool="main",route="default",target="default"}'), 2);
  t.equal(seriesValue(text, 'dash_proxy_upstream_submit_seconds_sum{pool="main",route="default",target="default"}'), 0.1);
  t.equal(seriesValue(text, 'dash_proxy_upstream_submit_seconds_bucket{le="0.05",pool="main",route="default",target="default"}'), 1, '40 ms is under 50 ms, 60 ms is not');

  s.disconnect('rig-1', 1);
  text = await s.render();
  t.equal(seriesValue(text, 'dash_proxy_device_connected{worker="rig-1",owner="farm"}'), 0, 'offline but still exported');
  t.equal(seriesValue(text, 'dash_proxy_devices_connected'), 0);
  t.equal(seriesValue(text, 'dash_proxy_devices_offline'), 1);
  t.equal(seriesValue(text, 'dash_proxy_sessions_open'), 0);
  t.equal(seriesValue(text, 'dash_proxy_device_shares_total{worker="rig-1",owner="farm",result="accepted"}'), 3, 'counters kept while offline');
});

t.test('rejections of unknown or missing workers count for the farm only', async (t) => {
  const s = setup(t);
  s.bus.emit('share.rejected', { sessionId: 7, worker: null, ip: '10.0.0.7', reason: 'not_subscribed', code: 25, message: 'Not subscribed', at: T0 });
  s.bus.emit('share.rejected', { sessionId: 8, worker: 'never-authorized', ip: '10.0.0.8', reason: 'unauthorized', code: 24, message: 'Unauthorized worker', at: T0 });
  s.bus.emit('share.upstream', { sessionId: 8, worker: 'never-authorized', route: 'default', target: 'default', connection: 0, pool: 'main', shareId: 0, verdict: { kind: 'accepted' }, latencyMs: 5, at: T0 });
  const text = await s.render();
  t.equal(seriesValue(text, 'dash_proxy_shares_total{result="not_subscribed"}'), 1);
  t.equal(seriesValue(text, 'dash_proxy_shares_total{result="unauthorized"}'), 1);
  t.notOk(text.includes('never-authorized'), 'no series for a name that never authorized');
  t.equal(familyLines(text, 'dash_proxy_device_shares_total').length, 0);
});

t.test('pool, job, block and limit metrics', async (t) => {
  const s = setup(t, { version: '9.8.7' });
  const at = T0;
  s.bus.emit('pool.connections', { count: 3, at });
  s.bus.emit('pool.up', { route: 'default', target: 'default', connection: 0, pool: 'main', url: 'stratum+tcp://a:1', at });
  s.bus.emit('pool.up', { route: 'default', target: 'default', connection: 0, pool: 'backup', url: 'stratum+tcp://b:1', at });
  s.bus.emit('pool.switch', { route: 'default', target: 'default', connection: 0, from: null, to: 'main', reason: 'start', at });
  s.bus.emit('pool.up', { route: 'default', target: 'default', connection: 1, pool: 'main', url: 'stratum+tcp://a:1', at });
  s.bus.emit('pool.switch', { route: 'default', target: 'default', connection: 1, from: null, to: 'main', reason: 'start', at });
  let text = await s.render();
  t.equal(seriesValue(text, 'dash_proxy_upstream_connection_up{connection="0",route="default",target="default",pool="main"}'), 1);
  t.equal(seriesValue(text, 'dash_proxy_upstream_connection_active{connection="1",route="default",target="default",pool="main"}'), 1);
  t.equal(seriesValue(text, 'dash_proxy_upstream_connection_up{connection="2",route="",target="",pool=""}'), 0, 'a connection not up yet');
  t.equal(seriesValue(text, 'dash_proxy_build_info{version="9.8.7"}'), 1);
  t.equal(seriesValue(text, 'dash_proxy_upstream_connections'), 3);
  t.equal(seriesValue(text, 'dash_proxy_upstream_up{pool="main",route="default",target="default"}'), 1);
  t.equal(seriesValue(text, 'dash_proxy_upstream_up{pool="backup",route="default",target="default"}'), 1);
  t.equal(seriesValue(text, 'dash_proxy_upstream_active{pool="main",route="default",target="default"}'), 1);
  t.equal(seriesValue(text, 'dash_proxy_upstream_active{pool="backup",route="default",target="default"}'), 0);
  t.equal(seriesValue(text, 'dash_proxy_upstream_switches_total{to="main",route="default",target="default"}'), undefined, 'the first pool mined on is no failover');

  s.bus.emit('pool.down', { route: 'default', target: 'default', connection: 0, pool: 'main', url: 'stratum+tcp://a:1', reason: 'connection reset', at });
  s.bus.emit('pool.switch', { route: 'default', target: 'default', connection: 0, from: 'main', to: 'backup', reason: 'main down', at });
  s.bus.emit('job.fanout', { jobId: '1', clean: true, devices: 10, seconds: 0.003, at });
  s.bus.emit('job.fanout', { jobId: '2', clean: false, devices: 10, seconds: 0.3, at });
  s.bus.emit('block.candidate', { sessionId: 1, worker: 'w', pool: 'backup', jobId: '2', hash: '00', shareDifficulty: 9, networkDifficulty: 8, at });
  s.bus.emit('limit.refused', { cause: 'max_devices', ip: '10.0.0.1', at });
  s.bus.emit('limit.refused', { cause: 'max_devices', ip: '10.0.0.2', at });
  s.bus.emit('share.forwarded', { sessionId: 1, worker: 'w', route: 'default', target: 'default', connection: 0, pool: 'backup', shareId: 0, jobId: '1', difficulty: 1, shareDifficulty: 1, networkDifficulty: 1e6, blockHash: null, at });
  s.bus.emit('share.upstream', { sessionId: 1, worker: 'w', route: 'default', target: 'default', connection: 0, pool: 'backup', shareId: 0, verdict: { kind: 'unanswered', cause: 'timeout', reason: 'pool did not answer in time' }, latencyMs: 10_000, at });
  text = await s.render();
  t.equal(seriesValue(text, 'dash_proxy_upstream_up{pool="main",route="default",target="default"}'), 1, 'connection 1 is still up on main');
  t.equal(seriesValue(text, 'dash_proxy_upstream_active{pool="main",route="default",target="default"}'), 1, 'connection 1 still mines on main');
  t.equal(seriesValue(text, 'dash_proxy_upstream_connection_up{connection="0",route="default",target="default",pool="backup"}'), 1, 'connection 0 switched to backup, which it had up');
  t.equal(seriesValue(text, 'dash_proxy_upstream_connection_up{connection="0",route="default",target="default",pool="main"}'), undefined, 'a connection shows only the pool it is on');
  s.bus.emit('pool.down', { route: 'default', target: 'default', connection: 1, pool: 'main', url: 'stratum+tcp://a:1', reason: 'connection reset', at });
  text = await s.render();
  t.equal(seriesValue(text, 'dash_proxy_upstream_up{pool="main",route="default",target="default"}'), 0);
  t.equal(seriesValue(text, 'dash_proxy_upstream_active{pool="main",route="default",target="default"}'), 0);
  t.equal(seriesValue(text, 'dash_proxy_upstream_active{pool="backup",route="default",target="default"}'), 1);
  t.equal(seriesValue(text, 'dash_proxy_upstream_switches_total{to="backup",route="default",target="default"}'), 1);
  t.equal(seriesValue(text, 'dash_proxy_notify_fanout_seconds_count'), 2);
  t.equal(seriesValue(text, 'dash_proxy_notify_fanout_seconds_bucket{le="0.005"}'), 1);
  t.equal(seriesValue(text, 'dash_proxy_notify_fanout_seconds_bucket{le="0.5"}'), 2);
  t.equal(seriesValue(text, 'dash_proxy_block_candidates_total'), 1);
  t.equal(seriesValue(text, 'dash_proxy_connections_refused_total{cause="max_devices"}'), 2);
  t.equal(seriesValue(text, 'dash_proxy_upstream_shares_total{pool="backup",route="default",target="default",result="timeout"}'), 1);
  t.equal(seriesValue(text, 'dash_proxy_upstream_submit_seconds_count{pool="backup",route="default",target="default"}'), undefined, 'a timeout is not a round trip');
});

t.test('block candidates counter and farm shares exist at 0 before anything happens', async (t) => {
  const s = setup(t);
  const text = await s.render();
  t.equal(seriesValue(text, 'dash_proxy_block_candidates_total'), 0);
  t.equal(seriesValue(text, 'dash_proxy_shares_total{result="accepted"}'), 0);
  t.equal(seriesValue(text, 'dash_proxy_work_total'), 0);
  t.equal(seriesValue(text, 'dash_proxy_devices_connected'), 0);
});

t.test("the pool's verdicts become a bounded result label, from its code or the cause, never from its words", async (t) => {
  const cases: [Parameters<typeof poolResultOf>[0], string][] = [
    [{ kind: 'accepted' }, 'accepted'],
    [{ kind: 'rejected', code: 21, reason: 'Job not found' }, 'stale'],
    [{ kind: 'rejected', code: 21, reason: 'Stale share' }, 'stale'],
    [{ kind: 'rejected', code: 22, reason: 'Duplicate share' }, 'duplicate'],
    [{ kind: 'rejected', code: 23, reason: 'Low difficulty share' }, 'low_difficulty'],
    [{ kind: 'rejected', code: 23, reason: 'Above target' }, 'low_difficulty'],
    [{ kind: 'rejected', code: 24, reason: 'Unauthorized worker' }, 'unauthorized'],
    [{ kind: 'unanswered', cause: 'timeout', reason: 'pool did not answer in time' }, 'timeout'],
    [{ kind: 'unanswered', cause: 'connection-lost', reason: 'pool connection lost' }, 'connection_lost'],
    [{ kind: 'unanswered', cause: 'no-pool', reason: 'no pool connection' }, 'no_pool'],
    [{ kind: 'rejected', code: 20, reason: 'Invalid nonce' }, 'other'],
    [{ kind: 'rejected', code: 20, reason: 'submit timed out' }, 'other'],
    [{ kind: 'rejected', code: 25, reason: 'Not subscribed' }, 'other'],
  ];
  for (const [verdict, expected] of cases) t.equal(poolResultOf(verdict), expected, `${JSON.stringify(verdict)} -> ${expected}`);
});

t.test('retention: series of a disconnected worker are removed after retentionSeconds, not before', async (t) => {
  const forgotten: string[] = [];
  const s = setup(t, { retentionSeconds: 60 });
  s.ledger.onForget((w) => forgotten.push(w));
  s.authorize('rig-1', 1);
  s.authorize('rig-2', 2);
  s.accept('rig-1', 1, 100);
  s.disconnect('rig-1', 1, T0);
  t.same(s.ledger.sweep(T0 + 59_999), [], 'kept until the time is up');
  t.equal(seriesValue(await s.render(), 'dash_proxy_device_connected{worker="rig-1",owner="farm"}'), 0);
  t.same(s.ledger.sweep(T0 + 60_000), ['rig-1'], 'removed when the time is up');
  t.same(forgotten, ['rig-1'], 'onForget called for it');
  const text = await s.render();
  t.notOk(text.includes('worker="rig-1"'), 'no series of rig-1 left');
  t.equal(seriesValue(text, 'dash_proxy_device_connected{worker="rig-2",owner="farm"}'), 1, 'an online worker is never removed');
  t.same(s.ledger.sweep(T0 + 10 * 86_400_000), [], 'however long it has been online');
  t.equal(seriesValue(text, 'dash_proxy_devices_offline'), 0);
  t.equal(seriesValue(text, 'dash_proxy_shares_total{result="accepted"}'), 1, 'farm totals keep what the worker did');

  // Back after its series expired: it starts again from zero (a counter reset to Prometheus).
  s.authorize('rig-1', 3, T0 + 70_000);
  s.accept('rig-1', 3, 100, T0 + 71_000);
  t.equal(seriesValue(await s.render(), 'dash_proxy_device_shares_total{worker="rig-1",owner="farm",result="accepted"}'), 1);
});

t.test('retention: a worker that reconnects in time continues its counters', async (t) => {
  const s = setup(t, { retentionSeconds: 60 });
  s.authorize('rig-1', 1);
  s.accept('rig-1', 1, 100);
  s.accept('rig-1', 1, 100);
  s.disconnect('rig-1', 1, T0);
  s.authorize('rig-1', 2, T0 + 30_000, '10.0.0.99');
  t.same(s.ledger.sweep(T0 + 120_000), [], 'not removed: it is back');
  s.accept('rig-1', 2, 50, T0 + 121_000);
  const text = await s.render();
  t.equal(seriesValue(text, 'dash_proxy_device_shares_total{worker="rig-1",owner="farm",result="accepted"}'), 3);
  t.equal(seriesValue(text, 'dash_proxy_device_work_total{worker="rig-1",owner="farm"}'), 250);
  t.equal(seriesValue(text, 'dash_proxy_device_connected{worker="rig-1",owner="farm"}'), 1);

  // Two sessions under one name: offline only when both are gone, and the clock starts at the last.
  s.authorize('rig-1', 3, T0 + 122_000);
  s.disconnect('rig-1', 2, T0 + 123_000);
  t.equal(seriesValue(await s.render(), 'dash_proxy_device_connected{worker="rig-1",owner="farm"}'), 1, 'one session left');
  s.disconnect('rig-1', 3, T0 + 130_000);
  t.same(s.ledger.sweep(T0 + 189_999), []);
  t.same(s.ledger.sweep(T0 + 190_000), ['rig-1']);
  // A duplicate disconnect (or one for a session never authorized) changes nothing.
  s.disconnect('rig-1', 3, T0 + 191_000);
  s.disconnect(null, 9, T0 + 191_000);
  t.equal(seriesValue(await s.render(), 'dash_proxy_devices_offline'), 0);
});

t.test('retention runs by itself on a timer, and the API and the metrics forget the worker at the same time', async (t) => {
  const bus = new EventBus();
  const stats = new FarmLedger(bus, { retentionSeconds: 0.2, sweepIntervalSeconds: 0.05 });
  const metrics = new ProxyMetrics(bus, stats, { processMetrics: false });
  t.teardown(() => {
    metrics.close();
    stats.close();
  });
  const at = Date.now();
  bus.emit('device.authorized', { sessionId: 1, worker: 'rig-x', ip: '10.0.0.1', at });
  bus.emit('share.accepted', { sessionId: 1, worker: 'rig-x', route: 'default', target: 'default', ip: '10.0.0.1', difficulty: 1, shareDifficulty: 1, meetsPool: false, meetsNetwork: false, at });
  bus.emit('device.disconnected', { sessionId: 1, worker: 'rig-x', ip: '10.0.0.1', reason: 'closed', at: Date.now() });
  t.ok(stats.slotOf('rig-x') >= 0);
  t.ok((await metrics.render()).includes('worker="rig-x"'), 'still there right after disconnecting');
  const deadline = Date.now() + 20_000;
  while (stats.slotOf('rig-x') >= 0 && Date.now() < deadline) await sleep(20);
  t.equal(stats.device('rig-x'), null, 'the ledger forgot it');
  t.notOk((await metrics.render()).includes('worker="rig-x"'), 'its series are gone');
  t.ok(Date.now() - at >= 200, 'not before the retention time');
});

t.test('the ip label option', async (t) => {
  const s = setup(t, { labelIp: true });
  s.authorize('rig-1', 1, T0, '192.168.1.20');
  s.accept('rig-1', 1, 64, T0, '192.168.1.20');
  s.bus.emit('share.upstream', { sessionId: 1, worker: 'rig-1', route: 'default', target: 'default', connection: 0, pool: 'main', shareId: 0, verdict: { kind: 'accepted' }, latencyMs: 5, at: T0 });
  let text = await s.render();
  t.equal(seriesValue(text, 'dash_proxy_device_shares_total{worker="rig-1",owner="farm",ip="192.168.1.20",result="accepted"}'), 1);
  t.equal(seriesValue(text, 'dash_proxy_device_work_total{worker="rig-1",owner="farm",ip="192.168.1.20"}'), 64);
  t.equal(seriesValue(text, 'dash_proxy_device_connected{worker="rig-1",owner="farm",ip="192.168.1.20"}'), 1);
  t.equal(seriesValue(text, 'dash_proxy_device_upstream_shares_total{worker="rig-1",owner="farm",ip="192.168.1.20",result="accepted"}'), 1);
  for (const name of ['dash_proxy_device_shares_total', 'dash_proxy_device_work_total', 'dash_proxy_device_difficulty', 'dash_proxy_device_connected', 'dash_proxy_device_upstream_shares_total', 'dash_proxy_device_last_share_timestamp_seconds']) {
    const lines = familyLines(text, name);
    t.ok(lines.length > 0 && lines.every((l) => l.includes('ip="192.168.1.20"')), `${name} carries the ip`);
  }
  // Moved to another address: same counters, new label value.
  s.disconnect('rig-1', 1, T0, '192.168.1.20');
  s.authorize('rig-1', 2, T0, '192.168.1.21');
  text = await s.render();
  t.equal(seriesValue(text, 'dash_proxy_device_work_total{worker="rig-1",owner="farm",ip="192.168.1.21"}'), 64);
  t.notOk(text.includes('192.168.1.20'));

  const plain = setup(t);
  plain.authorize('rig-1', 1, T0, '192.168.1.20');
  t.notOk((await plain.render()).includes('ip="'), 'no ip label without the option');
});

t.test('label values are escaped', async (t) => {
  const s = setup(t);
  s.authorize('a"b\\c\nd', 1);
  const text = await s.render();
  t.equal(seriesValue(text, 'dash_proxy_device_connected{worker="a\\"b\\\\c\\nd",owner="farm"}'), 1);
});

t.test('chunked rendering equals prom-client rendering every family whole', async (t) => {
  const s = setup(t, { retentionSeconds: 1 });
  // Enough devices for several chunks, with holes where workers were removed.
  for (let i = 0; i < 1300; i++) {
    s.authorize(`rig-${i}`, i + 1);
    if (i % 3 === 0) s.accept(`rig-${i}`, i + 1, i + 0.5);
  }
  for (let i = 0; i < 1300; i += 7) s.disconnect(`rig-${i}`, i + 1, T0);
  s.ledger.sweep(T0 + 1000);
  for (let i = 1300; i < 1310; i++) s.authorize(`rig-${i}`, i + 1); // reuse freed slots
  const text = await s.render();
  t.equal(text, await s.metrics.registry.metrics(), 'identical to Registry.metrics()');
  t.equal(text.split('\n').filter((l) => l === '# TYPE dash_proxy_device_connected gauge').length, 1, 'one TYPE line per family');
  const expectedDevices = 1300 - Math.ceil(1300 / 7) + 10;
  t.equal(familyLines(text, 'dash_proxy_device_connected').length, expectedDevices, 'every live device once');
  t.equal(familyLines(text, 'dash_proxy_device_last_share_timestamp_seconds').length, [...Array(1300).keys()].filter((i) => i % 3 === 0 && i % 7 !== 0).length);
});

t.test('events after close() change nothing; bad options are refused', async (t) => {
  const s = setup(t);
  s.metrics.close();
  s.ledger.close();
  s.authorize('late', 1);
  s.bus.emit('job.fanout', { jobId: '1', clean: true, devices: 1, seconds: 0.001, at: T0 });
  const text = await s.render();
  t.notOk(text.includes('late'));
  t.equal(seriesValue(text, 'dash_proxy_notify_fanout_seconds_count'), 0);
  t.throws(() => new FarmLedger(new EventBus(), { retentionSeconds: -1 }), /retentionSeconds/);
  t.throws(() => new FarmLedger(new EventBus(), { sweepIntervalSeconds: 0 }), /sweepIntervalSeconds/);
});

t.test('process metrics carry the prefix, without the gauges named *_total', async (t) => {
  const bus = new EventBus();
  const ledger = new FarmLedger(bus);
  const metrics = new ProxyMetrics(bus, ledger);
  t.teardown(() => {
    metrics.close();
    ledger.close();
  });
  const text = await metrics.render();
  t.ok(seriesValue(text, 'dash_proxy_process_resident_memory_bytes')! > 0);
  t.match(text, /^dash_proxy_process_cpu_seconds_total \d/m);
  t.notMatch(text, /^# TYPE \S+_total gauge$/m);
  t.notMatch(text, /^(?!dash_proxy_|#)\S/m, 'every sample starts with dash_proxy_');
});

t.test('GET /metrics serves the text, gzip when asked, behind the token', async (t) => {
  const bus = new EventBus();
  const ledger = new FarmLedger(bus);
  const metrics = new ProxyMetrics(bus, ledger, { processMetrics: false });
  const http = new HttpServer({ host: '127.0.0.1', port: 0, token: 'tok' });
  registerMetricsRoute(http, metrics);
  const { port } = await http.listen();
  t.teardown(async () => {
    metrics.close();
    ledger.close();
    await http.close();
  });
  for (let i = 0; i < 600; i++) bus.emit('device.authorized', { sessionId: i, worker: `rig-${i}`, ip: '10.0.0.1', at: T0 });
  const url = `http://127.0.0.1:${port}/metrics`;
  const expected = await metrics.render();

  const denied = await request(url);
  t.equal(denied.statusCode, 401);
  await denied.body.dump();

  const plain = await request(url, { headers: { authorization: 'Bearer tok' } });
  t.equal(plain.statusCode, 200);
  t.match(String(plain.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  t.equal(plain.headers['content-encoding'], undefined);
  t.equal(await plain.body.text(), expected);

  const zipped = await request(`${url}?token=tok`, { headers: { 'accept-encoding': 'gzip' } });
  t.equal(zipped.statusCode, 200);
  t.equal(zipped.headers['content-encoding'], 'gzip');
  t.equal(gunzipSync(Buffer.from(await zipped.body.arrayBuffer())).toString('utf8'), expected);

  const head = await request(url, { method: 'HEAD', headers: { authorization: 'Bearer tok' } });
  t.equal(head.statusCode, 200);
  t.equal(await head.body.text(), '');
});

t.test('a worker appears once per scrape even when devices come and go while it is rendered', async (t) => {
  const bus = new EventBus();
  const ledger = new FarmLedger(bus, { retentionSeconds: 0, sweepIntervalSeconds: 0.005 });
  const metrics = new ProxyMetrics(bus, ledger, { processMetrics: false });
  t.teardown(() => {
    metrics.close();
    ledger.close();
  });
  const n = 1200;
  const at = () => Date.now();
  for (let i = 0; i < n; i++) bus.emit('device.authorized', { sessionId: i, worker: `rig-${i}`, ip: '10.0.0.1', at: at() });
  const pieces: string[] = [];
  let churn = 0;
  for await (const piece of metrics.pieces()) {
    pieces.push(piece);
    // Between pieces: an early and a late worker leave (retention 0: a sweep would remove both at once,
    // freeing an early and a late slot) and come back, the early one first (it would take the late slot).
    for (let k = 0; k < 2; k++, churn++) {
      const early = `rig-${churn % 200}`;
      const late = `rig-${1000 + (churn % 200)}`;
      for (const worker of [early, late]) bus.emit('device.disconnected', { sessionId: churn, worker, ip: '10.0.0.1', reason: 'closed', at: at() });
      await sleep(15);
      for (const worker of [early, late]) bus.emit('device.authorized', { sessionId: churn, worker, ip: '10.0.0.1', at: at() });
    }
  }
  const text = pieces.join('');
  for (const family of ['dash_proxy_device_connected', 'dash_proxy_device_work_total']) {
    const workers = familyLines(text, family).map((l) => /worker="([^"]+)"/.exec(l)![1]);
    t.equal(new Set(workers).size, workers.length, `${family}: no worker twice`);
    t.equal(workers.length, n, `${family}: every worker once`);
  }
  t.ok(churn > 0);
});

t.test('owner label: every per-device series names the owner; a new map relabels the device from then on', async (t) => {
  const s = setup(t, { owners: OwnerMap.compile({ alice: { workers: ['rack3.*'], feePercent: 0 } }, { farmOwner: 'farm' }), labelIp: true });
  s.authorize('rack3.a1', 1);
  s.authorize('alice.s19', 2);
  s.authorize('rig-9', 3);
  s.accept('rack3.a1', 1, 64);
  s.accept('alice.s19', 2, 32);
  let text = await s.render();
  t.equal(seriesValue(text, 'dash_proxy_device_work_total{worker="rack3.a1",owner="alice",ip="10.0.0.1"}'), 64, 'by pattern');
  t.equal(seriesValue(text, 'dash_proxy_device_work_total{worker="alice.s19",owner="alice",ip="10.0.0.2"}'), 32, 'by owner.worker');
  t.equal(seriesValue(text, 'dash_proxy_device_connected{worker="rig-9",owner="farm",ip="10.0.0.3"}'), 1, 'the farm owns the rest');
  for (const family of ['dash_proxy_device_shares_total', 'dash_proxy_device_work_total', 'dash_proxy_device_difficulty', 'dash_proxy_device_connected', 'dash_proxy_device_upstream_shares_total']) {
    const lines = familyLines(text, family);
    t.ok(lines.length >= 3 && lines.every((l) => /,owner="(alice|farm)"/.test(l)), `${family}: every series has an owner label`);
  }

  s.ledger.setOwners(OwnerMap.compile({ bob: { workers: ['rack3.*'], feePercent: 0 } }, { farmOwner: 'farm' }));
  text = await s.render();
  t.equal(seriesValue(text, 'dash_proxy_device_work_total{worker="rack3.a1",owner="bob",ip="10.0.0.1"}'), 64, 'rack3.a1 is now exported under bob');
  t.equal(seriesValue(text, 'dash_proxy_device_work_total{worker="alice.s19",owner="farm",ip="10.0.0.2"}'), 32, 'alice is no owner any more: the farm');
  t.notOk(
    text.split('\n').some((l) => l.startsWith('dash_proxy_device_') && l.includes('owner="alice"')),
    'no per-device series under the old owner (Prometheus keeps its history)',
  );
  t.equal(seriesValue(text, 'dash_proxy_owner_work_total{owner="alice"}'), 96, "the owner family keeps what was credited to alice");
  t.equal(seriesValue(text, 'dash_proxy_owner_work_total{owner="bob"}'), 0, 'bob has had no share since the change');
});

t.test('per-owner families: shares, work, forwarded, the pool verdicts and in flight, credited at the time of each share', async (t) => {
  const s = setup(t, { owners: OwnerMap.compile({ alice: { workers: ['rack3.*'], feePercent: 0 } }, { farmOwner: 'farm' }) });
  s.authorize('rack3.a1', 1);
  s.authorize('rig-9', 2);
  const forward = (worker: string, shareId: number) =>
    s.bus.emit('share.forwarded', { sessionId: 1, worker, route: 'default', target: 'default', connection: 0, pool: 'main', shareId, jobId: 'j', difficulty: 8, shareDifficulty: 9, networkDifficulty: 1e6, blockHash: null, at: T0 });
  const verdict = (worker: string, shareId: number, verdict: PoolVerdict) =>
    s.bus.emit('share.upstream', { sessionId: 1, worker, route: 'default', target: 'default', connection: 0, pool: 'main', shareId, verdict, latencyMs: 3, at: T0 });
  for (let i = 1; i <= 3; i++) {
    s.accept('rack3.a1', 1, 8);
    forward('rack3.a1', i);
  }
  s.accept('rig-9', 2, 4);
  forward('rig-9', 4);
  s.bus.emit('share.rejected', { sessionId: 2, worker: 'rig-9', ip: '10.0.0.2', reason: 'stale', code: 21, message: 'stale', at: T0 });
  verdict('rack3.a1', 1, { kind: 'accepted' });
  verdict('rack3.a1', 2, { kind: 'rejected', code: 21, reason: 'stale' });
  verdict('rig-9', 4, { kind: 'unanswered', cause: 'timeout', reason: 'no answer' });
  const text = await s.render();
  const v = (series: string) => seriesValue(text, `dash_proxy_${series}`);
  t.equal(v('owner_shares_total{owner="alice",result="accepted"}'), 3);
  t.equal(v('owner_shares_total{owner="farm",result="rejected"}'), 1);
  t.equal(v('owner_work_total{owner="alice"}'), 24);
  t.equal(v('owner_work_total{owner="farm"}'), 4);
  t.equal(v('owner_forwarded_shares_total{owner="alice"}'), 3);
  t.equal(v('owner_upstream_shares_total{owner="alice",result="accepted"}'), 1);
  t.equal(v('owner_upstream_shares_total{owner="alice",result="stale"}'), 1);
  t.equal(v('owner_upstream_shares_total{owner="farm",result="timeout"}'), 1);
  t.equal(v('owner_in_flight_shares{owner="alice"}'), 1);
  t.equal(v('owner_in_flight_shares{owner="farm"}'), 0);
  t.equal(v('owner_block_candidates_total{owner="alice"}'), 0);
  for (const owner of ['alice', 'farm']) {
    const verdicts = familyLines(text, 'dash_proxy_owner_upstream_shares_total').filter((l) => l.includes(`owner="${owner}"`)).reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
    t.equal(v(`owner_forwarded_shares_total{owner="${owner}"}`), verdicts + v(`owner_in_flight_shares{owner="${owner}"}`)!, `${owner}: forwarded = the verdicts + in flight`);
  }
});
