import { planOrExitCode, runWhenScript } from './script.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadX11Wasm } from '../chain/x11-wasm.js';
import { UsageError } from '../commands/command.js';
import { defineFlags } from '../commands/flags.js';
import type { FarmSummary } from '../observe/farm-ledger.js';
import { SimFleet } from '../sim/fleet.js';
import { SimPool } from '../sim/pool.js';
import { machineFacts, openFilesLimit, processTree, rssKiB } from './proc.js';
import { freePorts, proxyStartArgv, startInBackground, withFileLimit, type Background } from './processes.js';
import { clusterWorkers, getJson, waitForWorkers, type ClusterWorker } from './proxy-cluster.js';
import { EVERY_HASH_DIFFICULTY, soakProxyConfig } from './proxy-config.js';
import { everyShareAnswered, judgedWindow, restartsSeen, RSS_FLAT_WITHIN, rssFlatness, type Flatness, type RssSample, type ShareAccount } from './soak-figures.js';
import { round } from './stats.js';

/**
 * The soak: the proxy with several workers (`start --config`, `workers` 2 by default) for hours, between the
 * simulated pool (src/sim/pool.ts: it judges every share) and devices that churn: generations of simulated
 * devices (src/sim/fleet.ts), each generation with new worker names, that connect, mine (every hash a share,
 * at 12 shares a minute by default, each validated by the proxy, forwarded and judged by the pool) and
 * leave, a new one starting as the oldest leaves. The metrics' retention is set short (a quarter of the run,
 * at most an hour), so departed devices' series are dropped many times over. It reads, every sample:
 * the resident memory of every proxy process (the primary and its workers, from /proc), `/api/cluster`
 * (restarts, PIDs), `/api/summary`. At the end every device leaves, the in-flight shares drain, and it
 * checks: resident memory over the last hour (the second half of a shorter run) flat within 5 %, no worker
 * restarted, every forwarded share answered (the pool's counts against the proxy's). Progress on stderr,
 * a table and one JSON line on stdout, and both written to --out.
 *
 *   npm run build && node dist/bench/soak.js                        2 hours, 2 workers, 1,000 devices
 *   node dist/bench/soak.js --minutes 10 --workers 2 --devices 400
 */

export const soakFlags = defineFlags({
  hours: { type: 'number', positive: true, max: 72, default: 2, help: 'how long (default 2)' },
  minutes: { type: 'number', positive: true, max: 72 * 60, help: 'how long, in minutes (instead of --hours; for short runs)' },
  workers: { type: 'int', min: 1, max: 64, default: 2, help: 'proxy worker processes' },
  devices: { type: 'int', min: 4, max: 19_000, default: 1000, help: 'devices connected at any time (spread over the generations)' },
  generations: { type: 'int', min: 2, max: 100, default: 4, help: 'generations of devices alive at once; every lifetime / generations the oldest leaves and a new one (new names) connects' },
  lifetime: { type: 'duration', unit: 's', min: 10_000, help: "how long a generation mines before it leaves (default: a tenth of the run, at most 10 minutes)" },
  hashrate: { type: 'number', positive: true, default: 0.2, help: "hashes per second per simulated device (X11 in this process); every hash is a share, so also its shares per second (default 0.2: 12 a minute, vardiff's target)" },
  retention: { type: 'duration', unit: 's', min: 10_000, help: "metrics.retentionSeconds of the proxy (default: a quarter of the run, at most an hour)" },
  sample: { type: 'duration', unit: 's', min: 1000, help: 'time between readings (default: 10 s; runs under an hour: 5 s)' },
  ledger: { type: 'boolean', default: true, help: 'keep the books (ledger.path in --out): every worker writes into the one ledger' },
  out: { type: 'string', default: 'bench-results', help: 'directory for the JSON, the table, the proxy config and log' },
  help: { type: 'boolean', short: 'h', help: 'this text' },
});

export interface SoakPlan {
  seconds: number;
  workers: number;
  devices: number;
  generations: number;
  lifetimeSeconds: number;
  hashrate: number;
  retentionSeconds: number;
  sampleSeconds: number;
  ledger: boolean;
  out: string;
}

export function soakPlanFromArgs(argv: string[]): SoakPlan {
  const v = soakFlags.parse(argv);
  const seconds = Math.round(v.minutes !== undefined ? v.minutes * 60 : v.hours * 3600);
  if (v.devices < v.generations) throw new UsageError(`--devices ${v.devices}: at least one device per generation (--generations ${v.generations})`);
  return {
    seconds,
    workers: v.workers,
    devices: v.devices,
    generations: v.generations,
    lifetimeSeconds: v.lifetime !== undefined ? v.lifetime / 1000 : Math.max(20, Math.min(600, seconds / 10)),
    hashrate: v.hashrate,
    retentionSeconds: v.retention !== undefined ? v.retention / 1000 : Math.max(30, Math.min(3600, Math.round(seconds / 4))),
    sampleSeconds: v.sample !== undefined ? v.sample / 1000 : seconds < 3600 ? 5 : 10,
    ledger: v.ledger,
    out: resolve(v.out),
  };
}

export interface SoakReport {
  soak: 'dash-farm-proxy soak/1';
  startedAt: string;
  finishedAt: string;
  plan: Omit<SoakPlan, 'out'>;
  env: { node: string; cpus: number; loadavgStart: number[]; loadavgEnd: number[]; proxyOpenFiles: { soft: number; hard: number } | null };
  churn: { generationsStarted: number; deviceNames: number; sharesSubmittedByDevices: number };
  rss: { samples: number; window: [number, number]; total: Flatness | null; byProcess: Record<string, Flatness | null>; flatWithin: number };
  workers: { first: ClusterWorker[] | null; last: ClusterWorker[] | null; restarted: ReturnType<typeof restartsSeen> };
  shares: { account: ShareAccount | null; everyAnswered: boolean; problems: string[] };
  proxyExit: { code: number | null; signal: string | null } | null;
  verdict: { rssFlat: boolean | null; noRestart: boolean; everyShareAnswered: boolean };
  files: { json: string; text: string; proxyLog: string; samples: string };
}

const T0 = performance.now();
function say(line: string): void {
  process.stderr.write(`[soak +${((performance.now() - T0) / 1000).toFixed(0)}s] ${line}\n`);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const mib = (kib: number) => (kib / 1024).toFixed(1);

/** Label each proxy process: the primary, and each worker by its index from /api/cluster (else its PID). */
function labelProcesses(primary: number, workers: ClusterWorker[] | null): Map<number, string> {
  const labels = new Map<number, string>([[primary, workers && workers.length === 1 && workers[0]!.pid === primary ? 'proxy' : 'primary']]);
  for (const pid of processTree(primary)) {
    if (pid === primary) continue;
    const w = workers?.find((x) => x.pid === pid);
    labels.set(pid, w ? `worker ${w.worker}` : `pid ${pid}`);
  }
  return labels;
}

export async function runSoak(plan: SoakPlan): Promise<SoakReport> {
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  const dir = join(plan.out, `soak-${stamp}`);
  mkdirSync(dir, { recursive: true });
  const loadavgStart = machineFacts().loadavg;
  say(
    `${(plan.seconds / 60).toFixed(1)} min, ${plan.workers} worker(s), ${plan.devices} devices in ${plan.generations} generations of ${Math.floor(plan.devices / plan.generations)} ` +
      `(each mines ${plan.lifetimeSeconds} s, then leaves; a new one with new names every ${round(plan.lifetimeSeconds / plan.generations, 1)} s), ${plan.hashrate} shares/s per device, ` +
      `metrics.retentionSeconds ${plan.retentionSeconds} (set short for the soak), readings every ${plan.sampleSeconds} s; load average ${loadavgStart.join(' ')} on ${cpus().length} CPUs`,
  );

  const hasher = await loadX11Wasm();
  // The pool judges every share; its difficulty is below every device's, so each device share is forwarded.
  const pool = new SimPool({ difficulty: EVERY_HASH_DIFFICULTY, nbits: 0x1927e5e4, hasher });
  await pool.listen();
  const [port, httpPort] = (await freePorts(2)) as [number, number];
  const configPath = join(dir, 'proxy-soak.json');
  const proxyLog = join(dir, 'proxy-soak.log');
  const config = soakProxyConfig({ poolPort: pool.port, port, httpPort, devices: plan.devices, workers: plan.workers, retentionSeconds: plan.retentionSeconds, ledgerPath: plan.ledger ? join(dir, 'ledger.sqlite') : null });
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const limit = openFilesLimit('self')?.hard ?? 20_000;
  const [file, args] = withFileLimit(proxyStartArgv(configPath), Number.isFinite(limit) ? limit : 20_000);
  const proxy: Background = startInBackground(file, args, proxyLog);
  let exited: { code: number | null; signal: string | null } | null = null;
  void proxy.exited.then((e) => (exited = e));
  const stopAll = () => {
    proxy.child.kill('SIGKILL');
  };
  process.once('SIGINT', stopAll);
  process.once('SIGTERM', stopAll);

  const fleets: { gen: number; fleet: SimFleet }[] = [];
  let generation = 0;
  let deviceNames = 0;
  let submittedByGone = 0;
  const perGeneration = Math.floor(plan.devices / plan.generations);
  const startGeneration = async () => {
    generation++;
    const fleet = new SimFleet({ port, devices: perGeneration, hashrate: plan.hashrate, maxHashrate: plan.devices * plan.hashrate, workerPrefix: `soak.g${generation}`, connectRate: 200, hasher });
    fleets.push({ gen: generation, fleet });
    deviceNames += perGeneration;
    await fleet.start();
  };
  const retireOldest = async () => {
    const oldest = fleets.shift();
    if (!oldest) return;
    submittedByGone += oldest.fleet.stats().totals.submitted;
    await oldest.fleet.stop();
  };

  const samples: RssSample[] = [];
  let firstWorkers: ClusterWorker[] | null = null;
  let lastWorkers: ClusterWorker[] | null = null;
  let account: ShareAccount | null = null;
  let proxyOpenFiles: { soft: number; hard: number } | null = null;
  try {
    if (!(await waitForWorkers(httpPort, plan.workers, 60_000, () => exited !== null))) throw new Error(`the proxy did not list ${plan.workers} ready worker(s) at /api/cluster within 60 s; see ${proxyLog}`);
    firstWorkers = await clusterWorkers(httpPort);
    proxyOpenFiles = openFilesLimit(proxy.pid);
    say(`proxy up: PID ${proxy.pid}, workers ${firstWorkers?.map((w) => `${w.worker} (PID ${w.pid})`).join(', ')}; open files soft ${proxyOpenFiles?.soft}, hard ${proxyOpenFiles?.hard}`);

    for (let g = 0; g < plan.generations; g++) await startGeneration();
    const t0 = performance.now();
    const elapsed = () => (performance.now() - t0) / 1000;
    let nextChurn = plan.lifetimeSeconds / plan.generations;
    let nextSample = 0;
    let nextProgress = 0;
    const progressEvery = plan.seconds >= 3600 ? 300 : 60;
    let lastForwarded = 0;
    let lastForwardedAt = 0;
    while (elapsed() < plan.seconds) {
      if (exited !== null) throw new Error(`the proxy exited (${JSON.stringify(exited)}); see ${proxyLog}`);
      const now = elapsed();
      if (now >= nextChurn) {
        nextChurn += plan.lifetimeSeconds / plan.generations;
        await retireOldest();
        await startGeneration();
      }
      if (now >= nextSample) {
        nextSample += plan.sampleSeconds;
        const workers = await clusterWorkers(httpPort);
        if (workers) lastWorkers = workers;
        const labels = labelProcesses(proxy.pid, lastWorkers);
        const kib: Record<string, number> = {};
        for (const [pid, label] of labels) {
          const r = rssKiB(pid);
          if (r !== null) kib[label] = r;
        }
        samples.push({ at: round(now, 1)!, kib });
        if (now >= nextProgress) {
          nextProgress += progressEvery;
          const summary = await getJson<FarmSummary>(httpPort, '/api/summary');
          const rate = summary ? (summary.forwarded - lastForwarded) / Math.max(1, now - lastForwardedAt) : 0;
          if (summary) {
            lastForwarded = summary.forwarded;
            lastForwardedAt = now;
          }
          const total = Object.values(kib).reduce((a, b) => a + b, 0);
          const restarts = (lastWorkers ?? []).reduce((n, w) => n + w.restarts, 0);
          say(
            `${(now / 60).toFixed(1)} / ${(plan.seconds / 60).toFixed(0)} min: generation ${generation}, ${summary?.devicesOnline ?? '?'} devices online, ` +
              `forwarded ${summary?.forwarded.toLocaleString('en-US') ?? '?'} (${rate.toFixed(0)}/s), pool received ${pool.stats().totals.submitted.toLocaleString('en-US')}, in flight ${summary?.inFlight ?? '?'}; ` +
              `RSS ${mib(total)} MiB (${Object.entries(kib).map(([l, k]) => `${l} ${mib(k)}`).join(', ')}); restarts ${restarts}; load ${machineFacts().loadavg.join(' ')}`,
          );
        }
      }
      await sleep(Math.max(10, Math.min(1000, (Math.min(nextChurn, nextSample) - elapsed()) * 1000)));
    }

    say('every device leaves; waiting for the shares in flight');
    while (fleets.length) await retireOldest();
    const drainEnd = performance.now() + 30_000;
    let summary: FarmSummary | null = null;
    while (performance.now() < drainEnd) {
      summary = await getJson<FarmSummary>(httpPort, '/api/summary');
      if (summary && summary.inFlight === 0 && summary.forwarded === pool.stats().totals.submitted) break;
      await sleep(250);
    }
    lastWorkers = (await clusterWorkers(httpPort)) ?? lastWorkers;
    const p = pool.stats().totals;
    if (summary) {
      account = {
        poolReceived: p.submitted,
        poolAccepted: p.accepted,
        poolRejected: p.rejected,
        proxyForwarded: summary.forwarded,
        proxyPoolAccepted: summary.poolAccepted,
        proxyPoolRejected: summary.poolRejected,
        proxyPoolUnanswered: summary.poolUnanswered,
        proxyInFlight: summary.inFlight,
      };
    }
  } finally {
    for (const f of fleets) await f.fleet.stop();
    await proxy.stop(30_000);
    await pool.close();
    process.removeListener('SIGINT', stopAll);
    process.removeListener('SIGTERM', stopAll);
  }

  const window = judgedWindow(plan.seconds);
  const flat = rssFlatness(samples, window);
  const restarted = firstWorkers && lastWorkers ? restartsSeen(firstWorkers, lastWorkers) : [];
  const answered = account ? everyShareAnswered(account) : { ok: false, problems: ['no /api/summary at the end'] };
  const finishedAt = new Date();
  const { out: _out, ...planForJson } = plan;
  void _out;
  const files = { json: join(dir, 'soak.json'), text: join(dir, 'soak.txt'), proxyLog, samples: join(dir, 'rss-samples.json') };
  const report: SoakReport = {
    soak: 'dash-farm-proxy soak/1',
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    plan: planForJson,
    env: { node: process.version, cpus: cpus().length, loadavgStart, loadavgEnd: machineFacts().loadavg, proxyOpenFiles },
    churn: { generationsStarted: generation, deviceNames, sharesSubmittedByDevices: submittedByGone },
    rss: { samples: samples.length, window, total: flat.total, byProcess: flat.byProcess, flatWithin: RSS_FLAT_WITHIN },
    workers: { first: firstWorkers, last: lastWorkers, restarted },
    shares: { account, everyAnswered: answered.ok, problems: answered.problems },
    proxyExit: exited,
    verdict: { rssFlat: flat.total?.flat ?? null, noRestart: restarted.length === 0 && lastWorkers !== null, everyShareAnswered: answered.ok },
    files,
  };
  writeFileSync(files.samples, JSON.stringify(samples) + '\n');
  writeFileSync(files.json, JSON.stringify(report, null, 2) + '\n');
  writeFileSync(files.text, renderSoak(report) + '\n');
  return report;
}

const pct = (x: number) => `${(x * 100).toFixed(2)} %`;

export function renderSoak(r: SoakReport): string {
  const p = r.plan;
  const lines = [
    `dash-farm-proxy soak, ${r.startedAt.slice(0, 19).replace('T', ' ')} to ${r.finishedAt.slice(11, 19)} UTC, ${r.env.cpus} CPUs, Node ${r.env.node}, load average ${r.env.loadavgStart.join(' ')} -> ${r.env.loadavgEnd.join(' ')}`,
    `${(p.seconds / 60).toFixed(1)} min, ${p.workers} proxy worker(s), ${p.devices} devices at a time in ${p.generations} generations (${r.churn.generationsStarted} generations, ${r.churn.deviceNames.toLocaleString('en-US')} device names in all, each mining ${p.lifetimeSeconds} s), ` +
      `${p.hashrate} shares/s per device (every hash a share, validated and forwarded), metrics.retentionSeconds ${p.retentionSeconds} (set short for the soak), books ${p.ledger ? 'on' : 'off'}; ${r.rss.samples} readings every ${p.sampleSeconds} s.`,
    '',
    `Resident memory over ${r.rss.window[0].toFixed(0)}-${r.rss.window[1].toFixed(0)} s (the last hour, or the second half of a shorter run): start and end = means of the window's first and last tenth; flat when |drift| <= ${pct(r.rss.flatWithin)}:`,
    '',
    '| process | start MiB | end MiB | drift | slope / hour | min MiB | max MiB | flat |',
    '|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  const row = (label: string, f: Flatness | null) =>
    f ? `| ${label} | ${mib(f.startKiB)} | ${mib(f.endKiB)} | ${pct(f.drift)} | ${pct(f.slopePerHour)} | ${mib(f.minKiB)} | ${mib(f.maxKiB)} | ${f.flat ? 'yes' : 'no'} |` : `| ${label} | - | - | - | - | - | - | - |`;
  lines.push(row('all processes', r.rss.total));
  for (const [label, f] of Object.entries(r.rss.byProcess)) lines.push(row(label, f));
  const a = r.shares.account;
  lines.push(
    '',
    `Workers: ${r.workers.last?.map((w) => `${w.worker} PID ${w.pid}, ${w.restarts} restarts`).join('; ') ?? 'unknown'}; ${r.workers.restarted.length === 0 ? 'none restarted' : `RESTARTED: ${JSON.stringify(r.workers.restarted)}`}.`,
    a
      ? `Shares: devices submitted ${r.churn.sharesSubmittedByDevices.toLocaleString('en-US')}; the proxy forwarded ${a.proxyForwarded.toLocaleString('en-US')}, the pool received ${a.poolReceived.toLocaleString('en-US')} ` +
          `(accepted ${a.poolAccepted.toLocaleString('en-US')}, rejected ${a.poolRejected.toLocaleString('en-US')}); the proxy's verdicts: ${a.proxyPoolAccepted.toLocaleString('en-US')} accepted, ${a.proxyPoolRejected.toLocaleString('en-US')} rejected, ${a.proxyPoolUnanswered} unanswered, ${a.proxyInFlight} in flight.`
      : 'Shares: no account (the proxy did not answer /api/summary at the end).',
    `Proxy exit: ${r.proxyExit ? `${r.proxyExit.code ?? r.proxyExit.signal}` : 'still running?'}.`,
    '',
    `Verdict: RSS flat ${r.verdict.rssFlat === null ? 'not judged (too few readings)' : r.verdict.rssFlat ? 'yes' : 'NO'}; no worker restarted ${r.verdict.noRestart ? 'yes' : 'NO'}; every forwarded share answered ${r.verdict.everyShareAnswered ? 'yes' : `NO (${r.shares.problems.join('; ')})`}.`,
    `Files: ${r.files.json}, ${r.files.samples}, proxy log ${r.files.proxyLog}`,
  );
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const plan = planOrExitCode('soak', argv, soakFlags, { summary: 'Soak: the proxy with workers for hours under churning devices; resident memory flat, no worker restarted, every forwarded share answered.', usage: 'node dist/bench/soak.js [options]' }, soakPlanFromArgs);
  if (typeof plan === 'number') return plan;
  const report = await runSoak(plan);
  process.stdout.write(renderSoak(report) + '\n');
  process.stdout.write(JSON.stringify({ verdict: report.verdict, rss: report.rss.total, shares: report.shares.account, restarted: report.workers.restarted }) + '\n');
  return report.verdict.rssFlat && report.verdict.noRestart && report.verdict.everyShareAnswered ? 0 : 1;
}

runWhenScript({ file: 'soak', name: 'soak' }, main, { exit: 'at-once' });
