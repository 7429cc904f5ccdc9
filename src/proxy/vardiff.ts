/**
 * Per-device difficulty (vardiff), pure: given share times, decide the next difficulty. Aims at a share
 * rate (default 12 per minute), retargets at most every `retargetSeconds` with a bounded step, lowers the
 * difficulty of a device that went quiet, and never goes above the pool's difficulty (shares between the
 * two targets would be lost) nor outside [min, max].
 */
export interface VardiffOptions {
  /** Shares per minute to aim at. */
  targetSharesPerMinute: number;
  /** Shortest time between two retargets. */
  retargetSeconds: number;
  /** Largest factor of one retarget, up or down. */
  maxStep: number;
  /** No retarget while the observed rate is within this fraction of the target (0.3 = ±30%). */
  tolerance: number;
  minDifficulty: number;
  maxDifficulty: number;
}

/**
 * Defaults for an X11 ASIC farm. One difficulty-1 share is 2^32 hashes, so at 12 shares a minute a device
 * of H hash/s settles near H / 8.6e8: about 1,200 for a 1 TH/s Antminer D7, 23,000 for a 20 TH/s machine.
 * The floor of 1 still gives a 1 GH/s device (the smallest X11 ASICs) its 12 shares a minute and keeps a
 * fast device that went quiet from coming back at a difficulty it would flood; the ceiling is far above
 * any device (and a device is never above the pool's difficulty anyway).
 */
export const DEFAULT_VARDIFF: VardiffOptions = {
  targetSharesPerMinute: 12,
  retargetSeconds: 30,
  maxStep: 4,
  tolerance: 0.3,
  minDifficulty: 1,
  maxDifficulty: 1e9,
};

/**
 * A device's first difficulty before vardiff tunes it (clamped to the pool's): 4096 is 12 shares a minute
 * at 3.5 TH/s, so a 1 TH/s device and a 20 TH/s one each reach their own difficulty in one or two retargets.
 */
export const DEFAULT_START_DIFFICULTY = 4096;

export interface VardiffState {
  difficulty: number;
  /** Start of the current observation window (ms). */
  windowStart: number;
  sharesInWindow: number;
}

export function vardiffStart(startDifficulty: number, poolDifficulty: number, opts: VardiffOptions, now: number): VardiffState {
  return { difficulty: clamp(startDifficulty, poolDifficulty, opts), windowStart: now, sharesInWindow: 0 };
}

export function clamp(difficulty: number, poolDifficulty: number, opts: VardiffOptions): number {
  const upper = Math.min(opts.maxDifficulty, poolDifficulty > 0 ? poolDifficulty : Infinity);
  return Math.max(Math.min(difficulty, upper), Math.min(opts.minDifficulty, upper));
}

/** Three significant digits: difficulties people can read, and no churn from tiny changes. */
function tidy(d: number): number {
  return Number(d.toPrecision(3));
}

/**
 * Record a share (when `share` is true) or just look at the clock, and return the new difficulty when a
 * retarget is due, else null. The state is updated in place.
 */
export function vardiffUpdate(state: VardiffState, share: boolean, poolDifficulty: number, opts: VardiffOptions, now: number): number | null {
  if (share) state.sharesInWindow++;
  // The pool's difficulty dropped below ours: follow it down at once.
  const ceiling = clamp(state.difficulty, poolDifficulty, opts);
  if (ceiling < state.difficulty) return apply(state, ceiling, now);

  const elapsed = (now - state.windowStart) / 1000;
  const targetRate = opts.targetSharesPerMinute / 60;
  // Early retarget when shares come far too fast (a device started far too easy): after 4x the expected count.
  const expected = elapsed * targetRate;
  const flood = state.sharesInWindow >= 8 && state.sharesInWindow > 4 * Math.max(expected, 1);
  if (elapsed < opts.retargetSeconds && !flood) return null;
  if (elapsed <= 0) return null;

  // With no share in the window, the rate is below one share per window: assume half a share.
  const observed = (state.sharesInWindow === 0 ? 0.5 : state.sharesInWindow) / elapsed;
  const ratio = observed / targetRate;
  if (Math.abs(ratio - 1) <= opts.tolerance) {
    state.windowStart = now;
    state.sharesInWindow = 0;
    return null;
  }
  const step = Math.min(Math.max(ratio, 1 / opts.maxStep), opts.maxStep);
  const next = clamp(tidy(state.difficulty * step), poolDifficulty, opts);
  if (next === state.difficulty) {
    state.windowStart = now;
    state.sharesInWindow = 0;
    return null;
  }
  return apply(state, next, now);
}

function apply(state: VardiffState, difficulty: number, now: number): number {
  state.difficulty = difficulty;
  state.windowStart = now;
  state.sharesInWindow = 0;
  return difficulty;
}
