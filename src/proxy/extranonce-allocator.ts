/**
 * Splits one upstream session's extranonce2 space between devices. Each device gets a unique prefix of
 * `prefixSize` bytes: its extranonce1 = pool extranonce1 + prefix, its extranonce2 size = pool size - prefix
 * size. Pure bookkeeping, no sockets.
 *
 * A freed prefix is quarantined: it is not handed out again while jobs its old owner could still submit on
 * exist, i.e. until the job generation moves past the one in force when it was freed (a clean job or an
 * extranonce change voids every older job).
 */
export interface SplitPlan {
  prefixSize: number;
  deviceExtranonce2Size: number;
  capacity: number;
}

export const DEFAULT_MIN_DEVICE_EXTRANONCE2 = 3;

/**
 * Choose the prefix size: the fewest bytes that give every expected device its own prefix, without leaving
 * a device less than `minDeviceExtranonce2` bytes. When the pool's space cannot hold the expected devices,
 * the largest prefix allowed is used and more upstream sessions are opened (aggregation).
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

export class ExtranonceAllocator {
  readonly prefixSize: number;
  readonly capacity: number;
  private next = 0;
  private readonly inUse = new Set<number>();
  private free: number[] = [];
  /** Freed prefixes waiting for the job generation to move past the one they were freed in. */
  private quarantine: { prefix: number; generation: number }[] = [];

  constructor(plan: SplitPlan) {
    this.prefixSize = plan.prefixSize;
    this.capacity = plan.capacity;
  }

  get used(): number {
    return this.inUse.size;
  }

  /** Prefixes neither in use nor quarantined. */
  get available(): number {
    return this.capacity - this.inUse.size - this.quarantine.length;
  }

  /** A unique prefix as hex, or null when the space is full. */
  allocate(): string | null {
    let prefix: number | undefined = this.free.pop();
    if (prefix === undefined) {
      if (this.next >= this.capacity) return null;
      prefix = this.next++;
    }
    this.inUse.add(prefix);
    return prefix.toString(16).padStart(this.prefixSize * 2, '0');
  }

  /** Give a prefix back; it becomes reusable once the job generation passes `generation`. */
  release(prefixHex: string, generation: number): void {
    const prefix = parseInt(prefixHex, 16);
    if (!this.inUse.delete(prefix)) return;
    this.quarantine.push({ prefix, generation });
  }

  /** The job generation moved to `generation` (clean job, extranonce change): older prefixes are free again. */
  advance(generation: number): void {
    if (this.quarantine.length === 0) return;
    const still: { prefix: number; generation: number }[] = [];
    for (const q of this.quarantine) {
      if (q.generation < generation) this.free.push(q.prefix);
      else still.push(q);
    }
    this.quarantine = still;
  }
}
