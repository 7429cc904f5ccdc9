/**
 * Exponential backoff with jitter, pure (no timers): the owner asks `next()` for the delay before its next
 * attempt and calls `reset()` once an attempt succeeded.
 *
 * Jitter modes, as described in the AWS Architecture Blog post "Exponential Backoff And Jitter" (2015):
 * - `none`:         delay = min(max, base * factor^n)
 * - `full`:         delay = random * min(max, base * factor^n)
 * - `decorrelated`: delay = min(max, base + random * (previous * factor - base)), previous starting at base
 *   (the post multiplies the previous delay by 3; here the multiplier is `factor`).
 */

export type JitterMode = 'none' | 'full' | 'decorrelated';

export interface BackoffOptions {
  /** First ceiling (and the floor of decorrelated jitter), milliseconds. Default 1000. */
  baseMs?: number;
  /** Largest delay ever returned, milliseconds. Default 60000. */
  maxMs?: number;
  /** Growth per attempt, >= 1. Default 2. */
  factor?: number;
  /** Default `full`. */
  jitter?: JitterMode;
  /** Uniform random in [0, 1); injectable for tests. Default Math.random. */
  random?: () => number;
}

export const DEFAULT_BACKOFF = { baseMs: 1000, maxMs: 60_000, factor: 2, jitter: 'full' } as const satisfies BackoffOptions;

const JITTER_MODES: readonly JitterMode[] = ['none', 'full', 'decorrelated'];

/** Check backoff options; throws an Error naming the field (prefixed with `where`). */
export function checkBackoffOptions(opts: BackoffOptions, where = 'backoff'): void {
  const positive = (v: unknown, name: string) => {
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)) throw new Error(`${where}.${name} must be a positive number of milliseconds, got ${String(v)}`);
  };
  positive(opts.baseMs, 'baseMs');
  positive(opts.maxMs, 'maxMs');
  const base = opts.baseMs ?? DEFAULT_BACKOFF.baseMs;
  const max = opts.maxMs ?? DEFAULT_BACKOFF.maxMs;
  if (max < base) throw new Error(`${where}.maxMs (${max}) must be >= ${where}.baseMs (${base})`);
  if (opts.factor !== undefined && (typeof opts.factor !== 'number' || !Number.isFinite(opts.factor) || opts.factor < 1)) {
    throw new Error(`${where}.factor must be a number >= 1, got ${String(opts.factor)}`);
  }
  if (opts.jitter !== undefined && !JITTER_MODES.includes(opts.jitter)) {
    throw new Error(`${where}.jitter must be one of ${JITTER_MODES.join(', ')}, got ${String(opts.jitter)}`);
  }
}

export class Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
  readonly factor: number;
  readonly jitter: JitterMode;
  private readonly random: () => number;
  /** The un-jittered ceiling for the next attempt (none/full) or the previous delay (decorrelated). */
  private ceiling: number;
  private count = 0;

  constructor(opts: BackoffOptions = {}) {
    checkBackoffOptions(opts);
    this.baseMs = opts.baseMs ?? DEFAULT_BACKOFF.baseMs;
    this.maxMs = opts.maxMs ?? DEFAULT_BACKOFF.maxMs;
    this.factor = opts.factor ?? DEFAULT_BACKOFF.factor;
    this.jitter = opts.jitter ?? DEFAULT_BACKOFF.jitter;
    this.random = opts.random ?? Math.random;
    this.ceiling = this.baseMs;
  }

  /** Delays handed out since the last reset. */
  get attempts(): number {
    return this.count;
  }

  /** The delay before the next attempt (milliseconds, an integer in [0, maxMs]); advances the sequence. */
  next(): number {
    this.count++;
    const r = clampUnit(this.random());
    let delay: number;
    if (this.jitter === 'decorrelated') {
      const upper = Math.min(this.maxMs, this.ceiling * this.factor);
      delay = Math.min(this.maxMs, this.baseMs + r * Math.max(0, upper - this.baseMs));
      this.ceiling = Math.max(this.baseMs, delay);
    } else {
      const cap = this.ceiling;
      delay = this.jitter === 'full' ? r * cap : cap;
      this.ceiling = Math.min(this.maxMs, this.ceiling * this.factor);
    }
    return Math.round(delay);
  }

  /** Back to the first delay (call after a success). */
  reset(): void {
    this.count = 0;
    this.ceiling = this.baseMs;
  }
}

function clampUnit(r: number): number {
  if (!Number.isFinite(r) || r < 0) return 0;
  return r > 1 ? 1 : r;
}
