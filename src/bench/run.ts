/**
 * `npm run bench`: how many devices one proxy holds, how fast jobs reach them, and how many shares it
 * validates, measured in one run against the machine's floor and ckpool's published figures.
 *
 *   npm run bench                       sizes 1,000 / 5,000 / 10,000 / the most the open-files limit allows, 3 repeats
 *   npm run bench -- --quick            1,000 devices and a short share run, once (under a minute)
 *   npm run bench -- --sizes 1000,max --repeat 5 --share-rate 500,2000,max --seconds 10 --out /tmp/b
 *   npm run bench -- --sizes 5000,10000 --workers 1,2 --no-books     one and two proxy workers side by side
 *   npm run bench -- --sizes 10000,100000 --workers 6 --repeat 1 --no-shares --no-books --interval 5s
 *                                       100,000 devices: six workers, the fleet over six processes and source addresses
 *
 * Fan-out and memory: our own client (fanout-client.ts: a scripted pool and N miners, one child process, one
 * clock) against `node dist/cli.js start --config FILE` (with `workers` in it for --workers above 1; its memory and
 * CPU are those of all its processes). A fleet larger than one process may hold is spread over child processes
 * (fleet-processes.ts), each from its own source address 127.0.0.x, latencies on the host-wide clock. When the shared yardstick is found beside the
 * repository (../shared/tools/fanout-bench.js, or $SHARED_DIR/tools/...), it measures the same proxy as a
 * cross-check, then its own trivial relay (the floor), in the same run, alternating, `--repeat` times.
 * Shares: a scripted pool and a load generator (one child process, one clock) with the proxy in between;
 * raw X11 measured in this process.
 * Books (issue 13): the ledger's records committed per second and bytes per million shares (a LedgerWriter
 * fed synthetic shares, on its SQLite store and on PostgreSQL when installed: a durable throwaway cluster
 * started here), and the share run with the ledger on and off, alternating, `--books-pairs` pairs.
 *   npm run bench -- --no-fanout --no-shares      the books part alone
 *
 * Prints the tables on stdout (progress on stderr), writes <out>/bench-<time>.json, .txt, .svg and .png.
 * Reports figures, never fails on them: compare medians of repeated runs and ratios to the floor.
 */
import { planOrExitCode, runWhenScript } from './script.js';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { loadX11Wasm } from '../chain/x11-wasm.js';
import { UsageError } from '../commands/command.js';
import { defineFlags } from '../commands/flags.js';
import { chartSvg, writeChart } from './chart.js';
import { fleetPartsFor, runFanout, type FanoutClient, type FanoutResult, type FanoutTarget } from './fanout.js';
import { machineFacts, openFilesLimit } from './proc.js';
import { fanoutToolPath, repoRoot } from './processes.js';
import { runBooksPhase, type BooksPhaseResult } from './books-phase.js';
import { runSharePhase, type SharePhaseResult } from './share-phase.js';
import { BOOKS_P99_GOAL, BOOKS_RATE_REACHED, extrapolate, readGoals, shareScaling, summarizeBooks, summarizeShares, summarizeSize, type BooksSummary, type ShareScaling, type SizeSummary } from './summary.js';
import { booksCommitTable, booksLatencyTable, booksSizeTable, extrapolationText, fanoutJobsTable, fanoutTable, goalsTable, shareScalingTable, sharesTable } from './table.js';

export const benchFlags = defineFlags({
  quick: { type: 'boolean', help: 'small sizes and a short share run, once: under a minute' },
  sizes: { type: 'string', placeholder: 'n,n,...|max', help: "device counts for fan-out and memory; 'max' = the open-files limit minus 1,000 (default 1000,5000,10000,max; quick: 1000); above it, the proxy needs workers (each holds at most that many) and the fleet spreads over processes" },
  fleetProcessDevices: { type: 'int', min: 1, help: 'the most devices one fleet process of the own client holds; more are spread over child processes from source addresses 127.0.0.11 on (default: the open-files limit minus 1,000)' },
  workers: { type: 'string', placeholder: 'n,n,...', help: 'proxy worker processes (`start --workers N`): fan-out and shares are measured with each count (default 1)' },
  repeat: { type: 'int', min: 1, max: 50, help: 'runs of everything; figures are medians (default 3; quick: 1)' },
  out: { type: 'string', default: 'bench-results', help: 'directory for the JSON, the table, the chart and the proxy logs' },
  jobs: { type: 'int', min: 1, max: 1000, help: 'measured jobs per fan-out run (default 10; quick: 5)' },
  interval: { type: 'duration', unit: 'ms', min: 100, help: 'time between jobs (default 2s; quick: 1s)' },
  connectRate: { type: 'int', min: 10, help: 'new miner connections per second (default 1000, as for the ckpool figures)' },
  shareRate: { type: 'string', placeholder: 'r,r,...|max', help: "offered submits per second, 'max' = as fast as the proxy answers (default 500,1000,2000,4000,max; quick: 500,2000,max)" },
  seconds: { type: 'number', positive: true, max: 60, help: 'measured seconds per share rate (default 5; quick: 2)' },
  shareDevices: { type: 'int', min: 1, max: 5000, default: 100, help: 'device connections submitting shares' },
  txCount: { type: 'int', min: 0, max: 100_000, default: 127, help: 'transactions in the share job besides the coinbase (127: merkle branch of 7)' },
  fanout: { type: 'boolean', default: true, help: 'run the fan-out and memory part' },
  shares: { type: 'boolean', default: true, help: 'run the share part' },
  books: { type: 'boolean', default: true, help: 'run the books part: ledger commit rate and size, share latency with the ledger on and off' },
  booksRate: { type: 'string', placeholder: 'r,r,...', help: 'offered submits per second of the ledger on/off share runs (default 2000,10000)' },
  booksPairs: { type: 'int', min: 1, max: 50, help: 'on/off pairs of share runs, alternating; figures are medians over pairs (default 5; quick: 1)' },
  booksPostgres: { type: 'boolean', default: true, help: 'also measure the commit rate and size on PostgreSQL, on a throwaway cluster (when its server binaries are installed)' },
  ledgerShares: { type: 'int', min: 1000, max: 10_000_000, help: 'shares written in the ledger commit measurement (default 1,000,000; quick: 20,000)' },
  crossCheck: { type: 'boolean', default: true, help: 'also measure fan-out with the shared fanout-bench.js when it is found (../shared/tools/, or $SHARED_DIR/tools/)' },
  floor: { type: 'boolean', default: true, help: "with the cross-check: also measure fanout-bench.js's relay floor" },
  chart: { type: 'boolean', default: true, help: 'draw the PNG chart' },
  help: { type: 'boolean', short: 'h', help: 'this text' },
});

export interface BenchPlan {
  sizes: number[];
  /** Proxy worker counts, each measured. */
  workers: number[];
  /** The most devices one fleet process holds (more: several processes). */
  fleetProcessDevices: number;
  /** Sizes asked for above what this machine allows (left out). */
  sizesRefused: number[];
  repeat: number;
  jobs: number;
  intervalMs: number;
  settleMs: number;
  connectRate: number;
  shareRates: (number | null)[];
  shareSeconds: number;
  shareWarmupSeconds: number;
  shareDevices: number;
  txCount: number;
  x11Ms: number;
  /** The books part: offered rates and number of the on/off pairs, and the commit measurement (SQLite, and PostgreSQL unless left out). */
  books: { rates: number[]; pairs: number; postgres: boolean; ledgerShares: number; ledgerWorkers: number; sharesPerWorkerMinute: number; ledgerMaxSeconds: number };
  parts: { fanout: boolean; shares: boolean; books: boolean; floor: boolean; chart: boolean };
  /** The shared yardstick run as a cross-check, or null (not found, or --no-cross-check). */
  crossCheck: string | null;
  fileLimit: { soft: number; hard: number; used: number };
  maxDevices: number;
  out: string;
}

/** The most devices one process can hold here: the open-files hard limit minus room for everything else. */
export function maxDevicesFor(hardLimit: number, ephemeralPorts: number | null): number {
  const byFiles = Number.isFinite(hardLimit) ? hardLimit - 1000 : 1_000_000;
  // One source address gives the load generator at most the ephemeral port range.
  const byPorts = ephemeralPorts === null ? Infinity : ephemeralPorts - 2000;
  return Math.max(100, Math.floor(Math.min(byFiles, byPorts) / 1000) * 1000);
}

function parseList(flag: string, text: string, allowMax: boolean): (number | null)[] {
  return text.split(',').map((raw) => {
    const s = raw.trim();
    if (allowMax && s === 'max') return null;
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${flag}: expected positive integers${allowMax ? " or 'max'" : ''} separated by commas, got '${s}'`);
    return n;
  });
}

export function planFromArgs(argv: string[]): BenchPlan {
  const v = benchFlags.parse(argv);
  const quick = v.quick;
  const limits = openFilesLimit('self') ?? { soft: 1024, hard: 1024 };
  const facts = machineFacts();
  const maxDevices = maxDevicesFor(limits.hard, facts.ephemeralPorts);
  const workers = [...new Set(parseList('workers', v.workers ?? '1', false) as number[])].sort((a, b) => a - b);
  // Each worker process holds at most maxDevices; the fleet spreads over as many processes as it needs.
  const hostMax = maxDevices * Math.max(...workers);
  const sizeList = parseList('sizes', v.sizes ?? (quick ? '1000' : '1000,5000,10000,max'), true).map((n) => n ?? maxDevices);
  const sizes = [...new Set(sizeList.filter((n) => n <= hostMax))].sort((a, b) => a - b);
  const sizesRefused = sizeList.filter((n) => n > hostMax);
  const largest = Math.min(maxDevices, Math.max(0, ...sizes));
  const used = Number.isFinite(limits.hard) ? limits.hard : Math.max(limits.soft, largest + 1000);
  return {
    sizes,
    workers,
    fleetProcessDevices: Math.min(v.fleetProcessDevices ?? maxDevices, maxDevices),
    sizesRefused,
    repeat: v.repeat ?? (quick ? 1 : 3),
    jobs: v.jobs ?? (quick ? 5 : 10),
    intervalMs: v.interval ?? (quick ? 1000 : 2000),
    settleMs: quick ? 1000 : 2000,
    connectRate: v.connectRate ?? 1000,
    shareRates: parseList('share-rate', v.shareRate ?? (quick ? '500,2000,max' : '500,1000,2000,4000,max'), true),
    shareSeconds: v.seconds ?? (quick ? 2 : 5),
    shareWarmupSeconds: quick ? 0.5 : 1,
    shareDevices: v.shareDevices,
    txCount: v.txCount,
    x11Ms: quick ? 1000 : 2000,
    books: {
      rates: parseList('books-rate', v.booksRate ?? '2000,10000', false) as number[],
      pairs: v.booksPairs ?? (quick ? 1 : 5),
      postgres: v.booksPostgres,
      ledgerShares: v.ledgerShares ?? (quick ? 20_000 : 1_000_000),
      ledgerWorkers: 1000,
      // Every device share forwarded (pool difficulty at or below the device's): the most rows per device.
      sharesPerWorkerMinute: 12,
      ledgerMaxSeconds: 300,
    },
    parts: { fanout: v.fanout && sizes.length > 0, shares: v.shares, books: v.books, floor: v.floor, chart: v.chart },
    crossCheck: v.crossCheck && existsSync(fanoutToolPath()) ? fanoutToolPath() : null,
    fileLimit: { soft: limits.soft, hard: limits.hard, used },
    maxDevices,
    out: resolve(v.out),
  };
}

export interface FanoutKind {
  client: FanoutClient;
  target: FanoutTarget;
  workers: number;
  name: string;
}

/**
 * The runs of one size in one repeat: the own client against the proxy with each worker count that can hold
 * the devices (each worker at most maxDevices), then, where one process holds them and the yardstick is
 * found, the yardstick against the one-process proxy and against its relay floor.
 */
export function fanoutKinds(plan: Pick<BenchPlan, 'workers' | 'maxDevices' | 'crossCheck' | 'parts'>, devices: number): FanoutKind[] {
  const kinds: FanoutKind[] = plan.workers.filter((w) => devices <= w * plan.maxDevices).map((workers) => ({ client: 'own', target: 'proxy', workers, name: 'dash-farm-proxy' }));
  if (plan.crossCheck && devices <= plan.maxDevices) {
    if (plan.workers.includes(1)) kinds.push({ client: 'yardstick', target: 'proxy', workers: 1, name: 'dash-farm-proxy, fanout-bench.js' });
    if (plan.parts.floor) kinds.push({ client: 'yardstick', target: 'floor', workers: 1, name: 'relay floor, fanout-bench.js' });
  }
  return kinds;
}

const T0 = performance.now();
function printProgress(line: string): void {
  process.stderr.write(`[bench +${((performance.now() - T0) / 1000).toFixed(1)}s] ${line}\n`);
}

export interface BenchReport {
  bench: 'dash-farm-proxy bench/1';
  startedAt: string;
  finishedAt: string;
  elapsedSeconds: number;
  env: Record<string, unknown>;
  plan: Omit<BenchPlan, 'out'>;
  fanout: { sizes: SizeSummary[]; runs: FanoutResult[] };
  /** summary: the fewest workers measured (1 by default); byWorkers: each worker count, and how it scales. */
  shares: { summary: ReturnType<typeof summarizeShares>; byWorkers: ShareScaling[]; runs: SharePhaseResult[]; errors: string[] };
  books: { summary: BooksSummary | null; result: BooksPhaseResult | null };
  goals: ReturnType<typeof readGoals>;
  extrapolation: ReturnType<typeof extrapolate>;
  files: { json: string; text: string; svg: string | null; png: string | null; chartNote: string | null; workDir: string };
}

export async function runBench(plan: BenchPlan, progress: (line: string) => void = printProgress): Promise<BenchReport> {
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  const workDir = join(plan.out, `work-${stamp}`);
  mkdirSync(workDir, { recursive: true });
  const envStart = machineFacts();
  progress(
    `open-files limit: soft ${plan.fileLimit.soft}, hard ${plan.fileLimit.hard}; children run under \`ulimit -n ${plan.fileLimit.used}\` ` +
      `(Node cannot raise its own), so at most ${plan.maxDevices.toLocaleString('en-US')} devices per process`,
  );
  if (plan.sizesRefused.length) progress(`left out: ${plan.sizesRefused.join(', ')} devices (above ${plan.maxDevices} per proxy process for this limit, times ${Math.max(...plan.workers)} workers)`);
  progress(`load average ${envStart.loadavg.join(' ')} on ${cpus().length} CPUs: other work on this machine moves every figure; compare medians and ratios`);

  const runs: FanoutResult[] = [];
  if (plan.parts.fanout) {
    progress(
      `fan-out: ${plan.sizes.map((n) => n.toLocaleString('en-US')).join(', ')} devices with ${plan.workers.join(', ')} proxy worker(s), ${plan.repeat} repeat(s), ${plan.jobs} jobs every ${plan.intervalMs} ms, own client; ` +
        (plan.crossCheck ? `cross-check ${plan.crossCheck} (one process: up to ${plan.maxDevices.toLocaleString('en-US')} devices, the proxy with 1 worker)` : `no cross-check (${fanoutToolPath()} ${existsSync(fanoutToolPath()) ? 'left out' : 'not found'})`),
    );
    for (let rep = 1; rep <= plan.repeat; rep++) {
      for (const devices of plan.sizes) {
        for (const kind of fanoutKinds(plan, devices)) {
          const fleetParts = fleetPartsFor(devices, plan.fleetProcessDevices);
          const fleetNote = fleetParts > 0 ? `, the fleet in ${fleetParts} processes` : '';
          progress(`fan-out ${rep}/${plan.repeat}: ${kind.name} with ${devices.toLocaleString('en-US')} devices${kind.target === 'proxy' ? `, ${kind.workers} worker(s)` : ''}${kind.client === 'own' ? fleetNote : ''}; load average ${machineFacts().loadavg.join(' ')}`);
          const r = await runFanout({
            client: kind.client,
            target: kind.target,
            devices,
            workers: kind.workers,
            devicesPerFleetProcess: plan.fleetProcessDevices,
            jobs: plan.jobs,
            intervalMs: plan.intervalMs,
            settleMs: plan.settleMs,
            connectRate: plan.connectRate,
            fileLimit: plan.fileLimit.used,
            workDir,
            progress: (l) => progress(`  ${l}`),
          });
          runs.push(r);
          progress(
            `  held ${r.connected}${r.connectSeconds === null ? '' : ` (connected in ${r.connectSeconds} s)`}, ${r.kibPerDevice ?? '?'} KiB/device (after jobs ${r.kibPerDeviceAfterJobs ?? '?'}), ` +
              `fan-out p50 ${r.p50ms ?? '?'} p99 ${r.p99ms ?? '?'} max ${r.maxms ?? '?'} ms${r.complete ? '' : `, INCOMPLETE: ${r.error ?? `${r.missed} deliveries missed`}`}`,
          );
        }
      }
    }
  }
  const sizes = plan.parts.fanout ? plan.sizes.flatMap((n) => plan.workers.filter((w) => runs.some((r) => r.devices === n && r.workers === w && r.client === 'own')).map((w) => summarizeSize(n, w, runs, plan.jobs))) : [];

  const sharePhases: SharePhaseResult[] = [];
  const shareErrors: string[] = [];
  const hasher = plan.parts.shares || plan.parts.books ? await loadX11Wasm() : null;
  if (plan.parts.shares && hasher) {
    for (let rep = 1; rep <= plan.repeat; rep++) {
      for (const workers of plan.workers) {
        progress(`shares ${rep}/${plan.repeat}: ${plan.shareDevices} devices, ${workers} proxy worker(s), rates ${plan.shareRates.map((r) => r ?? 'max').join(', ')}, ${plan.shareSeconds} s each; load average ${machineFacts().loadavg.join(' ')}`);
        const phase = await runSharePhase({
          devices: plan.shareDevices,
          workers,
          rates: plan.shareRates,
          warmupMs: plan.shareWarmupSeconds * 1000,
          measureMs: plan.shareSeconds * 1000,
          windowPerDevice: 4,
          txCount: plan.txCount,
          x11Ms: plan.x11Ms,
          hasher,
          fileLimit: plan.fileLimit.used,
          workDir,
          progress: (l) => progress(`  ${l}`),
        }).catch((err: unknown) => {
          // A broken share run is reported and the rest of the figures are still written.
          shareErrors.push(`${workers} worker(s): ${(err as Error).message}`);
          progress(`  share run failed: ${(err as Error).message}`);
          return null;
        });
        if (phase) sharePhases.push(phase);
      }
    }
  }
  const byWorkers = shareScaling(plan.workers, sharePhases);
  const shares = byWorkers[0]?.summary ?? null;

  let booksResult: BooksPhaseResult | null = null;
  if (plan.parts.books && hasher) {
    booksResult = await runBooksPhase({
      ledgerShares: plan.books.ledgerShares,
      ledgerWorkers: plan.books.ledgerWorkers,
      sharesPerWorkerMinute: plan.books.sharesPerWorkerMinute,
      ledgerMaxSeconds: plan.books.ledgerMaxSeconds,
      postgres: plan.books.postgres,
      rates: plan.books.rates,
      pairs: plan.books.pairs,
      devices: plan.shareDevices,
      warmupMs: plan.shareWarmupSeconds * 1000,
      measureMs: plan.shareSeconds * 1000,
      txCount: plan.txCount,
      x11Ms: Math.min(plan.x11Ms, 500),
      hasher,
      fileLimit: plan.fileLimit.used,
      workDir,
      progress,
    });
  }
  const books = booksResult ? summarizeBooks(booksResult) : null;
  const goals = readGoals(sizes, shares, books, byWorkers);
  const fewest = sizes.filter((x) => x.workers === plan.workers[0]);
  const extrapolation = fewest.length && !plan.sizes.some((n) => n >= 100_000) ? extrapolate(fewest, shares, plan.maxDevices) : null;

  const finishedAt = new Date();
  const base = join(plan.out, `bench-${stamp}`);
  const files: BenchReport['files'] = { json: `${base}.json`, text: `${base}.txt`, svg: null, png: null, chartNote: null, workDir };
  if (plan.parts.chart && fewest.length > 0) {
    const subtitle = `dash-farm-proxy ${finishedAt.toISOString().slice(0, 16).replace('T', ' ')} · ${cpus().length} CPUs · medians of ${plan.repeat} run(s) · ${plan.jobs} jobs every ${plan.intervalMs} ms · own fan-out client${plan.crossCheck ? ' and fanout-bench.js' : ''}`;
    const chart = await writeChart(chartSvg(fewest, subtitle), `${base}.svg`, `${base}.png`);
    files.svg = `${base}.svg`;
    files.png = chart.png;
    files.chartNote = chart.why;
  }
  const { out: _out, ...planForJson } = plan;
  void _out;
  const report: BenchReport = {
    bench: 'dash-farm-proxy bench/1',
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    elapsedSeconds: Math.round((finishedAt.getTime() - startedAt.getTime()) / 100) / 10,
    env: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? null, loadavgStart: envStart.loadavg, loadavgEnd: machineFacts().loadavg, somaxconn: envStart.somaxconn, ephemeralPorts: envStart.ephemeralPorts, repo: repoRoot },
    plan: planForJson,
    fanout: { sizes, runs },
    shares: { summary: shares, byWorkers, runs: sharePhases, errors: shareErrors },
    books: { summary: books, result: booksResult },
    goals,
    extrapolation,
    files,
  };
  writeFileSync(files.json, JSON.stringify(report, null, 2) + '\n');
  writeFileSync(files.text, renderText(report) + '\n');
  return report;
}

export function renderText(r: BenchReport): string {
  const parts: string[] = [];
  parts.push(
    `dash-farm-proxy benchmark, ${r.startedAt.slice(0, 19).replace('T', ' ')} UTC, ${r.env.cpus} CPUs, Node ${r.env.node}, load average ${(r.env.loadavgStart as number[]).join(' ')} -> ${(r.env.loadavgEnd as number[]).join(' ')}, ` +
      `open-files limit ${r.plan.fileLimit.used} (max ${r.plan.maxDevices.toLocaleString('en-US')} devices per process)` +
      (r.fanout.sizes.length || r.shares.summary ? `, fan-out and shares: medians of ${r.plan.repeat} run(s), range in brackets` : ''),
  );
  if (r.fanout.sizes.length) {
    const crossCheck = r.plan.crossCheck
      ? `; beside it the same proxy measured by ${r.plan.crossCheck}, and its trivial Node relay (the floor)`
      : '; no cross-check (the shared fanout-bench.js was not found or was left out)';
    parts.push(
      '',
      `Fan-out and memory (own client: ${r.plan.jobs} jobs every ${r.plan.intervalMs} ms after 1 warm-up job, devices connected at ${r.plan.connectRate}/s, ` +
        `latency from the pool's write to each device's read, job p99 and last delivery = medians over jobs; the proxy's memory and CPU summed over its processes (primary and workers); ` +
        `more than ${r.plan.fleetProcessDevices.toLocaleString('en-US')} devices come from several fleet processes, each from its own source address 127.0.0.x, timed on the host-wide monotonic clock${crossCheck}; ckpool = fanout-bench.README.md, same machine):`,
      '',
      fanoutTable(r.fanout.sizes),
      '',
      'Each job (own client):',
      '',
      fanoutJobsTable(r.fanout.runs),
    );
  }
  const s = r.shares.summary;
  if (s) {
    parts.push(
      '',
      `Shares (${r.shares.byWorkers[0]?.workers ?? 1} proxy worker(s), ${s.devices} devices, every submit a unique valid share, fully validated and forwarded; merkle branch ${s.merkleBranch}, coinbase ${s.coinbaseBytes} B; ` +
        `raw X11 ${s.rawX11HashesPerSecond.median?.toLocaleString('en-US') ?? '?'} hashes/s on one core (${s.rawX11HashesPerCpuSecond.median?.toLocaleString('en-US') ?? '?'} per CPU second), same run; ` +
        'forward = device send -> pool receive; per CPU s = validated shares per second of proxy CPU time against X11 hashes per second of CPU time):',
      '',
      sharesTable(s),
      '',
      `Best: ${s.best.validatedPerSecond?.toLocaleString('en-US') ?? '-'} validated shares/s (${s.best.ratioToRawX11 ?? '-'} of raw X11); per second of proxy CPU: ${s.best.validatedPerCpuSecond?.toLocaleString('en-US') ?? '-'} (${s.best.cpuRatioToRawX11 ?? '-'} of raw X11).`,
    );
  }
  if (r.shares.byWorkers.length > 1) {
    parts.push(
      '',
      `Shares with ${r.shares.byWorkers.map((x) => x.workers).join(' and ')} proxy workers (the best offered rate of each; the load generator and the pool are one process on the same ${r.env.cpus} cores, its CPU share beside the proxy's):`,
      '',
      shareScalingTable(r.shares.byWorkers),
    );
    for (const x of r.shares.byWorkers.slice(1)) if (x.summary) parts.push('', `Shares, ${x.workers} workers:`, '', sharesTable(x.summary));
  }
  if (r.shares.errors.length) parts.push('', `Share runs that failed: ${r.shares.errors.join('; ')}`);
  const b = r.books.summary;
  if (b) parts.push('', booksText(b, r.plan));
  if (r.books.result?.errors.length) parts.push('', `Books runs that failed: ${r.books.result.errors.join('; ')}`);
  const incomplete = r.fanout.runs.filter((x) => !x.complete);
  if (incomplete.length) parts.push('', `Incomplete fan-out runs: ${incomplete.map((x) => `${x.client} ${x.target} ${x.devices}: ${x.error ?? `${x.missed} deliveries missed`}`).join('; ')}`);
  if (r.goals.length) parts.push('', 'Goals (reported, not enforced):', '', goalsTable(r.goals));
  if (r.extrapolation) parts.push('', extrapolationText(r.extrapolation));
  parts.push('', `Files: ${r.files.json}${r.files.png ? `, ${r.files.png}` : ''}${r.files.chartNote ? ` (chart: ${r.files.chartNote})` : ''}; proxy configs and logs in ${r.files.workDir}`);
  return parts.join('\n');
}

function booksText(b: BooksSummary, plan: BenchReport['plan']): string {
  const parts: string[] = [];
  const load = `load average ${b.loadavg.start.join(' ')} -> ${b.loadavg.end.join(' ')} over this part`;
  const pgNote = 'missing' in b.postgres ? `PostgreSQL not measured: ${b.postgres.missing}` : `PostgreSQL: a throwaway cluster on loopback with ${b.postgres.settings.join(', ')}, bytes = pg_total_relation_size of the ledger's tables`;
  const c = b.commits[0];
  if (c) {
    parts.push(
      `Books (${load}): the ledger's commit rate and size (a LedgerWriter with the app's defaults, group commits at most every 100 ms, fed ${c.shares.toLocaleString('en-US')} synthetic shares ` +
        `from ${c.workers.toLocaleString('en-US')} workers, ${c.sharesPerWorkerMinute} per worker per minute, as fast as it commits; SQLite: bytes of the file, and of each table with its indexes from dbstat; ${pgNote}):`,
      '',
      booksCommitTable(b),
      '',
    );
  } else parts.push(`Books (${load}): no commit measurement; ${pgNote}.`, '');
  const unreached = b.rates.filter((r) => r.reached === false);
  parts.push(
    `Books: share path forwarding latency with the ledger on and off (${plan.shareDevices} devices, ${plan.shareSeconds} s per rate, with ledger.path set to a new SQLite file and without it, ` +
      `${b.pairs} pair(s) run alternately on, off, on, off...; figures are medians over pairs, range in brackets; p99 on / off read twice: the median of each pair's own ratio, and the ratio of the medians; the goal is met when both are at most ${BOOKS_P99_GOAL}x, and not judged at a rate the proxy did not reach; ` +
      `share rows written per run with the ledger on: ${b.ledgerShareRows.map((n) => (n === null ? 'none' : n.toLocaleString('en-US'))).join(', ')}):`,
    '',
    booksLatencyTable(b),
  );
  if (unreached.length) {
    parts.push(
      '',
      `Not reached: ${unreached.map((r) => `${r.offeredPerSecond.toLocaleString('en-US')}/s offered, ${r.reachedPerSecond?.toLocaleString('en-US') ?? '?'}/s validated`).join('; ')} ` +
        `(below ${BOOKS_RATE_REACHED * 100}% of the offer): the proxy could not take that rate on this machine, so those figures are at its limit, not at the rate offered, and the goal is not judged there.`,
    );
  }
  if (b.sizePerDay.length) {
    parts.push(
      '',
      "Books: size per day from the bytes per row above; the books keep a row per share sent to the pool and a row per device per minute: 12 pool shares per device-minute when the pool's " +
        "difficulty is at or below the devices' (every share forwarded, the vardiff target rate), 1 when it is 12 times theirs:",
      '',
      booksSizeTable(b),
    );
  }
  return parts.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const plan = planOrExitCode('bench', argv, benchFlags, { summary: 'Benchmark: devices held, memory per device, job fan-out latency against the relay floor, share throughput against raw X11, forwarding latency, CPU per share; the books: ledger commits per second and bytes per million shares (SQLite, and PostgreSQL when installed), forwarding latency with the ledger on and off.', usage: 'npm run bench -- [options]' }, planFromArgs);
  if (typeof plan === 'number') return plan;
  const report = await runBench(plan);
  process.stdout.write(renderText(report) + '\n');
  return 0;
}

runWhenScript({ file: 'run', name: 'bench' }, main);
