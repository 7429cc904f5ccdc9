import t from 'tap';
import { buildConfig, configFromEnv } from '../../src/config.js';
import { problemsOf } from '../helpers/config-problems.js';
import { configFromFlags, startHelp } from '../../src/commands/start.js';
import { diffConfig } from '../../src/reload.js';
import { perWorkerLimit, workerCount, workersFromText, WORKERS_MAX } from '../../src/cluster/worker-count.js';
import { firstIdOf, isPrimaryMessage, isWorkerMessage, WORKER_ENV, workerIdentity } from '../../src/cluster/messages.js';
import { workerLimits } from '../../src/cluster/worker.js';
import { HEALTHY_UPTIME_MS, RESTART_BACKOFF, restartDelay } from '../../src/cluster/primary.js';
import { Backoff } from '../../src/util/backoff.js';
import { mainCaptured } from '../helpers/cli-main.js';

/** `workers` (config, --workers, DASH_PROXY_WORKERS), its rules, and the pure parts of the cluster. */
const pools = [{ url: 'stratum+tcp://127.0.0.1:3333', user: 'farm' }];

t.test('workers: default 1, a whole number or "auto"', async (t) => {
  t.equal(buildConfig({ pools }).workers, 1, 'default: one process');
  t.equal(buildConfig({ pools, workers: 4 }).workers, 4);
  t.equal(buildConfig({ pools, workers: 'auto' }).workers, 'auto');
  t.equal(workerCount(1), 1);
  t.equal(workerCount(6), 6);
  t.equal(workerCount('auto', 2), 2, 'auto: one per core');
  t.equal(workerCount('auto', 0), 1, 'never fewer than one');
  t.equal(workerCount('auto', 10_000), WORKERS_MAX, 'never more than the maximum');
  for (const bad of [0, -1, 2.5, WORKERS_MAX + 1, 'many', '', true, null]) {
    t.same(problemsOf(() => buildConfig({ pools, workers: bad as never })), [`workers must be an integer from 1 to ${WORKERS_MAX}, or "auto" (one per core) (got ${JSON.stringify(bad)})`], `refused: ${JSON.stringify(bad)}`);
  }
});

t.test('--workers N|auto and DASH_PROXY_WORKERS', async (t) => {
  const args = ['--pool', 'stratum+tcp://127.0.0.1:3333', '--user', 'farm'];
  t.equal(configFromFlags([...args, '--workers', '3'], {}).workers, 3);
  t.equal(configFromFlags([...args, '--workers=auto'], {}).workers, 'auto');
  t.equal(configFromFlags(args, { DASH_PROXY_WORKERS: '2' }).workers, 2, 'from the environment');
  t.equal(configFromFlags(args, { DASH_PROXY_WORKERS: 'auto' }).workers, 'auto');
  t.equal(configFromFlags([...args, '--workers', '4'], { DASH_PROXY_WORKERS: '2' }).workers, 4, 'the flag wins');
  t.same(problemsOf(() => configFromFlags([...args, '--workers', '0'], {})), [`workers must be an integer from 1 to ${WORKERS_MAX}, or "auto" (one per core) (got 0)`]);
  t.same(problemsOf(() => configFromFlags([...args, '--workers', 'lots'], {})), [`workers must be an integer from 1 to ${WORKERS_MAX}, or "auto" (one per core) (got "lots")`]);
  t.same(problemsOf(() => buildConfig({ pools }, configFromEnv({ DASH_PROXY_WORKERS: 'x2' }))), [`workers must be an integer from 1 to ${WORKERS_MAX}, or "auto" (one per core) (got "x2")`]);
  t.same(workersFromText(' 7 '), 7);
  t.same(workersFromText('auto'), 'auto');
  t.match(startHelp, /--workers <N\|auto>\s+worker processes sharing the device port/);
});

t.test('start --workers with a bad value: exit 2, the field named', async (t) => {
  const r = await mainCaptured(['start', '--pool', 'stratum+tcp://127.0.0.1:3333', '--user', 'farm', '--workers', '-2']);
  t.equal(r.code, 2);
  t.match(r.err, /workers must be an integer from 1 to \d+, or "auto" \(one per core\) \(got "-2"\)/);
});

t.test('a reload that changes workers says restart needed', async (t) => {
  const a = buildConfig({ pools });
  t.same(diffConfig(a, buildConfig({ pools, workers: 2 })), { apply: [], restartNeeded: ['workers'] });
  t.same(diffConfig(buildConfig({ pools, workers: 'auto' }), buildConfig({ pools, workers: 'auto' })), { apply: [], restartNeeded: [] });
});

t.test('per-host limits divided among the workers (ceil)', async (t) => {
  t.equal(perWorkerLimit(20_000, 1), 20_000);
  t.equal(perWorkerLimit(20_000, 2), 10_000);
  t.equal(perWorkerLimit(10, 3), 4, 'ceil: 3 workers x 4 = 12, within one per worker of 10');
  t.equal(perWorkerLimit(1, 4), 1, 'never 0');
  const limits = buildConfig({ pools, limits: { maxDevices: 1000, maxConnectionsPerIp: 5, submitsPerSecond: 7 } }).limits;
  const mine = workerLimits(limits, 3);
  t.equal(mine.maxDevices, 334);
  t.equal(mine.maxConnectionsPerIp, 2);
  t.equal(mine.submitsPerSecond, 7, 'per-device limits are not divided');
  t.same(workerLimits(limits, 1), limits, 'one worker: the host limits');
});

t.test('the IPC contract: identity from the environment, id ranges, message kinds', async (t) => {
  t.same(workerIdentity({ [WORKER_ENV.index]: '1', [WORKER_ENV.incarnation]: '3', [WORKER_ENV.workers]: '2' }), { worker: 1, incarnation: 3, workers: 2 });
  t.equal(workerIdentity({}), null, 'not a worker of ours');
  t.equal(workerIdentity({ [WORKER_ENV.index]: '1', [WORKER_ENV.incarnation]: '0', [WORKER_ENV.workers]: '2' }), null, 'incarnations start at 1');
  t.equal(workerIdentity({ [WORKER_ENV.index]: 'x', [WORKER_ENV.incarnation]: '1', [WORKER_ENV.workers]: '2' }), null);
  t.notOk(Object.values(WORKER_ENV).some((name) => name.startsWith('DASH_PROXY_')), 'not configuration variables (those name fields)');
  t.same(problemsOf(() => configFromEnv({ [WORKER_ENV.index]: '0', [WORKER_ENV.incarnation]: '1', [WORKER_ENV.workers]: '2' })), [], 'the configuration ignores them');
  t.equal(firstIdOf(1), 2 ** 32 + 1);
  t.equal(firstIdOf(2), 2 * 2 ** 32 + 1);
  t.ok(firstIdOf(1) + 2 ** 32 - 1 < firstIdOf(2), 'each incarnation has 2^32 ids of its own');
  t.ok(Number.isSafeInteger(firstIdOf(1_000_000) + 2 ** 32), 'a million restarts still give exact ids');
  t.ok(isWorkerMessage({ type: 'state', devices: 1, ready: true }));
  t.ok(isWorkerMessage({ type: 'listening', openFiles: null }));
  t.ok(isWorkerMessage({ type: 'stopped' }));
  t.notOk(isWorkerMessage({ type: 'prom-client:getMetricsRes' }), "another module's message");
  t.notOk(isWorkerMessage(null));
  t.ok(isPrimaryMessage({ type: 'reload' }));
  t.ok(isPrimaryMessage({ type: 'stop' }));
  t.notOk(isPrimaryMessage({ type: 'state' }));
  t.notOk(isPrimaryMessage('stop'));
});

t.test("a dead worker's restart: 1 s, doubling to 30 s while it dies young, 1 s again after a healthy run", async (t) => {
  const backoff = new Backoff(RESTART_BACKOFF);
  const young = HEALTHY_UPTIME_MS - 1;
  t.same([1, 2, 3, 4, 5, 6, 7].map(() => restartDelay(backoff, young)), [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
  t.equal(restartDelay(backoff, HEALTHY_UPTIME_MS), 1000, 'it had run long enough: not a crash loop');
  t.equal(restartDelay(backoff, 5), 2000);
});
