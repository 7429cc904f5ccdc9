import type { RejectReason } from '../stratum/errors.js';

/**
 * Every device's live numbers in one compact store: one row of doubles per worker name in paged
 * Float64Arrays, plus the worker and ip strings and a Map entry. The row holds the device's counts (see
 * the table in farm-ledger.ts), its state, its owner, route and target (numbers: indexes into the ledger's
 * small tables, not a string per row), and its work per 10 s bucket for the last 10 minutes (a ring).
 * The JSON API, the feed and /metrics all read these rows; no per-device object exists between reads.
 * (prom-client would keep an object per series, about 1.9 KiB per device for 11 series; one JS object per
 * device with its own typed array cost a few hundred bytes more: see src/bench/metrics-scale.ts.)
 *
 * Pure data: no events, no timers. FarmLedger writes it; readers go through FarmLedger.
 */

/** Rejection reasons in column order. */
export const REJECT_REASONS: readonly RejectReason[] = ['invalid', 'stale', 'duplicate', 'low_difficulty', 'unauthorized', 'not_subscribed'];

/** Work is kept in buckets of this many seconds, for hashrate and the sparkline. */
export const BUCKET_SECONDS = 10;
/** Buckets kept per device: 60 x 10 s = the last 10 minutes. */
export const BUCKETS = 60;

/** Column offsets inside a row. Times are milliseconds since the epoch; NaN means "never" / "not now". */
export const Col = {
  /** Live sessions under this worker name (normally 0 or 1). */
  sessions: 0,
  difficulty: 1,
  work: 2,
  /** When the last accepted share arrived; NaN before the first. */
  lastShareAt: 3,
  accepted: 4,
  /** First rejection column; reason i is at rejected + i (order of REJECT_REASONS). */
  rejected: 5,
  forwarded: 11,
  poolAccepted: 12,
  poolRejected: 13,
  poolUnanswered: 14,
  blockCandidates: 15,
  /** When the last session was authorized; NaN before the first. */
  connectedAt: 16,
  /** When the last session ended; NaN before the first end. */
  disconnectedAt: 17,
  /** Since when the worker has had no live session (for retention); NaN while online. */
  offlineSince: 18,
  firstSeenAt: 19,
  /** Absolute bucket number (epoch seconds / BUCKET_SECONDS) of the newest bucket written. */
  bucketHead: 20,
  /** Bumped on every change, so the feed can send only what changed. */
  version: 21,
  /** The device's owner under the owners map in force: an index into the ledger's owner table (farm-ledger.ts). */
  owner: 22,
  /** The route and target the device mines for (its last `device.route`): indexes into the ledger's route and target tables; -1 before its first placement. */
  route: 23,
  target: 24,
  /** First work bucket: BUCKETS numbers, a ring indexed by absolute bucket number modulo BUCKETS. */
  buckets: 25,
} as const;

const STRIDE = Col.buckets + BUCKETS;
/** Rows per page. Pages are added as the farm grows, so growing never copies and wastes at most one page. */
const PAGE_SHIFT = 8;
const PAGE_ROWS = 1 << PAGE_SHIFT;
const ROW_MASK = PAGE_ROWS - 1;
const reasonColumn = new Map<RejectReason, number>(REJECT_REASONS.map((r, i) => [r, Col.rejected + i]));

export function rejectColumn(reason: RejectReason): number {
  const col = reasonColumn.get(reason);
  if (col === undefined) throw new RangeError(`unknown reject reason ${String(reason)}`);
  return col;
}

export class DeviceStore {
  /** Row storage: slot s occupies pages[s >> PAGE_SHIFT][(s & ROW_MASK) * STRIDE ..+ STRIDE). */
  private readonly pages: Float64Array[] = [];
  private readonly slotOf = new Map<string, number>();
  private readonly workers: (string | undefined)[] = [];
  private readonly ips: string[] = [];
  private readonly freeSlots: number[] = [];

  get size(): number {
    return this.slotOf.size;
  }

  /** The slot of a worker, or -1. */
  slot(worker: string): number {
    return this.slotOf.get(worker) ?? -1;
  }

  /** The slot of a worker, created (all counts 0, offline since `at`) when missing. */
  ensure(worker: string, ip: string, at: number): number {
    const existing = this.slotOf.get(worker);
    if (existing !== undefined) return existing;
    const slot = this.freeSlots.pop() ?? this.workers.length;
    while (this.pages.length <= slot >> PAGE_SHIFT) this.pages.push(new Float64Array(PAGE_ROWS * STRIDE));
    const page = this.pages[slot >> PAGE_SHIFT]!;
    const base = (slot & ROW_MASK) * STRIDE;
    page.fill(0, base, base + STRIDE);
    page[base + Col.lastShareAt] = NaN;
    page[base + Col.connectedAt] = NaN;
    page[base + Col.disconnectedAt] = NaN;
    page[base + Col.offlineSince] = at;
    page[base + Col.firstSeenAt] = at;
    page[base + Col.route] = -1;
    page[base + Col.target] = -1;
    this.workers[slot] = worker;
    this.ips[slot] = ip;
    this.slotOf.set(worker, slot);
    return slot;
  }

  remove(worker: string): boolean {
    const slot = this.slotOf.get(worker);
    if (slot === undefined) return false;
    this.slotOf.delete(worker);
    this.workers[slot] = undefined;
    this.ips[slot] = '';
    this.freeSlots.push(slot);
    return true;
  }

  get(slot: number, col: number): number {
    return this.pages[slot >> PAGE_SHIFT]![(slot & ROW_MASK) * STRIDE + col]!;
  }

  set(slot: number, col: number, value: number): void {
    this.pages[slot >> PAGE_SHIFT]![(slot & ROW_MASK) * STRIDE + col] = value;
  }

  add(slot: number, col: number, delta: number): void {
    this.pages[slot >> PAGE_SHIFT]![(slot & ROW_MASK) * STRIDE + col]! += delta;
  }

  /** Work `amount` into the bucket of time `at` (ms), clearing the buckets skipped since the last write. */
  addWork(slot: number, amount: number, at: number): void {
    const page = this.pages[slot >> PAGE_SHIFT]!;
    const row = (slot & ROW_MASK) * STRIDE;
    const ring = row + Col.buckets;
    const b = Math.floor(at / 1000 / BUCKET_SECONDS);
    const head = page[row + Col.bucketHead]!;
    if (b > head) {
      const gap = Math.min(b - head, BUCKETS);
      for (let i = 0; i < gap; i++) page[ring + ringIndex(b - i)] = 0;
      page[row + Col.bucketHead] = b;
    } else if (b <= head - BUCKETS) {
      return; // older than the ring
    }
    page[ring + ringIndex(b)]! += amount;
  }

  /** Work in bucket `b` (absolute bucket number), 0 when it is outside the ring. */
  bucketWork(slot: number, b: number): number {
    const page = this.pages[slot >> PAGE_SHIFT]!;
    const row = (slot & ROW_MASK) * STRIDE;
    const head = page[row + Col.bucketHead]!;
    if (b > head || b <= head - BUCKETS) return 0;
    return page[row + Col.buckets + ringIndex(b)]!;
  }

  worker(slot: number): string | undefined {
    return this.workers[slot];
  }

  ip(slot: number): string {
    return this.ips[slot] ?? '';
  }

  setIp(slot: number, ip: string): void {
    this.ips[slot] = ip;
  }

  /** One past the highest slot ever used: slots are in [0, slotLimit). */
  get slotLimit(): number {
    return this.workers.length;
  }

  /** Calls `fn` for every live slot in [from, to) (default: all), in slot order. */
  forEach(fn: (slot: number, worker: string) => void, from = 0, to = this.workers.length): void {
    const workers = this.workers;
    const end = Math.min(to, workers.length);
    for (let s = Math.max(0, from); s < end; s++) {
      const w = workers[s];
      if (w !== undefined) fn(s, w);
    }
  }
}

function ringIndex(b: number): number {
  return ((b % BUCKETS) + BUCKETS) % BUCKETS;
}
