import t from 'tap';
import { SqliteLedgerReader } from '../../src/books/ledger-sqlite-reader.js';
import { sliceSchedule } from '../../src/routing/slice-schedule.js';
import { booksFile, checkPoolSawItsOwn, poolEntry, routedConfig, settle, shares, startRoutedApp, startRoutedFleet, watchedPool } from '../helpers/routed-farm.js';
import { sleep, until } from '../helpers/wait.js';

/**
 * A single device split 97/3 in time, through the whole app made from a configuration: the farm's default
 * route with target `main` (weight 97) on pool A and `fee` (weight 3) on pool B, each with its own login.
 * The proxy time-slices the one device (it is on the cut), every share goes to the pool whose job it was
 * mined on, no share is rejected at a switch, and the books' per-target counts are each pool's own.
 *
 * The statistical bound. Device and pools at difficulty D = 1.5e-8 (2^32 D = 64 hashes a share), the device
 * at up to 6000 H/s: ~90 shares/s. The slice schedule is fixed in wall-clock time (period P = max(10 s,
 * 0.5 s / 0.03) = 16.7 s, the fee's slice 500 ms of it, a phase from the device), so a window of exactly 4
 * periods holds exactly 4 fee slices whatever the phase: the fee's expected part of the window's shares is
 * 3% exactly. What varies: (1) its share count, Poisson around 0.03 N: with N >= 2500 (required; ~6000
 * expected) sd <= sqrt(0.03 x 0.97 / 2500) = 0.34 points; (2) when a switch happens and when hashes are
 * done: the slice tick and the simulated devices' hash scheduler both run every 50 ms, so each edge of a
 * slice is off by less than 50 ms (sd < 29 ms), taken independently per edge sd < 41 ms a slice and < 82 ms
 * over 4 slices: 0.12 points of the 67 s window. Together sd < 0.36 points. The test asserts the issue's
 * bound (3% +- 5 points) and a tight one, 3% +- 1.5 points (> 4 sigma, p < 1e-4), which a slicer that
 * takes nothing or half again its share fails. Slices of 500 ms keep a busy machine's event-loop pauses
 * (a few hundred ms under load) from skipping one. A bound of +-5% relative (+-0.15 points) would need
 * ~120,000 shares in the window (sd 0.05 points for 3 sigma): beyond what a test may spend on CPU.
 */

const D = 1.5e-8;
const TIMING = { slicePeriodSeconds: 10, minSliceSeconds: 0.5 };
/** The period of a 97/3 slice with these timings, by the schedule's own rule (16.7 s: the 3% slice is 500 ms). */
const PERIOD_MS = sliceSchedule(
  [
    { target: 'main', fraction: 0.97 },
    { target: 'fee', fraction: 0.03 },
  ],
  0,
  { slicePeriodMs: TIMING.slicePeriodSeconds * 1000, minSliceMs: TIMING.minSliceSeconds * 1000 },
).periodMs;
const WINDOW_PERIODS = 4;
const MIN_SHARES = 2500;

t.test('a 97/3 time split of one device: 3% of pool-accepted work goes to the fee pool, no share rejected at a switch, each pool sees its own login and jobs, the books agree per target', async (t) => {
  const a = await watchedPool(t, 'poolA', 0, D);
  const b = await watchedPool(t, 'poolB', 1, D);
  const config = routedConfig(D, {
    routes: [
      {
        name: 'default',
        targets: [
          { name: 'main', weight: 97, pools: [poolEntry(a, 'XfarmAddress.main')] },
          { name: 'fee', weight: 3, pools: [poolEntry(b, 'XhostAddress.fee')] },
        ],
      },
    ],
    routing: { rebalanceSeconds: 2, maxMovesPerRebalance: 4, ...TIMING },
    ledger: { path: booksFile(t) },
  });
  const { app, events, stop } = await startRoutedApp(t, config, ['device.route', 'share.rejected', 'share.upstream', 'pool.up']);
  await until(() => new Set((events['pool.up'] ?? []).map((e) => e.target)).size === 2, 'both targets have a pool connection', 20_000);

  const fleet = await startRoutedFleet(t, app, { devices: 1, hashrate: 6000, maxHashrate: 6000, workerName: () => 'rig1' });
  // The first plan slices the device (rebalance every 2 s).
  await until(() => (events['device.route'] ?? []).some((e) => e.reason === 'slice'), () => `the device is time-sliced (moves: ${JSON.stringify(events['device.route'])})`, 20_000);
  // The farm ledger (what /api/devices and the dashboard show) has it time-sliced, with the weights as fractions.
  const device = app.ledger.device('rig1')!;
  t.match(device, { split: 'sliced', wholeBecause: null });
  t.same(device.slices.map((x) => [x.target, Number(x.fraction.toFixed(9))]), [['main', 0.97], ['fee', 0.03]], 'sliced 97/3 in the API');

  const work = () => ({ main: a.pool.stats().totals.acceptedDifficulty, fee: b.pool.stats().totals.acceptedDifficulty, n: a.pool.stats().totals.accepted + b.pool.stats().totals.accepted });
  const start = work();
  const from = Date.now();
  await sleep(WINDOW_PERIODS * PERIOD_MS);
  const end = work();
  const to = Date.now();
  await settle(app, fleet);

  const n = end.n - start.n;
  t.ok(n >= MIN_SHARES, `the window holds enough shares for the bound (${n} >= ${MIN_SHARES})`);
  const split = shares({ main: end.main - start.main, fee: end.fee - start.fee });
  const fee = split.fee!;
  // The device's time on the fee target in the window, by the proxy's moves (for the record: the pools' counts are what is asserted).
  let onFee = 0;
  let since: number | null = null;
  for (const e of events['device.route'] ?? []) {
    if (e.target === 'fee' && since === null) since = e.at;
    if (e.target !== 'fee' && since !== null) {
      onFee += Math.max(0, Math.min(e.at, to) - Math.max(since, from));
      since = null;
    }
  }
  if (since !== null) onFee += Math.max(0, to - Math.max(since, from));
  t.comment(`fee ${(fee * 100).toFixed(2)}% of ${n} pool-accepted shares over ${WINDOW_PERIODS} slice periods; the device was on fee ${((onFee / (to - from)) * 100).toFixed(2)}% of the window`);
  t.ok(Math.abs(fee - 0.03) <= 0.05, `the issue's bound: fee ${(fee * 100).toFixed(2)}% is within 3 +- 5 points`);
  t.ok(Math.abs(fee - 0.03) <= 0.015, `the tight bound: fee ${(fee * 100).toFixed(2)}% is within 3 +- 1.5 points`);

  const moves = events['device.route'] ?? [];
  const slices = moves.filter((e) => e.reason === 'slice');
  // A window of 4 periods holds 4 starts of the fee's slice (one may fall on the window's edge).
  const feeVisits = slices.filter((e) => e.target === 'fee' && e.at >= from && e.at <= to).length;
  t.ok(feeVisits >= WINDOW_PERIODS - 1 && feeVisits <= WINDOW_PERIODS + 1, `the device went to the fee target once a period (${feeVisits} times in ${WINDOW_PERIODS} periods)`);
  t.ok(moves.every((e) => e.route === 'default' && (e.target === 'main' || e.target === 'fee')), 'the device only ever mined on the default route, on main or fee');

  // No share rejected at a switch: not by the proxy, not by a pool, not to the device; nobody dropped.
  t.equal(events['share.rejected']?.length ?? 0, 0, 'the proxy rejected no share');
  const f = fleet.stats();
  t.equal(f.totals.rejected, 0, `the device heard no rejection (${JSON.stringify(f.totals.rejectedByCode)})`);
  t.equal(f.unanswered, 0, 'every submit was answered');
  t.equal(f.disconnects, 0, 'the device was never disconnected');
  checkPoolSawItsOwn(t, a, ['XfarmAddress.main']);
  checkPoolSawItsOwn(t, b, ['XhostAddress.fee']);
  const verdicts = events['share.upstream'] ?? [];
  t.ok(verdicts.every((e) => e.verdict.kind === 'accepted'), 'every forwarded share was accepted by its pool');
  t.equal(verdicts.filter((e) => e.target === 'main').length, a.pool.stats().totals.accepted, "the proxy's verdicts for main are pool A's count");
  t.equal(verdicts.filter((e) => e.target === 'fee').length, b.pool.stats().totals.accepted, "the proxy's verdicts for fee are pool B's count");

  // The books, once the app has stopped (every verdict recorded): per target, each pool's own count and work.
  const run = app.books!.run.startedAt;
  await stop();
  const reader = new SqliteLedgerReader(config.ledger.path!);
  t.teardown(() => reader.close());
  const rows = await reader.report({ from: run, to: Date.now() + 1 }, 'target');
  const row = (target: string) => rows.find((r) => r.key === target);
  for (const [target, w] of [['main', a], ['fee', b]] as const) {
    const p = w.pool.stats().totals;
    t.equal(row(target)?.accepted, p.accepted, `books: ${target}'s pool-accepted shares = ${w.name}'s accepted count (${p.accepted})`);
    t.ok(Math.abs((row(target)?.acceptedWork ?? NaN) - p.acceptedDifficulty) <= 1e-9 * p.acceptedDifficulty, `books: ${target}'s accepted work = ${w.name}'s (${p.acceptedDifficulty})`);
    t.equal(row(target)?.rejected, 0, `books: nothing of ${target} rejected`);
  }
  t.same(rows.map((r) => r.key).sort(), ['fee', 'main'], 'the books name no other target');
});
