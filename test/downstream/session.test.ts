import t, { type Test } from 'tap';
import { Session, type SessionHost, type SessionLimits, type SubscribeGrant } from '../../src/downstream/session.js';
import { StratumError, StratumErrorCode } from '../../src/stratum/errors.js';
import type { SubmitParams } from '../../src/stratum/messages.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { errorOf, LineClient, type Line } from '../helpers/line-client.js';
import { sleep, until } from '../helpers/wait.js';

/**
 * One device session over an in-memory duplex pair (no socket, no server, no proxy): the test writes the
 * device's bytes and plays the host, which answers every mining request as the test decides and records
 * every lifecycle call (closed, limited, failed).
 */

const LIMITS: SessionLimits = { maxLineBytes: 16 * 1024, maxWriteBufferBytes: 256 * 1024, submitsPerSecond: 1000, maxPendingReplies: 1000, maxWorkersPerSession: 64 };
const GRANT: SubscribeGrant = { extranonce1: 'aabbccdd', extranonce2Size: 4 };
const SESSION_ID = 7;
/** The subscription id the session reports: its id as 8 hex digits. */
const SUB_ID = '00000007';

interface Recorded {
  closed: string[];
  limited: string[];
  failed: { method: string; error: string }[];
  ready: number;
  submits: SubmitParams[];
  masksAsked: number[];
  suggested: number[];
}

type MiningPart = Omit<SessionHost, 'closed' | 'limited' | 'failed'>;

function recordingHost(over: Partial<MiningPart>): SessionHost & { rec: Recorded } {
  const rec: Recorded = { closed: [], limited: [], failed: [], ready: 0, submits: [], masksAsked: [], suggested: [] };
  const mining: MiningPart = {
    subscribe: async () => GRANT,
    authorize: async () => {},
    submit: () => {},
    versionMask: (_s, requested) => requested & 0x1fffe000,
    suggestDifficulty: () => {},
    ready: () => {},
    ...over,
  };
  return {
    rec,
    subscribe: (s) => mining.subscribe(s),
    authorize: (s, u, p) => mining.authorize(s, u, p),
    submit: (s, p) => {
      rec.submits.push(p);
      return mining.submit(s, p);
    },
    versionMask: (s, m) => {
      rec.masksAsked.push(m);
      return mining.versionMask(s, m);
    },
    suggestDifficulty: (s, d) => {
      rec.suggested.push(d);
      mining.suggestDifficulty(s, d);
    },
    ready: (s) => {
      rec.ready++;
      mining.ready(s);
    },
    closed: (_s, reason) => void rec.closed.push(reason),
    limited: (_s, cause) => void rec.limited.push(cause),
    failed: (_s, error, method) => void rec.failed.push({ method, error: error.message }),
  };
}

function open(t: Test, over: Partial<MiningPart> = {}, limits: Partial<SessionLimits> = {}, highWaterMark?: number) {
  const host = recordingHost(over);
  const [deviceEnd, proxyEnd] = duplexPair(highWaterMark);
  const session = new Session(SESSION_ID, proxyEnd, '192.0.2.1', host, { ...LIMITS, ...limits });
  const device = LineClient.over(deviceEnd);
  t.teardown(() => {
    device.close();
    session.close('test over');
  });
  /** Subscribe and authorize `worker`; fails the test when either is refused. */
  const handshake = async (worker = 'rig') => {
    t.same((await device.request('mining.subscribe', ['miner/1.0'])).error, null, 'subscribed');
    t.equal((await device.request('mining.authorize', [worker, 'x'])).result, true, 'authorized');
  };
  return { host, rec: host.rec, session, device, deviceEnd, handshake };
}

const submitParams = (worker = 'rig', jobId = 'j1') => [worker, jobId, '00000000', '5f5e1000', '00000001'];
const request = (id: number | string, method: string, params: unknown[] = []) => JSON.stringify({ id, method, params }) + '\n';
const answerIds = (lines: Line[]) => lines.filter((l) => l.method === undefined).map((l) => l.id);

// ---- framing ------------------------------------------------------------------------------------------

t.test('framing: a request split across chunks (down to single bytes), several in one chunk, CRLF and blank lines', async (t) => {
  const { device, deviceEnd } = open(t);
  const line = request(1, 'mining.ping');
  deviceEnd.write(line.slice(0, 10));
  await sleep(20);
  t.equal(device.lines.length, 0, 'half a line is not answered');
  deviceEnd.write(line.slice(10));
  t.equal((await device.waitFor((l) => l.id === 1, undefined, true)).result, 'pong');

  for (const byte of request(2, 'mining.ping')) deviceEnd.write(byte);
  t.equal((await device.waitFor((l) => l.id === 2, undefined, true)).result, 'pong', 'byte by byte');

  deviceEnd.write(request(3, 'mining.ping').replace('\n', '\r\n') + '\n\r\n' + request(4, 'mining.get_transactions') + request(5, 'mining.ping'));
  await device.waitFor((l) => l.id === 5, undefined, true);
  t.same(answerIds(device.lines), [1, 2, 3, 4, 5], 'each request answered once, in order');
  t.same(device.lines.find((l) => l.id === 4)?.result, []);
});

t.test('a line over maxLineBytes: error 20, then the connection ends; a good line before it is answered first', async (t) => {
  const { device, deviceEnd, rec } = open(t, {}, { maxLineBytes: 64 });
  deviceEnd.write(request(1, 'mining.ping') + 'x'.repeat(40));
  deviceEnd.write('y'.repeat(40)); // the unfinished line passes 64 bytes here, with no newline yet
  await device.waitClosed();
  t.same(answerIds(device.lines), [1, null]);
  t.same(errorOf(device.lines[1]!), [20, 'Line too long: over 64 bytes', null]);
  t.same(rec.limited, ['line_too_long']);
  t.same(rec.closed, ['line over the maximum length'], 'closed once, with the reason');
});

t.test('a complete line over maxLineBytes in one chunk is refused the same way', async (t) => {
  const { device, deviceEnd, rec } = open(t, {}, { maxLineBytes: 64 });
  deviceEnd.write(request(1, 'mining.ping', ['z'.repeat(100)]));
  await device.waitClosed();
  t.same(device.lines.map(errorOf), [[20, 'Line too long: over 64 bytes', null]]);
  t.same(rec.limited, ['line_too_long']);
});

// ---- every error code ------------------------------------------------------------------------------

t.test('20: unknown method, malformed JSON, bad params, a second subscribe; the connection stays', async (t) => {
  const { device, handshake } = open(t);
  await handshake();
  t.same(errorOf(await device.request('mining.frobnicate', [])), [20, 'Unknown method: mining.frobnicate', null]);
  device.sendRaw('this is not json\n');
  t.same(errorOf(await device.waitFor((l) => l.id === null, undefined, true)), [20, 'Malformed JSON', null]);
  t.same(errorOf(await device.request('mining.authorize', [])), [20, 'mining.authorize: missing username (param 1)', null]);
  t.same(errorOf(await device.request('mining.submit', ['rig', 'j1'])), [20, 'mining.submit: expected 5 or 6 params (worker, job_id, extranonce2, ntime, nonce[, version_bits]), got 2', null]);
  t.same(errorOf(await device.request('mining.subscribe', [])), [20, 'Already subscribed', null]);
  t.equal((await device.request('mining.ping', [])).result, 'pong', 'still served');
  t.notOk(device.closed);
});

t.test('20: a bug in the host (not a StratumError) is answered with error 20, reported once per call, and the connection stays', async (t) => {
  const { device, handshake, rec } = open(t, {
    suggestDifficulty: () => {
      throw new TypeError('boom');
    },
    submit: () => {
      throw new RangeError('bad arithmetic');
    },
  });
  await handshake();
  t.same(errorOf(await device.request('mining.suggest_difficulty', [2])), [20, 'Internal error while handling mining.suggest_difficulty', null]);
  t.same(errorOf(await device.request('mining.submit', submitParams())), [20, 'bad arithmetic', null], 'a submit the host could not judge is refused with its message');
  t.same(rec.failed, [{ method: 'mining.suggest_difficulty', error: 'boom' }]);
  t.equal((await device.request('mining.ping', [])).result, 'pong');
});

t.test('21, 22, 23: the host\'s verdict on a share reaches the device with its code, thrown or rejected', async (t) => {
  const verdicts = [
    () => {
      throw new StratumError(StratumErrorCode.JobNotFound, 'Job not found');
    },
    () => Promise.reject(new StratumError(StratumErrorCode.DuplicateShare, 'Duplicate share')),
    () => Promise.reject(new StratumError(StratumErrorCode.LowDifficulty, 'Low difficulty share (0.5 < 1)')),
    () => Promise.resolve(),
    () => undefined,
  ];
  let i = 0;
  const { device, handshake, rec } = open(t, { submit: () => verdicts[i++]!() });
  await handshake();
  const answers = [];
  for (let n = 0; n < verdicts.length; n++) answers.push(await device.request('mining.submit', submitParams('rig', `j${n}`)));
  t.same(answers.map(errorOf), [[21, 'Job not found', null], [22, 'Duplicate share', null], [23, 'Low difficulty share (0.5 < 1)', null], null, null]);
  t.same(answers.slice(3).map((a) => a.result), [true, true], 'a judged share (sync or async) is answered true');
  t.same(rec.submits.map((s) => s.jobId), ['j0', 'j1', 'j2', 'j3', 'j4'], 'every submit reached the host, parsed');
  t.same(rec.submits[0], { worker: 'rig', jobId: 'j0', extranonce2: '00000000', ntime: '5f5e1000', nonce: '00000001' });
});

t.test('24: submit before authorize, for a worker not authorized, refused credentials', async (t) => {
  const { device, rec } = open(t, {
    authorize: async (_s, user) => {
      if (user === 'intruder') throw new StratumError(StratumErrorCode.Unauthorized, 'Unknown worker intruder');
      if (user === 'broken') throw new Error('access list unreadable');
    },
  });
  await device.request('mining.subscribe', []);
  t.same(errorOf(await device.request('mining.submit', submitParams())), [24, 'Unauthorized worker', null]);
  t.same(errorOf(await device.request('mining.authorize', ['intruder', 'x'])), [24, 'Unknown worker intruder', null]);
  t.same(errorOf(await device.request('mining.authorize', ['broken', 'x'])), [24, 'access list unreadable', null], 'any failure to authorize is a refusal (24)');
  t.same(rec.limited, ['authorize_refused', 'authorize_refused'], 'refused credentials are counted');
  t.equal(rec.ready, 0, 'not ready while refused');
  t.equal((await device.request('mining.authorize', ['rig', 'x'])).result, true);
  t.same(errorOf(await device.request('mining.submit', submitParams('someone-else'))), [24, 'Unauthorized worker: someone-else', null]);
  t.equal(rec.submits.length, 0, 'nothing unauthorized reached the host');
  t.equal(rec.ready, 1);
});

t.test('25: submit or authorize before subscribe', async (t) => {
  const { device, rec } = open(t);
  t.same(errorOf(await device.request('mining.submit', submitParams())), [25, 'Not subscribed', null]);
  t.same(errorOf(await device.request('mining.authorize', ['rig', 'x'])), [25, 'Not subscribed', null]);
  t.equal(rec.submits.length, 0);
  t.notOk(device.closed);
});

// ---- limits ----------------------------------------------------------------------------------------

t.test('submit rate: a burst of twice the rate passes, the rest get error 20 and are counted', async (t) => {
  const { device, deviceEnd, handshake, rec } = open(t, {}, { submitsPerSecond: 2 });
  await handshake();
  deviceEnd.write(Array.from({ length: 6 }, (_, i) => request(100 + i, 'mining.submit', submitParams())).join(''));
  await device.waitFor((l) => l.id === 105, undefined, true);
  const answers = device.lines.filter((l) => typeof l.id === 'number' && l.id >= 100);
  t.same(answers.map((l) => l.id), [100, 101, 102, 103, 104, 105]);
  t.same(answers.map((l) => l.result ?? null), [true, true, true, true, null, null]);
  t.same(answers.slice(4).map(errorOf), [[20, 'Too many submits: the limit is 2 per second', null], [20, 'Too many submits: the limit is 2 per second', null]]);
  t.same(rec.limited, ['submit_rate', 'submit_rate']);
  t.equal(rec.submits.length, 4, 'refused submits never reach the host');
});

t.test('pending replies: requests piling up behind an unanswered submit drop the device; nothing is answered out of order', async (t) => {
  const { device, deviceEnd, handshake, rec } = open(t, { submit: () => new Promise<void>(() => {}) }, { maxPendingReplies: 3 });
  await handshake();
  deviceEnd.write(request(10, 'mining.submit', submitParams()) + [11, 12, 13, 14].map((id) => request(id, 'mining.ping')).join(''));
  await device.waitClosed();
  t.same(answerIds(device.lines).filter((id) => typeof id === 'number' && id >= 10), [], 'no answer went out');
  t.same(rec.limited, ['pending_replies']);
  t.same(rec.closed, ['more than 3 requests waiting for an answer']);
});

t.test('worker names per connection are capped (error 24); names already authorized stay usable', async (t) => {
  const { device, handshake, rec } = open(t, {}, { maxWorkersPerSession: 2 });
  await handshake('w0');
  t.equal((await device.request('mining.authorize', ['w1', 'x'])).result, true);
  t.same(errorOf(await device.request('mining.authorize', ['w2', 'x'])), [24, 'Too many worker names on one connection (limit 2)', null]);
  t.equal((await device.request('mining.authorize', ['w0', 'x'])).result, true, 'a known name again is fine');
  t.equal((await device.request('mining.submit', submitParams('w1'))).result, true);
  t.same(rec.limited, ['workers_per_connection']);
  t.equal(rec.ready, 1, 'ready once, for the first worker');
});

t.test('write buffer: a device that stops reading is dropped once its unsent output passes the limit', async (t) => {
  const { session, device, handshake, rec } = open(t, {}, { maxWriteBufferBytes: 4096 }, 1024);
  await handshake();
  device.socket.pause();
  const job = ['x'.repeat(500)];
  for (let i = 0; i < 100 && !session.isClosed; i++) session.notify('mining.notify', job);
  t.ok(session.isClosed, 'dropped within 100 jobs of 500 bytes');
  t.same(rec.limited, ['write_buffer']);
  t.same(rec.closed, ['device is not reading (over 4096 bytes waiting to be sent)']);
  session.notify('mining.notify', job);
  t.same(rec.closed.length, 1, 'writes after the close are ignored');
});

t.test('a device that reads slowly but reads is not dropped', async (t) => {
  const { session, device, handshake, rec } = open(t, {}, { maxWriteBufferBytes: 4096 }, 1024);
  await handshake();
  const job = ['x'.repeat(500)];
  for (let i = 0; i < 100; i++) {
    session.notify('mining.notify', job);
    await sleep(0);
  }
  await until(() => device.notifications('mining.notify').length === 100, 'all 100 jobs read');
  t.notOk(session.isClosed);
  t.same(rec.limited, []);
});

// ---- order of answers ------------------------------------------------------------------------------

t.test('answers go out in request order: a fast answer waits for an earlier slow one', async (t) => {
  const slow: (() => void)[] = [];
  const { device, deviceEnd, handshake, rec } = open(t, {
    submit: (_s, p) => (p.jobId === 'slow' ? new Promise<void>((resolve) => slow.push(resolve)) : undefined),
  });
  await handshake();
  const before = device.lines.length;
  deviceEnd.write(request(1, 'mining.submit', submitParams('rig', 'slow')) + request(2, 'mining.submit', submitParams('rig', 'fast')) + request(3, 'mining.ping'));
  await until(() => slow.length === 1, 'the slow submit reached the host');
  await sleep(50);
  t.equal(device.lines.length, before, 'nothing answered while the first waits');
  t.equal(rec.submits.length, 2, 'the fast one was judged already');
  slow[0]!();
  await device.waitFor((l) => l.id === 3, undefined, true);
  const tail = device.lines.slice(before);
  t.same(tail.map((l) => l.id), [1, 2, 3], 'in request order');
  t.same(tail.map((l) => l.result), [true, true, 'pong']);
});

t.test('a slow refusal keeps its place too, and notifications are not held back', async (t) => {
  let reject: (e: Error) => void = () => {};
  const { session, device, deviceEnd, handshake } = open(t, {
    submit: (_s, p) => (p.jobId === 'slow' ? new Promise<void>((_r, j) => (reject = j)) : undefined),
  });
  await handshake();
  const before = device.lines.length;
  deviceEnd.write(request(1, 'mining.submit', submitParams('rig', 'slow')) + request(2, 'mining.submit', submitParams('rig', 'fast')));
  await sleep(50);
  session.notify('mining.set_difficulty', [2]);
  await device.waitFor((l) => l.method === 'mining.set_difficulty', undefined, true);
  reject(new StratumError(StratumErrorCode.DuplicateShare, 'Duplicate share'));
  await device.waitFor((l) => l.id === 2, undefined, true);
  const tail = device.lines.slice(before);
  t.same(tail.map((l) => l.method ?? l.id), ['mining.set_difficulty', 1, 2], 'the notification went out at once; the answers in order');
  t.same(errorOf(tail[1]!), [22, 'Duplicate share', null]);
  t.equal(tail[2]!.result, true);
});

t.test('subscribe and authorize pipelined: both wait for the subscribe, answered in order, then ready', async (t) => {
  let release: (g: SubscribeGrant) => void = () => {};
  const { device, deviceEnd, rec, session } = open(t, { subscribe: () => new Promise((resolve) => (release = resolve)) });
  deviceEnd.write(request(1, 'mining.subscribe', ['miner/1.0']) + request(2, 'mining.authorize', ['rig', 'x']) + request(3, 'mining.ping'));
  await sleep(50);
  t.equal(device.lines.length, 0, 'nothing answered while the subscribe waits');
  t.equal(rec.ready, 0);
  release(GRANT);
  await device.waitFor((l) => l.id === 3, undefined, true);
  t.same(device.lines.map((l) => l.id), [1, 2, 3]);
  t.same(device.lines[0]!.result, [[['mining.set_difficulty', SUB_ID], ['mining.notify', SUB_ID]], 'aabbccdd', 4]);
  t.equal(device.lines[1]!.result, true);
  t.equal(rec.ready, 1);
  t.equal(session.state, 'authorized');
  t.equal(session.worker, 'rig');
  t.equal(session.userAgent, 'miner/1.0');
});

t.test('a failed subscribe fails the authorize pipelined behind it with 25', async (t) => {
  let tries = 0;
  const { device, deviceEnd, rec } = open(t, {
    subscribe: async () => {
      if (tries++ === 0) throw new StratumError(StratumErrorCode.Other, 'No pool connection yet, try again');
      return GRANT;
    },
  });
  deviceEnd.write(request(1, 'mining.subscribe') + request(2, 'mining.authorize', ['rig', 'x']));
  await device.waitFor((l) => l.id === 2, undefined, true);
  t.same(device.lines.map(errorOf), [[20, 'No pool connection yet, try again', null], [25, 'Not subscribed', null]]);
  t.equal(rec.ready, 0);
  t.equal((await device.request('mining.subscribe', [])).error, null, 'the device may subscribe again');
});

// ---- the rest of the protocol ----------------------------------------------------------------------

t.test('mining.configure: the host grants the mask; other extensions are declined; the allowed bits can change later', async (t) => {
  const { session, device } = open(t);
  const a = await device.request('mining.configure', [['version-rolling', 'minimum-difficulty'], { 'version-rolling.mask': '3fffff00', 'version-rolling.min-bit-count': 2 }]);
  t.same(a.result, { 'version-rolling': true, 'version-rolling.mask': '1fffe000', 'minimum-difficulty': false });
  t.equal(session.versionMask, 0x1fffe000);
  const masks = () => device.notifications('mining.set_version_mask').map((l) => l.params![0]);

  session.allowVersionBits(0x00ffe000);
  await until(() => masks().length === 1, 'the narrower mask sent');
  t.same(masks(), ['00ffe000']);
  t.equal(session.versionMask, 0x00ffe000);
  session.allowVersionBits(0xffffffff);
  await until(() => masks().length === 2, 'the wider mask sent');
  t.same(masks(), ['00ffe000', '3fffff00'], 'widened back, never past the bits the device asked for');
  t.equal(session.versionMask, 0x3fffff00);
  session.allowVersionBits(0x3fffffff);
  await sleep(20);
  t.equal(masks().length, 2, 'no notification when nothing changes');

  const none = await device.request('mining.configure', [['version-rolling'], { 'version-rolling.mask': '00001fff' }]);
  t.same(none.result, { 'version-rolling': false }, 'no bit the pool allows: rolling refused');
  t.equal(session.versionMask, 0);
  session.allowVersionBits(0xffffffff);
  await sleep(20);
  t.equal(masks().length, 2, 'a device refused rolling is not offered it later');
  t.equal(session.versionMask, 0);
});

t.test('suggest_difficulty and extranonce.subscribe are recorded and answered', async (t) => {
  const { session, device, handshake, rec } = open(t);
  t.equal((await device.request('mining.extranonce.subscribe', [])).result, true);
  t.ok(session.extranonceSubscribed);
  await handshake();
  t.equal((await device.request('mining.suggest_difficulty', [512])).result, true);
  t.equal(session.suggestedDifficulty, 512);
  t.same(rec.suggested, [512]);
});

t.test('closing: once, by either side; end() lets queued bytes reach the device first', async (t) => {
  const a = open(t);
  a.device.close();
  await until(() => a.session.isClosed, 'the session saw the device leave');
  t.same(a.rec.closed, ['connection closed by device']);
  a.session.close('again');
  a.session.end('and again');
  t.same(a.rec.closed, ['connection closed by device'], 'the host hears it once');
  t.equal(a.session.reasonClosed, 'connection closed by device');

  const b = open(t);
  b.session.notify('client.reconnect', []);
  b.session.end('asked to reconnect');
  await b.device.waitClosed();
  t.same(b.device.lines.map((l) => l.method), ['client.reconnect'], 'the queued line arrived before the close');
  t.same(b.rec.closed, ['asked to reconnect']);
});
