import type { RejectReason } from '../stratum/errors.js';

/**
 * The per-device numbers behind the `dash_proxy_device_*` metrics, kept compactly: one row of 16 doubles
 * (128 bytes) in a paged Float64Array per worker name, plus the worker and ip strings and a Map entry.
 * prom-client keeps an object per series (measured: about 1.9 KiB per device for 11 series at 10,000
 * devices, see src/bench/metrics-scale.ts), which alone would be a third of the farm's 6 KiB per device
 * budget; here the series objects only exist while a scrape is being rendered.
 *
 * Pure data: no events, no timers, no prom-client. ProxyMetrics feeds it and reads it.
 */

/** Rejection reasons in column order. */
export const REJECT_REASONS: readonly RejectReason[] = ['invalid', 'stale', 'duplicate', 'low_difficulty', 'unauthorized', 'not_subscribed'];

/** Column offsets inside a row. */
export const Col = {
  sessions: 0,
  difficulty: 1,
  work: 2,
  /** Seconds since the epoch of the last accepted share, NaN before the first. */
  lastShareSeconds: 3,
  accepted: 4,
  /** First rejection column; reason i is at rejected + i (order of REJECT_REASONS). */
  rejected: 5,
  upstreamAccepted: 11,
  upstreamRejected: 12,
  /** Milliseconds since the epoch when the last session ended, NaN while connected. */
  disconnectedAt: 13,
} as const;

const STRIDE = 16;
/** Rows per page. Pages are added as the farm grows, so growing never copies and wastes at most one page. */
const PAGE_SHIFT = 10;
const PAGE_ROWS = 1 << PAGE_SHIFT;
const ROW_MASK = PAGE_ROWS - 1;
const reasonColumn = new Map<RejectReason, number>(REJECT_REASONS.map((r, i) => [r, Col.rejected + i]));

export function rejectColumn(reason: RejectReason): number {
  const col = reasonColumn.get(reason);
  if (col === undefined) throw new RangeError(`unknown reject reason ${String(reason)}`);
  return col;
}

export class DeviceSeriesStore {
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

  /** The slot of a worker, created (all counters 0, offline since `at`) when missing. */
  ensure(worker: string, ip: string, at: number): number {
    const existing = this.slotOf.get(worker);
    if (existing !== undefined) return existing;
    const slot = this.freeSlots.pop() ?? this.workers.length;
    while (this.pages.length <= slot >> PAGE_SHIFT) this.pages.push(new Float64Array(PAGE_ROWS * STRIDE));
    const page = this.pages[slot >> PAGE_SHIFT]!;
    const base = (slot & ROW_MASK) * STRIDE;
    page.fill(0, base, base + STRIDE);
    page[base + Col.lastShareSeconds] = NaN;
    page[base + Col.disconnectedAt] = at;
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

  /** Workers with no live session whose last session ended at or before `cutoff` (ms since the epoch). */
  expired(cutoff: number): string[] {
    const out: string[] = [];
    this.forEach((s, w) => {
      if (this.get(s, Col.sessions) === 0 && this.get(s, Col.disconnectedAt) <= cutoff) out.push(w);
    });
    return out;
  }

  /** How many workers have at least one live session. */
  online(): number {
    let n = 0;
    this.forEach((s) => {
      if (this.get(s, Col.sessions) > 0) n++;
    });
    return n;
  }
}
