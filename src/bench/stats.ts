/** Small statistics for the benchmark figures: nearest-rank percentiles and medians of repeated runs. */

/** Nearest-rank percentile (q in 0..1) of ascending sorted values; null when there are none. */
export function percentile(sorted: ArrayLike<number>, q: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

/** p50, p99 and max of unsorted values (copied, then sorted). */
export function summarize(values: ArrayLike<number>): { p50: number | null; p99: number | null; max: number | null; count: number } {
  const sorted = Float64Array.from(values).sort();
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.length ? sorted[sorted.length - 1]! : null, count: sorted.length };
}

/** The median of the numbers given (nulls and NaNs left out); the mean of the two middle ones for an even count. */
export function median(values: readonly (number | null | undefined)[]): number | null {
  const xs = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = xs.length >> 1;
  return xs.length % 2 === 1 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
}

/** [min, max] of the numbers given, or null. */
export function range(values: readonly (number | null | undefined)[]): [number, number] | null {
  const xs = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return xs.length === 0 ? null : [Math.min(...xs), Math.max(...xs)];
}

/** Round to `digits` decimals, keeping null. */
export function round(x: number | null | undefined, digits = 2): number | null {
  if (x === null || x === undefined || !Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** a / b, or null when either is missing or b is 0. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return a / b;
}
