import t from 'tap';
import { SimFleet, type SimFleetOptions, type SimFleetStats } from '../../src/sim/fleet.js';
import { SimPool, type SimPoolOptions } from '../../src/sim/pool.js';
import { hasher } from '../helpers/share-kit.js';
import { sleep, until } from '../helpers/wait.js';

/**
 * The simulated fleet mining on the simulated pool over loopback. At difficulty 1e-8 a device hashing 200 H/s
 * finds about 4.7 shares a second, so a few seconds give plenty of shares; every wait is bounded (generous
 * limits, no speed asserted).
 */

/** What the helpers need of a tap test. */
type Test = { teardown(fn: () => unknown): void };
const WAIT = 40_000;

async function startPool(tt: Test, opts: SimPoolOptions = {}): Promise<SimPool> {
  const pool = new SimPool({ hasher, jobIntervalMs: 0, blockIntervalMs: 0, difficulty: 1e-8, ...opts });
  await pool.listen();
  tt.teardown(() => pool.close());
  return pool;
}

async function startFleet(tt: Test, pool: SimPool, opts: Partial<SimFleetOptions> = {}): Promise<SimFleet> {
  const fleet = new SimFleet({ hasher, port: pool.port, devices: 3, hashrate: 200, reconnectDelayMs: 100, maxReconnectDelayMs: 500, ...opts });
  tt.teardown(() => fleet.stop());
  await fleet.start();
  return fleet;
}

/** Stop hashing and wait until every submit sent has its answer. */
async function quiesce(fleet: SimFleet): Promise<SimFleetStats> {
  fleet.setHashrate(0);
  await sleep(100); // a hashing slice already under way may still submit
  return fleet.waitFor((s) => s.totals.accepted + s.totals.rejected + s.unanswered === s.totals.submitted && s.byKind.garbage.accepted + s.byKind.garbage.rejected === s.byKind.garbage.submitted, WAIT);
}

t.test('ten devices mine on the pool: shares accepted by its own validation, and both sides agree', async (t) => {
  const pool = await startPool(t);
  const fleet = await startFleet(t, pool, { devices: 10, workerPrefix: 'rack1' });
  await fleet.whenMining(10, WAIT);
  await until(() => fleet.allDeviceStats().every((d) => d.shares.accepted >= 2), 'two accepted shares per device', WAIT);
  const s = await quiesce(fleet);
  const p = pool.stats();
  t.equal(s.totals.rejected, 0, 'no rejections');
  t.equal(s.unanswered, 0);
  t.ok(s.totals.accepted >= 20);
  t.equal(p.totals.submitted, s.totals.submitted, 'submits seen by the pool = submits sent');
  t.equal(p.totals.accepted, s.totals.accepted, 'accepted');
  t.equal(p.totals.rejected, 0);
  t.ok(Math.abs(p.totals.acceptedDifficulty - s.totals.acceptedDifficulty) < 1e-15, 'same work credited');
  t.equal(s.sharesFound, s.byKind.valid.submitted, 'every share found was submitted once');
  t.equal(p.connections, 10);
  t.equal(p.authorized, 10);
  for (const d of fleet.allDeviceStats()) {
    t.equal(d.worker, `rack1.${d.index}`);
    const w = pool.workerStats(d.worker);
    t.equal(w.accepted, d.shares.accepted, `${d.worker}: accepted on both sides`);
    t.equal(pool.connectionOf(d.worker)?.extranonce1, d.extranonce1, `${d.worker}: the extranonce1 the pool gave`);
    t.equal(d.difficulty, 1e-8);
    t.equal(d.jobsReceived, 1);
  }
  t.same(p.methods, { 'mining.subscribe': 10, 'mining.authorize': 10, 'mining.extranonce.subscribe': 10, 'mining.submit': s.totals.submitted });
});

t.test('each misbehaviour gets the right error code at the pool', async (t) => {
  const pool = await startPool(t);
  const fleet = await startFleet(t, pool, { devices: 4 });
  await fleet.whenMining(4, WAIT);
  // A clean job first, so "stale" submits name a job the pool really superseded.
  pool.newBlock();
  await until(() => fleet.allDeviceStats().every((d) => d.cleanJobs >= 2), 'the clean job everywhere', WAIT);
  // Honest shares in flight across the clean job are stale (21): count them before the misbehaviour starts.
  const before = (await quiesce(fleet)).byKind.valid;
  t.same(Object.keys(before.rejectedByCode).filter((c) => c !== '21'), [], 'only stale honest shares so far');
  fleet.setHashrate(200);
  fleet.setMisbehaviour({ duplicate: 0.3, stale: 0.3, lowDifficulty: 0.3, garbage: 0.3, malformed: 0.3 });
  await fleet.waitFor((s) => ['duplicate', 'stale', 'lowDifficulty', 'garbage', 'malformed'].every((k) => s.byKind[k as 'stale'].submitted >= 3), WAIT);
  const s = await quiesce(fleet);
  const k = s.byKind;
  t.same(k.duplicate.rejectedByCode, { 22: k.duplicate.submitted }, 'duplicate: 22');
  t.same(k.stale.rejectedByCode, { 21: k.stale.submitted }, 'stale: 21');
  t.same(k.lowDifficulty.rejectedByCode, { 23: k.lowDifficulty.submitted }, 'low difficulty: 23');
  t.same(k.malformed.rejectedByCode, { 20: k.malformed.submitted }, 'malformed submit: 20');
  t.same(k.garbage.rejectedByCode, { 20: k.garbage.submitted }, 'garbage line: 20');
  t.equal(k.valid.rejected, before.rejected, 'the honest shares are all accepted');
  for (const kind of ['duplicate', 'stale', 'lowDifficulty', 'malformed', 'garbage'] as const) t.equal(k[kind].accepted, 0, `${kind}: nothing accepted`);
  const p = pool.stats();
  t.equal(p.totals.submitted, s.totals.submitted, 'the pool saw every submit');
  t.equal(p.totals.accepted, k.valid.accepted);
  t.same(p.totals.rejectedByCode, { 20: k.malformed.submitted, 21: k.stale.submitted + before.rejected, 22: k.duplicate.submitted, 23: k.lowDifficulty.submitted });
  t.equal(p.malformedLines, k.garbage.submitted, 'garbage lines counted apart from submits');
});

t.test('set_extranonce is followed from the next job; devices that did not subscribe reconnect', async (t) => {
  const pool = await startPool(t);
  const fleet = await startFleet(t, pool, { devices: 3 });
  await fleet.whenMining(3, WAIT);
  await until(() => fleet.allDeviceStats().every((d) => d.shares.accepted >= 1), 'a share per device', WAIT);
  const before = fleet.allDeviceStats();
  const { changed } = pool.setExtranonce('all');
  t.equal(changed.length, 3);
  await until(
    () => fleet.allDeviceStats().every((d, i) => d.extranonceChanges === 1 && d.shares.accepted >= before[i]!.shares.accepted + 2),
    'new extranonce and more accepted shares',
    WAIT,
  );
  for (const d of fleet.allDeviceStats()) {
    const conn = pool.connectionOf(d.worker)!;
    t.equal(d.extranonce1, conn.extranonce1, `${d.worker} uses the new extranonce1`);
    t.not(d.extranonce1, before[d.index]!.extranonce1);
  }
  const s = await quiesce(fleet);
  t.equal(s.totals.rejected, 0, 'no share lost across the change');
  t.equal(pool.stats().totals.accepted, s.totals.accepted);

  const plain = await startFleet(t, pool, { devices: 2, workerPrefix: 'plain', extranonceSubscribe: false });
  await plain.whenMining(2, WAIT);
  const r = pool.setExtranonce('all');
  t.equal(r.closed.length, 2, 'the two devices without extranonce.subscribe are closed');
  await plain.waitFor((st) => st.reconnects >= 2 && st.mining === 2, WAIT);
  t.pass('and they came back and mine');
});

t.test('client.reconnect moves the fleet to the given pool; empty params mean the same one', async (t) => {
  const pool1 = await startPool(t);
  const pool2 = await startPool(t);
  const fleet = await startFleet(t, pool1, { devices: 3 });
  await fleet.whenMining(3, WAIT);
  t.equal(pool1.sendReconnect({ host: '127.0.0.1', port: pool2.port, waitSeconds: 0 }), 3);
  await until(() => pool2.stats().authorized === 3 && pool2.stats().totals.accepted >= 3, 'the fleet mining on pool 2', WAIT);
  await until(() => pool1.connectionCount === 0, 'pool 1 left', WAIT);
  const s = fleet.stats();
  t.equal(s.reconnectRequests, 3);
  for (const d of fleet.allDeviceStats()) t.equal(d.port, pool2.port);
  pool2.sendReconnect();
  await until(() => pool2.stats().connectionsTotal === 6 && fleet.stats().mining === 3, 'reconnected to the same pool', WAIT);
  t.equal(fleet.stats().reconnectRequests, 6);
  t.equal(pool1.stats().connectionsTotal, 3);
});

t.test('a new difficulty applies from the next job and both sides credit the same work', async (t) => {
  const pool = await startPool(t);
  const fleet = await startFleet(t, pool, { devices: 3 });
  await fleet.whenMining(3, WAIT);
  const order: string[] = [];
  fleet.on('difficulty', (e) => e.device === 0 && order.push(`difficulty ${e.difficulty}`));
  fleet.on('job', (e) => e.device === 0 && order.push(`job ${e.difficulty}`));
  await until(() => fleet.stats().totals.accepted >= 3, 'shares at 1e-8', WAIT);
  pool.setDifficulty(2e-8);
  await until(() => fleet.allDeviceStats().every((d) => d.difficulty === 2e-8), 'the new difficulty', WAIT);
  const acceptedAtChange = fleet.stats().totals.accepted;
  await until(() => fleet.stats().totals.accepted >= acceptedAtChange + 3, 'shares at 2e-8', WAIT);
  t.same(order.slice(0, 2), ['difficulty 2e-8', 'job 2e-8'], 'set_difficulty, then the job it applies to');
  const s = await quiesce(fleet);
  t.equal(s.totals.rejected, 0);
  const p = pool.stats();
  t.equal(p.totals.accepted, s.totals.accepted);
  t.ok(Math.abs(p.totals.acceptedDifficulty - s.totals.acceptedDifficulty) < 1e-15, 'same difficulty credited per share');
  t.ok(s.totals.acceptedDifficulty > s.totals.accepted * 1e-8 * 1.0001, 'some shares were credited at 2e-8');
});

t.test('a found block triggers a clean job at the next height', async (t) => {
  // nbits 2000ffff: network difficulty ~6e-8, so about one share in six at 1e-8 is a block.
  const pool = await startPool(t, { nbits: '2000ffff' });
  const height = pool.height;
  const fleet = await startFleet(t, pool, { devices: 3 });
  await until(() => pool.stats().blocks.length >= 1, 'a block', WAIT);
  const block = pool.stats().blocks[0]!;
  t.equal(block.height, height);
  t.match(block.worker, /^sim\.[0-2]$/);
  t.ok(block.shareDifficulty >= block.networkDifficulty);
  await until(() => fleet.allDeviceStats().every((d) => d.cleanJobs >= 2), 'clean jobs on every device', WAIT);
  t.ok(pool.height > height);
  const s = await quiesce(fleet);
  const p = pool.stats();
  t.equal(p.totals.submitted, s.totals.submitted);
  t.equal(p.totals.accepted, s.totals.accepted);
  t.equal(p.totals.blocks, p.blocks.length);
  // Shares in flight when a block moved the pool on are stale (21); nothing else is refused.
  t.same(Object.keys(s.totals.rejectedByCode).filter((c) => c !== '21'), []);
});

t.test('kill, revive, dropped connections, refused authorization, version rolling', async (t) => {
  const pool = await startPool(t);
  const fleet = await startFleet(t, pool, { devices: 3, versionRolling: true });
  await fleet.whenMining(3, WAIT);
  for (const c of pool.connectionStats()) t.equal(c.versionMask, 0x1fffe000, 'version rolling negotiated');
  fleet.killDevice(1);
  await until(() => pool.connectionCount === 2, 'one connection gone', WAIT);
  t.equal(fleet.deviceStats(1).state, 'killed');
  fleet.reviveDevice(1);
  await fleet.whenMining(3, WAIT);
  t.equal(fleet.deviceStats(1).reconnects, 1);
  t.throws(() => fleet.killDevice(9), /no device 9/);

  pool.dropAll();
  await fleet.waitFor((s) => s.reconnects >= 4 && s.mining === 3, WAIT);
  t.pass('the fleet reconnects after the pool dropped it');
  await until(() => fleet.stats().totals.accepted >= 6, 'shares with rolled versions', WAIT);
  const s = await quiesce(fleet);
  // Answers on the wire when the pool dropped the connections never arrive: the fleet counts them unanswered.
  const poolAccepted = pool.stats().totals.accepted;
  t.ok(poolAccepted >= s.totals.accepted && poolAccepted <= s.totals.accepted + s.unanswered, `pool ${poolAccepted}, fleet ${s.totals.accepted} + ${s.unanswered} unanswered`);
  t.same(Object.keys(s.totals.rejectedByCode).filter((c) => c !== '21'), [], 'version-rolled shares are accepted');

  const strict = await startPool(t, { password: 'secret' });
  const refused = await startFleet(t, strict, { devices: 2, password: 'x' });
  await refused.waitFor((st) => st.authorizeRejected === 2, WAIT);
  t.equal(refused.deviceStats(0).state, 'unauthorized');
  t.equal(strict.stats().totals.submitted, 0, 'no submits from unauthorized devices');
});

t.test('fleet options are checked', async (t) => {
  t.throws(() => new SimFleet({ port: 0, devices: 1 }), /port must be 1 to 65535/);
  t.throws(() => new SimFleet({ port: 3333, devices: -1 }), /devices must be an integer/);
  t.throws(() => new SimFleet({ port: 3333, devices: 1, hashrate: -1 }), /hashrate/);
  t.throws(() => new SimFleet({ port: 3333, devices: 1, misbehaviour: { duplicate: 2 } }), /misbehaviour.duplicate must be from 0 to 1/);
});
