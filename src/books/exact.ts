/**
 * Exact arithmetic for splitting money by work. Work is measured in difficulty, a JavaScript number; every
 * finite number is exactly an integer times a power of two, so it converts to a fraction of bigints with no
 * rounding at all (`exactFraction(0.1)` is 3602879701896397 / 2^55, the value the number really holds). From
 * there everything is bigint: sums over a common denominator, products, and the one division into duffs.
 */
export interface Fraction {
  /** Numerator, >= 0 here (work and money are never negative). */
  readonly n: bigint;
  /** Denominator, > 0. */
  readonly d: bigint;
}

export const ZERO: Fraction = { n: 0n, d: 1n };

/** The exact value of a finite number >= 0 as a fraction whose denominator is a power of two. */
export function exactFraction(x: number): Fraction {
  if (!Number.isFinite(x) || x < 0) throw new RangeError(`work must be a finite number >= 0 (got ${String(x)})`);
  let e = 0n;
  // Doubling a number with a fractional part is exact (no overflow below 2^53), so this ends exactly.
  while (!Number.isInteger(x)) {
    x *= 2;
    e++;
  }
  return { n: BigInt(x), d: 1n << e };
}

export function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a < 0n ? -a : a;
}

/** A fraction as a number (for display only: never for money). */
export function toNumber(f: Fraction): number {
  // Scale down huge numerators and denominators together so Number() keeps the ratio.
  let { n, d } = f;
  const excess = BigInt(Math.max(0, Math.max(n.toString(2).length, d.toString(2).length) - 1000));
  if (excess > 0n) {
    n >>= excess;
    d >>= excess;
    if (d === 0n) return Infinity;
  }
  return Number(n) / Number(d);
}

/**
 * Many sums of fractions, each as a bigint over one shared denominator: `sums[i] / denominator` is exactly
 * the sum of `terms[i]`. The denominator is the least common multiple of the terms' denominators (each
 * distinct denominator is met once), so the cost grows with the distinct denominators, not with the terms.
 */
export function overCommonDenominator(terms: readonly (readonly Fraction[])[]): { sums: bigint[]; denominator: bigint } {
  let denominator = 1n;
  const seen = new Set<bigint>();
  for (const list of terms) {
    for (const t of list) {
      if (seen.has(t.d)) continue;
      seen.add(t.d);
      denominator = (denominator / gcd(denominator, t.d)) * t.d;
    }
  }
  const factor = new Map<bigint, bigint>();
  const sums = terms.map((list) => {
    let s = 0n;
    for (const t of list) {
      let f = factor.get(t.d);
      if (f === undefined) factor.set(t.d, (f = denominator / t.d));
      s += t.n * f;
    }
    return s;
  });
  return { sums, denominator };
}
