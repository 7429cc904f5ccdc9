import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OwnClientOptions } from './fanout-client.js';
import type { FanoutMeasurement } from './fanout-figures.js';
import { fanoutProxyConfig } from './proxy-config.js';
import { fanoutToolPath, freePorts, fromSource, proxyStartArgv, runToEnd, shellCommand, withFileLimit } from './processes.js';
import { median, round } from './stats.js';

/**
 * One fan-out run against a fresh proxy (`start --config`), measured by one of two clients:
 *
 * - `own`: the benchmark's own client (fanout-client.ts, a child process under the raised open-files
 *   limit): always there;
 * - `yardstick`: the shared fanout-bench.js, when it is found beside the repository (see
 *   `fanoutToolPath`): a cross-check by an independent tool, the one ckpool's published figures were taken
 *   with; it also measures its own trivial relay (`floor`: the least a Node proxy can do on this machine).
 */

export type FanoutClient = 'own' | 'yardstick';
/** `floor` is the yardstick's relay, measured by the yardstick only. */
export type FanoutTarget = 'proxy' | 'floor';

export interface FanoutOptions {
  client: FanoutClient;
  target: FanoutTarget;
  devices: number;
  /** The proxy's worker processes (`workers`); the yardstick and its floor run with 1. */
  workers: number;
  /** The most devices one fleet process holds (the own client spreads more over child processes). */
  devicesPerFleetProcess: number;
  jobs: number;
  intervalMs: number;
  settleMs: number;
  connectRate: number;
  /** Open-files limit set for the client (and the proxy it starts). */
  fileLimit: number;
  /** Directory for the proxy's config file and log. */
  workDir: string;
  /** Progress lines. */
  progress?: (line: string) => void;
}

export interface FanoutResult extends FanoutMeasurement {
  client: FanoutClient;
  target: FanoutTarget;
  devices: number;
  workers: number;
  elapsedSeconds: number;
}

/** The yardstick's JSON line, the fields read here (fanout-bench.README.md describes them). */
interface ToolJson {
  connected: number;
  rssBeforeKiB: number | null;
  rssAfterKiB: number | null;
  rssEndKiB: number | null;
  kibPerConn: number | null;
  fanout: { p50ms: number | null; p99ms: number | null; maxms: number | null; missed: number };
  fanoutExtra: { minms: number | null; medianJobMaxms: number | null; medianJobP99ms: number | null };
  perJob: { job: number; got: number; missed: number; p50ms: number | null; p99ms: number | null; maxms: number | null; benchBusyMs: number | null }[];
  cpu: Record<string, number | null>;
  env: { proxyFdLimit?: number | null };
  complete: boolean;
  error: string | null;
}

/** Warm-up jobs before the measured ones (the first fan-out after a mass connect pays one-time costs). */
const WARMUP_JOBS = 1;
/** Pool difficulty of both clients' scripted pools; the proxy's devices start at 256, below it. */
const POOL_DIFFICULTY = 1024;
/** Transactions besides the coinbase in our pool's jobs: a merkle branch of 10, as in the yardstick's. */
const JOB_TX_COUNT = 1023;

/** The bound of one run, for the client's child process: connecting, the jobs, the waits, and room. */
function runBoundMs(o: FanoutOptions): number {
  return (Math.ceil((2 * o.devices) / o.connectRate) + ((o.jobs + WARMUP_JOBS) * o.intervalMs) / 1000 + (2 * o.settleMs) / 1000 + 300) * 1000;
}

export async function runFanout(o: FanoutOptions): Promise<FanoutResult> {
  if (o.client === 'yardstick') return runYardstick(o);
  if (o.target !== 'proxy') throw new Error('the own client measures the proxy only (the floor is the yardstick\'s relay)');
  return runOwnClient(o);
}

/** Fleet child processes for `devices`: 0 (the client's own process) while one process holds them. */
export function fleetPartsFor(devices: number, devicesPerProcess: number): number {
  return devices <= devicesPerProcess ? 0 : Math.ceil(devices / devicesPerProcess);
}

async function runOwnClient(o: FanoutOptions): Promise<FanoutResult> {
  const [poolPort, proxyPort, httpPort] = (await freePorts(3)) as [number, number, number];
  const tag = `own-${o.devices}-w${o.workers}`;
  const configPath = join(o.workDir, `proxy-fanout-${tag}.json`);
  writeFileSync(configPath, JSON.stringify(fanoutProxyConfig({ poolPort, port: proxyPort, devices: o.devices, workers: o.workers, httpPort }), null, 2));
  const options: OwnClientOptions = {
    poolPort,
    proxyPort,
    proxyArgv: proxyStartArgv(configPath),
    proxyLog: join(o.workDir, `${tag}.log`),
    workers: o.workers,
    httpPort,
    fleetParts: fleetPartsFor(o.devices, o.devicesPerFleetProcess),
    fileLimit: o.fileLimit,
    devices: o.devices,
    jobs: o.jobs,
    warmupJobs: WARMUP_JOBS,
    intervalMs: o.intervalMs,
    settleMs: o.settleMs,
    connectRate: o.connectRate,
    poolDifficulty: POOL_DIFFICULTY,
    txCount: JOB_TX_COUNT,
    upstreamWaitMs: 60_000,
    readyWaitMs: 120_000,
    tailMs: 5000,
  };
  const script = fileURLToPath(new URL(fromSource ? './fanout-client.ts' : './fanout-client.js', import.meta.url));
  const argv = [process.execPath, ...(fromSource ? ['--import', 'tsx'] : []), script, JSON.stringify(options)];
  const [file, args] = withFileLimit(argv, o.fileLimit);
  const started = performance.now();
  const out = await runToEnd(file, args, { timeoutMs: runBoundMs(o), onStderrLine: (line) => o.progress?.(line) });
  const elapsedSeconds = (performance.now() - started) / 1000;
  let measured: FanoutMeasurement;
  try {
    measured = JSON.parse(out.stdout.trim().split('\n').pop() ?? '') as FanoutMeasurement;
  } catch {
    throw new Error(`the fan-out client (${tag}) printed no result (exit ${out.code ?? out.signal}${out.timedOut ? ', timed out' : ''}); see ${options.proxyLog}`);
  }
  return { client: 'own', target: 'proxy', devices: o.devices, workers: o.workers, ...measured, elapsedSeconds: round(elapsedSeconds, 1)! };
}

async function runYardstick(o: FanoutOptions): Promise<FanoutResult> {
  const [poolPort, proxyPort] = (await freePorts(2)) as [number, number];
  const tag = `yardstick-${o.target}-${o.devices}`;
  let spawnArgv: string[];
  if (o.target === 'proxy') {
    const configPath = join(o.workDir, `proxy-fanout-${tag}.json`);
    writeFileSync(configPath, JSON.stringify(fanoutProxyConfig({ poolPort, port: proxyPort, devices: o.devices }), null, 2));
    spawnArgv = proxyStartArgv(configPath);
  } else {
    spawnArgv = [process.execPath, fanoutToolPath(), '--null-proxy', `127.0.0.1:${proxyPort}`, '--pool-port', String(poolPort)];
  }
  const toolArgv = [
    process.execPath,
    fanoutToolPath(),
    '--proxy', `127.0.0.1:${proxyPort}`,
    '--pool-port', String(poolPort),
    '--label', o.target === 'proxy' ? 'dash-farm-proxy' : 'null-proxy (floor)',
    '--n', String(o.devices),
    '--jobs', String(o.jobs),
    '--warmup-jobs', String(WARMUP_JOBS),
    '--interval-ms', String(o.intervalMs),
    '--settle-ms', String(o.settleMs),
    '--connect-rate', String(o.connectRate),
    '--pool-diff', String(POOL_DIFFICULTY),
    '--timeout-s', String(Math.ceil(runBoundMs(o) / 1000) - 120),
    '--spawn', shellCommand(spawnArgv),
    '--spawn-log', join(o.workDir, `${tag}.log`),
  ];
  const [file, args] = withFileLimit(toolArgv, o.fileLimit);
  const started = performance.now();
  const out = await runToEnd(file, args, {
    timeoutMs: runBoundMs(o),
    onStderrLine: (line) => {
      if (/clients: |WARNING|fanout-bench: /.test(line)) o.progress?.(line.replace(/^\[fanout-bench [^\]]*\]\s*/, ''));
    },
  });
  const elapsedSeconds = (performance.now() - started) / 1000;
  const last = out.stdout.trim().split('\n').pop() ?? '';
  let json: ToolJson;
  try {
    json = JSON.parse(last) as ToolJson;
  } catch {
    throw new Error(`fanout-bench (${tag}) printed no JSON (exit ${out.code ?? out.signal}${out.timedOut ? ', timed out' : ''}); see ${join(o.workDir, `${tag}.log`)}`);
  }
  return { client: 'yardstick', target: o.target, devices: o.devices, workers: 1, ...fromToolJson(json), elapsedSeconds: round(elapsedSeconds, 1)! };
}

export function fromToolJson(json: ToolJson): FanoutMeasurement {
  const per = (rss: number | null) => (rss !== null && json.rssBeforeKiB !== null && json.connected > 0 ? round((rss - json.rssBeforeKiB) / json.connected) : null);
  return {
    connected: json.connected,
    complete: json.complete,
    error: json.error,
    rssBeforeKiB: json.rssBeforeKiB,
    rssAfterKiB: json.rssAfterKiB,
    rssEndKiB: json.rssEndKiB,
    kibPerDevice: json.kibPerConn ?? per(json.rssAfterKiB),
    kibPerDeviceAfterJobs: per(json.rssEndKiB),
    p50ms: json.fanout.p50ms,
    p99ms: json.fanout.p99ms,
    maxms: json.fanout.maxms,
    minms: json.fanoutExtra.minms,
    medianJobP99ms: json.fanoutExtra.medianJobP99ms,
    medianJobMaxms: json.fanoutExtra.medianJobMaxms,
    missed: json.fanout.missed,
    benchBusyMsMedian: median(json.perJob.map((j) => j.benchBusyMs)),
    cpu: { proxySecConnect: json.cpu.proxySecConnect ?? null, proxySecFanout: json.cpu.proxySecFanout ?? null, benchSecFanout: json.cpu.benchSecFanout ?? null },
    proxyFileLimit: json.env.proxyFdLimit ?? null,
    connectSeconds: null,
    proxyProcesses: 1,
    perJob: json.perJob.map((j) => ({ job: j.job, delivered: j.got, missed: j.missed, p50ms: j.p50ms, p99ms: j.p99ms, maxms: j.maxms, loadBusyMs: j.benchBusyMs })),
  };
}
