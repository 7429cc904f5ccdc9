import { readFileSync } from 'node:fs';
import t from 'tap';
import { PoolConnection, type PoolConnectionOptions, type PoolDownInfo } from '../../src/upstream/pool-connection.js';
import type { PoolConfig, UpstreamJob } from '../../src/upstream/types.js';
import { closedPort, nextEvent, notifyParams, ScriptedPool, type ScriptedClient } from '../helpers/scripted-pool.js';
import { until } from '../helpers/wait.js';

/** The subtest object tap hands to a test function. */
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

// Independent truth for the user agent: the package's own version.
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
const USER_AGENT = `${pkg.name}/${pkg.version}`;
const SUBSCRIBE_RESULT = [[['mining.notify', 'ae6812eb4cd7735a302a8a9dd95cf71f']], 'f000000a', 4];

interface Setup {
  pool: ScriptedPool;
  conn: PoolConnection;
  client: ScriptedClient;
  logs: string[];
  /** Every event of the connection, in order, as `name` or `name:detail`. */
  events: string[];
  jobs: UpstreamJob[];
}

async function setup(t: Test, connOptions: PoolConnectionOptions = {}, poolConfig: Partial<PoolConfig> = {}): Promise<Setup> {
  const pool = await ScriptedPool.start();
  t.teardown(() => pool.close());
  const logs: string[] = [];
  const conn = new PoolConnection(
    { name: 'p1', url: pool.url, user: 'farm.user', password: 'secret', ...poolConfig },
    { log: (level, message) => logs.push(`${level}: ${message}`), ...connOptions },
  );
  t.teardown(async () => {
    conn.close();
    await conn.closed;
  });
  const events: string[] = [];
  const jobs: UpstreamJob[] = [];
  conn.on('ready', (i) => events.push(`ready:${i.extranonce1}/${i.extranonce2Size}`));
  conn.on('job', (j) => {
    jobs.push(j);
    events.push(`job:${j.notify.jobId}@${j.difficulty}`);
  });
  conn.on('extranonce', (e) => events.push(`extranonce:${e.extranonce1}/${e.extranonce2Size}`));
  conn.on('versionMask', (m) => events.push(`versionMask:${m.mask.toString(16)}`));
  conn.on('message', (m) => events.push(`message:${m.text}`));
  conn.on('down', (d) => events.push(`down:${d.cause}`));
  conn.start();
  const client = await pool.nextClient();
  return { pool, conn, client, logs, events, jobs };
}

/** Answer subscribe and authorize (true), sending `beforeAuthorize` lines in between. */
async function handshake(s: Setup, beforeAuthorize: () => void = () => {}): Promise<void> {
  const sub = await s.client.next('mining.subscribe');
  s.client.reply(sub.id, SUBSCRIBE_RESULT);
  beforeAuthorize();
  const auth = await s.client.next('mining.authorize');
  const ready = nextEvent(s.conn, 'ready');
  s.client.reply(auth.id, true);
  await ready;
}

const share = (nonce: string) => ({ worker: 'farm.user', jobId: '1', extranonce2: '00000001', ntime: '6b0187b1', nonce });

t.test('happy path: subscribe, authorize, extranonce.subscribe never answered, jobs before authorize delivered after ready', async (t) => {
  const s = await setup(t);
  const sub = await s.client.next('mining.subscribe');
  t.same(sub.params, [USER_AGENT], 'subscribe carries our user agent');
  s.client.reply(sub.id, SUBSCRIBE_RESULT);
  // A real pool's order: difficulty and jobs right after the subscribe answer, before the authorize answer.
  s.client.notify('mining.set_difficulty', [0.5]);
  s.client.notify('mining.notify', notifyParams('1', true));
  s.client.notify('mining.set_difficulty', [2]);
  s.client.notify('mining.notify', notifyParams('2', false));
  const auth = await s.client.next('mining.authorize');
  t.same(auth.params, ['farm.user', 'secret']);
  t.same(s.events, [], 'nothing is emitted before the authorize answer');
  t.notOk(s.conn.isReady);
  const ready = nextEvent<[{ pool: string; url: string; extranonce1: string; extranonce2Size: number }]>(s.conn, 'ready');
  s.client.reply(auth.id, true);
  const [info] = await ready;
  t.same(info, { pool: 'p1', url: s.pool.url, extranonce1: 'f000000a', extranonce2Size: 4 });
  t.same(s.events, ['ready:f000000a/4', 'job:1@0.5', 'job:2@2'], 'buffered jobs follow ready, each with the difficulty set before it');
  t.same(s.jobs[0]!.extranonce, { extranonce1: 'f000000a', extranonce2Size: 4 });
  t.equal(s.jobs[1]!.notify.cleanJobs, false);

  const xsub = await s.client.next('mining.extranonce.subscribe');
  t.same(xsub.params, []);
  t.same(
    s.client.requests.map((r) => r.method),
    ['mining.subscribe', 'mining.authorize', 'mining.extranonce.subscribe'],
    'extranonce.subscribe goes after the authorize answer, never answered',
  );
  t.ok(s.conn.isReady, 'ready without an answer to extranonce.subscribe');

  // A new difficulty applies to the next job, not to the current one.
  s.client.notify('mining.set_difficulty', [8]);
  s.client.notify('mining.notify', notifyParams('3', false));
  await nextEvent(s.conn, 'job');
  t.equal(s.jobs[2]!.difficulty, 8);
  t.equal(s.conn.difficulty, 8);
  t.equal(s.client.lines.filter((l) => l.includes('"result"')).length, 0, 'we never answered the notifications');
});

t.test('a clean job before authorize drops the older buffered ones', async (t) => {
  const s = await setup(t);
  await handshake(s, () => {
    s.client.notify('mining.notify', notifyParams('old', false));
    s.client.notify('mining.set_difficulty', [4]);
    s.client.notify('mining.notify', notifyParams('new', true));
  });
  t.same(s.events, ['ready:f000000a/4', 'job:new@4']);
});

t.test('difficulty defaults to 1 until the pool sets one', async (t) => {
  const s = await setup(t);
  await handshake(s);
  s.client.notify('mining.notify', notifyParams('9'));
  await nextEvent(s.conn, 'job');
  t.equal(s.jobs[0]!.difficulty, 1);
});

t.test('submit: answers in every shape, matched by id, even out of order', async (t) => {
  const s = await setup(t);
  await handshake(s);
  const answers: [unknown, unknown][] = [
    [true, null],
    [false, null],
    [null, [23, 'Low difficulty share', null]],
    [null, { code: 21, message: 'Job not found' }],
    [false, 'Duplicate share'],
    [null, [22, 'Duplicate', null]],
  ];
  const results = answers.map((_, i) => s.conn.submit(share(`0000000${i}`)));
  const requests = [];
  for (let i = 0; i < answers.length; i++) requests.push(await s.client.next('mining.submit'));
  t.same(requests[0]!.params, ['farm.user', '1', '00000001', '6b0187b1', '00000000'], 'params in stratum order');
  t.equal(new Set(requests.map((r) => r.id)).size, answers.length, 'every submit has its own request id');
  // Answer in reverse order: each promise must still get its own answer.
  for (let i = answers.length - 1; i >= 0; i--) s.client.reply(requests[i]!.id, answers[i]![0], answers[i]![1]);
  const got = await Promise.all(results);
  t.match(got[0], { kind: 'accepted' });
  t.ok(got[0]!.latencyMs >= 0);
  t.match(got[1], { kind: 'rejected', code: 20, reason: 'pool answered false without an error' });
  t.match(got[2], { kind: 'rejected', code: 23, reason: 'Low difficulty share' });
  t.match(got[3], { kind: 'rejected', code: 21, reason: 'Job not found' });
  t.match(got[4], { kind: 'rejected', code: 20, reason: 'Duplicate share' });
  t.match(got[5], { kind: 'rejected', code: 22, reason: 'Duplicate' });
  t.equal(s.conn.pendingSubmits, 0);
});

t.test('submit with version bits sends them as the 6th param', async (t) => {
  const s = await setup(t);
  await handshake(s);
  const result = s.conn.submit({ ...share('deadbeef'), versionBits: '00a00000' });
  const req = await s.client.next('mining.submit');
  t.same(req.params, ['farm.user', '1', '00000001', '6b0187b1', 'deadbeef', '00a00000']);
  s.client.reply(req.id, true);
  t.match(await result, { kind: 'accepted' });
});

t.test('submit timeout resolves unanswered (timeout); a late answer is only logged; too many in a row end the session', async (t) => {
  const s = await setup(t, { submitTimeoutMs: 600, maxSubmitTimeoutsInARow: 2 });
  await handshake(s);
  const first = await s.conn.submit(share('00000001'));
  t.match(first, { kind: 'unanswered', cause: 'timeout', reason: 'pool did not answer in time' });
  const req = await s.client.next('mining.submit');
  s.client.reply(req.id, true); // too late
  // An answered submit in between resets the count.
  const answered = s.conn.submit(share('00000002'));
  const req2 = await s.client.next('mining.submit');
  s.client.reply(req2.id, true);
  t.match(await answered, { kind: 'accepted' });
  t.ok(s.conn.isReady, 'still up after one timeout');
  t.ok(s.logs.some((l) => l.includes(`late answer to request ${req.id}`)), 'the late answer is logged');

  const down = nextEvent<[PoolDownInfo]>(s.conn, 'down');
  t.match(await s.conn.submit(share('00000003')), { kind: 'unanswered', cause: 'timeout' });
  t.match(await s.conn.submit(share('00000004')), { kind: 'unanswered', cause: 'timeout' });
  const [info] = await down;
  t.same(info, { pool: 'p1', url: s.pool.url, cause: 'timeout', reason: 'pool did not answer 2 submits in a row' });
});

t.test('pending submits resolve as lost when the pool drops the connection', async (t) => {
  const s = await setup(t);
  await handshake(s);
  const pending = [s.conn.submit(share('00000001')), s.conn.submit(share('00000002')), s.conn.submit(share('00000003'))];
  for (let i = 0; i < 3; i++) await s.client.next('mining.submit');
  t.equal(s.conn.pendingSubmits, 3);
  const down = nextEvent<[PoolDownInfo]>(s.conn, 'down');
  s.client.destroy();
  const results = await Promise.all(pending);
  for (const r of results) t.match(r, { kind: 'unanswered', cause: 'connection-lost', reason: 'pool connection lost' });
  const [info] = await down;
  t.equal(info.cause, 'closed');
  t.match(info.reason, /^pool closed the connection|^connection error/);
  t.match(await s.conn.submit(share('00000004')), { kind: 'unanswered', cause: 'connection-lost', reason: 'pool connection lost' }, 'later submits resolve at once');
  t.equal(await s.conn.authorizeWorker('rig1', 'x'), false);
});

t.test('mining.set_extranonce: event, next jobs carry it; bad params answered with error 20', async (t) => {
  const s = await setup(t);
  await handshake(s);
  const ev = nextEvent(s.conn, 'extranonce');
  s.client.notify('mining.set_extranonce', ['abcdef01', 6]);
  t.same(await ev, [{ pool: 'p1', url: s.pool.url, extranonce1: 'abcdef01', extranonce2Size: 6 }]);
  t.same(s.conn.extranonce, { extranonce1: 'abcdef01', extranonce2Size: 6 });
  s.client.notify('mining.notify', notifyParams('5'));
  await nextEvent(s.conn, 'job');
  t.same(s.jobs[0]!.extranonce, { extranonce1: 'abcdef01', extranonce2Size: 6 });

  s.client.request(77, 'mining.set_extranonce', ['xyz', 4]);
  await until(() => s.client.lines.some((l) => l.includes('"id":77')), 'the answer to request 77', 10_000);
  const answer = JSON.parse(s.client.lines.find((l) => l.includes('"id":77'))!);
  t.same(answer, { id: 77, result: null, error: [20, 'mining.set_extranonce: extranonce1 (param 1) must be hex of at most 32 bytes', null] });
  t.same(s.conn.extranonce, { extranonce1: 'abcdef01', extranonce2Size: 6 }, 'unchanged by the bad one');
  t.ok(s.conn.isReady);
});

t.test('mining.set_extranonce before ready: ready carries the new one, older buffered jobs are void', async (t) => {
  const s = await setup(t);
  await handshake(s, () => {
    s.client.notify('mining.notify', notifyParams('1'));
    s.client.notify('mining.set_extranonce', ['01020304', 8]);
    s.client.notify('mining.notify', notifyParams('2', false));
  });
  t.same(s.events, ['ready:01020304/8', 'job:2@1']);
});

t.test('mining.configure: sent before subscribe, mask delivered after ready; a later set_version_mask too', async (t) => {
  const s = await setup(t, { versionRolling: { mask: 0x1fffe000, minBitCount: 2 } });
  const cfg = await s.client.next('mining.configure');
  t.same(cfg.params, [['version-rolling'], { 'version-rolling.mask': '1fffe000', 'version-rolling.min-bit-count': 2 }]);
  t.equal(s.client.requests.length, 1, 'subscribe waits for the configure answer');
  s.client.reply(cfg.id, { 'version-rolling': true, 'version-rolling.mask': '1fffe000' });
  await handshake(s);
  t.same(s.events, ['ready:f000000a/4', 'versionMask:1fffe000']);
  t.equal(s.client.requests[1]!.method, 'mining.subscribe');
  const ev = nextEvent(s.conn, 'versionMask');
  s.client.notify('mining.set_version_mask', ['00ffe000']);
  t.same(await ev, [{ pool: 'p1', url: s.pool.url, mask: 0x00ffe000 }]);
  t.equal(s.conn.versionMask, 0x00ffe000);
});

t.test('mining.configure never answered: subscribe goes out after the short wait', async (t) => {
  const s = await setup(t, { versionRolling: { mask: 0x1fffe000 }, configureTimeoutMs: 150 });
  await s.client.next('mining.configure');
  await handshake(s);
  t.ok(s.conn.isReady);
  t.equal(s.conn.versionMask, null, 'no mask known');
  t.ok(s.logs.some((l) => l.includes('no answer to mining.configure within 0.15 s')));
});

t.test('mining.configure refused with an error: subscribe follows at once', async (t) => {
  const s = await setup(t, { versionRolling: { mask: 0x1fffe000 }, configureTimeoutMs: 60_000 });
  const cfg = await s.client.next('mining.configure');
  s.client.reply(cfg.id, null, [20, 'Method not found', null]);
  await handshake(s);
  t.ok(s.conn.isReady);
  t.equal(s.conn.versionMask, null);
});

t.test('client.reconnect: same host (new port) followed; other host only when allowed; wait bounded', async (t) => {
  const s = await setup(t, { maxReconnectWaitMs: 5000 });
  await handshake(s);
  const req = nextEvent(s.conn, 'reconnectRequested');
  const down = nextEvent<[PoolDownInfo]>(s.conn, 'down');
  s.client.notify('client.reconnect', ['127.0.0.1', 4444, 2]);
  t.same(await req, [{ endpoint: { host: '127.0.0.1', port: 4444, tls: false }, waitMs: 2000 }]);
  const [info] = await down;
  t.same(info, { pool: 'p1', url: s.pool.url, cause: 'reconnect', reason: 'pool asked to reconnect to 127.0.0.1:4444 in 2 s' });

  const other = await setup(t, { maxReconnectWaitMs: 5000 });
  await handshake(other);
  const req2 = nextEvent(other.conn, 'reconnectRequested');
  other.client.notify('client.reconnect', ['evil.example', 3333, 7200]);
  t.same(await req2, [{ endpoint: { host: '127.0.0.1', port: other.pool.port, tls: false }, waitMs: 5000 }], 'another host is refused: back to the pool itself');
  t.ok(other.logs.some((l) => l.includes('client.reconnect to another host (evil.example) not allowed')));

  const allowed = await setup(t, { allowReconnectToOtherHost: true });
  await handshake(allowed);
  const req3 = nextEvent(allowed.conn, 'reconnectRequested');
  allowed.client.notify('client.reconnect', ['Backup.Example', '3334']);
  t.same(await req3, [{ endpoint: { host: 'backup.example', port: 3334, tls: false }, waitMs: 0 }]);

  const bare = await setup(t);
  await handshake(bare);
  const req4 = nextEvent(bare.conn, 'reconnectRequested');
  bare.client.notify('client.reconnect', []);
  t.same(await req4, [{ endpoint: { host: '127.0.0.1', port: bare.pool.port, tls: false }, waitMs: 0 }], 'no params: same place, now');
});

t.test('client.reconnect with shares in flight: their answers are awaited before leaving, new ones refused', async (t) => {
  const s = await setup(t, { submitTimeoutMs: 30_000 });
  await handshake(s);
  const inFlight = [s.conn.submit(share('00000001')), s.conn.submit(share('00000002'))];
  const sent = [await s.client.next('mining.submit'), await s.client.next('mining.submit')];
  let down = false;
  s.conn.on('down', () => (down = true));
  s.client.notify('client.reconnect', ['127.0.0.1', s.pool.port, 0]);
  await nextEvent(s.conn, 'reconnectRequested');
  t.notOk(down, 'still up while two submits wait for their answers');
  t.match(await s.conn.submit(share('00000003')), { kind: 'unanswered', cause: 'no-pool', reason: 'pool connection is closing' }, 'a new share is not sent to a session we are leaving');
  s.client.reply(sent[0]!.id, true);
  t.match(await inFlight[0]!, { kind: 'accepted' }, 'the answer that was on its way still counts');
  t.notOk(down, 'one answer still owed');
  const downEvent = nextEvent<[PoolDownInfo]>(s.conn, 'down');
  s.client.reply(sent[1]!.id, null, [23, 'Low difficulty share', null]);
  t.match(await inFlight[1]!, { kind: 'rejected', code: 23 }, 'the pool\'s last verdict reaches us');
  const [info] = await downEvent;
  t.same(info, { pool: 'p1', url: s.pool.url, cause: 'reconnect', reason: `pool asked to reconnect to 127.0.0.1:${s.pool.port} in 0 s` });
  await s.client.waitClosed();

  // The pool closes right after asking: the shares it never answered are lost, and it is still the reconnect
  // the pool asked for (not a fault that would count toward failover).
  const c = await setup(t, { submitTimeoutMs: 30_000 });
  await handshake(c);
  const lost = c.conn.submit(share('00000004'));
  await c.client.next('mining.submit');
  const down2 = nextEvent<[PoolDownInfo]>(c.conn, 'down');
  c.client.notify('client.reconnect', []);
  await nextEvent(c.conn, 'reconnectRequested');
  c.client.destroy();
  t.match(await lost, { kind: 'unanswered', cause: 'connection-lost', reason: 'pool connection lost' });
  t.match((await down2)[0], { cause: 'reconnect' });
});

t.test('client.show_message, client.get_version, unknown requests', async (t) => {
  const s = await setup(t);
  await handshake(s);
  const msg = nextEvent(s.conn, 'message');
  s.client.notify('client.show_message', ['maintenance at 12:00']);
  t.same(await msg, [{ pool: 'p1', url: s.pool.url, text: 'maintenance at 12:00' }]);

  s.client.request(900, 'client.get_version', []);
  s.client.request('abc', 'mining.get_transactions_please', [1]);
  await until(() => s.client.lines.some((l) => l.includes('"id":"abc"')), 'the answer to request "abc"', 10_000);
  const byId = (id: unknown) => JSON.parse(s.client.lines.find((l) => JSON.parse(l).id === id)!);
  t.same(byId(900), { id: 900, result: USER_AGENT, error: null }, 'get_version answered with our user agent');
  t.same(byId('abc'), { id: 'abc', result: null, error: [20, 'unknown method mining.get_transactions_please', null] }, 'unknown method: error 20');
  t.ok(s.conn.isReady, 'still connected');
  // Unknown notifications (no id) are not answered.
  s.client.notify('mining.something_new', []);
  const r = s.conn.submit(share('00000009'));
  const req = await s.client.next('mining.submit');
  s.client.reply(req.id, true);
  t.match(await r, { kind: 'accepted' }, 'the session works on');
  t.notOk(s.client.lines.some((l) => l.includes('something_new')), 'an unknown notification gets no answer');
});

t.test('authorize rejected: down with the reason, nothing emitted', async (t) => {
  for (const [answer, reason] of [
    [{ result: false, error: null }, "authorization rejected: pool answered false for user 'farm.user'"],
    [{ result: null, error: [24, 'Unauthorized worker', null] }, 'authorization rejected: Unauthorized worker (code 24)'],
    [{ result: false, error: { code: 24, message: 'bad password' } }, 'authorization rejected: bad password (code 24)'],
  ] as const) {
    const s = await setup(t);
    const sub = await s.client.next('mining.subscribe');
    s.client.reply(sub.id, SUBSCRIBE_RESULT);
    s.client.notify('mining.notify', notifyParams('1'));
    const auth = await s.client.next('mining.authorize');
    const down = nextEvent<[PoolDownInfo]>(s.conn, 'down');
    s.client.reply(auth.id, answer.result, answer.error);
    const [info] = await down;
    t.same(info, { pool: 'p1', url: s.pool.url, cause: 'auth', reason });
    t.same(s.events, ['down:auth'], 'no ready, no job');
    await s.client.waitClosed();
  }
});

t.test('subscribe refused or answered with nonsense', async (t) => {
  const s = await setup(t);
  const sub = await s.client.next('mining.subscribe');
  const down = nextEvent<[PoolDownInfo]>(s.conn, 'down');
  s.client.reply(sub.id, null, [20, 'Too many connections', null]);
  t.match((await down)[0], { cause: 'subscribe', reason: 'subscribe rejected: Too many connections (code 20)' });

  const s2 = await setup(t);
  const sub2 = await s2.client.next('mining.subscribe');
  const down2 = nextEvent<[PoolDownInfo]>(s2.conn, 'down');
  s2.client.reply(sub2.id, [[], 'not-hex', 4]);
  t.match((await down2)[0], { cause: 'subscribe', reason: 'subscribe failed: mining.subscribe result: extranonce1 (param 2) must be hex of at most 32 bytes' });
});

t.test('a pool that accepts the connection but never answers: timeouts, reported as down', async (t) => {
  const s = await setup(t, { handshakeTimeoutMs: 300 });
  const down = nextEvent<[PoolDownInfo]>(s.conn, 'down');
  await s.client.next('mining.subscribe');
  t.same((await down)[0], { pool: 'p1', url: s.pool.url, cause: 'timeout', reason: 'no answer to mining.subscribe within 0.3 s' });
  await s.client.waitClosed();

  const s2 = await setup(t, { handshakeTimeoutMs: 1500 });
  const down2 = nextEvent<[PoolDownInfo]>(s2.conn, 'down');
  const sub = await s2.client.next('mining.subscribe');
  s2.client.reply(sub.id, SUBSCRIBE_RESULT);
  await s2.client.next('mining.authorize');
  t.same((await down2)[0], { pool: 'p1', url: s2.pool.url, cause: 'timeout', reason: 'no answer to mining.authorize within 1.5 s' });
});

t.test('a pool that sends nothing at all for idleTimeoutMs is dropped', async (t) => {
  const s = await setup(t, { idleTimeoutMs: 1000 });
  await handshake(s);
  const down = nextEvent<[PoolDownInfo]>(s.conn, 'down');
  t.same((await down)[0], { pool: 'p1', url: s.pool.url, cause: 'timeout', reason: 'pool sent nothing for 1 s' });
});

t.test('the pool closes during the handshake', async (t) => {
  const s = await setup(t);
  const sub = await s.client.next('mining.subscribe');
  s.client.reply(sub.id, SUBSCRIBE_RESULT);
  await s.client.next('mining.authorize');
  const down = nextEvent<[PoolDownInfo]>(s.conn, 'down');
  s.client.end();
  t.match((await down)[0], { cause: 'closed', reason: 'pool closed the connection (while waiting for the mining.authorize answer)' });
});

t.test('connection refused', async (t) => {
  const port = await closedPort();
  const conn = new PoolConnection({ name: 'gone', url: `stratum+tcp://127.0.0.1:${port}`, user: 'u', password: 'x' });
  t.teardown(() => conn.close());
  const down = nextEvent<[PoolDownInfo]>(conn, 'down');
  conn.start();
  const [info] = await down;
  t.equal(info.cause, 'connect');
  t.equal(info.reason, `connect failed: connect ECONNREFUSED 127.0.0.1:${port}`);
  await conn.closed;
});

t.test('garbage: counted; too many unreadable lines in a row end the session', async (t) => {
  const s = await setup(t, { maxGarbageInARow: 3 });
  await handshake(s);
  s.client.sendLine('not json');
  s.client.sendLine('[1,2,3]');
  s.client.notify('mining.set_difficulty', [2]); // a good line resets the run
  s.client.sendLine('{"foo":1}');
  s.client.sendLine('{{{');
  s.client.notify('mining.notify', notifyParams('7'));
  await nextEvent(s.conn, 'job');
  t.equal(s.conn.garbageLines, 4);
  t.ok(s.conn.isReady, 'two in a row are tolerated');
  t.ok(s.logs.some((l) => l.includes('unreadable line (Malformed JSON): not json')));

  const down = nextEvent<[PoolDownInfo]>(s.conn, 'down');
  s.client.sendRaw('garbage 1\ngarbage 2\n\u0000\u0001\n');
  t.same((await down)[0], { pool: 'p1', url: s.pool.url, cause: 'protocol', reason: 'pool sent 3 unreadable lines in a row (last: Malformed JSON)' });
});

t.test('an over-long line ends the session; the 64 KiB default takes big notify lines', async (t) => {
  const s = await setup(t, { maxLineBytes: 1024 });
  await handshake(s);
  const down = nextEvent<[PoolDownInfo]>(s.conn, 'down');
  s.client.sendRaw('{"id":null,"method":"mining.notify","params":["' + 'a'.repeat(2000));
  t.same((await down)[0], { pool: 'p1', url: s.pool.url, cause: 'protocol', reason: 'pool sent a line longer than 1024 bytes' });

  const big = await setup(t);
  await handshake(big);
  const params = notifyParams('big');
  params[3] = 'ab'.repeat(20_000); // a 40 KB coinb2: over the 16 KiB device-side default, under 64 KiB
  big.client.notify('mining.notify', params);
  const [job] = await nextEvent<[UpstreamJob]>(big.conn, 'job');
  t.equal(job.notify.coinb2.length, 40_000);
});

t.test('a bad mining.notify is ignored with the reason logged', async (t) => {
  const s = await setup(t);
  await handshake(s);
  const bad = notifyParams('8');
  bad[1] = 'abcd';
  s.client.notify('mining.notify', bad);
  s.client.notify('mining.notify', ['9']);
  s.client.notify('mining.notify', notifyParams('10'));
  await nextEvent(s.conn, 'job');
  t.same(s.jobs.map((j) => j.notify.jobId), ['10'], 'only the good one comes through');
  t.equal(s.conn.badNotifies, 2);
  t.ok(s.logs.includes('warn: pool p1: ignored bad mining.notify: mining.notify: prevhash (param 2) must be 64 hex digits'));
  t.ok(s.logs.includes('warn: pool p1: ignored bad mining.notify: mining.notify: expected 9 params, got 1'));
  t.ok(s.conn.isReady);

  // Only unusable jobs, several in a row: a faulty pool (the slot fails over or reconnects).
  const down = nextEvent<[PoolDownInfo]>(s.conn, 'down');
  for (let i = 0; i < 5; i++) s.client.notify('mining.notify', ['x' + i]);
  t.same((await down)[0], { pool: 'p1', url: s.pool.url, cause: 'protocol', reason: '5 unusable jobs in a row (last: mining.notify: expected 9 params, got 1)' });
});

t.test('a bad set_difficulty is ignored, the old one stays in force', async (t) => {
  const s = await setup(t);
  await handshake(s);
  s.client.notify('mining.set_difficulty', [3]);
  s.client.notify('mining.set_difficulty', [-1]);
  s.client.notify('mining.set_difficulty', ['lots']);
  s.client.notify('mining.notify', notifyParams('1'));
  await nextEvent(s.conn, 'job');
  t.equal(s.jobs[0]!.difficulty, 3);
  t.ok(s.logs.some((l) => l.includes('ignored mining.set_difficulty: mining.set_difficulty: difficulty (param 1) must be a positive number')));
});

t.test('authorizeWorker: extra mining.authorize on the session', async (t) => {
  const s = await setup(t);
  await handshake(s);
  const ok = s.conn.authorizeWorker('farm.rig01', 'x');
  const again = s.conn.authorizeWorker('farm.rig01', 'x');
  const no = s.conn.authorizeWorker('farm.rig02', 'x');
  const r1 = await s.client.next('mining.authorize');
  const r2 = await s.client.next('mining.authorize');
  t.same(r1.params, ['farm.rig01', 'x']);
  t.same(r2.params, ['farm.rig02', 'x']);
  s.client.reply(r2.id, null, [24, 'unknown worker', null]);
  s.client.reply(r1.id, true);
  t.equal(await ok, true);
  t.equal(await again, true, 'the same name is not sent twice');
  t.equal(await no, false);
  t.equal(s.client.requests.filter((r) => r.method === 'mining.authorize').length, 3, 'the farm user plus two workers');
  t.ok(s.logs.some((l) => l.includes("worker 'farm.rig02' not authorized: unknown worker")));
});

t.test('close() by the owner: down once, submits resolve, socket closed', async (t) => {
  const s = await setup(t);
  await handshake(s);
  const pending = s.conn.submit(share('00000001'));
  await s.client.next('mining.submit');
  s.conn.close('shutting down');
  s.conn.close('twice');
  t.match(await pending, { kind: 'unanswered', cause: 'connection-lost', reason: 'pool connection lost' });
  await s.conn.closed;
  await s.client.waitClosed();
  t.same(s.events.filter((e) => e.startsWith('down')), ['down:owner'], 'down exactly once');
  t.match(s.conn.down, { cause: 'owner', reason: 'shutting down' });
});

t.test('a listener that throws does not break the connection', async (t) => {
  const s = await setup(t);
  s.conn.on('job', () => {
    throw new Error('observer bug');
  });
  await handshake(s);
  s.client.notify('mining.notify', notifyParams('1'));
  s.client.notify('mining.notify', notifyParams('2'));
  await until(() => s.jobs.length === 2, 'two jobs', 10_000);
  t.ok(s.conn.isReady);
  t.ok(s.logs.some((l) => l.includes("a 'job' listener threw: observer bug")));
});

t.test('bad options are refused with the field named', async (t) => {
  const pool = { name: 'p', url: 'stratum+tcp://127.0.0.1:1', user: 'u', password: 'x' };
  t.throws(() => new PoolConnection(pool, { submitTimeoutMs: 0 }), { message: "pool 'p': submitTimeoutMs must be a positive number, got 0" });
  t.throws(() => new PoolConnection({ ...pool, url: 'stratum+tcp://127.0.0.1' }), { message: "pool url 'stratum+tcp://127.0.0.1': missing port" });
});
