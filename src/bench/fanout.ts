import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fanoutProxyConfig } from './proxy-config.js';
import { fanoutToolPath, freePorts, proxyStartArgv, runToEnd, shellCommand, withFileLimit } from './processes.js';
import { round } from './stats.js';

/**
 * One run of the shared yardstick (`fanout-bench.js`) against our proxy (`start --config`, spawned by the
 * tool so every run gets a fresh proxy) or against its trivial relay (`--null-proxy`: the floor of this
 * machine). The tool plays the pool and the N miners; its last stdout line is the JSON read here.
 */

export type FanoutTarget = 'proxy' | 'floor';

export interface FanoutOptions {
  target: FanoutTarget;
  devices: number;
  jobs: number;
  intervalMs: number;
  settleMs: number;
  connectRate: number;
  /** Open-files limit set for the tool (and the proxy it spawns). */
  fileLimit: number;
  /** Directory for the proxy's config file and log. */
  workDir: string;
  /** Progress lines (the tool's own progress, filtered). */
  progress?: (line: string) => void;
}

export interface FanoutResult {
  target: FanoutTarget;
  devices: number;
  /** Clients that were served a job and stayed connected. */
  connected: number;
  complete: boolean;
  error: string | null;
  rssBeforeKiB: number | null;
  rssAfterKiB: number | null;
  rssEndKiB: number | null;
  /** (rss with the devices connected - rss before) / devices. */
  kibPerDevice: number | null;
  /** (rss after the jobs flowed - rss before) / devices. */
  kibPerDeviceAfterJobs: number | null;
  p50ms: number | null;
  p99ms: number | null;
  maxms: number | null;
  minms: number | null;
  medianJobP99ms: number | null;
  medianJobMaxms: number | null;
  missed: number;
  /** Median over jobs of the tool's own busy time while the job was delivered: near maxms, the tool is the limit. */
  benchBusyMsMedian: number | null;
  cpu: { proxySecConnect: number | null; proxySecFanout: number | null; benchSecFanout: number | null };
  /** The proxy's soft open-files limit as the tool read it from /proc. */
  proxyFileLimit: number | null;
  elapsedSeconds: number;
}

interface ToolJson {
  connected: number;
  rssBeforeKiB: number | null;
  rssAfterKiB: number | null;
  rssEndKiB: number | null;
  kibPerConn: number | null;
  fanout: { p50ms: number | null; p99ms: number | null; maxms: number | null; missed: number };
  fanoutExtra: { minms: number | null; medianJobMaxms: number | null; medianJobP99ms: number | null };
  perJob: { benchBusyMs: number | null }[];
  cpu: Record<string, number | null>;
  env: { proxyFdLimit?: number | null };
  complete: boolean;
  error: string | null;
}

export async function runFanout(o: FanoutOptions): Promise<FanoutResult> {
  const [poolPort, proxyPort] = (await freePorts(2)) as [number, number];
  const tag = `${o.target}-${o.devices}`;
  let spawnArgv: string[];
  if (o.target === 'proxy') {
    const configPath = join(o.workDir, `proxy-fanout-${o.devices}.json`);
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
    '--warmup-jobs', '1',
    '--interval-ms', String(o.intervalMs),
    '--settle-ms', String(o.settleMs),
    '--connect-rate', String(o.connectRate),
    '--timeout-s', String(Math.ceil(o.devices / o.connectRate + ((o.jobs + 1) * o.intervalMs) / 1000 + (2 * o.settleMs) / 1000 + 180)),
    '--spawn', shellCommand(spawnArgv),
    '--spawn-log', join(o.workDir, `${tag}.log`),
  ];
  const [file, args] = withFileLimit(toolArgv, o.fileLimit);
  const started = performance.now();
  const out = await runToEnd(file, args, {
    timeoutMs: (Math.ceil(o.devices / o.connectRate) + ((o.jobs + 1) * o.intervalMs) / 1000 + 300) * 1000,
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
  return fromToolJson(o.target, o.devices, json, elapsedSeconds);
}

export function fromToolJson(target: FanoutTarget, devices: number, json: ToolJson, elapsedSeconds: number): FanoutResult {
  const per = (rss: number | null) => (rss !== null && json.rssBeforeKiB !== null && json.connected > 0 ? round((rss - json.rssBeforeKiB) / json.connected) : null);
  const busy = json.perJob.map((j) => j.benchBusyMs).filter((x): x is number => typeof x === 'number').sort((a, b) => a - b);
  return {
    target,
    devices,
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
    benchBusyMsMedian: busy.length ? busy[busy.length >> 1]! : null,
    cpu: { proxySecConnect: json.cpu.proxySecConnect ?? null, proxySecFanout: json.cpu.proxySecFanout ?? null, benchSecFanout: json.cpu.benchSecFanout ?? null },
    proxyFileLimit: json.env.proxyFdLimit ?? null,
    elapsedSeconds: round(elapsedSeconds, 1)!,
  };
}
