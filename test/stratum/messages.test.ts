import t, { type Test } from 'tap';
import { StratumError } from '../../src/stratum/errors.js';
import { parseLine } from '../../src/stratum/jsonrpc.js';
import {
  MAX_EXTRANONCE1_SIZE,
  MAX_EXTRANONCE2_SIZE,
  MAX_WORKER_NAME,
  Method,
  parseAuthorize,
  parseConfigure,
  parseNotify,
  parseReconnect,
  parseSetDifficulty,
  parseSetExtranonce,
  parseSetVersionMask,
  parseShowMessage,
  parseSubmit,
  parseSubscribe,
  parseSubscribeResult,
  parseSuggestDifficulty,
  requestedVersionMask,
} from '../../src/stratum/messages.js';
import { loadTranscript } from '../helpers/fixtures.js';

/** `fn` must throw a StratumError with code 20 and exactly `message`. */
function refuses(t: Test, fn: () => unknown, message: string) {
  try {
    const v = fn();
    t.fail(`expected "${message}", got ${JSON.stringify(v)}`);
  } catch (err) {
    if (!(err instanceof StratumError)) return t.fail(`expected a StratumError "${message}", got ${String(err)}`);
    t.equal(err.code, 20, `code 20: ${message}`);
    t.equal(err.message, message);
  }
}

const N = Method.Notify;
const HEX32 = 'bab4f0ed5b345d66f09116b42e910af88779357e5913fad10000000000000000';

/** The first notify of the real transcript, as its params array. */
function realNotifyParams(): unknown[] {
  for (const rec of loadTranscript()) {
    const p = parseLine(rec.line);
    if (p.ok && p.message.kind === 'request' && p.message.method === N) return p.message.params;
  }
  throw new Error('no notify in the transcript');
}

t.test('method names', async (t) => {
  t.equal(Method.ExtranonceSubscribe, 'mining.extranonce.subscribe');
  t.equal(Method.SetVersionMask, 'mining.set_version_mask');
  t.equal(Method.Reconnect, 'client.reconnect');
  t.equal(Method.ShowMessage, 'client.show_message');
});

t.test('mining.subscribe reads what it can and never refuses', async (t) => {
  t.same(parseSubscribe([]), {});
  t.same(parseSubscribe(['cpuminer-opt-26.1-x64L']), { userAgent: 'cpuminer-opt-26.1-x64L' });
  t.same(parseSubscribe(['bmminer/2.0', 'DEADbeef01']), { userAgent: 'bmminer/2.0', sessionId: 'DEADbeef01' });
  t.equal(parseSubscribe(['x'.repeat(1000)]).userAgent, 'x'.repeat(256), 'a long user agent is cut to 256 characters');
  t.same(parseSubscribe([42, { a: 1 }]), {}, 'non-string user agent and session id are ignored');
  t.same(parseSubscribe(['ua', 'not hex']), { userAgent: 'ua' }, 'a non-hex session id is ignored');
  t.same(parseSubscribe(['ua', 'a'.repeat(66)]), { userAgent: 'ua' }, 'a session id over 32 bytes is ignored');
  t.same(parseSubscribe([null, 'abc']), {}, 'an odd-length session id is ignored');
});

t.test('mining.authorize', async (t) => {
  t.same(parseAuthorize(['XjTsoFH5nzkPsuEnexYWNA6zjXEcb8rqL4.rig01', 'x']), { username: 'XjTsoFH5nzkPsuEnexYWNA6zjXEcb8rqL4.rig01', password: 'x' });
  t.same(parseAuthorize(['w']), { username: 'w', password: '' }, 'no password');
  t.same(parseAuthorize(['w', null]), { username: 'w', password: '' });
  t.same(parseAuthorize(['w', 123]), { username: 'w', password: '123' }, 'a number password is read as text');
  t.same(parseAuthorize(['u'.repeat(MAX_WORKER_NAME)]).username.length, MAX_WORKER_NAME);
  refuses(t, () => parseAuthorize([]), 'mining.authorize: missing username (param 1)');
  refuses(t, () => parseAuthorize([null, 'x']), 'mining.authorize: missing username (param 1)');
  refuses(t, () => parseAuthorize([42]), 'mining.authorize: username (param 1) must be a string');
  refuses(t, () => parseAuthorize([['w']]), 'mining.authorize: username (param 1) must be a string');
  refuses(t, () => parseAuthorize(['']), 'mining.authorize: username (param 1) must not be empty');
  refuses(t, () => parseAuthorize(['u'.repeat(MAX_WORKER_NAME + 1)]), `mining.authorize: username (param 1) is longer than ${MAX_WORKER_NAME} characters`);
});

t.test('mining.authorize with an object password from the wire', async (t) => {
  // Found by test/stratum/fuzz.test.ts: JSON such as ["w", {"toString": 1}] made String(password) throw a
  // TypeError. It is refused with code 20 now; numbers and booleans are read as text.
  const params = JSON.parse('["w", {"toString": 1}]') as unknown[];
  t.throws(() => parseAuthorize(params), new StratumError(20, 'mining.authorize: password (param 2) must be a string'));
  t.same(parseAuthorize(['w', 1234]), { username: 'w', password: '1234' });
  t.same(parseAuthorize(['w', true]), { username: 'w', password: 'true' });
});

t.test('mining.submit checks structure only', async (t) => {
  const ok = ['rig', '1', '00000000', '6b0187b1', 'a36e0000'];
  t.same(parseSubmit(ok), { worker: 'rig', jobId: '1', extranonce2: '00000000', ntime: '6b0187b1', nonce: 'a36e0000' });
  t.same(parseSubmit([...ok, '1fffe000']), { worker: 'rig', jobId: '1', extranonce2: '00000000', ntime: '6b0187b1', nonce: 'a36e0000', versionBits: '1fffe000' });
  t.same(parseSubmit([...ok, null]), parseSubmit(ok), 'a null version_bits is no version bits');
  t.same(parseSubmit(['rig', 'j', 'zz', 'not-hex', 'NONCE']).nonce, 'NONCE', 'content (hex, lengths) is judged later, by the share pipeline, in its fixed order');
  const expected = (n: number) => `mining.submit: expected 5 or 6 params (worker, job_id, extranonce2, ntime, nonce[, version_bits]), got ${n}`;
  refuses(t, () => parseSubmit([]), expected(0));
  refuses(t, () => parseSubmit(ok.slice(0, 4)), expected(4));
  const names = ['worker', 'job_id', 'extranonce2', 'ntime', 'nonce'];
  names.forEach((name, i) => {
    const missing = [...ok];
    missing[i] = null as unknown as string;
    refuses(t, () => parseSubmit(missing), `mining.submit: missing ${name} (param ${i + 1})`);
    const wrong: unknown[] = [...ok];
    wrong[i] = 12345678;
    refuses(t, () => parseSubmit(wrong), `mining.submit: ${name} (param ${i + 1}) must be a string`);
    wrong[i] = { v: 1 };
    refuses(t, () => parseSubmit(wrong), `mining.submit: ${name} (param ${i + 1}) must be a string`);
  });
  refuses(t, () => parseSubmit([...ok, 0x1fffe000]), 'mining.submit: version_bits (param 6) must be a string');
  refuses(t, () => parseSubmit([...ok, true]), 'mining.submit: version_bits (param 6) must be a string');
});

t.test('mining.configure and the version-rolling mask', async (t) => {
  const cfg = parseConfigure([['version-rolling', 'minimum-difficulty'], { 'version-rolling.mask': '1fffe000', 'version-rolling.min-bit-count': 2 }]);
  t.same(cfg, { extensions: ['version-rolling', 'minimum-difficulty'], options: { 'version-rolling.mask': '1fffe000', 'version-rolling.min-bit-count': 2 } });
  t.equal(requestedVersionMask(cfg), 0x1fffe000);
  t.equal(requestedVersionMask(parseConfigure([['version-rolling'], { 'version-rolling.mask': 'FFFFFFFF' }])), 0xffffffff, 'upper case, and the full mask as an unsigned number');
  t.equal(requestedVersionMask(parseConfigure([['version-rolling']])), 0xffffffff, 'no mask: any bit');
  t.equal(requestedVersionMask(parseConfigure([['minimum-difficulty'], {}])), undefined, 'version rolling not asked for');
  t.same(parseConfigure([[]]), { extensions: [], options: {} });
  t.same(parseConfigure([['a'], null]), { extensions: ['a'], options: {} }, 'null options read as {}');

  refuses(t, () => parseConfigure([]), 'mining.configure: extensions (param 1) must be an array of strings');
  refuses(t, () => parseConfigure(['version-rolling']), 'mining.configure: extensions (param 1) must be an array of strings');
  refuses(t, () => parseConfigure([['version-rolling', 5]]), 'mining.configure: extensions (param 1) must be an array of strings');
  refuses(t, () => parseConfigure([{ 0: 'version-rolling' }]), 'mining.configure: extensions (param 1) must be an array of strings');
  refuses(t, () => parseConfigure([['version-rolling'], []]), 'mining.configure: extension parameters (param 2) must be an object');
  refuses(t, () => parseConfigure([['version-rolling'], 'mask=1fffe000']), 'mining.configure: extension parameters (param 2) must be an object');
  refuses(t, () => parseConfigure([['version-rolling'], 7]), 'mining.configure: extension parameters (param 2) must be an object');

  for (const mask of ['1fffe0', '1fffe0000', 'xyzxyzxy', '', 0x1fffe000, null, ['1fffe000']]) {
    refuses(t, () => requestedVersionMask(parseConfigure([['version-rolling'], { 'version-rolling.mask': mask }])), 'mining.configure: version-rolling.mask must be 8 hex digits');
  }
});

t.test('mining.suggest_difficulty and mining.set_difficulty', async (t) => {
  for (const [method, parse] of [
    [Method.SuggestDifficulty, parseSuggestDifficulty],
    [Method.SetDifficulty, parseSetDifficulty],
  ] as const) {
    t.equal(parse([0.0001]), 0.0001);
    t.equal(parse([65536]), 65536);
    t.equal(parse(['2.5']), 2.5, 'a numeric string is read');
    t.equal(parse([1e-12, 'ignored']), 1e-12);
    refuses(t, () => parse([]), `${method}: missing difficulty (param 1)`);
    refuses(t, () => parse([null]), `${method}: missing difficulty (param 1)`);
    for (const bad of [0, -1, -0.5, 'abc', '', ' ', 'Infinity', Infinity, NaN, true, [], {}, [5]]) {
      refuses(t, () => parse([bad]), `${method}: difficulty (param 1) must be a positive number`);
    }
  }
});

t.test('mining.notify', async (t) => {
  const real = realNotifyParams();
  const n = parseNotify(real);
  t.equal(n.jobId, '1');
  t.equal(n.prevhash, HEX32);
  t.equal(n.merkleBranch.length, 2);
  t.same([n.version, n.nbits, n.ntime, n.cleanJobs], ['20000000', '1d3fffc0', '6b0187b1', true]);
  t.match(n.coinb1, /^03000500/, 'a type-5 coinbase');

  const upper = [...real];
  upper[1] = HEX32.toUpperCase();
  upper[4] = (real[4] as string[]).map((h) => h.toUpperCase());
  upper[6] = '1D3FFFC0';
  const nu = parseNotify(upper);
  t.equal(nu.prevhash, HEX32, 'hex is normalised to lower case');
  t.same(nu.merkleBranch, n.merkleBranch);
  t.equal(nu.nbits, '1d3fffc0');
  t.same(parseNotify([...real.slice(0, 4), [], ...real.slice(5)]).merkleBranch, [], 'an empty branch (a block with only the coinbase)');

  const withParam = (i: number, v: unknown) => {
    const p = [...real];
    p[i] = v;
    return p;
  };
  refuses(t, () => parseNotify(real.slice(0, 8)), `${N}: expected 9 params, got 8`);
  refuses(t, () => parseNotify([]), `${N}: expected 9 params, got 0`);
  refuses(t, () => parseNotify(withParam(0, null)), `${N}: missing job_id (param 1)`);
  refuses(t, () => parseNotify(withParam(0, 1)), `${N}: job_id (param 1) must be a string`);
  refuses(t, () => parseNotify(withParam(0, '')), `${N}: job_id (param 1) must be 1 to 64 characters`);
  refuses(t, () => parseNotify(withParam(0, 'j'.repeat(65))), `${N}: job_id (param 1) must be 1 to 64 characters`);
  t.equal(parseNotify(withParam(0, 'j'.repeat(64))).jobId.length, 64);

  refuses(t, () => parseNotify(withParam(1, HEX32.slice(2))), `${N}: prevhash (param 2) must be 64 hex digits`);
  refuses(t, () => parseNotify(withParam(1, HEX32 + '00')), `${N}: prevhash (param 2) must be 64 hex digits`);
  refuses(t, () => parseNotify(withParam(1, 'g' + HEX32.slice(1))), `${N}: prevhash (param 2) must be 64 hex digits`);
  refuses(t, () => parseNotify(withParam(1, null)), `${N}: missing prevhash (param 2)`);
  refuses(t, () => parseNotify(withParam(1, [HEX32])), `${N}: prevhash (param 2) must be a string`);
  refuses(t, () => parseNotify(withParam(2, '030')), `${N}: coinb1 (param 3) must be hex`);
  refuses(t, () => parseNotify(withParam(2, 'zz')), `${N}: coinb1 (param 3) must be hex`);
  refuses(t, () => parseNotify(withParam(2, 3)), `${N}: coinb1 (param 3) must be a string`);
  refuses(t, () => parseNotify(withParam(3, '0d2f6e6f6465x')), `${N}: coinb2 (param 4) must be hex`);
  refuses(t, () => parseNotify(withParam(3, undefined)), `${N}: missing coinb2 (param 4)`);
  refuses(t, () => parseNotify(withParam(4, HEX32)), `${N}: merkle_branch (param 5) must be an array`);
  refuses(t, () => parseNotify(withParam(4, null)), `${N}: merkle_branch (param 5) must be an array`);
  refuses(t, () => parseNotify(withParam(4, Array(33).fill(HEX32))), `${N}: merkle_branch (param 5) has more than 32 entries`);
  t.equal(parseNotify(withParam(4, Array(32).fill(HEX32))).merkleBranch.length, 32);
  refuses(t, () => parseNotify(withParam(4, [HEX32, HEX32.slice(1)])), `${N}: merkle_branch[1] must be 64 hex digits`);
  refuses(t, () => parseNotify(withParam(4, [7])), `${N}: merkle_branch[0] must be 64 hex digits`);
  refuses(t, () => parseNotify(withParam(5, '2000000')), `${N}: version (param 6) must be 8 hex digits`);
  refuses(t, () => parseNotify(withParam(5, 536870912)), `${N}: version (param 6) must be a string`);
  refuses(t, () => parseNotify(withParam(6, '1d3fffc0ff')), `${N}: nbits (param 7) must be 8 hex digits`);
  refuses(t, () => parseNotify(withParam(6, 'nbitsnbi')), `${N}: nbits (param 7) must be 8 hex digits`);
  refuses(t, () => parseNotify(withParam(7, '6b0187b')), `${N}: ntime (param 8) must be 8 hex digits`);
  refuses(t, () => parseNotify(withParam(7, null)), `${N}: missing ntime (param 8)`);
  for (const clean of ['true', 1, 0, null, undefined]) {
    refuses(t, () => parseNotify(withParam(8, clean)), `${N}: clean_jobs (param 9) must be true or false`);
  }
  t.equal(parseNotify(withParam(8, false)).cleanJobs, false);
});

t.test('mining.set_extranonce and the subscribe result', async (t) => {
  t.same(parseSetExtranonce(['68000000', 4]), { extranonce1: '68000000', extranonce2Size: 4 });
  t.same(parseSetExtranonce(['ABCDEF01', MAX_EXTRANONCE2_SIZE]), { extranonce1: 'abcdef01', extranonce2Size: MAX_EXTRANONCE2_SIZE });
  t.same(parseSetExtranonce(['aa'.repeat(MAX_EXTRANONCE1_SIZE), 1]).extranonce1.length, MAX_EXTRANONCE1_SIZE * 2);
  const en1 = `mining.set_extranonce: extranonce1 (param 1) must be hex of at most ${MAX_EXTRANONCE1_SIZE} bytes`;
  const size = `mining.set_extranonce: extranonce2_size (param 2) must be an integer from 1 to ${MAX_EXTRANONCE2_SIZE}`;
  refuses(t, () => parseSetExtranonce([]), en1);
  refuses(t, () => parseSetExtranonce(['6800000', 4]), en1);
  refuses(t, () => parseSetExtranonce(['6800000g', 4]), en1);
  refuses(t, () => parseSetExtranonce([0x68000000, 4]), en1);
  refuses(t, () => parseSetExtranonce(['aa'.repeat(MAX_EXTRANONCE1_SIZE + 1), 4]), en1);
  for (const bad of [0, -4, 17, 4.5, '4', null, undefined, NaN]) refuses(t, () => parseSetExtranonce(['68000000', bad]), size);

  t.same(parseSubscribeResult([[['mining.set_difficulty', 'deadbeef'], ['mining.notify', 'deadbeef']], '68000000', 4]), { extranonce1: '68000000', extranonce2Size: 4 });
  t.same(parseSubscribeResult([null, '6800', 8]), { extranonce1: '6800', extranonce2Size: 8 }, 'the subscriptions part is not judged');
  const shape = 'mining.subscribe: result must be [subscriptions, extranonce1, extranonce2_size]';
  for (const bad of [null, true, '68000000', { extranonce1: '68000000' }, [[], '68000000']]) refuses(t, () => parseSubscribeResult(bad), shape);
  refuses(t, () => parseSubscribeResult([[], 'xyz', 4]), `mining.subscribe result: extranonce1 (param 2) must be hex of at most ${MAX_EXTRANONCE1_SIZE} bytes`);
  refuses(t, () => parseSubscribeResult([[], '68000000', 0]), `mining.subscribe result: extranonce2_size (param 3) must be an integer from 1 to ${MAX_EXTRANONCE2_SIZE}`);
  refuses(t, () => parseSubscribeResult([[], '68000000', '4']), `mining.subscribe result: extranonce2_size (param 3) must be an integer from 1 to ${MAX_EXTRANONCE2_SIZE}`);
});

t.test('client.reconnect', async (t) => {
  t.same(parseReconnect([]), { waitSeconds: 0 });
  t.same(parseReconnect(['pool.example', 3333, 5]), { host: 'pool.example', port: 3333, waitSeconds: 5 });
  t.same(parseReconnect(['pool.example', '3334', '2.5']), { host: 'pool.example', port: 3334, waitSeconds: 2.5 }, 'numbers as strings');
  t.same(parseReconnect(['', '', null]), { waitSeconds: 0 }, 'empty host and port mean: the same');
  t.same(parseReconnect([null, null, 999_999]), { waitSeconds: 3600 }, 'the wait is capped at an hour');
  t.same(parseReconnect([undefined, 1, 0]), { port: 1, waitSeconds: 0 });
  t.same(parseReconnect([undefined, 65535]), { port: 65535, waitSeconds: 0 });
  refuses(t, () => parseReconnect([42]), 'client.reconnect: host (param 1) must be a string');
  refuses(t, () => parseReconnect([{ host: 'x' }]), 'client.reconnect: host (param 1) must be a string');
  for (const port of [0, 65536, -1, 1.5, 'abc', '3333x', true, {}]) refuses(t, () => parseReconnect(['h', port]), 'client.reconnect: port (param 2) must be 1 to 65535');
  for (const wait of [-1, 'soon', Infinity, NaN, true, []]) refuses(t, () => parseReconnect(['h', 3333, wait]), 'client.reconnect: wait (param 3) must be a number of seconds >= 0');
});

t.test('client.show_message', async (t) => {
  t.equal(parseShowMessage(['maintenance at 14:00']), 'maintenance at 14:00');
  t.equal(parseShowMessage(['m'.repeat(5000)]).length, 1024, 'a long message is cut to 1024 characters');
  t.equal(parseShowMessage(['']), '');
  refuses(t, () => parseShowMessage([]), 'client.show_message: missing message (param 1)');
  refuses(t, () => parseShowMessage([null]), 'client.show_message: missing message (param 1)');
  refuses(t, () => parseShowMessage([12]), 'client.show_message: message (param 1) must be a string');
  refuses(t, () => parseShowMessage([['hi']]), 'client.show_message: message (param 1) must be a string');
});

t.test('mining.set_version_mask', async (t) => {
  t.equal(parseSetVersionMask(['1fffe000']), 0x1fffe000);
  t.equal(parseSetVersionMask(['FFFFFFFF']), 0xffffffff);
  t.equal(parseSetVersionMask(['00000000']), 0);
  refuses(t, () => parseSetVersionMask([]), 'mining.set_version_mask: missing mask (param 1)');
  refuses(t, () => parseSetVersionMask([0x1fffe000]), 'mining.set_version_mask: mask (param 1) must be a string');
  for (const bad of ['1fffe00', '1fffe0000', 'gfffe000', '']) refuses(t, () => parseSetVersionMask([bad]), 'mining.set_version_mask: mask (param 1) must be 8 hex digits');
});

t.test('mining.extranonce.subscribe carries no params: the real line parses to an empty list', async (t) => {
  const line = loadTranscript().find((r) => r.line.includes(Method.ExtranonceSubscribe));
  if (!line) return t.fail('the transcript has an extranonce.subscribe');
  t.same(parseLine(line.line), { ok: true, message: { kind: 'request', id: 3, method: Method.ExtranonceSubscribe, params: [] } });
});

t.test('every message of the real transcript passes its checks', async (t) => {
  const counts: Record<string, number> = {};
  for (const rec of loadTranscript()) {
    const p = parseLine(rec.line);
    if (!p.ok) return t.fail(rec.line);
    const m = p.message;
    if (m.kind !== 'request') continue;
    counts[m.method] = (counts[m.method] ?? 0) + 1;
    if (m.method === Method.Submit) parseSubmit(m.params);
    else if (m.method === Method.Notify) parseNotify(m.params);
    else if (m.method === Method.SetDifficulty) parseSetDifficulty(m.params);
    else if (m.method === Method.Authorize) parseAuthorize(m.params);
    else if (m.method === Method.Subscribe) parseSubscribe(m.params);
  }
  t.same(counts, { 'mining.subscribe': 1, 'mining.set_difficulty': 2, 'mining.notify': 3, 'mining.authorize': 1, 'mining.extranonce.subscribe': 1, 'mining.submit': 108 });
});
