import { displayHash } from '../chain/bytes.js';
import { sha256d } from '../chain/sha256.js';

/**
 * A reader of serialized Dash blocks: the 80-byte header, then a compact-size transaction count and the
 * transactions. Pure; the simulated dashd judges submitted blocks with it (never with the proxy's builder in
 * src/chain/), and tests take real blocks apart with it.
 *
 * Transaction layout (facts from Dash's DIP2 and the real blocks in test/fixtures):
 *   nVersion (u16 LE) | nType (u16 LE)      -- one int32 before DIP2, whose high half is 0
 *   input count | inputs: prevout txid (32, internal order) | prevout index (u32) | scriptSig | sequence (u32)
 *   output count | outputs: value (int64 LE, duffs) | script
 *   nLockTime (u32 LE)
 *   when nVersion >= 3 and nType != 0: compact-size length | extra payload (e.g. the CbTx of a type-5 coinbase)
 * Scripts and the payload carry a compact-size length. The txid is sha256d of the whole serialization.
 *
 * Bad bytes never pass silently: every read past the end, a non-canonical or oversized compact size and bytes
 * left after the last transaction throw a RawBlockError that says what was being read and where.
 */

/** Dash Core's limit on a compact size read from the wire (MAX_SIZE, 32 MiB). */
export const MAX_COMPACT_SIZE = 0x02000000;
export const RAW_HEADER_SIZE = 80;

export class RawBlockError extends Error {
  constructor(
    message: string,
    /** Byte offset in the parsed buffer where the problem is. */
    readonly offset: number,
  ) {
    super(message);
    this.name = 'RawBlockError';
  }
}

export interface RawBlockHeader {
  version: number;
  /** Display hex (as RPC shows it). */
  prevhash: string;
  /** Display hex. */
  merkleRoot: string;
  time: number;
  /** nBits as a number (its hex is the GBT `bits`). */
  bits: number;
  nonce: number;
  /** The 80 header bytes as hashed. */
  raw: Buffer;
}

export interface RawTxInput {
  /** Display hex of the spent transaction (all zeros for a coinbase). */
  prevTxid: string;
  /** 0xffffffff for a coinbase. */
  prevIndex: number;
  scriptSig: Buffer;
  sequence: number;
}

export interface RawTxOutput {
  /** Duffs. */
  value: bigint;
  script: Buffer;
}

export interface RawTx {
  /** Low 16 bits of the version field. */
  version: number;
  /** High 16 bits of the version field (DIP2 special transaction type; 0 = normal). */
  type: number;
  inputs: RawTxInput[];
  outputs: RawTxOutput[];
  lockTime: number;
  /** The DIP2 extra payload without its length prefix; null when the transaction has none. */
  extraPayload: Buffer | null;
  /** The transaction's own bytes. */
  raw: Buffer;
  /** sha256d of `raw`, internal order (what the merkle tree uses). */
  hash: Buffer;
  /** Display hex of `hash`. */
  txid: string;
}

export interface RawBlock {
  header: RawBlockHeader;
  /** In block order; txs[0] is the coinbase. */
  txs: RawTx[];
}

/** A cursor over the bytes that throws a RawBlockError naming what it was reading when the bytes run out. */
class Cursor {
  offset = 0;
  constructor(readonly buf: Buffer) {}

  take(n: number, what: string): Buffer {
    const left = this.buf.length - this.offset;
    if (n > left) throw new RawBlockError(`truncated: ${what} needs ${n} bytes at offset ${this.offset}, only ${left} left`, this.offset);
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  u16(what: string): number {
    return this.take(2, what).readUInt16LE(0);
  }

  u32(what: string): number {
    return this.take(4, what).readUInt32LE(0);
  }

  i64(what: string): bigint {
    return this.take(8, what).readBigInt64LE(0);
  }

  /** A compact size, canonical (the shortest form) and at most MAX_COMPACT_SIZE, as Dash Core requires. */
  compactSize(what: string): number {
    const start = this.offset;
    const first = this.take(1, what)[0]!;
    let value: number;
    let min: number;
    if (first < 0xfd) return first;
    if (first === 0xfd) {
      value = this.u16(what);
      min = 0xfd;
    } else if (first === 0xfe) {
      value = this.u32(what);
      min = 0x10000;
    } else {
      const big = this.take(8, what).readBigUInt64LE(0);
      if (big > BigInt(MAX_COMPACT_SIZE)) throw new RawBlockError(`${what}: compact size ${big} at offset ${start} exceeds ${MAX_COMPACT_SIZE}`, start);
      value = Number(big);
      min = 0x100000000;
    }
    if (value < min) throw new RawBlockError(`${what}: non-canonical compact size ${value} at offset ${start}`, start);
    if (value > MAX_COMPACT_SIZE) throw new RawBlockError(`${what}: compact size ${value} at offset ${start} exceeds ${MAX_COMPACT_SIZE}`, start);
    return value;
  }

  /** A compact-size length and that many bytes. */
  sized(what: string): Buffer {
    const length = this.compactSize(`${what} length`);
    return this.take(length, what);
  }
}

function toBuffer(input: Uint8Array | string, what: string): Buffer {
  if (typeof input !== 'string') return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (input.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(input)) throw new RawBlockError(`${what}: not hex (${input.length} characters)`, 0);
  return Buffer.from(input, 'hex');
}

function readHeader(c: Cursor): RawBlockHeader {
  const raw = c.take(RAW_HEADER_SIZE, 'block header');
  return {
    version: raw.readUInt32LE(0),
    prevhash: displayHash(raw.subarray(4, 36)),
    merkleRoot: displayHash(raw.subarray(36, 68)),
    time: raw.readUInt32LE(68),
    bits: raw.readUInt32LE(72),
    nonce: raw.readUInt32LE(76),
    raw: Buffer.from(raw),
  };
}

function readTx(c: Cursor, label: string): RawTx {
  const start = c.offset;
  const version = c.u16(`${label} version`);
  const type = c.u16(`${label} type`);
  const inputCount = c.compactSize(`${label} input count`);
  const inputs: RawTxInput[] = [];
  for (let i = 0; i < inputCount; i++) {
    const where = `${label} input ${i}`;
    const prevTxid = displayHash(c.take(32, `${where} prevout txid`));
    const prevIndex = c.u32(`${where} prevout index`);
    const scriptSig = Buffer.from(c.sized(`${where} scriptSig`));
    const sequence = c.u32(`${where} sequence`);
    inputs.push({ prevTxid, prevIndex, scriptSig, sequence });
  }
  const outputCount = c.compactSize(`${label} output count`);
  const outputs: RawTxOutput[] = [];
  for (let i = 0; i < outputCount; i++) {
    const where = `${label} output ${i}`;
    const value = c.i64(`${where} value`);
    const script = Buffer.from(c.sized(`${where} script`));
    outputs.push({ value, script });
  }
  const lockTime = c.u32(`${label} nLockTime`);
  const extraPayload = version >= 3 && type !== 0 ? Buffer.from(c.sized(`${label} extra payload (type ${type})`)) : null;
  const raw = Buffer.from(c.buf.subarray(start, c.offset));
  const hash = sha256d(raw);
  return { version, type, inputs, outputs, lockTime, extraPayload, raw, hash, txid: displayHash(hash) };
}

/** One serialized transaction, all of `input` (bytes or hex); trailing bytes are an error. */
export function parseRawTransaction(input: Uint8Array | string): RawTx {
  const c = new Cursor(toBuffer(input, 'transaction'));
  const tx = readTx(c, 'tx');
  const left = c.buf.length - c.offset;
  if (left > 0) throw new RawBlockError(`trailing bytes: ${left} after the transaction (it ends at offset ${c.offset})`, c.offset);
  return tx;
}

/** A whole serialized block (bytes or hex): header and every transaction; trailing bytes are an error. */
export function parseRawBlock(input: Uint8Array | string): RawBlock {
  const c = new Cursor(toBuffer(input, 'block'));
  const header = readHeader(c);
  const txCount = c.compactSize('transaction count');
  if (txCount === 0) throw new RawBlockError('block has no transactions (a block needs at least its coinbase)', c.offset);
  const txs: RawTx[] = [];
  for (let i = 0; i < txCount; i++) txs.push(readTx(c, `tx ${i} of ${txCount}`));
  const left = c.buf.length - c.offset;
  if (left > 0) throw new RawBlockError(`trailing bytes: ${left} after the last of ${txCount} transactions (offset ${c.offset})`, c.offset);
  return { header, txs };
}
