/**
 * A Dash coinbase as a pool builds it for Stratum, split around the extranonce space. Pure functions.
 *
 * Layout of a DIP2/DIP4 special-transaction coinbase (facts from Dash's DIP2 and DIP4 documents and the
 * real blocks and transcript in test/fixtures):
 *   nVersion|nType<<16 (int32 LE, version 3 type 5: bytes 03000500)
 *   vin count (1) | prevout (32 zero bytes, index ffffffff) | scriptSig length | scriptSig | sequence
 *   vout count | outputs (int64 LE value, script)... | nLockTime (u32 LE)
 *   compact-size length | CbTx payload
 * CbTx version 3 payload: nVersion u16 | nHeight u32 | merkleRootMNList (32) | merkleRootQuorums (32) |
 *   bestCLHeightDiff (compact size) | bestCLSignature (96 bytes, BLS) | creditPoolBalance (int64 LE) = 175 bytes
 *   for a one-byte height diff (the same size as in the node-stratum-pool transcript).
 *
 * The scriptSig is laid out like node-stratum-pool's: the BIP34 height push, a push of the time, one push of
 * extranonce1 + extranonce2, then a push of the pool's tag. coinb1 ends right before the extranonce bytes and
 * coinb2 starts right after them.
 */

import { compactSizeBytes as compactSize } from '../chain/script.js';

export const COINBASE_TX_VERSION = 3;
export const COINBASE_TX_TYPE = 5;
export const CBTX_VERSION = 3;
/** Consensus limit on a coinbase scriptSig (bytes). */
export const MAX_COINBASE_SCRIPTSIG = 100;

export interface P2pkhOutput {
  /** Duffs (1 DASH = 1e8). */
  value: bigint;
  /** 20-byte public key hash. */
  pubKeyHash: Uint8Array;
}

/** An output paying any script as given (a P2SH payee, or the platform's `6a` OP_RETURN whose payee is empty). */
export interface ScriptOutput {
  /** Duffs (1 DASH = 1e8). */
  value: bigint;
  script: Uint8Array;
}

export type CoinbaseOutput = P2pkhOutput | ScriptOutput;

export interface CbTxPayload {
  height: number;
  merkleRootMNList: Uint8Array;
  merkleRootQuorums: Uint8Array;
  bestCLHeightDiff: number;
  /** 96 bytes. */
  bestCLSignature: Uint8Array;
  creditPoolBalance: bigint;
}

export interface CoinbaseSpec {
  height: number;
  /** Seconds; pushed after the height. */
  time: number;
  extranonce1Size: number;
  extranonce2Size: number;
  /** ASCII tag pushed after the extranonce (trimmed so the scriptSig stays within 100 bytes). */
  poolTag: string;
  outputs: readonly CoinbaseOutput[];
  payload: CbTxPayload;
}

export interface CoinbaseParts {
  coinb1: Buffer;
  coinb2: Buffer;
  /** The CbTx payload without its length prefix. */
  payload: Buffer;
}

/** The compact-size length prefix (an encoding, not a judgment: the one in src/chain/script.ts). */
export { compactSize };

/** A minimal script number push (BIP34 height): OP_0, OP_1..OP_16, or a push of the little-endian bytes with a sign byte when needed. */
export function scriptNumPush(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new RangeError(`scriptNumPush: ${n}`);
  if (n === 0) return Buffer.from([0x00]);
  if (n <= 16) return Buffer.from([0x50 + n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.push(v & 0xff);
  if (bytes[bytes.length - 1]! & 0x80) bytes.push(0);
  return Buffer.from([bytes.length, ...bytes]);
}

function pushData(data: Uint8Array): Buffer {
  if (data.length > 75) throw new RangeError('pushData: only direct pushes (<= 75 bytes) are used here');
  return Buffer.concat([Buffer.from([data.length]), data]);
}

export function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

export function i64le(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(n, 0);
  return b;
}

export function p2pkhScript(pubKeyHash: Uint8Array): Buffer {
  if (pubKeyHash.length !== 20) throw new RangeError('p2pkhScript: the public key hash must be 20 bytes');
  // OP_DUP OP_HASH160 <20 bytes> OP_EQUALVERIFY OP_CHECKSIG
  return Buffer.concat([Buffer.from([0x76, 0xa9, 0x14]), pubKeyHash, Buffer.from([0x88, 0xac])]);
}

export function p2shScript(scriptHash: Uint8Array): Buffer {
  if (scriptHash.length !== 20) throw new RangeError('p2shScript: the script hash must be 20 bytes');
  // OP_HASH160 <20 bytes> OP_EQUAL
  return Buffer.concat([Buffer.from([0xa9, 0x14]), scriptHash, Buffer.from([0x87])]);
}

/** The script an output pays: its own, or the P2PKH script of its public key hash. */
export function outputScript(o: CoinbaseOutput): Uint8Array {
  return 'script' in o ? o.script : p2pkhScript(o.pubKeyHash);
}

/** One transaction output: value (int64 LE), compact-size script length, script. */
export function serializeOutput(o: CoinbaseOutput): Buffer {
  const script = outputScript(o);
  return Buffer.concat([i64le(o.value), compactSize(script.length), script]);
}

export function serializeCbTxPayload(p: CbTxPayload): Buffer {
  if (p.merkleRootMNList.length !== 32 || p.merkleRootQuorums.length !== 32) throw new RangeError('CbTx merkle roots must be 32 bytes');
  if (p.bestCLSignature.length !== 96) throw new RangeError('CbTx bestCLSignature must be 96 bytes');
  const version = Buffer.alloc(2);
  version.writeUInt16LE(CBTX_VERSION, 0);
  return Buffer.concat([
    version,
    u32le(p.height),
    p.merkleRootMNList,
    p.merkleRootQuorums,
    compactSize(p.bestCLHeightDiff),
    p.bestCLSignature,
    i64le(p.creditPoolBalance),
  ]);
}

/** Build coinb1 and coinb2 so that coinb1 + extranonce1 + extranonce2 + coinb2 is the full type-5 coinbase. */
export function buildCoinbase(spec: CoinbaseSpec): CoinbaseParts {
  const enSize = spec.extranonce1Size + spec.extranonce2Size;
  if (!Number.isInteger(enSize) || enSize < 1 || enSize > 75) throw new RangeError(`extranonce1 + extranonce2 must be 1 to 75 bytes, got ${enSize}`);
  const heightPush = scriptNumPush(spec.height);
  const timePush = pushData(u32le(spec.time));
  const scriptHead = Buffer.concat([heightPush, timePush, Buffer.from([enSize])]);
  const room = MAX_COINBASE_SCRIPTSIG - scriptHead.length - enSize - 1;
  if (room < 0) throw new RangeError(`extranonce of ${enSize} bytes does not fit in a ${MAX_COINBASE_SCRIPTSIG}-byte scriptSig`);
  const tag = Buffer.from(spec.poolTag, 'ascii').subarray(0, Math.min(room, 75));
  const tagPush = tag.length > 0 ? pushData(tag) : Buffer.alloc(0);
  const scriptSigLength = scriptHead.length + enSize + tagPush.length;

  const txVersion = Buffer.alloc(4);
  txVersion.writeUInt16LE(COINBASE_TX_VERSION, 0);
  txVersion.writeUInt16LE(COINBASE_TX_TYPE, 2);
  const coinb1 = Buffer.concat([
    txVersion,
    compactSize(1),
    Buffer.alloc(32, 0),
    u32le(0xffffffff),
    compactSize(scriptSigLength),
    scriptHead,
  ]);

  const payload = serializeCbTxPayload(spec.payload);
  const outputs = spec.outputs.map(serializeOutput);
  const coinb2 = Buffer.concat([
    tagPush,
    u32le(0xffffffff), // sequence
    compactSize(outputs.length),
    ...outputs,
    u32le(0), // nLockTime
    compactSize(payload.length),
    payload,
  ]);
  return { coinb1, coinb2, payload };
}
