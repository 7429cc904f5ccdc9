import type { RoutePlace } from '../core/events.js';
import { DEFAULT_ROUTE, DEFAULT_TARGET } from '../routing/default-route.js';
import type { ExtranonceInfo, Upstream, UpstreamJob } from '../upstream/types.js';
import type { DeviceState } from './device-state.js';
import { JobRegistry } from './job-registry.js';
import type { TargetGroup } from './target-group.js';

/**
 * One upstream session of one target, serving one lane of the proxy-wide extranonce space, and what hangs
 * off it: the devices mining on it now, its jobs under the proxy's ids (as devices see them), and the current
 * job serialized once (the same bytes go to every device of the channel).
 */
export class Channel {
  /** The devices mining on this connection now (their records are owned by the proxy's DeviceStates). */
  readonly devices = new Set<DeviceState>();
  readonly registry: JobRegistry;
  /** The pool's extranonce on this session (null before the first `ready`). */
  extranonce: ExtranonceInfo | null = null;
  /**
   * Zero bytes after a device's extranonce2 in this pool's extranonce2 (device-job.ts); null while the pool's
   * extranonce2 is too small for the proxy's layout (the connection cannot serve devices).
   */
  pad: number | null = null;
  pool: string | null = null;
  poolUrl: string | null = null;
  /** The last usable pool job (derived again when the layout changes). */
  lastPoolJob: UpstreamJob | null = null;
  /** The current outage was logged (one warning per outage, not one per failed reconnect). */
  downLogged = false;
  /** The pool's version-rolling mask on this connection, when it granted one. */
  versionMask = 0;
  /** Closed: its target was removed (SIGHUP). */
  closed = false;
  /**
   * The latest job as devices receive it, the same job with clean_jobs forced on (for devices joining) and
   * forced off (sent again after a device's difficulty changes).
   */
  private jobLine: Buffer | null = null;
  private cleanJobLine: Buffer | null = null;
  private keepWorkLine: Buffer | null = null;

  constructor(
    /** Proxy-wide connection number (events' `connection`). */
    readonly index: number,
    /** The lane of the extranonce space this connection serves. */
    readonly lane: number,
    readonly upstream: Upstream,
    opts: { difficultyMultiplier: number; maxJobs?: number },
    /** The route and target this connection mines for (its pools and credentials are the target's). */
    readonly place: RoutePlace = { route: DEFAULT_ROUTE, target: DEFAULT_TARGET },
    /** The target group that opened it (null in tests that make a channel alone). */
    readonly group: TargetGroup | null = null,
  ) {
    this.registry = new JobRegistry({ difficultyMultiplier: opts.difficultyMultiplier, maxJobs: opts.maxJobs ?? 16 });
  }

  /** Up, with a layout that fits its pool: devices can mine on it once a job came. */
  get ready(): boolean {
    return this.extranonce !== null && this.pad !== null && this.upstream.isReady && !this.closed;
  }

  /** Ready with a current job. */
  get serving(): boolean {
    return this.ready && this.jobLine !== null;
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
