import { requiredPayments, type BlockTemplate } from './block-template.js';
import { compactSizeBytes, heightPush, pushData, scriptProblem, withCompactSize } from './script.js';

/**
 * The proxy's coinbase for a dashd template, split around the extranonce space for Stratum
 * (coinb1 ‖ extranonce ‖ coinb2 is the whole transaction). Pure. Facts (Dash Core's CreateNewBlock, DIP2,
 * DIP4, BIP34; checked byte for byte against the real blocks in test/fixtures):
 *   version: with a coinbase_payload, u16 3 and u16 type 5 (bytes 03000500); without, int32 1
 *   one input: prevout 32 zero bytes and index ffffffff | scriptSig (2..100 bytes) | sequence
 *   scriptSig: BIP34 height push ‖ extranonce (raw bytes) ‖ a push of the tag (when there is one)
 *   outputs: the farm's (coinbasevalue less every payment), then each `masternode` payment in template
 *            order, then each `superblock` payment, each with the template's script as given
 *   nLockTime 0, then (type 5) the payload with its compact-size length
 * coinb1 ends with the height push; coinb2 starts with the tag push.
 */

/** Consensus bounds on a coinbase scriptSig (bytes). */
export const MIN_COINBASE_SCRIPTSIG = 2;
export const MAX_COINBASE_SCRIPTSIG = 100;
const COINBASE_TX_VERSION = 1;
const SPECIAL_TX_VERSION = 3;
const COINBASE_TX_TYPE = 5;

export interface CoinbaseOptions {
  /** The farm's output script (the payout address's scriptPubKey from `validateaddress`). */
  payoutScript: Buffer;
  /** Bytes left for extranonce1 + extranonce2 between the height push and the tag. */
  extranonceSize: number;
  /** Written after the extranonce as one push; empty: no tag. */
  tag: Buffer;
  /** The input's sequence (default 0xffffffff). */
  sequence?: number;
}

export interface CoinbaseOutput {
  /** Duffs. */
  value: bigint;
  script: Buffer;
}

export interface BuiltCoinbase {
  coinb1: Buffer;
  coinb2: Buffer;
  /** Duffs to the farm: coinbasevalue less every masternode and superblock payment. */
  farmReward: bigint;
  /** In transaction order: the farm's first, then the template's payments. */
  outputs: CoinbaseOutput[];
}

function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

function txVersionBytes(special: boolean): Buffer {
  const b = Buffer.alloc(4);
  if (special) {
    b.writeUInt16LE(SPECIAL_TX_VERSION, 0);
    b.writeUInt16LE(COINBASE_TX_TYPE, 2);
  } else {
    b.writeInt32LE(COINBASE_TX_VERSION, 0);
  }
  return b;
}

function outputBytes(o: CoinbaseOutput): Buffer {
  const value = Buffer.alloc(8);
  value.writeBigInt64LE(o.value, 0);
  return Buffer.concat([value, withCompactSize(o.script)]);
}

/** The coinbase for `t`, paying `o.payoutScript`. Throws RangeError (with the numbers) on options no block can carry. */
export function buildCoinbase(t: BlockTemplate, o: CoinbaseOptions): BuiltCoinbase {
  const sequence = o.sequence ?? 0xffffffff;
  if (!Number.isInteger(sequence) || sequence < 0 || sequence > 0xffffffff) throw new RangeError(`coinbase sequence must be a 32-bit unsigned integer, got ${sequence}`);
  if (!Number.isInteger(o.extranonceSize) || o.extranonceSize < 0) throw new RangeError(`extranonce size must be a whole number of bytes, got ${o.extranonceSize}`);
  const payoutProblem = scriptProblem(o.payoutScript);
  if (payoutProblem !== null) throw new RangeError(`payout script: ${payoutProblem}`);

  const height = heightPush(t.height);
  const tagPush = o.tag.length > 0 ? pushData(o.tag) : Buffer.alloc(0);
  const scriptSigLength = height.length + o.extranonceSize + tagPush.length;
  if (scriptSigLength > MAX_COINBASE_SCRIPTSIG) {
    throw new RangeError(
      `coinbase scriptSig of ${scriptSigLength} bytes (height push ${height.length} + extranonce ${o.extranonceSize} + tag push ${tagPush.length}) exceeds ${MAX_COINBASE_SCRIPTSIG}`,
    );
  }
  if (scriptSigLength < MIN_COINBASE_SCRIPTSIG) throw new RangeError(`coinbase scriptSig of ${scriptSigLength} byte is below ${MIN_COINBASE_SCRIPTSIG}: add extranonce or a tag`);

  const payments = requiredPayments(t);
  const farmReward = payments.reduce((rest, p) => rest - p.amount, t.coinbaseValue);
  if (farmReward < 0n) throw new RangeError(`payments exceed coinbasevalue ${t.coinbaseValue} by ${-farmReward} duffs`);
  const outputs: CoinbaseOutput[] = [{ value: farmReward, script: o.payoutScript }, ...payments.map((p) => ({ value: p.amount, script: p.script }))];

  const coinb1 = Buffer.concat([
    txVersionBytes(t.coinbasePayload !== null),
    compactSizeBytes(1),
    Buffer.alloc(32, 0),
    u32le(0xffffffff),
    compactSizeBytes(scriptSigLength),
    height,
  ]);
  const coinb2 = Buffer.concat([
    tagPush,
    u32le(sequence),
    compactSizeBytes(outputs.length),
    ...outputs.map(outputBytes),
    u32le(0), // nLockTime
    t.coinbasePayload === null ? Buffer.alloc(0) : withCompactSize(t.coinbasePayload),
  ]);
  return { coinb1, coinb2, farmReward, outputs };
}
