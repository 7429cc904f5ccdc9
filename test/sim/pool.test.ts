import net from 'node:net';
import t from 'tap';
import { parseNotify, parseSetDifficulty, parseSubscribeResult, type NotifyParams } from '../../src/stratum/messages.js';
import { SimPool, type FoundBlock, type SimPoolOptions, type SimPoolShareEvent } from '../../src/sim/pool.js';
import { hasher } from '../helpers/share-kit.js';
import { LineClient } from '../helpers/line-client.js';
import { sleep } from '../helpers/wait.js';
import { findNonce, hashShare, meetsBits, meetsDifficulty, missesDifficulty } from './mine.js';

/** What the helpers need of a tap test. */
type Test = { teardown(fn: () => unknown): void };

async function startPool(tt: Test, opts: SimPoolOptions = {}): Promise<SimPool> {
  const pool = new SimPool({ hasher, jobIntervalMs: 0, blockIntervalMs: 0, difficulty: 1e-9, ...opts });
  await pool.listen();
  tt.teardown(() => pool.close());
  return pool;
}

async function connect(tt: Test, pool: SimPool): Promise<LineClient> {
  const c = await LineClient.connect(pool.port);
  tt.teardown(() => c.close());
  return c;
}

interface Session {
  extranonce1: string;
  extranonce2Size: number;
  difficulty: number;
  notify: NotifyParams;
}

/** subscribe + authorize as a miner does; returns what the pool sent. */
async function handshake(c: LineClient, worker = 'farm.rig1', password = 'x'): Promise<Session> {
  c.sendRequest(1, 'mining.subscribe', ['test-miner/1.0']);
  const sub = await c.response(1);
  const { extranonce1, extranonce2Size } = parseSubscribeResult(sub.result);
  c.sendRequest(2, 'mining.authorize', [worker, password]);
  const auth = await c.response(2);
  if (auth.result !== true) throw new Error(`authorize refused: ${JSON.stringify(auth.error)}`);
  const difficulty = parseSetDifficulty((await c.notification('mining.set_difficulty')).params);
  const notify = parseNotify((await c.notification('mining.notify')).params);
  return { extranonce1, extranonce2Size, difficulty, notify };
}

function submitLine(id: number, worker: string, notify: NotifyParams, en2: string, nonce: string, extra: unknown[] = []) {
  return { id, method: 'mining.submit', params: [worker, notify.jobId, en2, notify.ntime, nonce, ...extra] };
}

t.test('subscribe answer, then set_difficulty and notify before the authorize answer (like the real pool)', async (t) => {
  const pool = await startPool(t, { extranonce1Size: 4, extranonce2Size: 8 });
  const c = await connect(t, pool);
  c.sendLine('{"id":1,"method":"mining.subscribe","params":["cpuminer-opt-26.1-x64L"]}\n{"id":2,"method":"mining.authorize","params":["farm.rig1","x"]}');
  const [a, b, d, e] = [await c.take(), await c.take(), await c.take(), await c.take()];
  t.match(a, { kind: 'response', id: 1, error: null });
  const result = (a as { result: unknown[] }).result;
  t.match(result[0], [['mining.set_difficulty', String], ['mining.notify', String]]);
  t.match(result[1], /^[0-9a-f]{8}$/, 'extranonce1 of 4 bytes');
  t.equal(result[2], 8, 'extranonce2 size');
  t.match(b, { kind: 'request', id: null, method: 'mining.set_difficulty', params: [1e-9] });
  t.match(d, { kind: 'request', id: null, method: 'mining.notify' });
  const notify = parseNotify((d as { params: unknown[] }).params);
  t.equal(notify.cleanJobs, true, 'the first job is clean');
  t.equal(notify.version, '20000000');
  t.equal(notify.nbits, '1e0fffff', 'default nbits');
  t.equal(notify.merkleBranch.length, 3, '6 transactions besides the coinbase: branch of 3');
  t.ok(Math.abs(parseInt(notify.ntime, 16) - Date.now() / 1000) < 120, 'ntime is now');
  t.match(e, { kind: 'response', id: 2, result: true, error: null });

  const c2 = await connect(t, pool);
  const s2 = await handshake(c2);
  t.not(s2.extranonce1, result[1], 'extranonce1 is unique per connection');
  t.equal(s2.notify.jobId, notify.jobId, 'a late connection gets the current job');
});

t.test('extranonce sizes are configurable; notify can wait for authorize', async (t) => {
  const pool = await startPool(t, { extranonce1Size: 2, extranonce2Size: 6, notifyAfter: 'authorize' });
  const c = await connect(t, pool);
  c.sendRequest(1, 'mining.subscribe', []);
  const sub = parseSubscribeResult((await c.response(1)).result);
  t.match(sub.extranonce1, /^[0-9a-f]{4}$/);
  t.equal(sub.extranonce2Size, 6);
  c.sendRequest(7, 'mining.no_such_method', []);
  const probe = await c.take();
  t.match(probe, { kind: 'response', id: 7 }, 'no job before authorize');
  c.sendRequest(2, 'mining.authorize', ['w', 'x']);
  t.match(await c.take(), { kind: 'response', id: 2, result: true });
  t.match(await c.take(), { method: 'mining.set_difficulty' });
  t.match(await c.take(), { method: 'mining.notify' });
});

t.test('authorize refusals answer error 24 and the worker cannot submit', async (t) => {
  const pool = await startPool(t, { password: 'secret', authorizeUser: (u) => !u.startsWith('banned.') });
  const c = await connect(t, pool);
  c.sendRequest(1, 'mining.subscribe', []);
  await c.response(1);
  c.sendRequest(2, 'mining.authorize', ['farm.rig1', 'wrong']);
  t.match(await c.response(2), { result: null, error: [24, 'Unauthorized worker', null] }, 'wrong password');
  c.sendRequest(3, 'mining.authorize', ['banned.rig', 'secret']);
  t.match(await c.response(3), { result: null, error: [24, 'Unauthorized worker', null] }, 'refused by authorizeUser');
  c.sendLine({ id: 4, method: 'mining.submit', params: ['farm.rig1', '1', '0000000000000000', '00000000', '00000000'] });
  t.match(await c.response(4), { error: [24, 'Unauthorized worker', null] }, 'a refused worker cannot submit');
  c.sendRequest(5, 'mining.authorize', ['farm.rig1', 'secret']);
  t.match(await c.response(5), { result: true, error: null }, 'the right password works');
  c.sendRequest(6, 'mining.authorize', []);
  t.match(await c.response(6), { error: [20, /missing username/, null] }, 'bad params: 20 naming the parameter');
  t.equal(pool.stats().totals.rejectedByCode[24], 1);
});

t.test('methods real pools never answer stay silent; answers keep request order', async (t) => {
  const pool = await startPool(t, { extranonceSubscribe: 'silent', configure: 'silent' });
  const c = await connect(t, pool);
  await handshake(c);
  c.sendRequest(3, 'mining.extranonce.subscribe', []);
  c.sendRequest(4, 'mining.suggest_difficulty', [0.5]);
  c.sendRequest(5, 'mining.configure', [['version-rolling'], { 'version-rolling.mask': 'ffffffff' }]);
  c.sendRequest(6, 'mining.ping', []);
  const next = await c.take();
  t.match(next, { kind: 'response', id: 6, error: [20, 'Unsupported method: mining.ping', null] }, 'only the probe is answered');
  t.same(c.pending(), [], 'nothing else arrived');
  t.equal(pool.connectionStats()[0]!.extranonceSubscribed, true, 'the silent extranonce.subscribe still counts');
  t.equal(pool.connectionStats()[0]!.versionMask, 0, 'no version rolling without a configure answer');
});

t.test('answered extranonce.subscribe, configure and suggest_difficulty', async (t) => {
  const pool = await startPool(t, { suggestDifficulty: 'answer' });
  const c = await connect(t, pool);
  c.sendRequest(1, 'mining.configure', [['version-rolling', 'minimum-difficulty'], { 'version-rolling.mask': 'ffffffff' }]);
  t.match(await c.response(1), { result: { 'version-rolling': true, 'version-rolling.mask': '1fffe000', 'minimum-difficulty': false } });
  c.sendRequest(2, 'mining.configure', [['version-rolling'], { 'version-rolling.mask': '00ffe000' }]);
  t.match(await c.response(2), { result: { 'version-rolling': true, 'version-rolling.mask': '00ffe000' } }, 'the intersection of both masks');
  c.sendRequest(3, 'mining.configure', ['version-rolling']);
  t.match(await c.response(3), { error: [20, /extensions/, null] }, 'bad configure params');
  await handshake(c);
  c.sendRequest(4, 'mining.extranonce.subscribe', []);
  t.match(await c.response(4), { result: true });
  c.sendRequest(5, 'mining.suggest_difficulty', [0.5]);
  t.match(await c.response(5), { result: true });
  t.equal(pool.connectionStats()[0]!.versionMask, 0x00ffe000);
});

t.test('bad input gets a standard error and never a crash', async (t) => {
  const pool = await startPool(t);
  const c = await connect(t, pool);
  c.sendLine('this is not json');
  t.match(await c.take(), { kind: 'response', id: null, error: [20, 'Malformed JSON', null] });
  c.sendLine({ id: 1, method: 'mining.submit', params: ['w', '1', '00', '00', '00'] });
  t.match(await c.response(1), { error: [25, 'Not subscribed', null] }, 'submit before subscribe');
  c.sendRequest(2, 'mining.subscribe', []);
  await c.response(2);
  c.sendLine({ id: 3, method: 'mining.submit', params: ['w', '1', '00', '00', '00'] });
  t.match(await c.response(3), { error: [24, 'Unauthorized worker', null] }, 'submit before authorize');
  c.sendLine({ id: 4, method: 'mining.submit', params: ['w', '1', '00'] });
  t.match(await c.response(4), { error: [20, /expected 5 or 6 params/, null] });
  c.sendLine({ id: 5, method: 'mining.whatever', params: [] });
  t.match(await c.response(5), { error: [20, 'Unsupported method: mining.whatever', null] });
  c.sendLine('[1,2,3]');
  t.match(await c.next((m) => m.kind === 'response' && m.id === null), { error: [20, 'A message must be a JSON object', null] });
  const st = pool.stats();
  t.equal(st.malformedLines, 2);
  t.equal(st.methods['mining.whatever'], 1);
});

t.test('shares are judged by the pool: accepted, duplicate, job not found, malformed, low difficulty, stale', async (t) => {
  const pool = await startPool(t, { difficulty: 1e-9, submitWorkers: 'authorized' });
  const shares: SimPoolShareEvent[] = [];
  pool.on('share', (s) => shares.push(s));
  const c = await connect(t, pool);
  const s = await handshake(c, 'farm.rig1');
  const en2 = '0000000000000001';
  const good = findNonce(s.notify, s.extranonce1, en2, meetsDifficulty(1e-9));
  c.sendLine(submitLine(10, 'farm.rig1', s.notify, en2, good));
  t.match(await c.response(10), { result: true, error: null }, 'a share meeting the difficulty');
  c.sendLine(submitLine(11, 'farm.rig1', s.notify, en2, good));
  t.match(await c.response(11), { error: [22, 'Duplicate share', null] });
  c.sendLine({ id: 12, method: 'mining.submit', params: ['farm.rig1', 'ffff', en2, s.notify.ntime, good] });
  t.match(await c.response(12), { error: [21, 'Job not found', null] });
  c.sendLine(submitLine(13, 'farm.rig1', s.notify, '00000001', good));
  t.match(await c.response(13), { error: [20, /Invalid extranonce2: expected 16 hex digits/, null] }, 'extranonce2 of the wrong length');
  const low = findNonce(s.notify, s.extranonce1, en2, missesDifficulty(1e-9));
  c.sendLine(submitLine(14, 'farm.rig1', s.notify, en2, low));
  t.match(await c.response(14), { error: [23, /^Low difficulty share/, null] });
  c.sendLine(submitLine(15, 'farm.rig1', s.notify, en2, good, ['00002000']));
  t.match(await c.response(15), { error: [20, /Version rolling was not negotiated/, null] });
  c.sendLine({ id: 16, method: 'mining.submit', params: ['farm.rig1', s.notify.jobId, en2, (parseInt(s.notify.ntime, 16) - 1).toString(16), good] });
  t.match(await c.response(16), { error: [20, /ntime out of range/, null] });
  c.sendLine(submitLine(17, 'someone.else', s.notify, en2, good));
  t.match(await c.response(17), { error: [24, 'Unauthorized worker', null] }, 'a worker not authorized on this connection');

  pool.newBlock();
  const clean = parseNotify((await c.notification('mining.notify')).params);
  t.equal(clean.cleanJobs, true);
  const other = findNonce(s.notify, s.extranonce1, '0000000000000002', meetsDifficulty(1e-9));
  c.sendLine(submitLine(18, 'farm.rig1', s.notify, '0000000000000002', other));
  t.match(await c.response(18), { error: [21, /^Stale job/, null] }, 'a share on a job before the clean job');
  const fresh = findNonce(clean, s.extranonce1, en2, meetsDifficulty(1e-9));
  c.sendLine(submitLine(19, 'farm.rig1', clean, en2, fresh));
  t.match(await c.response(19), { result: true }, 'same extranonce2 and maybe nonce on the new job is fine');

  const st = pool.stats();
  t.same(st.totals.rejectedByCode, { 20: 3, 21: 2, 22: 1, 23: 1, 24: 1 });
  t.equal(st.totals.accepted, 2);
  t.equal(st.totals.submitted, 10);
  t.same(pool.workerStats('farm.rig1').rejectedByCode, { 20: 3, 21: 2, 22: 1, 23: 1 }, 'per worker (the unauthorized one is not a worker)');
  t.equal(pool.workerStats('farm.rig1').acceptedDifficulty, 2e-9);
  t.equal(shares.length, 10);
  t.match(shares[0], { accepted: true, worker: 'farm.rig1', code: null, difficulty: 1e-9 });
  t.ok(shares[0]!.shareDifficulty! >= 1e-9);
  t.match(shares[4], { accepted: false, code: 23, jobId: s.notify.jobId });
});

t.test('by default a connection that authorized once may submit for any worker name (like node-stratum-pool)', async (t) => {
  const pool = await startPool(t, { difficulty: 1e-9 });
  const c = await connect(t, pool);
  const s = await handshake(c, 'farm');
  const en2 = '0000000000000009';
  const nonce = findNonce(s.notify, s.extranonce1, en2, meetsDifficulty(1e-9));
  c.sendLine(submitLine(90, 'farm.rig7', s.notify, en2, nonce));
  t.match(await c.response(90), { result: true });
  t.equal(pool.workerStats('farm.rig7').accepted, 1, 'counted under the name submitted');
  t.equal(pool.workerStats('farm').submitted, 0);
  c.sendLine(submitLine(91, '', s.notify, en2, nonce));
  t.match(await c.response(91), { error: [24, 'Unauthorized worker', null] }, 'an empty worker name is nobody');
});

t.test('a new difficulty takes effect with the next job: shares are judged by their job', async (t) => {
  const pool = await startPool(t, { difficulty: 1e-9 });
  const c = await connect(t, pool);
  const s = await handshake(c);
  pool.setDifficulty(1e-4);
  const [d, n] = [await c.take(), await c.take()];
  t.match(d, { method: 'mining.set_difficulty', params: [1e-4] }, 'set_difficulty first');
  const job2 = parseNotify((n as { params: unknown[] }).params);
  t.equal(job2.cleanJobs, false, 'then a new job (not clean)');
  t.not(job2.jobId, s.notify.jobId);
  const en2 = '00000000000000aa';
  const easyOld = findNonce(s.notify, s.extranonce1, en2, (h) => meetsDifficulty(1e-9)(h) && missesDifficulty(1e-4)(h));
  c.sendLine(submitLine(20, 'farm.rig1', s.notify, en2, easyOld));
  t.match(await c.response(20), { result: true }, 'the old job keeps its difficulty');
  const easyNew = findNonce(job2, s.extranonce1, en2, (h) => meetsDifficulty(1e-9)(h) && missesDifficulty(1e-4)(h));
  c.sendLine(submitLine(21, 'farm.rig1', job2, en2, easyNew));
  t.match(await c.response(21), { error: [23, /Low difficulty share: .* < 0.0001/, null] }, 'the new job has the new difficulty');
  t.equal(pool.stats().difficulty, 1e-4);
  t.throws(() => pool.setDifficulty(0), /difficulty must be a positive number/);
});

t.test('a share meeting the network target is a block: event, next height, clean job', async (t) => {
  const nbits = '207fffff'; // regtest-like target: about half of all hashes are blocks
  const pool = await startPool(t, { nbits, difficulty: 1e-9 });
  const blocks: FoundBlock[] = [];
  pool.on('block', (b) => blocks.push(b));
  const c = await connect(t, pool);
  const s = await handshake(c, 'farm.lucky');
  const height = pool.height;
  const en2 = '0000000000000003';
  const nonce = findNonce(s.notify, s.extranonce1, en2, (h) => meetsBits(nbits)(h) && meetsDifficulty(1e-9)(h));
  c.sendLine(submitLine(30, 'farm.lucky', s.notify, en2, nonce));
  t.match(await c.response(30), { result: true });
  const next = parseNotify((await c.notification('mining.notify')).params);
  t.equal(next.cleanJobs, true, 'a clean job follows at once');
  t.not(next.prevhash, s.notify.prevhash, 'on a new prevhash');
  t.equal(pool.height, height + 1);
  t.equal(blocks.length, 1);
  t.match(blocks[0], { height, worker: 'farm.lucky', jobId: s.notify.jobId, hash: /^[0-9a-f]{64}$/ });
  t.equal(pool.stats().totals.blocks, 1);
  t.equal(pool.workerStats('farm.lucky').blocks, 1);

  // A block is taken even when it misses the share difficulty (real pools check the block target first).
  pool.setDifficulty(1e12);
  const hard = parseNotify((await c.notification('mining.notify')).params);
  const blockOnly = findNonce(hard, s.extranonce1, en2, meetsBits(nbits));
  c.sendLine(submitLine(31, 'farm.lucky', hard, en2, blockOnly));
  t.match(await c.response(31), { result: true }, 'block below the share difficulty is accepted');
  t.equal(blocks.length, 2);
  const afterBlock = parseNotify((await c.notification('mining.notify')).params);
  t.equal(afterBlock.cleanJobs, true);
  const notBlock = findNonce(afterBlock, s.extranonce1, '0000000000000004', (h) => !meetsBits(nbits)(h));
  c.sendLine(submitLine(32, 'farm.lucky', afterBlock, '0000000000000004', notBlock));
  t.match(await c.response(32), { error: [23, /Low difficulty/, null] }, 'neither block nor share');
});

t.test('late submit answers hold back the answers behind them (request order)', async (t) => {
  const pool = await startPool(t, { faults: { submitDelayMs: 300 } });
  const c = await connect(t, pool);
  const s = await handshake(c);
  const en2 = '0000000000000005';
  const nonce = findNonce(s.notify, s.extranonce1, en2, meetsDifficulty(1e-9));
  c.sendLine(submitLine(40, 'farm.rig1', s.notify, en2, nonce));
  c.sendRequest(41, 'mining.nothing', []);
  c.sendLine(submitLine(42, 'farm.rig1', s.notify, en2, nonce));
  t.match(await c.take(), { kind: 'response', id: 40, result: true });
  t.match(await c.take(), { kind: 'response', id: 41, error: [20, /Unsupported/, null] });
  t.match(await c.take(), { kind: 'response', id: 42, error: [22, 'Duplicate share', null] });
});

t.test('stall: nothing is answered and no job is sent until unstall', async (t) => {
  const pool = await startPool(t);
  const c = await connect(t, pool);
  await handshake(c);
  pool.stall();
  t.equal(pool.stats().stalled, true);
  c.sendRequest(50, 'mining.ping', []);
  pool.newJob();
  await sleep(300);
  t.same(c.pending(), [], 'silence while stalled');
  pool.unstall();
  c.sendRequest(51, 'mining.ping', []);
  t.match(await c.take(), { kind: 'response', id: 51 }, 'the request sent while stalled was never answered');

  const stalled = await startPool(t, { faults: { stallAfterMs: 0 } });
  await sleep(50);
  const c2 = await connect(t, stalled);
  c2.sendRequest(1, 'mining.subscribe', []);
  await sleep(300);
  t.same(c2.messages, [], 'stallAfterMs: a hung pool');
});

t.test('refuse / resume, reset mode, drop and dropAll', async (t) => {
  const pool = await startPool(t);
  const port = pool.port;
  const kept = await connect(t, pool);
  await handshake(kept);
  await pool.refuse();
  const refused = await new Promise<string>((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
  });
  t.equal(refused, 'ECONNREFUSED', 'new connections are refused');
  kept.sendRequest(60, 'mining.ping', []);
  t.match(await kept.response(60), { id: 60 }, 'open connections still work');
  await pool.resume();
  t.equal(pool.port, port, 'same port after resume');
  const again = await connect(t, pool);
  await handshake(again);

  await pool.refuse('reset');
  const reset = await LineClient.connect(port);
  t.teardown(() => reset.close());
  await reset.waitClosed();
  t.same(reset.messages, [], 'reset: closed without a word');
  await pool.resume();

  const closedEvents: number[] = [];
  pool.on('connection', (e) => e.state === 'closed' && closedEvents.push(e.id));
  const ids = pool.connectionStats().map((x) => x.id);
  t.equal(pool.drop(ids[0]!), true);
  await kept.waitClosed();
  t.equal(pool.dropAll(), 1);
  await again.waitClosed();
  t.equal(again.closed, true);
  t.equal(pool.drop(12345), false);
  await sleep(20);
  t.equal(pool.connectionCount, 0);
  t.equal(closedEvents.length, 2);
});

t.test('setExtranonce: set_extranonce to subscribers (new value from the next job), others closed', async (t) => {
  const pool = await startPool(t, { difficulty: 1e-9 });
  const a = await connect(t, pool);
  const sa = await handshake(a, 'farm.a');
  a.sendRequest(3, 'mining.extranonce.subscribe', []);
  t.match(await a.response(3), { result: true });
  const b = await connect(t, pool);
  await handshake(b, 'farm.b');
  t.throws(() => pool.setExtranonce('all', 'xyz'), /extranonce1 must be 8 hex digits/);

  const { changed, closed } = pool.setExtranonce('all', 'abcdef01');
  t.equal(changed.length, 1);
  t.equal(closed.length, 1);
  await b.waitClosed();
  t.pass('the session without extranonce.subscribe was closed');
  t.match(await a.take(), { method: 'mining.set_extranonce', params: ['abcdef01', 8] });
  const job2 = parseNotify((await a.notification('mining.notify')).params);
  const en2 = '0000000000000007';
  const oldEn1 = sa.extranonce1;
  const newEn1 = 'abcdef01';
  // On the old job the old extranonce1 still counts; on the new job only the new one does.
  const n1 = findNonce(sa.notify, oldEn1, en2, (h, n) => meetsDifficulty(1e-9)(h) && missesDifficulty(1e-9)(hashAt(sa.notify, newEn1, en2, n)));
  a.sendLine(submitLine(70, 'farm.a', sa.notify, en2, n1));
  t.match(await a.response(70), { result: true }, 'old job, old extranonce1');
  const n2 = findNonce(job2, newEn1, en2, (h, n) => meetsDifficulty(1e-9)(h) && missesDifficulty(1e-9)(hashAt(job2, oldEn1, en2, n)));
  a.sendLine(submitLine(71, 'farm.a', job2, en2, n2));
  t.match(await a.response(71), { result: true }, 'new job, new extranonce1');
  const n3 = findNonce(job2, oldEn1, en2, (h, n) => meetsDifficulty(1e-9)(h) && missesDifficulty(1e-9)(hashAt(job2, newEn1, en2, n)));
  a.sendLine(submitLine(72, 'farm.a', job2, en2, n3));
  t.match(await a.response(72), { error: [23, /Low difficulty/, null] }, 'new job with the old extranonce1 does not count');
  t.equal(pool.connectionOf('farm.a')?.extranonce1, newEn1);
});

function hashAt(notify: NotifyParams, en1: string, en2: string, nonce: number): Buffer {
  return hashShare(notify, en1, en2, nonce);
}

t.test('client.reconnect, show_message and garbage go to the connections', async (t) => {
  const pool = await startPool(t);
  const c = await connect(t, pool);
  await handshake(c);
  t.equal(pool.sendReconnect({ host: '127.0.0.1', port: 4444, waitSeconds: 2 }), 1);
  t.match(await c.take(), { method: 'client.reconnect', params: ['127.0.0.1', 4444, 2] });
  pool.sendReconnect();
  t.match(await c.take(), { method: 'client.reconnect', params: [] });
  pool.sendMessage('maintenance at noon');
  t.match(await c.take(), { method: 'client.show_message', params: ['maintenance at noon'] });
  const before = c.rawLines.length;
  t.equal(pool.sendGarbage(), 1);
  c.sendRequest(80, 'mining.ping', []);
  await c.response(80);
  t.equal(c.rawLines[before], 'this is not json {{{', 'a garbage line arrived');
});

t.test('a line over the limit closes the connection', async (t) => {
  const pool = await startPool(t, { maxLineBytes: 1024 });
  const c = await connect(t, pool);
  c.sendRaw('x'.repeat(4096));
  await c.waitClosed();
  t.equal(c.closed, true);
});

t.test('options are checked and name the field', async (t) => {
  t.throws(() => new SimPool({ nbits: 'zz' }), /nbits must be 8 hex digits/);
  t.throws(() => new SimPool({ nbits: '01800000' }), /negative/);
  t.throws(() => new SimPool({ nbits: '00000000' }), /zero target/);
  t.throws(() => new SimPool({ extranonce1Size: 0 }), /extranonce1Size must be an integer from 1 to 16/);
  t.throws(() => new SimPool({ extranonce2Size: 17 }), /extranonce2Size/);
  t.throws(() => new SimPool({ difficulty: -1 }), /difficulty must be a positive number/);
  t.throws(() => new SimPool({ jobIntervalMs: -5 }), /jobIntervalMs/);
  t.throws(() => new SimPool({ txCount: -1 }), /txCount/);
});

t.test('jobs on a timer: jobIntervalMs gives unclean jobs, blockIntervalMs clean ones at the next height', async (t) => {
  const pool = await startPool(t, { jobIntervalMs: 100, blockIntervalMs: 350 });
  const c = await connect(t, pool);
  const s = await handshake(c);
  const h0 = pool.height;
  let unclean = 0;
  let clean: NotifyParams | undefined;
  for (let i = 0; i < 40 && !clean; i++) {
    const n = parseNotify((await c.notification('mining.notify', 10_000)).params);
    if (n.cleanJobs) clean = n;
    else unclean++;
  }
  t.ok(unclean >= 1, 'unclean jobs between blocks');
  t.ok(clean, 'a clean job came');
  t.not(clean!.prevhash, s.notify.prevhash);
  t.ok(pool.height > h0);
});
