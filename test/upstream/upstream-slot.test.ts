import t from 'tap';
import { UpstreamSlot, type UpstreamSlotOptions } from '../../src/upstream/upstream-slot.js';
import type { PoolConfig, UpstreamJob } from '../../src/upstream/types.js';
import { closedPort, FAST_SLOT, healthyPool, notifyParams, ScriptedPool } from '../helpers/scripted-pool.js';
import { sleep, until } from '../helpers/wait.js';

/** The subtest object tap hands to a test function. */
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const FAST: Partial<UpstreamSlotOptions> = FAST_SLOT;

async function pool(t: Test, behaviour = healthyPool()): Promise<ScriptedPool> {
  const p = await ScriptedPool.start({ behaviour });
  t.teardown(() => p.close());
  return p;
}

const config = (name: string, p: ScriptedPool | string): PoolConfig => ({
  name,
  url: typeof p === 'string' ? p : p.url,
  user: `${name}.user`,
  password: 'x',
});

interface Recorder {
  slot: UpstreamSlot;
  /** `down:A`, `switch:A->B`, `ready:B`, `retry:A#1+20`, `job:B/1`, ... in order. */
  events: string[];
  jobs: UpstreamJob[];
  logs: string[];
  /** Resolves once `count` (default 1) event strings matching `re` were recorded (bounded). */
  until(re: RegExp, count?: number, timeoutMs?: number): Promise<void>;
}

function slotOf(t: Test, options: UpstreamSlotOptions): Recorder {
  const logs: string[] = [];
  const slot = new UpstreamSlot({ ...FAST, log: (level, m) => logs.push(`${level}: ${m}`), ...options });
  t.teardown(() => slot.stop());
  const events: string[] = [];
  const jobs: UpstreamJob[] = [];
  slot.on('down', (d) => events.push(`down:${d.pool}`));
  slot.on('switch', (s) => events.push(`switch:${s.from}->${s.to}`));
  slot.on('ready', (r) => events.push(`ready:${r.pool}`));
  slot.on('retry', (r) => events.push(`retry:${r.pool}#${r.failures}+${r.delayMs}`));
  slot.on('job', (j) => {
    jobs.push(j);
    events.push(`job:${slot.current?.name}/${j.notify.jobId}`);
  });
  const untilEvents = (re: RegExp, count = 1, timeoutMs = 10_000) =>
    until(() => events.filter((e) => re.test(e)).length >= count, () => `${count} events matching ${re}; got ${events.join(' ')}`, timeoutMs);
  return { slot, events, jobs, logs, until: untilEvents };
}

const only = (events: string[], ...kinds: string[]) => events.filter((e) => kinds.some((k) => e.startsWith(`${k}:`)));
const share = { worker: 'w', jobId: '1', extranonce2: '00000000', ntime: '6b0187b1', nonce: '00000001' };

t.test('failover: first pool down -> second takes over -> first comes back -> switch back', async (t) => {
  const a = await pool(t);
  a.mode = 'reset'; // accepts and drops every connection: down
  const b = await pool(t, healthyPool({ extranonce1: 'bbbb0000', jobs: ['b1'] }));
  const r = slotOf(t, { pools: [config('A', a), config('B', b)] });
  t.equal(r.slot.current, null);
  r.slot.start();
  await r.until(/^job:B\/b1$/);
  t.same(only(r.events, 'down', 'switch', 'ready'), ['down:A', 'down:A', 'switch:A->B', 'ready:B'], 'two failed attempts on A, then B');
  t.same(r.slot.current, { name: 'B', url: b.url });
  t.same(r.slot.extranonce, { extranonce1: 'bbbb0000', extranonce2Size: 4 });
  t.ok(r.slot.isReady);
  t.match(await r.slot.submit(share), { kind: 'accepted' }, 'submits go to B');
  const bClient = b.clients[0]!;

  // A comes back: the probe finds it healthy and the slot switches back to it.
  a.behaviour = healthyPool({ extranonce1: 'aaaa0000', jobs: ['a1'] });
  a.mode = 'serve';
  await r.until(/^job:A\/a1$/);
  t.same(
    only(r.events, 'down', 'switch', 'ready', 'job'),
    ['down:A', 'down:A', 'switch:A->B', 'ready:B', 'job:B/b1', 'switch:B->A', 'ready:A', 'job:A/a1'],
    'events in order',
  );
  t.same(r.slot.current, { name: 'A', url: a.url });
  t.same(r.slot.extranonce, { extranonce1: 'aaaa0000', extranonce2Size: 4 });
  await bClient.waitClosed();
  t.pass('the B session was closed after the switch');
  bClient.notify('mining.notify', notifyParams('late-b'));
  t.notOk(r.jobs.some((j) => j.notify.jobId === 'late-b'), 'nothing from B after the switch');
  const sw = r.events.indexOf('switch:B->A');
  t.equal(r.events.slice(sw).filter((e) => e.startsWith('down:')).length, 0, 'the switch itself is not reported as a down');
});

t.test('authorization refused: fail over at once, no retries on that pool', async (t) => {
  const a = await pool(t, healthyPool({ authorize: () => ({ result: false }) }));
  const b = await pool(t);
  const r = slotOf(t, { pools: [config('A', a), config('B', b)], failoverAfter: 5, probeIntervalMs: 60_000 });
  const switches: { from: string | null; to: string; reason: string }[] = [];
  r.slot.on('switch', (s) => switches.push(s));
  r.slot.start();
  await r.until(/^ready:B$/);
  t.same(only(r.events, 'down', 'switch', 'ready'), ['down:A', 'switch:A->B', 'ready:B']);
  t.same(switches, [{ from: 'A', to: 'B', reason: "pool A: authorization rejected: pool answered false for user 'A.user'" }]);
  t.equal(a.connections, 1, 'A was tried once');
});

t.test('backoff grows while a pool stays down and starts over after a success', async (t) => {
  const a = await pool(t);
  a.mode = 'reset';
  const r = slotOf(t, { pools: [config('A', a)], backoff: { baseMs: 20, maxMs: 80, factor: 2, jitter: 'none' } });
  r.slot.start();
  await r.until(/^retry:A#5\+/);
  t.same(only(r.events, 'retry').slice(0, 5), ['retry:A#1+20', 'retry:A#2+40', 'retry:A#3+80', 'retry:A#4+80', 'retry:A#5+80'], 'one pool: no failover, only backoff');
  t.equal(only(r.events, 'switch').length, 0);

  a.behaviour = healthyPool();
  a.mode = 'serve';
  await r.until(/^ready:A$/);
  const mark = r.events.length;
  a.dropAll();
  await r.until(/^ready:A$/, 2);
  t.same(only(r.events.slice(mark), 'down', 'retry', 'ready'), ['down:A', 'retry:A#1+20', 'ready:A'], 'after a success the first delay again');
});

t.test('a healthy session that drops is retried on the same pool before failing over', async (t) => {
  const a = await pool(t);
  const b = await pool(t);
  const r = slotOf(t, { pools: [config('A', a), config('B', b)], failoverAfter: 2, probeIntervalMs: 60_000 });
  r.slot.start();
  await r.until(/^ready:A$/);
  a.dropAll();
  await r.until(/^ready:A$/, 2);
  t.same(only(r.events, 'down', 'switch', 'ready'), ['ready:A', 'down:A', 'ready:A'], 'reconnected to A, no switch');
  t.equal(b.connections, 0);
});

t.test('submit: answered on the current session; at once with no pool; lost when the session drops', async (t) => {
  const silentSubmits = healthyPool({ submit: () => 'silence' });
  const a = await pool(t, silentSubmits);
  const r = slotOf(t, { pools: [config('A', a)], backoff: { baseMs: 5000, maxMs: 5000, jitter: 'none' } });
  t.same(await r.slot.submit(share), { kind: 'unanswered', cause: 'no-pool', reason: 'no pool connection', latencyMs: 0 }, 'before start');
  r.slot.start();
  await r.until(/^ready:A$/);
  const pending = r.slot.submit(share);
  await a.clients[0]!.next('mining.submit');
  a.dropAll();
  t.match(await pending, { kind: 'unanswered', cause: 'connection-lost', reason: 'pool connection lost' });
  await r.until(/^down:A$/);
  t.match(await r.slot.submit(share), { kind: 'unanswered', cause: 'no-pool', reason: 'no pool connection' }, 'while down');
  t.equal(r.slot.current, null);
  t.equal(r.slot.extranonce, null);
});

t.test('switching back lets the old pool answer the submits in flight', async (t) => {
  const a = await pool(t);
  a.mode = 'reset';
  let held: (() => void) | null = null;
  const b = await pool(
    t,
    healthyPool({
      submit: () => 'silence',
    }),
  );
  b.behaviour = (client, req) => {
    if (req.method === 'mining.submit') {
      held = () => client.reply(req.id, true);
      return;
    }
    healthyPool()(client, req);
  };
  const r = slotOf(t, { pools: [config('A', a), config('B', b)], failoverAfter: 1, switchGraceMs: 10_000 });
  r.slot.start();
  await r.until(/^ready:B$/);
  const inFlight = r.slot.submit(share);
  await b.clients[0]!.next('mining.submit');
  a.behaviour = healthyPool();
  a.mode = 'serve';
  await r.until(/^ready:A$/);
  t.ok(b.clients[0]!.isOpen, 'B is kept open while a submit waits for its answer');
  held!();
  t.match(await inFlight, { kind: 'accepted' }, 'the answer from B still reaches the share');
  await b.clients[0]!.waitClosed();
});

t.test('probing goes through the higher-priority pools in order', async (t) => {
  const a = await pool(t);
  const b = await pool(t);
  const c = await pool(t);
  a.mode = 'reset';
  b.mode = 'reset';
  const r = slotOf(t, { pools: [config('A', a), config('B', b), config('C', c)], failoverAfter: 1 });
  r.slot.start();
  await r.until(/^ready:C$/);
  b.mode = 'serve';
  await r.until(/^ready:B$/);
  a.mode = 'serve';
  await r.until(/^ready:A$/);
  t.same(only(r.events, 'switch', 'ready'), ['switch:A->B', 'switch:B->C', 'ready:C', 'switch:C->B', 'ready:B', 'switch:B->A', 'ready:A']);
});

t.test('client.reconnect: the slot goes where the pool said (same host), after the wait, without a failover', async (t) => {
  const a = await pool(t);
  const a2 = await pool(t);
  const b = await pool(t);
  const r = slotOf(t, { pools: [config('A', a), config('B', b)], failoverAfter: 1, probeIntervalMs: 60_000 });
  r.slot.start();
  await r.until(/^ready:A$/);
  a.clients[0]!.notify('client.reconnect', ['127.0.0.1', a2.port, 0]);
  await r.until(/^ready:A$/, 2);
  t.same(only(r.events, 'down', 'switch', 'ready', 'retry'), ['ready:A', 'down:A', 'retry:A#0+0', 'ready:A']);
  t.same(r.slot.current, { name: 'A', url: a2.url }, 'now on the address the pool gave');
  t.equal(b.connections, 0, 'no failover');
});

t.test('client.reconnect before the session is up gets the backoff (a pool cannot make us spin)', async (t) => {
  const a = await pool(t, (client, req) => {
    if (req.method === 'mining.subscribe') client.notify('client.reconnect', ['127.0.0.1', (client.socket.localPort ?? 0), 0]);
  });
  const r = slotOf(t, { pools: [config('A', a)], backoff: { baseMs: 30, maxMs: 1000, factor: 2, jitter: 'none' } });
  r.slot.start();
  await r.until(/^retry:A/, 3);
  t.same(only(r.events, 'retry').slice(0, 3), ['retry:A#0+30', 'retry:A#0+60', 'retry:A#0+120'], 'growing delays, not the 0 s the pool asked for');
});

t.test('pass-through workers are authorized again on every new session', async (t) => {
  const a = await pool(t);
  const r = slotOf(t, { pools: [config('A', a)] });
  t.equal(await r.slot.authorizeWorker('farm.rig1', 'p1'), false, 'no pool yet');
  r.slot.start();
  await r.until(/^ready:A$/);
  t.equal(await r.slot.authorizeWorker('farm.rig2', 'p2'), true);
  const first = await a.nextClient();
  t.same(
    first.requests.filter((q) => q.method === 'mining.authorize').map((q) => q.params),
    [['A.user', 'x'], ['farm.rig1', 'p1'], ['farm.rig2', 'p2']],
    'the name asked for before ready is authorized once the session is up',
  );
  r.slot.forgetWorker('farm.rig1');
  a.dropAll();
  const second = await a.nextClient();
  await second.next('mining.authorize');
  const again = await second.next('mining.authorize');
  t.same(again.params, ['farm.rig2', 'p2']);
  await r.until(/^ready:A$/, 2);
  t.equal(second.requests.filter((q) => q.method === 'mining.authorize').length, 2, 'forgotten names are not sent');
});

t.test('stop(): closes sessions and probes, clears timers, resolves pending submits, no events after', async (t) => {
  await sleep(20); // let handles of earlier tests finish closing
  const before = resourceCounts();
  const a = await ScriptedPool.start();
  a.mode = 'reset';
  const b = await ScriptedPool.start({ behaviour: healthyPool({ submit: () => 'silence' }) });
  const r = slotOf(t, { pools: [config('A', a), config('B', b)], failoverAfter: 1, probeIntervalMs: 50 });
  r.slot.start();
  await r.until(/^ready:B$/);
  const pending = r.slot.submit(share);
  await b.clients[0]!.next('mining.submit');
  const count = r.events.length;
  await r.slot.stop();
  t.match(await pending, { kind: 'unanswered', cause: 'connection-lost', reason: 'pool connection lost' });
  t.equal(r.slot.isReady, false);
  await b.clients[0]!.waitClosed();
  await sleep(200); // longer than the probe interval and any backoff
  t.equal(r.events.length, count, 'no events after stop');
  const connectionsToA = a.connections;
  await sleep(200);
  t.equal(a.connections, connectionsToA, 'no more probes after stop');
  await a.close();
  await b.close();
  await sleep(20); // closed handles leave the list on the next loop turn
  const after = resourceCounts();
  const leftovers = Object.entries(after).filter(([name, n]) => n > (before[name] ?? 0));
  t.same(leftovers, [], `no timers or sockets left behind (before ${JSON.stringify(before)}, after ${JSON.stringify(after)})`);
  t.throws(() => r.slot.start(), { message: 'upstream slot: start() after stop()' });
});

t.test('configuration errors name the field', async (t) => {
  const good = config('A', 'stratum+tcp://127.0.0.1:3333');
  t.throws(() => new UpstreamSlot({ pools: [] }), { message: 'pools: at least one pool is required' });
  t.throws(() => new UpstreamSlot({ pools: [good, { ...good, name: 'B', url: 'stratum+tcp://pool' }] }), {
    message: "pools[1].url: pool url 'stratum+tcp://pool': missing port",
  });
  t.throws(() => new UpstreamSlot({ pools: [good, { ...good }] }), { message: "pools[1].name: 'A' is used by another pool" });
  t.throws(() => new UpstreamSlot({ pools: [{ ...good, user: '' }] }), { message: 'pools[0].user: must be a non-empty string' });
  t.throws(() => new UpstreamSlot({ pools: [good], failoverAfter: 0 }), { message: 'failoverAfter must be a positive integer, got 0' });
  t.throws(() => new UpstreamSlot({ pools: [good], probeIntervalMs: -5 }), { message: 'probeIntervalMs must be a positive number of milliseconds, got -5' });
  t.throws(() => new UpstreamSlot({ pools: [good], backoff: { baseMs: 0 } }), { message: 'backoff.baseMs must be a positive number of milliseconds, got 0' });
});

t.test('a pool that refuses connections is reported down with the reason', async (t) => {
  const port = await closedPort();
  const r = slotOf(t, { pools: [config('A', `stratum+tcp://127.0.0.1:${port}`)] });
  const downs: string[] = [];
  r.slot.on('down', (d) => downs.push(d.reason));
  r.slot.start();
  await r.until(/^down:A$/);
  t.equal(downs[0], `connect failed: connect ECONNREFUSED 127.0.0.1:${port}`);
});

/** A pool that answers the handshake, then (after the authorize answer: the session is up) sends `jobs`. */
function poolSending(jobs: () => unknown[][]): ReturnType<typeof healthyPool> {
  return (client, req) => {
    if (req.method === 'mining.subscribe') {
      client.reply(req.id, [[['mining.notify', 'x']], 'aaaa0000', 4]);
      client.notify('mining.set_difficulty', [1]);
    } else if (req.method === 'mining.authorize') {
      client.reply(req.id, true);
      for (const p of jobs()) client.notify('mining.notify', p);
    }
  };
}

const zeroTargetJob = (id: string) => {
  const p = notifyParams(id);
  p[6] = '00000000';
  return p;
};

t.test('pool health: unusable jobs in a row are a fault; after the reconnect the count starts again', async (t) => {
  const a = await pool(t, poolSending(() => [zeroTargetJob('z1'), zeroTargetJob('z2')]));
  const r = slotOf(t, { pools: [config('A', a)], connection: { maxBadJobsInARow: 2 } });
  const faults: unknown[] = [];
  r.slot.on('jobRefused', (i) => r.events.push(`refused:${i.pool}#${i.inARow}`));
  r.slot.on('fault', (f) => {
    faults.push(f);
    r.events.push(`fault:${f.pool}`);
  });
  r.slot.start();
  await r.until(/^fault:A$/, 2);
  t.same(
    only(r.events, 'ready', 'refused', 'fault', 'down').slice(0, 8),
    ['ready:A', 'refused:A#1', 'refused:A#2', 'fault:A', 'down:A', 'ready:A', 'refused:A#1', 'refused:A#2'],
    'a new session counts from 1 again',
  );
  const reason = '2 unusable jobs in a row (last: mining.notify: nbits 00000000 encodes a zero target)';
  t.same(faults[0], { pool: 'A', url: a.url, reason });
  t.ok(r.logs.includes(`warn: pool A down: ${reason}`), 'the session ends with the fault as its reason');
  t.equal(r.jobs.length, 0, 'no unusable job came out');
  t.ok(a.connections >= 2, 'one pool: reconnected (with backoff)');
});

t.test('pool health: no usable job in time after ready is a fault (fail over at once); a usable job ends the wait', async (t) => {
  const a = await pool(t, poolSending(() => [['bad']]));
  const b = await pool(t, healthyPool({ extranonce1: 'bbbb0000', jobs: ['b1'] }));
  const r = slotOf(t, { pools: [config('A', a), config('B', b)], failoverAfter: 5, probeIntervalMs: 60_000, connection: { firstJobTimeoutMs: 150 } });
  const switches: string[] = [];
  r.slot.on('switch', (s) => switches.push(s.reason));
  r.slot.on('fault', (f) => r.events.push(`fault:${f.pool}`));
  r.slot.on('jobRefused', (i) => r.events.push(`refused:${i.pool}#${i.inARow}`));
  r.slot.start();
  await r.until(/^job:B\/b1$/);
  t.same(only(r.events, 'ready', 'refused', 'fault', 'down', 'switch', 'job'), ['ready:A', 'refused:A#1', 'fault:A', 'down:A', 'switch:A->B', 'ready:B', 'job:B/b1']);
  t.same(switches, ['pool A: no usable job within 0.15 s of the connection being ready']);
  t.equal(a.connections, 1, 'a pool fault: no retry on A first');
  await sleep(400);
  t.notOk(r.events.includes('fault:B'), 'B sent a usable job: no fault after the timeout');
  t.ok(r.slot.isReady);
});

t.test('pool health: the first-job wait starts again on every new session', async (t) => {
  const a = await pool(t, poolSending(() => []));
  const r = slotOf(t, { pools: [config('A', a)], connection: { firstJobTimeoutMs: 150 } });
  const stamps: string[] = [];
  const at: number[] = [];
  r.slot.on('ready', () => {
    stamps.push('ready');
    at.push(Date.now());
  });
  r.slot.on('fault', () => {
    stamps.push('fault');
    at.push(Date.now());
    r.events.push('fault:A');
  });
  r.slot.start();
  await r.until(/^fault:A$/, 2);
  t.same(stamps.slice(0, 4), ['ready', 'fault', 'ready', 'fault']);
  t.ok(at[1]! - at[0]! >= 140, `first session: fault ${at[1]! - at[0]!} ms after ready`);
  t.ok(at[3]! - at[2]! >= 140, `second session: fault ${at[3]! - at[2]!} ms after its own ready`);
});

/** Timers and TCP handles alive in this process (tap's own stay constant within a test). */
function resourceCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo()) {
    if (name === 'Timeout' || name.startsWith('TCP')) counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}
