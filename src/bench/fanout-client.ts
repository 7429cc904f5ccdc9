import { performance } from 'node:perf_hooks';
import { BenchPool } from './bench-pool.js';
import { fanoutFigures, type FanoutMeasurement, type JobReading } from './fanout-figures.js';
import { FanoutFleet } from './fanout-fleet.js';
import { cpuSeconds, openFilesLimit, rssKiB } from './proc.js';
import { startInBackground, type Background } from './processes.js';
import { round, summarize } from './stats.js';

/**
 * The benchmark's own fan-out client, run as a child process (src/bench/fanout.ts starts it under a raised
 * open-files limit, which the proxy it starts inherits). It plays both ends of the proxy on 127.0.0.1:
 *
 *  1. the scripted pool (bench-pool.ts) listens; the proxy is started (`proxyArgv`) and must subscribe and
 *     authorize there; one probe device must get work through it;
 *  2. the proxy's resident memory is read (after `settleMs`), N devices connect (fanout-fleet.ts), and it is
 *     read again once every device holds a job;
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

export async function measureFanout(o: OwnClientOptions, say: (line: string) => void = () => {}): Promise<FanoutMeasurement> {
  const pool = new BenchPool({ difficulty: o.poolDifficulty, txCount: o.txCount });
  const writtenAt: number[] = [];
  const busyMs: number[] = [];
  let proxy: Background | null = null;
  let fleet: FanoutFleet | null = null;
  let held = 0;
  let rssBeforeKiB: number | null = null;
  let rssAfterKiB: number | null = null;
  let rssEndKiB: number | null = null;
  const cpu: FanoutMeasurement['cpu'] = { proxySecConnect: null, proxySecFanout: null, benchSecFanout: null };
  let proxyFileLimit: number | null = null;
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
    proxyFileLimit = openFilesLimit(pid)?.soft ?? null;

    await sleep(o.settleMs);
    rssBeforeKiB = rssKiB(pid);
    const totalJobs = o.warmupJobs + o.jobs;
    const f = new FanoutFleet({ port: o.proxyPort, devices: o.devices, connectRate: o.connectRate, maxSettingUp: 500, jobs: totalJobs });
    fleet = f;
    const cpuConnect0 = cpuSeconds(pid);
    const connected = await f.connect((o.devices / o.connectRate) * 1000 + o.readyWaitMs);
    cpu.proxySecConnect = difference(cpuConnect0, cpuSeconds(pid));
    if (connected.failed > 0) {
      // Reported, and the jobs still go to the devices held (the run is then incomplete).
      const reasons = Object.entries(connected.reasons).map(([r, n]) => `${n} ${r}`).join(', ');
      connectError = `${connected.failed} of ${o.devices} devices got no work: ${reasons}`;
      say(connectError);
    }
    if (connected.ready === 0) throw new StepFailed(connectError ?? 'no device got work');
    say(`${connected.ready.toLocaleString('en-US')} devices hold a job after ${connected.seconds.toFixed(1)} s`);
    await sleep(o.settleMs);
    rssAfterKiB = rssKiB(pid);

    let cpuFanout0: number | null = null;
    let benchCpuMicros = 0;
    pool.prepareBlock();
    for (let k = 0; k < totalJobs; k++) {
      if (k === o.warmupJobs) {
        cpuFanout0 = cpuSeconds(pid);
        benchCpuMicros = 0;
      }
      const cpu0 = process.cpuUsage();
      const job = pool.writeBlock();
      const elu0 = performance.eventLoopUtilization();
      f.expect(k, job.prevhash);
      writtenAt.push(job.writtenAt);
      const last = k === totalJobs - 1;
      // Until every device has it (or the next job is due; after the last one, the tail wait).
      await waitUntil(() => f.allHave(k) || exited !== null, last ? o.tailMs : o.intervalMs);
      busyMs.push(performance.eventLoopUtilization(elu0).active);
      const used = process.cpuUsage(cpu0);
      benchCpuMicros += used.user + used.system;
      const seen = summarize(f.latencies(k, job.writtenAt));
      const name = k < o.warmupJobs ? `warm-up job ${k + 1}` : `job ${k - o.warmupJobs + 1}`;
      say(`${name}: ${seen.count}/${f.ready} delivered, p50 ${round(seen.p50)} p99 ${round(seen.p99)} max ${round(seen.max)} ms`);
      if (exited !== null) throw new StepFailed(exited);
      if (!last) {
        pool.prepareBlock();
        await sleep(Math.max(0, job.writtenAt + o.intervalMs - performance.now()));
      }
    }
    cpu.proxySecFanout = difference(cpuFanout0, cpuSeconds(pid));
    // This process's CPU while the measured jobs were delivered (writing each job to the devices' last read).
    cpu.benchSecFanout = benchCpuMicros / 1e6;
    rssEndKiB = rssKiB(pid);
  } catch (err) {
    if (!(err instanceof StepFailed)) throw err;
    error = err.message;
  } finally {
    // Devices held are counted before the proxy stops (stopping it drops them all).
    held = fleet?.ready ?? 0;
    if (proxy) {
      await proxy.stop();
      running.delete(proxy);
    }
    fleet?.close();
    await pool.close();
  }
  const f = fleet;
  return fanoutFigures({
    devices: o.devices,
    connected: held,
    warmupJobs: o.warmupJobs,
    // Read at the end: a delivery that came after the next job was written still counts for its own job.
    jobs: writtenAt.map((at, k): JobReading => ({ latencies: f ? f.latencies(k, at) : new Float64Array(0), loadBusyMs: busyMs[k] ?? null })),
    rssBeforeKiB,
    rssAfterKiB,
    rssEndKiB,
    cpu,
    proxyFileLimit,
    error: error ?? connectError,
  });
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
    process.exit(2);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const result = await measureFanout(options, (line) => process.stderr.write(`${line}\n`));
  process.stdout.write(JSON.stringify(result) + '\n');
  return result.complete ? 0 : 2;
}

if (process.argv[1] && /[\\/]bench[\\/]fanout-client\.(js|ts)$/.test(process.argv[1])) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      for (const p of running) p.child.kill('SIGKILL');
      process.stderr.write(`fanout-client: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
