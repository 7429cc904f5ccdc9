/** Small byte helpers shared by the Dash code. Pure functions, no I/O. */

const HEX = /^[0-9a-fA-F]*$/;

/** True when `s` is hex text of exactly `bytes` bytes (any length when `bytes` is undefined, but even). */
export function isHex(s: unknown, bytes?: number): s is string {
  if (typeof s !== 'string' || s.length % 2 !== 0 || !HEX.test(s)) return false;
  return bytes === undefined || s.length === bytes * 2;
}

/** A reversed copy: display order <-> internal order of hashes. */
export function reversed(buf: Uint8Array): Buffer {
  return Buffer.from(buf).reverse();
}

/** Byte-reverse each 4-byte word (stratum prevhash <-> header prevhash). Length must be a multiple of 4. */
export function swapWords32(buf: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(buf.length);
  for (let i = 0; i < buf.length; i += 4) {
    out[i] = buf[i + 3]!;
    out[i + 1] = buf[i + 2]!;
    out[i + 2] = buf[i + 1]!;
    out[i + 3] = buf[i]!;
  }
  return out;
}

/** Big-endian 8-hex-digit text of a uint32 (the way stratum carries version, nbits, ntime and nonce). */
export function u32Hex(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

/** A little-endian 256-bit number from 32 bytes. */
export function leToBigInt(buf: Uint8Array): bigint {
  return BigInt('0x' + (Buffer.from(buf).reverse().toString('hex') || '0'));
}

/** 32 little-endian bytes of a 256-bit number (clamped to 2^256 - 1). */
export function bigIntToLe32(n: bigint): Buffer {
  const max = (1n << 256n) - 1n;
  const v = n < 0n ? 0n : n > max ? max : n;
  return Buffer.from(v.toString(16).padStart(64, '0'), 'hex').reverse();
}

/** Compare two 32-byte little-endian numbers: true when a <= b. Stops at the first differing byte from the top. */
export function leLessOrEqual(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y) return x < y;
  }
  return true;
}

/** A 32-byte little-endian number as a double (for difficulty figures, never for accept/reject decisions). */
export function leToNumber(buf: Uint8Array): number {
  let v = 0;
  for (let i = 28; i >= 0; i -= 4) {
    v = v * 4294967296 + (((buf[i + 3]! << 24) | (buf[i + 2]! << 16) | (buf[i + 1]! << 8) | buf[i]!) >>> 0);
  }
  return v;
}

/** The display (explorer) form of a digest. */
export function displayHash(hash: Uint8Array): string {
  return Buffer.from(hash).reverse().toString('hex');
}
