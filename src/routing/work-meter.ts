import { HASHES_PER_DIFF1 } from '../chain/target.js';

/**
 * A device's measured hashrate, from the work the proxy credited it (the difficulty of each accepted share),
 * for the split planner. The proxy holds one per device (up to 100,000), so it is four numbers, not a list of
 * timestamps: an exponentially decayed sum of the credited difficulty. A share credited `age` ms ago counts
 * exp(-age / timeConstantMs); for a device that has mined at a steady rate r (difficulty per second) since
 * `startedAt`, the decayed sum is r x tau x (1 - exp(-lived / tau)), so dividing by that window gives r with no
 * bias from the first minutes on. Hashrate = r x HASHES_PER_DIFF1 (the Dash diff-1 work, src/chain/target.ts).
 * Pure: every time (ms) is passed in; a clock that goes back is read as no time passing.
 */

/** The meter's memory: a share counts 1/e after this long, so the estimate follows a change in about this time. */
export const METER_TIME_CONSTANT_MS = 300_000;

/** A window shorter than this is read as this long, so a share credited at the first instant is no infinity. */
const MIN_WINDOW_MS = 1_000;

export class WorkMeter {
  /** The decayed sum of credited difficulty, as of `updatedAt`. */
  private work = 0;
  private updatedAt: number;
  /** Shares credited since the start (not decayed): the planner counts a device with none as not measured. */
  private credited = 0;

  /**
   * @param startedAt when the device began to mine on the proxy (ms), the start of its measurement
   * @param timeConstantMs how fast old shares fade (ms, positive)
   */
  constructor(
    private readonly startedAt: number,
    private readonly timeConstantMs = METER_TIME_CONSTANT_MS,
  ) {
    if (!(timeConstantMs > 0) || !Number.isFinite(timeConstantMs)) throw new RangeError(`timeConstantMs must be a positive number, got ${timeConstantMs}`);
    this.updatedAt = startedAt;
  }

  /** Credits one accepted share of `difficulty` at `at` (ms). A difficulty that is not a positive number counts nothing. */
  credit(difficulty: number, at: number): void {
    if (!(difficulty > 0) || !Number.isFinite(difficulty)) return;
    this.work = this.decayedTo(at) + difficulty;
    if (at > this.updatedAt) this.updatedAt = at;
    this.credited++;
  }

  /** How many shares were credited since the start. */
  get shares(): number {
    return this.credited;
  }

  /** The measured hashrate (H/s) at `at` (ms), or null before the first credited share (not measured yet). */
  hashrate(at: number): number | null {
    if (this.credited === 0) return null;
    const lived = Math.max(MIN_WINDOW_MS, at - this.startedAt);
    // The window a steady rate fills after `lived` ms: tau x (1 - exp(-lived / tau)), never less than MIN_WINDOW_MS.
    const windowMs = Math.max(MIN_WINDOW_MS, -this.timeConstantMs * Math.expm1(-lived / this.timeConstantMs));
    return (this.decayedTo(at) * HASHES_PER_DIFF1 * 1000) / windowMs;
  }

  /** The decayed work as of `at`; a time before the last update reads as the last update. */
  private decayedTo(at: number): number {
    const elapsed = at - this.updatedAt;
    return elapsed > 0 ? this.work * Math.exp(-elapsed / this.timeConstantMs) : this.work;
  }
}
