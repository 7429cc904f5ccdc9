import type { RoutePlace } from '../core/events.js';
import { DEFAULT_ROUTE, DEFAULT_TARGET } from '../routing/default-route.js';
import type { ExtranonceInfo, Upstream } from '../upstream/types.js';
import type { DeviceState } from './device-state.js';
import { ExtranonceAllocator, planSplit, type SplitPlan } from './extranonce-allocator.js';
import { JobRegistry } from './job-registry.js';

/**
 * One upstream session and what hangs off it: the devices sharing its extranonce space, its jobs under
 * the proxy's ids, and the current job serialized once (the same bytes go to every device).
 */
export class Channel {
  /** The devices this connection serves (their records are owned by the proxy's DeviceStates). */
  readonly devices = new Set<DeviceState>();
  readonly registry: JobRegistry;
  allocator: ExtranonceAllocator | null = null;
  plan: SplitPlan | null = null;
  extranonce: ExtranonceInfo | null = null;
  pool: string | null = null;
  poolUrl: string | null = null;
  /** The current outage was logged (one warning per outage, not one per failed reconnect). */
  downLogged = false;
  /** The pool's version-rolling mask on this connection, when it granted one. */
  versionMask = 0;
  /**
   * The latest job as devices receive it, the same job with clean_jobs forced on (for devices joining) and
   * forced off (sent again after a device's difficulty changes).
   */
  private jobLine: Buffer | null = null;
  private cleanJobLine: Buffer | null = null;
  private keepWorkLine: Buffer | null = null;

  constructor(
    readonly index: number,
    readonly upstream: Upstream,
    opts: { difficultyMultiplier: number; maxJobs?: number },
    /** The route and target this connection mines for (its pools and credentials are the target's). */
    readonly place: RoutePlace = { route: DEFAULT_ROUTE, target: DEFAULT_TARGET },
  ) {
    this.registry = new JobRegistry({ difficultyMultiplier: opts.difficultyMultiplier, maxJobs: opts.maxJobs ?? 16 });
  }

  get ready(): boolean {
    return this.extranonce !== null && this.upstream.isReady;
  }

  /** Free prefixes in this channel's extranonce space. */
  get room(): number {
    return this.allocator ? this.allocator.available : 0;
  }

  /** Set up (or re-check) the split for the pool's extranonce. Returns true when existing prefixes still fit. */
  configure(info: ExtranonceInfo, expectedDevices: number, minDeviceExtranonce2: number): boolean {
    const previous = this.plan;
    this.extranonce = info;
    if (previous && info.extranonce2Size - previous.prefixSize >= 1) {
      this.plan = { ...previous, deviceExtranonce2Size: info.extranonce2Size - previous.prefixSize };
      return true;
    }
    this.plan = planSplit(info.extranonce2Size, expectedDevices, minDeviceExtranonce2);
    this.allocator = new ExtranonceAllocator(this.plan);
    return previous === null;
  }

  /** A device left: forget it and give its prefix back (reusable once the jobs it could have mined are gone). */
  leave(device: DeviceState): void {
    if (!this.devices.delete(device)) return;
    this.allocator?.release(device.prefix, this.registry.generation);
  }

  setJob(line: Buffer, cleanLine: Buffer, keepWorkLine: Buffer): void {
    this.jobLine = line;
    this.cleanJobLine = cleanLine;
    this.keepWorkLine = keepWorkLine;
  }

  clearJob(): void {
    this.jobLine = null;
    this.cleanJobLine = null;
    this.keepWorkLine = null;
  }

  /** The current job again for a device that got a new difficulty (clean_jobs off: its work in hand stays valid). */
  get resendLine(): Buffer | null {
    return this.keepWorkLine;
  }

  /** The current job for a device that just joined (clean_jobs on), if any. */
  get joinLine(): Buffer | null {
    return this.cleanJobLine;
  }

  get currentLine(): Buffer | null {
    return this.jobLine;
  }
}
