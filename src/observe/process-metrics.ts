import nodeCluster from 'node:cluster';
import { AggregatorRegistry, Registry, collectDefaultMetrics } from 'prom-client';
import type { EventBus } from '../core/events.js';
import { WorkerRoster } from './worker-roster.js';

/**
 * The Node process's own metrics (prom-client's collectDefaultMetrics: CPU, memory, event-loop lag, handles,
 * GC), under the proxy's prefix. One process: they are in the proxy's registry (metrics.ts). With workers
 * (`start --workers N`) they are per process: each worker keeps a registry of its own with the label
 * proxy_worker="k" (startWorkerProcessMetrics), the primary one of its own with proxy_worker="primary", and
 * the primary's /metrics merges them all with prom-client's cluster aggregation (ClusterMetrics). The label
 * is not `worker`: that is a device's name in every per-device series, and `by (worker)` must not mix the two.
 *
 * How workers answer (prom-client's lib/cluster.js): an AggregatorRegistry constructed in a cluster worker
 * listens on `process` for {type: 'prom-client:getMetricsReq', requestId} and answers with process.send
 * {type: 'prom-client:getMetricsRes', requestId, metrics: [the JSON of each registry set by
 * AggregatorRegistry.setRegistries]}. The primary here sends that request itself and merges the answers
 * with AggregatorRegistry.aggregate; it never constructs an AggregatorRegistry, whose primary-side listener
 * would take these answers for its own requests (and throw on an id it does not know). A worker that does
 * not answer within `timeoutMs` (busy, dying) is left out of that scrape; the others are served.
 */

/** The metrics' prefix (metrics.ts names every family with it). */
const PREFIX = 'dash_proxy_';

/** prom-client's messages between a cluster primary and its workers (lib/cluster.js). */
export const METRICS_REQUEST = 'prom-client:getMetricsReq';
export const METRICS_RESPONSE = 'prom-client:getMetricsRes';

/**
 * The label that names a proxy process in the metrics: the worker process's index, or 'primary' (the
 * process metrics, dash_proxy_worker_restarts_total). `worker` is a device's name.
 */
export const PROCESS_LABEL = 'proxy_worker';
export const PRIMARY_PROCESS = 'primary';

/** How long the primary waits for a worker's metrics per scrape. */
export const WORKER_METRICS_TIMEOUT_MS = 2000;

/** Registers the process metrics on `registry` (the families promtool accepts). */
export function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry, prefix: PREFIX });
  // prom-client also exports `*_active_{handles,requests,resources}_total` gauges, which duplicate the
  // unsuffixed gauges and break Prometheus naming rules (`promtool check metrics`: "non-counter metrics
  // should not have _total suffix"). Drop them.
  for (const m of registry.getMetricsAsArray()) {
    if (m.name.endsWith('_total') && (m as { type?: unknown }).type === 'gauge') registry.removeSingleMetric(m.name);
  }
}

/** A registry of this process's metrics, every series labelled proxy_worker=`process`. */
export function processRegistry(process: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ [PROCESS_LABEL]: process });
  registerProcessMetrics(registry);
  return registry;
}

/**
 * In a worker, at start: its process metrics (label proxy_worker="k"), answered to the primary's requests by
 * prom-client's own listener. Returns the registry (nothing else is needed from it).
 */
export function startWorkerProcessMetrics(worker: number): Registry {
  const registry = processRegistry(String(worker));
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one installs prom-client's listener (once per process): in a worker, the answer to requests.
  new AggregatorRegistry();
  return registry;
}

type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/**
 * The per-process families of many processes as one registry's text. Every series carries its process's
 * proxy_worker label, so no two processes' values are ever combined; prom-client's 'omit' aggregator (the start
 * time's: a cluster-wide start time means nothing) would drop the family, so each process's is kept.
 */
export function mergeProcessMetrics(perProcess: readonly MetricsJson[]): Registry {
  const kept = perProcess.map((metrics) => metrics.map((m) => ((m as { aggregator?: string }).aggregator === 'omit' ? { ...m, aggregator: 'first' } : m)));
  return AggregatorRegistry.aggregate(kept);
}

/** What ClusterMetrics needs of node's cluster (a fake in tests). */
export interface ClusterLike {
  readonly workers?: NodeJS.Dict<{ isConnected(): boolean; send(message: unknown): boolean }>;
  on(event: 'message', listener: (worker: unknown, message: unknown) => void): unknown;
  off(event: 'message', listener: (worker: unknown, message: unknown) => void): unknown;
}

export interface ClusterMetricsOptions {
  /** The primary's bus: worker.started / worker.exited feed the roster (dash_proxy_workers, restarts). */
  bus: EventBus;
  /** Node's cluster (default), or a fake. */
  cluster?: ClusterLike;
  timeoutMs?: number;
}

interface Pending {
  asked: number;
  answers: MetricsJson[];
  done: () => void;
}

/**
 * In the primary, for /metrics (ProxyMetrics' `cluster` option): every process's own metrics merged (the
 * primary's and each worker's, labelled), and the roster of workers (from the worker.* events).
 */
export class ClusterMetrics {
  readonly roster: WorkerRoster;
  /** Answers that came too late (after their scrape was served), and workers that did not answer in time. */
  late = 0;
  missed = 0;
  private readonly own = processRegistry(PRIMARY_PROCESS);
  private readonly cluster: ClusterLike;
  private readonly timeoutMs: number;
  private readonly pending = new Map<string, Pending>();
  private seq = 0;
  private readonly onMessage = (_worker: unknown, message: unknown) => void this.take(message);

  constructor(opts: ClusterMetricsOptions) {
    this.roster = new WorkerRoster(opts.bus);
    this.cluster = opts.cluster ?? (nodeCluster as unknown as ClusterLike);
    this.timeoutMs = opts.timeoutMs ?? WORKER_METRICS_TIMEOUT_MS;
    this.cluster.on('message', this.onMessage);
  }

  /** The merged process families, as one registry (render each with getSingleMetricAsString). */
  async registry(): Promise<Registry> {
    const [own, workers] = await Promise.all([this.own.getMetricsAsJSON(), this.askWorkers()]);
    return mergeProcessMetrics([own, ...workers]);
  }

  /** Stop listening to the workers' messages and stop the roster. */
  close(): void {
    this.cluster.off('message', this.onMessage);
    this.roster.close();
    for (const p of this.pending.values()) p.done();
  }

  /** An answer to a metrics request (other messages are not ours): true when it was one. */
  private take(message: unknown): boolean {
    const m = message as { type?: unknown; requestId?: unknown; metrics?: unknown } | null;
    if (typeof m !== 'object' || m === null || m.type !== METRICS_RESPONSE) return false;
    const p = this.pending.get(String(m.requestId));
    if (!p) {
      this.late++;
      return true;
    }
    // A worker whose collection failed answers {error}: it is left out like one that did not answer.
    if (Array.isArray(m.metrics)) for (const registry of m.metrics) if (Array.isArray(registry)) p.answers.push(withNumbers(registry as MetricsJson));
    if (--p.asked === 0) p.done();
    return true;
  }

  private askWorkers(): Promise<MetricsJson[]> {
    // The id is ours (a string, never one of prom-client's numbers): nothing else in the primary answers it.
    const requestId = `dash-proxy-${++this.seq}`;
    const request = { type: METRICS_REQUEST, requestId };
    let asked = 0;
    for (const w of Object.values(this.cluster.workers ?? {})) {
      if (!w || !w.isConnected()) continue;
      try {
        w.send(request); // false only says the channel is backed up: the request is queued all the same
        asked++;
      } catch {
        // Its channel closed meanwhile: it is not asked.
      }
    }
    if (asked === 0) return Promise.resolve([]);
    return new Promise((resolve) => {
      const answers: MetricsJson[] = [];
      // Not unref'd: a scrape in progress is bounded by it and is answered before the process may end.
      const timer = setTimeout(() => {
        this.missed += p.asked;
        p.done();
      }, this.timeoutMs);
      const p: Pending = {
        asked,
        answers,
        done: () => {
          if (!this.pending.delete(requestId)) return;
          clearTimeout(timer);
          resolve(answers);
        },
      };
      this.pending.set(requestId, p);
    });
  }
}

/** Values as numbers again: a NaN sent over JSON arrives as null. */
function withNumbers(metrics: MetricsJson): MetricsJson {
  for (const m of metrics) for (const v of m.values) if (typeof v.value !== 'number') v.value = NaN;
  return metrics;
}
