/**
 * The proxy-wide extranonce space. A device's extranonce1 is its prefix only (`prefixSize` bytes); its
 * extranonce2 has `deviceExtranonce2Size` bytes. The pool's extranonce1 travels inside the device-facing
 * job (see device-job.ts), so a prefix is not tied to one pool connection.
 *
 * Every device takes a proxy-wide **slot** n at subscribe: lane = floor(n / 256^P), prefix = n mod 256^P.
 * Each target serves lane k with its own pool connection (channel), so devices of one lane share that
 * connection's extranonce space with distinct prefixes, and a device can move between targets keeping its
 * prefix. Pure bookkeeping, no sockets.
 *
 * A freed slot is quarantined: it is not handed out again while a job its old owner could have mined on is
 * still current on some channel of its lane, i.e. until each such channel's job generation moves past the
 * one in force at release (a clean job, an extranonce change or a lost connection voids every older job).
 */
export interface SplitPlan {
  prefixSize: number;
  deviceExtranonce2Size: number;
  /** Prefixes per lane (256^prefixSize). */
  capacity: number;
}

export const DEFAULT_MIN_DEVICE_EXTRANONCE2 = 3;

/**
 * Choose the prefix size: the fewest bytes that give every expected device its own prefix, without leaving
 * a device less than `minDeviceExtranonce2` bytes. When the pool's space cannot hold the expected devices,
 * the largest prefix allowed is used and more lanes (pool connections) are opened (aggregation).
 */
export function planSplit(poolExtranonce2Size: number, expectedDevices: number, minDeviceExtranonce2 = DEFAULT_MIN_DEVICE_EXTRANONCE2): SplitPlan {
  if (!Number.isInteger(poolExtranonce2Size) || poolExtranonce2Size < 1) throw new RangeError(`pool extranonce2 size must be a positive integer, got ${poolExtranonce2Size}`);
  const maxPrefix = Math.min(4, poolExtranonce2Size - minDeviceExtranonce2);
  if (maxPrefix < 1) {
    // Too little room to split while keeping the minimum: give the devices a 1-byte prefix if the pool leaves at least one byte, else refuse.
    if (poolExtranonce2Size < 2) throw new RangeError(`the pool's extranonce2 size ${poolExtranonce2Size} leaves no room to split between devices`);
    return { prefixSize: 1, deviceExtranonce2Size: poolExtranonce2Size - 1, capacity: 256 };
  }
  let prefixSize = 1;
  while (prefixSize < maxPrefix && 256 ** prefixSize < expectedDevices) prefixSize++;
  return { prefixSize, deviceExtranonce2Size: poolExtranonce2Size - prefixSize, capacity: 256 ** prefixSize };
}

/** Where slot `slot` sits: its lane and its prefix (hex, `prefixSize` bytes). */
export interface SlotPlace {
  slot: number;
  lane: number;
  prefix: string;
}

export function slotPlace(slot: number, prefixSize: number): SlotPlace {
  const perLane = 256 ** prefixSize;
  const lane = Math.floor(slot / perLane);
  return { slot, lane, prefix: (slot % perLane).toString(16).padStart(prefixSize * 2, '0') };
}

/**
 * Slots for the whole proxy, lowest free first (so lanes fill in order and few pool connections are
 * needed). `K` names a channel (anything with identity); quarantined slots wait for channels by key.
 */
export class SlotAllocator<K = unknown> {
  readonly prefixSize: number;
  readonly lanes: number;
  readonly capacity: number;
  private next = 0;
  private readonly inUse = new Set<number>();
  /** Freed slots below `next`, sorted descending (the lowest is popped). */
  private free: number[] = [];
  /** Freed slots and, per channel of their lane that held a current job then, the generation to pass. */
  private quarantine: { slot: number; waits: Map<K, number> }[] = [];

  constructor(plan: Pick<SplitPlan, 'prefixSize'>, lanes: number) {
    if (!Number.isInteger(lanes) || lanes < 1) throw new RangeError(`lanes must be a positive integer, got ${lanes}`);
    this.prefixSize = plan.prefixSize;
    this.lanes = lanes;
    this.capacity = 256 ** plan.prefixSize * lanes;
  }

  get used(): number {
    return this.inUse.size;
  }

  /** Slots neither in use nor quarantined. */
  get available(): number {
    return this.capacity - this.inUse.size - this.quarantine.length;
  }

  /** Slots of lane `lane` neither in use nor quarantined. */
  availableIn(lane: number): number {
    const perLane = 256 ** this.prefixSize;
    const lo = lane * perLane;
    const hi = lo + perLane;
    let taken = 0;
    for (const s of this.inUse) if (s >= lo && s < hi) taken++;
    for (const q of this.quarantine) if (q.slot >= lo && q.slot < hi) taken++;
    return perLane - taken;
  }

  /** The lowest free slot, or null when every lane is full. */
  allocate(): SlotPlace | null {
    let slot = this.free.pop();
    if (slot === undefined) {
      if (this.next >= this.capacity) return null;
      slot = this.next++;
    }
    this.inUse.add(slot);
    return slotPlace(slot, this.prefixSize);
  }

  /**
   * Give a slot back. `waits`: each channel of the slot's lane with a job that may still be current, and its
   * job generation now; the slot is reusable once every one of them has moved past it (at once when none).
   */
  release(slot: number, waits: Iterable<readonly [K, number]>): void {
    if (!this.inUse.delete(slot)) return;
    const pending = new Map(waits);
    if (pending.size === 0) this.makeFree(slot);
    else this.quarantine.push({ slot, waits: pending });
  }

  /** Channel `key` moved to job generation `generation`: slots waiting only on older generations are free. */
  advance(key: K, generation: number): void {
    this.settle((waits) => {
      const g = waits.get(key);
      if (g !== undefined && g < generation) waits.delete(key);
    });
  }

  /** Channel `key` is closed: it holds no job anyone can still submit on. */
  forget(key: K): void {
    this.settle((waits) => waits.delete(key));
  }

  private settle(update: (waits: Map<K, number>) => void): void {
    if (this.quarantine.length === 0) return;
    const still: typeof this.quarantine = [];
    for (const q of this.quarantine) {
      update(q.waits);
      if (q.waits.size === 0) this.makeFree(q.slot);
      else still.push(q);
    }
    this.quarantine = still;
  }

  private makeFree(slot: number): void {
    // Descending order: pop() gives the lowest.
    let i = this.free.length;
    while (i > 0 && this.free[i - 1]! < slot) i--;
    this.free.splice(i, 0, slot);
  }
}
