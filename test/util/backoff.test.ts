import t from 'tap';
import { Backoff } from '../../src/util/backoff.js';

/** A random source that replays fixed values (cycling). */
const fixed = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length]!;
};

t.test('no jitter: base, base*factor, ... capped at max', async (t) => {
  const b = new Backoff({ baseMs: 100, maxMs: 1000, factor: 2, jitter: 'none' });
  t.same([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()], [100, 200, 400, 800, 1000, 1000]);
  t.equal(b.attempts, 6);
});

t.test('full jitter scales the growing ceiling by the random value', async (t) => {
  const b = new Backoff({ baseMs: 100, maxMs: 1000, factor: 3, jitter: 'full', random: fixed(0.5, 1, 0, 0.25) });
  // ceilings 100, 300, 900, 1000 (capped)
  t.same([b.next(), b.next(), b.next(), b.next()], [50, 300, 0, 250]);
});

t.test('full jitter never exceeds max, whatever the random source says', async (t) => {
  const b = new Backoff({ baseMs: 10, maxMs: 50, jitter: 'full', random: fixed(7, -1, Number.NaN, 1) });
  for (let i = 0; i < 20; i++) {
    const d = b.next();
    t.ok(d >= 0 && d <= 50, `delay ${d} within [0, 50]`);
  }
});

t.test('decorrelated jitter: between base and previous*factor, capped', async (t) => {
  const b = new Backoff({ baseMs: 100, maxMs: 1000, factor: 3, jitter: 'decorrelated', random: fixed(1) });
  // random 1: always the top of the range: 300, 900, 1000, 1000
  t.same([b.next(), b.next(), b.next(), b.next()], [300, 900, 1000, 1000]);
  const low = new Backoff({ baseMs: 100, maxMs: 1000, factor: 3, jitter: 'decorrelated', random: fixed(0) });
  t.same([low.next(), low.next()], [100, 100], 'random 0: the base');
  const mid = new Backoff({ baseMs: 100, maxMs: 10_000, factor: 3, jitter: 'decorrelated', random: fixed(0.5) });
  // 100 + 0.5*(300-100) = 200; 100 + 0.5*(600-100) = 350
  t.same([mid.next(), mid.next()], [200, 350]);
});

t.test('reset starts over from the first delay', async (t) => {
  for (const jitter of ['none', 'full', 'decorrelated'] as const) {
    const b = new Backoff({ baseMs: 100, maxMs: 10_000, factor: 2, jitter, random: fixed(1) });
    const first = b.next();
    b.next();
    b.next();
    t.ok(b.next() > first, `${jitter}: grows`);
    b.reset();
    t.equal(b.attempts, 0);
    t.equal(b.next(), first, `${jitter}: back to the first delay after reset`);
  }
});

t.test('defaults: 1 s base, 60 s max, full jitter', async (t) => {
  const b = new Backoff({ random: () => 1 });
  t.equal(b.next(), 1000);
  for (let i = 0; i < 30; i++) b.next();
  t.equal(b.next(), 60_000);
});

t.test('bad options are refused with the field named', async (t) => {
  t.throws(() => new Backoff({ baseMs: 0 }), { message: 'backoff.baseMs must be a positive number of milliseconds, got 0' });
  t.throws(() => new Backoff({ maxMs: Number.NaN }), { message: 'backoff.maxMs must be a positive number of milliseconds, got NaN' });
  t.throws(() => new Backoff({ baseMs: 500, maxMs: 100 }), { message: 'backoff.maxMs (100) must be >= backoff.baseMs (500)' });
  t.throws(() => new Backoff({ factor: 0.5 }), { message: 'backoff.factor must be a number >= 1, got 0.5' });
  t.throws(() => new Backoff({ jitter: 'wild' as never }), { message: 'backoff.jitter must be one of none, full, decorrelated, got wild' });
});
