/**
 * Metrics at farm scale: N devices (default 10,000) are driven through the EventBus, then /metrics is
 * scraped over HTTP. Reports the exposition size (plain and gzip), scrape time (p50/max, plain and gzip),
 * the longest event-loop stall during scrapes, and memory (heap + ArrayBuffers) per device held by the farm
 * ledger (the one per-device store that /metrics, the API and the feed read), what ProxyMetrics adds per device
 * (nothing between scrapes), and (for comparison) plain prom-client series objects holding the same 11 series.
 *
 *   npm run build && node dist/bench/metrics-scale.js [--devices 10000] [--scrapes 20] [--label-ip]
 *   npx tsx src/bench/metrics-scale.ts --devices 10000
 *
 * Prints a readable table on stderr and one JSON line on stdout.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Counter, Gauge, Registry } from 'prom-client';
import { Worker } from 'node:worker_threads';
import { EventBus } from '../core/events.js';
import { FarmLedger } from '../observe/farm-ledger.js';
import { HttpServer } from '../observe/http-server.js';
import { ProxyMetrics } from '../observe/metrics.js';
import { registerMetricsRoute } from '../observe/metrics-route.js';

interface Options {
  devices: number;
  scrapes: number;
  labelIp: boolean;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { devices: 10_000, scrapes: 20, labelIp: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v <= 0) throw new Error(`${a} needs a positive integer`);
      return v;
    };
    if (a === '--devices') opts.devices = next();
    else if (a === '--scrapes') opts.scrapes = next();
    else if (a === '--label-ip') opts.labelIp = true;
    else throw new Error(`unknown option ${a}`);
  }
  return opts;
}

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** JS heap plus ArrayBuffer backing stores (typed arrays live outside the heap), after full GCs. */
function heapUsed(): number {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

const workerName = (i: number): string => `farm.rig-${String(i).padStart(5, '0')}`;
const ipOf = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

/** A realistic life for N devices: connect, authorize, get a difficulty, some shares, a reject, a forward. */
function drive(bus: EventBus, workers: string[], ips: string[]): void {
  const at = Date.now();
  for (let i = 0; i < workers.length; i++) {
    const worker = workers[i]!;
    const ip = ips[i]!;
    bus.emit('device.connected', { sessionId: i, ip, at });
    bus.emit('device.authorized', { sessionId: i, worker, ip, at });
    bus.emit('device.difficulty', { sessionId: i, worker, difficulty: 4096, at });
    for (let k = 0; k < 3; k++) {
      bus.emit('share.accepted', { sessionId: i, worker, route: 'default', target: 'default', ip, difficulty: 4096, shareDifficulty: 5000, meetsPool: k === 0, meetsNetwork: false, at: at + k });
    }
    bus.emit('share.rejected', { sessionId: i, worker, ip, reason: 'stale', code: 21, message: 'job not found', at });
    bus.emit('share.forwarded', { sessionId: i, worker, route: 'default', target: 'default', connection: 0, pool: 'main', shareId: 0, jobId: '1', difficulty: 1, shareDifficulty: 1, networkDifficulty: 1e6, blockHash: null, at });
    bus.emit('share.upstream', { sessionId: i, worker, route: 'default', target: 'default', connection: 0, pool: 'main', shareId: 0, verdict: { kind: 'accepted' }, latencyMs: 40, at });
  }
}

/** The same 11 series per device held as ordinary prom-client series, for comparison. */
function plainPromClient(workers: string[]): Registry {
  const registry = new Registry();
  const registers = [registry];
  const shares = new Counter({ name: 'x_device_shares_total', help: 'h', labelNames: ['worker', 'result'], registers });
  const work = new Counter({ name: 'x_device_work_total', help: 'h', labelNames: ['worker'], registers });
  const difficulty = new Gauge({ name: 'x_device_difficulty', help: 'h', labelNames: ['worker'], registers });
  const last = new Gauge({ name: 'x_device_last_share_timestamp_seconds', help: 'h', labelNames: ['worker'], registers });
  const connected = new Gauge({ name: 'x_device_connected', help: 'h', labelNames: ['worker'], registers });
  const upstream = new Counter({ name: 'x_device_upstream_shares_total', help: 'h', labelNames: ['worker', 'result'], registers });
  for (const worker of workers) {
    for (const result of ['accepted', 'invalid', 'stale', 'duplicate', 'low_difficulty']) shares.inc({ worker, result }, 1);
    work.inc({ worker }, 4096);
    difficulty.set({ worker }, 4096);
    last.set({ worker }, Date.now() / 1000);
    connected.set({ worker }, 1);
    upstream.inc({ worker, result: 'accepted' }, 1);
    upstream.inc({ worker, result: 'rejected' }, 0);
  }
  return registry;
}

interface ScrapeRun {
  gzip: boolean;
  ms: number;
  bytes: number;
}

/** `scrapes` plain and `scrapes` gzip GETs of `url` (after one warm-up), timed in a worker thread. */
async function scrapeFromWorker(url: string, scrapes: number): Promise<ScrapeRun[]> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { request } = require('undici');
    (async () => {
      const runs = [];
      const once = async (gzip) => {
        const t0 = performance.now();
        const res = await request(workerData.url, { headers: gzip ? { 'accept-encoding': 'gzip' } : {} });
        const body = Buffer.from(await res.body.arrayBuffer());
        if (res.statusCode !== 200) throw new Error('status ' + res.statusCode);
        return { gzip, ms: performance.now() - t0, bytes: body.length };
      };
      await once(false);
      for (let i = 0; i < workerData.scrapes; i++) runs.push(await once(false), await once(true));
      parentPort.postMessage(runs);
    })().catch((err) => { throw err; });
  `;
  const worker = new Worker(code, { eval: true, workerData: { url, scrapes } });
  try {
    return await new Promise<ScrapeRun[]>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (c) => reject(new Error(`scrape worker exited with ${c}`)));
    });
  } finally {
    await worker.terminate();
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const n = opts.devices;
  const workers = Array.from({ length: n }, (_, i) => workerName(i));
  const ips = Array.from({ length: n }, (_, i) => ipOf(i));

  // Memory: the ledger with its devices, then what ProxyMetrics adds on top (per device), then plain prom-client.
  const bus = new EventBus();
  let before = heapUsed();
  const ledger = new FarmLedger(bus);
  drive(bus, workers, ips);
  const ledgerPerDevice = (heapUsed() - before) / n;
  before = heapUsed();
  const metrics = new ProxyMetrics(bus, ledger, { labelIp: opts.labelIp });
  const metricsFixed = heapUsed() - before;
  const metricsPerDevice = metricsFixed / n;

  before = heapUsed();
  const plain = plainPromClient(workers);
  const plainPerDevice = (heapUsed() - before) / n;
  const plainStart = performance.now();
  await plain.metrics();
  const plainRenderMs = performance.now() - plainStart;

  // Scrapes over HTTP.
  const http = new HttpServer({ host: '127.0.0.1', port: 0 });
  registerMetricsRoute(http, metrics);
  const addr = await http.listen();
  const url = `http://127.0.0.1:${addr.port}/metrics`;
  // The scraper runs in a worker thread, so the event-loop figure is the server's alone.
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const runs = await scrapeFromWorker(url, opts.scrapes);
  loop.disable();
  const plainRuns = runs.filter((r) => !r.gzip);
  const gzipRuns = runs.filter((r) => r.gzip);
  const renderTimes: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await metrics.render();
    renderTimes.push(performance.now() - t0);
  }
  await http.close();
  metrics.close();

  const plainMs = plainRuns.map((r) => r.ms).sort((a, b) => a - b);
  const gzipMs = gzipRuns.map((r) => r.ms).sort((a, b) => a - b);
  const result = {
    devices: n,
    labelIp: opts.labelIp,
    node: process.version,
    metricsBytes: plainRuns[0]!.bytes,
    metricsGzipBytes: gzipRuns[0]!.bytes,
    scrapeMs: { p50: round(percentile(plainMs, 0.5)), max: round(plainMs[plainMs.length - 1]!), runs: plainMs.length },
    scrapeGzipMs: { p50: round(percentile(gzipMs, 0.5)), max: round(gzipMs[gzipMs.length - 1]!), runs: gzipMs.length },
    renderMs: { p50: round(percentile(renderTimes.sort((a, b) => a - b), 0.5)) },
    eventLoopStallMaxMs: round(loop.max / 1e6),
    heapBytesPerDevice: { farmLedger: Math.round(ledgerPerDevice), proxyMetrics: Math.round(metricsPerDevice), plainPromClient11Series: Math.round(plainPerDevice) },
    proxyMetricsFixedBytes: metricsFixed,
    plainPromClientRenderMs: round(plainRenderMs),
  };
  process.stderr.write(
    [
      `devices                       ${n}${opts.labelIp ? ' (with ip label)' : ''}`,
      `/metrics size                 ${(result.metricsBytes / 1e6).toFixed(2)} MB, gzip ${(result.metricsGzipBytes / 1e6).toFixed(2)} MB`,
      `scrape (plain)                p50 ${result.scrapeMs.p50} ms, max ${result.scrapeMs.max} ms over ${plainMs.length}`,
      `scrape (gzip)                 p50 ${result.scrapeGzipMs.p50} ms, max ${result.scrapeGzipMs.max} ms over ${gzipMs.length}`,
      `longest event-loop stall      ${result.eventLoopStallMaxMs} ms (during scrapes)`,
      `heap per device, FarmLedger   ${result.heapBytesPerDevice.farmLedger} B (the one per-device store)`,
      `heap per device, ProxyMetrics ${result.heapBytesPerDevice.proxyMetrics} B (added on top of the ledger)`,
      `heap per device, prom-client  ${result.heapBytesPerDevice.plainPromClient11Series} B (same 11 series as plain prom-client objects; not used)`,
      '',
    ].join('\n'),
  );
  process.stdout.write(`${JSON.stringify(result)}\n`);
  // Keep the comparison objects alive until measured.
  ledger.close();
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

main().catch((err: unknown) => {
  process.stderr.write(`metrics-scale: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
