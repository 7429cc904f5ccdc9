import { checkJob, type UsableNotify } from './job-check.js';

/**
 * The one judge of a pool session's health as far as its jobs go. Every `mining.notify` of the session
 * comes here: a usable one is decoded once and passed on; an unusable one is refused with its reason
 * (devices keep the last usable job meanwhile). The session is faulty when `maxBadJobsInARow` unusable jobs
 * come in a row (no usable one between), or when no usable job came `firstJobTimeoutMs` after the session
 * became ready (a pool whose every notify is unusable, or that sends none).
 *
 * One judge per session: a reconnect is a new session with a new judge, so nothing carries over. Pure: the
 * clock is injected; the owner arms its timer for `firstJobWaitLeftMs` and asks `firstJobFault` then.
 */

export interface PoolHealthOptions {
  /** Unusable jobs in a row (no usable one between) that make the pool faulty. Default 5. */
  maxBadJobsInARow?: number;
  /** A session with no usable job this long after it became ready is faulty, milliseconds. Default 30000. */
  firstJobTimeoutMs?: number;
}

export const POOL_HEALTH_DEFAULTS: Required<PoolHealthOptions> = { maxBadJobsInARow: 5, firstJobTimeoutMs: 30_000 };

export type JobVerdict =
  | ({ usable: true; receivedAt: number } & UsableNotify)
  | {
      usable: false;
      reason: string;
      /** Unusable jobs in a row so far, this one included. */
      inARow: number;
      /** Set when this job makes the pool faulty: the fault's reason (the count starts again after it). */
      fault: string | null;
    };

export class PoolHealth {
  private readonly maxBadJobsInARow: number;
  private readonly firstJobTimeoutMs: number;
  private readonly now: () => number;
  private badInARow = 0;
  private refusedTotal = 0;
  private usableSeen = false;
  private readyAt: number | null = null;

  constructor(options: PoolHealthOptions = {}, now: () => number = Date.now) {
    this.maxBadJobsInARow = options.maxBadJobsInARow ?? POOL_HEALTH_DEFAULTS.maxBadJobsInARow;
    this.firstJobTimeoutMs = options.firstJobTimeoutMs ?? POOL_HEALTH_DEFAULTS.firstJobTimeoutMs;
    this.now = now;
  }

  /** Jobs refused in this session, in total. */
  get refusedJobs(): number {
    return this.refusedTotal;
  }

  /** Judge one `mining.notify` (raw params) under the pool difficulty in force for it. */
  judge(params: unknown[], difficulty: number): JobVerdict {
    const receivedAt = this.now();
    const checked = checkJob(params, difficulty, receivedAt);
    if (checked.ok) {
      this.badInARow = 0;
      this.usableSeen = true;
      return { usable: true, receivedAt, ...checked.value };
    }
    this.refusedTotal++;
    const inARow = ++this.badInARow;
    if (inARow < this.maxBadJobsInARow) return { usable: false, reason: checked.reason, inARow, fault: null };
    this.badInARow = 0;
    return { usable: false, reason: checked.reason, inARow, fault: `${inARow} unusable jobs in a row (last: ${checked.reason})` };
  }

  /** The session is subscribed and authorized: the wait for its first usable job starts now. */
  sessionReady(): void {
    this.readyAt = this.now();
  }

  /**
   * Milliseconds left to wait for the first usable job (0 once the time is up); null when nothing is
   * awaited: the session is not ready yet, or a usable job came.
   */
  firstJobWaitLeftMs(): number | null {
    if (this.readyAt === null || this.usableSeen) return null;
    return Math.max(0, this.readyAt + this.firstJobTimeoutMs - this.now());
  }

  /** The fault when the session has been ready `firstJobTimeoutMs` without one usable job; null otherwise. */
  firstJobFault(): string | null {
    if (this.firstJobWaitLeftMs() !== 0) return null;
    return `no usable job within ${this.firstJobTimeoutMs / 1000} s of the connection being ready`;
  }
}
