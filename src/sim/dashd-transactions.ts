import { compactSize, i64le, p2pkhScript, u32le } from './dash-coinbase.js';
import { doubleSha256, hashHex } from './dashd-hashes.js';

/**
 * Transactions of real format for the simulated dashd's templates (their signatures are random bytes, which
 * no one checks: the simulator only needs the shapes, the sizes and the txids right). Pure apart from the
 * randomness it is given.
 *
 * - a classic payment: version 1 type 0, one input (prevout, a scriptSig of a DER-sized signature push and a
 *   33-byte compressed public key push, sequence ffffffff), two P2PKH outputs, nLockTime 0;
 * - a quorum commitment: version 3 type 6 (DIP2 special transaction), no inputs, no outputs, nLockTime 0, then
 *   its payload (u16 version, u32 height, the commitment bytes) with its compact-size length. Fee 0.
 */

export interface TemplateTx {
  /** The serialized transaction. */
  data: Buffer;
  /** txid, internal order. */
  txid: Buffer;
  /** Duffs paid to the miner. */
  fee: bigint;
  sigops: number;
}

export type Random = (bytes: number) => Buffer;

function txOf(data: Buffer, fee: bigint, sigops: number): TemplateTx {
  return { data, txid: doubleSha256(data), fee, sigops };
}

/** A version-1 payment with one input and two P2PKH outputs, paying `fee` duffs. */
export function paymentTx(random: Random, fee: bigint): TemplateTx {
  const signature = Buffer.concat([Buffer.from([0x30, 0x44]), random(69), Buffer.from([0x01])]); // DER + SIGHASH_ALL, 72 bytes
  const publicKey = Buffer.concat([Buffer.from([0x02]), random(32)]);
  const scriptSig = Buffer.concat([Buffer.from([signature.length]), signature, Buffer.from([publicKey.length]), publicKey]);
  const amount = 100_000_000n + BigInt(random(2).readUInt16LE(0)) * 10_000n;
  const data = Buffer.concat([
    u32le(1),
    compactSize(1),
    random(32),
    u32le(random(1)[0]! % 4),
    compactSize(scriptSig.length),
    scriptSig,
    u32le(0xffffffff),
    compactSize(2),
    i64le(amount),
    compactSize(25),
    p2pkhScript(random(20)),
    i64le(amount / 3n),
    compactSize(25),
    p2pkhScript(random(20)),
    u32le(0),
  ]);
  return txOf(data, fee, 2);
}

/** A DIP2 quorum commitment (version 3, type 6) for `height`: no inputs, no outputs, a payload. */
export function quorumCommitmentTx(random: Random, height: number): TemplateTx {
  const version = Buffer.alloc(4);
  version.writeUInt16LE(3, 0);
  version.writeUInt16LE(6, 2);
  const payloadVersion = Buffer.alloc(2);
  payloadVersion.writeUInt16LE(1, 0);
  const payload = Buffer.concat([payloadVersion, u32le(height), random(128)]);
  const data = Buffer.concat([version, compactSize(0), compactSize(0), u32le(0), compactSize(payload.length), payload]);
  return txOf(data, 0n, 0);
}

/** The template's `transactions` entry of a transaction (hash = txid, display hex: Dash has no witness). */
export function templateTxJson(tx: TemplateTx): { data: string; hash: string; txid: string; depends: number[]; fee: number; sigops: number } {
  const id = hashHex(tx.txid);
  return { data: tx.data.toString('hex'), hash: id, txid: id, depends: [], fee: Number(tx.fee), sigops: tx.sigops };
}
