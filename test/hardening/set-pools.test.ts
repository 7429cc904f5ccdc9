import t from 'tap';
import { EventBus } from '../../src/core/events.js';
import { Proxy, singleTargetRouting } from '../../src/proxy/proxy.js';
import type { PoolConfig } from '../../src/upstream/types.js';
import { UpstreamSlot, type UpstreamSlotOptions } from '../../src/upstream/upstream-slot.js';
import { healthyPool, ScriptedPool } from '../helpers/scripted-pool.js';
import { hasher } from '../helpers/share-kit.js';
import { sleep, until } from '../helpers/wait.js';

/**
 * UpstreamSlot.setPools (SIGHUP): the session in use is kept when its pool is still in the list with the
 * same settings; a pool moved down in priority gives way to the new first pool as soon as that one is
 * healthy (no gap); a removed or changed pool is left at once for the new first one, its submits in
 * flight still answered.
 */
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const share = { worker: '', jobId: '1', extranonce2: '00000000', ntime: '6b0187b1', nonce: '00000001' };

async function pool(t: Test, behaviour = healthyPool()): Promise<ScriptedPool> {
  const p = await ScriptedPool.start({ behaviour });
  t.teardown(() => p.close());
  return p;
}

const cfg = (name: string, p: ScriptedPool, user = `${name}.user`): PoolConfig => ({ name, url: p.url, user, password: 'x' });

function slotOf(t: Test, options: UpstreamSlotOptions) {
  const slot = new UpstreamSlot({ failoverAfter: 1, probeIntervalMs: 60_000, backoff: { baseMs: 20, maxMs: 100, jitter: 'none' }, ...options });
  t.teardown(() => slot.stop());
  const events: string[] = [];
  const reasons: string[] = [];
  slot.on('down', (d) => {
    events.push(`down:${d.pool}`);
    reasons.push(d.reason);
  });
  slot.on('switch', (s) => {
    events.push(`switch:${s.from}->${s.to}`);
    reasons.push(s.reason);
  });
  slot.on('ready', (r) => events.push(`ready:${r.pool}`));
  const untilEvents = (re: RegExp, count = 1, timeoutMs = 10_000) =>
    until(() => events.filter((e) => re.test(e)).length >= count, () => `${count} events matching ${re}; got ${events.join(' ')}`, timeoutMs);
  return { slot, events, reasons, until: untilEvents };
}

t.test('before start: the list is replaced and the new first pool is the one connected', async (t) => {
  const a = await pool(t);
  const b = await pool(t);
  const r = slotOf(t, { pools: [cfg('A', a)] });
  r.slot.setPools([cfg('B', b), cfg('A', a)]);
  t.same(r.slot.pools.map((p) => p.name), ['B', 'A']);
  r.slot.start();
  await r.until(/^ready:B$/);
  t.equal(a.connections, 0);
});

t.test('the pool in use stays first (a backup added): nothing is reconnected', async (t) => {
  const a = await pool(t);
  const b = await pool(t);
  const r = slotOf(t, { pools: [cfg('A', a)] });
  r.slot.start();
  await r.until(/^ready:A$/);
  r.slot.setPools([cfg('A', a), cfg('B', b)]);
  await sleep(200);
  t.same(r.events, ['ready:A'], 'no down, no switch, no new session');
  t.equal(a.connections, 1);
  t.equal(b.connections, 0, 'the backup is not contacted while the first pool serves');
  t.match(await r.slot.submit(share), { kind: 'accepted' }, 'submits still go to A');
  // And failover now knows about B.
  a.mode = 'reset';
  a.dropAll();
  await r.until(/^ready:B$/);
});

t.test('the pool in use moved down in priority: the new first pool takes over once healthy, without a gap', async (t) => {
  const a = await pool(t);
  const c = await pool(t, healthyPool({ extranonce1: 'cccc0000' }));
  const r = slotOf(t, { pools: [cfg('A', a)] });
  r.slot.start();
  await r.until(/^ready:A$/);
  r.slot.setPools([cfg('C', c), cfg('A', a)]);
  await r.until(/^ready:C$/);
  t.same(r.events, ['ready:A', 'switch:A->C', 'ready:C'], 'switched without A going down first');
  t.equal(r.reasons[0], 'higher-priority pool C is healthy again');
  t.same(r.slot.current, { name: 'C', url: c.url });
  await a.clients[0]!.waitClosed();
});

t.test('moved down, but the new first pool is down: stay on the current one', async (t) => {
  const a = await pool(t);
  const c = await pool(t);
  c.mode = 'reset';
  const r = slotOf(t, { pools: [cfg('A', a)] });
  r.slot.start();
  await r.until(/^ready:A$/);
  r.slot.setPools([cfg('C', c), cfg('A', a)]);
  const end = Date.now() + 5000;
  while (c.connections === 0 && Date.now() < end) await sleep(5);
  t.equal(c.connections, 1, 'C was probed at once');
  await sleep(200);
  t.same(r.events, ['ready:A'], 'still on A');
  t.match(await r.slot.submit(share), { kind: 'accepted' });
});

t.test('the pool in use was removed: left at once for the new first pool; its submit in flight is still answered', async (t) => {
  let release: () => void = () => {};
  const holdSubmits = healthyPool({ submit: () => 'silence' });
  const a = await pool(t, (client, req) => {
    holdSubmits(client, req);
    if (req.method === 'mining.submit') release = () => client.reply(req.id, true);
  });
  const b = await pool(t, healthyPool({ extranonce1: 'bbbb0000' }));
  const r = slotOf(t, { pools: [cfg('A', a)], switchGraceMs: 5000 });
  r.slot.start();
  await r.until(/^ready:A$/);
  const inFlight = r.slot.submit(share);
  await a.clients[0]!.next('mining.submit');
  r.slot.setPools([cfg('B', b)]);
  await r.until(/^ready:B$/);
  t.same(r.events, ['ready:A', 'down:A', 'switch:A->B', 'ready:B']);
  t.equal(r.reasons[0], 'pool A is no longer in the configuration');
  t.match(await r.slot.submit(share), { kind: 'accepted' }, 'new submits go to B');
  t.ok(a.clients[0]!.isOpen, 'A is kept open for the submit in flight');
  release();
  t.match(await inFlight, { kind: 'accepted' }, "A's answer still reaches the share sent before");
  await a.clients[0]!.waitClosed();
});

t.test("the pool in use changed its login: that is another pool, the session is redone with the new one", async (t) => {
  const a = await pool(t);
  const r = slotOf(t, { pools: [cfg('A', a)] });
  r.slot.start();
  await r.until(/^ready:A$/);
  r.slot.setPools([cfg('A', a, 'new.login')]);
  await r.until(/^ready:A$/, 2);
  const auths = a.clients.map((c) => c.requests.find((q) => q.method === 'mining.authorize')?.params[0]);
  t.same(auths, ['A.user', 'new.login']);
});

t.test('on the backup, the failed first pool removed: the backup becomes first, no reconnect, no probing', async (t) => {
  const a = await pool(t);
  a.mode = 'reset';
  const b = await pool(t);
  const r = slotOf(t, { pools: [cfg('A', a), cfg('B', b)], probeIntervalMs: 100 });
  r.slot.start();
  await r.until(/^ready:B$/);
  r.slot.setPools([cfg('B', b)]);
  const probesBefore = a.connections;
  await sleep(400);
  t.equal(a.connections, probesBefore, 'A is no longer probed');
  t.equal(b.connections, 1, 'the session on B was kept');
  t.same(r.events.filter((e) => e.startsWith('ready')), ['ready:B']);
});

t.test('an invalid list is refused with the field named, and nothing changes', async (t) => {
  const a = await pool(t);
  const r = slotOf(t, { pools: [cfg('A', a)] });
  r.slot.start();
  await r.until(/^ready:A$/);
  t.throws(() => r.slot.setPools([]), { message: 'pools: at least one pool is required' });
  t.throws(() => r.slot.setPools([{ name: 'X', url: 'http://x', user: 'u', password: 'x' }]), { message: /^pools\[0\]\.url: / });
  t.same(r.slot.pools.map((p) => p.name), ['A']);
  t.match(await r.slot.submit(share), { kind: 'accepted' });
});

t.test('Proxy.setRouting with a new pool list for the default target: it reaches every channel; an invalid list changes none', async (t) => {
  const a = await pool(t);
  const b = await pool(t, healthyPool({ extranonce1: 'bbbb0000' }));
  const made: ReturnType<typeof slotOf>[] = [];
  const proxy = new Proxy({
    hasher,
    bus: new EventBus(),
    createUpstream: () => {
      const r = slotOf(t, { pools: [cfg('A', a)] });
      made.push(r);
      return r.slot;
    },
  });
  t.teardown(() => proxy.stop());
  proxy.start();
  await until(() => made.length === 1, 'a channel');
  await made[0]!.until(/^ready:A$/);
  t.throws(() => proxy.setRouting(singleTargetRouting([cfg('B', b), { name: 'B', url: a.url, user: 'u', password: 'x' }])), { message: "pools[1].name: 'B' is used by another pool" });
  t.same(made[0]!.slot.pools.map((p) => p.name), ['A'], 'refused before any channel changed');
  proxy.setRouting(singleTargetRouting([cfg('B', b)]));
  t.same(made[0]!.slot.pools.map((p) => p.name), ['B']);
  await made[0]!.until(/^ready:B$/);
});
