import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performanceToMonotonicMs } from './clock.js';
import type { ConnectReport } from './fanout-fleet.js';
import type { FleetChildMessage, FleetChildRequest, FleetChildState } from './fleet-child.js';
import { cpuSeconds } from './proc.js';
import { fromSource, shellCommand } from './processes.js';

/**
 * A fan-out fleet too large for one process: `parts` child processes (fleet-child.ts), each holding its
 * share of the devices under the open-files limit and connecting from its own source address 127.0.0.x
 * (each address has its own ports toward the proxy's port; each part gives them out in turn, see
 * FleetOptions.localPorts), with the surface of FanoutFleet that
 * the fan-out client uses. Latencies are measured in the children on the host-wide clock (clock.ts) and
 * collected here job by job.
 */

export interface ProcessFleetOptions {
  port: number;
  devices: number;
  /** Child processes; the devices are split evenly among them. */
  parts: number;
  /** New connections per second, all parts together. */
  connectRate: number;
  /** Connections setting up at once, all parts together. */
  maxSettingUp: number;
  jobs: number;
  /** Open-files limit of each child. */
  fileLimit: number;
  /** Source address of part i: 127.0.0.(firstSourceHost + i). */
  firstSourceHost: number;
}

/** The source ports each part gives out in turn on its own address (above the ports services usually take). */
export const SOURCE_PORTS = { first: 10_000, last: 65_000 } as const;

/** The host part of the first source address (127.0.0.11 onwards: clear of the 127.0.0.1-3 the tests bind). */
export const FIRST_SOURCE_HOST = 11;

interface Part {
  child: ChildProcess;
  devices: number;
  localAddress: string;
  state: FleetChildState;
  exited: string | null;
}

/** `devices` split into `parts` counts that differ by at most one. */
export function splitEvenly(devices: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(devices / parts) + (i < devices % parts ? 1 : 0));
}

export class ProcessFleet {
  private readonly parts: Part[];
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  /** performance.now() of this process + this = the host-wide clock. */
  private readonly offset = performanceToMonotonicMs();

  constructor(opts: ProcessFleetOptions) {
    const script = fileURLToPath(new URL(fromSource ? './fleet-child.ts' : './fleet-child.js', import.meta.url));
    const counts = splitEvenly(opts.devices, opts.parts);
    this.parts = counts.map((devices, i) => {
      const localAddress = `127.0.0.${opts.firstSourceHost + i}`;
      const fleetOptions = {
        port: opts.port,
        devices,
        connectRate: Math.max(1, opts.connectRate / opts.parts),
        maxSettingUp: Math.max(1, Math.ceil(opts.maxSettingUp / opts.parts)),
        jobs: opts.jobs,
        workerPrefix: `fan.p${i + 1}.d`,
        localAddress,
        localPorts: SOURCE_PORTS,
      };
      // The child's own open-files limit: `ulimit -n` in a shell that then execs node with the IPC channel.
      const argv = [process.execPath, ...(fromSource ? ['--import', 'tsx'] : []), script, JSON.stringify(fleetOptions)];
      const child = fork(script, [], {
        execPath: '/bin/bash',
        execArgv: ['-c', `ulimit -n ${Math.floor(opts.fileLimit)} && exec ${shellCommand(argv)}`],
        serialization: 'advanced',
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const part: Part = { child, devices, localAddress, state: { ready: 0, delivered: [] }, exited: null };
      child.on('message', (m: FleetChildMessage) => this.onMessage(part, m));
      child.on('exit', (code, signal) => {
        part.exited = `fleet part ${i + 1} exited (${code ?? signal})`;
        for (const w of this.waiting.values()) w.reject(new Error(part.exited));
        this.waiting.clear();
      });
      return part;
    });
  }

  /** The children's PIDs (their CPU time is the load generator's). */
  get pids(): number[] {
    return this.parts.map((p) => p.child.pid).filter((x): x is number => x !== undefined);
  }

  /** Source addresses in use, one per part. */
  get sourceAddresses(): string[] {
    return this.parts.map((p) => p.localAddress);
  }

  /** Devices held and ready, all parts (as of their last report). */
  get ready(): number {
    return this.parts.reduce((n, p) => n + p.state.ready, 0);
  }

  delivered(k: number): number {
    return this.parts.reduce((n, p) => n + (p.state.delivered[k] ?? 0), 0);
  }

  allHave(k: number): boolean {
    return this.parts.every((p) => (p.state.delivered[k] ?? 0) >= p.state.ready);
  }

  /** CPU seconds of the children so far. */
  cpuSeconds(): number {
    return this.pids.reduce((n, pid) => n + (cpuSeconds(pid) ?? 0), 0);
  }

  async connect(timeoutMs: number): Promise<ConnectReport> {
    const reports = await Promise.all(this.parts.map((p) => this.request<ConnectReport>(p, { cmd: 'connect', timeoutMs }, timeoutMs + 30_000)));
    const reasons: Record<string, number> = {};
    for (const r of reports) for (const [why, n] of Object.entries(r.reasons)) reasons[why] = (reasons[why] ?? 0) + n;
    return {
      ready: reports.reduce((n, r) => n + r.ready, 0),
      failed: reports.reduce((n, r) => n + r.failed, 0),
      reasons,
      seconds: Math.max(...reports.map((r) => r.seconds)),
    };
  }

  /** Every part searches for job `k` from now on (resolves once all have been told: write the job after). */
  async expect(k: number, prevhash: string): Promise<void> {
    await Promise.all(this.parts.map((p) => this.request(p, { cmd: 'expect', k, prevhash }, 10_000)));
  }

  /** Latencies (ms) of job `k` from `writtenAt` (this process's performance.now()), all parts. */
  async latencies(k: number, writtenAt: number): Promise<Float64Array> {
    const writtenAtMonotonic = writtenAt + this.offset;
    const rows = await Promise.all(this.parts.map((p) => this.request<Float64Array>(p, { cmd: 'latencies', k, writtenAtMonotonic }, 30_000)));
    const all = new Float64Array(rows.reduce((n, r) => n + r.length, 0));
    let at = 0;
    for (const r of rows) {
      all.set(r, at);
      at += r.length;
    }
    return all;
  }

  async close(): Promise<void> {
    await Promise.all(this.parts.map((p) => (p.exited ? null : this.request(p, { cmd: 'close' }, 5000).catch(() => null))));
    for (const p of this.parts) if (!p.exited) p.child.kill('SIGKILL');
  }

  /** Kill every part at once (the process is being stopped). */
  kill(): void {
    for (const p of this.parts) p.child.kill('SIGKILL');
  }

  private onMessage(part: Part, m: FleetChildMessage): void {
    if ('state' in m) {
      part.state = m.state;
      return;
    }
    const w = this.waiting.get(m.id);
    if (!w) return;
    this.waiting.delete(m.id);
    if (m.ok) w.resolve(m.value);
    else w.reject(new Error(m.error));
  }

  private request<T>(part: Part, req: DistributiveOmit<FleetChildRequest, 'id'>, timeoutMs: number): Promise<T> {
    if (part.exited) return Promise.reject(new Error(part.exited));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`fleet part at ${part.localAddress}: no answer to ${req.cmd} within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v as T)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      part.child.send({ ...req, id });
    });
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
