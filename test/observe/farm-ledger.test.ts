import t, { type Test } from 'tap';
import { EventBus, type DeviceSplit, type PoolVerdict, type RoutePlace } from '../../src/core/events.js';
import { OwnerMap } from '../../src/books/owners.js';
import { FarmLedger, MAX_TRACKED_IN_FLIGHT, type PresenceChange } from '../../src/observe/farm-ledger.js';
import type { RouteSpec } from '../../src/routing/types.js';

/**
 * The farm ledger on its own, fed by hand-made core events: the counts as its table defines them, the
 * invariant forwarded = poolAccepted + poolRejected + poolUnanswered + inFlight at every level, several
 * upstream connections, presence changes and retention.
 */

const T0 = Date.UTC(2026, 5, 1, 12, 0, 0);

function setup(t: Test) {
  const bus = new EventBus();
  let now = T0;
  const ledger = new FarmLedger(bus, { now: () => now, retentionSeconds: 60 });
  t.teardown(() => ledger.close());
  const authorize = (worker: string, sessionId: number) => bus.emit('device.authorized', { sessionId, worker, ip: '10.0.0.1', at: now });
  const forward = (worker: string, connection: number, pool: string) => {
    bus.emit('share.accepted', { sessionId: 1, worker, route: 'default', target: 'default', ip: '10.0.0.1', difficulty: 2, shareDifficulty: 9, meetsPool: true, meetsNetwork: false, at: now });
    bus.emit('share.forwarded', { sessionId: 1, worker, route: 'default', target: 'default', connection, pool, shareId: 0, jobId: '1', difficulty: 2, shareDifficulty: 9, networkDifficulty: 1e6, blockHash: null, at: now });
  };
  const verdict = (worker: string, connection: number, pool: string, v: PoolVerdict) => bus.emit('share.upstream', { sessionId: 1, worker, route: 'default', target: 'default', connection, pool, shareId: 0, verdict: v, latencyMs: 5, at: now });
  return { bus, ledger, authorize, forward, verdict, setNow: (ms: number) => (now = ms) };
}

t.test('forwarded shares and their verdicts: per device, pool, connection and farm, the invariant holds', async (t) => {
  const s = setup(t);
  s.authorize('rig-1', 1);
  s.authorize('rig-2', 2);
  for (let i = 0; i < 4; i++) s.forward('rig-1', 0, 'main');
  for (let i = 0; i < 3; i++) s.forward('rig-2', 1, 'backup');
  s.verdict('rig-1', 0, 'main', { kind: 'accepted' });
  s.verdict('rig-1', 0, 'main', { kind: 'rejected', code: 22, reason: 'Duplicate share' });
  s.verdict('rig-1', 0, 'main', { kind: 'unanswered', cause: 'connection-lost', reason: 'pool connection lost' });
  s.verdict('rig-2', 1, 'backup', { kind: 'unanswered', cause: 'timeout', reason: 'pool did not answer in time' });
  s.verdict('rig-2', 1, 'backup', { kind: 'rejected', code: 77, reason: 'odd' });

  const sum = s.ledger.summary();
  t.match(sum, { accepted: 7, forwarded: 7, poolAccepted: 1, poolRejected: 2, poolUnanswered: 2, inFlight: 2, work: 14 });
  t.same(sum.poolUnansweredByCause, { timeout: 1, 'connection-lost': 1, 'no-pool': 0 });
  const check = (where: string, f: { forwarded: number; poolAccepted: number; poolRejected: number; poolUnanswered: number; inFlight: number }) =>
    t.equal(f.forwarded, f.poolAccepted + f.poolRejected + f.poolUnanswered + f.inFlight, `${where}: forwarded = poolAccepted + poolRejected + poolUnanswered + inFlight`);
  check('farm', sum);
  for (const p of s.ledger.poolList()) check(`pool ${p.name}`, p);
  for (const c of s.ledger.connections()) check(`connection ${c.index}`, c);
  for (const w of ['rig-1', 'rig-2']) check(w, s.ledger.device(w)!);
  t.match(s.ledger.device('rig-1'), { forwarded: 4, poolAccepted: 1, poolRejected: 1, poolUnanswered: 1, inFlight: 1 });
  const [main, backup] = s.ledger.poolList();
  t.match(main!.results, { accepted: 1, duplicate: 1, connection_lost: 1 });
  t.match(backup!.results, { timeout: 1, other: 1 }, 'an unknown code is "other"');
  t.match(s.ledger.connections().map((c) => [c.index, c.forwarded, c.inFlight]), [
    [0, 4, 1],
    [1, 3, 1],
  ]);
});

t.test('several upstream connections: each with its pool, up, active and version mask; pools derived from them', async (t) => {
  const s = setup(t);
  const at = T0;
  s.bus.emit('pool.connections', { count: 2, at });
  s.bus.emit('pool.up', { route: 'default', target: 'default', connection: 0, pool: 'main', url: 'stratum+tcp://main:1', at });
  s.bus.emit('pool.switch', { route: 'default', target: 'default', connection: 0, from: null, to: 'main', reason: 'first pool connection', at });
  s.bus.emit('pool.version-mask', { route: 'default', target: 'default', connection: 0, pool: 'main', mask: 0x1fffe000, at });
  s.bus.emit('pool.up', { route: 'default', target: 'default', connection: 1, pool: 'main', url: 'stratum+tcp://main:1', at });
  s.bus.emit('pool.switch', { route: 'default', target: 'default', connection: 1, from: null, to: 'main', reason: 'first pool connection', at });
  t.same(
    s.ledger.connections().map((c) => [c.index, c.pool, c.up, c.active, c.versionMask]),
    [
      [0, 'main', true, true, 0x1fffe000],
      [1, 'main', true, true, null],
    ],
  );
  t.match(s.ledger.summary(), { connections: 2, connectionsUp: 2, poolsUp: 1, activePool: 'main' });

  // Connection 1 fails over to backup; connection 0 stays on main: both pools are active.
  s.bus.emit('pool.down', { route: 'default', target: 'default', connection: 1, pool: 'main', url: 'stratum+tcp://main:1', reason: 'reset', at });
  t.match(s.ledger.connections()[1], { pool: 'main', up: false, active: false, lastError: 'reset' });
  t.match(s.ledger.poolList()[0], { name: 'main', up: true, active: true }, 'main is still up and mined on connection 0');
  s.bus.emit('pool.switch', { route: 'default', target: 'default', connection: 1, from: 'main', to: 'backup', reason: 'main failed', at });
  s.bus.emit('pool.up', { route: 'default', target: 'default', connection: 1, pool: 'backup', url: 'stratum+tcp://backup:1', at });
  t.same(
    s.ledger.poolList().map((p) => [p.name, p.url, p.up, p.active, p.switchesTo]),
    [
      ['main', 'stratum+tcp://main:1', true, true, 0],
      ['backup', 'stratum+tcp://backup:1', true, true, 1],
    ],
  );
  t.match(s.ledger.connections()[1], { pool: 'backup', url: 'stratum+tcp://backup:1', up: true, active: true, lastError: null });
  s.bus.emit('pool.down', { route: 'default', target: 'default', connection: 0, pool: 'main', url: 'stratum+tcp://main:1', reason: 'gone', at });
  t.match(s.ledger.poolList()[0], { name: 'main', up: false, active: false, lastError: 'gone' });
  t.match(s.ledger.summary(), { connectionsUp: 1, poolsUp: 1, activePool: 'backup' });
});

t.test('presence: told when a worker gets its first session and loses its last; retention forgets it', async (t) => {
  const s = setup(t);
  const changes: PresenceChange[] = [];
  const forgotten: string[] = [];
  s.ledger.onPresence((c) => changes.push(c));
  s.ledger.onForget((w) => forgotten.push(w));
  s.authorize('rig-1', 1);
  s.authorize('rig-1', 2);
  s.bus.emit('device.disconnected', { sessionId: 1, worker: 'rig-1', ip: '10.0.0.1', reason: 'closed', at: T0 + 1000 });
  s.bus.emit('device.disconnected', { sessionId: 2, worker: 'rig-1', ip: '10.0.0.1', reason: 'reset', at: T0 + 2000 });
  s.bus.emit('device.disconnected', { sessionId: 2, worker: 'rig-1', ip: '10.0.0.1', reason: 'reset', at: T0 + 2500 });
  t.same(
    changes.map((c) => [c.worker, c.online, c.reason]),
    [
      ['rig-1', true, null],
      ['rig-1', false, 'reset'],
    ],
    'one change each way, whatever the number of sessions',
  );
  t.equal(s.ledger.device('rig-1')!.disconnectedAt, T0 + 2000);
  const unpin = s.ledger.pin();
  t.same(s.ledger.sweep(T0 + 62_000), ['rig-1'], 'an explicit sweep runs even while pinned (only the timer waits)');
  unpin();
  t.same(forgotten, ['rig-1']);
  t.equal(s.ledger.device('rig-1'), null);
  t.equal(s.ledger.summary().accepted, 0);
});

t.test('rejections: by reason for the farm; per device only for a known worker', async (t) => {
  const s = setup(t);
  s.authorize('rig-1', 1);
  s.bus.emit('share.rejected', { sessionId: 1, worker: 'rig-1', ip: '10.0.0.1', reason: 'stale', code: 21, message: 'Job not found', at: T0 });
  s.bus.emit('share.rejected', { sessionId: 9, worker: 'stranger', ip: '10.0.0.9', reason: 'unauthorized', code: 24, message: 'Unauthorized worker', at: T0 });
  s.bus.emit('share.rejected', { sessionId: 8, worker: null, ip: '10.0.0.8', reason: 'not_subscribed', code: 25, message: 'Not subscribed', at: T0 });
  t.match(s.ledger.summary(), { rejected: 3, rejectedByReason: { stale: 1, unauthorized: 1, not_subscribed: 1 } });
  t.match(s.ledger.device('rig-1'), { rejected: 1, rejectedByReason: { stale: 1 } });
  t.equal(s.ledger.device('stranger'), null, 'a name that never authorized gets no row');
  t.equal(s.ledger.deviceCount, 1);
});

// ---- owners ------------------------------------------------------------------------------------------------

function ownersSetup(t: Test) {
  const bus = new EventBus();
  let now = T0;
  const owners = OwnerMap.compile({ alice: { workers: ['rack3.*'], feePercent: 2 }, bob: { workers: [], feePercent: 0 } }, { farmOwner: 'house' });
  const ledger = new FarmLedger(bus, { now: () => now, retentionSeconds: 60, owners });
  t.teardown(() => ledger.close());
  const authorize = (worker: string) => bus.emit('device.authorized', { sessionId: 1, worker, ip: '10.0.0.1', at: now });
  const accept = (worker: string, difficulty: number) =>
    bus.emit('share.accepted', { sessionId: 1, worker, route: 'default', target: 'default', ip: '10.0.0.1', difficulty, shareDifficulty: difficulty, meetsPool: false, meetsNetwork: false, at: now });
  const reject = (worker: string) => bus.emit('share.rejected', { sessionId: 1, worker, ip: '10.0.0.1', reason: 'stale', code: 21, message: 'stale', at: now });
  const byOwner = () => Object.fromEntries(ledger.ownerList().map((o) => [o.owner, o]));
  return { bus, ledger, authorize, accept, reject, byOwner, setNow: (ms: number) => (now = ms) };
}

t.test('owners: each device has the owner the map gives it (pattern, owner.worker, the farm), and work is credited to it', async (t) => {
  const s = ownersSetup(t);
  for (const w of ['rack3.a1', 'bob.s19', 'carol.rig1', 'loose']) s.authorize(w);
  t.same(
    ['rack3.a1', 'bob.s19', 'carol.rig1', 'loose'].map((w) => s.ledger.device(w)!.owner),
    ['alice', 'bob', 'house', 'house'],
    'alice by pattern, bob by owner.worker, an unknown prefix and a plain name the farm owner',
  );
  s.accept('rack3.a1', 4);
  s.accept('rack3.a1', 4);
  s.accept('bob.s19', 2);
  s.accept('carol.rig1', 1);
  s.accept('loose', 0.5);
  s.reject('bob.s19');
  s.bus.emit('block.candidate', { sessionId: 1, worker: 'rack3.a1', pool: 'p', jobId: 'j', hash: '00ab', shareDifficulty: 1e9, networkDifficulty: 1e8, at: T0 });
  const o = s.byOwner();
  t.same(Object.keys(o), ['alice', 'bob', 'house'], 'every owner of the map, sorted by name');
  t.match(o.alice, { configured: true, farm: false, devices: 1, devicesOnline: 1, accepted: 2, rejected: 0, work: 8, blockCandidates: 1 });
  t.match(o.bob, { devices: 1, accepted: 1, rejected: 1, work: 2, blockCandidates: 0 });
  t.match(o.house, { farm: true, devices: 2, accepted: 2, work: 1.5 });
  const farm = s.ledger.summary();
  t.equal(farm.work, 11.5);
  t.equal(o.alice!.shareOfWork, 8 / 11.5);
  t.equal(
    Object.values(o).reduce((n, x) => n + x.work, 0),
    farm.work,
    "the owners' work sums to the farm's",
  );
  t.equal(Object.values(o).reduce((n, x) => n + x.accepted, 0), farm.accepted, "the owners' accepted shares sum to the farm's");
  t.equal(Object.values(o).reduce((n, x) => n + x.shareOfWork, 0), 1, 'the shares of the farm make one');
  t.ok(o.alice!.hashrate > 0 && o.bob!.hashrate > 0, 'hashrate from the devices it owns');
  t.equal(o.alice!.hashrate, s.ledger.device('rack3.a1')!.hashrate);
});

t.test('owners: a new map applies from then on; what was credited stays with its owner', async (t) => {
  const s = ownersSetup(t);
  s.authorize('rack3.a1');
  s.authorize('rack4.b1');
  s.accept('rack3.a1', 4);
  s.accept('rack4.b1', 2);
  const versionBefore = s.ledger.version(s.ledger.slotOf('rack3.a1'));

  // rack3 goes to bob (alice keeps only her owner.worker devices), rack4 to a new owner dave; the farm owner is renamed.
  const next = OwnerMap.compile({ alice: { workers: [], feePercent: 2 }, bob: { workers: ['rack3.*'], feePercent: 0 }, dave: { workers: ['rack4.*'], feePercent: 1 } }, { farmOwner: 'farm' });
  t.equal(s.ledger.setOwners(next), 2, 'two devices changed owner');
  t.equal(s.ledger.owners, next, 'the new map is in force');
  t.equal(s.ledger.device('rack3.a1')!.owner, 'bob');
  t.equal(s.ledger.device('rack4.b1')!.owner, 'dave');
  t.not(s.ledger.version(s.ledger.slotOf('rack3.a1')), versionBefore, 'a moved device counts as changed (the feed resends it)');
  t.equal(s.ledger.device('rack3.a1')!.work, 4, "the device's own counts are untouched");

  s.accept('rack3.a1', 1);
  s.accept('rack4.b1', 8);
  s.authorize('later.x');
  s.accept('later.x', 0.25);
  const o = s.byOwner();
  t.match(o.alice, { configured: true, devices: 0, accepted: 1, work: 4 }, 'alice keeps the work credited while she owned rack3');
  t.match(o.bob, { devices: 1, accepted: 1, work: 1 }, 'bob gets rack3 from the change on');
  t.match(o.dave, { configured: true, devices: 1, work: 8 });
  t.match(o.house, { configured: false, farm: false, devices: 0, accepted: 1, work: 2 }, 'the old farm owner keeps its credit, marked as no longer configured');
  t.match(o.farm, { configured: true, farm: true, devices: 1, accepted: 1, work: 0.25 }, 'a new device goes to the new farm owner');
  t.equal(
    Object.values(o).reduce((n, x) => n + x.work, 0),
    s.ledger.summary().work,
    "across the change the owners' work still sums to the farm's",
  );

  // The same map again moves nothing; an owner with neither credit nor device that leaves the map is not listed.
  t.equal(s.ledger.setOwners(next), 0);
  const empty = OwnerMap.compile({ alice: { workers: [], feePercent: 0 }, ghost: { workers: [], feePercent: 0 } }, { farmOwner: 'farm' });
  s.ledger.setOwners(empty);
  t.ok(s.byOwner().ghost, 'a configured owner is listed with zeros');
  s.ledger.setOwners(next);
  t.notOk(s.byOwner().ghost, 'and gone once it leaves the map having had nothing');
});

t.test('owners: without a map every device is the default farm owner', async (t) => {
  const s = setup(t);
  s.authorize('alice.rig', 1);
  t.equal(s.ledger.device('alice.rig')!.owner, 'farm');
  t.same(s.ledger.ownerList().map((o) => o.owner), ['farm']);
});

t.test('owners: forwarded shares and the pool verdicts per owner; the invariant holds per owner, across a map change', async (t) => {
  const s = ownersSetup(t);
  let shareId = 0;
  const forward = (worker: string) => {
    s.accept(worker, 2);
    const id = ++shareId;
    s.bus.emit('share.forwarded', { sessionId: 1, worker, route: 'default', target: 'default', connection: 0, pool: 'main', shareId: id, jobId: '1', difficulty: 2, shareDifficulty: 9, networkDifficulty: 1e6, blockHash: null, at: T0 });
    return id;
  };
  const verdict = (worker: string, id: number, v: PoolVerdict) =>
    s.bus.emit('share.upstream', { sessionId: 1, worker, route: 'default', target: 'default', connection: 0, pool: 'main', shareId: id, verdict: v, latencyMs: 5, at: T0 });
  s.authorize('rack3.a1');
  s.authorize('bob.s19');
  const a = [forward('rack3.a1'), forward('rack3.a1'), forward('rack3.a1'), forward('rack3.a1')];
  const b = [forward('bob.s19'), forward('bob.s19')];
  verdict('rack3.a1', a[0]!, { kind: 'accepted' });
  verdict('rack3.a1', a[1]!, { kind: 'rejected', code: 21, reason: 'stale' });
  verdict('bob.s19', b[0]!, { kind: 'unanswered', cause: 'timeout', reason: 'no answer' });

  // rack3 moves to bob while two of its shares are in flight: their verdicts still go to alice.
  s.ledger.setOwners(OwnerMap.compile({ alice: { workers: [], feePercent: 2 }, bob: { workers: ['rack3.*'], feePercent: 0 } }, { farmOwner: 'house' }));
  verdict('rack3.a1', a[2]!, { kind: 'accepted' });
  const after = forward('rack3.a1');
  verdict('rack3.a1', after, { kind: 'rejected', code: 23, reason: 'low difficulty' });

  const o = s.byOwner();
  t.match(o.alice, { forwarded: 4, poolAccepted: 2, poolRejected: 1, poolUnanswered: 0, inFlight: 1 }, "alice keeps her forwards and gets their verdicts after the change");
  t.match(o.alice!.results, { accepted: 2, stale: 1 });
  t.match(o.bob, { forwarded: 3, poolAccepted: 0, poolRejected: 1, poolUnanswered: 1, inFlight: 1 }, 'bob: his own and rack3 from the change on');
  t.match(o.bob!.results, { timeout: 1, low_difficulty: 1 });
  const sum = s.ledger.summary();
  for (const x of [...Object.values(o), sum]) {
    const where = 'owner' in x ? `owner ${x.owner}` : 'farm';
    t.equal(x.forwarded, x.poolAccepted + x.poolRejected + x.poolUnanswered + x.inFlight, `${where}: forwarded = poolAccepted + poolRejected + poolUnanswered + inFlight`);
  }
  for (const k of ['forwarded', 'poolAccepted', 'poolRejected', 'poolUnanswered', 'inFlight'] as const) {
    t.equal(
      Object.values(o).reduce((n, x) => n + x[k], 0),
      sum[k],
      `the owners' ${k} sums to the farm's`,
    );
  }

  // The last in-flight shares are answered: nothing stays in flight anywhere.
  verdict('rack3.a1', a[3]!, { kind: 'accepted' });
  verdict('bob.s19', b[1]!, { kind: 'accepted' });
  t.match(s.byOwner().alice, { forwarded: 4, poolAccepted: 3, inFlight: 0 });
  t.match(s.byOwner().bob, { forwarded: 3, poolAccepted: 1, inFlight: 0 });
});

t.test("owners: a forgotten device's forwarded shares go to its name's owner", async (t) => {
  const s = ownersSetup(t);
  s.bus.emit('share.forwarded', { sessionId: 1, worker: 'bob.gone', route: 'default', target: 'default', connection: 0, pool: 'main', shareId: 7, jobId: '1', difficulty: 2, shareDifficulty: 9, networkDifficulty: 1e6, blockHash: null, at: T0 });
  s.bus.emit('share.upstream', { sessionId: 1, worker: 'bob.gone', route: 'default', target: 'default', connection: 0, pool: 'main', shareId: 7, verdict: { kind: 'accepted' }, latencyMs: 5, at: T0 });
  t.match(s.byOwner().bob, { devices: 0, forwarded: 1, poolAccepted: 1, inFlight: 0 });
});

// ---- routes and targets -----------------------------------------------------------------------------------

/** Two routes: 'alice' split 98/2 between her own account and the hosting fee, and the default route. */
const ROUTES: RouteSpec[] = [
  {
    name: 'alice',
    fallback: 'default',
    targets: [
      { name: 'alice-own', weight: 98, pools: [{ name: 'a1', url: 'stratum+tcp://a1:3333', user: 'alice.farm', password: 'x' }] },
      { name: 'hosting-fee', weight: 2, pools: [{ name: 'fee', url: 'stratum+tcp://fee:3333', user: 'farm.fee', password: 'x' }] },
    ],
  },
  { name: 'default', fallback: 'none', targets: [{ name: 'default', weight: 1, pools: [{ name: 'main', url: 'stratum+tcp://main:3333', user: 'farm', password: 'x' }, { name: 'backup', url: 'stratum+tcp://backup:3333', user: 'farm', password: 'x' }] }] },
];

function routesSetup(t: Test, routes: () => readonly RouteSpec[] = () => ROUTES) {
  const bus = new EventBus();
  let now = T0;
  const ledger = new FarmLedger(bus, { now: () => now, retentionSeconds: 60, routes });
  t.teardown(() => ledger.close());
  let shareId = 0;
  const authorize = (worker: string) => bus.emit('device.authorized', { sessionId: 1, worker, ip: '10.0.0.1', at: now });
  const place = (worker: string, route: string, target: string, reason = 'placed') => bus.emit('device.route', { sessionId: 1, worker, route, target, reason, at: now });
  /** A share accepted on a job of `at` (the route and target of the job's channel). */
  const accept = (worker: string, difficulty: number, at: RoutePlace) =>
    bus.emit('share.accepted', { sessionId: 1, worker, route: at.route, target: at.target, ip: '10.0.0.1', difficulty, shareDifficulty: difficulty, meetsPool: true, meetsNetwork: false, at: now });
  /** A share forwarded on `place` (the target of the job it was mined on); returns its id. */
  const forward = (worker: string, at: { route: string; target: string; connection: number; pool: string }) => {
    const id = ++shareId;
    bus.emit('share.forwarded', { sessionId: 1, worker, ...at, shareId: id, jobId: 'j', difficulty: 1, shareDifficulty: 1, networkDifficulty: 1e6, blockHash: null, at: now });
    return id;
  };
  const verdict = (worker: string, at: { route: string; target: string; connection: number; pool: string }, id: number, v: PoolVerdict) =>
    bus.emit('share.upstream', { sessionId: 1, worker, ...at, shareId: id, verdict: v, latencyMs: 5, at: now });
  const route = (name: string) => ledger.routeList().find((r) => r.name === name)!;
  const target = (r: string, name: string) => route(r).targets.find((x) => x.name === name)!;
  return { bus, ledger, authorize, place, accept, forward, verdict, route, target, setNow: (ms: number) => (now = ms) };
}

const OWN = { route: 'alice', target: 'alice-own', connection: 0, pool: 'a1' };
const FEE = { route: 'alice', target: 'hosting-fee', connection: 1, pool: 'fee' };
const MAIN = { route: 'default', target: 'default', connection: 2, pool: 'main' };

t.test('routes: each device mines where its last device.route put it; /api/devices-style views name route and target', async (t) => {
  const s = routesSetup(t);
  s.authorize('alice.a');
  t.match(s.ledger.device('alice.a'), { route: null, target: null }, 'not placed before its first device.route');
  s.place('alice.a', 'alice', 'alice-own');
  s.authorize('rig-1');
  s.place('rig-1', 'default', 'default');
  t.match(s.ledger.device('alice.a'), { route: 'alice', target: 'alice-own' });
  const version = s.ledger.version(s.ledger.slotOf('alice.a'));
  s.place('alice.a', 'alice', 'hosting-fee', 'slice');
  t.match(s.ledger.device('alice.a'), { route: 'alice', target: 'hosting-fee' }, 'a move');
  t.not(s.ledger.version(s.ledger.slotOf('alice.a')), version, 'a moved device counts as changed (the feed resends it)');
  t.same(s.ledger.placeOfSlot(s.ledger.slotOf('rig-1')), { route: 'default', target: 'default' });
});

t.test('routes: each device\'s split from its last device.split (whole unless told); /api/routes counts the sliced devices per route', async (t) => {
  const s = routesSetup(t);
  const split = (worker: string, e: DeviceSplit) => s.bus.emit('device.split', { sessionId: 1, worker, route: 'alice', ...e, at: T0 });
  for (const w of ['alice.a', 'alice.b', 'alice.c']) {
    s.authorize(w);
    s.place(w, 'alice', 'alice-own');
  }
  t.match(s.ledger.device('alice.a'), { split: 'whole', slices: [], wholeBecause: null }, 'whole before any device.split');
  t.equal(s.route('alice').devicesSliced, 0);

  const version = s.ledger.version(s.ledger.slotOf('alice.a'));
  split('alice.a', { kind: 'sliced', slices: [{ target: 'alice-own', fraction: 0.98 }, { target: 'hosting-fee', fraction: 0.02 }] });
  split('alice.b', { kind: 'whole', wholeBecause: 'pass-through worker mode' });
  t.same(
    ['alice.a', 'alice.b', 'alice.c'].map((w) => s.ledger.device(w)!).map((d) => [d.worker, d.split, d.slices, d.wholeBecause]),
    [
      ['alice.a', 'sliced', [{ target: 'alice-own', fraction: 0.98 }, { target: 'hosting-fee', fraction: 0.02 }], null],
      ['alice.b', 'whole', [], 'pass-through worker mode'],
      ['alice.c', 'whole', [], null],
    ],
    'a sliced device with its fractions; a device kept whole with the reason; the rest plainly whole',
  );
  t.not(s.ledger.version(s.ledger.slotOf('alice.a')), version, 'a changed split counts as a change (the feed resends the device)');
  t.equal(s.route('alice').devicesSliced, 1, 'one device of the route sliced');
  t.equal(s.route('default').devicesSliced, 0);

  split('alice.b', { kind: 'whole' });
  t.match(s.ledger.device('alice.b'), { split: 'whole', wholeBecause: null }, 'plainly whole again');
  s.bus.emit('device.disconnected', { sessionId: 1, worker: 'alice.a', ip: '10.0.0.1', reason: 'closed', at: T0 });
  t.match(s.ledger.device('alice.a'), { online: false, split: 'whole', slices: [] }, 'its split ends with its last session');
  t.equal(s.route('alice').devicesSliced, 0);
});

t.test('routes: counts per route and target with the same definitions as per pool; the invariant holds for each', async (t) => {
  const s = routesSetup(t);
  for (const w of ['alice.a', 'alice.b']) {
    s.authorize(w);
    s.place(w, 'alice', 'alice-own');
  }
  s.authorize('rig-1');
  s.place('rig-1', 'default', 'default');
  s.accept('alice.a', 4, OWN);
  s.accept('alice.b', 4, OWN);
  s.accept('rig-1', 10, MAIN);
  const a1 = s.forward('alice.a', OWN);
  const a2 = s.forward('alice.a', OWN);
  const r1 = s.forward('rig-1', MAIN);
  // alice.b moves to the fee target; a share of its old job still goes upstream on alice-own.
  s.place('alice.b', 'alice', 'hosting-fee', 'slice');
  const old = s.forward('alice.b', OWN);
  s.accept('alice.b', 2, FEE);
  const f1 = s.forward('alice.b', FEE);
  s.verdict('alice.a', OWN, a1, { kind: 'accepted' });
  s.verdict('alice.a', OWN, a2, { kind: 'rejected', code: 21, reason: 'stale' });
  s.verdict('alice.b', OWN, old, { kind: 'accepted' });
  s.verdict('alice.b', FEE, f1, { kind: 'unanswered', cause: 'timeout', reason: 'no answer' });
  void r1; // still in flight

  const own = s.target('alice', 'alice-own');
  const fee = s.target('alice', 'hosting-fee');
  const def = s.target('default', 'default');
  t.match(own, { configured: true, weight: 98, weightShare: 0.98, pools: ['a1'], devices: 1, accepted: 2, work: 8, forwarded: 3, poolAccepted: 2, poolRejected: 1, poolUnanswered: 0, inFlight: 0 });
  t.match(fee, { weight: 2, weightShare: 0.02, devices: 1, accepted: 1, work: 2, forwarded: 1, poolUnanswered: 1, results: { timeout: 1 } });
  t.match(def, { weight: 1, weightShare: 1, pools: ['main', 'backup'], devices: 1, work: 10, forwarded: 1, inFlight: 1 });
  t.equal(own.workShare, 8 / 10, "the split achieved: alice-own's work over the route's");
  t.equal(fee.workShare, 2 / 10);
  t.equal(def.workShare, 1);
  t.match(s.route('alice'), { configured: true, fallback: 'default', devices: 2, accepted: 3, work: 10, forwarded: 4, poolAccepted: 2, poolRejected: 1, poolUnanswered: 1, inFlight: 0 });
  t.match(s.route('default'), { fallback: 'none', devices: 1, work: 10, forwarded: 1, inFlight: 1 });

  const sum = s.ledger.summary();
  const routes = s.ledger.routeList();
  const flows = [...routes, ...routes.flatMap((r) => r.targets)];
  for (const f of flows) t.equal(f.forwarded, f.poolAccepted + f.poolRejected + f.poolUnanswered + f.inFlight, `${f.name}: forwarded = poolAccepted + poolRejected + poolUnanswered + inFlight`);
  for (const k of ['forwarded', 'poolAccepted', 'poolRejected', 'poolUnanswered', 'inFlight'] as const) {
    t.equal(routes.reduce((n, r) => n + r[k], 0), sum[k], `the routes' ${k} sums to the farm's`);
    t.equal(routes.flatMap((r) => r.targets).reduce((n, x) => n + x[k], 0), sum[k], `the targets' ${k} sums to the farm's`);
  }
  t.equal(routes.reduce((n, r) => n + r.work, 0), sum.work, "the routes' work sums to the farm's (every device placed)");
  t.ok(own.hashrate > 0 && fee.hashrate > 0, 'hashrate of the devices placed on each target now');
  t.equal(own.hashrate, s.ledger.device('alice.a')!.hashrate);
  t.equal(own.hashrateShare + fee.hashrateShare, 1);
});

t.test('routes: accepted work is credited to the target share.accepted names (the job\'s), not where the device mines now', async (t) => {
  const s = routesSetup(t);
  s.authorize('alice.a');
  s.place('alice.a', 'alice', 'alice-own');
  s.accept('alice.a', 4, OWN);
  // It moves to the fee target; a share of its old target's job is accepted just after the move.
  s.place('alice.a', 'alice', 'hosting-fee', 'slice');
  s.accept('alice.a', 3, OWN);
  s.accept('alice.a', 2, FEE);
  t.match(s.target('alice', 'alice-own'), { accepted: 2, work: 7, devices: 0 }, 'the old target keeps the share of its job');
  t.match(s.target('alice', 'hosting-fee'), { accepted: 1, work: 2, devices: 1 });
  t.match(s.route('alice'), { accepted: 3, work: 9 });
  // A device on its fallback: the work counts for the target and route of the job (the default's).
  s.place('alice.a', 'default', 'default', 'fallback');
  s.accept('alice.a', 5, MAIN);
  t.match(s.target('default', 'default'), { accepted: 1, work: 5 });
  t.match(s.route('default'), { accepted: 1, work: 5 });
  t.equal(s.ledger.routeList().reduce((n, r) => n + r.work, 0), s.ledger.summary().work, "the routes' work sums to the farm's");
});

t.test('routes: pools are kept per target (two targets may name a pool alike); connections name their route and target', async (t) => {
  const s = routesSetup(t);
  const at = T0;
  s.bus.emit('pool.up', { route: 'alice', target: 'alice-own', connection: 0, pool: 'p', url: 'stratum+tcp://a:1', at });
  s.bus.emit('pool.switch', { route: 'alice', target: 'alice-own', connection: 0, from: null, to: 'p', reason: 'first', at });
  s.bus.emit('pool.up', { route: 'default', target: 'default', connection: 1, pool: 'p', url: 'stratum+tcp://d:1', at });
  s.bus.emit('pool.down', { route: 'default', target: 'default', connection: 1, pool: 'p', url: 'stratum+tcp://d:1', reason: 'reset', at });
  t.same(
    s.ledger.poolList().map((p) => [p.route, p.target, p.name, p.url, p.up, p.active]),
    [
      ['alice', 'alice-own', 'p', 'stratum+tcp://a:1', true, true],
      ['default', 'default', 'p', 'stratum+tcp://d:1', false, false],
    ],
  );
  t.same(
    s.ledger.connections().map((c) => [c.index, c.route, c.target, c.pool, c.up]),
    [
      [0, 'alice', 'alice-own', 'p', true],
      [1, 'default', 'default', 'p', false],
    ],
  );
  s.authorize('alice.a');
  s.forward('alice.a', { route: 'alice', target: 'alice-own', connection: 0, pool: 'p' });
  t.same(s.ledger.poolList().map((p) => p.forwarded), [1, 0], "a share counts for its own target's pool");
});

t.test('routes: weights and pools come from the routes in force; a target or route no longer in force keeps its counts', async (t) => {
  let routes: RouteSpec[] = ROUTES;
  const s = routesSetup(t, () => routes);
  s.authorize('alice.a');
  s.place('alice.a', 'alice', 'hosting-fee');
  s.accept('alice.a', 3, FEE);
  // A reload: the fee is now 5 and the fee target renamed; alice.a is moved by the proxy.
  routes = [{ ...ROUTES[0]!, targets: [{ ...ROUTES[0]!.targets[0]!, weight: 95 }, { name: 'fee-2', weight: 5, pools: [] }] }, ROUTES[1]!];
  t.same(
    s.route('alice').targets.map((x) => [x.name, x.configured, x.weight, x.weightShare, x.work]),
    [
      ['alice-own', true, 95, 0.95, 0],
      ['fee-2', true, 5, 0.05, 0],
      ['hosting-fee', false, null, null, 3],
    ],
    'the weights in force, then the old target with its counts',
  );
  // The whole route goes away: listed after the routes in force, not configured.
  routes = [ROUTES[1]!];
  const list = s.ledger.routeList();
  t.same(list.map((r) => [r.name, r.configured, r.fallback]), [
    ['default', true, 'none'],
    ['alice', false, null],
  ]);
  t.match(list[1], { devices: 1, work: 3 });
});

t.test('routes: without routes from the app, the default route and target with weight 1', async (t) => {
  const s = setup(t);
  s.authorize('rig-1', 1);
  s.bus.emit('device.route', { sessionId: 1, worker: 'rig-1', route: 'default', target: 'default', reason: 'placed', at: T0 });
  s.forward('rig-1', 0, 'main');
  t.match(s.ledger.routeList(), [{ name: 'default', configured: true, fallback: 'none', devices: 1, forwarded: 1, targets: [{ name: 'default', weight: 1, weightShare: 1, devices: 1, forwarded: 1, workShare: 1 }] }]);
});

t.test('owners: at most MAX_TRACKED_IN_FLIGHT forwards are remembered; an older one’s verdict goes to the device’s owner then', async (t) => {
  const s = ownersSetup(t);
  s.authorize('rack3.a1');
  const at = { sessionId: 1, worker: 'rack3.a1', route: 'default', target: 'default', connection: 0, pool: 'main' };
  for (let id = 1; id <= MAX_TRACKED_IN_FLIGHT + 1; id++) s.bus.emit('share.forwarded', { ...at, shareId: id, jobId: 'j', difficulty: 1, shareDifficulty: 1, networkDifficulty: 1e6, blockHash: null, at: T0 });
  s.ledger.setOwners(OwnerMap.compile({ alice: { workers: [], feePercent: 0 }, bob: { workers: ['rack3.*'], feePercent: 0 } }, { farmOwner: 'house' }));
  s.bus.emit('share.upstream', { ...at, shareId: 1, verdict: { kind: 'accepted' }, latencyMs: 5, at: T0 });
  s.bus.emit('share.upstream', { ...at, shareId: 2, verdict: { kind: 'accepted' }, latencyMs: 5, at: T0 });
  t.match(s.byOwner().alice, { forwarded: MAX_TRACKED_IN_FLIGHT + 1, poolAccepted: 1 }, 'the newest forwards are remembered: their verdicts go to alice');
  t.match(s.byOwner().bob, { forwarded: 0, poolAccepted: 1 }, "the oldest was let go: its verdict goes to the device's owner now");
});
