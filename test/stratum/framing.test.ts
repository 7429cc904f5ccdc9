import t from 'tap';
import { DEFAULT_MAX_LINE_BYTES, LineFramer } from '../../src/stratum/framing.js';

/** Push chunks (strings are UTF-8 encoded) and collect what comes out. */
function feed(framer: LineFramer, chunks: (string | Buffer)[]) {
  const lines: string[] = [];
  const results: boolean[] = [];
  const buffered: number[] = [];
  for (const c of chunks) {
    results.push(framer.push(typeof c === 'string' ? Buffer.from(c, 'utf8') : c, (l) => lines.push(l)));
    buffered.push(framer.buffered);
  }
  return { lines, results, buffered };
}

t.test('a partial line waits for the rest across chunks', async (t) => {
  const f = new LineFramer();
  const out = feed(f, ['{"id":1,', '"method":"mining.', 'subscribe","params":[]}', '\n']);
  t.same(out.lines, ['{"id":1,"method":"mining.subscribe","params":[]}']);
  t.same(out.results, [true, true, true, true]);
  t.same(out.buffered, [8, 25, 48, 0], 'the unfinished line is held until its newline, then released');
});

t.test('several messages in one chunk, the last one partial', async (t) => {
  const f = new LineFramer();
  const out = feed(f, ['a\nbb\nccc\ndd', 'd\n']);
  t.same(out.lines, ['a', 'bb', 'ccc', 'ddd']);
  t.same(out.buffered, [2, 0]);
});

t.test('\\r\\n endings are stripped, also when \\r and \\n arrive in different chunks', async (t) => {
  const f = new LineFramer();
  const out = feed(f, ['one\r\ntwo\r', '\nthree\r\n']);
  t.same(out.lines, ['one', 'two', 'three']);
  // Only a final \r is an ending: one inside the line stays.
  t.same(feed(new LineFramer(), ['a\rb\r\n']).lines, ['a\rb']);
});

t.test('empty lines are skipped', async (t) => {
  const f = new LineFramer();
  const out = feed(f, ['\n\n\r\n', 'x\n\n', '\r\n\n', 'y\n']);
  t.same(out.lines, ['x', 'y']);
  t.same(out.results, [true, true, true, true]);
});

t.test('multibyte UTF-8 split across chunks decodes whole', async (t) => {
  const text = '{"params":["rig-é-€-😀"]}';
  const bytes = Buffer.from(text + '\n', 'utf8');
  // Split at every possible byte position, including inside each multibyte sequence.
  for (let cut = 1; cut < bytes.length; cut++) {
    const out = feed(new LineFramer(), [bytes.subarray(0, cut), bytes.subarray(cut)]);
    if (out.lines.length !== 1 || out.lines[0] !== text) return t.fail(`split at byte ${cut}: got ${JSON.stringify(out.lines)}`);
  }
  // And one byte per chunk: the 4-byte emoji travels in 4 chunks.
  const oneByOne = feed(new LineFramer(), [...bytes].map((b) => Buffer.from([b])));
  t.same(oneByOne.lines, [text]);
});

t.test('the framer copies a held tail: the caller may reuse its buffer', async (t) => {
  const f = new LineFramer();
  const pooled = Buffer.from('xxhello', 'utf8');
  const lines: string[] = [];
  f.push(pooled.subarray(2), (l) => lines.push(l));
  pooled.fill(0x21); // the socket's pool buffer is overwritten by the next read
  f.push(Buffer.from(' world\n'), (l) => lines.push(l));
  t.same(lines, ['hello world']);
});

t.test('a line of exactly maxLineBytes passes; one byte more overflows', async (t) => {
  const max = 64;
  const exact = 'a'.repeat(max);
  t.same(feed(new LineFramer(max), [exact + '\n']).lines, [exact]);
  t.same(feed(new LineFramer(max), [exact.slice(0, 30), exact.slice(30) + '\n']).lines, [exact], 'also across chunks');

  const f = new LineFramer(max);
  const out = feed(f, ['ok\n' + 'b'.repeat(max + 1) + '\nlater\n']);
  t.same(out.lines, ['ok'], 'lines before the long one are delivered, nothing after');
  t.same(out.results, [false]);
  t.equal(f.failed, true);
  t.equal(f.buffered, 0);
});

t.test('a long line without a newline in one chunk overflows at once', async (t) => {
  const f = new LineFramer(100);
  const out = feed(f, ['c'.repeat(101)]);
  t.same(out.results, [false]);
  t.equal(f.failed, true);
  t.equal(f.buffered, 0, 'nothing of it is held');
});

t.test('a long line spread over many chunks overflows; further input is dropped without buffering', async (t) => {
  const max = 1000;
  const f = new LineFramer(max);
  let lines = 0;
  let firstFalse = -1;
  let maxBuffered = 0;
  for (let i = 0; i < 10_000; i++) {
    const ok = f.push(Buffer.from('d'.repeat(37)), () => lines++);
    maxBuffered = Math.max(maxBuffered, f.buffered);
    if (!ok && firstFalse === -1) firstFalse = i;
  }
  t.equal(firstFalse, Math.floor(max / 37), 'fails on the chunk that takes the line over the limit');
  t.ok(maxBuffered <= max, `never holds more than maxLineBytes (held at most ${maxBuffered})`);
  t.equal(f.failed, true);
  t.equal(f.buffered, 0);
  // After the failure even well-formed lines are ignored and nothing accumulates.
  const after = feed(f, ['{"id":1,"method":"mining.subscribe","params":[]}\n', 'e'.repeat(5000), '\n']);
  t.same(after.lines, []);
  t.same(after.results, [false, false, false]);
  t.same(after.buffered, [0, 0, 0]);
  t.equal(lines, 0);
});

t.test('the default limit is 16 KiB', async (t) => {
  t.equal(DEFAULT_MAX_LINE_BYTES, 16 * 1024);
  const f = new LineFramer();
  t.equal(f.maxLineBytes, DEFAULT_MAX_LINE_BYTES);
  t.same(feed(f, ['z'.repeat(DEFAULT_MAX_LINE_BYTES) + '\n']).lines.length, 1);
  t.same(feed(new LineFramer(), ['z'.repeat(DEFAULT_MAX_LINE_BYTES + 1)]).results, [false]);
});

t.test('the constructor rejects bad limits', async (t) => {
  for (const bad of [0, -1, 63, 64.5, NaN, Infinity]) {
    t.throws(() => new LineFramer(bad), { name: 'RangeError', message: `maxLineBytes must be an integer >= 64, got ${bad}` }, `rejects ${bad}`);
  }
  t.doesNotThrow(() => new LineFramer(64));
});
