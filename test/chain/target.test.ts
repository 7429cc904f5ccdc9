import t from 'tap';
import { leLessOrEqual, leToBigInt, reversed } from '../../src/chain/bytes.js';
import { readFileSync } from 'node:fs';
import {
  DIFF1_TARGET,
  bitsFromTarget,
  HASHES_PER_DIFF1,
  difficultyFromBits,
  difficultyFromHash,
  difficultyFromTarget,
  hashesForWork,
  miningTargetFromBits,
  targetFromBits,
  targetFromDifficulty,
  targetToLe,
} from '../../src/chain/target.js';
import { loadBlocks } from '../helpers/fixtures.js';
import { hasher } from '../helpers/share-kit.js';

const MAX = (1n << 256n) - 1n;
const hex64 = (n: bigint) => n.toString(16).padStart(64, '0');

/**
 * The exact target for a difficulty, derived independently of target.ts: a finite positive double d equals
 * m * 2^(e - 52) with an integer m < 2^53 (found by scaling with powers of two, which is exact), so
 * diff1 * multiplier / d is a rational number whose floor BigInt computes exactly.
 */
function exactTarget(d: number, multiplier = 1): bigint {
  const split = (x: number) => {
    let e = Math.floor(Math.log2(x));
    if (2 ** e > x) e--;
    if (2 ** (e + 1) <= x) e++;
    const m = x * 2 ** (52 - e); // exact: a power-of-two scale of a normal double
    if (!Number.isInteger(m)) throw new Error(`not exact for ${x}`);
    return { m: BigInt(m), e: e - 52 };
  };
  const a = split(multiplier);
  const b = split(d);
  // diff1 * a.m * 2^a.e / (b.m * 2^b.e)
  const shift = a.e - b.e;
  const num = DIFF1_TARGET * a.m * (shift > 0 ? 1n << BigInt(shift) : 1n);
  const den = b.m * (shift < 0 ? 1n << BigInt(-shift) : 1n);
  const t = num / den;
  return t > MAX ? MAX : t;
}

t.test('nBits to target: known encodings', async (t) => {
  // Bitcoin's difficulty-1 bits: 0x00ffff * 256^(0x1d - 3).
  t.equal(targetFromBits(0x1d00ffff), 0xffffn << 208n);
  t.equal(targetFromBits(0x1d00ffff), DIFF1_TARGET);
  // Dash's genesis bits 0x1e0ffff0: 0x0ffff0 * 256^27.
  t.equal(hex64(targetFromBits(0x1e0ffff0)), '00000ffff0' + '0'.repeat(54));
  // The transcript's template (difficulty 1/64): 0x3fffc0 * 256^26.
  t.equal(targetFromBits(0x1d3fffc0), 0x3fffc0n << 208n);
  t.equal(difficultyFromBits(0x1d3fffc0), 1 / 64);
  t.equal(difficultyFromBits(0x1d00ffff), 1);
});

t.test('nBits to target: exponents of 3 and below shift the mantissa right', async (t) => {
  t.equal(targetFromBits(0x03123456), 0x123456n);
  t.equal(targetFromBits(0x02123456), 0x1234n);
  t.equal(targetFromBits(0x01123456), 0x12n);
  t.equal(targetFromBits(0x00123456), 0n);
  t.equal(targetFromBits(0x04123456), 0x12345600n);
  t.equal(targetFromBits(0x05009234), 0x9234n << 16n, 'a leading zero byte keeps the sign bit clear');
});

t.test('nBits to target: negative and overflowing encodings are refused', async (t) => {
  for (const bits of [0x1d800001, 0x1d8fffff, 0x04923456, 0x01fedcba]) {
    t.throws(() => targetFromBits(bits), { name: 'RangeError', message: `nbits ${bits.toString(16)} is negative` }, `0x${bits.toString(16)} has the sign bit`);
  }
  // The largest exponent for each mantissa width, then one more.
  t.equal(targetFromBits(0x220000ff), 0xffn << 248n, '1-byte mantissa fits up to exponent 34');
  t.equal(targetFromBits(0x2100ffff), 0xffffn << 240n, '2-byte mantissa fits up to exponent 33');
  t.equal(targetFromBits(0x207fffff), 0x7fffffn << 232n, '3-byte mantissa fits up to exponent 32');
  for (const bits of [0x23000001, 0x22000100, 0x21010000, 0xff00ffff]) {
    t.throws(() => targetFromBits(bits), { name: 'RangeError', message: `nbits ${bits.toString(16)} overflows 256 bits` }, `0x${bits.toString(16)} overflows`);
  }
});

t.test('nBits of the real blocks: the target, and the hash meets it', async (t) => {
  for (const b of loadBlocks()) {
    const target = targetFromBits(parseInt(b.bits, 16));
    t.equal(hex64(target), b.target, `${b.id}: bits ${b.bits} expand to the fixture target`);
    const hash = BigInt('0x' + b.hash);
    t.ok(hash <= target, `${b.id}: the block hash is at most its target`);
    const diff = difficultyFromHash(reversed(Buffer.from(b.hash, 'hex')));
    t.ok(diff >= difficultyFromBits(parseInt(b.bits, 16)), `${b.id}: share difficulty ${diff} >= network difficulty`);
  }
  // The README's figures: mainnet difficulties of about 6.8e7 and 9.8e7.
  const byId = new Map(loadBlocks().map((b) => [b.id, b]));
  const d844898 = difficultyFromBits(parseInt(byId.get('dash-mainnet-844898')!.bits, 16));
  const d2045354 = difficultyFromBits(parseInt(byId.get('dash-mainnet-2045354')!.bits, 16));
  t.ok(d844898 > 6.7e7 && d844898 < 6.9e7, `844898: ${d844898}`);
  t.ok(d2045354 > 9.7e7 && d2045354 < 9.9e7, `2045354: ${d2045354}`);
});

t.test('difficulty to target is exact', async (t) => {
  t.equal(targetFromDifficulty(1), DIFF1_TARGET);
  t.equal(targetFromDifficulty(2), DIFF1_TARGET / 2n);
  t.equal(targetFromDifficulty(1 / 64), DIFF1_TARGET * 64n);
  t.equal(targetFromDifficulty(3), DIFF1_TARGET / 3n, 'rounded down');
  for (const d of [1e-9, 1e-6, 0.0001, 0.0012, 0.3, 1, 1.5, 3, 7, 1000, 65536, 6.8e7, 9.8e7, 1e12, 2 ** 40 + 0.5, 1e18]) {
    t.equal(targetFromDifficulty(d), exactTarget(d), `difficulty ${d}`);
  }
});

t.test('difficulty <-> target round trips', async (t) => {
  for (const d of [1e-9, 1e-7, 0.0001, 0.0012, 1 / 64, 1, 3, 1000, 65536, 9.8e7, 1e15, 1e30]) {
    const back = difficultyFromTarget(targetFromDifficulty(d));
    t.ok(Math.abs(back - d) / d < 1e-12, `difficulty ${d} -> target -> ${back}`);
  }
  for (const bits of [0x1d00ffff, 0x1b0404cb, 0x193f7323, 0x1e0ffff0]) {
    const target = targetFromBits(bits);
    const there = targetFromDifficulty(difficultyFromTarget(target));
    const rel = Number(there > target ? there - target : target - there) / Number(target);
    t.ok(rel < 1e-12, `bits ${bits.toString(16)}: target -> difficulty -> target within 1e-12 (${rel})`);
  }
  t.equal(difficultyFromTarget(0n), Infinity);
  t.equal(difficultyFromTarget(-5n), Infinity);
});

t.test('tiny and huge difficulties', async (t) => {
  // Below about 2^-32 the target would pass 2^256 - 1: it is clamped there (every hash meets it).
  t.equal(targetFromDifficulty(1e-12), MAX);
  t.equal(targetFromDifficulty(Number.MIN_VALUE), MAX);
  t.ok(targetFromDifficulty(1e-9) < MAX, '1e-9 still has a real target');
  t.equal(targetFromDifficulty(1e-9), exactTarget(1e-9));
  // Huge: the target shrinks to a few units, then to 0 (no hash can meet it).
  t.equal(targetFromDifficulty(Number(DIFF1_TARGET)), 1n);
  t.equal(targetFromDifficulty(1e300), 0n);
  t.equal(targetFromDifficulty(Number.MAX_VALUE), 0n);
});

t.test('a difficulty multiplier scales every figure', async (t) => {
  t.equal(targetFromDifficulty(1, 65536), DIFF1_TARGET * 65536n);
  t.equal(targetFromDifficulty(65536, 65536), DIFF1_TARGET);
  t.equal(targetFromDifficulty(0.5, 256), exactTarget(0.5, 256));
  t.equal(targetFromDifficulty(3, 1 / 3), exactTarget(3, 1 / 3));
  t.equal(difficultyFromTarget(DIFF1_TARGET, 65536), 65536);
  const hash = targetToLe(DIFF1_TARGET / 1000n);
  t.ok(Math.abs(difficultyFromHash(hash, 65536) / difficultyFromHash(hash) - 65536) < 1e-9);
});

t.test('bad difficulties and multipliers are refused', async (t) => {
  for (const d of [0, -1, NaN, Infinity, -Infinity]) {
    t.throws(() => targetFromDifficulty(d), { name: 'RangeError', message: `difficulty must be a positive number, got ${d}` });
  }
  for (const m of [0, -2, NaN, Infinity]) {
    t.throws(() => targetFromDifficulty(1, m), { name: 'RangeError', message: `difficulty multiplier must be a positive number, got ${m}` });
  }
});

t.test('difficultyFromHash reads the digest as a little-endian number', async (t) => {
  t.equal(difficultyFromHash(targetToLe(DIFF1_TARGET)), 1);
  t.equal(difficultyFromHash(targetToLe(DIFF1_TARGET / 2n)), 2);
  t.equal(difficultyFromHash(targetToLe(DIFF1_TARGET * 64n)), 1 / 64);
  t.equal(difficultyFromHash(Buffer.alloc(32)), Infinity, 'a zero hash');
  const ones = difficultyFromHash(Buffer.alloc(32, 0xff));
  t.ok(Math.abs(ones - Number(DIFF1_TARGET) / 2 ** 256) < 1e-20, `the largest hash: ${ones}`);
  // Byte order: the same bytes reversed give another number.
  const le = targetToLe(DIFF1_TARGET / 1000n);
  t.equal(leToBigInt(le), DIFF1_TARGET / 1000n);
  t.not(difficultyFromHash(reversed(le)), difficultyFromHash(le));
});

t.test('difficultyFromHash agrees with the target comparison on real X11 hashes', async (t) => {
  // For each real hash, the share meets a difficulty's target exactly when its difficulty reaches it
  // (away from the rounding edge, where the double cannot tell).
  const header = Buffer.from(loadBlocks()[2]!.header_hex, 'hex');
  const levels = [1e-9, 2e-9, 5e-9, 1e-8, 1e-7].map((d) => ({ d, target: targetToLe(targetFromDifficulty(d)), met: 0 }));
  let disagreements = 0;
  for (let nonce = 0; nonce < 2000; nonce++) {
    header.writeUInt32LE(nonce, 76);
    const hash = hasher.hash(header);
    const diff = difficultyFromHash(hash);
    for (const l of levels) {
      const meets = leLessOrEqual(hash, l.target);
      if (meets) l.met++;
      if (Math.abs(diff - l.d) / l.d > 1e-12 && meets !== diff >= l.d) disagreements++;
    }
  }
  t.equal(disagreements, 0);
  // At difficulty 1e-9, P(meet) = 1 / (1e-9 * 2^32) ~ 0.23: about 466 of 2000. Wide bounds: a sanity check only.
  t.ok(levels[0]!.met > 300 && levels[0]!.met < 650, `difficulty 1e-9 met by ${levels[0]!.met} of 2000`);
  t.ok(levels.every((l, i) => i === 0 || l.met <= levels[i - 1]!.met), 'a harder target is met no more often');
});

t.test('HASHES_PER_DIFF1 and work', async (t) => {
  // Expected hashes for one difficulty-1 share: 2^256 / diff1 = 2^48 / 0xffff.
  t.equal(HASHES_PER_DIFF1, 2 ** 48 / 0xffff);
  t.ok(Math.abs(HASHES_PER_DIFF1 - Number((1n << 256n) / DIFF1_TARGET)) < 1, 'the same figure from the 256-bit numbers');
  t.ok(Math.abs(HASHES_PER_DIFF1 / 2 ** 32 - 65536 / 65535) < 1e-15, 'about 2^32 * 1.0000153');
  t.equal(hashesForWork(0), 0);
  t.equal(hashesForWork(2), 2 * HASHES_PER_DIFF1);
  t.equal(hashesForWork(0.0012), 0.0012 * HASHES_PER_DIFF1);
});

t.test('targetToLe: 32 little-endian bytes, clamped', async (t) => {
  const le = targetToLe(DIFF1_TARGET);
  t.equal(le.length, 32);
  t.equal(le.toString('hex'), '0'.repeat(52) + 'ffff' + '0'.repeat(8));
  t.equal(targetToLe(0n).toString('hex'), '0'.repeat(64));
  t.equal(targetToLe(MAX + 5n).toString('hex'), 'f'.repeat(64));
  t.equal(targetToLe(-1n).toString('hex'), '0'.repeat(64));
});

t.test('miningTargetFromBits: the target shares must meet, or why nBits gives none (a value, never thrown)', async (t) => {
  t.same(miningTargetFromBits(0x1d00ffff), { ok: true, value: targetFromBits(0x1d00ffff) });
  t.same(miningTargetFromBits(0x1d800000), { ok: false, reason: 'nbits 1d800000 is negative' });
  t.same(miningTargetFromBits(0x22010000), { ok: false, reason: 'nbits 22010000 overflows 256 bits' });
  t.same(miningTargetFromBits(0), { ok: false, reason: 'nbits 00000000 encodes a zero target' });
  t.same(miningTargetFromBits(0x01003456), { ok: false, reason: 'nbits 01003456 encodes a zero target' }, 'a mantissa shifted out entirely');
});

t.test('bitsFromTarget: the compact nBits of a target, the inverse of targetFromBits on real and edge encodings', async (t) => {
  const blocks = (JSON.parse(readFileSync(new URL('../fixtures/dash-blocks.json', import.meta.url), 'utf8')) as { blocks: { id: string; bits: string }[] }).blocks;
  for (const b of blocks) {
    const bits = parseInt(b.bits, 16);
    t.equal(bitsFromTarget(targetFromBits(bits)), bits, `${b.id}: ${b.bits} round-trips`);
  }
  for (const bits of [0x1f00ffff, 0x207fffff, 0x1d00ffff, 0x1e012a59, 0x03123456, 0x01120000]) {
    t.equal(bitsFromTarget(targetFromBits(bits)).toString(16), bits.toString(16), `${bits.toString(16)} round-trips`);
  }
  t.equal(bitsFromTarget(0n), 0, 'zero');
  t.equal(bitsFromTarget(0x80n).toString(16), '2008000', 'a mantissa with its top bit set moves one byte up (never negative)');
  const target = (1n << 240n) + 12345n;
  t.ok(targetFromBits(bitsFromTarget(target)) <= target, 'never above the target it encodes');
  t.throws(() => bitsFromTarget(-1n), /target must be from 0/);
  t.throws(() => bitsFromTarget(1n << 256n), /target must be from 0/);
});
