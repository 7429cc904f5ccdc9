import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { version as packageVersion } from '../version.js';
import type { EventBus } from '../core/events.js';
import { Col, REJECT_REASONS } from './device-store.js';
import { POOL_RESULTS, type FarmLedger, type FarmSummary, type OwnerView, type RouteView } from './farm-ledger.js';
import type { LedgerHealth } from '../books/ledger-writer.js';
import { PROCESS_LABEL, registerProcessMetrics } from './process-metrics.js';
import type { WorkerRoster } from './worker-roster.js';

/**
 * Prometheus metrics of the proxy: a view of the farm ledger (farm-ledger.ts), which defines every count.
 * Every counter and gauge here is read from the ledger when scraped; ProxyMetrics counts nothing itself.
 * The two histograms (a submit's round trip, a job's fan-out time) are distributions of timings, not share
 * counts, and are the only things fed here from the core's events.
 *
 * The per-device families are rendered from the ledger's compact device store in chunks of devices, so a
 * device costs no prom-client series objects between scrapes (measured by src/bench/metrics-scale.ts).
 * prom-client still formats every line. Retention (when a worker's series go) is the ledger's.
 */

export const METRIC_PREFIX = 'dash_proxy_';

/** Rejection reasons every device always exports (at 0 until seen), so that rate() counts the first one. */
const ALWAYS_EXPORTED_REASONS = new Set(['invalid', 'stale', 'duplicate', 'low_difficulty']);

/** Seconds, from 1 ms to 10 s: a pool's answer to a submit. */
const SUBMIT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds, from 0.5 ms to 2.5 s: a job from the pool written to every device. */
const FANOUT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];


export interface ProxyMetricsOptions {
  /** Add the device's IP address as label `ip` to every per-device series (default false). */
  labelIp?: boolean;
  /** Export the Node process metrics (CPU, memory, event loop, GC) under the same prefix (default true). */
  processMetrics?: boolean;
  /**
   * The host runs workers (the primary's /metrics): the process metrics are every process's, merged from
   * `cluster` (ClusterMetrics in process-metrics.ts: the primary's and each worker's, labelled proxy_worker),
   * instead of this process's alone, and the workers' families (dash_proxy_workers,
   * dash_proxy_worker_restarts_total) are exported from its roster.
   */
  cluster?: ProcessSource;
  /** Version for dash_proxy_build_info (default: package.json). */
  version?: string;
}

/** Where a host with workers gets every process's metrics (ClusterMetrics), and its workers. */
export interface ProcessSource {
  /** The merged process families, fresh for each scrape. */
  registry(): Promise<Registry>;
  readonly roster: Pick<WorkerRoster, 'running' | 'list'>;
}

type SeriesValues = Awaited<ReturnType<Gauge['get']>>['values'];
/** Values of the devices in slots [from, to). */
type SliceReader = (from: number, to: number) => SeriesValues;

/** Devices per rendering chunk: a few milliseconds of prom-client formatting for the biggest family. */
const DEVICES_PER_CHUNK = 250;

/** A gauge whose values are produced when scraped, from a reader, and held nowhere in between. */
class ScrapedGauge extends Gauge {
  constructor(name: string, help: string, labelNames: readonly string[], registry: Registry, private readonly read: () => SeriesValues) {
    super({ name, help, labelNames, registers: [registry] });
  }

  override async get(): ReturnType<Gauge['get']> {
    const base = await super.get();
    base.values = this.read();
    return base;
  }
}

/** A counter whose values are produced when scraped, from a reader, and held nowhere in between. */
class ScrapedCounter extends Counter {
  constructor(name: string, help: string, labelNames: readonly string[], registry: Registry, private readonly read: () => SeriesValues) {
    super({ name, help, labelNames, registers: [registry] });
  }

  override async get(): ReturnType<Counter['get']> {
    const base = await super.get();
    base.values = this.read();
    return base;
  }
}

/** A per-device family: registered whole in the registry, rendered by /metrics in chunks of devices. */
interface DeviceFamily {
  name: string;
  help: string;
  kind: 'counter' | 'gauge';
  labelNames: readonly string[];
  read: SliceReader;
}

export class ProxyMetrics {
  readonly registry = new Registry();
  private readonly labelIp: boolean;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly deviceFamilies = new Map<string, DeviceFamily>();
  private readonly upstreamSubmitSeconds: Histogram<'pool' | 'route' | 'target'>;
  private readonly fanoutSeconds: Histogram;
  private readonly cluster: ProcessSource | null;
  /** The ledger's summary, taken once per scrape (every farm-wide family reads it). */
  private scrapeSummary: FarmSummary | null = null;
  /** The ledger's owners, taken once per scrape (every per-owner family reads them). */
  private scrapeOwners: OwnerView[] | null = null;
  /** The ledger's routes, taken once per scrape (every per-target family reads them). */
  private scrapeRoutes: RouteView[] | null = null;

  constructor(
    bus: EventBus,
    private readonly ledger: FarmLedger,
    opts: ProxyMetricsOptions = {},
  ) {
    this.labelIp = opts.labelIp ?? false;
    const registers = [this.registry];
    const p = METRIC_PREFIX;
    const registry = this.registry;

    this.cluster = opts.cluster ?? null;
    if (this.cluster === null && (opts.processMetrics ?? true)) registerProcessMetrics(this.registry);
    new Gauge({ name: `${p}build_info`, help: 'Always 1; the version of the running dash-farm-proxy.', labelNames: ['version'], registers }).set({ version: opts.version ?? packageVersion }, 1);

    if (this.cluster !== null) {
      const roster = this.cluster.roster;
      new ScrapedGauge(`${p}workers`, 'Worker processes running (start --workers N).', [], registry, () => [{ labels: {}, value: roster.running }]);
      new ScrapedCounter(`${p}worker_restarts_total`, 'Times a worker process exited outside shutdown and was started again, by worker process.', [PROCESS_LABEL], registry, () =>
        roster.list().map((w) => ({ labels: { [PROCESS_LABEL]: String(w.worker) }, value: w.restarts })),
      );
    }

    // Farm-wide (the words are the ledger's: see farm-ledger.ts).
    const summary = () => this.scrapeSummary ?? ledger.summary();
    new ScrapedCounter(`${p}shares_total`, "Shares from all devices, by result: accepted (met the device's target), or the rejection reason.", ['result'], registry, () => {
      const s = summary();
      const out: SeriesValues = [{ labels: { result: 'accepted' }, value: s.accepted }];
      for (const r of REJECT_REASONS) {
        const n = s.rejectedByReason[r] ?? 0;
        if (n > 0 || ALWAYS_EXPORTED_REASONS.has(r)) out.push({ labels: { result: r }, value: n });
      }
      return out;
    });
    new ScrapedCounter(`${p}work_total`, 'Difficulty-weighted accepted work of all devices (sum of credited difficulties); hashrate = rate() * 2^48/0xFFFF (about 2^32) H/s.', [], registry, () => [{ labels: {}, value: summary().work }]);
    new ScrapedGauge(`${p}devices_connected`, 'Worker names with at least one live session.', [], registry, () => [{ labels: {}, value: summary().devicesOnline }]);
    new ScrapedGauge(`${p}devices_offline`, 'Worker names with no live session whose series are still retained.', [], registry, () => [{ labels: {}, value: summary().devicesOffline }]);
    new ScrapedGauge(`${p}sessions_open`, 'Open device connections, authorized or not.', [], registry, () => [{ labels: {}, value: summary().sessionsOpen }]);
    new ScrapedCounter(`${p}connections_refused_total`, 'Device connections refused by a limit, by cause.', ['cause'], registry, () => Object.entries(summary().refusedByCause).map(([cause, value]) => ({ labels: { cause }, value })));
    new ScrapedCounter(`${p}forwarded_shares_total`, "Accepted shares sent toward the pool (they met the pool's or the network's target).", [], registry, () => [{ labels: {}, value: summary().forwarded }]);
    new ScrapedGauge(`${p}upstream_in_flight_shares`, "Forwarded shares still waiting for the pool's answer.", [], registry, () => [{ labels: {}, value: summary().inFlight }]);
    new ScrapedCounter(`${p}block_candidates_total`, "Accepted shares that met the network's target.", [], registry, () => [{ labels: {}, value: summary().blockCandidates }]);
    // Solo (a dashd upstream): the blocks sent with submitblock, and their place on dashd's best chain (found-blocks.ts).
    new ScrapedCounter(`${p}blocks_submitted_total`, "Blocks sent to dashd with submitblock (solo), by pool and dashd's answer: accepted, inconclusive, rejected, unanswered.", ['pool', 'result'], registry, () =>
      ledger.blocks.submittedCounts().map((c) => ({ labels: { pool: c.pool, result: c.result }, value: c.count })),
    );
    new ScrapedCounter(`${p}block_status_total`, "Submitted blocks' changes of place on dashd's best chain, by pool and the status reached: in-chain, chainlocked, mature, orphaned.", ['pool', 'status'], registry, () =>
      ledger.blocks.statusCounts().map((c) => ({ labels: { pool: c.pool, status: c.status }, value: c.count })),
    );

    // Per owner: credited when each share was counted, to the owner the device had then (the ledger's
    // definitions; a changed owners map never moves what was credited). Owners are few: a handful of series.
    const owners = () => this.scrapeOwners ?? ledger.ownerList();
    new ScrapedCounter(`${p}owner_shares_total`, "An owner's devices' shares, by result: accepted (met the device's target) or rejected (by the proxy).", ['owner', 'result'], registry, () =>
      owners().flatMap((o) => [
        { labels: { owner: o.owner, result: 'accepted' }, value: o.accepted },
        { labels: { owner: o.owner, result: 'rejected' }, value: o.rejected },
      ]),
    );
    new ScrapedCounter(`${p}owner_work_total`, "Difficulty-weighted accepted work credited to an owner; hashrate = rate() * 2^48/0xFFFF (about 2^32) H/s.", ['owner'], registry, () => owners().map((o) => ({ labels: { owner: o.owner }, value: o.work })));
    new ScrapedCounter(`${p}owner_forwarded_shares_total`, "An owner's accepted shares sent toward the pool.", ['owner'], registry, () => owners().map((o) => ({ labels: { owner: o.owner }, value: o.forwarded })));
    new ScrapedCounter(`${p}owner_upstream_shares_total`, "An owner's forwarded shares by the pool's verdict (results as in upstream_shares_total).", ['owner', 'result'], registry, () =>
      owners().flatMap((o) => POOL_RESULTS.map((result) => ({ labels: { owner: o.owner, result }, value: o.results[result] }))),
    );
    new ScrapedGauge(`${p}owner_in_flight_shares`, "An owner's forwarded shares still waiting for the pool's answer.", ['owner'], registry, () => owners().map((o) => ({ labels: { owner: o.owner }, value: o.inFlight })));
    new ScrapedCounter(`${p}owner_block_candidates_total`, "An owner's accepted shares that met the network's target.", ['owner'], registry, () => owners().map((o) => ({ labels: { owner: o.owner }, value: o.blockCandidates })));

    // Pools and upstream connections, each with the route and target whose pool list or connection it is.
    const poolLabels = (x: { name: string; route: string; target: string }) => ({ pool: x.name, route: x.route, target: x.target });
    const connectionLabels = (c: { index: number; route: string | null; target: string | null }) => ({ connection: String(c.index), route: c.route ?? '', target: c.target ?? '' });
    new ScrapedGauge(`${p}upstream_up`, '1 while some connection is subscribed and authorized on the pool, else 0.', ['pool', 'route', 'target'], registry, () => ledger.poolList().map((x) => ({ labels: poolLabels(x), value: x.up ? 1 : 0 })));
    new ScrapedGauge(`${p}upstream_active`, '1 for a pool some connection mines on, else 0.', ['pool', 'route', 'target'], registry, () => ledger.poolList().map((x) => ({ labels: poolLabels(x), value: x.active ? 1 : 0 })));
    new ScrapedCounter(
      `${p}upstream_shares_total`,
      "Forwarded shares by the pool's verdict: accepted; rejected by the pool's code (stale, duplicate, low_difficulty, unauthorized, other); no verdict by cause (timeout, connection_lost, no_pool).",
      ['pool', 'route', 'target', 'result'],
      registry,
      () => ledger.poolList().flatMap((x) => POOL_RESULTS.map((result) => ({ labels: { ...poolLabels(x), result }, value: x.results[result] }))),
    );
    new ScrapedCounter(`${p}upstream_switches_total`, 'Pool failovers, by the pool switched to.', ['to', 'route', 'target'], registry, () =>
      ledger.poolList().filter((x) => x.switchesTo > 0).map((x) => ({ labels: { to: x.name, route: x.route, target: x.target }, value: x.switchesTo })),
    );
    new ScrapedGauge(`${p}upstream_connections`, 'Open upstream (pool) connections.', [], registry, () => [{ labels: {}, value: summary().connections }]);
    new ScrapedGauge(`${p}upstream_connection_up`, '1 while upstream connection `connection` is subscribed and authorized on `pool` (the pool it mines on), else 0.', ['connection', 'route', 'target', 'pool'], registry, () =>
      ledger.connections().map((c) => ({ labels: { ...connectionLabels(c), pool: c.pool ?? '' }, value: c.up ? 1 : 0 })),
    );
    new ScrapedGauge(`${p}upstream_connection_active`, '1 while upstream connection `connection` mines on `pool`, else 0.', ['connection', 'route', 'target', 'pool'], registry, () =>
      ledger.connections().map((c) => ({ labels: { ...connectionLabels(c), pool: c.pool ?? '' }, value: c.active ? 1 : 0 })),
    );
    new ScrapedCounter(`${p}upstream_connection_shares_total`, 'Forwarded shares by upstream connection and verdict (results as in upstream_shares_total).', ['connection', 'route', 'target', 'result'], registry, () =>
      ledger.connections().flatMap((c) => POOL_RESULTS.map((result) => ({ labels: { ...connectionLabels(c), result }, value: c.results[result] }))),
    );

    // Per target of each route (the ledger's definitions): how the route's work splits against the weights.
    // Targets are few (a handful per route). Forwarded shares and verdicts per target: the pool series above,
    // summed by (route, target).
    const targets = () => (this.scrapeRoutes ?? ledger.routeList()).flatMap((r) => r.targets.map((t) => ({ route: r.name, t })));
    new ScrapedCounter(`${p}target_work_total`, "Difficulty-weighted accepted work of the devices while they mined for the target; a target's part of its route's rate() is the split achieved.", ['route', 'target'], registry, () =>
      targets().map(({ route, t }) => ({ labels: { route, target: t.name }, value: t.work })),
    );
    new ScrapedCounter(`${p}target_shares_total`, 'Accepted shares of the devices while they mined for the target.', ['route', 'target'], registry, () => targets().map(({ route, t }) => ({ labels: { route, target: t.name }, value: t.accepted })));
    new ScrapedGauge(`${p}target_devices`, 'Devices placed on the target now, by state (online, offline).', ['route', 'target', 'state'], registry, () =>
      targets().flatMap(({ route, t }) => [
        { labels: { route, target: t.name, state: 'online' }, value: t.devicesOnline },
        { labels: { route, target: t.name, state: 'offline' }, value: t.devices - t.devicesOnline },
      ]),
    );
    new ScrapedGauge(`${p}target_hashrate`, 'Measured hashrate (H/s, 5-minute average) of the devices placed on the target now.', ['route', 'target'], registry, () => targets().map(({ route, t }) => ({ labels: { route, target: t.name }, value: t.hashrate })));
    new ScrapedGauge(`${p}target_weight_ratio`, "The target's weight in force over the sum of its route's weights (0 to 1): the split the route aims at. Absent for a target no longer in force.", ['route', 'target'], registry, () =>
      targets().flatMap(({ route, t }) => (t.weightShare === null ? [] : [{ labels: { route, target: t.name }, value: t.weightShare }])),
    );
    this.upstreamSubmitSeconds = new Histogram({ name: `${p}upstream_submit_seconds`, help: "Round trip of a forwarded share: submit written to the pool's answer (shares without an answer excluded).", labelNames: ['pool', 'route', 'target'], buckets: SUBMIT_BUCKETS, registers });
    this.fanoutSeconds = new Histogram({ name: `${p}notify_fanout_seconds`, help: 'A job from the pool received to written to every device.', buckets: FANOUT_BUCKETS, registers });

    // Per device, rendered from the ledger's device store at scrape time.
    // Every per-device series names the device's owner under the owners map in force (a new map relabels
    // the device's series from then on; Prometheus keeps the old series, with the old owner, as history).
    const deviceLabels = this.labelIp ? ['worker', 'owner', 'ip'] : ['worker', 'owner'];
    const families: DeviceFamily[] = [
      { name: `${p}device_shares_total`, help: "A device's shares, by result: accepted (met its target), or the rejection reason.", kind: 'counter', labelNames: [...deviceLabels, 'result'], read: (a, b) => this.shareValues(a, b) },
      { name: `${p}device_work_total`, help: "A device's difficulty-weighted accepted work (sum of credited difficulties); hashrate = rate() * 2^48/0xFFFF (about 2^32) H/s.", kind: 'counter', labelNames: deviceLabels, read: (a, b) => this.columnValues(Col.work, a, b) },
      { name: `${p}device_difficulty`, help: "A device's current share difficulty.", kind: 'gauge', labelNames: deviceLabels, read: (a, b) => this.columnValues(Col.difficulty, a, b) },
      { name: `${p}device_last_share_timestamp_seconds`, help: "When a device's last accepted share arrived (seconds since the epoch); absent before its first.", kind: 'gauge', labelNames: deviceLabels, read: (a, b) => this.columnValues(Col.lastShareAt, a, b, 1 / 1000) },
      { name: `${p}device_connected`, help: '1 while the worker has a live session, 0 once its last session ended (until its series expire).', kind: 'gauge', labelNames: deviceLabels, read: (a, b) => this.connectedValues(a, b) },
      { name: `${p}device_upstream_shares_total`, help: "A device's forwarded shares by the pool's verdict: accepted, rejected (by the pool), unanswered (no verdict).", kind: 'counter', labelNames: [...deviceLabels, 'result'], read: (a, b) => this.upstreamValues(a, b) },
    ];
    for (const f of families) {
      scrapedMetric(f, this.registry, () => f.read(0, this.ledger.store.slotLimit));
      this.deviceFamilies.set(f.name, f);
    }

    this.unsubscribe.push(
      bus.on('share.upstream', (e) => {
        if (e.verdict.kind !== 'unanswered') this.upstreamSubmitSeconds.observe({ pool: e.pool, route: e.route, target: e.target }, e.latencyMs / 1000);
      }),
      bus.on('job.fanout', (e) => this.fanoutSeconds.observe(e.seconds)),
    );
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The whole exposition text (for tests and small farms; /metrics streams `pieces()`). */
  async render(): Promise<string> {
    const parts: string[] = [];
    for await (const piece of this.pieces()) parts.push(piece);
    return parts.join('');
  }

  /**
   * The exposition text in pieces, in the layout of Registry.metrics() (families separated by a blank
   * line, a final newline). Per-device families come in chunks of DEVICES_PER_CHUNK devices, each
   * formatted by prom-client through a throw-away registry and joined under the first chunk's HELP and
   * TYPE lines; the event loop gets a turn whenever rendering has held it for a few milliseconds, so a
   * scrape of a big farm does not stall job fan-out, and no single multi-megabyte string is built.
   * The ledger's retention sweep waits while a rendering is in progress (pin), so a worker appears at most
   * once per scrape even though devices come and go between chunks.
   */
  async *pieces(): AsyncGenerator<string> {
    // With workers, every process's own metrics (asked of the workers first: the farm's numbers are taken after).
    const processes = this.cluster === null ? null : await this.cluster.registry();
    const unpin = this.ledger.pin();
    this.scrapeSummary = this.ledger.summary();
    this.scrapeOwners = this.ledger.ownerList();
    this.scrapeRoutes = this.ledger.routeList();
    try {
      let since = performance.now();
      let first = true;
      if (processes !== null) {
        // First, where one process's own are (registered first).
        for (const metric of processes.getMetricsAsArray()) {
          yield (first ? '' : '\n\n') + (await processes.getSingleMetricAsString((metric as { name: string }).name));
          first = false;
        }
      }
      for (const metric of this.registry.getMetricsAsArray()) {
        const name = (metric as { name: string }).name;
        const family = this.deviceFamilies.get(name);
        const separator = first ? '' : '\n\n';
        first = false;
        if (!family) {
          yield separator + (await this.registry.getSingleMetricAsString(name));
        } else {
          for (let from = 0; from === 0 || from < this.ledger.store.slotLimit; from += DEVICES_PER_CHUNK) {
            const to = from + DEVICES_PER_CHUNK;
            const scratch = new Registry();
            scrapedMetric(family, scratch, () => family.read(from, to));
            const text = await scratch.getSingleMetricAsString(name);
            if (from === 0) {
              yield separator + text;
            } else {
              const lines = withoutHeader(text);
              if (lines !== '') yield `\n${lines}`;
            }
            if (performance.now() - since > 5) {
              await yieldToLoop();
              since = performance.now();
            }
          }
        }
        if (performance.now() - since > 5) {
          await yieldToLoop();
          since = performance.now();
        }
      }
      yield '\n';
    } finally {
      this.scrapeSummary = null;
      this.scrapeOwners = null;
      this.scrapeRoutes = null;
      unpin();
    }
  }

  /** Stop listening. */
  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }

  private labels(slot: number, worker: string): Record<string, string> {
    const owner = this.ledger.ownerOfSlot(slot);
    return this.labelIp ? { worker, owner, ip: this.ledger.store.ip(slot) } : { worker, owner };
  }

  private columnValues(col: number, from: number, to: number, scale = 1): SeriesValues {
    const out: SeriesValues = [];
    const store = this.ledger.store;
    store.forEach(
      (s, worker) => {
        const value = store.get(s, col);
        if (Number.isNaN(value)) return;
        out.push({ labels: this.labels(s, worker), value: value * scale });
      },
      from,
      to,
    );
    return out;
  }

  private connectedValues(from: number, to: number): SeriesValues {
    const out: SeriesValues = [];
    const store = this.ledger.store;
    store.forEach((s, worker) => out.push({ labels: this.labels(s, worker), value: store.get(s, Col.sessions) > 0 ? 1 : 0 }), from, to);
    return out;
  }

  private shareValues(from: number, to: number): SeriesValues {
    const out: SeriesValues = [];
    const store = this.ledger.store;
    store.forEach(
      (s, worker) => {
        const labels = this.labels(s, worker);
        out.push({ labels: { ...labels, result: 'accepted' }, value: store.get(s, Col.accepted) });
        for (let i = 0; i < REJECT_REASONS.length; i++) {
          const reason = REJECT_REASONS[i]!;
          const value = store.get(s, Col.rejected + i);
          if (value > 0 || ALWAYS_EXPORTED_REASONS.has(reason)) out.push({ labels: { ...labels, result: reason }, value });
        }
      },
      from,
      to,
    );
    return out;
  }

  private upstreamValues(from: number, to: number): SeriesValues {
    const out: SeriesValues = [];
    const store = this.ledger.store;
    store.forEach(
      (s, worker) => {
        const labels = this.labels(s, worker);
        out.push({ labels: { ...labels, result: 'accepted' }, value: store.get(s, Col.poolAccepted) });
        out.push({ labels: { ...labels, result: 'rejected' }, value: store.get(s, Col.poolRejected) });
        out.push({ labels: { ...labels, result: 'unanswered' }, value: store.get(s, Col.poolUnanswered) });
      },
      from,
      to,
    );
    return out;
  }
}

/**
 * The books' health (src/books/ledger-writer.ts) as dash_proxy_ledger_*, on the proxy's registry when the
 * books are kept: records committed, waiting and dropped, commits, and whether the store can be written
 * now. Read from the writer at each scrape; nothing is counted here.
 */
export function registerBooksMetrics(registry: Registry, books: LedgerHealth): void {
  const p = METRIC_PREFIX;
  new ScrapedGauge(`${p}ledger_up`, '1 while the books can be written, 0 during a fault (missing, locked, full, read-only, unreachable, ...): records then wait in memory.', [], registry, () => [{ labels: {}, value: books.fault === null ? 1 : 0 }]);
  new ScrapedGauge(`${p}ledger_fault`, '1 for the cause the books cannot be written now (absent while they can).', ['cause'], registry, () => (books.fault === null ? [] : [{ labels: { cause: books.fault }, value: 1 }]));
  new ScrapedGauge(`${p}ledger_fault_since_timestamp_seconds`, 'When the current fault began (seconds since the epoch; absent while the books can be written).', [], registry, () =>
    books.faultSince === null ? [] : [{ labels: {}, value: books.faultSince / 1000 }],
  );
  new ScrapedGauge(`${p}ledger_records_pending`, 'Records waiting in memory to be written to the books.', [], registry, () => [{ labels: {}, value: books.pending }]);
  new ScrapedCounter(`${p}ledger_records_committed_total`, 'Records written to the books.', [], registry, () => [{ labels: {}, value: books.committed }]);
  new ScrapedCounter(`${p}ledger_commits_total`, 'Transactions (group commits) written to the books.', [], registry, () => [{ labels: {}, value: books.commits }]);
  new ScrapedCounter(`${p}ledger_records_dropped_total`, 'Records the books could not keep, by cause: queue-full, in-flight-full, unwritten-at-stop, bad-event.', ['cause'], registry, () =>
    Object.entries(books.droppedBy).map(([cause, value]) => ({ labels: { cause }, value })),
  );
  new ScrapedCounter(`${p}ledger_commit_failures_total`, 'Failed attempts to write the books, by fault cause.', ['cause'], registry, () =>
    Object.entries(books.failuresBy).map(([cause, value]) => ({ labels: { cause }, value: value ?? 0 })),
  );
}

function scrapedMetric(f: DeviceFamily, registry: Registry, read: () => SeriesValues): Counter | Gauge {
  return f.kind === 'counter' ? new ScrapedCounter(f.name, f.help, f.labelNames, registry, read) : new ScrapedGauge(f.name, f.help, f.labelNames, registry, read);
}

/** prom-client's text for one family without its two header lines (# HELP, # TYPE). */
function withoutHeader(text: string): string {
  const first = text.indexOf('\n');
  const second = first < 0 ? -1 : text.indexOf('\n', first + 1);
  return second < 0 ? '' : text.slice(second + 1);
}
