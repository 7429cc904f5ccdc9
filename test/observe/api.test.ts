import t, { type Test } from 'tap';
import { request } from 'undici';
import { OwnerMap } from '../../src/books/owners.js';
import type { RouteSpec } from '../../src/routing/types.js';
import { registerApiRoutes } from '../../src/observe/api.js';
import { EventBus, type ProxyEventMap } from '../../src/core/events.js';
import { FarmLedger } from '../../src/observe/farm-ledger.js';
import { HttpServer } from '../../src/observe/http-server.js';
import { ProxyMetrics } from '../../src/observe/metrics.js';
import { registerMetricsRoute } from '../../src/observe/metrics-route.js';
import { seriesValue } from '../helpers/metrics-sut.js';

/** Expected hashes per difficulty-1 share: 2^256 / (0xFFFF * 2^208 + 1), about 2^48 / 0xFFFF. */
const HASHES_PER_DIFF1 = 2 ** 48 / 0xffff;
/** A fixed "now", on a 10-second boundary plus 5 s. */
const NOW = Date.UTC(2026, 5, 1, 12, 0, 5);

async function start(t: Test, token?: string, owners?: OwnerMap, routes?: () => readonly RouteSpec[]) {
  const bus = new EventBus();
  // The clock follows the events as they are emitted (as in real time), then stays at NOW.
  let now = NOW;
  const clock = () => now;
  const stats = new FarmLedger(bus, { now: clock, ...(owners && { owners }), ...(routes && { routes }) });
  const metrics = new ProxyMetrics(bus, stats, { processMetrics: false });
  const http = new HttpServer({ host: '127.0.0.1', port: 0, token });
  registerApiRoutes(http, stats, { now: clock });
  registerMetricsRoute(http, metrics);
  const { port } = await http.listen();
  t.teardown(async () => {
    metrics.close();
    stats.close();
    await http.close();
  });
  const base = `http://127.0.0.1:${port}`;
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await request(`${base}${path}`, { headers });
    const text = await res.body.text();
    return { status: res.statusCode, text, json: () => JSON.parse(text) as any };
  };
  /** Emit the farm's history in time order, the clock at each event's time, then set it to NOW. */
  const replay = (events: Timed[]) => {
    for (const e of [...events].sort((a, b) => a.at - b.at)) {
      now = e.at;
      e.emit();
    }
    now = NOW;
  };
  return { bus, stats, metrics, get, replay };
}

interface Timed {
  at: number;
  emit: () => void;
}

/** Four devices: rig-a mines 30 shares of difficulty 1000 in the last 5 minutes, rig-b a few, rig-c went offline. */
function farm(bus: EventBus): Timed[] {
  const out: Timed[] = [];
  const on = <K extends keyof ProxyEventMap>(name: K, event: ProxyEventMap[K]) => out.push({ at: event.at, emit: () => bus.emit(name, event) });
  const ip = '10.1.1.1';
  on('pool.up', { route: 'default', target: 'default', connection: 0, pool: 'main', url: 'stratum+tcp://pool:3333', at: NOW - 600_000 });
  on('pool.switch', { route: 'default', target: 'default', connection: 0, from: null, to: 'main', reason: 'start', at: NOW - 600_000 });
  on('pool.up', { route: 'default', target: 'default', connection: 0, pool: 'backup', url: 'stratum+tcp://backup:3333', at: NOW - 600_000 });
  on('pool.down', { route: 'default', target: 'default', connection: 0, pool: 'backup', url: 'stratum+tcp://backup:3333', reason: 'connection refused', at: NOW - 500_000 });
  for (const [i, worker] of ['rig-a', 'rig-b', 'rig-c', 'farm/rig 4'].entries()) {
    on('device.connected', { sessionId: i, ip, at: NOW - 900_000 });
    on('device.authorized', { sessionId: i, worker, ip, at: NOW - 900_000 });
    on('device.difficulty', { sessionId: i, worker, difficulty: 1000, at: NOW - 900_000 });
  }
  // rig-a: 30 shares, one every 10 s, the last at NOW (buckets NOW-290 s .. NOW), plus 5 older than 5 minutes.
  for (let k = 34; k >= 0; k--) {
    on('share.accepted', { sessionId: 0, worker: 'rig-a', route: 'default', target: 'default', ip, difficulty: 1000, shareDifficulty: 1500, meetsPool: k % 5 === 0, meetsNetwork: false, at: NOW - k * 10_000 });
    if (k % 5 === 0) on('share.forwarded', { sessionId: 0, worker: 'rig-a', route: 'default', target: 'default', connection: 0, pool: 'main', shareId: 0, jobId: '1', difficulty: 1000, shareDifficulty: 1500, networkDifficulty: 1e6, blockHash: null, at: NOW - k * 10_000 });
  }
  on('share.upstream', { sessionId: 0, worker: 'rig-a', route: 'default', target: 'default', connection: 0, pool: 'main', shareId: 0, verdict: { kind: 'accepted' }, latencyMs: 30, at: NOW });
  on('share.upstream', { sessionId: 0, worker: 'rig-a', route: 'default', target: 'default', connection: 0, pool: 'main', shareId: 0, verdict: { kind: 'rejected', code: 21, reason: 'Stale share' }, latencyMs: 30, at: NOW });
  // rig-b: 2 shares of 500 and 3 rejections.
  on('device.difficulty', { sessionId: 1, worker: 'rig-b', difficulty: 500, at: NOW - 60_000 });
  on('share.accepted', { sessionId: 1, worker: 'rig-b', route: 'default', target: 'default', ip, difficulty: 500, shareDifficulty: 600, meetsPool: false, meetsNetwork: false, at: NOW - 12_000 });
  on('share.accepted', { sessionId: 1, worker: 'rig-b', route: 'default', target: 'default', ip, difficulty: 500, shareDifficulty: 600, meetsPool: false, meetsNetwork: false, at: NOW - 1_000 });
  for (const reason of ['stale', 'stale', 'duplicate'] as const) {
    on('share.rejected', { sessionId: 1, worker: 'rig-b', ip, reason, code: reason === 'stale' ? 21 : 22, message: reason, at: NOW - 1_000 });
  }
  on('block.candidate', { sessionId: 1, worker: 'rig-b', pool: 'main', jobId: 'j', hash: 'ab'.repeat(32), shareDifficulty: 1e9, networkDifficulty: 1e8, at: NOW - 2_000 });
  on('device.disconnected', { sessionId: 2, worker: 'rig-c', ip, reason: 'closed', at: NOW - 100_000 });
  return out;
}

t.test('/api/summary: the farm totals', async (t) => {
  const s = await start(t);
  s.replay(farm(s.bus));
  const res = await s.get('/api/summary');
  t.equal(res.status, 200);
  const body = res.json();
  t.equal(body.at, NOW);
  t.equal(body.devicesOnline, 3);
  t.equal(body.devicesOffline, 1);
  t.equal(body.accepted, 37);
  t.equal(body.rejected, 3);
  t.same(body.rejectedByReason, { stale: 2, duplicate: 1 });
  t.equal(body.forwarded, 7, 'shares that met the pool target');
  t.equal(body.poolAccepted, 1);
  t.equal(body.poolRejected, 1);
  t.equal(body.poolUnanswered, 0);
  t.equal(body.inFlight, 5, 'forwarded = poolAccepted + poolRejected + poolUnanswered + inFlight');
  t.equal(body.blockCandidates, 1);
  t.equal(body.activePool, 'main');
  t.equal(body.poolsUp, 1);
  // 30 shares x 1000 from rig-a and 2 x 500 from rig-b in the last 300 s.
  t.equal(body.hashrate, (31_000 * HASHES_PER_DIFF1) / 300);
  t.equal(body.hashrateWindowSeconds, 300);
});

t.test('/api/devices: every worker, sorted, filtered by state', async (t) => {
  const s = await start(t);
  s.replay(farm(s.bus));
  const all = (await s.get('/api/devices')).json();
  t.equal(all.count, 4);
  t.same(
    all.devices.map((d: any) => d.worker),
    ['farm/rig 4', 'rig-a', 'rig-b', 'rig-c'],
  );
  const b = all.devices.find((d: any) => d.worker === 'rig-b');
  t.equal(b.accepted, 2);
  t.equal(b.rejected, 3);
  t.equal(b.rejectRate, 3 / 5);
  t.equal(b.difficulty, 500);
  t.equal(b.blockCandidates, 1);
  t.equal(b.online, true);
  const online = (await s.get('/api/devices?state=online')).json();
  t.same(
    online.devices.map((d: any) => d.worker),
    ['farm/rig 4', 'rig-a', 'rig-b'],
  );
  const offline = (await s.get('/api/devices?state=offline')).json();
  t.same(
    offline.devices.map((d: any) => d.worker),
    ['rig-c'],
  );
  t.equal(offline.devices[0].disconnectedAt, NOW - 100_000);
  const bad = await s.get('/api/devices?state=sleeping');
  t.equal(bad.status, 400);
  t.same(bad.json(), { error: 'state must be "online" or "offline", got "sleeping"' });
});

t.test('/api/devices/<worker>: one worker with its hashrate history', async (t) => {
  const s = await start(t);
  s.replay(farm(s.bus));
  const res = await s.get('/api/devices/rig-a');
  t.equal(res.status, 200);
  const body = res.json();
  t.equal(body.device.worker, 'rig-a');
  t.equal(body.device.accepted, 35);
  t.equal(body.device.work, 35_000);
  t.equal(body.device.forwarded, 7);
  t.equal(body.device.poolAccepted, 1);
  t.equal(body.device.poolRejected, 1);
  t.equal(body.device.poolUnanswered, 0);
  t.equal(body.device.inFlight, 5);
  t.equal(body.device.lastShareAt, NOW);
  t.equal(body.device.hashrate, (30_000 * HASHES_PER_DIFF1) / 300, '30 shares of 1000 in 300 s');
  t.equal(body.history.bucketSeconds, 10);
  t.equal(body.history.hashrate.length, 60, 'ten minutes of 10 s buckets');
  const nowBucket = Math.floor(NOW / 10_000);
  t.equal(body.history.start, (nowBucket - 59) * 10_000, 'start of the oldest bucket');
  // One share of 1000 in each of the last 35 buckets, none before.
  const perBucket = (1000 * HASHES_PER_DIFF1) / 10;
  t.same(body.history.hashrate, [...Array(25).fill(0), ...Array(35).fill(perBucket)]);

  const special = await s.get(`/api/devices/${encodeURIComponent('farm/rig 4')}`);
  t.equal(special.status, 200, 'names with / and space, percent-encoded');
  t.equal(special.json().device.worker, 'farm/rig 4');

  const missing = await s.get('/api/devices/nope');
  t.equal(missing.status, 404);
  t.same(missing.json(), { error: 'no such worker: nope' });
  const empty = await s.get('/api/devices/');
  t.equal(empty.status, 400);
  t.same(empty.json(), { error: 'worker name missing: use /api/devices/<worker>' });
  const broken = await s.get('/api/devices/%E0%A4%A');
  t.equal(broken.status, 400);
  t.same(broken.json(), { error: 'the worker name in the path is not valid percent-encoding' });
});

t.test('/api/pools', async (t) => {
  const s = await start(t);
  s.replay(farm(s.bus));
  const body = (await s.get('/api/pools')).json();
  t.same(
    body.pools.map((p: any) => [p.name, p.up, p.active, p.lastError, p.forwarded, p.poolAccepted, p.poolRejected, p.poolUnanswered, p.results.stale]),
    [
      ['main', true, true, null, 7, 1, 1, 0, 1],
      ['backup', false, false, 'connection refused', 0, 0, 0, 0, 0],
    ],
  );
});

t.test('/api/connections: each upstream connection with its pool and the shares forwarded on it', async (t) => {
  const s = await start(t);
  s.replay(farm(s.bus));
  s.bus.emit('pool.version-mask', { route: 'default', target: 'default', connection: 0, pool: 'main', mask: 0x1fffe000, at: NOW });
  const body = (await s.get('/api/connections')).json();
  t.same(
    body.connections.map((c: any) => [c.index, c.pool, c.up, c.active, c.versionMask, c.forwarded, c.poolAccepted, c.poolRejected, c.inFlight]),
    [[0, 'main', true, true, 0x1fffe000, 7, 1, 1, 5]],
  );
});

t.test('the API and /metrics give the same numbers', async (t) => {
  const s = await start(t);
  s.replay(farm(s.bus));
  const metrics = (await s.get('/metrics')).text;
  const devices = (await s.get('/api/devices')).json().devices as any[];
  for (const d of devices) {
    const w = `worker="${d.worker}",owner="${d.owner}"`;
    t.equal(seriesValue(metrics, `dash_proxy_device_shares_total{${w},result="accepted"}`), d.accepted, `${d.worker} accepted`);
    t.equal(seriesValue(metrics, `dash_proxy_device_work_total{${w}}`), d.work, `${d.worker} work`);
    t.equal(seriesValue(metrics, `dash_proxy_device_difficulty{${w}}`), d.difficulty, `${d.worker} difficulty`);
    t.equal(seriesValue(metrics, `dash_proxy_device_connected{${w}}`), d.online ? 1 : 0, `${d.worker} connected`);
    t.equal(seriesValue(metrics, `dash_proxy_device_upstream_shares_total{${w},result="accepted"}`), d.poolAccepted, `${d.worker} pool accepted`);
    t.equal(seriesValue(metrics, `dash_proxy_device_upstream_shares_total{${w},result="rejected"}`), d.poolRejected, `${d.worker} pool rejected`);
    t.equal(seriesValue(metrics, `dash_proxy_device_upstream_shares_total{${w},result="unanswered"}`), d.poolUnanswered, `${d.worker} pool unanswered`);
    const rejected = ['invalid', 'stale', 'duplicate', 'low_difficulty', 'unauthorized', 'not_subscribed'].reduce((n, r) => n + (seriesValue(metrics, `dash_proxy_device_shares_total{${w},result="${r}"}`) ?? 0), 0);
    t.equal(rejected, d.rejected, `${d.worker} rejected`);
    if (d.lastShareAt !== null) t.equal(seriesValue(metrics, `dash_proxy_device_last_share_timestamp_seconds{${w}}`), d.lastShareAt / 1000);
  }
  const summary = (await s.get('/api/summary')).json();
  t.equal(seriesValue(metrics, 'dash_proxy_shares_total{result="accepted"}'), summary.accepted);
  t.equal(seriesValue(metrics, 'dash_proxy_devices_connected'), summary.devicesOnline);
  t.equal(seriesValue(metrics, 'dash_proxy_devices_offline'), summary.devicesOffline);
  t.equal(seriesValue(metrics, 'dash_proxy_block_candidates_total'), summary.blockCandidates);

  t.equal(seriesValue(metrics, 'dash_proxy_forwarded_shares_total'), summary.forwarded);
  t.equal(seriesValue(metrics, 'dash_proxy_upstream_in_flight_shares'), summary.inFlight);
  t.equal(seriesValue(metrics, 'dash_proxy_upstream_shares_total{pool="main",route="default",target="default",result="accepted"}'), summary.poolAccepted);

  // When a worker's retention runs out, both forget it together (they read the same ledger).
  s.stats.sweep(NOW + 3600_000);
  t.equal((await s.get('/api/devices/rig-c')).status, 404);
  t.notOk((await s.get('/metrics')).text.includes('rig-c'));
});

t.test('with a token: 401 without it, 200 with it (header or query)', async (t) => {
  const s = await start(t, 's3cret');
  s.replay(farm(s.bus));
  for (const path of ['/api/summary', '/api/devices', '/api/devices/rig-a', '/api/pools', '/metrics']) {
    const denied = await s.get(path);
    t.equal(denied.status, 401, `${path} without token`);
    t.same(denied.json(), { error: 'token required' });
    t.equal((await s.get(path, { authorization: 'Bearer wrong' })).status, 401, `${path} with a wrong token`);
    t.equal((await s.get(path, { authorization: 'Bearer s3cret' })).status, 200, `${path} with the token in the header`);
    t.equal((await s.get(`${path}${path.includes('?') ? '&' : '?'}token=s3cret`)).status, 200, `${path} with the token in the query`);
  }
});

t.test('/api/owners: each owner with its devices, hashrate and credited work; the devices and /metrics name the owner', async (t) => {
  const owners = OwnerMap.compile({ alice: { workers: ['rig-a'], feePercent: 2 }, bob: { workers: ['rig-b'], feePercent: 0 }, carol: { workers: [], feePercent: 1 } }, { farmOwner: 'farm' });
  const s = await start(t, undefined, owners);
  s.replay(farm(s.bus));
  const res = await s.get('/api/owners');
  t.equal(res.status, 200);
  const body = res.json();
  t.match(body, { at: NOW, hashrateWindowSeconds: 300, farmOwner: 'farm', work: 36_000 });
  t.same(
    body.owners.map((o: any) => [o.owner, o.configured, o.farm, o.devicesOnline, o.devices, o.accepted, o.rejected, o.work, o.blockCandidates]),
    [
      ['alice', true, false, 1, 1, 35, 0, 35_000, 0],
      ['bob', true, false, 1, 1, 2, 3, 1000, 1],
      ['carol', true, false, 0, 0, 0, 0, 0, 0],
      ['farm', true, true, 1, 2, 0, 0, 0, 0],
    ],
    'per owner: devices online / all, accepted, rejected, work, block candidates',
  );
  const by = Object.fromEntries(body.owners.map((o: any) => [o.owner, o]));
  t.equal(by.alice.hashrate, (30_000 * HASHES_PER_DIFF1) / 300, "alice's hashrate is rig-a's");
  t.equal(by.bob.hashrate, (1000 * HASHES_PER_DIFF1) / 300);
  t.equal(by.alice.shareOfWork, 35_000 / 36_000);
  t.equal(by.bob.shareOfWork, 1000 / 36_000);
  t.equal(by.farm.shareOfWork, 0);
  // The pool's verdicts per owner: credited with the forward, the invariant per owner, summing to the farm's.
  const summary = (await s.get('/api/summary')).json();
  t.match(by.alice, { forwarded: 7, poolAccepted: 1, poolRejected: 1, poolUnanswered: 0, inFlight: 5, results: { accepted: 1, stale: 1 } });
  for (const o of body.owners) t.equal(o.forwarded, o.poolAccepted + o.poolRejected + o.poolUnanswered + o.inFlight, `${o.owner}: forwarded = poolAccepted + poolRejected + poolUnanswered + inFlight`);
  for (const k of ['forwarded', 'poolAccepted', 'poolRejected', 'poolUnanswered', 'inFlight']) {
    t.equal(body.owners.reduce((n: number, o: any) => n + o[k], 0), summary[k], `the owners' ${k} sums to the farm's`);
  }
  t.same(body.payouts, { books: false, lastPayouts: {}, checkedAt: null, error: null }, 'no books: no payouts, and it says so');

  const devices = (await s.get('/api/devices')).json().devices;
  t.same(
    devices.map((d: any) => [d.worker, d.owner]),
    [
      ['farm/rig 4', 'farm'],
      ['rig-a', 'alice'],
      ['rig-b', 'bob'],
      ['rig-c', 'farm'],
    ],
    'each device with its owner',
  );
  t.equal((await s.get('/api/devices/rig-a')).json().device.owner, 'alice');

  // /metrics: every per-device series carries the owner; summed by owner it is the API's.
  const metrics = (await s.get('/metrics')).text;
  t.equal(seriesValue(metrics, 'dash_proxy_device_work_total{worker="rig-a",owner="alice"}'), 35_000);
  t.equal(seriesValue(metrics, 'dash_proxy_device_connected{worker="rig-c",owner="farm"}'), 0);
  for (const o of body.owners) {
    const lines = metrics.split('\n').filter((l: string) => l.startsWith('dash_proxy_device_work_total{') && l.includes(`,owner="${o.owner}"`));
    t.equal(lines.reduce((n: number, l: string) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0), o.work, `${o.owner}: sum by (owner) of device_work_total is its work`);
  }
});

t.test('/api/routes, route and target in /api/devices, and on /metrics: which device mines where, the split achieved against the weights', async (t) => {
  const pool = (name: string) => ({ name, url: `stratum+tcp://${name}:3333`, user: 'u', password: 'x' });
  const routes: RouteSpec[] = [
    { name: 'split', fallback: 'default', targets: [{ name: 'seventy', weight: 7, pools: [pool('p70')] }, { name: 'thirty', weight: 3, pools: [pool('p30'), pool('p30-backup')] }] },
    { name: 'default', fallback: 'none', targets: [{ name: 'default', weight: 1, pools: [pool('main')] }] },
  ];
  const s = await start(t, undefined, undefined, () => routes);
  const ip = '10.2.2.2';
  const events: Timed[] = [];
  const on = <K extends keyof ProxyEventMap>(name: K, event: ProxyEventMap[K]) => events.push({ at: event.at, emit: () => s.bus.emit(name, event) });
  const places: Record<string, { route: string; target: string; connection: number; pool: string }> = {
    'fast-1': { route: 'split', target: 'seventy', connection: 0, pool: 'p70' },
    'fast-2': { route: 'split', target: 'seventy', connection: 0, pool: 'p70' },
    'slow-1': { route: 'split', target: 'thirty', connection: 1, pool: 'p30' },
    other: { route: 'default', target: 'default', connection: 2, pool: 'main' },
  };
  on('pool.up', { route: 'split', target: 'seventy', connection: 0, pool: 'p70', url: 'stratum+tcp://p70:3333', at: NOW - 600_000 });
  on('pool.up', { route: 'split', target: 'thirty', connection: 1, pool: 'p30', url: 'stratum+tcp://p30:3333', at: NOW - 600_000 });
  on('pool.up', { route: 'default', target: 'default', connection: 2, pool: 'main', url: 'stratum+tcp://main:3333', at: NOW - 600_000 });
  let shareId = 0;
  for (const [i, [worker, place]] of Object.entries(places).entries()) {
    on('device.authorized', { sessionId: i, worker, ip, at: NOW - 300_000 });
    on('device.route', { sessionId: i, worker, route: place.route, target: place.target, reason: 'placed', at: NOW - 300_000 });
    // fast-1 and fast-2: 35 units of work each, slow-1: 30, other: 10; every share forwarded, the last of each in flight.
    const shares = worker === 'other' ? 1 : worker === 'slow-1' ? 3 : 5;
    const difficulty = worker === 'fast-1' || worker === 'fast-2' ? 7 : 10;
    for (let k = 0; k < shares; k++) {
      const at = NOW - 200_000 + k * 10_000;
      const id = ++shareId;
      on('share.accepted', { sessionId: i, worker, route: place.route, target: place.target, ip, difficulty, shareDifficulty: difficulty, meetsPool: true, meetsNetwork: false, at });
      on('share.forwarded', { sessionId: i, worker, ...place, shareId: id, jobId: 'j', difficulty, shareDifficulty: difficulty, networkDifficulty: 1e6, blockHash: null, at });
      if (k < shares - 1) on('share.upstream', { sessionId: i, worker, ...place, shareId: id, verdict: { kind: 'accepted' }, latencyMs: 5, at: at + 1 });
    }
  }
  // slow-1 is time-sliced 60/40 between the route's targets; fast-2 is kept whole although the plan would slice it.
  on('device.split', { sessionId: 2, worker: 'slow-1', route: 'split', kind: 'sliced', slices: [{ target: 'thirty', fraction: 0.6 }, { target: 'seventy', fraction: 0.4 }], at: NOW - 100_000 });
  on('device.split', { sessionId: 1, worker: 'fast-2', route: 'split', kind: 'whole', wholeBecause: 'pass-through worker mode', at: NOW - 100_000 });
  s.replay(events);

  const body = (await s.get('/api/routes')).json();
  t.match(body, { at: NOW, hashrateWindowSeconds: 300 });
  t.same(
    body.routes.map((r: any) => [r.name, r.configured, r.fallback, r.devices, r.devicesSliced, r.work, r.forwarded, r.poolAccepted, r.inFlight]),
    [
      ['split', true, 'default', 3, 1, 100, 13, 10, 3],
      ['default', true, 'none', 1, 0, 10, 1, 0, 1],
    ],
  );
  const split = body.routes[0];
  t.same(
    split.targets.map((x: any) => [x.name, x.weight, x.weightShare, x.pools, x.devices, x.devicesOnline, x.work, x.workShare, x.forwarded, x.poolAccepted, x.inFlight]),
    [
      ['seventy', 7, 0.7, ['p70'], 2, 2, 70, 0.7, 10, 8, 2],
      ['thirty', 3, 0.3, ['p30', 'p30-backup'], 1, 1, 30, 0.3, 3, 2, 1],
    ],
    'each target: weight, pools, devices, accepted work and the split achieved',
  );
  t.equal(split.targets[0].hashrate, (70 * HASHES_PER_DIFF1) / 300, 'measured hashrate of the devices on it');
  t.equal(split.targets[0].hashrateShare, 0.7);

  const devices = (await s.get('/api/devices')).json().devices;
  t.same(
    devices.map((d: any) => [d.worker, d.route, d.target, d.split, d.slices.length, d.wholeBecause]),
    [
      ['fast-1', 'split', 'seventy', 'whole', 0, null],
      ['fast-2', 'split', 'seventy', 'whole', 0, 'pass-through worker mode'],
      ['other', 'default', 'default', 'whole', 0, null],
      ['slow-1', 'split', 'thirty', 'sliced', 2, null],
    ],
    'which device mines where, which are time-sliced, and why one is kept whole',
  );
  t.same((await s.get('/api/devices/slow-1')).json().device, {
    ...devices.find((d: any) => d.worker === 'slow-1'),
    split: 'sliced',
    slices: [{ target: 'thirty', fraction: 0.6 }, { target: 'seventy', fraction: 0.4 }],
    wholeBecause: null,
  }, 'one device: its slices with their fractions');
  t.same(
    (await s.get('/api/connections')).json().connections.map((c: any) => [c.index, c.route, c.target, c.pool]),
    [
      [0, 'split', 'seventy', 'p70'],
      [1, 'split', 'thirty', 'p30'],
      [2, 'default', 'default', 'main'],
    ],
  );
  t.same((await s.get('/api/pools')).json().pools.map((p: any) => [p.route, p.target, p.name]), [
    ['split', 'seventy', 'p70'],
    ['split', 'thirty', 'p30'],
    ['default', 'default', 'main'],
  ]);

  // /metrics: route and target on the pool and connection series; the per-target family is the API's.
  const metrics = (await s.get('/metrics')).text;
  const v = (series: string) => seriesValue(metrics, `dash_proxy_${series}`);
  t.equal(v('upstream_up{pool="p30",route="split",target="thirty"}'), 1);
  t.equal(v('upstream_shares_total{pool="p70",route="split",target="seventy",result="accepted"}'), 8);
  t.equal(v('upstream_connection_shares_total{connection="1",route="split",target="thirty",result="accepted"}'), 2);
  t.equal(v('upstream_connection_up{connection="2",route="default",target="default",pool="main"}'), 1);
  t.equal(v('upstream_submit_seconds_count{pool="p70",route="split",target="seventy"}'), 8);
  for (const r of body.routes) {
    for (const x of r.targets) {
      const l = `route="${r.name}",target="${x.name}"`;
      t.equal(v(`target_work_total{${l}}`), x.work, `${r.name}/${x.name}: work`);
      t.equal(v(`target_shares_total{${l}}`), x.accepted, `${r.name}/${x.name}: accepted shares`);
      t.equal(v(`target_devices{${l},state="online"}`), x.devicesOnline, `${r.name}/${x.name}: devices online`);
      t.equal(v(`target_devices{${l},state="offline"}`), x.devices - x.devicesOnline, `${r.name}/${x.name}: devices offline`);
      t.equal(v(`target_hashrate{${l}}`), x.hashrate, `${r.name}/${x.name}: hashrate`);
      t.equal(v(`target_weight_ratio{${l}}`), x.weightShare, `${r.name}/${x.name}: weight ratio`);
    }
  }
});

