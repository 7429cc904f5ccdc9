import type { Duffs } from './duffs.js';

/**
 * The one remainder rule of the books (largest remainder): `amount` duffs are split in proportion to
 * integer weights so the parts sum exactly to `amount`. Each part is first its exact share rounded down;
 * the duffs left over (fewer than the number of parts) go one each to the parts that lost the largest
 * fraction in rounding, and between equal fractions to the earlier entry in the list (callers list owners
 * by name, blocks by time). All weights 0: nothing can be split by them, and the result is null.
 */
export function apportion(amount: Duffs, weights: readonly bigint[]): Duffs[] | null {
  if (amount < 0n) throw new RangeError(`amount must be 0 or more duffs (got ${amount})`);
  let total = 0n;
  for (const w of weights) {
    if (w < 0n) throw new RangeError(`weights must be 0 or more (got ${w})`);
    total += w;
  }
  if (total === 0n) return null;
  const parts = weights.map((w) => (amount * w) / total);
  let left = amount - parts.reduce((a, b) => a + b, 0n);
  if (left === 0n) return parts;
  const order = weights
    .map((w, i) => ({ i, lost: (amount * w) % total }))
    .filter((x) => x.lost > 0n)
    .sort((a, b) => (a.lost > b.lost ? -1 : a.lost < b.lost ? 1 : a.i - b.i));
  for (const { i } of order) {
    if (left === 0n) break;
    parts[i]! += 1n;
    left--;
  }
  return parts;
}
