import t, { type Test } from 'tap';
import { EventBus, type ProxyEventMap } from '../../src/core/events.js';
import { silentLogger, type Logger } from '../../src/core/log.js';
import { Proxy, type ProxyOptions } from '../../src/proxy/proxy.js';
import type { RoutingSpec, RoutingTiming, TargetSpec } from '../../src/routing/types.js';
import type { NotifyParams } from '../../src/stratum/messages.js';
import type { PoolConfig } from '../../src/upstream/types.js';
import { blockNotify } from '../helpers/block-job.js';
import { FakeUpstream } from '../helpers/fake-upstream.js';
import { notifyOf } from '../helpers/line-client.js';
import { mine } from '../helpers/mine.js';
import { proxySessions } from '../helpers/proxy-sessions.js';
import { hasher } from '../helpers/share-kit.js';
import { sleep, until } from '../helpers/wait.js';

/**
 * Targets in the proxy, with an in-process upstream per target (FakeUpstream) and devices as real sessions
 * over in-memory pairs: where a device is placed, how it moves (time slices, fallback, reload), and that a
 * share always goes to the target whose job it was mined on. Each target's upstream has its own pool
 * extranonce1, so the jobs of two targets are different coinbases.
 */
const DEVICE_DIFF = 1e-6;

class TargetUpstream extends FakeUpstream {
  readonly poolLists: PoolConfig[][] = [];
  constructor(readonly target: string) {
    super();
  }
  setPools(pools: PoolConfig[]): void {
    this.poolLists.push(pools);
  }
}

const pools = (name: string, user = `${name}.user`): PoolConfig[] => [{ name: `pool-${name}`, url: `stratum+tcp://${name}.example:3333`, user, password: 'x' }];
const target = (name: string, weight = 1): TargetSpec => ({ name, weight, pools: pools(name) });


function setup(t: Test, routing: RoutingSpec, timing: Partial<RoutingTiming> = {}, more: { extranonce2Size?: number; proxy?: Partial<ProxyOptions> } = {}) {
  const bus = new EventBus();
  const upstreams: TargetUpstream[] = [];
  const proxy = new Proxy({
    hasher,
    bus,
    createUpstream: (index, spec) => {
      const up = new TargetUpstream(spec.name);
      up.pool = spec.pools[0]!.name;
      up.extranonce = { extranonce1: (0xa000 + index).toString(16), extranonce2Size: more.extranonce2Size ?? 10 };
      up.difficulty = DEVICE_DIFF; // every share goes to the pool
      upstreams.push(up);
      return up;
    },
    routing,
    routingTiming: { rebalanceMs: 3_600_000, ...timing },
    startDifficulty: DEVICE_DIFF,
    vardiff: { minDifficulty: DEVICE_DIFF, maxDifficulty: DEVICE_DIFF },
    ...more.proxy,
  });
  const moves: ProxyEventMap['device.route'][] = [];
  const splits: ProxyEventMap['device.split'][] = [];
  const forwarded: ProxyEventMap['share.upstream'][] = [];
  const disconnects: ProxyEventMap['device.disconnected'][] = [];
  const accepted: ProxyEventMap['share.accepted'][] = [];
  bus.on('device.route', (e) => moves.push(e));
  bus.on('device.split', (e) => splits.push(e));
  bus.on('share.accepted', (e) => accepted.push(e));
  bus.on('share.upstream', (e) => forwarded.push(e));
  bus.on('device.disconnected', (e) => disconnects.push(e));
  const { device, failures } = proxySessions(t, proxy);
  /** The target's first connection (lane 0), or its connection for `lane`. */
  const up = (name: string, lane = 0) => upstreams.find((u) => u.target === name && proxy.channels.find((c) => c.upstream === u)!.lane === lane)!;
  /** The target's pool comes up with a job. */
  const serve = (name: string, job = `${name}-1`) => {
    up(name).ready();
    up(name).job(blockNotify(job));
  };
  const miner = async (worker: string) => {
    const d = device();
    const sub = await d.client.request('mining.subscribe', []);
    await d.client.request('mining.authorize', [worker, 'x']);
    const [, extranonce1, extranonce2Size] = sub.result as [unknown, string, number];
    return { ...d, worker, extranonce1, extranonce2Size };
  };
  /** The device mines a share on the job of its last notify (or `job`) and submits it. */
  let en2 = 1;
  const submit = async (m: Awaited<ReturnType<typeof miner>>, job?: NotifyParams) => {
    const n = job ?? notifyOf(m.client.notifications('mining.notify').at(-1)!);
    const e2 = (en2++ % 256 ** m.extranonce2Size).toString(16).padStart(m.extranonce2Size * 2, '0');
    const share = mine(n, m.extranonce1, e2, DEVICE_DIFF);
    return m.client.request('mining.submit', [m.worker, n.jobId, e2, share.ntime, share.nonce]);
  };
  /** Which target a job a device got came from: the pool extranonce1 at the end of its coinb1. */
  const targetOfJob = (n: NotifyParams) => upstreams.find((u) => n.coinb1.endsWith(u.extranonce.extranonce1))!.target;
  return { proxy, up, serve, miner, submit, moves, splits, forwarded, accepted, disconnects, failures, targetOfJob, upstreams, device };
}

t.test('a sliced device: at each switch the new target\'s job (clean), the same extranonce, and a share of the old target\'s job still goes to the old target', async (t) => {
  const routing: RoutingSpec = { routes: [{ name: 'default', targets: [target('X'), target('Y')], fallback: 'none' }], routeOf: () => 'default' };
  // One device on a 50/50 route: sliced, 500 ms on each target per 1 s period.
  const f = setup(t, routing, { slicePeriodMs: 1000, minSliceMs: 100 });
  f.serve('X');
  f.serve('Y');
  await until(() => f.proxy.groups.every((g) => g.available), 'both targets available');
  const m = await f.miner('rig1');
  await until(() => m.client.notifications('mining.notify').length > 0, 'a first job');
  const placed = f.moves[0]!;
  t.match(placed, { worker: 'rig1', route: 'default', reason: 'placed' });
  t.equal(f.targetOfJob(notifyOf(m.client.notifications('mining.notify')[0]!)), placed.target, 'its first job is its target\'s');

  await until(() => f.moves.some((e) => e.reason === 'slice'), 'a slice switch', 5000);
  const at = f.moves.findIndex((e) => e.reason === 'slice');
  const sw = f.moves[at]!;
  const from = f.moves[at - 1]!.target;
  t.not(sw.target, from, 'to the other target');
  const lines = m.client.notifications('mining.notify');
  const oldJob = notifyOf(lines.filter((l) => f.targetOfJob(notifyOf(l)) === from).at(-1)!);
  await until(() => m.client.notifications('mining.notify').slice(lines.length - 1).some((l) => f.targetOfJob(notifyOf(l)) === sw.target), 'the new target\'s job');
  const newJob = m.client.notifications('mining.notify').filter((l) => f.targetOfJob(notifyOf(l)) === sw.target).at(-1)!;
  t.equal(newJob.params![8], true, 'sent with clean_jobs on');

  const before = { from: f.up(from).submits.length, to: f.up(sw.target).submits.length };
  const old = await f.submit(m, oldJob);
  t.equal(old.result, true, 'a share of the old target\'s job is accepted');
  t.equal(f.up(from).submits.length, before.from + 1, 'and went to the old target\'s pool');
  t.equal(f.up(sw.target).submits.length, before.to, 'not to the new one');
  t.match(f.forwarded.at(-1), { target: from, verdict: { kind: 'accepted' } });
  t.match(f.accepted.at(-1), { worker: 'rig1', route: 'default', target: from }, 'and its accepted work is credited to the old target');
  const fresh = await f.submit(m, notifyOf(newJob));
  t.equal(fresh.result, true);
  t.equal(f.up(sw.target).submits.length, before.to + 1, 'a share of the new target\'s job goes to the new target');
  t.match(f.accepted.at(-1), { worker: 'rig1', route: 'default', target: sw.target }, 'and is credited to the new target');

  // More switches: back and forth, never a set_extranonce, never a rejection.
  await until(() => f.moves.filter((e) => e.reason === 'slice').length >= 3, 'three switches', 5000);
  t.same(m.client.notifications('mining.set_extranonce'), []);
  t.same(f.failures, []);
  t.equal(f.disconnects.length, 0);
  t.equal(f.splits.length, 1, 'its split is told once (device.split), not at each switch');
  t.match(f.splits[0], { worker: 'rig1', route: 'default', kind: 'sliced', slices: [{ fraction: 0.5 }, { fraction: 0.5 }] });
});

t.test('fallback: a route whose targets are all down mines on the default route, and comes back when one recovers', async (t) => {
  const routing: RoutingSpec = {
    routes: [
      { name: 'alice', targets: [target('X')], fallback: 'default' },
      { name: 'bob', targets: [target('Y')], fallback: 'none' },
      { name: 'default', targets: [target('D')], fallback: 'none' },
    ],
    routeOf: (w) => (w.startsWith('alice.') ? 'alice' : w.startsWith('bob.') ? 'bob' : 'default'),
  };
  const f = setup(t, routing);
  f.serve('D');
  f.serve('Y');
  await until(() => f.proxy.groups.find((g) => g.name === 'D')!.available, 'D available');
  const alice = await f.miner('alice.rig1');
  const bob = await f.miner('bob.rig1');
  t.match(f.moves.find((e) => e.worker === 'alice.rig1'), { route: 'default', target: 'D', reason: 'placed' }, 'alice\'s own target is down: placed on the default route\'s');
  t.match(f.moves.find((e) => e.worker === 'bob.rig1'), { route: 'bob', target: 'Y', reason: 'placed' });
  t.equal((await f.submit(alice)).result, true);
  t.equal(f.up('D').submits.length, 1, 'alice mines on D meanwhile');

  f.serve('X');
  await until(() => f.moves.some((e) => e.worker === 'alice.rig1' && e.target === 'X'), 'alice back on her own target');
  t.match(f.moves.at(-1), { route: 'alice', target: 'X', reason: 'rebalance' });
  await until(() => f.targetOfJob(notifyOf(alice.client.notifications('mining.notify').at(-1)!)) === 'X', 'X\'s job');
  t.equal((await f.submit(alice)).result, true);
  t.equal(f.up('X').submits.length, 1);

  f.up('X').down('pool gone');
  await until(() => f.moves.filter((e) => e.worker === 'alice.rig1').length === 3, 'alice falls back');
  t.match(f.moves.at(-1), { worker: 'alice.rig1', route: 'default', target: 'D', reason: 'fallback' });
  f.up('Y').down('pool gone');
  f.serve('X', 'X-2');
  await until(() => f.moves.filter((e) => e.worker === 'alice.rig1').length === 4, 'alice returns');
  t.match(f.moves.at(-1), { worker: 'alice.rig1', target: 'X', reason: 'rebalance' });
  t.equal(f.moves.filter((e) => e.worker === 'bob.rig1').length, 1, 'bob (fallback none) waits on his own target');
  t.notOk(alice.client.closed || bob.client.closed, 'no device dropped');
  t.equal(f.disconnects.length, 0);
  t.same(f.failures, []);
});

t.test('setRouting (SIGHUP): unchanged targets keep their connections, changed pools are handed over, new targets open, devices move without a disconnect', async (t) => {
  const before: RoutingSpec = {
    routes: [
      { name: 'alice', targets: [target('X')], fallback: 'default' },
      { name: 'default', targets: [target('D')], fallback: 'none' },
    ],
    routeOf: (w) => (w.startsWith('alice.') ? 'alice' : 'default'),
  };
  const f = setup(t, before);
  f.serve('X');
  f.serve('D');
  await until(() => f.proxy.groups.every((g) => g.available), 'both available');
  const alice = await f.miner('alice.rig1');
  const carol = await f.miner('carol.rig1');
  await until(() => alice.client.notifications('mining.notify').length > 0 && carol.client.notifications('mining.notify').length > 0, 'jobs');
  const xJob = notifyOf(alice.client.notifications('mining.notify').at(-1)!);
  t.equal(f.upstreams.length, 2);

  const bad: RoutingSpec = { ...before, routes: [{ name: 'default', targets: [{ name: 'D', weight: 1, pools: [{ name: 'p', url: 'http://nope', user: 'u', password: 'x' }] }], fallback: 'none' }] };
  t.throws(() => f.proxy.setRouting(bad), /pools\[0\]\.url/, 'a bad pool list is refused');
  t.same(f.proxy.groups.map((g) => g.name), ['X', 'D'], 'and nothing changed');

  // alice moves to a new target Z; carol's route changes to alice's; D gets another account.
  const after: RoutingSpec = {
    routes: [
      { name: 'alice', targets: [target('Z')], fallback: 'default' },
      { name: 'default', targets: [{ name: 'D', weight: 1, pools: pools('D', 'D.other-account') }], fallback: 'none' },
    ],
    routeOf: (w) => (w.startsWith('alice.') || w.startsWith('carol.') ? 'alice' : 'default'),
  };
  f.proxy.setRouting(after);
  t.same(f.proxy.groups.map((g) => g.name), ['Z', 'D']);
  t.equal(f.upstreams.length, 3, 'one new connection: Z\'s');
  t.same(f.up('D').poolLists, [pools('D', 'D.other-account')], 'D kept its connection and took the new pool list');
  t.equal(f.up('X').started && f.up('X').isReady, true, 'X stays open while alice is still on it');
  f.serve('Z');
  await until(() => f.moves.filter((e) => e.reason === 'reload').length === 2, 'both moved');
  t.same(f.moves.filter((e) => e.reason === 'reload').map((e) => [e.worker, e.route, e.target]).sort(), [['alice.rig1', 'alice', 'Z'], ['carol.rig1', 'alice', 'Z']]);
  t.equal((await f.submit(alice, xJob)).result, true, 'a share of X\'s job after the move is accepted');
  t.equal(f.up('X').submits.length, 1, 'by X, whose job it was');
  t.equal((await f.submit(carol)).result, true);
  t.equal(f.up('Z').submits.length, 1);
  t.notOk(alice.client.closed || carol.client.closed, 'no device dropped');
  t.equal(f.disconnects.length, 0);
  t.same(f.failures, []);
});

t.test('a device of lane 1: each target opens its lane-1 connection when the device comes, and the device keeps its extranonce1 across targets', async (t) => {
  const routing: RoutingSpec = {
    routes: [
      { name: 'alice', targets: [target('X')], fallback: 'default' },
      { name: 'default', targets: [target('D')], fallback: 'none' },
    ],
    routeOf: (w) => (w.startsWith('alice.') ? 'alice' : 'default'),
  };
  // 2 bytes of pool extranonce2 and a 1-byte minimum: 1-byte prefixes, 256 devices per lane.
  const f = setup(t, routing, {}, { extranonce2Size: 2, proxy: { expectedDevices: 1, minDeviceExtranonce2: 1 } });
  f.serve('X');
  f.serve('D');
  await until(() => f.proxy.groups.every((g) => g.available), 'both available');
  for (let i = 0; i < 256; i++) await f.proxy.subscribe(f.device().session); // lane 0 taken
  t.equal(f.proxy.channels.length, 2, 'lane 0 of each target');
  const alice = await f.miner('alice.rig1');
  t.equal(alice.extranonce1, '00', 'slot 256: lane 1, prefix 00');
  await until(() => f.proxy.channels.length === 3, 'X opens its lane-1 connection');
  t.match(f.proxy.channels[2], { lane: 1, place: { target: 'X' } });
  f.up('X', 1).ready();
  f.up('X', 1).job(blockNotify('X-lane1'));
  await until(() => alice.client.notifications('mining.notify').length === 1, 'a job from X\'s lane-1 connection');
  t.equal(f.targetOfJob(notifyOf(alice.client.notifications('mining.notify')[0]!)), 'X');
  t.equal((await f.submit(alice)).result, true);
  t.same(f.up('X', 1).submits.map((s) => s.extranonce2.slice(0, 2)), ['00'], 'forwarded on lane 1 with its prefix');
  t.equal(f.up('X').submits.length, 0, 'nothing on lane 0');

  // X goes away: alice falls back to D, whose lane-1 connection opens now; she moves once it has a job.
  f.up('X', 1).down('gone');
  f.up('X').down('gone');
  await until(() => f.proxy.channels.length === 4, 'D opens its lane-1 connection');
  t.equal(f.moves.filter((e) => e.worker === 'alice.rig1').length, 1, 'not moved while D\'s lane-1 connection has no job');
  f.up('D', 1).ready();
  f.up('D', 1).job(blockNotify('D-lane1'));
  await until(() => f.moves.filter((e) => e.worker === 'alice.rig1').length === 2, 'alice moved to D');
  t.match(f.moves.at(-1), { target: 'D', reason: 'fallback' });
  await until(() => f.targetOfJob(notifyOf(alice.client.notifications('mining.notify').at(-1)!)) === 'D', 'D\'s job');
  t.equal((await f.submit(alice)).result, true);
  t.same(f.up('D', 1).submits.map((s) => s.extranonce2.slice(0, 2)), ['00'], 'the same prefix on D\'s lane 1');
  t.same(alice.client.notifications('mining.set_extranonce'), [], 'never a set_extranonce');
  t.same(f.failures, []);
});

/**
 * Route alice (target X, falling back to the default route) and the default route (target D), pass-through
 * workers; both targets serve and device alice.rig1 mines on X.
 */
async function passthroughSetup(t: Test) {
  const routing: RoutingSpec = {
    routes: [
      { name: 'alice', targets: [target('X')], fallback: 'default' },
      { name: 'default', targets: [target('D')], fallback: 'none' },
    ],
    routeOf: (w) => (w.startsWith('alice.') ? 'alice' : 'default'),
  };
  const warnings: { msg: string; fields: Record<string, unknown> | undefined }[] = [];
  const log: Logger = { ...silentLogger, warn: (msg, fields) => void warnings.push({ msg, fields }), child: () => log };
  // A rebalance every 100 ms: a move that waits is asked for again and again meanwhile.
  const f = setup(t, routing, { rebalanceMs: 100 }, { proxy: { workerMode: 'passthrough', log } });
  f.serve('X');
  f.serve('D');
  await until(() => f.proxy.groups.every((g) => g.available), 'both targets available');
  const alice = await f.miner('alice.rig1');
  return { ...f, warnings, alice };
}

t.test('pass-through: a move waits for the new pool to authorize the worker; its shares then go there under the worker\'s name', async (t) => {
  const f = await passthroughSetup(t);
  const alice = f.alice;
  t.same(f.up('X').authorized, ['alice.rig1'], 'authorized on the target it was placed on');
  t.match(f.moves, [{ worker: 'alice.rig1', target: 'X', reason: 'placed' }]);
  // D's pool answers the authorization when the test says so.
  const d = f.up('D');
  let answer: ((ok: boolean) => void) | null = null;
  d.authorizeWorker = async (name) => {
    d.authorized.push(name);
    return new Promise<boolean>((resolve) => (answer = resolve));
  };

  f.up('X').down('pool gone');
  await until(() => d.authorized.length === 1, 'D is asked to authorize the worker');
  t.same(d.authorized, ['alice.rig1']);
  const jobs = alice.client.notifications('mining.notify').length;
  await sleep(500);
  t.equal(f.moves.length, 1, 'no move while the answer is awaited (five rebalances)');
  t.equal(d.authorized.length, 1, 'asked once');
  t.equal(alice.client.notifications('mining.notify').length, jobs, 'no job of D yet');

  answer!(true);
  await until(() => f.moves.length === 2, 'the move once D authorized the worker');
  t.match(f.moves[1], { worker: 'alice.rig1', route: 'default', target: 'D', reason: 'fallback' });
  await until(() => alice.client.notifications('mining.notify').length > jobs, 'D\'s job');
  t.equal(f.targetOfJob(notifyOf(alice.client.notifications('mining.notify').at(-1)!)), 'D');
  t.equal((await f.submit(alice)).result, true, 'its first share on D is accepted');
  t.match(d.submits, [{ worker: 'alice.rig1' }], 'under its own worker name');
  t.same(f.warnings.filter((w) => /refused its worker/.test(w.msg)), []);
  t.same(f.failures, []);
  t.equal(f.disconnects.length, 0);
});

t.test('pass-through: when the new pool refuses the worker the device does not move, and why is logged once', async (t) => {
  const f = await passthroughSetup(t);
  const alice = f.alice;
  f.up('D').acceptWorker = () => false;

  f.up('X').down('pool gone');
  await until(() => f.up('D').authorized.length === 1, 'D is asked to authorize the worker');
  await until(() => f.warnings.some((w) => /refused its worker/.test(w.msg)), 'the refusal is logged');
  await sleep(500);
  t.equal(f.up('D').authorized.length, 1, 'not asked again at the next rebalances');
  t.match(f.moves, [{ worker: 'alice.rig1', target: 'X', reason: 'placed' }], 'no move');
  const logged = f.warnings.filter((w) => /refused its worker/.test(w.msg));
  t.equal(logged.length, 1, 'logged once');
  t.match(logged[0]!.fields, { worker: 'alice.rig1', target: 'D', route: 'default', pool: 'pool-D' });

  // X comes back: the device mines there again, with no disconnect.
  const jobs = alice.client.notifications('mining.notify').length;
  f.serve('X', 'X-2');
  await until(() => alice.client.notifications('mining.notify').length > jobs, 'X\'s new job');
  t.equal(f.targetOfJob(notifyOf(alice.client.notifications('mining.notify').at(-1)!)), 'X');
  t.equal((await f.submit(alice)).result, true);
  t.equal(f.up('D').submits.length, 0, 'nothing went to the pool that refused the worker');
  t.same(f.failures, []);
  t.equal(f.disconnects.length, 0);
});

/** Route 'default' split 97/3 between targets main and fee, both serving, plans every 50 ms, one device rig1. */
async function feeSetup(t: Test, proxy: Partial<ProxyOptions> = {}) {
  const routing: RoutingSpec = { routes: [{ name: 'default', targets: [target('main', 97), target('fee', 3)], fallback: 'none' }], routeOf: () => 'default' };
  const f = setup(t, routing, { rebalanceMs: 50 }, { proxy });
  f.serve('main');
  f.serve('fee');
  await until(() => f.proxy.groups.every((g) => g.available), 'both targets available');
  const rig = await f.miner('rig1');
  await until(() => f.splits.length > 0, 'a device.split');
  // Several more plans: the split does not change, so nothing more is told.
  await sleep(300);
  return { ...f, rig };
}

t.test('device.split: a single device on a 97/3 route is time-sliced once, with those fractions', async (t) => {
  const f = await feeSetup(t);
  t.equal(f.splits.length, 1, 'one event for a split that stays the same over several plans');
  const [split] = f.splits;
  t.match(split, { worker: 'rig1', route: 'default', kind: 'sliced' });
  if (split?.kind !== 'sliced') return;
  t.same(split.slices.map((s) => s.target), ['main', 'fee']);
  t.ok(Math.abs(split.slices[0]!.fraction - 0.97) < 1e-9 && Math.abs(split.slices[1]!.fraction - 0.03) < 1e-9, `fractions 0.97 / 0.03 (${split.slices.map((s) => s.fraction)})`);
  t.notOk('wholeBecause' in split);
  t.same(f.failures, []);
});

t.test('device.split: in pass-through worker mode the same device is kept whole, and the event says why', async (t) => {
  const f = await feeSetup(t, { workerMode: 'passthrough' });
  t.equal(f.splits.length, 1, 'one event');
  t.same(f.splits[0], { sessionId: f.splits[0]!.sessionId, worker: 'rig1', route: 'default', kind: 'whole', wholeBecause: 'pass-through worker mode', at: f.splits[0]!.at });
  t.match(f.moves, [{ worker: 'rig1', target: 'main', reason: 'placed' }], 'whole on the target of its larger share');
  t.same(f.failures, []);
});

t.test('device.split: a device on a route with one target is never told (it starts whole and stays so)', async (t) => {
  const routing: RoutingSpec = { routes: [{ name: 'default', targets: [target('main')], fallback: 'none' }], routeOf: () => 'default' };
  const f = setup(t, routing, { rebalanceMs: 50 });
  f.serve('main');
  await until(() => f.proxy.groups.every((g) => g.available), 'available');
  await f.miner('rig1');
  await sleep(300);
  t.same(f.splits, []);
});
