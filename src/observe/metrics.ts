import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { version as packageVersion } from '../version.js';
import type { EventBus, ProxyEventMap } from '../core/events.js';
import { Col, DeviceSeriesStore, REJECT_REASONS, rejectColumn } from './metrics-store.js';

/**
 * Prometheus metrics of the proxy, built from the event stream only (never by calling into the proxy).
 *
 * Farm and pool metrics are ordinary prom-client metrics. The per-device families are rendered at scrape
 * time from a compact store (DeviceSeriesStore) by metrics whose `get()` builds the values on the fly, so
 * a device costs about 200 bytes here instead of about 1.9 KiB of prom-client series objects (measured by
 * src/bench/metrics-scale.ts). prom-client still formats every line.
 *
 * Retention: the series of a worker whose last session ended are kept for `retentionSeconds`, then removed
 * (and `onForget` is called, so FarmStats can forget the worker at the same moment). A worker that comes
 * back before that continues its counters; one that comes back later starts again from zero, which
 * Prometheus treats as a counter reset.
 */

export const METRIC_PREFIX = 'dash_proxy_';

/** Rejection reasons every device always exports (at 0 until seen), so that rate() counts the first one. */
const ALWAYS_EXPORTED_REASONS = new Set(['invalid', 'stale', 'duplicate', 'low_difficulty']);

/** Seconds, from 1 ms to 10 s: a pool's answer to a submit. */
const SUBMIT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds, from 0.5 ms to 2.5 s: a job from the pool written to every device. */
const FANOUT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** The bounded set of `result` values of `dash_proxy_upstream_shares_total`. */
export const UPSTREAM_RESULTS = ['accepted', 'stale', 'duplicate', 'low_difficulty', 'unauthorized', 'timeout', 'other'] as const;
export type UpstreamResult = (typeof UPSTREAM_RESULTS)[number];

/**
 * A pool's verdict as a bounded label value. Pools word their rejections freely ("Job not found",
 * "Stale share", "Duplicate share", "Low difficulty share", "Above target", "Unauthorized worker"), so
 * the free text is classified here; anything unrecognised is `other`.
 */
export function upstreamResultOf(accepted: boolean, reason: string | null): UpstreamResult {
  if (accepted) return 'accepted';
  const text = (reason ?? '').toLowerCase();
  if (/time[ds]?[\s_-]?out|did not answer in time/.test(text)) return 'timeout';
  if (/stale|job not found|unknown job|old job|job.*expired/.test(text)) return 'stale';
  if (/duplicate/.test(text)) return 'duplicate';
  if (/low.?diff|above target|high.?hash|difficulty/.test(text)) return 'low_difficulty';
  if (/unauthori[sz]ed|not authori[sz]ed/.test(text)) return 'unauthorized';
  return 'other';
}

export interface ProxyMetricsOptions {
  /** Add the device's IP address as label `ip` to every per-device series (default false). */
  labelIp?: boolean;
  /** Seconds a disconnected worker's series are kept (default 3600). */
  retentionSeconds?: number;
  /** How often expired workers are looked for, in seconds (default: retention / 4, between 1 and 60). */
  sweepIntervalSeconds?: number;
  /** Called with each worker whose series were removed (wire FarmStats.forget here). */
  onForget?: (worker: string) => void;
  /** Export the Node process metrics (CPU, memory, event loop, GC) under the same prefix (default true). */
  processMetrics?: boolean;
  /** Version for dash_proxy_build_info (default: package.json). */
  version?: string;
  now?: () => number;
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
  readonly store = new DeviceSeriesStore();
  readonly retentionSeconds: number;
  private readonly labelIp: boolean;
  private readonly onForget: ((worker: string) => void) | undefined;
  private readonly now: () => number;
  private readonly unsubscribe: (() => void)[] = [];
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly poolNames = new Set<string>();
  private openSessions = 0;
  /** Renderings in progress: the timed sweep waits, so no worker can move to another slot mid-scrape. */
  private renderings = 0;
  private readonly deviceFamilies = new Map<string, DeviceFamily>();

  private readonly sharesTotal: Counter<'result'>;
  private readonly workTotal: Counter;
  private readonly sessionsOpen: Gauge;
  private readonly upstreamUp: Gauge<'pool'>;
  private readonly upstreamActive: Gauge<'pool'>;
  private readonly upstreamShares: Counter<'pool' | 'result'>;
  private readonly upstreamSubmitSeconds: Histogram<'pool'>;
  private readonly upstreamSwitches: Counter<'to'>;
  private readonly upstreamConnections: Gauge;
  private readonly fanoutSeconds: Histogram;
  private readonly blockCandidates: Counter;
  private readonly refused: Counter<'cause'>;

  constructor(bus: EventBus, opts: ProxyMetricsOptions = {}) {
    this.labelIp = opts.labelIp ?? false;
    this.retentionSeconds = opts.retentionSeconds ?? 3600;
    if (!(this.retentionSeconds >= 0) || !Number.isFinite(this.retentionSeconds)) throw new RangeError(`retentionSeconds must be a finite number >= 0, got ${opts.retentionSeconds}`);
    this.onForget = opts.onForget;
    this.now = opts.now ?? Date.now;
    const registers = [this.registry];
    const p = METRIC_PREFIX;

    if (opts.processMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry, prefix: p });
      // prom-client also exports `*_active_{handles,requests,resources}_total` gauges, which duplicate the
      // unsuffixed gauges and break Prometheus naming rules (`promtool check metrics`: "non-counter
      // metrics should not have _total suffix"). Drop them.
      for (const m of this.registry.getMetricsAsArray()) {
        if (m.name.endsWith('_total') && (m as { type?: unknown }).type === 'gauge') this.registry.removeSingleMetric(m.name);
      }
    }
    new Gauge({ name: `${p}build_info`, help: 'Always 1; the version of the running dash-farm-proxy.', labelNames: ['version'], registers }).set({ version: opts.version ?? packageVersion }, 1);

    // Farm-wide.
    this.sharesTotal = new Counter({ name: `${p}shares_total`, help: 'Shares from all devices, by result: accepted, or the rejection reason.', labelNames: ['result'], registers });
    this.sharesTotal.inc({ result: 'accepted' }, 0);
    for (const r of ALWAYS_EXPORTED_REASONS) this.sharesTotal.inc({ result: r }, 0);
    this.workTotal = new Counter({ name: `${p}work_total`, help: 'Difficulty-weighted accepted work of all devices (sum of credited difficulties); hashrate = rate() * 2^48/0xFFFF (about 2^32) H/s.', registers });
    const store = this.store;
    new ScrapedGauge(`${p}devices_connected`, 'Worker names with at least one live session.', [], this.registry, () => [{ labels: {}, value: store.online() }]);
    new ScrapedGauge(`${p}devices_offline`, 'Worker names with no live session whose series are still retained.', [], this.registry, () => [{ labels: {}, value: store.size - store.online() }]);
    this.sessionsOpen = new Gauge({ name: `${p}sessions_open`, help: 'Open device connections, authorized or not.', registers });
    this.refused = new Counter({ name: `${p}connections_refused_total`, help: 'Device connections refused by a limit, by cause.', labelNames: ['cause'], registers });

    // Pools.
    this.upstreamUp = new Gauge({ name: `${p}upstream_up`, help: '1 while the pool connection is subscribed and authorized, else 0.', labelNames: ['pool'], registers });
    this.upstreamActive = new Gauge({ name: `${p}upstream_active`, help: '1 for the pool currently mined on, else 0.', labelNames: ['pool'], registers });
    this.upstreamShares = new Counter({ name: `${p}upstream_shares_total`, help: "The pool's verdicts on forwarded shares: accepted, stale, duplicate, low_difficulty, unauthorized, timeout or other.", labelNames: ['pool', 'result'], registers });
    this.upstreamSubmitSeconds = new Histogram({ name: `${p}upstream_submit_seconds`, help: "Round trip of a forwarded share: submit written to the pool's answer (timeouts excluded).", labelNames: ['pool'], buckets: SUBMIT_BUCKETS, registers });
    this.upstreamSwitches = new Counter({ name: `${p}upstream_switches_total`, help: 'Pool failovers, by the pool switched to.', labelNames: ['to'], registers });
    this.upstreamConnections = new Gauge({ name: `${p}upstream_connections`, help: 'Open upstream (pool) connections.', registers });
    this.fanoutSeconds = new Histogram({ name: `${p}notify_fanout_seconds`, help: 'A job from the pool received to written to every device.', buckets: FANOUT_BUCKETS, registers });
    this.blockCandidates = new Counter({ name: `${p}block_candidates_total`, help: 'Shares that met the network target.', registers });

    // Per device, rendered from the store at scrape time.
    const deviceLabels = this.labelIp ? ['worker', 'ip'] : ['worker'];
    const families: DeviceFamily[] = [
      { name: `${p}device_shares_total`, help: "A device's shares, by result: accepted, or the rejection reason.", kind: 'counter', labelNames: [...deviceLabels, 'result'], read: (a, b) => this.shareValues(a, b) },
      { name: `${p}device_work_total`, help: "A device's difficulty-weighted accepted work (sum of credited difficulties); hashrate = rate() * 2^48/0xFFFF (about 2^32) H/s.", kind: 'counter', labelNames: deviceLabels, read: (a, b) => this.columnValues(Col.work, a, b) },
      { name: `${p}device_difficulty`, help: "A device's current share difficulty.", kind: 'gauge', labelNames: deviceLabels, read: (a, b) => this.columnValues(Col.difficulty, a, b) },
      { name: `${p}device_last_share_timestamp_seconds`, help: "When a device's last accepted share arrived (seconds since the epoch); absent before its first.", kind: 'gauge', labelNames: deviceLabels, read: (a, b) => this.columnValues(Col.lastShareSeconds, a, b) },
      { name: `${p}device_connected`, help: '1 while the worker has a live session, 0 once its last session ended (until its series expire).', kind: 'gauge', labelNames: deviceLabels, read: (a, b) => this.connectedValues(a, b) },
      { name: `${p}device_upstream_shares_total`, help: "The pool's verdicts on a device's forwarded shares: accepted or rejected.", kind: 'counter', labelNames: [...deviceLabels, 'result'], read: (a, b) => this.upstreamValues(a, b) },
    ];
    for (const f of families) {
      scrapedMetric(f, this.registry, () => f.read(0, this.store.slotLimit));
      this.deviceFamilies.set(f.name, f);
    }

    this.listen(bus);
    const sweepSeconds = opts.sweepIntervalSeconds ?? Math.min(60, Math.max(1, this.retentionSeconds / 4));
    if (!(sweepSeconds > 0) || !Number.isFinite(sweepSeconds)) throw new RangeError(`sweepIntervalSeconds must be a positive number, got ${opts.sweepIntervalSeconds}`);
    this.sweepTimer = setInterval(() => {
      if (this.renderings === 0) this.sweep();
    }, sweepSeconds * 1000);
    this.sweepTimer.unref();
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
   * Workers are only removed by the sweep, which waits while a rendering is in progress, so a worker
   * appears at most once per scrape even though devices come and go between chunks.
   */
  async *pieces(): AsyncGenerator<string> {
    this.renderings++;
    try {
      let since = performance.now();
      let first = true;
      for (const metric of this.registry.getMetricsAsArray()) {
        const name = (metric as { name: string }).name;
        const family = this.deviceFamilies.get(name);
        const separator = first ? '' : '\n\n';
        first = false;
        if (!family) {
          yield separator + (await this.registry.getSingleMetricAsString(name));
        } else {
          for (let from = 0; from === 0 || from < this.store.slotLimit; from += DEVICES_PER_CHUNK) {
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
      this.renderings--;
    }
  }

  /** Remove the series of workers offline for longer than the retention time; returns them. */
  sweep(now = this.now()): string[] {
    const expired = this.store.expired(now - this.retentionSeconds * 1000);
    for (const worker of expired) {
      this.store.remove(worker);
      try {
        this.onForget?.(worker);
      } catch (err) {
        process.emitWarning(`onForget(${worker}) threw: ${(err as Error).message}`);
      }
    }
    return expired;
  }

  /** Stop listening and stop the sweep timer. */
  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }

  private on<K extends keyof ProxyEventMap>(bus: EventBus, name: K, fn: (e: ProxyEventMap[K]) => void): void {
    this.unsubscribe.push(bus.on(name, fn));
  }

  private listen(bus: EventBus): void {
    const store = this.store;
    this.on(bus, 'device.connected', () => this.sessionsOpen.set(++this.openSessions));
    this.on(bus, 'device.authorized', (e) => {
      const s = store.ensure(e.worker, e.ip, e.at);
      store.add(s, Col.sessions, 1);
      store.set(s, Col.disconnectedAt, NaN);
      store.setIp(s, e.ip);
    });
    this.on(bus, 'device.disconnected', (e) => {
      this.openSessions = Math.max(0, this.openSessions - 1);
      this.sessionsOpen.set(this.openSessions);
      if (e.worker === null) return;
      const s = store.slot(e.worker);
      if (s < 0 || store.get(s, Col.sessions) <= 0) return;
      store.add(s, Col.sessions, -1);
      if (store.get(s, Col.sessions) === 0) store.set(s, Col.disconnectedAt, e.at);
    });
    this.on(bus, 'device.difficulty', (e) => {
      store.set(store.ensure(e.worker, '', e.at), Col.difficulty, e.difficulty);
    });
    this.on(bus, 'share.accepted', (e) => {
      const s = store.ensure(e.worker, e.ip, e.at);
      store.add(s, Col.accepted, 1);
      store.add(s, Col.work, e.difficulty);
      store.set(s, Col.lastShareSeconds, e.at / 1000);
      this.sharesTotal.inc({ result: 'accepted' });
      this.workTotal.inc(e.difficulty);
    });
    this.on(bus, 'share.rejected', (e) => {
      this.sharesTotal.inc({ result: e.reason });
      // Only known workers get device series: a name that never authorized may be anything a client sent.
      const s = e.worker === null ? -1 : store.slot(e.worker);
      if (s >= 0) store.add(s, rejectColumn(e.reason), 1);
    });
    this.on(bus, 'share.upstream', (e) => {
      this.knowPool(e.pool);
      const result = upstreamResultOf(e.accepted, e.reason);
      this.upstreamShares.inc({ pool: e.pool, result });
      if (result !== 'timeout') this.upstreamSubmitSeconds.observe({ pool: e.pool }, e.latencyMs / 1000);
      const s = store.slot(e.worker);
      if (s >= 0) store.add(s, e.accepted ? Col.upstreamAccepted : Col.upstreamRejected, 1);
    });
    this.on(bus, 'block.candidate', () => this.blockCandidates.inc());
    this.on(bus, 'pool.up', (e) => {
      this.knowPool(e.pool);
      this.upstreamUp.set({ pool: e.pool }, 1);
    });
    this.on(bus, 'pool.down', (e) => {
      this.knowPool(e.pool);
      this.upstreamUp.set({ pool: e.pool }, 0);
      this.upstreamActive.set({ pool: e.pool }, 0);
    });
    this.on(bus, 'pool.switch', (e) => {
      this.knowPool(e.to);
      for (const pool of this.poolNames) this.upstreamActive.set({ pool }, pool === e.to ? 1 : 0);
      // The first pool mined on (from null) is no failover.
      if (e.from !== null) this.upstreamSwitches.inc({ to: e.to });
    });
    this.on(bus, 'pool.connections', (e) => this.upstreamConnections.set(e.count));
    this.on(bus, 'job.fanout', (e) => this.fanoutSeconds.observe(e.seconds));
    this.on(bus, 'limit.refused', (e) => this.refused.inc({ cause: e.cause }));
  }

  private knowPool(pool: string): void {
    if (this.poolNames.has(pool)) return;
    this.poolNames.add(pool);
    this.upstreamActive.set({ pool }, 0);
    // Every verdict exported at 0 from the start, so rate() counts the first rejection and reject ratios
    // are 0, not absent, while the pool accepts everything.
    for (const result of UPSTREAM_RESULTS) this.upstreamShares.inc({ pool, result }, 0);
  }

  private columnValues(col: number, from: number, to: number): SeriesValues {
    const out: SeriesValues = [];
    const store = this.store;
    store.forEach(
      (s, worker) => {
        const value = store.get(s, col);
        if (Number.isNaN(value)) return;
        out.push({ labels: this.labelIp ? { worker, ip: store.ip(s) } : { worker }, value });
      },
      from,
      to,
    );
    return out;
  }

  private connectedValues(from: number, to: number): SeriesValues {
    const out: SeriesValues = [];
    const store = this.store;
    store.forEach(
      (s, worker) => {
        const value = store.get(s, Col.sessions) > 0 ? 1 : 0;
        out.push({ labels: this.labelIp ? { worker, ip: store.ip(s) } : { worker }, value });
      },
      from,
      to,
    );
    return out;
  }

  private shareValues(from: number, to: number): SeriesValues {
    const out: SeriesValues = [];
    const store = this.store;
    store.forEach(
      (s, worker) => {
        const ip = this.labelIp ? store.ip(s) : undefined;
        const push = (result: string, value: number): void => {
          out.push({ labels: ip === undefined ? { worker, result } : { worker, ip, result }, value });
        };
        push('accepted', store.get(s, Col.accepted));
        for (let i = 0; i < REJECT_REASONS.length; i++) {
          const reason = REJECT_REASONS[i]!;
          const value = store.get(s, Col.rejected + i);
          if (value > 0 || ALWAYS_EXPORTED_REASONS.has(reason)) push(reason, value);
        }
      },
      from,
      to,
    );
    return out;
  }

  private upstreamValues(from: number, to: number): SeriesValues {
    const out: SeriesValues = [];
    const store = this.store;
    store.forEach(
      (s, worker) => {
        const ip = this.labelIp ? store.ip(s) : undefined;
        out.push({ labels: ip === undefined ? { worker, result: 'accepted' } : { worker, ip, result: 'accepted' }, value: store.get(s, Col.upstreamAccepted) });
        out.push({ labels: ip === undefined ? { worker, result: 'rejected' } : { worker, ip, result: 'rejected' }, value: store.get(s, Col.upstreamRejected) });
      },
      from,
      to,
    );
    return out;
  }
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
