import { bigIntToLe32, leToNumber } from './bytes.js';

/**
 * Targets and difficulty. A hash meets a target when the hash, read as a little-endian 256-bit number,
 * is at most the target. Difficulty 1 is the Bitcoin diff-1 target 0xFFFF * 2^208, which every X11 pool we
 * know uses; `multiplier` scales it for pools that publish difficulty in other units
 * (target = diff1 * multiplier / difficulty).
 */
export const DIFF1_TARGET = 0xffffn << 208n;
const MAX_TARGET = (1n << 256n) - 1n;

/** Expected hashes per difficulty-1 share: 2^256 / (diff1 + 1), about 2^48 / 0xFFFF (= 2^32 * 1.0000153). */
export const HASHES_PER_DIFF1 = 2 ** 48 / 0xffff;

/** The target encoded by compact nBits (Bitcoin's rules). Throws on a negative or overflowing encoding. */
export function targetFromBits(bits: number): bigint {
  const decoded = decodeBits(bits);
  if (typeof decoded === 'string') throw new RangeError(decoded);
  return decoded;
}

/**
 * The compact nBits of a target (Bitcoin's GetCompact): the largest encodable target not above it, with a
 * 3-byte mantissa whose top bit is clear (a set bit would read as negative). Pure; throws on a target that is
 * not in 0 .. 2^256 - 1.
 */
export function bitsFromTarget(target: bigint): number {
  if (target < 0n || target > MAX_TARGET) throw new RangeError(`target must be from 0 to 2^256 - 1, got ${target}`);
  let size = 0;
  for (let t = target; t > 0n; t >>= 8n) size++;
  let mantissa = size <= 3 ? Number(target << BigInt(8 * (3 - size))) : Number(target >> BigInt(8 * (size - 3)));
  if (mantissa & 0x00800000) {
    mantissa >>>= 8;
    size++;
  }
  return ((size << 24) | mantissa) >>> 0;
}

/**
 * The target a job's nBits gives shares to meet, or why it gives none: a negative or overflowing encoding,
 * or a zero target (no hash meets it). A value, never an exception.
 */
export function miningTargetFromBits(bits: number): { ok: true; value: bigint } | { ok: false; reason: string } {
  const decoded = decodeBits(bits);
  if (typeof decoded === 'string') return { ok: false, reason: decoded };
  if (decoded === 0n) return { ok: false, reason: `nbits ${(bits >>> 0).toString(16).padStart(8, '0')} encodes a zero target` };
  return { ok: true, value: decoded };
}

/** The target, or the reason the encoding is invalid. */
function decodeBits(bits: number): bigint | string {
  const exponent = bits >>> 24;
  const mantissa = bits & 0x007fffff;
  if (bits & 0x00800000) return `nbits ${bits.toString(16)} is negative`;
  const target = exponent <= 3 ? BigInt(mantissa >>> (8 * (3 - exponent))) : BigInt(mantissa) << BigInt(8 * (exponent - 3));
  if (target > MAX_TARGET) return `nbits ${bits.toString(16)} overflows 256 bits`;
  return target;
}

/** Split a finite positive double exactly into mantissa * 2^exponent with an integer mantissa. */
function exactParts(x: number): { mantissa: bigint; exponent: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const biased = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exponent: number;
  if (biased === 0) {
    exponent = -1074; // subnormal
  } else {
    mantissa |= 1n << 52n;
    exponent = biased - 1075;
  }
  return { mantissa, exponent };
}

/** The target for a difficulty, exact (no floating-point rounding beyond the difficulty's own value). */
export function targetFromDifficulty(difficulty: number, multiplier = 1): bigint {
  if (!(difficulty > 0) || !Number.isFinite(difficulty)) throw new RangeError(`difficulty must be a positive number, got ${difficulty}`);
  if (!(multiplier > 0) || !Number.isFinite(multiplier)) throw new RangeError(`difficulty multiplier must be a positive number, got ${multiplier}`);
  // target = diff1 * multiplier / difficulty, with multiplier and difficulty as exact binary fractions.
  const m = exactParts(multiplier);
  const d = exactParts(difficulty);
  let numerator = DIFF1_TARGET * m.mantissa;
  let denominator = d.mantissa;
  const shift = m.exponent - d.exponent;
  if (shift >= 0) numerator <<= BigInt(shift);
  else denominator <<= BigInt(-shift);
  const target = numerator / denominator;
  return target > MAX_TARGET ? MAX_TARGET : target;
}

/** The difficulty of a target (a double; good for figures and vardiff, never for accept/reject). */
export function difficultyFromTarget(target: bigint, multiplier = 1): number {
  if (target <= 0n) return Infinity;
  return (Number(DIFF1_TARGET) * multiplier) / Number(target);
}

/** The difficulty a hash achieves (its "share difficulty"): diff1 / hash, from the 32 digest bytes (little-endian). */
export function difficultyFromHash(hashLe: Uint8Array, multiplier = 1): number {
  const value = leToNumber(hashLe);
  return value === 0 ? Infinity : (Number(DIFF1_TARGET) * multiplier) / value;
}

/** A target as 32 little-endian bytes, the form used by the fast comparison on the share path. */
export function targetToLe(target: bigint): Buffer {
  return bigIntToLe32(target);
}

/** Hashes behind difficulty-weighted work: hashrate (H/s) = work per second * HASHES_PER_DIFF1. */
export function hashesForWork(work: number): number {
  return work * HASHES_PER_DIFF1;
}

/** The network difficulty for nBits. */
export function difficultyFromBits(bits: number): number {
  return difficultyFromTarget(targetFromBits(bits));
}
