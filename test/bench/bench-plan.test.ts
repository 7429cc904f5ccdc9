import t from 'tap';
import { UsageError } from '../../src/commands/command.js';
import { fleetPartsFor } from '../../src/bench/fanout.js';
import { fanoutKinds, planFromArgs } from '../../src/bench/run.js';
import { soakPlanFromArgs } from '../../src/bench/soak.js';

/** The benchmark's plan with workers and fleets past one process, and the soak's plan (pure: no processes). */

t.test('--workers: each count measured; sizes up to what the workers hold', async (t) => {
  const one = planFromArgs(['--sizes', '5000,100000']);
  t.same(one.workers, [1], 'one worker by default');
  t.same(one.sizes, [5000], '100,000 is more than one process holds');
  t.same(one.sizesRefused, [100_000], 'and is said to be left out');

  const six = planFromArgs(['--sizes', '10000,100000', '--workers', '6']);
  t.same(six.workers, [6]);
  t.ok(six.maxDevices * 6 >= 100_000 ? six.sizes.includes(100_000) : six.sizesRefused.includes(100_000), 'six workers of maxDevices each hold 100,000 when the limit allows');
  t.same(planFromArgs(['--workers', '2,1,2']).workers, [1, 2], 'counts sorted, each once');
  t.throws(() => planFromArgs(['--workers', '0']), UsageError, 'a count below 1 is a usage error');
  t.throws(() => planFromArgs(['--workers', 'two']), UsageError);
});

t.test('the runs of one size: the own client per worker count that holds it, the yardstick and the floor where one process does', async (t) => {
  const plan = { workers: [1, 2], maxDevices: 19_000, crossCheck: '/x/fanout-bench.js', parts: { fanout: true, shares: true, books: true, floor: true, chart: true } };
  t.same(
    fanoutKinds(plan, 10_000).map((k) => `${k.client} ${k.target} ${k.workers}`),
    ['own proxy 1', 'own proxy 2', 'yardstick proxy 1', 'yardstick floor 1'],
  );
  t.same(fanoutKinds({ ...plan, workers: [2] }, 10_000).map((k) => `${k.client} ${k.target} ${k.workers}`), ['own proxy 2', 'yardstick floor 1'], 'without one worker: no yardstick on the proxy (it reads one process), the floor still');
  t.same(fanoutKinds({ ...plan, workers: [6] }, 100_000).map((k) => `${k.client} ${k.target} ${k.workers}`), ['own proxy 6'], '100,000: the own client alone (the floor is one process)');
  t.same(fanoutKinds({ ...plan, workers: [1, 6] }, 30_000).map((k) => `${k.client} ${k.target} ${k.workers}`), ['own proxy 6'], 'one worker cannot hold 30,000');
  t.same(fanoutKinds({ ...plan, crossCheck: null }, 5000).map((k) => `${k.client} ${k.workers}`), ['own 1', 'own 2'], 'no yardstick found: the own client alone');

  t.equal(fleetPartsFor(10_000, 19_000), 0, 'one process holds 10,000: the fleet stays in the client');
  t.equal(fleetPartsFor(100_000, 19_000), 6, '100,000: six fleet processes');
  t.equal(fleetPartsFor(19_001, 19_000), 2);
});

t.test('the soak: 2 hours by default, --minutes for short runs, retention and lifetime from the length', async (t) => {
  const long = soakPlanFromArgs([]);
  t.same([long.seconds, long.workers, long.devices, long.generations], [7200, 2, 1000, 4]);
  t.equal(long.retentionSeconds, 1800, 'a quarter of the run');
  t.equal(long.lifetimeSeconds, 600, 'a tenth of the run, at most 10 minutes');
  t.equal(long.sampleSeconds, 10);
  const short = soakPlanFromArgs(['--minutes', '10', '--workers', '3']);
  t.same([short.seconds, short.workers, short.retentionSeconds, short.lifetimeSeconds, short.sampleSeconds], [600, 3, 150, 60, 5]);
  t.equal(soakPlanFromArgs(['--hours', '5']).retentionSeconds, 3600, 'retention at most an hour');
  t.equal(soakPlanFromArgs(['--retention', '90s']).retentionSeconds, 90, 'or as given');
  t.throws(() => soakPlanFromArgs(['--devices', '3']), UsageError, 'fewer devices than generations');
  t.throws(() => soakPlanFromArgs(['--workers', '0']), UsageError);
});
