import t from 'tap';
import type { DemoSummary } from '../../src/commands/demo.js';
import { DEMO_SPLIT_TARGETS, demoSplit, formatDemoSplit } from '../../src/commands/demo-routes.js';
import type { RouteView } from '../../src/observe/farm-ledger.js';
import type { SimPoolStats } from '../../src/sim/pool.js';
import { mainCaptured } from '../helpers/cli-main.js';
import { runCli } from '../helpers/cli-run.js';

/**
 * `dash-farm-proxy demo --routes split` as a user runs it: two simulated pools, the farm's default route split
 * 70/30 between them, and a closing summary that states the split achieved against the weights, by each
 * pool's own count and by the proxy's.
 */

t.test('demo --routes split: two pools named in the header, the split achieved against 70/30 in the closing line and the summary', async (t) => {
  const run = runCli(t, ['demo', '--routes', 'split', '--devices', '10', '--hashrate', '1000', '--duration', '30s', '--port', '0', '--http-port', '0', '--misbehave', '0', '--progress', '5s', '--pool-difficulty', '1e-7']);
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([run.exit, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 90_000)))]);
  clearTimeout(timer);
  t.equal(code, 0, `stops by itself after --duration, exit 0 (${run.stderr.slice(-400)})`);

  t.match(run.stderr, /simulated pool\s+stratum\+tcp:\/\/127\.0\.0\.1:\d+ \(difficulty 1e-7\): target main, login XdemoFarmAddress\.farm/, 'the main pool and its login');
  t.match(run.stderr, /simulated pool\s+stratum\+tcp:\/\/127\.0\.0\.1:\d+ \(difficulty 1e-7\): target second-pool-share, login demoSecondAccount\.farm/, "the second pool's share and its own login");
  t.match(run.stderr, /routes\s+the farm's default route split main 70% \/ second-pool-share 30% by measured hashrate/);
  t.match(run.stderr, /t=\d+s .* split main \d+\.\d% \(weight 70%/, 'progress lines show the split as it goes');
  const closing = /split achieved: (.*)\n/.exec(run.stderr)?.[1];
  t.ok(closing, 'a closing line states the split achieved');
  t.match(closing, /^main \d+\.\d% \(weight 70%; proxy \d+\.\d%\), second-pool-share \d+\.\d% \(weight 30%; proxy \d+\.\d%\) of pool-accepted work$/);

  const summary = JSON.parse(run.stdout[run.stdout.length - 1]!) as DemoSummary;
  const split = summary.split!;
  t.ok(split, 'the JSON summary carries the split');
  t.same(
    split.targets.map((x) => [x.target, x.weight, x.weightShare]),
    [
      ['main', 70, 0.7],
      ['second-pool-share', 30, 0.3],
    ],
  );
  t.equal(split.targets.reduce((n, x) => n + x.pool.accepted, 0), summary.pool.accepted, "the targets' pool counts are the two pools' (nothing else accepted)");
  // A found block moves its pool to the next height at once: a share already on its way on the old job is
  // stale, refused by the pool (21) or, arriving after the new job, by the proxy, as at any pool. That is the
  // only refusal anyone may see here (none at a move between targets), and only in a run where a pool found
  // a block (a ~25% chance in this one).
  const seen = JSON.stringify({ proxy: summary.rejected, pool: summary.pool, fleet: summary.fleet, poolUnanswered: summary.poolUnanswered });
  const blocks = summary.pool.blocks > 0;
  const proxyRefused = Object.values(summary.rejected).reduce((a, b) => a + b, 0);
  t.ok(summary.pool.rejected === 0 || (blocks && Object.keys(summary.pool.rejectedByCode).every((code) => code === '21')), `no pool rejected a share but as stale after a found block (${seen})`);
  t.ok(proxyRefused === 0 || (blocks && Object.keys(summary.rejected).every((reason) => reason === 'stale')), `the proxy refused no share but as stale after a found block (${seen})`);
  t.equal(summary.poolUnanswered, 0, 'every forwarded share was answered');
  t.equal(summary.fleet.validRejected, summary.pool.rejected + proxyRefused, `an honest share was refused only for those (${seen})`);
  for (const x of split.targets) {
    t.ok(x.pool.accepted > 0, `${x.target}: its pool accepted shares (${x.pool.accepted})`);
    t.ok(x.proxy, `${x.target}: the proxy counts it`);
    t.equal(x.proxy?.poolAccepted, x.pool.accepted, `${x.target}: the proxy's pool-accepted count is its pool's own`);
  }
  // The bound. 10 devices of equal speed at 1000 H/s, each share at the pool's difficulty 1e-7 (~430 hashes):
  // ~23 shares/s, ~600 over the run. Placement puts 7 devices on main (all unmeasured at first), and the plans
  // after that follow the measured hashrate: the count going to main is binomial around 0.7 N, sd =
  // sqrt(0.21 / 600) = 1.9 points, and the measurements the plans rest on (a few hundred shares per device by
  // the end, fewer early) add about 3 points at most: 10 points is beyond 2.8 sigma of both (p < 0.5%) and
  // beyond 5 sigma of the count alone. The tight bounds are the e2e tests' (test/e2e/routing-*.test.ts).
  const main = split.targets[0]!.pool.workShare;
  t.ok(Math.abs(main - 0.7) <= 0.1, `main got ${(main * 100).toFixed(1)}% of the pool-accepted work (70 +- 10)`);
});

t.test('demo --help explains --routes split; a bad value exits 2 naming the flag', async (t) => {
  const help = await mainCaptured(['demo', '--help']);
  t.equal(help.code, 0);
  t.match(help.out, /--routes <none\|split>/);
  t.match(help.out, /dash-farm-proxy demo --routes split/);
  t.match(help.out, /'main' \(weight 70\) and\s+'second-pool-share' \(weight 30\)/);
  const bad = await mainCaptured(['demo', '--routes', 'many']);
  t.equal(bad.code, 2);
  t.match(bad.err, /--routes/);
});

t.test("demoSplit: each target's part of both pools' accepted work, beside its weight and the proxy's count", async (t) => {
  const pool = (accepted: number, work: number) => ({ totals: { accepted, acceptedDifficulty: work } }) as SimPoolStats;
  const route = { name: 'default', targets: [{ name: 'main', accepted: 80, poolAccepted: 7, work: 7.5, workShare: 0.75 }] } as unknown as RouteView;
  const split = demoSplit([pool(7, 0.7), pool(3, 0.3)], [route]);
  t.same(split.targets.map((x) => x.target), DEMO_SPLIT_TARGETS.map((x) => x.name));
  t.equal(split.targets[0]!.pool.workShare, 0.7);
  t.equal(split.targets[1]!.pool.workShare, 0.3);
  t.same(split.targets[0]!.proxy, { accepted: 80, poolAccepted: 7, work: 7.5, workShare: 0.75 });
  t.equal(split.targets[1]!.proxy, null, 'a target the proxy has not seen has no proxy count');
  t.equal(formatDemoSplit(split), 'main 70.0% (weight 70%; proxy 75.0%), second-pool-share 30.0% (weight 30%) of pool-accepted work');
  t.same(
    demoSplit([pool(0, 0), pool(0, 0)], []).targets.map((x) => x.pool.workShare),
    [0, 0],
    'no work yet: 0, not NaN',
  );
});
