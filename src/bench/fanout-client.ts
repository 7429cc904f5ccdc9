import { runWhenScript } from './script.js';
import { performance } from 'node:perf_hooks';
import { BenchPool } from './bench-pool.js';
import { fanoutFigures, type FanoutMeasurement, type JobReading } from './fanout-figures.js';
import { FanoutFleet } from './fanout-fleet.js';
import { FIRST_SOURCE_HOST, ProcessFleet } from './fleet-processes.js';
import { openFilesLimit, processTree, treeCpuSeconds, treeRssKiB } from './proc.js';
import { startInBackground, type Background } from './processes.js';
import { waitForWorkers } from './proxy-cluster.js';
import { round, summarize } from './stats.js';

/**
 * The benchmark's own fan-out client, run as a child process (src/bench/fanout.ts starts it under a raised
 * open-files limit, which the proxy it starts inherits). It plays both ends of the proxy on 127.0.0.1:
 *
 *  1. the scripted pool (bench-pool.ts) listens; the proxy is started (`proxyArgv`) and must subscribe and
 *     authorize there; one probe device must get work through it;
 *     with several workers, every worker must be ready (`/api/cluster`);
 *  2. the proxy's resident memory is read (after `settleMs`), N devices connect (fanout-fleet.ts: in this
 *     process, or spread over `fleetParts` child processes from source addresses 127.0.0.x when one process
 *     cannot hold them, fleet-processes.ts), and it is read again once every device holds a job; the
 *     proxy's memory and CPU are those of its process and every process below it (its workers);
 *  3. the pool moves to a new block every `intervalMs` (warm-up jobs first) and the fleet records when each
 *     device got each job: latency = device read - pool write, one clock;
 *  4. the proxy is stopped, and one JSON line (FanoutMeasurement) is printed on stdout.
 *
 * Every wait is bounded; a step that times out ends the run with `error` set and what was measured so far.
 *
 *   node fanout-client.js '{"poolPort":...,"proxyPort":...,"proxyArgv":[...],...}'
 */

export interface OwnClientOptions {
  poolPort: number;
  proxyPort: number;
  /** The command that starts the proxy in the foreground (configured for poolPort and proxyPort). */
  proxyArgv: string[];
  proxyLog: string;
  /** The proxy's worker processes (its config says so) and its HTTP port (for `/api/cluster`). */
  workers: number;
  httpPort: number;
  /** 0: the devices connect from this process; K >= 1: from K child processes (fleet-processes.ts). */
  fleetParts: number;
  /** Open-files limit of each fleet child. */
  fileLimit: number;
  devices: number;
  jobs: number;
  warmupJobs: number;
  intervalMs: number;
  settleMs: number;
  connectRate: number;
  /** Pool difficulty (the proxy's devices start below it). */
  poolDifficulty: number;
  /** Transactions besides the coinbase in every job (1023: a merkle branch of 10, as in fanout-bench.js). */
  txCount: number;
  /** How long the proxy may take to reach the pool and then to serve the probe device. */
  upstreamWaitMs: number;
  /** How long the N devices may take to connect and hold a job, beyond N / connectRate. */
  readyWaitMs: number;
  /** After the last job: the most to wait for late deliveries. */
  tailMs: number;
}

class StepFailed extends Error {}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves when `done()` holds (checked every 5 ms) or at `timeoutMs`; true if it held. */
async function waitUntil(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() >= end) return false;
    await sleep(5);
  }
  return true;
}

/** Proxies started and not yet stopped: ended if this process is told to stop. */
const running = new Set<Background>();
/** Fleet children alive: ended likewise. */
const fleets = new Set<ProcessFleet>();

/** The devices, in this process or spread over child processes: what the measurement needs of them. */
type Fleet = FanoutFleet | ProcessFleet;

/** How often the progress says how many devices are ready while they connect. */
const CONNECT_PROGRESS_MS = 5000;

export async function measureFanout(o: OwnClientOptions, say: (line: string) => void = () => {}): Promise<FanoutMeasurement> {
  const pool = new BenchPool({ difficulty: o.poolDifficulty, txCount: o.txCount });
  const writtenAt: number[] = [];
  const jobLatencies: Float64Array[] = [];
  const busyMs: number[] = [];
  let proxy: Background | null = null;
  let fleet: Fleet | null = null;
  let held = 0;
  let rssBeforeKiB: number | null = null;
  let rssAfterKiB: number | null = null;
  let rssEndKiB: number | null = null;
  const cpu: FanoutMeasurement['cpu'] = { proxySecConnect: null, proxySecFanout: null, benchSecFanout: null };
  let proxyFileLimit: number | null = null;
  let connectSeconds: number | null = null;
  let proxyProcesses: number | null = null;
  let error: string | null = null;
  let connectError: string | null = null;
  try {
    await pool.listen(o.poolPort);
    proxy = startInBackground(o.proxyArgv[0]!, o.proxyArgv.slice(1), o.proxyLog);
    running.add(proxy);
    const pid = proxy.pid;
    let exited: string | null = null;
    void proxy.exited.then((e) => (exited = `the proxy exited (${e.code ?? e.signal}); see ${o.proxyLog}`));
    const step = async (what: string, done: () => boolean, timeoutMs: number) => {
      const ok = await waitUntil(() => done() || exited !== null, timeoutMs);
      if (exited !== null) throw new StepFailed(`${what}: ${exited}`);
      if (!ok) throw new StepFailed(`${what}: not within ${Math.round(timeoutMs / 1000)} s`);
    };

    await step('the proxy subscribes and authorizes at the pool', () => pool.authorizedSessions > 0, o.upstreamWaitMs);
    // The proxy may still be binding its device port: the probe is retried until the same deadline.
    const probeEnd = performance.now() + o.upstreamWaitMs;
    let probed = false;
    while (!probed && performance.now() < probeEnd && exited === null) {
      const probe = new FanoutFleet({ port: o.proxyPort, devices: 1, connectRate: 10, maxSettingUp: 1, jobs: 0, workerPrefix: 'probe.d' });
      probed = (await probe.connect(Math.min(10_000, probeEnd - performance.now()))).ready === 1;
      probe.close();
      if (!probed) await sleep(200);
    }
    if (!probed) throw new StepFailed(exited ?? `a probe device got no work from the proxy within ${Math.round(o.upstreamWaitMs / 1000)} s`);
    if (o.workers > 1 && !(await waitForWorkers(o.httpPort, o.workers, o.upstreamWaitMs, () => exited !== null))) {
      throw new StepFailed(exited ?? `/api/cluster did not list ${o.workers} ready workers within ${Math.round(o.upstreamWaitMs / 1000)} s`);
    }
    proxyFileLimit = openFilesLimit(pid)?.soft ?? null;

    await sleep(o.settleMs);
    rssBeforeKiB = treeRssKiB(pid);
    const totalJobs = o.warmupJobs + o.jobs;
    const maxSettingUp = 500;
    let f: Fleet;
    if (o.fleetParts >= 1) {
      const pf = new ProcessFleet({ port: o.proxyPort, devices: o.devices, parts: o.fleetParts, connectRate: o.connectRate, maxSettingUp, jobs: totalJobs, fileLimit: o.fileLimit, firstSourceHost: FIRST_SOURCE_HOST });
      fleets.add(pf);
      say(`${o.devices.toLocaleString('en-US')} devices from ${o.fleetParts} processes (${pf.sourceAddresses.join(', ')})`);
      f = pf;
    } else f = new FanoutFleet({ port: o.proxyPort, devices: o.devices, connectRate: o.connectRate, maxSettingUp, jobs: totalJobs });
    fleet = f;
    const cpuConnect0 = treeCpuSeconds(pid);
    const t0 = performance.now();
    const ticker = setInterval(() => say(`connecting: ${f.ready.toLocaleString('en-US')} of ${o.devices.toLocaleString('en-US')} devices hold a job after ${((performance.now() - t0) / 1000).toFixed(0)} s`), CONNECT_PROGRESS_MS);
    // Twice the time the connect rate takes, and room: a loaded machine slows the handshakes.
    const connected = await f.connect((2 * o.devices * 1000) / o.connectRate + o.readyWaitMs).finally(() => clearInterval(ticker));
    connectSeconds = connected.seconds;
    cpu.proxySecConnect = difference(cpuConnect0, treeCpuSeconds(pid));
    proxyProcesses = processCount(pid);
    if (connected.failed > 0) {
      // Reported, and the jobs still go to the devices held (the run is then incomplete).
      const reasons = Object.entries(connected.reasons).map(([r, n]) => `${n} ${r}`).join(', ');
      connectError = `${connected.failed} of ${o.devices} devices got no work: ${reasons}`;
      say(connectError);
    }
    if (connected.ready === 0) throw new StepFailed(connectError ?? 'no device got work');
    say(`${connected.ready.toLocaleString('en-US')} devices hold a job after ${connected.seconds.toFixed(1)} s`);
    await sleep(o.settleMs);
    rssAfterKiB = treeRssKiB(pid);

    let cpuFanout0: number | null = null;
    let benchCpuSeconds = 0;
    pool.prepareBlock();
    for (let k = 0; k < totalJobs; k++) {
      if (k === o.warmupJobs) {
        cpuFanout0 = treeCpuSeconds(pid);
        benchCpuSeconds = 0;
      }
      const cpu0 = loadCpuSeconds(f);
      // The devices (in child processes: every one of them) search for the job before it is written.
      await f.expect(k, pool.preparedPrevhash()!);
      const job = pool.writeBlock();
      const elu0 = performance.eventLoopUtilization();
      writtenAt.push(job.writtenAt);
      const last = k === totalJobs - 1;
      // Until every device has it (or the next job is due; after the last one, the tail wait).
      await waitUntil(() => f.allHave(k) || exited !== null, last ? o.tailMs : o.intervalMs);
      // This process's busy time is the load generator's only when the devices are in it.
      busyMs.push(f instanceof ProcessFleet ? NaN : performance.eventLoopUtilization(elu0).active);
      benchCpuSeconds += loadCpuSeconds(f) - cpu0;
      const seen = summarize(await f.latencies(k, job.writtenAt));
      const name = k < o.warmupJobs ? `warm-up job ${k + 1}` : `job ${k - o.warmupJobs + 1}`;
      say(`${name}: ${seen.count}/${f.ready} delivered, p50 ${round(seen.p50)} p99 ${round(seen.p99)} max ${round(seen.max)} ms`);
      if (exited !== null) throw new StepFailed(exited);
      if (!last) {
        pool.prepareBlock();
        await sleep(Math.max(0, job.writtenAt + o.intervalMs - performance.now()));
      }
    }
    cpu.proxySecFanout = difference(cpuFanout0, treeCpuSeconds(pid));
    // The load generator's CPU (this process and the fleet's) while the measured jobs were delivered.
    cpu.benchSecFanout = benchCpuSeconds;
    rssEndKiB = treeRssKiB(pid);
    // Read before the proxy stops (stopping it drops every device).
    for (let k = 0; k < totalJobs; k++) jobLatencies.push(await f.latencies(k, writtenAt[k]!));
  } catch (err) {
    if (!(err instanceof StepFailed)) throw err;
    error = err.message;
  } finally {
    // Devices held are counted before the proxy stops (stopping it drops them all).
    held = fleet?.ready ?? 0;
    // A run cut short still reports the jobs written so far.
    if (fleet && jobLatencies.length < writtenAt.length) {
      jobLatencies.length = 0;
      for (let k = 0; k < writtenAt.length; k++) jobLatencies.push(await Promise.resolve(fleet.latencies(k, writtenAt[k]!)).catch(() => new Float64Array(0)));
    }
    if (proxy) {
      await proxy.stop();
      running.delete(proxy);
    }
    await fleet?.close();
    if (fleet instanceof ProcessFleet) fleets.delete(fleet);
    await pool.close();
  }
  return fanoutFigures({
    devices: o.devices,
    connected: held,
    warmupJobs: o.warmupJobs,
    // Read at the end: a delivery that came after the next job was written still counts for its own job.
    jobs: writtenAt.map((_, k): JobReading => ({ latencies: jobLatencies[k] ?? new Float64Array(0), loadBusyMs: busyMs[k] ?? null })),
    rssBeforeKiB,
    rssAfterKiB,
    rssEndKiB,
    cpu,
    proxyFileLimit,
    connectSeconds,
    proxyProcesses,
    error: error ?? connectError,
  });
}

/** CPU seconds of the load generator so far: this process, and the fleet's children when there are. */
function loadCpuSeconds(f: Fleet): number {
  const own = process.cpuUsage();
  return (own.user + own.system) / 1e6 + (f instanceof ProcessFleet ? f.cpuSeconds() : 0);
}

function processCount(pid: number): number {
  return processTree(pid).length;
}

function difference(before: number | null, after: number | null): number | null {
  return before !== null && after !== null ? after - before : null;
}

async function main(argv: string[]): Promise<number> {
  const text = argv[0];
  if (!text || argv.length !== 1) {
    process.stderr.write('fanout-client: run by the benchmark (src/bench/fanout.ts) with its options as one JSON argument\n');
    return 2;
  }
  const options = JSON.parse(text) as OwnClientOptions;
  const stop = () => {
    for (const p of running) p.child.kill('SIGKILL');
    for (const f of fleets) f.kill();
    process.exit(2);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const result = await measureFanout(options, (line) => process.stderr.write(`${line}\n`));
  process.stdout.write(JSON.stringify(result) + '\n');
  return result.complete ? 0 : 2;
}

runWhenScript({ file: 'fanout-client', name: 'fanout-client' }, main, {
  exit: 'at-once',
  onCrash: () => {
    for (const p of running) p.child.kill('SIGKILL');
    for (const f of fleets) f.kill();
  },
});
