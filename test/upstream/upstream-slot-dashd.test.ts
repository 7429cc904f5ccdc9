import t from 'tap';
import { poolListProblems, UpstreamSlot, type UpstreamSlotOptions } from '../../src/upstream/upstream-slot.js';
import type { PoolConfig, UpstreamJob } from '../../src/upstream/types.js';
import { PAYOUT_ADDRESS, ScriptedDashd } from '../helpers/scripted-dashd.js';
import { FAST_SLOT, healthyPool, ScriptedPool } from '../helpers/scripted-pool.js';
import { mine } from '../helpers/mine.js';
import { hasher } from '../helpers/share-kit.js';
import { until } from '../helpers/wait.js';

/** The UpstreamSlot with a dashd entry in its pool list: failover to the farm's own dashd and back. */

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const FAST: Partial<UpstreamSlotOptions> = { ...FAST_SLOT, hasher };

async function pool(t: Test, behaviour = healthyPool()): Promise<ScriptedPool> {
  const p = await ScriptedPool.start({ behaviour });
  t.teardown(() => p.close());
  return p;
}

async function dashd(t: Test): Promise<ScriptedDashd> {
  const d = await ScriptedDashd.start();
  t.teardown(() => d.close());
  return d;
}

const stratum = (name: string, p: ScriptedPool): PoolConfig => ({ name, url: p.url, user: `${name}.user`, password: 'x' });
const solo = (name: string, d: ScriptedDashd, pollSeconds = 0.1): PoolConfig => ({
  name,
  url: d.url,
  user: 'rpcuser',
  password: 'rpcpass',
  dashd: { payoutAddress: PAYOUT_ADDRESS, pollSeconds },
});

function slotOf(t: Test, options: UpstreamSlotOptions) {
  const slot = new UpstreamSlot({ ...FAST, ...options });
  t.teardown(() => slot.stop());
  const events: string[] = [];
  const jobs: UpstreamJob[] = [];
  const switches: string[] = [];
  slot.on('down', (d) => events.push(`down:${d.pool}`));
  slot.on('switch', (s) => {
    events.push(`switch:${s.from}->${s.to}`);
    switches.push(s.reason);
  });
  slot.on('ready', (r) => events.push(`ready:${r.pool}`));
  slot.on('job', (j) => {
    jobs.push(j);
    events.push(`job:${j.pool}`);
  });
  const waitFor = (re: RegExp, count = 1) => until(() => events.filter((e) => re.test(e)).length >= count, () => `${count} x ${re}; got ${events.join(' ')}`, 10_000);
  return { slot, events, jobs, switches, waitFor };
}

const only = (events: string[], ...kinds: string[]) => events.filter((e) => kinds.some((k) => e.startsWith(`${k}:`)));

t.test('pool down -> the dashd takes over -> the pool comes back and the probe switches back', async (t) => {
  const a = await pool(t);
  a.mode = 'reset';
  const d = await dashd(t);
  const r = slotOf(t, { pools: [stratum('A', a), solo('own-dashd', d)] });
  r.slot.start();
  await r.waitFor(/^job:own-dashd$/);
  t.same(only(r.events, 'down', 'switch', 'ready'), ['down:A', 'down:A', 'switch:A->own-dashd', 'ready:own-dashd']);
  t.same(r.slot.current, { name: 'own-dashd', url: d.url });
  t.match(r.slot.extranonce, { extranonce1: /^[0-9a-f]{16}$/, extranonce2Size: 8 });
  t.equal(r.slot.versionMask, null);
  const job = r.jobs.at(-1)!;
  const found = mine(job.notify, job.extranonce.extranonce1, '0000000000000000', job.difficulty);
  t.match(await r.slot.submit({ worker: '', jobId: job.notify.jobId, extranonce2: '0000000000000000', ...found }), { kind: 'accepted', block: { result: 'accepted' } }, 'submits go to the dashd session (easy bits: a block)');
  t.equal(d.blocks.length, 1);
  t.equal(await r.slot.authorizeWorker('rig1', 'x'), true, 'a dashd takes any worker name');

  a.behaviour = healthyPool({ extranonce1: 'aaaa0000', jobs: ['a1'] });
  a.mode = 'serve';
  await r.waitFor(/^job:A$/);
  t.same(only(r.events, 'switch', 'ready'), ['switch:A->own-dashd', 'ready:own-dashd', 'switch:own-dashd->A', 'ready:A']);
  t.same(r.slot.current, { name: 'A', url: a.url });
  const polls = d.count('getbestblockhash');
  await new Promise((res) => setTimeout(res, 300));
  t.equal(d.count('getbestblockhash'), polls, 'the dashd session was closed after the switch back');
});

t.test('solo first but still syncing: fails over to the pool at once, and is probed again', async (t) => {
  const d = await dashd(t);
  d.handlers.getblockchaininfo = () => ({ result: { chain: 'main', blocks: 5, initialblockdownload: true, verificationprogress: 0.2 } });
  const b = await pool(t, healthyPool({ jobs: ['b1'] }));
  const r = slotOf(t, { pools: [solo('own-dashd', d), stratum('B', b)], failoverAfter: 5 });
  r.slot.start();
  await r.waitFor(/^ready:B$/);
  t.same(only(r.events, 'down', 'switch', 'ready'), ['down:own-dashd', 'switch:own-dashd->B', 'ready:B'], 'no retries on a syncing dashd');
  t.match(r.switches[0], `pool own-dashd: dashd at ${d.url} is still syncing (initialblockdownload, 20% verified)`);
  // Synced: the probe finds it ready and solo takes over again.
  d.handlers.getblockchaininfo = () => ({ result: { chain: 'main', blocks: 5, initialblockdownload: false, verificationprogress: 1 } });
  await r.waitFor(/^ready:own-dashd$/);
  t.same(r.slot.current, { name: 'own-dashd', url: d.url });
});

t.test('a template that fails the checks at start: fails over at once (nothing mined on it)', async (t) => {
  const d = await dashd(t);
  d.handlers.getblocktemplate = () => ({ result: d.template({ rules: ['!teleport'] }) });
  const b = await pool(t, healthyPool({ jobs: ['b1'] }));
  const r = slotOf(t, { pools: [solo('own-dashd', d), stratum('B', b)], failoverAfter: 5, probeIntervalMs: 60_000 });
  r.slot.start();
  await r.waitFor(/^ready:B$/);
  t.same(only(r.events, 'down', 'switch', 'ready', 'job'), ['down:own-dashd', 'switch:own-dashd->B', 'ready:B', 'job:B']);
  t.match(r.switches[0], /gave a template that fails our checks \(rules\[0\]: "!teleport"/);
});

t.test('a wrong dashd login fails over at once; an unreachable dashd after the failed attempts', async (t) => {
  const d = await dashd(t);
  const b = await pool(t);
  const r = slotOf(t, { pools: [{ ...solo('own-dashd', d), password: 'wrong' }, stratum('B', b)], failoverAfter: 5, probeIntervalMs: 60_000 });
  r.slot.start();
  await r.waitFor(/^ready:B$/);
  t.same(only(r.events, 'down', 'switch'), ['down:own-dashd', 'switch:own-dashd->B']);
  t.match(r.switches[0], 'refused the RPC login (HTTP 401)');

  await d.stop();
  const r2 = slotOf(t, { pools: [solo('own-dashd', d), stratum('B', b)], failoverAfter: 2, probeIntervalMs: 60_000 });
  r2.slot.start();
  await r2.waitFor(/^ready:B$/);
  t.same(only(r2.events, 'down', 'switch'), ['down:own-dashd', 'down:own-dashd', 'switch:own-dashd->B'], 'connect failures are retried first');
});

t.test('setPools: the same dashd settings keep the session; changed ones make a new one', async (t) => {
  const d = await dashd(t);
  const r = slotOf(t, { pools: [solo('own-dashd', d)] });
  r.slot.start();
  await r.waitFor(/^ready:own-dashd$/);
  r.slot.setPools([solo('own-dashd', d)]);
  t.equal(only(r.events, 'down').length, 0, 'same settings: kept');
  r.slot.setPools([{ ...solo('own-dashd', d), dashd: { payoutAddress: PAYOUT_ADDRESS, pollSeconds: 0.1, shareDifficulty: 4096 } }]);
  await r.waitFor(/^ready:own-dashd$/, 2);
  t.same(only(r.events, 'down', 'ready'), ['ready:own-dashd', 'down:own-dashd', 'ready:own-dashd']);
  t.equal(d.count('getblockchaininfo'), 2, 'a second session was started');
});

t.test('a dashd entry needs the hasher; its problems name the field', async (t) => {
  const entry = { name: 'own', url: 'http://127.0.0.1:9998', user: 'u', password: 'p', dashd: { payoutAddress: PAYOUT_ADDRESS } };
  t.throws(() => new UpstreamSlot({ pools: [entry] }), { message: 'pools[0] (own) is a dashd entry: the upstream slot needs the X11 hasher (options.hasher)' });
  t.same(poolListProblems([entry]), []);
  t.same(
    poolListProblems([
      { name: 'p', url: 'stratum+tcp://pool.test:3333', user: 'u', password: 'x' },
      { name: 'own', url: 'stratum+tcp://127.0.0.1:9998', user: '', password: '', dashd: { payoutAddress: 'Xbad0', pollSeconds: 0, coinbaseTag: 'x'.repeat(41) } },
      { name: 'own2', url: 'http://127.0.0.1:9998', user: '', password: '', tlsCa: 'pem', dashd: { payoutAddress: PAYOUT_ADDRESS, cookieFile: '/var/lib/dash/.cookie' } },
      { name: 'own3', url: 'http://u:p@127.0.0.1:9998', user: 'u', password: 'p', dashd: 'yes' },
      { name: 'own4', url: 'http://127.0.0.1', user: 'u', password: 'p', dashd: { payoutAddress: PAYOUT_ADDRESS } },
    ]).map((p) => p.message),
    [
      "pools[1].url: 'stratum+tcp://127.0.0.1:9998': a dashd entry needs http://host:port (its RPC address, e.g. http://127.0.0.1:9998)",
      "pools[1].user: must be dashd's rpcuser (or set dashd.cookieFile to dashd's .cookie file)",
      "pools[1].dashd.payoutAddress: 'Xbad0' is not a Dash address (base58, 25 to 36 characters)",
      'pools[1].dashd.pollSeconds must be a number from 0.05 to 60 (got 0)',
      'pools[1].dashd.coinbaseTag: is 41 characters, at most 40 fit in the coinbase',
      "pools[2].tlsCa: does not apply to a dashd entry (dashd's RPC is plain http: keep it on the farm's network)",
      "pools[3].url: 'http://u:p@127.0.0.1:9998': credentials do not belong in the url (set user and password, or dashd.cookieFile)",
      'pools[3].dashd: must be an object with at least payoutAddress',
      "pools[4].url: 'http://127.0.0.1': missing port: a dashd entry needs http://host:port (its RPC address, e.g. http://127.0.0.1:9998)",
    ],
  );
});
