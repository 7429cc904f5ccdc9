import t from 'tap';
import type { RecordedPayout, TimeRange } from '../../src/books/ledger-reader.js';
import { BOOKS_OFF, OVERLAP_MS, OwnerPayouts } from '../../src/observe/owner-payouts.js';

/**
 * Each owner's last payout, read from a books reader (here a list in memory standing in for
 * LedgerReader.payouts, with its range rule: recorded_at in [from, to)).
 */

const T0 = Date.UTC(2026, 5, 1);

function payout(id: number, recordedAt: number, splits: [string, bigint][]): RecordedPayout {
  return {
    id,
    recordedAt,
    amount: splits.reduce((n, [, d]) => n + d, 0n),
    method: 'prop',
    period: { from: recordedAt - 86_400_000, to: recordedAt },
    blocks: null,
    pplnsWindow: null,
    blockReward: null,
    note: null,
    splits: splits.map(([owner, total]) => ({ owner, work: 1, gross: total, fee: 0n, feesReceived: 0n, total })),
  };
}

function books() {
  const recorded: RecordedPayout[] = [];
  const ranges: (TimeRange | undefined)[] = [];
  let fail: Error | null = null;
  const read = async (range?: TimeRange) => {
    ranges.push(range);
    if (fail) throw fail;
    return recorded.filter((p) => !range || (p.recordedAt >= range.from && p.recordedAt < range.to));
  };
  return { recorded, ranges, read, failWith: (e: Error | null) => (fail = e) };
}

t.test('the last payout of each owner: its split total in DASH, from the newest payout naming it', async (t) => {
  const b = books();
  b.recorded.push(payout(1, T0, [['alice', 150_000_000n], ['farm', 25n]]));
  b.recorded.push(payout(2, T0 + 1000, [['bob', 1n]]));
  const p = new OwnerPayouts({ read: b.read, now: () => T0 + 5000 });
  t.same(p.view(), { books: true, lastPayouts: {}, checkedAt: null, error: null }, 'nothing before the first read');
  await p.refresh();
  t.same(b.ranges, [undefined], 'the first read takes every payout');
  const v = p.view();
  t.equal(v.checkedAt, T0 + 5000);
  t.same(Object.keys(v.lastPayouts).sort(), ['alice', 'bob', 'farm']);
  t.match(v.lastPayouts.alice, { payoutId: 1, amount: '1.50000000', amountDuffs: '150000000', payoutAmount: '1.50000025', method: 'prop', recordedAt: T0, from: T0 - 86_400_000, to: T0 });
  t.match(v.lastPayouts.farm, { payoutId: 1, amount: '0.00000025' });
  t.match(v.lastPayouts.bob, { payoutId: 2, amount: '0.00000001' });

  // A newer payout for alice only; and one recorded by another process with a clock a minute behind.
  b.recorded.push(payout(3, T0 + 60_000, [['alice', 7n]]));
  b.recorded.push(payout(4, T0 + 1000 - 60_000, [['bob', 9n]]));
  await p.refresh();
  t.same(b.ranges[1], { from: T0 + 1000 - OVERLAP_MS, to: 8.64e15 }, 'later reads take what was recorded since the newest seen, less the overlap');
  t.match(p.view().lastPayouts, { alice: { payoutId: 3, amount: '0.00000007' }, bob: { payoutId: 4, amount: '0.00000009' }, farm: { payoutId: 1 } });
  await p.refresh();
  t.match(p.view().lastPayouts.alice, { payoutId: 3 }, 'a payout read twice changes nothing');
});

t.test('books that cannot be read: the error is shown, what was read stays, and the next read recovers', async (t) => {
  const b = books();
  b.recorded.push(payout(1, T0, [['alice', 5n]]));
  const p = new OwnerPayouts({ read: b.read });
  await p.refresh();
  b.failWith(new Error('database is locked'));
  await p.refresh();
  t.match(p.view(), { books: true, error: 'database is locked', lastPayouts: { alice: { payoutId: 1 } } });
  b.failWith(null);
  await p.refresh();
  t.equal(p.view().error, null);
});

t.test('one read at a time: a refresh during a read reads once more after it', async (t) => {
  let calls = 0;
  let release: () => void = () => {};
  const p = new OwnerPayouts({
    read: () => {
      calls++;
      return new Promise((resolve) => (release = () => resolve([])));
    },
  });
  const first = p.refresh();
  void p.refresh();
  void p.refresh();
  t.equal(calls, 1, 'no second read while one runs');
  release();
  await first;
  await new Promise((r) => setImmediate(r));
  t.equal(calls, 2, 'one more read after it, for the refreshes asked meanwhile');
  void p.refresh();
  const stopped = p.stop();
  release();
  await stopped;
  await new Promise((r) => setImmediate(r));
  t.equal(calls, 2, 'a refresh asked during the read that stop waits for is not run: the reader may be closed next');
  await p.refresh();
  t.equal(calls, 2, 'no read after stop');
});

t.test('start reads at once and on a timer; stop ends it; bad options are refused', async (t) => {
  let calls = 0;
  const p = new OwnerPayouts({ read: async () => (calls++, []), refreshMs: 20 });
  p.start();
  await new Promise((r) => setTimeout(r, 110));
  await p.stop();
  const seen = calls;
  t.ok(seen >= 3, `read at start and every 20 ms (${seen} reads)`);
  await new Promise((r) => setTimeout(r, 60));
  t.equal(calls, seen, 'no read after stop');
  t.throws(() => new OwnerPayouts({ read: async () => [], refreshMs: 0 }), /refreshMs must be a positive number, got 0/);
  t.same(BOOKS_OFF, { books: false, lastPayouts: {}, checkedAt: null, error: null });
});
