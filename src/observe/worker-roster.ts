import type { EventBus, ProxyEventMap } from '../core/events.js';

/**
 * The worker processes of a host running workers (`start --workers N`), as the primary's events tell them
 * (worker.started, worker.exited): which run, since when, as which process, and how often each was
 * started again. Kept here once; /metrics (dash_proxy_workers, dash_proxy_worker_restarts_total) reads it.
 * A one-process proxy emits no worker events: the roster stays empty.
 */

export interface WorkerRecord {
  /** The worker's index (0 .. N-1). */
  worker: number;
  /** Its process now, or its last one (null: none started yet, only exits told). */
  pid: number | null;
  /** Its fork's number host-wide (1, 2, 3, ...; null as pid). */
  incarnation: number | null;
  startedAt: number | null;
  running: boolean;
  /** Times it exited outside shutdown and was to be started again (a crash loop counts each fork that died). */
  restarts: number;
  openFiles: { soft: number | null; hard: number | null } | null;
  /** Its last exit (null before the first). */
  lastExit: { pid: number; code: number | null; signal: string | null; devices: number; at: number } | null;
}

export class WorkerRoster {
  private readonly workers = new Map<number, WorkerRecord>();
  private readonly unsubscribe: (() => void)[];

  constructor(bus: EventBus) {
    this.unsubscribe = [bus.on('worker.started', (e) => this.started(e)), bus.on('worker.exited', (e) => this.exited(e))];
  }

  /** Every worker seen, by index. */
  list(): WorkerRecord[] {
    return [...this.workers.values()].sort((a, b) => a.worker - b.worker).map((w) => ({ ...w, openFiles: w.openFiles && { ...w.openFiles }, lastExit: w.lastExit && { ...w.lastExit } }));
  }

  /** Restarts of all workers. */
  get restarts(): number {
    let n = 0;
    for (const w of this.workers.values()) n += w.restarts;
    return n;
  }

  /** Workers running now. */
  get running(): number {
    let n = 0;
    for (const w of this.workers.values()) if (w.running) n++;
    return n;
  }

  /** No worker event seen: a one-process proxy. */
  get empty(): boolean {
    return this.workers.size === 0;
  }

  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }

  private started(e: ProxyEventMap['worker.started']): void {
    const w = this.record(e.worker);
    w.pid = e.pid;
    w.incarnation = e.incarnation;
    w.startedAt = e.at;
    w.running = true;
    w.openFiles = { soft: e.openFiles.soft, hard: e.openFiles.hard };
  }

  private exited(e: ProxyEventMap['worker.exited']): void {
    const w = this.record(e.worker);
    // A fork that died before it told it started has no record of its own: a worker running stays running.
    if (w.pid === e.pid || !w.running) {
      w.pid = e.pid;
      w.running = false;
    }
    w.lastExit = { pid: e.pid, code: e.code, signal: e.signal, devices: e.devices, at: e.at };
    if (e.restartInMs !== null) w.restarts++;
  }

  private record(worker: number): WorkerRecord {
    let w = this.workers.get(worker);
    if (!w) {
      w = { worker, pid: null, incarnation: null, startedAt: null, running: false, restarts: 0, openFiles: null, lastExit: null };
      this.workers.set(worker, w);
    }
    return w;
  }
}
