import t, { type Test } from 'tap';
import { EventBus, type PoolVerdict } from '../../src/core/events.js';
import { FarmLedger, type PresenceChange } from '../../src/observe/farm-ledger.js';

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
    bus.emit('share.accepted', { sessionId: 1, worker, ip: '10.0.0.1', difficulty: 2, shareDifficulty: 9, meetsPool: true, meetsNetwork: false, at: now });
    bus.emit('share.forwarded', { sessionId: 1, worker, connection, pool, shareId: 0, jobId: '1', difficulty: 2, shareDifficulty: 9, networkDifficulty: 1e6, blockHash: null, at: now });
  };
  const verdict = (worker: string, connection: number, pool: string, v: PoolVerdict) => bus.emit('share.upstream', { sessionId: 1, worker, connection, pool, shareId: 0, verdict: v, latencyMs: 5, at: now });
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
  s.bus.emit('pool.up', { connection: 0, pool: 'main', url: 'stratum+tcp://main:1', at });
  s.bus.emit('pool.switch', { connection: 0, from: null, to: 'main', reason: 'first pool connection', at });
  s.bus.emit('pool.version-mask', { connection: 0, pool: 'main', mask: 0x1fffe000, at });
  s.bus.emit('pool.up', { connection: 1, pool: 'main', url: 'stratum+tcp://main:1', at });
  s.bus.emit('pool.switch', { connection: 1, from: null, to: 'main', reason: 'first pool connection', at });
  t.same(
    s.ledger.connections().map((c) => [c.index, c.pool, c.up, c.active, c.versionMask]),
    [
      [0, 'main', true, true, 0x1fffe000],
      [1, 'main', true, true, null],
    ],
  );
  t.match(s.ledger.summary(), { connections: 2, connectionsUp: 2, poolsUp: 1, activePool: 'main' });

  // Connection 1 fails over to backup; connection 0 stays on main: both pools are active.
  s.bus.emit('pool.down', { connection: 1, pool: 'main', url: 'stratum+tcp://main:1', reason: 'reset', at });
  t.match(s.ledger.connections()[1], { pool: 'main', up: false, active: false, lastError: 'reset' });
  t.match(s.ledger.poolList()[0], { name: 'main', up: true, active: true }, 'main is still up and mined on connection 0');
  s.bus.emit('pool.switch', { connection: 1, from: 'main', to: 'backup', reason: 'main failed', at });
  s.bus.emit('pool.up', { connection: 1, pool: 'backup', url: 'stratum+tcp://backup:1', at });
  t.same(
    s.ledger.poolList().map((p) => [p.name, p.url, p.up, p.active, p.switchesTo]),
    [
      ['main', 'stratum+tcp://main:1', true, true, 0],
      ['backup', 'stratum+tcp://backup:1', true, true, 1],
    ],
  );
  t.match(s.ledger.connections()[1], { pool: 'backup', url: 'stratum+tcp://backup:1', up: true, active: true, lastError: null });
  s.bus.emit('pool.down', { connection: 0, pool: 'main', url: 'stratum+tcp://main:1', reason: 'gone', at });
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
