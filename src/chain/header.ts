/**
 * The 80-byte Dash block header built from stratum fields:
 *   version (u32 LE) | prevhash (internal) | merkle root (internal) | ntime (u32 LE) | nbits (u32 LE) | nonce (u32 LE)
 * version, nbits, ntime and nonce travel as big-endian hex in stratum; the stratum prevhash is the internal
 * prevhash with every 4-byte word byte-reversed.
 */
export interface HeaderFields {
  version: number;
  /** 32 bytes, internal (header) order, already un-swapped from the stratum form. */
  prevhash: Uint8Array;
  /** 32 bytes, raw sha256d output as the merkle fold gives it. */
  merkleRoot: Uint8Array;
  ntime: number;
  nbits: number;
  nonce: number;
}

export const HEADER_SIZE = 80;

/** Write the header into `out` (80 bytes, reusable) and return it. */
export function writeHeader(fields: HeaderFields, out: Buffer = Buffer.allocUnsafe(HEADER_SIZE)): Buffer {
  out.writeUInt32LE(fields.version >>> 0, 0);
  out.set(fields.prevhash, 4);
  out.set(fields.merkleRoot, 36);
  out.writeUInt32LE(fields.ntime >>> 0, 68);
  out.writeUInt32LE(fields.nbits >>> 0, 72);
  out.writeUInt32LE(fields.nonce >>> 0, 76);
  return out;
}
