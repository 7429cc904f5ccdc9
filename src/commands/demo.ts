import { createProxyApp } from '../app.js';
import { buildConfig } from '../config.js';
import { loadX11Wasm } from '../chain/x11-wasm.js';
import { createLogger } from '../core/log.js';
import { SimFleet, type SimFleetStats } from '../sim/fleet.js';
import type { SimPoolStats } from '../sim/pool.js';
import type { FarmSummary } from '../observe/farm-ledger.js';
import type { Command } from './command.js';
import { UsageError } from './command.js';
import { defineFlags } from './flags.js';
import { runUntilSignal } from './start.js';
import { formatHashrate } from '../util/format.js';
import { DEMO_FARM_OWNER, DEMO_OWNERS, demoBooksFile, demoWorkerName, readDemoBooks, type DemoBooks } from './demo-books.js';
import { DEMO_SPLIT_POOL_DIFFICULTY, demoSplit, formatDemoSplit, startDemoPools, type DemoSplit } from './demo-routes.js';
import { DEMO_DASHD_NAME, DEMO_SOLO_UPSTREAM, demoSoloDashd, readDemoSoloBooks, scheduleOutage, startDemoDashd, type DemoDashd, type DemoSoloSummary } from './demo-solo.js';

/**
 * The whole product on one machine: a simulated Dash pool, the proxy in front of it, and a simulated fleet of
 * ASICs that really hash X11, all on loopback. Progress on stderr; the last stdout line is a JSON summary.
 * The proxy keeps its books (a temporary SQLite file unless told otherwise) for a few demo owners
 * (demo-books.ts); the summary says what the books hold for each of them. With `--routes split` there are two
 * simulated pools and the farm's hashrate is split 70/30 between them (demo-routes.ts); the summary then
 * says the split achieved against the weights.
 */
/** The simulated pool's share difficulty when --pool-difficulty is not given (one pool). */
const DEMO_POOL_DIFFICULTY = 6e-6;

const flags = defineFlags({
  devices: { type: 'int', default: 20, min: 1, max: 19_000, help: 'simulated ASICs' },
  duration: { type: 'duration', default: 0, min: 0, help: 'stop after this long (e.g. 30s, 5m); 0 runs until Ctrl-C' },
  hashrate: { type: 'number', default: 500, positive: true, help: 'X11 hashes per second per simulated device (really computed)' },
  maxHashrate: { type: 'number', default: 25_000, positive: true, help: 'cap on the whole fleet\'s hashes per second (it shares this machine with the proxy)' },
  port: { type: 'int', default: 3333, min: 0, max: 65535, help: 'Stratum port of the proxy (0: any free port)' },
  httpPort: { type: 'int', default: 8080, min: 0, max: 65535, help: 'HTTP port: dashboard, /metrics, /api (0: any free port)' },
  poolDifficulty: {
    type: 'number',
    positive: true,
    help: `the simulated pools' share difficulty (default ${DEMO_POOL_DIFFICULTY.toExponential()}; ${DEMO_SPLIT_POOL_DIFFICULTY.toExponential()} with --routes split, so each pool counts thousands of shares)`,
  },
  routes: {
    type: 'enum',
    choices: ['none', 'split'] as const,
    default: 'none',
    help: "split: two simulated pools, the farm's hashrate split 70/30 between them by measured hashrate (a second pool's share); the summary prints the split achieved against the weights",
  },
  solo: {
    type: 'enum',
    choices: ['none', 'failover', 'only'] as const,
    default: 'none',
    help: "a simulated dashd too (solo mining): 'only' mines solo on it (blocks submitted, ChainLocked and their reward split among the owners); 'failover' puts it after the pool, which goes away for the middle third of the run and comes back",
  },
  soloBlockSeconds: { type: 'number', default: 10, positive: true, help: "--solo: how often the fleet finds a block on the simulated dashd, on average (sets the dashd's network difficulty from the fleet's hashrate)" },
  misbehave: { type: 'number', default: 0.01, min: 0, max: 0.5, help: 'share of submits that are duplicate, stale, low-difficulty or malformed (exercises every reject path)' },
  progress: { type: 'duration', default: 5000, min: 500, help: 'how often progress is printed' },
  books: { type: 'string', help: 'keep the books in this SQLite file (kept at exit; default: a temporary file, removed at exit)' },
  keepBooks: { type: 'boolean', default: false, help: 'keep the temporary books file at exit (its path is printed)' },
  logLevel: { type: 'enum', choices: ['debug', 'info', 'warn', 'error'] as const, default: 'warn', help: 'proxy log level' },
});

/** The demo's closing line. The proxy's counts are the farm ledger's, in its words (see farm-ledger.ts). */
export interface DemoSummary extends Pick<FarmSummary, 'accepted' | 'forwarded' | 'poolAccepted' | 'poolRejected' | 'poolUnanswered' | 'inFlight' | 'blockCandidates' | 'hashrate'> {
  devices: number;
  durationSeconds: number;
  /** The proxy's rejections by reason. */
  rejected: Record<string, number>;
  /** The simulated pools' own counts (summed): shares received, accepted and rejected by them, blocks. */
  pool: { submitted: number; accepted: number; rejected: number; rejectedByCode: Record<string, number>; blocks: number };
  fleet: {
    submitted: number;
    accepted: number;
    rejected: number;
    reconnects: number;
    /** Shares the fleet made bad on purpose (--misbehave): the proxy should reject these. */
    deliberatelyBad: number;
    /** Honest shares the device heard rejected: 0 unless a share was in flight when its job went stale (new block, pool reconnect) or the pool did not answer. */
    validRejected: number;
  };
  /** The books of this run, per owner, read from the file after the stop (or why they could not be read). */
  books?: DemoBooks | { file: string; kept: boolean; error: string };
  /** `--routes split`: the split achieved in each pool's accepted work, against the weights. */
  split?: DemoSplit;
  /** `--solo`: the blocks dashd accepted (its own count), the proxy submitted and the books split. */
  solo?: DemoSoloSummary;
}

const command: Command = {
  name: 'demo',
  summary: 'simulated pool + proxy + simulated fleet',
  help: flags.helpText({
    summary: 'Runs a simulated Dash pool, the proxy and a fleet of simulated ASICs that really hash X11, all on this machine.\nOpen the printed dashboard address in a browser; the last line on stdout is a JSON summary.',
    usage: 'dash-farm-proxy demo [--devices N] [--duration 30s] [--routes split] [options]',
    footer: [
      'Examples:',
      '  dash-farm-proxy demo --devices 20 --duration 30s',
      '  dash-farm-proxy demo --routes split --duration 1m',
      '',
      "--routes split runs two simulated pools: the farm's default route has two targets, 'main' (weight 70) and",
      "'second-pool-share' (weight 30), each with its own pool login. The proxy measures each device's hashrate,",
      'places whole devices so the measured hashrate matches the weights and time-slices the device on the cut.',
      "The closing summary (and its JSON 'split') gives each target's part of the pool-accepted work, counted",
      "by its simulated pool, beside its weight and the proxy's own per-target count (also at /api/routes).",
      '',
      '--solo only mines on a simulated dashd (the farm\'s own pool): every block found is sent with submitblock,',
      "judged by the simulator's own code, followed to its ChainLock, and its reward split among the owners in",
      "the books. --solo failover puts the dashd after the pool: the pool goes away for the middle third of the",
      'run, the proxy mines solo meanwhile and returns to the pool when it is back, without dropping a device.',
      "The summary's 'solo' part gives dashd's own block counts beside the proxy's and the books'.",
    ],
  }),
  async run(argv) {
    const v = flags.parse(argv);
    if (v.solo !== 'none' && v.routes === 'split') throw new UsageError('--solo and --routes split: pick one (the split demo has no dashd)');
    const log = createLogger({ level: v.logLevel, format: 'pretty' });
    const hasher = await loadX11Wasm();
    const poolDifficulty = v.poolDifficulty ?? (v.routes === 'split' ? DEMO_SPLIT_POOL_DIFFICULTY : DEMO_POOL_DIFFICULTY);
    const sims = await startDemoPools(v.routes, { difficulty: poolDifficulty, hasher });
    let solo: DemoDashd | null = null;
    if (v.solo !== 'none') {
      try {
        solo = await startDemoDashd({ hasher, shareDifficulty: poolDifficulty, hashesPerSecond: Math.min(v.devices * v.hashrate, v.maxHashrate), blockSeconds: v.soloBlockSeconds });
      } catch (err) {
        await sims.close();
        throw err;
      }
    }
    // Solo only: the dashd is the pool list (the simulated pool stays idle); failover: after the pool.
    const pools = solo === null ? sims.config.pools : v.solo === 'only' ? [solo.entry] : [...sims.config.pools, solo.entry];
    const books = demoBooksFile(v.books, v.keepBooks);
    // Device difficulty: vardiff aims at 12 shares a minute; start near that for the configured hashrate.
    const ideal = v.hashrate / ((12 / 60) * 2 ** 32);
    const config = buildConfig({
      ...sims.config,
      pools,
      ...(solo !== null && { upstream: DEMO_SOLO_UPSTREAM }),
      listen: { host: '127.0.0.1', port: v.port, tls: null },
      http: { host: '127.0.0.1', port: v.httpPort, token: null, allowedOrigins: [] },
      expectedDevices: v.devices,
      difficulty: { start: Number(ideal.toPrecision(3)), min: 1e-9, max: 1e9, targetSharesPerMinute: 12, retargetSeconds: 30, maxStep: 4, multiplier: 1 },
      log: { level: v.logLevel, format: 'pretty' },
      shutdown: { drainSeconds: 5 },
      ledger: { path: books.path },
      owners: DEMO_OWNERS,
      books: { farmOwner: DEMO_FARM_OWNER },
    });
    const app = await createProxyApp(config, { hasher, log });
    let addrs: Awaited<ReturnType<typeof app.start>>;
    try {
      addrs = await app.start();
    } catch (err) {
      await app.stop();
      await sims.close();
      await solo?.close();
      books.cleanup();
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'EADDRINUSE') throw new UsageError(`a port is already in use (${e.message}): pick others with --port and --http-port (0 = any free port)`);
      throw err;
    }
    const r = v.misbehave / 4;
    const fleet = new SimFleet({
      port: addrs.stratum.port,
      devices: v.devices,
      hashrate: v.hashrate,
      maxHashrate: v.maxHashrate,
      workerName: demoWorkerName,
      hasher,
      misbehaviour: { duplicate: r, stale: r, lowDifficulty: r, malformed: r },
    });
    const out = process.stderr;
    out.write(
      [
        'dash-farm-proxy demo',
        ...(v.solo === 'only' ? [] : sims.describe(poolDifficulty)),
        ...(solo?.describe() ?? []),
        ...(v.solo === 'failover' ? [`  outage           the simulated pool goes away ${v.duration > 0 ? `from ${Math.round(v.duration / 3000)} s to ${Math.round(v.duration / 1500)} s` : 'from 30 s to 60 s'}: the proxy mines solo on ${DEMO_DASHD_NAME} meanwhile`] : []),
        `  proxy (devices)  stratum+tcp://127.0.0.1:${addrs.stratum.port}`,
        `  dashboard        http://127.0.0.1:${addrs.http.port}/`,
        `  metrics          http://127.0.0.1:${addrs.http.port}/metrics   API: http://127.0.0.1:${addrs.http.port}/api/summary`,
        `  fleet            ${v.devices} simulated ASICs at ${formatHashrate(v.hashrate)} each (real X11)`,
        `  owners           alice (rack1.*, fee 2%), bob (bob.*, fee 0), ${DEMO_FARM_OWNER} (the rest)`,
        `  books            ${books.path}${books.temporary ? ' (removed at exit; --keep-books keeps it)' : ' (kept)'}`,
        v.duration > 0 ? `  running for ${v.duration / 1000} s (Ctrl-C stops earlier)` : '  press Ctrl-C to stop',
        '',
      ].join('\n'),
    );
    const started = Date.now();
    await fleet.start();
    const cancelOutage = v.solo === 'failover' ? scheduleOutage(sims.pools[0]!, v.duration, (line) => out.write(line)) : () => {};
    const progress = setInterval(() => {
      const s = app.ledger.summary();
      const rejected = Object.entries(s.rejectedByReason).map(([k, n]) => `${k} ${n}`).join(', ');
      const split = v.routes === 'split' ? `  split ${formatDemoSplit(demoSplit(sims.pools.map((p) => p.stats()), app.ledger.routeList()))}` : '';
      const mining = solo === null ? '' : `  on ${app.ledger.poolList().filter((p) => p.active).map((p) => p.name).join(', ') || 'no pool'}  solo blocks ${s.blocksSubmitted.accepted} accepted${s.blocksSubmitted.rejected > 0 ? `, ${s.blocksSubmitted.rejected} rejected` : ''}`;
      out.write(
        `t=${Math.round((Date.now() - started) / 1000)}s  devices ${s.devicesOnline}/${v.devices} online  accepted ${s.accepted}  rejected ${s.rejected}${rejected ? ` (${rejected})` : ''}  forwarded ${s.forwarded}  pool accepted ${s.poolAccepted}  blocks ${s.blockCandidates}  hashrate ${formatHashrate(s.hashrate)}${split}${mining}\n`,
      );
    }, v.progress);
    progress.unref();

    const stopAll = async () => {
      clearInterval(progress);
      cancelOutage();
      await fleet.stop();
      await app.stop();
      await sims.close();
      await solo?.close();
    };
    const code = await runUntilSignal(stopAll, v.duration > 0 ? { afterMs: v.duration } : {});
    const poolStats = sims.pools.map((p) => p.stats());
    const summary: DemoSummary = demoSummary(app.ledger.summary(), poolStats, fleet.stats(), v.devices, (Date.now() - started) / 1000);
    if (v.routes === 'split') {
      summary.split = demoSplit(poolStats, app.ledger.routeList());
      out.write(`split achieved: ${formatDemoSplit(summary.split)}\n`);
    }
    if (solo !== null) summary.solo = { mode: v.solo as DemoSoloSummary['mode'], dashd: demoSoloDashd(solo.dashd.stats()), proxy: { ...app.ledger.summary().blocksSubmitted } };
    // The proxy has stopped: the books are closed, with every share the pool answered.
    const range = { from: app.books!.run.startedAt, to: Date.now() + 1 };
    try {
      summary.books = await readDemoBooks(books.path, range, DEMO_OWNERS, DEMO_FARM_OWNER, !books.temporary);
      if (summary.solo) summary.solo.books = await readDemoSoloBooks(books.path, range).catch((err: Error) => ({ error: err.message }));
    } catch (err) {
      summary.books = { file: books.path, kept: !books.temporary, error: (err as Error).message };
    } finally {
      books.cleanup();
    }
    process.stdout.write(JSON.stringify(summary) + '\n');
    return code;
  },
};

/** The closing summary from the ledger's summary `s`, the simulated pools' and the fleet's own counts. */
export function demoSummary(s: FarmSummary, pools: SimPoolStats[], f: SimFleetStats, devices: number, seconds: number): DemoSummary {
  const rejected: Record<string, number> = {};
  for (const [k, n] of Object.entries(s.rejectedByReason)) rejected[k] = n ?? 0;
  const sum = (pick: (p: SimPoolStats) => number) => pools.reduce((n, p) => n + pick(p), 0);
  return {
    devices,
    durationSeconds: Math.round(seconds * 10) / 10,
    accepted: s.accepted,
    rejected,
    forwarded: s.forwarded,
    poolAccepted: s.poolAccepted,
    poolRejected: s.poolRejected,
    poolUnanswered: s.poolUnanswered,
    inFlight: s.inFlight,
    blockCandidates: s.blockCandidates,
    hashrate: Math.round(s.hashrate),
    pool: {
      submitted: sum((p) => p.totals.submitted),
      accepted: sum((p) => p.totals.accepted),
      rejected: sum((p) => p.totals.rejected),
      rejectedByCode: rejectedByCode(pools),
      blocks: sum((p) => p.totals.blocks),
    },
    fleet: {
      submitted: f.totals.submitted,
      accepted: f.totals.accepted,
      rejected: f.totals.rejected,
      reconnects: f.reconnects,
      deliberatelyBad: f.totals.submitted - f.byKind.valid.submitted,
      validRejected: f.byKind.valid.rejected,
    },
  };
}

/** The pools' rejections by Stratum error code, summed over the pools. */
function rejectedByCode(pools: SimPoolStats[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of pools) for (const [code, n] of Object.entries(p.totals.rejectedByCode)) out[code] = (out[code] ?? 0) + (n ?? 0);
  return out;
}

export default command;
