import { DUFFS_PER_DASH } from '../util/format.js';

/**
 * Money in the books: integers of duffs, never floats. 1 DASH = 100,000,000 duffs. Amounts are bigints so
 * no arithmetic on them can silently lose a duff; text in DASH ("1.23456789") is read and written exactly.
 */
export type Duffs = bigint;

export { DUFFS_PER_DASH, formatDash } from '../util/format.js';

const DECIMALS = 8;

/** An amount that cannot be money: the text says why, naming the value. */
export class AmountError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AmountError';
  }
}

/**
 * A DASH amount written in decimal ("12", "0.5", "1.23456789") as duffs, exactly. Refused, with the value
 * named: anything but digits with at most one point, more than 8 decimals, a sign (an amount paid is never
 * negative; "-0" too), exponents, spaces inside, an empty string.
 */
export function parseDash(text: string): Duffs {
  if (typeof text !== 'string') throw new AmountError(`amount must be text like "1.23456789" (got ${JSON.stringify(text) ?? String(text)})`);
  const s = text.trim();
  if (s.startsWith('-')) throw new AmountError(`amount ${JSON.stringify(text)} is negative: a payout is 0 or more DASH`);
  const m = /^(\d*)(?:\.(\d*))?$/.exec(s);
  if (!m || (m[1] === '' && (m[2] ?? '') === '')) throw new AmountError(`amount ${JSON.stringify(text)} is not a number of DASH like "1.23456789"`);
  const fraction = m[2] ?? '';
  if (fraction.length > DECIMALS) throw new AmountError(`amount ${JSON.stringify(text)} has ${fraction.length} decimals: DASH has 8 (1 duff = 0.00000001 DASH)`);
  return BigInt(m[1] || '0') * DUFFS_PER_DASH + BigInt(fraction.padEnd(DECIMALS, '0'));
}


/** A count of duffs given as a JavaScript number (from a database row): must be a safe, non-negative integer. */
export function duffsFromInteger(n: number): Duffs {
  if (!Number.isSafeInteger(n) || n < 0) throw new AmountError(`duffs must be a whole, non-negative number below 2^53 (got ${String(n)})`);
  return BigInt(n);
}

/** A parsed amount must be money the pool can have paid: whole duffs, 0 or more. */
export function checkDuffs(what: string, d: unknown): Duffs {
  if (typeof d !== 'bigint' || d < 0n) throw new AmountError(`${what} must be a whole number of duffs, 0 or more (got ${typeof d === 'bigint' ? d.toString() : String(d)})`);
  return d;
}
