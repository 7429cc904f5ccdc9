import t, { type Test } from 'tap';
import { StratumError } from '../../src/stratum/errors.js';
import { LineFramer } from '../../src/stratum/framing.js';
import { parseLine } from '../../src/stratum/jsonrpc.js';
import * as messages from '../../src/stratum/messages.js';
import { initialTarget } from '../../src/proxy/device-target.js';
import type { Job } from '../../src/proxy/job.js';
import { loadTranscript } from '../helpers/fixtures.js';
import { mulberry32 } from '../helpers/prng.js';
import { jobOf, lookupOf, validator } from '../helpers/share-kit.js';

/**
 * Bounded fuzzing with a fixed seed (so a failure replays): random bytes, truncated and mutated real lines, and
 * random JSON values as params, through LineFramer, parseLine and every param check. parseLine never throws;
 * the param checks throw nothing but StratumError; the framer's output matches a simple reference splitter.
 * FUZZ_CASES=100000 runs longer (default a few thousand cases per property, a few seconds in all).
 */
const CASES = Math.max(1, Number(process.env.FUZZ_CASES ?? 3000));
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed1234);

const rand = mulberry32(SEED);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;

const transcriptLines = loadTranscript().map((r) => r.line);

const HEX = '0123456789abcdefABCDEF';
function hexString(chars: number): string {
  let s = '';
  for (let i = 0; i < chars; i++) s += HEX[int(HEX.length)];
  return s;
}

function randomString(): string {
  switch (int(8)) {
    case 0:
      return '';
    case 1:
      return hexString(pick([2, 7, 8, 9, 16, 64, 63, 65]));
    case 2:
      return pick(['version-rolling', 'minimum-difficulty', 'mining.submit', 'true', 'null', '1e309', '-0', '0x10', ' 5 ', 'Infinity', 'NaN']);
    case 3:
      return String.fromCharCode(...Array.from({ length: int(12) }, () => int(0xffff)));
    case 4:
      return 'x'.repeat(pick([63, 64, 65, 255, 256, 257, 1025, 5000]));
    case 5:
      return '\u0000\r\n"\\';
    default:
      return hexString(int(80));
  }
}

function randomJson(depth = 0): unknown {
  const kinds = depth > 3 ? 5 : 8;
  switch (int(kinds)) {
    case 0:
      return null;
    case 1:
      return rand() < 0.5;
    case 2:
      return pick([0, -0, 1, -1, 0.5, 1e-12, 65536, 2 ** 31, 2 ** 32, 2 ** 53 + 1, 1e308, -1e308, NaN, Infinity, -Infinity, Number.MIN_VALUE, rand() * 1e6 - 5e5]);
    case 3:
    case 4:
      return randomString();
    case 5:
      return undefined;
    case 6:
      return Array.from({ length: int(6) }, () => randomJson(depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = int(4); i > 0; i--) o[pick(['version-rolling.mask', 'a', '__proto__', 'constructor', 'toString', randomString()])] = randomJson(depth + 1);
      return o;
    }
  }
}

function randomParams(): unknown[] {
  return Array.from({ length: int(11) }, () => randomJson());
}

/** Mutate a real line: flip, insert, delete, or splice a nasty token at random places. */
function mutate(line: string): string {
  let s = line;
  for (let n = 1 + int(4); n > 0; n--) {
    const at = int(s.length + 1);
    switch (int(5)) {
      case 0:
        s = s.slice(0, at) + String.fromCharCode(int(128)) + s.slice(at + 1);
        break;
      case 1:
        s = s.slice(0, at) + pick(['"', '{', '}', '[', ']', ',', ':', 'null', '1e999', '-1', '"\\u0000"', '[[[[', '\\', ' ', 'true']) + s.slice(at);
        break;
      case 2:
        s = s.slice(0, at) + s.slice(at + 1 + int(8));
        break;
      case 3:
        s = s.replace(/"[0-9a-f]{8}"/, `"${hexString(pick([7, 8, 9]))}"`);
        break;
      default:
        s = s.replace(/\d+(\.\d+)?/, String(pick([0, -1, 1e-300, 1e300, 4.5, 99999999999])));
    }
  }
  return s;
}

type Check = (params: unknown[]) => unknown;
const checks: [string, Check][] = [
  ['parseSubscribe', messages.parseSubscribe],
  ['parseAuthorize', messages.parseAuthorize],
  ['parseSubmit', messages.parseSubmit],
  ['parseConfigure', (p) => messages.requestedVersionMask(messages.parseConfigure(p))],
  ['parseSuggestDifficulty', messages.parseSuggestDifficulty],
  ['parseNotify', messages.parseNotify],
  ['parseSetDifficulty', messages.parseSetDifficulty],
  ['parseSetExtranonce', messages.parseSetExtranonce],
  ['parseSubscribeResult', (p) => messages.parseSubscribeResult(p.length === 1 ? p[0] : p)],
  ['parseReconnect', messages.parseReconnect],
  ['parseShowMessage', messages.parseShowMessage],
  ['parseSetVersionMask', messages.parseSetVersionMask],
];

const isHexOf = (s: unknown, chars: number) => typeof s === 'string' && s.length === chars && /^[0-9a-f]*$/.test(s);

/** What a successful check returns must hold what it promises. Returns a complaint or ''. */
function checkResult(name: string, v: unknown): string {
  switch (name) {
    case 'parseSubmit': {
      const s = v as messages.SubmitParams;
      const ok = [s.worker, s.jobId, s.extranonce2, s.ntime, s.nonce].every((x) => typeof x === 'string') && (s.versionBits === undefined || typeof s.versionBits === 'string');
      return ok ? '' : 'submit fields must be strings';
    }
    case 'parseNotify': {
      const n = v as messages.NotifyParams;
      const ok =
        isHexOf(n.prevhash, 64) && isHexOf(n.version, 8) && isHexOf(n.nbits, 8) && isHexOf(n.ntime, 8) && typeof n.cleanJobs === 'boolean' && n.merkleBranch.every((b) => isHexOf(b, 64)) && n.jobId.length >= 1 && n.jobId.length <= 64;
      return ok ? '' : 'notify fields must be checked hex';
    }
    case 'parseSuggestDifficulty':
    case 'parseSetDifficulty':
      return typeof v === 'number' && Number.isFinite(v) && v > 0 ? '' : 'a difficulty must be a finite positive number';
    case 'parseSetExtranonce':
    case 'parseSubscribeResult': {
      const e = v as messages.ExtranonceParams;
      return /^([0-9a-f]{2})*$/.test(e.extranonce1) && Number.isInteger(e.extranonce2Size) && e.extranonce2Size >= 1 && e.extranonce2Size <= messages.MAX_EXTRANONCE2_SIZE ? '' : 'bad extranonce';
    }
    case 'parseSetVersionMask':
    case 'parseConfigure':
      return v === undefined || (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff) ? '' : 'a mask must be a uint32';
    case 'parseReconnect': {
      const r = v as messages.ReconnectParams;
      return Number.isFinite(r.waitSeconds) && r.waitSeconds >= 0 && r.waitSeconds <= 3600 && (r.port === undefined || (Number.isInteger(r.port) && r.port >= 1 && r.port <= 65535)) ? '' : 'bad reconnect';
    }
    default:
      return '';
  }
}

/** Run every param check; anything thrown that is not a StratumError with code 20 is a failure. */
function runChecks(params: unknown[], failures: string[]) {
  for (const [name, check] of checks) {
    let v: unknown;
    try {
      v = check(params);
    } catch (err) {
      if (!(err instanceof StratumError) || err.code !== 20 || !err.message.includes(': ')) {
        failures.push(`${name}(${safeJson(params)}) threw ${String(err)}`);
      }
      continue;
    }
    const complaint = checkResult(name, v);
    if (complaint) failures.push(`${name}(${safeJson(params)}): ${complaint}: ${safeJson(v)}`);
  }
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v)?.slice(0, 300) ?? String(v);
  } catch {
    return String(v);
  }
}

/** parseLine must never throw; a request's params then go through every check. */
function throughParser(line: string, failures: string[]) {
  let out: ReturnType<typeof parseLine>;
  try {
    out = parseLine(line);
  } catch (err) {
    failures.push(`parseLine(${JSON.stringify(line.slice(0, 200))}) threw ${String(err)}`);
    return;
  }
  if (!out.ok) {
    if (!(out.error instanceof StratumError) || out.error.code !== 20) failures.push(`parseLine error is not a code-20 StratumError: ${String(out.error)}`);
    return;
  }
  if (out.message.kind === 'request') runChecks(out.message.params, failures);
  else runChecks([out.message.result], failures);
}

function report(t: Test, failures: string[], what: string) {
  t.same(failures.slice(0, 5), [], `${what}: no failures (seed ${SEED}, ${CASES} cases)`);
}

t.test('random bytes through the framer and the parser', async (t) => {
  const failures: string[] = [];
  for (let c = 0; c < CASES; c++) {
    const framer = new LineFramer(64 + int(512));
    const chunks = Array.from({ length: 1 + int(6) }, () => {
      const b = Buffer.alloc(int(200));
      for (let i = 0; i < b.length; i++) b[i] = rand() < 0.05 ? 10 : rand() < 0.05 ? 13 : int(256);
      return b;
    });
    for (const chunk of chunks) framer.push(chunk, (line) => throughParser(line, failures));
  }
  report(t, failures, 'random bytes');
});

t.test('the framer splits any stream like a reference splitter, holding at most maxLineBytes', async (t) => {
  const failures: string[] = [];
  for (let c = 0; c < CASES; c++) {
    const max = 64 + int(200);
    // A stream of real lines, random junk, empty lines and \r\n, sometimes with an overlong line.
    const pieces: Buffer[] = [];
    for (let n = int(12); n > 0; n--) {
      const r = rand();
      if (r < 0.4) pieces.push(Buffer.from(pick(transcriptLines).slice(0, int(max + 40)) + pick(['\n', '\r\n'])));
      else if (r < 0.5) pieces.push(Buffer.from(pick(['\n', '\r\n', '\n\n'])));
      else if (r < 0.55) pieces.push(Buffer.alloc(max + 1 + int(50), 0x61));
      else if (r < 0.65) pieces.push(Buffer.from('é€😀'.repeat(1 + int(10)) + '\n'));
      else {
        const b = Buffer.alloc(int(max));
        for (let i = 0; i < b.length; i++) b[i] = rand() < 0.1 ? 10 : int(256);
        pieces.push(b);
      }
    }
    const stream = Buffer.concat(pieces);

    // Reference: split the whole stream at \n; stop at the first line (or unfinished tail) over the limit.
    const expected: string[] = [];
    let expectFailed = false;
    let expectBuffered = 0;
    let start = 0;
    for (;;) {
      const nl = stream.indexOf(10, start);
      if (nl === -1) {
        const tail = stream.length - start;
        if (tail > max) expectFailed = true;
        else expectBuffered = tail;
        break;
      }
      const line = stream.subarray(start, nl);
      if (line.length > max) {
        expectFailed = true;
        break;
      }
      const end = line.length > 0 && line[line.length - 1] === 13 ? line.length - 1 : line.length;
      if (end > 0) expected.push(line.toString('utf8', 0, end));
      start = nl + 1;
    }

    // The framer, fed the same stream in random chunks.
    const framer = new LineFramer(max);
    const got: string[] = [];
    let off = 0;
    let overLimit = false;
    while (off < stream.length) {
      const len = 1 + int(Math.min(stream.length - off, 1 + int(3 * max)));
      framer.push(stream.subarray(off, off + len), (l) => got.push(l));
      if (framer.buffered > max) overLimit = true;
      off += len;
    }
    if (overLimit) failures.push(`case ${c}: held more than ${max} bytes`);
    if (framer.failed !== expectFailed) failures.push(`case ${c}: failed ${framer.failed}, expected ${expectFailed}`);
    if (framer.buffered !== (expectFailed ? 0 : expectBuffered)) failures.push(`case ${c}: buffered ${framer.buffered}, expected ${expectBuffered}`);
    if (got.length !== expected.length || got.some((l, i) => l !== expected[i])) failures.push(`case ${c}: lines differ: ${safeJson(got)} vs ${safeJson(expected)}`);
  }
  report(t, failures, 'framer vs reference');
});

t.test('truncated real lines', async (t) => {
  const failures: string[] = [];
  for (let c = 0; c < CASES; c++) {
    const line = pick(transcriptLines);
    throughParser(line.slice(0, int(line.length + 1)), failures);
  }
  report(t, failures, 'truncated lines');
});

t.test('mutated real lines', async (t) => {
  const failures: string[] = [];
  let parsedRequests = 0;
  for (let c = 0; c < CASES; c++) {
    const line = mutate(pick(transcriptLines));
    const p = parseLine(line);
    if (p.ok && p.message.kind === 'request') parsedRequests++;
    throughParser(line, failures);
  }
  report(t, failures, 'mutated lines');
  t.ok(parsedRequests > CASES / 20, `a good share of mutated lines still parse and reach the param checks (${parsedRequests})`);
});

t.test('random JSON values as params, directly and through a serialized line', async (t) => {
  const failures: string[] = [];
  for (let c = 0; c < CASES; c++) {
    const params = randomParams();
    runChecks(params, failures);
    throughParser(JSON.stringify({ id: randomJson(), method: pick(Object.values(messages.Method)), params }), failures);
    throughParser(JSON.stringify({ id: int(5), result: randomJson(), error: randomJson() }), failures);
  }
  report(t, failures, 'random params');
});

t.test('submits with random and mutated fields never make the share validator throw', async (t) => {
  // The real jobs of the transcript; the validator must answer every parsed submit with an outcome.
  const lines = loadTranscript();
  const jobs: Job[] = [];
  let clock = 0;
  for (const r of lines) {
    const p = parseLine(r.line);
    if (!p.ok || p.message.kind !== 'request' || p.message.method !== messages.Method.Notify) continue;
    const notify = messages.parseNotify(p.message.params);
    jobs.push(jobOf(notify, '68000000', 0.0001, 0));
    clock = parseInt(notify.ntime, 16) * 1000;
  }
  if (jobs.length !== 3) return t.fail('the transcript has 3 jobs');
  const v = validator({ now: () => clock });
  const submits = lines.filter((r) => r.line.includes('"mining.submit"')).map((r) => r.line);
  const failures: string[] = [];
  const codes = new Map<number | string, number>();
  const rounds = Math.max(1, Math.floor(CASES / 3));
  for (let c = 0; c < rounds; c++) {
    const r = rand();
    const line = r < 0.3 ? pick(submits) : r < 0.65 ? mutate(pick(submits)) : JSON.stringify({ id: 4, method: 'mining.submit', params: randomParams() });
    const p = parseLine(line);
    if (!p.ok || p.message.kind !== 'request') continue;
    let submit: messages.SubmitParams;
    try {
      submit = messages.parseSubmit(p.message.params);
    } catch {
      continue;
    }
    try {
      const out = v.validate(submit, { extranonce1: rand() < 0.8 ? '68000000' : '6800000001', extranonce2Size: rand() < 0.8 ? 4 : pick([1, 16]), versionMask: pick([0, 0x1fffe000]), target: initialTarget(0.0001) }, lookupOf(jobs));
      const key = out.ok ? 'ok' : out.error.code;
      codes.set(key, (codes.get(key) ?? 0) + 1);
      if (!out.ok && !(out.error instanceof StratumError)) failures.push(`not a StratumError: ${String(out.error)}`);
    } catch (err) {
      failures.push(`validate(${safeJson(submit)}) threw ${String(err)}`);
    }
  }
  report(t, failures, 'validator');
  t.ok(codes.has('ok') && codes.has(20) && codes.has(22), `accepted, invalid and duplicate outcomes were all reached: ${safeJson([...codes])}`);
});
