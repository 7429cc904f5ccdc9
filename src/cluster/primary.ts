import cluster, { type Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { routesInBrief } from '../app.js';
import { createObserverSide, type ObserverSide } from '../app-observers.js';
import { poolEntryNamed, type ProxyConfig } from '../config.js';
import { DashdBlocks } from '../upstream/dashd-blocks.js';
import { EventBus } from '../core/events.js';
import { PROXY_WORKER_FIELD, type Logger } from '../core/log.js';
import { registerClusterRoute, type WorkerView } from '../observe/cluster-api.js';
import { routingSpec } from '../options.js';
import { applyObserverConfig, reloadConfig } from '../reload.js';
import type { RoutingSpec } from '../routing/types.js';
import { Backoff } from '../util/backoff.js';
import { logOpenFiles, openFilesCount } from '../util/open-files.js';
import { EventIntake, isEventBatch } from './event-relay.js';
import { ClusterMetrics } from '../observe/process-metrics.js';
import type { WorkerRecord } from '../observe/worker-roster.js';
import { isWorkerMessage, WORKER_ENV, type PrimaryMessage } from './messages.js';

/**
 * The primary of `start --workers N`: it holds no device. It forks N workers (node's cluster, round-robin:
 * it accepts each device connection and hands it to the next worker in turn), feeds their events to the
 * observer side (src/app-observers.ts: farm ledger, metrics, API, dashboard, alerts, books, the one HTTP
 * port), restarts a worker that dies (1 s, doubling to 30 s while it keeps dying young), relays SIGHUP, and
 * on stop tells every worker to stop as a one-process proxy does, waits for their last events (bounded:
 * shutdown.drainSeconds + 10 s, then SIGKILL), then closes the books and the HTTP server.
 */
export const RESTART_BACKOFF = { baseMs: 1000, maxMs: 30_000, factor: 2, jitter: 'none' } as const;
/** A worker that ran this long was not crash-looping: its next restart waits the first delay again. */
export const HEALTHY_UPTIME_MS = 60_000;
/** How long past the drain a worker may take to stop before it is killed. */
export const STOP_GRACE_MS = 10_000;

/**
 * One worker's place, as far as running its process needs: its current fork, whether its device port is
 * open and it is ready (its own messages), its restart backoff. What /api/cluster and /metrics show of it
 * (pid, incarnation, start time, restarts, open files) is the roster's (src/observe/worker-roster.ts, fed
 * by the worker.started / worker.exited events this primary emits), its devices the intake's count.
 */
interface Slot {
  worker: number;
  proc: Worker | null;
  /** The current fork's incarnation (its id range; the one workerGone ends). */
  incarnation: number;
  /** When the current fork was forked (its uptime for the restart backoff; a reload told since). */
  forkedAt: number;
  /** Its device port is open. */
  listening: boolean;
  /** It has a pool connection with a current job (its 'state' messages). */
  ready: boolean;
  /** Its graceful stop is over (its 'stopped' message: every event of it was sent before). */
  stopped: boolean;
  backoff: Backoff;
  restartTimer: NodeJS.Timeout | null;
  /** Resolves when the current fork is gone (exited and its channel drained). */
  gone: Promise<void> | null;
}

export interface PrimaryOptions {
  workers: number;
  log: Logger;
  /** The configuration again, from the same file, environment and flags (SIGHUP). */
  load: () => ProxyConfig;
}

export class ClusterPrimary {
  readonly bus = new EventBus();
  readonly observers: ObserverSide;
  private readonly intake: EventIntake;
  /** Every process's own metrics (CPU, memory, event loop) for /metrics, asked of the workers at each scrape. */
  private readonly processes: ClusterMetrics;
  private readonly slots: Slot[];
  private readonly log: Logger;
  private routing: RoutingSpec;
  private incarnations = 0;
  /** When the last reload was told (a worker forked before it and listening after it is told again). */
  private lastReloadAt = 0;
  private stopping = false;
  private everListened = false;
  private failedStart: ((err: Error) => void) | null = null;

  /** Solo: the block watcher (here, in the primary) asks the dashd entry a found block came from. */
  private readonly dashdBlocks = new DashdBlocks((pool) => poolEntryNamed(this.observers.config, pool));

  constructor(
    config: ProxyConfig,
    private readonly opts: PrimaryOptions,
  ) {
    this.log = opts.log;
    this.processes = new ClusterMetrics({ bus: this.bus });
    this.observers = createObserverSide(config, {
      processes: this.processes,
      bus: this.bus,
      log: this.log,
      routes: () => this.routing.routes,
      notReady: () => (this.slots.some((s) => s.ready) ? null : 'no worker has a pool connection with a current job'),
      blockLookup: (pool, hash) => this.dashdBlocks.lookup(pool, hash),
    });
    this.routing = routingSpec(config, this.observers.ledger.owners);
    this.intake = new EventIntake(this.bus);
    this.slots = Array.from({ length: opts.workers }, (_, worker) => ({
      worker,
      proc: null,
      incarnation: 0,
      forkedAt: 0,
      listening: false,
      ready: false,
      stopped: false,
      backoff: new Backoff(RESTART_BACKOFF),
      restartTimer: null,
      gone: null,
    }));
    registerClusterRoute(this.observers.http, () => ({ workers: this.processes.roster.list().map((r) => this.view(r)) }));
  }

  /** The books, the HTTP port, then the workers; resolves once every worker has its device port open. */
  async start(): Promise<{ http: AddressInfo }> {
    await this.observers.openBooks();
    let http: AddressInfo;
    try {
      http = await this.observers.listenHttp();
    } catch (err) {
      await this.observers.books?.stop('start failed');
      throw err;
    }
    logOpenFiles(this.log, 0);
    // The alerts and log summaries listen before the first worker forks, as they do in one process (where
    // they start in the same turn as the core): they learn every connection up and every worker start, so a
    // worker dying later is not taken for its pool going down, and its restart is told as one.
    this.observers.start();
    // Round-robin: the primary accepts and hands each connection to the next worker (devices spread evenly).
    cluster.schedulingPolicy = cluster.SCHED_RR;
    // 'advanced' serialization: the event batches cost the primary about a tenth less to read than with JSON
    // (measured: src/bench/relay-ipc.ts).
    cluster.setupPrimary({ args: process.argv.slice(2), serialization: 'advanced' });
    const listening = new Promise<void>((resolve, reject) => {
      this.failedStart = reject;
      const check = setInterval(() => {
        if (this.slots.every((s) => s.listening)) {
          clearInterval(check);
          this.failedStart = null;
          resolve();
        }
      }, 50);
      check.unref();
    });
    for (const slot of this.slots) this.fork(slot);
    try {
      await listening;
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.log.info('proxy listening', { workers: this.slots.length, pids: this.slots.map((s) => s.proc?.process.pid ?? null), http: `http://${http.address}:${http.port}/`, routes: routesInBrief(this.routing) });
    return { http };
  }

  /** SIGHUP: the observer side's part here, then every worker reads the configuration again for its part. */
  reload(): void {
    if (this.stopping) return;
    const result = reloadConfig(this.observers, this.opts.load, applyObserverConfig);
    if (result === null) return;
    if (result.routing) this.routing = result.routing;
    else if (result.apply.some((p) => p === 'owners' || p.startsWith('owners.') || p === 'books.farmOwner')) this.routing = routingSpec(this.observers.config, this.observers.ledger.owners);
    this.lastReloadAt = Date.now();
    this.tell({ type: 'reload' });
  }

  /** Graceful stop of the whole host; resolves when the books are committed and the HTTP port closed. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    // Alerts stop first, so devices leaving at shutdown are not reported as going offline.
    void this.observers.stopAlerts();
    for (const s of this.slots) if (s.restartTimer) clearTimeout(s.restartTimer);
    this.tell({ type: 'stop' });
    const allGone = () => Promise.all(this.slots.map((s) => s.gone ?? Promise.resolve()));
    const bound = this.observers.config.shutdown.drainSeconds * 1000 + STOP_GRACE_MS;
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([allGone().then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), bound)))]);
    clearTimeout(timer);
    if (late) {
      for (const s of this.slots) {
        if (s.proc && !s.proc.isDead()) {
          this.log.warn(`worker ${s.worker} did not stop within ${bound / 1000} s: killed`, { [PROXY_WORKER_FIELD]: s.worker, pid: s.proc.process.pid });
          s.proc.process.kill('SIGKILL');
        }
      }
      await allGone();
    }
    // Every worker's last events are in: the books take them and commit, then the views close.
    await this.observers.closeBooks('stopped');
    await this.observers.close();
    await this.dashdBlocks.close();
    this.processes.close();
  }

  /**
   * A message to every worker whose device port is open (its handlers are set from then on). One still
   * starting holds no device: a stop kills it (SIGTERM), and a reload reaches it once it listens.
   */
  private tell(message: PrimaryMessage): void {
    for (const s of this.slots) {
      if (s.proc && !s.listening && message.type === 'stop') {
        s.proc.process.kill('SIGTERM');
        continue;
      }
      if (s.proc && s.listening && s.proc.isConnected()) {
        try {
          s.proc.send(message);
        } catch {
          // its channel closed meanwhile: its exit is handled on its own
        }
      }
    }
  }

  /** A worker in /api/cluster: the roster's record, its devices from the intake, its readiness from its messages. */
  private view(r: WorkerRecord): WorkerView {
    return {
      worker: r.worker,
      pid: r.pid,
      incarnation: r.incarnation ?? 0,
      startedAt: r.startedAt ?? 0,
      restarts: r.restarts,
      devices: this.intake.devicesOf(r.worker),
      ready: r.running && (this.slots[r.worker]?.ready ?? false),
      openFiles: r.openFiles ?? openFilesCount(null),
    };
  }

  private fork(slot: Slot): void {
    slot.restartTimer = null;
    const incarnation = ++this.incarnations;
    const worker = cluster.fork({ [WORKER_ENV.index]: String(slot.worker), [WORKER_ENV.incarnation]: String(incarnation), [WORKER_ENV.workers]: String(this.slots.length) });
    Object.assign(slot, { proc: worker, incarnation, forkedAt: Date.now(), listening: false, ready: false, stopped: false });
    // A send to it that fails (its channel closed: it is exiting) is emitted as 'error' on the worker; with no
    // listener that would crash the primary. Its exit is handled on its own ('exit' below).
    worker.on('error', (err: Error) => this.log.debug('a message to a worker was not sent (IPC channel closed)', { [PROXY_WORKER_FIELD]: slot.worker, reason: err.message }));
    worker.on('message', (m: unknown) => {
      if (isEventBatch(m)) return this.intake.take(slot.worker, m);
      if (!isWorkerMessage(m)) return;
      if (m.type === 'state') slot.ready = m.ready;
      else if (m.type === 'stopped') slot.stopped = true;
      else if (m.type === 'listening') {
        slot.listening = true;
        this.everListened = true;
        // A reload told while it was starting: it may have read the configuration before the change.
        if (this.lastReloadAt >= slot.forkedAt) worker.send({ type: 'reload' } satisfies PrimaryMessage);
        // A stop while it was starting (it was sent SIGTERM, which it may not have been listening for yet).
        if (this.stopping) worker.send({ type: 'stop' } satisfies PrimaryMessage);
        this.bus.emit('worker.started', { worker: slot.worker, pid: worker.process.pid ?? 0, incarnation, openFiles: openFilesCount(m.openFiles), at: Date.now() });
      }
    });
    // Gone once it exited and its channel is closed (no batch of it is still on the way).
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => worker.once('exit', (code, signal) => resolve({ code, signal })));
    const disconnected = new Promise<void>((resolve) => worker.once('disconnect', () => resolve()));
    slot.gone = exited.then(async ({ code, signal }) => {
      await Promise.race([disconnected, new Promise((r) => setTimeout(r, 2000).unref())]);
      this.onGone(slot, worker.process.pid ?? 0, code, signal);
    });
  }

  private onGone(slot: Slot, pid: number, code: number | null, signal: string | null): void {
    const at = Date.now();
    const devices = this.intake.devicesOf(slot.worker);
    const reason = signal ?? `exit code ${code}`;
    // A worker that finished its graceful stop at the host's shutdown closed its pool connections as a
    // one-process proxy does at stop (no pool.down); one gone any other way leaves them down.
    const stoppedAtShutdown = this.stopping && slot.stopped && code === 0;
    this.intake.workerGone(slot.worker, reason, at, { incarnation: slot.incarnation, stoppedAtShutdown });
    Object.assign(slot, { proc: null, ready: false });
    if (!this.everListened && this.failedStart) {
      this.failedStart(new Error(`worker ${slot.worker} exited before its device port was open (${reason}); its log says why`));
      this.failedStart = null;
    }
    const restart = !this.stopping && this.everListened;
    let restartInMs: number | null = null;
    if (restart) restartInMs = restartDelay(slot.backoff, at - slot.forkedAt);
    this.bus.emit('worker.exited', { worker: slot.worker, pid, code, signal, devices, restartInMs, at });
    // The log aggregator (observer side) logs the exit at once, and the alerts raise one outside shutdown.
    if (restartInMs === null) return;
    slot.restartTimer = setTimeout(() => {
      if (!this.stopping) this.fork(slot);
    }, restartInMs);
  }
}

/** The wait before a dead worker is started again: 1 s, doubling to 30 s while it keeps dying young (under HEALTHY_UPTIME_MS). */
export function restartDelay(backoff: Backoff, livedMs: number): number {
  if (livedMs >= HEALTHY_UPTIME_MS) backoff.reset();
  return backoff.next();
}
