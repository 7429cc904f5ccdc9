import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PowHasher } from '../chain/hasher.js';
import { EVERY_HASH_DIFFICULTY, shareProxyConfig } from './proxy-config.js';
import { freePorts, fromSource, proxyStartArgv, startInBackground, withFileLimit, type Background } from './processes.js';
import { waitForWorkers } from './proxy-cluster.js';
import type { StepResult } from './share-load.js';
import type { WorkerAnswer, WorkerRequest } from './share-worker.js';
import { ratio, round } from './stats.js';
import { measureRawX11, type RawX11 } from './x11-raw.js';

/**
 * The share part of the benchmark: the proxy (`start --config`, its own process) between the share pool
 * and the load generator (one child process, see share-worker.ts). For each offered rate it reports the
 * shares per second the proxy validated and forwarded, the forwarding latency and the proxy's CPU time per
 * 1,000 shares; raw X11 hashes per second are measured in this process (one core) before and after.
 */

export interface SharePhaseOptions {
  /** Device connections of the load generator. */
  devices: number;
  /** The proxy's worker processes (`workers` in its config); absent: 1. */
  workers?: number;
  /** Offered submits per second, in order; null = as fast as the proxy answers. */
  rates: (number | null)[];
  warmupMs: number;
  measureMs: number;
  /** Closed loop: unanswered submits per device. */
  windowPerDevice: number;
  /** Transactions besides the coinbase in the pool's job (merkle branch = ceil(log2(txCount + 1))). */
  txCount: number;
  x11Ms: number;
  hasher: PowHasher;
  fileLimit: number;
  workDir: string;
  /** The proxy's books (`ledger.path`), or null/absent: no books. Logs and configs are named apart. */
  ledgerPath?: string | null;
  progress: (line: string) => void;
}

export interface ShareStep extends StepResult {
  /** validatedPerSecond / raw X11 hashes per second (one core, same run). */
  ratioToRawX11: number | null;
  /** Validated shares per second of proxy CPU time / raw X11 hashes per second of CPU time. */
  cpuRatioToRawX11: number | null;
}

export interface SharePhaseResult {
  devices: number;
  workers: number;
  merkleBranch: number;
  coinbaseBytes: number;
  /** hashesPerSecond: wall clock (median slice); hashesPerCpuSecond: per second of CPU time; each the higher of before and after. */
  rawX11: { before: RawX11; after: RawX11; hashesPerSecond: number; hashesPerCpuSecond: number };
  steps: ShareStep[];
  /** The highest validated shares/s of any step. */
  bestValidatedPerSecond: number;
  bestRatioToRawX11: number | null;
}

/** A request without its id (distributes over the union). */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

class WorkerClient {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exitError: Error | null = null;

  constructor(readonly child: ChildProcess) {
    child.on('message', (a: WorkerAnswer) => {
      const w = this.waiting.get(a.id);
      if (!w) return;
      this.waiting.delete(a.id);
      if (a.ok) w.resolve(a.value);
      else w.reject(new Error(a.error ?? 'share worker failed'));
    });
    child.on('exit', (code, signal) => {
      this.exitError = new Error(`share worker exited (${code ?? signal})`);
      for (const w of this.waiting.values()) w.reject(this.exitError);
      this.waiting.clear();
    });
  }

  request<T>(req: WithoutId<WorkerRequest>, timeoutMs: number): Promise<T> {
    if (this.exitError) return Promise.reject(this.exitError);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`share worker: no answer to ${req.cmd} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ ...req, id } as WorkerRequest);
    });
  }
}

function startWorker(): WorkerClient {
  const path = fileURLToPath(new URL(fromSource ? './share-worker.ts' : './share-worker.js', import.meta.url));
  const child = fork(path, [], { execArgv: fromSource ? ['--import', 'tsx'] : [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new WorkerClient(child);
}

export function describeRate(rate: number | null): string {
  return rate === null ? 'max' : `${rate}/s`;
}

export async function runSharePhase(o: SharePhaseOptions): Promise<SharePhaseResult> {
  const worker = startWorker();
  let proxy: Background | null = null;
  try {
    const pool = await worker.request<{ port: number; merkleBranch: number; coinbaseBytes: number }>({ cmd: 'pool', difficulty: EVERY_HASH_DIFFICULTY, txCount: o.txCount }, 30_000);
    const [proxyPort, httpPort] = (await freePorts(2)) as [number, number];
    const workers = o.workers ?? 1;
    const name = `${o.ledgerPath ? 'proxy-shares-ledger' : 'proxy-shares'}${workers > 1 ? `-w${workers}` : ''}`;
    const configPath = join(o.workDir, `${name}.json`);
    const logPath = join(o.workDir, `${name}.log`);
    writeFileSync(configPath, JSON.stringify(shareProxyConfig({ poolPort: pool.port, port: proxyPort, devices: o.devices, ledgerPath: o.ledgerPath, workers, httpPort }), null, 2));
    const [file, args] = withFileLimit(proxyStartArgv(configPath), o.fileLimit);
    proxy = startInBackground(file, args, logPath);
    const early = proxy.exited.then((e) => {
      throw new Error(`the proxy exited during the share run (${e.code ?? e.signal}); see ${logPath}`);
    });
    early.catch(() => {});
    if (workers > 1) {
      const up = await Promise.race([waitForWorkers(httpPort, workers, 60_000), early]);
      if (!up) throw new Error(`/api/cluster did not list ${workers} ready workers within 60 s; see ${logPath}`);
    }
    await Promise.race([worker.request({ cmd: 'connect', port: proxyPort, devices: o.devices, timeoutMs: 60_000 }, 90_000), early]);
    o.progress(`shares: ${o.devices} devices mining through the proxy (PID ${proxy.pid}, ${workers} worker(s)${o.ledgerPath ? `, books in ${o.ledgerPath}` : ''}); merkle branch ${pool.merkleBranch}, coinbase ${pool.coinbaseBytes} B`);

    const before = measureRawX11(o.hasher, o.x11Ms);
    o.progress(`shares: raw X11 ${before.hashesPerSecond.toLocaleString('en-US')} hashes/s, ${before.hashesPerCpuSecond.toLocaleString('en-US')} per CPU second (one core, this process)`);
    const raw: StepResult[] = [];
    for (const rate of o.rates) {
      const step = await Promise.race([
        worker.request<{ result: StepResult }>(
          {
            cmd: 'step',
            step: {
              rate,
              warmupMs: o.warmupMs,
              measureMs: o.measureMs,
              windowPerDevice: o.windowPerDevice,
              maxInFlight: rate === null ? 1e9 : Math.max(200, Math.ceil(rate / 4)),
              proxyPid: proxy.pid,
            },
          },
          o.warmupMs + o.measureMs + 30_000,
        ),
        early,
      ]);
      const r = step.result;
      raw.push(r);
      o.progress(
        `shares: offered ${describeRate(rate)}: validated ${Math.round(r.validatedPerSecond)}/s, forward p50 ${r.forwardMs.p50} ms p99 ${r.forwardMs.p99} ms, ` +
          `proxy CPU ${r.proxyCpuBusy ?? "?"} core, load generator CPU ${r.loadCpuBusy} core, ${r.rejected} rejected`,
      );
    }
    const after = measureRawX11(o.hasher, o.x11Ms);
    // The less disturbed of the two measurements stands for what one core does (a neighbour can only slow it).
    const hps = Math.max(before.hashesPerSecond, after.hashesPerSecond);
    const hpcs = Math.max(before.hashesPerCpuSecond, after.hashesPerCpuSecond);
    const steps: ShareStep[] = raw.map((r) => ({
      ...r,
      ratioToRawX11: round(ratio(r.validatedPerSecond, hps), 3),
      cpuRatioToRawX11: round(ratio(r.proxyCpuSeconds ? (r.validatedPerSecond * r.seconds) / r.proxyCpuSeconds : null, hpcs), 3),
    }));
    const best = steps.reduce((a, b) => (b.validatedPerSecond > a.validatedPerSecond ? b : a), steps[0]!);
    return {
      devices: o.devices,
      workers,
      merkleBranch: pool.merkleBranch,
      coinbaseBytes: pool.coinbaseBytes,
      rawX11: { before, after, hashesPerSecond: hps, hashesPerCpuSecond: hpcs },
      steps,
      bestValidatedPerSecond: best?.validatedPerSecond ?? 0,
      bestRatioToRawX11: best?.ratioToRawX11 ?? null,
    };
  } finally {
    await worker.request({ cmd: 'close' }, 5000).catch(() => {});
    worker.child.kill();
    await proxy?.stop();
  }
}
