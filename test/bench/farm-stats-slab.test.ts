import t from 'tap';
import { HASHES_PER_DIFF1 } from '../../src/chain/target.js';
import { EventBus } from '../../src/core/events.js';
import { BUCKETS, BUCKET_SECONDS, FarmLedger } from '../../src/observe/farm-ledger.js';

/**
 * The farm ledger keeps every device's work buckets in its rows of shared pages (a memory change made for
 * the benchmark, issue 8; one store for every per-device number since issue 12): each device's hashrate
 * and history must stay its own across the store growing and across slots reused after a worker is forgotten.
 */

const T0 = Date.UTC(2026, 5, 1, 12, 0, 0); // on a bucket boundary

function farm(now: () => number) {
  const bus = new EventBus();
  const stats = new FarmLedger(bus, { now });
  const authorize = (worker: string, at: number) => bus.emit('device.authorized', { sessionId: 1, worker, ip: '10.0.0.1', at });
  const share = (worker: string, difficulty: number, at: number) =>
    bus.emit('share.accepted', { sessionId: 1, worker, route: 'default', target: 'default', ip: '10.0.0.1', difficulty, shareDifficulty: difficulty, meetsPool: false, meetsNetwork: false, at });
  return { bus, stats, authorize, share };
}

t.test('3,000 devices (the store grows by many pages): each keeps its own work', async (t) => {
  let now = T0;
  const { stats, authorize, share } = farm(() => now);
  const n = 3000;
  for (let i = 0; i < n; i++) authorize(`rig${i}`, T0);
  // Device i: one share of difficulty (i + 1) in each of the first 3 buckets.
  for (let b = 0; b < 3; b++) for (let i = 0; i < n; i++) share(`rig${i}`, i + 1, T0 + b * BUCKET_SECONDS * 1000 + 1000);
  now = T0 + 3 * BUCKET_SECONDS * 1000 - 1;
  let wrong = 0;
  for (let i = 0; i < n; i++) {
    const d = stats.slotOf(`rig${i}`);
    // 3 shares of (i + 1) over the device's life so far (30 s, under the 300 s window).
    const expected = (3 * (i + 1) * HASHES_PER_DIFF1) / ((now - T0) / 1000);
    if (Math.abs(stats.hashrate(d, now) - expected) > expected * 1e-9) wrong++;
    const h = stats.history(d, now);
    if (h.length !== BUCKETS || h.slice(-3).some((x) => Math.abs(x - ((i + 1) * HASHES_PER_DIFF1) / BUCKET_SECONDS) > 1e-6) || h.slice(0, -3).some((x) => x !== 0)) wrong++;
  }
  t.equal(wrong, 0, 'every device has exactly its own hashrate and history');
});

t.test('a forgotten worker\'s slot goes to a new worker with no work in it', async (t) => {
  let now = T0;
  const { stats, authorize, share } = farm(() => now);
  authorize('old', T0);
  authorize('other', T0);
  share('old', 5000, T0 + 1000);
  share('other', 7, T0 + 1000);
  stats.forget('old');
  t.equal(stats.slotOf('old'), -1);
  now = T0 + 2000;
  authorize('new', now);
  const fresh = stats.slotOf('new');
  t.equal(stats.hashrate(fresh, now), 0, 'no work inherited');
  t.ok(stats.history(fresh, now).every((x) => x === 0), 'empty history');
  share('new', 3, now + 1000);
  now += 5000;
  t.equal(stats.history(fresh, now).at(-1), (3 * HASHES_PER_DIFF1) / BUCKET_SECONDS, 'its own share only');
  const other = stats.slotOf('other');
  t.equal(stats.history(other, now).at(-1), (7 * HASHES_PER_DIFF1) / BUCKET_SECONDS, 'the other device keeps its work');
  stats.forget('nobody'); // unknown worker: nothing happens
  t.equal(stats.deviceCount, 2);
});
