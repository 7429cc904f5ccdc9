import { HASHES_PER_DIFF1 } from '../chain/target.js';
import type { RejectReason } from '../stratum/errors.js';
import type { EventBus } from '../core/events.js';

/**
 * The farm's live state, built from the event stream only: one record per worker name (a device that
 * reconnects continues its counters), pool status, and totals. The JSON API, the websocket feed and
 * alerting read it; Prometheus metrics are kept separately by prom-client from the same events.
 */

/** Work is kept in buckets of this many seconds, for hashrate and the sparkline. */
export const BUCKET_SECONDS = 10;
/** Buckets kept per device: 60 x 10 s = the last 10 minutes. */
export const BUCKETS = 60;
/** Hashrate is averaged over this many seconds. */
export const HASHRATE_WINDOW_SECONDS = 300;

export interface DeviceRecord {
  worker: string;
  ip: string;
  /** Live sessions under this worker name (normally 0 or 1). */
  sessions: number;
  difficulty: number;
  accepted: number;
  rejected: Partial<Record<RejectReason, number>>;
  /** Difficulty-weighted accepted work (sum of credited difficulties). */
  work: number;
  upstreamAccepted: number;
  upstreamRejected: number;
  blockCandidates: number;
  lastShareAt: number | null;
  connectedAt: number | null;
  disconnectedAt: number | null;
  /** When this worker was first seen (hashrate of a new device is averaged over its life, not the full window). */
  firstSeenAt: number;
  /**
   * Where this device's work per bucket lives in FarmStats' bucket slab: BUCKETS numbers from
   * slot * BUCKETS, a ring indexed by absolute bucket number modulo BUCKETS. (One shared Float64Array for
   * every device instead of one typed array each: about 300 bytes less per device.)
   */
  slot: number;
  /** Absolute bucket number (epoch seconds / BUCKET_SECONDS) of the newest bucket written. */
  bucketHead: number;
  /** Bumped on every change, so the feed can send only what changed. */
  version: number;
}

export interface PoolRecord {
  name: string;
  url: string;
  up: boolean;
  active: boolean;
  lastChange: number;
  lastError: string | null;
  accepted: number;
  rejected: number;
}

export interface FarmEvent {
  at: number;
  kind: 'block' | 'pool' | 'device-offline' | 'device-online';
  message: string;
}

export interface DeviceView {
  worker: string;
  ip: string;
  online: boolean;
  difficulty: number;
  hashrate: number;
  accepted: number;
  rejected: number;
  rejectedByReason: Partial<Record<RejectReason, number>>;
  rejectRate: number;
  work: number;
  upstreamAccepted: number;
  upstreamRejected: number;
  blockCandidates: number;
  lastShareAt: number | null;
  connectedAt: number | null;
  disconnectedAt: number | null;
}

export interface FarmSummary {
  at: number;
  devicesOnline: number;
  devicesOffline: number;
  hashrate: number;
  accepted: number;
  rejected: number;
  rejectedByReason: Partial<Record<RejectReason, number>>;
  forwarded: number;
  poolAccepted: number;
  poolRejected: number;
  blockCandidates: number;
  activePool: string | null;
  poolsUp: number;
}

export interface FarmStatsOptions {
  /** How many recent farm events (blocks, pool changes, devices offline/online) are kept. */
  eventLog?: number;
  now?: () => number;
}

/**
 * The work buckets of every device in one Float64Array, BUCKETS numbers per slot. A slot freed by a
 * forgotten worker is reused (zeroed when handed out again); the array grows by half when full.
 */
class BucketSlab {
  data = new Float64Array(1024 * BUCKETS);
  private readonly free: number[] = [];
  private used = 0;

  allocate(): number {
    const reused = this.free.pop();
    if (reused !== undefined) {
      this.data.fill(0, reused * BUCKETS, (reused + 1) * BUCKETS);
      return reused;
    }
    const slot = this.used++;
    if ((slot + 1) * BUCKETS > this.data.length) {
      const bigger = new Float64Array(Math.ceil((this.data.length / BUCKETS) * 1.5) * BUCKETS);
      bigger.set(this.data);
      this.data = bigger;
    }
    return slot;
  }

  release(slot: number): void {
    this.free.push(slot);
  }
}

export class FarmStats {
  readonly devices = new Map<string, DeviceRecord>();
  readonly pools = new Map<string, PoolRecord>();
  readonly events: FarmEvent[] = [];
  private readonly eventLog: number;
  private readonly now: () => number;
  private totals = { accepted: 0, rejected: 0, forwarded: 0, poolAccepted: 0, poolRejected: 0, blockCandidates: 0 };
  private rejectedByReason: Partial<Record<RejectReason, number>> = {};
  private readonly listeners = new Set<(e: FarmEvent) => void>();
  /** Every device's work buckets (see DeviceRecord.slot). */
  private readonly slab = new BucketSlab();

  constructor(bus: EventBus, opts: FarmStatsOptions = {}) {
    this.eventLog = opts.eventLog ?? 200;
    this.now = opts.now ?? Date.now;
    bus.on('device.authorized', (e) => {
      const d = this.device(e.worker, e.ip, e.at);
      const wasOffline = d.sessions === 0;
      d.sessions++;
      d.ip = e.ip;
      d.connectedAt = e.at;
      d.version++;
      if (wasOffline && d.disconnectedAt !== null) this.log({ at: e.at, kind: 'device-online', message: `${e.worker} is back online` });
    });
    bus.on('device.disconnected', (e) => {
      if (e.worker === null) return;
      const d = this.devices.get(e.worker);
      if (!d || d.sessions === 0) return;
      d.sessions--;
      if (d.sessions === 0) {
        d.disconnectedAt = e.at;
        this.log({ at: e.at, kind: 'device-offline', message: `${e.worker} went offline (${e.reason})` });
      }
      d.version++;
    });
    bus.on('device.difficulty', (e) => {
      const d = this.devices.get(e.worker);
      if (d) {
        d.difficulty = e.difficulty;
        d.version++;
      }
    });
    bus.on('share.accepted', (e) => {
      const d = this.device(e.worker, e.ip, e.at);
      d.accepted++;
      d.work += e.difficulty;
      d.lastShareAt = e.at;
      this.addWork(d, e.difficulty, e.at);
      d.version++;
      this.totals.accepted++;
      if (e.meetsPool) this.totals.forwarded++;
    });
    bus.on('share.rejected', (e) => {
      this.totals.rejected++;
      this.rejectedByReason[e.reason] = (this.rejectedByReason[e.reason] ?? 0) + 1;
      if (e.worker === null) return;
      const d = this.device(e.worker, e.ip, e.at);
      d.rejected[e.reason] = (d.rejected[e.reason] ?? 0) + 1;
      d.version++;
    });
    bus.on('share.upstream', (e) => {
      const d = this.devices.get(e.worker);
      if (e.accepted) this.totals.poolAccepted++;
      else this.totals.poolRejected++;
      const p = this.pools.get(e.pool);
      if (p) {
        if (e.accepted) p.accepted++;
        else p.rejected++;
      }
      if (d) {
        if (e.accepted) d.upstreamAccepted++;
        else d.upstreamRejected++;
        d.version++;
      }
    });
    bus.on('block.candidate', (e) => {
      this.totals.blockCandidates++;
      const d = this.devices.get(e.worker);
      if (d) {
        d.blockCandidates++;
        d.version++;
      }
      this.log({ at: e.at, kind: 'block', message: `Block candidate from ${e.worker}: ${e.hash} (difficulty ${e.shareDifficulty.toPrecision(4)})` });
    });
    bus.on('pool.up', (e) => {
      const p = this.pool(e.pool, e.url);
      p.up = true;
      p.lastChange = e.at;
      p.lastError = null;
      this.log({ at: e.at, kind: 'pool', message: `Pool ${e.pool} is up` });
    });
    bus.on('pool.down', (e) => {
      const p = this.pool(e.pool, e.url);
      p.up = false;
      p.active = false;
      p.lastChange = e.at;
      p.lastError = e.reason;
      this.log({ at: e.at, kind: 'pool', message: `Pool ${e.pool} is down: ${e.reason}` });
    });
    bus.on('pool.switch', (e) => {
      for (const p of this.pools.values()) p.active = p.name === e.to;
      this.log({ at: e.at, kind: 'pool', message: e.from ? `Switched from pool ${e.from} to ${e.to}: ${e.reason}` : `Mining on pool ${e.to}` });
    });
  }

  /** Be told of every new farm event (for the websocket feed and webhooks). */
  onEvent(listener: (e: FarmEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Forget a worker entirely (its retention time after disconnecting ran out). */
  forget(worker: string): void {
    const d = this.devices.get(worker);
    if (!d) return;
    this.devices.delete(worker);
    this.slab.release(d.slot);
  }

  /** Hashrate (H/s) of one device over the last HASHRATE_WINDOW_SECONDS. */
  hashrate(d: DeviceRecord, at = this.now()): number {
    const headNow = Math.floor(at / 1000 / BUCKET_SECONDS);
    const span = HASHRATE_WINDOW_SECONDS / BUCKET_SECONDS;
    let work = 0;
    const data = this.slab.data;
    const base = d.slot * BUCKETS;
    for (let b = headNow - span + 1; b <= headNow; b++) {
      if (b > d.bucketHead || b <= d.bucketHead - BUCKETS) continue;
      work += data[base + (((b % BUCKETS) + BUCKETS) % BUCKETS)]!;
    }
    const lived = Math.max(BUCKET_SECONDS, (at - d.firstSeenAt) / 1000);
    return (work * HASHES_PER_DIFF1) / Math.min(HASHRATE_WINDOW_SECONDS, lived);
  }

  /** The device's hashrate per bucket over the last BUCKETS buckets, oldest first (for a sparkline). */
  history(d: DeviceRecord, at = this.now()): number[] {
    const headNow = Math.floor(at / 1000 / BUCKET_SECONDS);
    const out: number[] = [];
    const data = this.slab.data;
    const base = d.slot * BUCKETS;
    for (let b = headNow - BUCKETS + 1; b <= headNow; b++) {
      const inRing = b <= d.bucketHead && b > d.bucketHead - BUCKETS;
      out.push(inRing ? (data[base + (((b % BUCKETS) + BUCKETS) % BUCKETS)]! * HASHES_PER_DIFF1) / BUCKET_SECONDS : 0);
    }
    return out;
  }

  view(d: DeviceRecord, at = this.now()): DeviceView {
    let rejected = 0;
    for (const n of Object.values(d.rejected)) rejected += n ?? 0;
    const total = d.accepted + rejected;
    return {
      worker: d.worker,
      ip: d.ip,
      online: d.sessions > 0,
      difficulty: d.difficulty,
      hashrate: this.hashrate(d, at),
      accepted: d.accepted,
      rejected,
      rejectedByReason: { ...d.rejected },
      rejectRate: total === 0 ? 0 : rejected / total,
      work: d.work,
      upstreamAccepted: d.upstreamAccepted,
      upstreamRejected: d.upstreamRejected,
      blockCandidates: d.blockCandidates,
      lastShareAt: d.lastShareAt,
      connectedAt: d.connectedAt,
      disconnectedAt: d.disconnectedAt,
    };
  }

  summary(at = this.now()): FarmSummary {
    let online = 0;
    let hashrate = 0;
    for (const d of this.devices.values()) {
      if (d.sessions > 0) online++;
      hashrate += this.hashrate(d, at);
    }
    let active: string | null = null;
    let up = 0;
    for (const p of this.pools.values()) {
      if (p.active) active = p.name;
      if (p.up) up++;
    }
    return {
      at,
      devicesOnline: online,
      devicesOffline: this.devices.size - online,
      hashrate,
      ...this.totals,
      rejectedByReason: { ...this.rejectedByReason },
      activePool: active,
      poolsUp: up,
    };
  }

  private device(worker: string, ip: string, at: number): DeviceRecord {
    let d = this.devices.get(worker);
    if (!d) {
      d = {
        worker,
        ip,
        sessions: 0,
        difficulty: 0,
        accepted: 0,
        rejected: {},
        work: 0,
        upstreamAccepted: 0,
        upstreamRejected: 0,
        blockCandidates: 0,
        lastShareAt: null,
        connectedAt: null,
        disconnectedAt: null,
        firstSeenAt: at,
        slot: this.slab.allocate(),
        bucketHead: 0,
        version: 0,
      };
      this.devices.set(worker, d);
    }
    return d;
  }

  private pool(name: string, url: string): PoolRecord {
    let p = this.pools.get(name);
    if (!p) {
      p = { name, url, up: false, active: false, lastChange: 0, lastError: null, accepted: 0, rejected: 0 };
      this.pools.set(name, p);
    }
    return p;
  }

  private addWork(d: DeviceRecord, work: number, at: number): void {
    const b = Math.floor(at / 1000 / BUCKET_SECONDS);
    const data = this.slab.data;
    const base = d.slot * BUCKETS;
    if (b > d.bucketHead) {
      // Clear the buckets skipped since the last write.
      const gap = Math.min(b - d.bucketHead, BUCKETS);
      for (let i = 0; i < gap; i++) data[base + ((((b - i) % BUCKETS) + BUCKETS) % BUCKETS)] = 0;
      d.bucketHead = b;
    } else if (b <= d.bucketHead - BUCKETS) {
      return; // older than the ring
    }
    data[base + (((b % BUCKETS) + BUCKETS) % BUCKETS)]! += work;
  }

  private log(e: FarmEvent): void {
    this.events.push(e);
    if (this.events.length > this.eventLog) this.events.splice(0, this.events.length - this.eventLog);
    for (const l of this.listeners) l(e);
  }
}
