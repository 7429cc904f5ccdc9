import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from '../../src/bench/processes.js';
import { SimFleet, type SimFleetOptions } from '../../src/sim/fleet.js';
import { SimPool, type SimPoolOptions, type SimPoolShareEvent } from '../../src/sim/pool.js';
import type { ClusterView } from '../../src/observe/cluster-api.js';
import { hasher } from '../helpers/share-kit.js';
import { sleep, until } from '../helpers/wait.js';
import { tempDir } from '../books/ledger-kit.js';

/**
 * A proxy with workers as a user runs it, `start --config FILE` with `workers: 2` (the build when it is there,
 * else the sources through tsx), between a simulated pool and a simulated fleet in this process, all on
 * loopback. The pool and the fleet judge every share with their own code (src/sim/).
 */
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BUILT_CLI = path.join(repo, 'dist', 'cli.js');
export const WAIT = 45_000;

type Teardown = { teardown(fn: () => unknown): void };

export function cliArgv(args: string[]): string[] {
  return existsSync(BUILT_CLI) ? [BUILT_CLI, ...args] : ['--import', 'tsx', path.join(repo, 'src', 'cli.ts'), ...args];
}

export interface LogLine {
  level: string;
  msg: string;
  proxyWorker?: number;
  [k: string]: unknown;
}

export interface ClusterProc {
  child: ChildProcess;
  configPath: string;
  dir: string;
  port: number;
  httpUrl: string;
  /** Every JSON log line so far (the primary's and the workers': they share stderr). */
  logs: LogLine[];
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  writeConfig(over: Record<string, unknown>): void;
  cluster(): Promise<ClusterView>;
  get<T = unknown>(path: string): Promise<T>;
  text(path: string): Promise<string>;
}

export async function startPool(t: Teardown, opts: Partial<SimPoolOptions> = {}): Promise<{ pool: SimPool; shares: SimPoolShareEvent[] }> {
  const pool = new SimPool({ hasher, jobIntervalMs: 0, blockIntervalMs: 0, difficulty: 1e-6, ...opts });
  const shares: SimPoolShareEvent[] = [];
  pool.on('share', (e) => shares.push(e));
  await pool.listen();
  t.teardown(() => pool.close());
  return { pool, shares };
}

/** The proxy with 2 workers; resolves once the primary logged "proxy listening" (every worker's port open). */
/** `over`: config fields over the base (a function of the test's temp dir, for file paths). */
export async function startCluster(t: Teardown, pool: SimPool, overIn: Record<string, unknown> | ((dir: string) => Record<string, unknown>) = {}): Promise<ClusterProc> {
  const dir = tempDir(t);
  const over = typeof overIn === 'function' ? overIn(dir) : overIn;
  const [port, httpPort] = await freePorts(2);
  const configPath = path.join(dir, 'proxy.json');
  const base = {
    workers: 2,
    pools: [{ name: 'sim', url: pool.url, user: 'Xfarm.proxy', password: 'x' }],
    listen: { host: '127.0.0.1', port },
    http: { host: '127.0.0.1', port: httpPort },
    expectedDevices: 100,
    difficulty: { start: 2e-7, min: 1e-9, max: 1e9, targetSharesPerMinute: 12, retargetSeconds: 30, maxStep: 4 },
    upstream: { submitTimeoutSeconds: 10, connectTimeoutSeconds: 5 },
    shutdown: { drainSeconds: 5 },
    log: { level: 'info', format: 'json' },
  };
  const writeConfig = (more: Record<string, unknown>) => writeFileSync(configPath, JSON.stringify({ ...base, ...over, ...more }, null, 2));
  writeConfig({});
  const child = spawn(process.execPath, cliArgv(['start', '--config', configPath]), { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let partial = '';
  const logs: LogLine[] = [];
  child.stdout!.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-50_000)));
  child.stderr!.on('data', (c: Buffer) => {
    const text = c.toString();
    out = (out + text).slice(-50_000);
    const parts = (partial + text).split('\n');
    partial = parts.pop()!;
    for (const line of parts) {
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        // not a log line (a warning of node's): kept in `out` only
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      // Its workers stop with it (their IPC channel closes); SIGKILL takes the primary only.
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 20_000)))]);
      clearTimeout(timer);
      if (!done) child.kill('SIGKILL');
    }
  });
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const get = async <T>(p: string): Promise<T> => (await (await fetch(httpUrl + p)).json()) as T;
  const text = async (p: string): Promise<string> => (await fetch(httpUrl + p)).text();
  const proc: ClusterProc = { child, configPath, dir, port, httpUrl, logs, output: () => out, exited, writeConfig, cluster: () => get<ClusterView>('/api/cluster'), get, text };
  await until(() => logs.some((l) => l.msg === 'proxy listening' && l.proxyWorker === undefined) || child.exitCode !== null, () => `the primary's "proxy listening"; output: ${out}`, WAIT);
  if (child.exitCode !== null) throw new Error(`the proxy exited (${child.exitCode}): ${out}`);
  return proc;
}

export async function startFleet(t: Teardown, port: number, opts: Partial<SimFleetOptions> = {}): Promise<SimFleet> {
  const fleet = new SimFleet({ hasher, port, devices: 20, hashrate: 300, maxHashrate: 10_000, reconnectDelayMs: 100, maxReconnectDelayMs: 500, ...opts });
  t.teardown(() => fleet.stop());
  await fleet.start();
  return fleet;
}

/** Poll /api/cluster until `ok` holds (bounded). */
export async function clusterUntil(proc: ClusterProc, ok: (v: ClusterView) => boolean, what: string, timeoutMs = WAIT): Promise<ClusterView> {
  let last: ClusterView | null = null;
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      last = await proc.cluster();
      if (ok(last)) return last;
    } catch {
      // not answering for a moment
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; /api/cluster: ${JSON.stringify(last)}`);
    await sleep(100);
  }
}

/** Prometheus text as (name, labels, value) rows. */
export function parseMetrics(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const rows: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const lm of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]!] = lm[2]!;
    rows.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return rows;
}
