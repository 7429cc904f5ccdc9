import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProxyApp } from '../../src/app.js';
import { buildConfig } from '../../src/config.js';
import { silentLogger } from '../../src/core/log.js';
import { SimFleet } from '../../src/sim/fleet.js';
import { SimPool } from '../../src/sim/pool.js';
import { closedPort } from './scripted-pool.js';
import { hasher } from './share-kit.js';

/**
 * The system under test of the metrics end-to-end test (test/observe/prometheus.test.ts): the real proxy
 * (createProxyApp) serving /metrics and /api on 127.0.0.1 while a simulated fleet mines through it to a
 * simulated pool. The scenario gives every panel and alert something to show: a preferred pool that is
 * down (the proxy fails over to 'main'), a device that goes offline, a device with a high reject rate,
 * a connection refused by the device limit, and block candidates (an easy network target). The books are
 * kept in a temporary SQLite file (removed at close), so the dash_proxy_ledger_* series exist.
 */
export interface MetricsSut {
  /** `http://127.0.0.1:<port>`: serves /metrics and /api/*. */
  baseUrl: string;
  /** `127.0.0.1:<port>` for a Prometheus static target. */
  target: string;
  /** A worker that mines all along and is connected at the end (substituted for $worker). */
  sampleWorker: string;
  /** The pool mined on (substituted for $pool). */
  samplePool: string;
  /** Alerts (by name) whose condition this scenario makes true: their expressions must return series. */
  expectedFiring: string[];
  /** Stop mining; the numbers then stay as they are. */
  pause(): void;
  close(): Promise<void>;
}

export interface MetricsSutOptions {
  /** Healthy devices (default 8); one more goes offline early and one more has a high reject rate. */
  devices?: number;
}

export async function startMetricsSut(opts: MetricsSutOptions = {}): Promise<MetricsSut> {
  const healthy = opts.devices ?? 8;
  const total = healthy + 2;
  const names = [...Array.from({ length: healthy }, (_, i) => `rig-${String(i + 1).padStart(2, '0')}`), 'rig-gone', 'rig-bad'];
  // Device difficulty about 2e-7 at 300 H/s: ~1 share/s each; pool 4x harder; network 16x: block candidates.
  const pool = new SimPool({ hasher, difficulty: 8e-7, nbits: '1f0fffff', jobIntervalMs: 5000, blockIntervalMs: 0 });
  await pool.listen();
  const deadPort = await closedPort();
  const booksDir = mkdtempSync(join(tmpdir(), 'dash-proxy-metrics-books-'));
  const config = buildConfig({
    pools: [
      { name: 'preferred', url: `stratum+tcp://127.0.0.1:${deadPort}`, user: 'Xfarm', password: 'x' },
      { name: 'main', url: pool.url, user: 'Xfarm', password: 'x' },
    ],
    listen: { host: '127.0.0.1', port: 0, tls: null },
    http: { host: '127.0.0.1', port: 0, token: null, allowedOrigins: [] },
    difficulty: { start: 2e-7, min: 1e-9, max: 1e9, targetSharesPerMinute: 12, retargetSeconds: 30, maxStep: 4, multiplier: 1 },
    limits: { maxDevices: total },
    upstream: { submitTimeoutSeconds: 10, failoverAfterAttempts: 1, probeIntervalSeconds: 5, connectTimeoutSeconds: 2 },
    shutdown: { drainSeconds: 2 },
    ledger: { path: join(booksDir, 'books.sqlite') },
  } as never);
  const app = await createProxyApp(config, { hasher, log: silentLogger });
  const { http, stratum } = await app.start();
  const fleet = new SimFleet({
    hasher,
    port: stratum.port,
    devices: total,
    hashrate: 300,
    workerName: (i) => names[i]!,
    deviceOptions: (i) => (names[i] === 'rig-bad' ? { misbehaviour: { lowDifficulty: 0.5, duplicate: 0.2 } } : {}),
    reconnectDelayMs: 60_000,
  });
  await fleet.start();
  await fleet.whenMining(total, 30_000);
  // A connection over the device limit: refused and counted.
  await new Promise<void>((resolve) => {
    const s = net.connect(stratum.port, '127.0.0.1');
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
  // A device that goes offline, once it has shares on record (the offline panel shows its last share's age).
  const gone = names.indexOf('rig-gone');
  const killer = setInterval(() => {
    if (fleet.deviceStats(gone).shares.accepted >= 1) {
      clearInterval(killer);
      fleet.killDevice(gone);
    }
  }, 200);
  killer.unref();
  let closed = false;
  return {
    baseUrl: `http://127.0.0.1:${http.port}`,
    target: `127.0.0.1:${http.port}`,
    sampleWorker: names[0]!,
    samplePool: 'main',
    expectedFiring: ['DashProxyDeviceOffline', 'DashProxyDeviceRejectRateHigh', 'DashProxyPoolDown'],
    pause: () => fleet.setHashrate(0),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(killer);
      await fleet.stop();
      await app.stop();
      await pool.close();
      rmSync(booksDir, { recursive: true, force: true });
    },
  };
}

export function seriesValue(text: string, series: string): number | undefined {
  const prefix = `${series} `;
  for (const line of text.split('\n')) {
    if (line.startsWith(prefix)) return Number(line.slice(prefix.length));
  }
  return undefined;
}

/** The labels of one sample line (`name{a="x",b="y"} v`), unescaped. */
export function labelsOf(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  const open = line.indexOf('{');
  if (open < 0) return out;
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/gy;
  re.lastIndex = open + 1;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    out[m[1]!] = m[2]!.replace(/\\(.)/g, (_x, c: string) => (c === 'n' ? '\n' : c));
    if (line[re.lastIndex] === ',') re.lastIndex++;
  }
  return out;
}

/** The sum of one family's samples whose labels pass `keep` (all of them by default). */
export function familySum(text: string, name: string, keep: (labels: Record<string, string>) => boolean = () => true): number {
  let sum = 0;
  for (const line of familyLines(text, name)) {
    if (keep(labelsOf(line))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Sample lines of one metric family: `name{...} v` or `name v` (not `name_bucket`, not comments). */
export function familyLines(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}
