import t from 'tap';
import { EventBus, type ProxyEventMap } from '../../src/core/events.js';
import { FarmLedger, poolResultOf } from '../../src/observe/farm-ledger.js';
import { Proxy } from '../../src/proxy/proxy.js';
import type { RpcRequest } from '../../src/stratum/jsonrpc.js';
import { UpstreamSlot } from '../../src/upstream/upstream-slot.js';
import { hasher } from '../helpers/share-kit.js';
import { proxyUnderTest } from '../helpers/proxy-under-test.js';
import { notifyParams, ScriptedPool, type ScriptedClient } from '../helpers/scripted-pool.js';
import { errorOf } from '../helpers/line-client.js';
import { sleep, until } from '../helpers/wait.js';
import { GoodDevice, recordingLogger } from './helpers.js';

/**
 * Pool faults through the whole path: Proxy + UpstreamSlot against scripted pools A (faulty) and B
 * (healthy), devices over loopback. Each fault is detected, its reason logged, the slot fails over to B,
 * the devices stay connected and get B's jobs (B's jobs carry their own ntime, so a device can tell).
 */
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const DIFF = 2 ** -24; // pool and device difficulty: every share a device finds is a pool share
const NTIME_A = '6b0187b1';
const NTIME_B = '6b0187c0';
const SUBMIT_TIMEOUT_MS = 800;

interface PoolScript {
  extranonce1: string;
  ntime: string;
  /** What to do on mining.subscribe: answer and send difficulty + a job (default), or say nothing. */
  subscribe?: 'answer' | 'silence';
  authorize?: { result: unknown; error?: unknown };
  /** Jobs sent after the subscribe answer (default: one good job). */
  jobs?: (client: ScriptedClient) => void;
  /** Delay of the submit answers in ms (default 0: at once). */
  submitDelayMs?: number;
}

function poolBehaviour(script: PoolScript) {
  return (client: ScriptedClient, req: RpcRequest) => {
    switch (req.method) {
      case 'mining.subscribe':
        if (script.subscribe === 'silence') return;
        client.reply(req.id, [[['mining.notify', 'ae6812eb']], script.extranonce1, 8]);
        client.notify('mining.set_difficulty', [DIFF]);
        if (script.jobs) script.jobs(client);
        else client.notify('mining.notify', notifyParams('1', true, script.ntime));
        return;
      case 'mining.authorize': {
        const a = script.authorize ?? { result: true };
        client.reply(req.id, a.result, a.error ?? null);
        return;
      }
      case 'mining.submit': {
        const answer = () => client.reply(req.id, true);
        if (script.submitDelayMs) setTimeout(answer, script.submitDelayMs);
        else answer();
        return;
      }
      default:
        return;
    }
  };
}

const healthyB = () => poolBehaviour({ extranonce1: 'bbbb0000', ntime: NTIME_B });

async function farm(t: Test, scriptA: PoolScript) {
  const a = await ScriptedPool.start({ behaviour: poolBehaviour(scriptA) });
  const b = await ScriptedPool.start({ behaviour: healthyB() });
  const bus = new EventBus();
  const log = recordingLogger();
  const upstreamLog: string[] = [];
  const events: { [K in keyof ProxyEventMap]?: ProxyEventMap[K][] } = {};
  for (const name of ['pool.switch', 'pool.down', 'share.upstream'] as const) bus.on(name, (e) => ((events[name] ??= []) as unknown[]).push(e));
  const slots: UpstreamSlot[] = [];
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const { proxy, server, port, clients } = await proxyUnderTest(t, {
    proxy: {
      bus,
      log,
      expectedDevices: 10,
      startDifficulty: DIFF,
      vardiff: { minDifficulty: DIFF, maxDifficulty: DIFF },
      createUpstream: () => {
        const slot = new UpstreamSlot({
          pools: [
            { name: 'A', url: a.url, user: 'farm.A', password: 'x' },
            { name: 'B', url: b.url, user: 'farm.B', password: 'x' },
          ],
          failoverAfter: 2,
          probeIntervalMs: 60_000,
          backoff: { baseMs: 20, maxMs: 100, factor: 2, jitter: 'none' },
          connection: { handshakeTimeoutMs: 800, submitTimeoutMs: SUBMIT_TIMEOUT_MS, maxSubmitTimeoutsInARow: 2, maxGarbageInARow: 5, connectTimeoutMs: 3000, firstJobTimeoutMs: 1500, maxBadJobsInARow: 3 },
          log: (level, m) => upstreamLog.push(`${level}: ${m}`),
        });
        slots.push(slot);
        return slot;
      },
    },
  });
  const devices: GoodDevice[] = [];
  const device = async (name: string) => {
    const d = await GoodDevice.connect(port, name);
    devices.push(d);
    clients.push(d.client);
    return d;
  };
  /** The switch to B happened with a reason matching `re`, and every device mines B's job without having reconnected. */
  const failedOverToB = async (re: RegExp) => {
    await until(() => (events['pool.switch'] ?? []).some((s) => s.to === 'B'), 'a switch to pool B');
    const sw = events['pool.switch']!.find((s) => s.to === 'B')!;
    t.equal(sw.from, 'A');
    t.match(sw.reason, re, `switch reason: ${sw.reason}`);
    t.ok(upstreamLog.some((l) => l.includes('failing over from A to B')), 'the failover is logged');
    await until(() => devices.every((d) => d.current()?.notify.ntime === NTIME_B), "every device got B's job");
    for (const d of devices) {
      t.notOk(d.client.closed, `${d.worker} stayed connected`);
      const ans = await d.submitOne();
      t.equal(ans.result, true, `${d.worker}: a share on B's job is accepted`);
    }
    t.ok(b.clients.some((c) => c.requests.some((r) => r.method === 'mining.submit')), 'and B received it');
  };
  return { a, b, bus, log, upstreamLog, events, proxy, server, slots, device, failedOverToB };
}

t.test('a pool that accepts the connection and never answers: handshake timeouts, then failover', async (t) => {
  const f = await farm(t, { extranonce1: 'aaaa0000', ntime: NTIME_A, subscribe: 'silence' });
  const d = await f.device('rig1'); // subscribing waits for a pool
  t.ok(f.upstreamLog.some((l) => l === 'debug: pool A down: no answer to mining.subscribe within 0.8 s'), 'the reason is logged');
  await f.failedOverToB(/^pool A: 2 failed attempts in a row \(last: no answer to mining\.subscribe within 0\.8 s\)$/);
  t.equal(f.a.connections, 2, 'A was tried twice');
  void d;
});

t.test('a pool that answers submits late: the device gets an error, never "accepted", then failover', async (t) => {
  const f = await farm(t, { extranonce1: 'aaaa0000', ntime: NTIME_A, submitDelayMs: SUBMIT_TIMEOUT_MS + 400 });
  const ledger = new FarmLedger(f.bus);
  t.teardown(() => ledger.close());
  const d = await f.device('rig1');
  const other = await f.device('rig2');
  await until(() => d.current() !== null, 'a job from A');
  t.equal(d.current()!.notify.ntime, NTIME_A);

  const started = Date.now();
  const first = await d.submitOne();
  t.ok(Date.now() - started >= SUBMIT_TIMEOUT_MS - 50, 'answered only after the submit timeout');
  t.equal(first.result, null);
  t.same(errorOf(first), [20, 'The pool did not answer in time: pool did not answer in time', null], 'an honest error, not "accepted"');
  const up = f.events['share.upstream']![0]!;
  t.match(up, { worker: 'rig1', pool: 'A', verdict: { kind: 'unanswered', cause: 'timeout', reason: 'pool did not answer in time' } }, 'the upstream result is attributed to the device');
  t.equal(ledger.summary().poolUnanswered, 1, 'counted as unanswered by the pool, not as rejected');
  t.equal(ledger.summary().poolRejected, 0);
  t.equal(poolResultOf(up.verdict), 'timeout', 'the metrics count it as a timeout');
  t.equal(ledger.summary().poolAccepted, 0);

  await until(() => f.upstreamLog.some((l) => /^info: pool A: late answer to request \d+: true$/.test(l)), 'the late answer is logged');
  const second = await d.submitOne();
  t.equal(errorOf(second)?.[0], 20, 'the second one times out too');
  await f.failedOverToB(/^pool A: pool did not answer 2 submits in a row$/);
  t.notOk(other.client.closed);
});

t.test('a pool that answers garbage after the handshake: protocol fault, failover at once', async (t) => {
  const f = await farm(t, { extranonce1: 'aaaa0000', ntime: NTIME_A });
  await f.device('rig1');
  await until(() => f.proxy.isReady, 'mining on A');
  const conn = f.a.clients[0]!;
  for (let i = 0; i < 5; i++) conn.sendRaw(`\u0000\u00ff garbage ${i} }{\n`);
  await until(() => f.upstreamLog.some((l) => l.startsWith('warn: pool A: unreadable line (Malformed JSON)')), 'each unreadable line logged');
  await f.failedOverToB(/^pool A: pool sent 5 unreadable lines in a row \(last: Malformed JSON\)$/);
  t.equal(f.a.connections, 1, 'no retry on A: a pool fault is not a network blip');
});

t.test('a pool that rejects the authorization: failover at once', async (t) => {
  const f = await farm(t, { extranonce1: 'aaaa0000', ntime: NTIME_A, authorize: { result: null, error: [24, 'Unauthorized worker', null] } });
  await f.device('rig1');
  await f.failedOverToB(/^pool A: authorization rejected: Unauthorized worker \(code 24\)$/);
  t.equal(f.a.connections, 1);
});

t.test('a pool that sends jobs with impossible values: each refused with its reason, devices keep the last good job, then failover', async (t) => {
  const f = await farm(t, { extranonce1: 'aaaa0000', ntime: NTIME_A });
  const d = await f.device('rig1');
  await until(() => d.current()?.notify.ntime === NTIME_A, 'a good job from A');
  const jobsBefore = d.jobsReceived;
  const conn = f.a.clients[0]!;
  const future = (Math.floor(Date.now() / 1000) + 3 * 3600).toString(16);
  const bad = (id: string, nbits: string, ntime = NTIME_A) => {
    const p = notifyParams(id, true, ntime);
    p[6] = nbits;
    return p;
  };
  conn.notify('mining.notify', bad('x1', '1d800000')); // negative target
  await until(() => f.log.records.filter((r) => r.msg === 'job from pool refused').length === 1, 'first bad job refused');
  // The device still mines the last good job, and its share is accepted meanwhile.
  t.equal((await d.submitOne()).result, true, 'a share on the last good job is still accepted');
  conn.notify('mining.notify', bad('x2', '00000000')); // zero target
  conn.notify('mining.notify', bad('x3', '1d3fffc0', future)); // ntime three hours ahead
  await f.failedOverToB(/^pool A: 3 unusable jobs in a row \(last: mining\.notify: ntime [0-9a-f]{8} is more than 2 h ahead of our clock\)$/);
  const reasons = f.log.records.filter((r) => r.msg === 'job from pool refused').map((r) => r.fields.reason);
  t.same(reasons, ['mining.notify: nbits 1d800000 is negative', 'mining.notify: nbits 00000000 encodes a zero target', `mining.notify: ntime ${future} is more than 2 h ahead of our clock`]);
  t.ok(f.log.records.some((r) => r.level === 'error' && r.msg === 'pool fault' && r.fields.action === 'failing over'), 'the fault is logged as such');
  t.equal(d.jobsReceived > jobsBefore, true, 'B jobs arrived');
});

t.test('a pool whose every notify fails to parse (wrong-length prevhash): no usable job in time, failover', async (t) => {
  const f = await farm(t, {
    extranonce1: 'aaaa0000',
    ntime: NTIME_A,
    jobs: (client) => {
      for (const id of ['y1', 'y2']) {
        const p = notifyParams(id, true, NTIME_A);
        p[1] = (p[1] as string).slice(2); // 62 hex digits
        client.notify('mining.notify', p);
      }
    },
  });
  const d = await f.device('rig1');
  await until(() => f.upstreamLog.some((l) => l === 'warn: pool A: ignored bad mining.notify: mining.notify: prevhash (param 2) must be 64 hex digits'), 'the parse failure is logged');
  t.equal(d.current(), null, 'the device got no job from A');
  await f.failedOverToB(/^pool A: no usable job within 1\.5 s of the connection being ready$/);
});

t.test('with one pool only, a pool fault means reconnecting with backoff (nowhere else to go)', async (t) => {
  let sent = 0;
  const a = await ScriptedPool.start({
    behaviour: poolBehaviour({
      extranonce1: 'aaaa0000',
      ntime: NTIME_A,
      jobs: (c) => {
        const p = notifyParams(`z${sent++}`, true, NTIME_A);
        p[6] = '00000000';
        c.notify('mining.notify', p);
      },
    }),
  });
  const bus = new EventBus();
  const log = recordingLogger();
  const slot = new UpstreamSlot({ pools: [{ name: 'A', url: a.url, user: 'u', password: 'x' }], backoff: { baseMs: 20, maxMs: 50, jitter: 'none' }, connection: { maxBadJobsInARow: 1 } });
  const proxy = new Proxy({ hasher, bus, log, createUpstream: () => slot });
  t.teardown(async () => {
    await proxy.stop();
    await a.close();
  });
  proxy.start();
  await until(() => a.connections >= 3, 'reconnected after each fault');
  t.ok(log.records.filter((r) => r.msg === 'pool fault').length >= 2);
  await sleep(10);
});
