import { EventEmitter } from 'node:events';
import type { PowHasher } from '../chain/hasher.js';
import { loadX11Wasm } from '../chain/x11-wasm.js';
import { addCounters, newCounters, type ShareCounters } from './counters.js';
import { NO_MISBEHAVIOUR, SHARE_KINDS, SimDevice, type DeviceEventSink, type MisbehaviourRates, type ShareKind, type SimDeviceOptions, type SimDeviceStats, type SimFleetEvents } from './device.js';
import { HashScheduler, type HashSchedulerOptions, type HashSchedulerStats } from './hash-scheduler.js';

export { NO_MISBEHAVIOUR, SHARE_KINDS, type MisbehaviourRates, type ShareKind, type SimDeviceStats, type SimFleetEvents } from './device.js';

/**
 * N simulated ASICs on one event loop, each a Stratum V1 client to host:port that really hashes X11.
 * Hashing is time-sliced by a HashScheduler (per-device hashrate, fleet-wide cap), so thousands of idle
 * devices cost little and the loop stays responsive. See SimDevice for the protocol behaviour and the
 * misbehaviour knobs.
 */

export interface SimFleetOptions {
  /** Host of the Stratum server (default 127.0.0.1). */
  host?: string;
  port: number;
  /** Number of devices (indices 0 .. devices-1). */
  devices: number;
  /** Hashes per second per device (default 200). */
  hashrate?: number;
  /** Fleet-wide cap on hashes per second (default 20,000); devices are scaled down evenly above it. */
  maxHashrate?: number;
  /** Worker names are `${workerPrefix}.${i}` (default 'sim'). */
  workerPrefix?: string;
  /** Overrides workerPrefix. */
  workerName?: (index: number) => string;
  /** mining.authorize password (default 'x'). */
  password?: string;
  /** Negotiate version rolling with mining.configure (default false). */
  versionRolling?: boolean;
  /** Send mining.extranonce.subscribe after authorizing (default true). */
  extranonceSubscribe?: boolean;
  /** Misbehaviour rates per share for every device (default all 0). */
  misbehaviour?: Partial<MisbehaviourRates>;
  /** Per-device overrides (hashrate, misbehaviour, ...). */
  deviceOptions?: (index: number) => Partial<Pick<SimDeviceOptions, 'hashrate' | 'versionRolling' | 'extranonceSubscribe' | 'password' | 'worker'>> & { misbehaviour?: Partial<MisbehaviourRates> };
  /** New connections per second at start (default 1000). */
  connectRate?: number;
  /** First reconnect delay after an unexpected close (default 1000 ms, doubling up to maxReconnectDelayMs). */
  reconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  /** Close and retry when subscribe/authorize go unanswered this long (default 30,000 ms). */
  handshakeTimeoutMs?: number;
  /** Nonces per extranonce2 before it rolls (default 2^20). */
  noncesPerExtranonce2?: number;
  userAgent?: string;
  /** X11 backend (default loadX11Wasm()). */
  hasher?: PowHasher;
  /** Randomness for misbehaviour and jitter (default Math.random). */
  random?: () => number;
  scheduler?: Omit<HashSchedulerOptions, 'maxHashrate'>;
}

export interface SimFleetStats {
  devices: number;
  connected: number;
  authorized: number;
  /** Devices holding a job and hashing. */
  mining: number;
  killed: number;
  /** Every mining.submit sent and its answers (garbage lines excluded). */
  totals: ShareCounters;
  byKind: Record<ShareKind, ShareCounters>;
  sharesFound: number;
  hashes: number;
  /** Measured over the last few seconds. */
  hashrate: number;
  jobsReceived: number;
  cleanJobs: number;
  difficultyChanges: number;
  extranonceChanges: number;
  reconnects: number;
  reconnectRequests: number;
  disconnects: number;
  messages: number;
  authorizeRejected: number;
  unmatchedAnswers: number;
  unanswered: number;
  badJobs: number;
  elapsedSeconds: number;
  scheduler: HashSchedulerStats;
}

function checkRate(name: string, v: number): number {
  if (!(v >= 0 && v <= 1)) throw new RangeError(`misbehaviour.${name} must be from 0 to 1, got ${v}`);
  return v;
}

export class SimFleet extends EventEmitter<SimFleetEvents> {
  private readonly opts: SimFleetOptions;
  private readonly devices: SimDevice[] = [];
  private readonly scheduler: HashScheduler;
  private connectTimer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private started = false;
  private stopped = false;

  constructor(options: SimFleetOptions) {
    super();
    this.opts = options;
    if (!Number.isInteger(options.devices) || options.devices < 0) throw new RangeError(`devices must be an integer >= 0, got ${options.devices}`);
    if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) throw new RangeError(`port must be 1 to 65535, got ${options.port}`);
    const hashrate = options.hashrate ?? 200;
    if (!(hashrate >= 0) || !Number.isFinite(hashrate)) throw new RangeError(`hashrate must be a number >= 0, got ${hashrate}`);
    for (const [k, v] of Object.entries(options.misbehaviour ?? {})) checkRate(k, v);
    this.scheduler = new HashScheduler({ ...options.scheduler, maxHashrate: options.maxHashrate ?? 20_000 });
    this.setMaxListeners(50);
  }

  /** Load the hasher, create the devices and connect them (staggered by connectRate). Resolves once every connect has been started. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const o = this.opts;
    const hasher = o.hasher ?? (await loadX11Wasm());
    if (this.stopped) return;
    // The sink is typed where devices call it; EventEmitter's generic emit cannot follow a generic K here.
    const sink: DeviceEventSink = (name, ...args) => (this.emit as (n: string, ...a: unknown[]) => boolean)(name, ...args);
    const base: Omit<SimDeviceOptions, 'index' | 'worker'> = {
      password: o.password ?? 'x',
      host: o.host ?? '127.0.0.1',
      port: o.port,
      hashrate: o.hashrate ?? 200,
      versionRolling: o.versionRolling ?? false,
      extranonceSubscribe: o.extranonceSubscribe ?? true,
      misbehaviour: { ...NO_MISBEHAVIOUR },
      reconnectDelayMs: o.reconnectDelayMs ?? 1000,
      maxReconnectDelayMs: o.maxReconnectDelayMs ?? 15_000,
      handshakeTimeoutMs: o.handshakeTimeoutMs ?? 30_000,
      noncesPerExtranonce2: o.noncesPerExtranonce2 ?? 2 ** 20,
      userAgent: o.userAgent ?? 'dash-farm-proxy-sim/1.0',
      random: o.random ?? Math.random,
    };
    for (let i = 0; i < o.devices; i++) {
      const extra = o.deviceOptions?.(i) ?? {};
      const misbehaviour = { ...NO_MISBEHAVIOUR, ...o.misbehaviour, ...extra.misbehaviour };
      for (const [k, v] of Object.entries(misbehaviour)) checkRate(k, v);
      const worker = extra.worker ?? o.workerName?.(i) ?? `${o.workerPrefix ?? 'sim'}.${i}`;
      const device = new SimDevice({ ...base, ...extra, index: i, worker, misbehaviour }, hasher, sink);
      this.devices.push(device);
      this.scheduler.add(device);
    }
    this.startedAt = Date.now();
    this.scheduler.start();
    const rate = Math.max(1, o.connectRate ?? 1000);
    const perTick = Math.max(1, Math.round(rate / 100));
    let next = 0;
    await new Promise<void>((resolve) => {
      const step = () => {
        if (this.stopped) return resolve();
        for (let k = 0; k < perTick && next < this.devices.length; k++) this.devices[next++]!.connect();
        if (next >= this.devices.length) {
          this.connectTimer = undefined;
          resolve();
        } else this.connectTimer = setTimeout(step, 10);
      };
      step();
    });
  }

  /** Close every device for good. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.scheduler.stop();
    for (const d of this.devices) d.stop();
    // Let the close events run so sockets are really gone when this resolves.
    await new Promise((resolve) => setImmediate(resolve));
  }

  get size(): number {
    return this.devices.length;
  }

  /** Close device i abruptly; it stays down until reviveDevice(i). */
  killDevice(index: number): void {
    this.device(index).kill();
  }

  reviveDevice(index: number): void {
    this.device(index).revive();
  }

  /** Change misbehaviour rates of one device (or all when index is undefined). */
  setMisbehaviour(rates: Partial<MisbehaviourRates>, index?: number): void {
    for (const [k, v] of Object.entries(rates)) checkRate(k, v);
    for (const d of index === undefined ? this.devices : [this.device(index)]) d.setMisbehaviour(rates);
  }

  /** Change the hashrate of one device (or all). */
  setHashrate(hashrate: number, index?: number): void {
    if (!(hashrate >= 0) || !Number.isFinite(hashrate)) throw new RangeError(`hashrate must be a number >= 0, got ${hashrate}`);
    for (const d of index === undefined ? this.devices : [this.device(index)]) d.hashrate = hashrate;
  }

  deviceStats(index: number): SimDeviceStats {
    return this.device(index).stats();
  }

  allDeviceStats(): SimDeviceStats[] {
    return this.devices.map((d) => d.stats());
  }

  stats(): SimFleetStats {
    const totals = newCounters();
    const byKind = {} as Record<ShareKind, ShareCounters>;
    for (const k of SHARE_KINDS) byKind[k] = newCounters();
    const out: SimFleetStats = {
      devices: this.devices.length,
      connected: 0,
      authorized: 0,
      mining: 0,
      killed: 0,
      totals,
      byKind,
      sharesFound: 0,
      hashes: 0,
      hashrate: 0,
      jobsReceived: 0,
      cleanJobs: 0,
      difficultyChanges: 0,
      extranonceChanges: 0,
      reconnects: 0,
      reconnectRequests: 0,
      disconnects: 0,
      messages: 0,
      authorizeRejected: 0,
      unmatchedAnswers: 0,
      unanswered: 0,
      badJobs: 0,
      elapsedSeconds: this.startedAt ? (Date.now() - this.startedAt) / 1000 : 0,
      scheduler: this.scheduler.stats(),
    };
    for (const d of this.devices) {
      const s = d.stats();
      if (s.state === 'subscribing' || s.state === 'authorizing' || s.state === 'mining' || s.state === 'unauthorized') out.connected++;
      if (s.state === 'mining') out.authorized++;
      if (s.state === 'mining' && s.lastJobId !== null) out.mining++;
      if (s.state === 'killed') out.killed++;
      addCounters(totals, s.shares);
      for (const k of SHARE_KINDS) addCounters(byKind[k], s.byKind[k]);
      out.sharesFound += s.sharesFound;
      out.hashes += s.hashes;
      out.jobsReceived += s.jobsReceived;
      out.cleanJobs += s.cleanJobs;
      out.difficultyChanges += s.difficultyChanges;
      out.extranonceChanges += s.extranonceChanges;
      out.reconnects += s.reconnects;
      out.reconnectRequests += s.reconnectRequests;
      out.disconnects += s.disconnects;
      out.messages += s.messages;
      out.authorizeRejected += s.authorizeRejected;
      out.unmatchedAnswers += s.unmatchedAnswers;
      out.unanswered += s.unanswered;
      out.badJobs += s.badJobs;
    }
    out.hashrate = out.scheduler.measuredHashrate;
    return out;
  }

  /** Resolve when `predicate(stats())` holds (polled every `pollMs`); reject after `timeoutMs`. */
  waitFor(predicate: (stats: SimFleetStats) => boolean, timeoutMs = 10_000, pollMs = 50): Promise<SimFleetStats> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const check = () => {
        const s = this.stats();
        if (predicate(s)) return resolve(s);
        if (Date.now() - started >= timeoutMs) return reject(new Error(`SimFleet.waitFor: condition not met within ${timeoutMs} ms`));
        setTimeout(check, pollMs);
      };
      check();
    });
  }

  /** Resolve when `count` devices (default all not killed) are authorized and hold a job. */
  whenMining(count?: number, timeoutMs = 10_000): Promise<SimFleetStats> {
    return this.waitFor((s) => s.mining >= (count ?? s.devices - s.killed), timeoutMs);
  }

  private device(index: number): SimDevice {
    const d = this.devices[index];
    if (!d) throw new RangeError(`no device ${index} (the fleet has ${this.devices.length}; call start() first)`);
    return d;
  }
}
