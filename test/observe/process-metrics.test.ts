import { spawnSync } from 'node:child_process';
import cluster from 'node:cluster';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { Registry } from 'prom-client';
import { EventBus } from '../../src/core/events.js';
import { FarmLedger } from '../../src/observe/farm-ledger.js';
import { ProxyMetrics } from '../../src/observe/metrics.js';
import { ClusterMetrics, METRICS_REQUEST, METRICS_RESPONSE, mergeProcessMetrics, processRegistry, registerProcessMetrics, type ClusterLike } from '../../src/observe/process-metrics.js';
import { WorkerRoster } from '../../src/observe/worker-roster.js';
import { familyLines, labelsOf, seriesValue } from '../helpers/metrics-sut.js';

/**
 * Process metrics across processes: each worker's registry (label proxy_worker="k") and the primary's
 * (proxy_worker="primary") merged with prom-client's cluster aggregation into the one /metrics, with the
 * workers' own families; a one-process proxy's /metrics as before. Without processes (fake workers that
 * answer as prom-client's worker listener does, over a JSON round trip as node's IPC), then once with a
 * real cluster worker.
 */

const T0 = Date.UTC(2026, 11, 6, 8, 0, 0);
const havePromtool = !spawnSync('promtool', ['--version'], { stdio: 'ignore' }).error;

function promtool(t: Test, text: string): void {
  if (!havePromtool) {
    t.comment('promtool not installed (apt-get install prometheus): not checked');
    return;
  }
  const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  t.equal(lint.status, 0, `promtool check metrics: ${lint.stdout}${lint.stderr}`);
}

/** Family names in the order of their TYPE lines. */
function families(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('# TYPE '))
    .map((l) => l.split(' ')[2]!);
}

/** A cluster of fake workers, each answering a metrics request with its registry's JSON (over JSON, as IPC does). */
class FakeCluster extends EventEmitter implements ClusterLike {
  readonly workers: NodeJS.Dict<{ isConnected(): boolean; send(message: unknown): boolean }> = {};
  requests = 0;
  add(id: number, registry: Registry | null, opts: { connected?: boolean; delayMs?: number } = {}): void {
    const worker = {
      isConnected: () => opts.connected ?? true,
      send: (message: unknown) => {
        const m = message as { type: string; requestId: unknown };
        if (m.type !== METRICS_REQUEST) return true;
        this.requests++;
        if (registry === null) return true; // never answers
        void registry.getMetricsAsJSON().then((json) =>
          setTimeout(() => this.emit('message', worker, JSON.parse(JSON.stringify({ type: METRICS_RESPONSE, requestId: m.requestId, metrics: [json] }))), opts.delayMs ?? 0),
        );
        return true;
      },
    };
    this.workers[String(id)] = worker;
  }
}

t.test('merged: each process\'s series once, labelled; start times kept; promtool accepts it', async (t) => {
  const [primary, w0, w1] = [processRegistry('primary'), processRegistry('0'), processRegistry('1')];
  const merged = mergeProcessMetrics([await primary.getMetricsAsJSON(), await w0.getMetricsAsJSON(), await w1.getMetricsAsJSON()]);
  const text = await merged.metrics();
  const one = new Registry();
  registerProcessMetrics(one);
  t.same(families(text), families(await one.metrics()), "the same families as one process's, in the same order");
  for (const name of ['dash_proxy_process_cpu_user_seconds_total', 'dash_proxy_process_resident_memory_bytes', 'dash_proxy_process_start_time_seconds', 'dash_proxy_nodejs_eventloop_lag_seconds', 'dash_proxy_nodejs_heap_size_used_bytes']) {
    const workers = familyLines(text, name).map((l) => labelsOf(l).proxy_worker);
    t.same(workers, ['primary', '0', '1'], `${name}: one series per process`);
  }
  const gc = familyLines(text, 'dash_proxy_nodejs_gc_duration_seconds_count').map((l) => labelsOf(l));
  t.ok(gc.every((l) => l.proxy_worker !== undefined), 'histogram series labelled too');
  t.equal(text.match(/^# HELP dash_proxy_process_cpu_user_seconds_total /gm)?.length, 1, 'one header per family');
  t.notOk(/_active_handles_total/.test(text), 'the misnamed _total gauges stay out');
  promtool(t, text);
});

t.test('the primary asks every connected worker; one that does not answer is left out of that scrape', async (t) => {
  const fake = new FakeCluster();
  fake.add(1, processRegistry('0'));
  fake.add(2, processRegistry('1'), { delayMs: 5 });
  fake.add(3, null); // busy: never answers
  fake.add(4, processRegistry('3'), { connected: false }); // exited, still listed
  const bus = new EventBus();
  const cm = new ClusterMetrics({ bus, cluster: fake, timeoutMs: 100 });
  t.teardown(() => cm.close());
  const started = Date.now();
  const text = await (await cm.registry()).metrics();
  t.ok(Date.now() - started >= 90, 'waited for the silent worker until the timeout');
  t.equal(fake.requests, 3, 'connected workers only');
  t.same(
    familyLines(text, 'dash_proxy_process_resident_memory_bytes').map((l) => labelsOf(l).proxy_worker),
    ['primary', '0', '1'],
    'the primary and the two that answered',
  );
  t.equal(cm.missed, 1);

  // All answer: served as soon as the last one does; foreign messages are not taken for answers.
  const fake2 = new FakeCluster();
  fake2.add(1, processRegistry('0'));
  const cm2 = new ClusterMetrics({ bus, cluster: fake2, timeoutMs: 10_000 });
  t.teardown(() => cm2.close());
  fake2.emit('message', {}, { relay: 'events' });
  fake2.emit('message', {}, null);
  const t0 = Date.now();
  const text2 = await (await cm2.registry()).metrics();
  t.ok(Date.now() - t0 < 5000, 'no wait for a timeout');
  t.same(familyLines(text2, 'dash_proxy_process_resident_memory_bytes').map((l) => labelsOf(l).proxy_worker), ['primary', '0']);
  fake2.emit('message', {}, { type: METRICS_RESPONSE, requestId: 'dash-proxy-1', metrics: [] });
  t.equal(cm2.late, 1, 'an answer after its scrape was served is counted, not used');

  // No worker at all: the primary's own.
  const cm3 = new ClusterMetrics({ bus, cluster: new FakeCluster(), timeoutMs: 10_000 });
  t.teardown(() => cm3.close());
  t.same(familyLines(await (await cm3.registry()).metrics(), 'dash_proxy_process_resident_memory_bytes').map((l) => labelsOf(l).proxy_worker), ['primary']);
});

t.test('the roster of workers from worker.started / worker.exited', async (t) => {
  const bus = new EventBus();
  const roster = new WorkerRoster(bus);
  t.teardown(() => roster.close());
  t.ok(roster.empty);
  const openFiles = { soft: 20_000, hard: 20_000 };
  bus.emit('worker.started', { worker: 0, pid: 100, incarnation: 1, openFiles, at: T0 });
  bus.emit('worker.started', { worker: 1, pid: 101, incarnation: 2, openFiles, at: T0 });
  t.equal(roster.running, 2);
  bus.emit('worker.exited', { worker: 1, pid: 101, code: null, signal: 'SIGKILL', devices: 812, restartInMs: 1000, at: T0 + 5 });
  t.equal(roster.running, 1);
  // The restart dies before it tells it started (a crash loop), then one comes up.
  bus.emit('worker.exited', { worker: 1, pid: 102, code: 1, signal: null, devices: 0, restartInMs: 2000, at: T0 + 1100 });
  bus.emit('worker.started', { worker: 1, pid: 103, incarnation: 4, openFiles: { soft: null, hard: null }, at: T0 + 3200 });
  t.equal(roster.running, 2);
  t.equal(roster.restarts, 2, 'each fork that died outside shutdown');
  // Shutdown: exits that are not restarted.
  bus.emit('worker.exited', { worker: 0, pid: 100, code: 0, signal: null, devices: 0, restartInMs: null, at: T0 + 9000 });
  bus.emit('worker.exited', { worker: 1, pid: 103, code: 0, signal: null, devices: 0, restartInMs: null, at: T0 + 9000 });
  t.equal(roster.running, 0);
  t.equal(roster.restarts, 2);
  t.match(roster.list(), [
    { worker: 0, pid: 100, incarnation: 1, running: false, restarts: 0, lastExit: { code: 0 } },
    { worker: 1, pid: 103, incarnation: 4, running: false, restarts: 2, openFiles: { soft: null, hard: null }, lastExit: { pid: 103, code: 0 } },
  ]);
});

t.test("/metrics of the primary: every process's metrics, the workers' families, the farm's as before; promtool accepts it", async (t) => {
  const bus = new EventBus();
  const ledger = new FarmLedger(bus, { now: () => T0 });
  const fake = new FakeCluster();
  fake.add(1, processRegistry('0'));
  fake.add(2, processRegistry('1'));
  const cm = new ClusterMetrics({ bus, cluster: fake, timeoutMs: 5000 });
  const metrics = new ProxyMetrics(bus, ledger, { cluster: cm });
  const single = new ProxyMetrics(bus, ledger, {});
  t.teardown(() => {
    metrics.close();
    single.close();
    cm.close();
    ledger.close();
  });
  bus.emit('worker.started', { worker: 0, pid: 100, incarnation: 1, openFiles: { soft: 20_000, hard: 20_000 }, at: T0 });
  bus.emit('worker.started', { worker: 1, pid: 101, incarnation: 2, openFiles: { soft: 20_000, hard: 20_000 }, at: T0 });
  bus.emit('worker.exited', { worker: 1, pid: 101, code: null, signal: 'SIGKILL', devices: 3, restartInMs: 1000, at: T0 + 1 });
  bus.emit('device.connected', { sessionId: 2 ** 32 + 1, ip: '10.0.0.1', at: T0 });
  bus.emit('device.authorized', { sessionId: 2 ** 32 + 1, worker: 'rig1', ip: '10.0.0.1', at: T0 });

  const text = await metrics.render();
  const oneProcess = await single.render();
  t.equal(seriesValue(text, 'dash_proxy_workers'), 1);
  t.equal(seriesValue(text, 'dash_proxy_worker_restarts_total{proxy_worker="1"}'), 1);
  t.equal(seriesValue(text, 'dash_proxy_worker_restarts_total{proxy_worker="0"}'), 0);
  t.same(familyLines(text, 'dash_proxy_process_cpu_user_seconds_total').map((l) => labelsOf(l).proxy_worker), ['primary', '0', '1']);
  t.ok(
    [...familyLines(text, 'dash_proxy_process_cpu_user_seconds_total'), ...familyLines(text, 'dash_proxy_worker_restarts_total')].every((l) => labelsOf(l).worker === undefined),
    "no process series has a worker label: that is a device's name",
  );
  t.equal(seriesValue(text, 'dash_proxy_device_connected{worker="rig1",owner="farm"}'), 1, "the farm's series as before");
  const processFamilies = families(oneProcess).filter((f) => !families(text).includes(f));
  t.same(processFamilies, [], 'every family of one process is there');
  t.same(
    families(text).filter((f) => !families(oneProcess).includes(f)),
    ['dash_proxy_workers', 'dash_proxy_worker_restarts_total'],
    'plus the workers\' families, nothing else',
  );
  t.ok(families(text).indexOf('dash_proxy_process_cpu_user_seconds_total') < families(text).indexOf('dash_proxy_build_info'), 'process metrics first, as in one process');
  promtool(t, text);

  // One process: no worker label, no workers' families.
  t.notOk(/worker="primary"/.test(oneProcess));
  t.equal(familyLines(oneProcess, 'dash_proxy_workers').length, 0);
  t.ok(seriesValue(oneProcess, 'dash_proxy_process_cpu_user_seconds_total')! >= 0, "one process's own, unlabelled");
  promtool(t, oneProcess);
});

t.test('a real cluster worker answers the primary (prom-client\'s listener in the worker)', async (t) => {
  cluster.setupPrimary({ exec: fileURLToPath(new URL('./process-metrics-worker.ts', import.meta.url)), execArgv: ['--import=tsx'], silent: true });
  const worker = cluster.fork({ METRICS_WORKER_INDEX: '7' });
  t.teardown(() => {
    if (!worker.isDead()) worker.kill('SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('worker not ready in 20 s')), 20_000);
    worker.once('message', (m: unknown) => {
      if ((m as { ready?: boolean }).ready) {
        clearTimeout(timer);
        resolve();
      }
    });
    worker.once('exit', (code) => reject(new Error(`worker exited (${code})`)));
  });
  const cm = new ClusterMetrics({ bus: new EventBus(), timeoutMs: 10_000 });
  t.teardown(() => cm.close());
  const text = await (await cm.registry()).metrics();
  t.same(familyLines(text, 'dash_proxy_process_resident_memory_bytes').map((l) => labelsOf(l).proxy_worker), ['primary', '7']);
  const pidLine = familyLines(text, 'dash_proxy_process_start_time_seconds').find((l) => labelsOf(l).proxy_worker === '7');
  t.ok(pidLine, "the worker's own start time");
  t.equal(cm.missed, 0);
  promtool(t, text);
});
