import { swapWords32 } from '../chain/bytes.js';
import { difficultyFromTarget, targetFromBits, targetFromDifficulty, targetToLe } from '../chain/target.js';
import type { NotifyParams } from '../stratum/messages.js';

/**
 * A `mining.notify` as the simulator reads it, on either side of the wire: the simulated pool (which judges
 * shares against it) and the simulated devices (which mine it). Decoded here from the chain primitives, with
 * no help from the proxy's own job decoding, so that a mistake there cannot hide behind the simulator.
 */
export interface MiningJob {
  /** The job id as carried by notify and submit. */
  readonly id: string;
  readonly notify: NotifyParams;
  readonly coinb1: Buffer;
  readonly coinb2: Buffer;
  /** Raw sha256d hashes (internal order), folded into the coinbase hash in this order. */
  readonly merkleBranch: readonly Buffer[];
  /** Header prevhash (internal order): the stratum form with every 4-byte word byte-reversed. */
  readonly prevhash: Buffer;
  readonly version: number;
  readonly nbits: number;
  readonly ntime: number;
  /** The share difficulty in force for this job, and its target (32 bytes, little-endian). */
  readonly poolDifficulty: number;
  readonly poolTarget: Buffer;
  /** The block target from nbits (32 bytes, little-endian) and its difficulty. */
  readonly networkTarget: Buffer;
  readonly networkDifficulty: number;
}

const u32 = (hex: string): number => Number.parseInt(hex, 16) >>> 0;

/**
 * Decode a notify (already checked for shape by `parseNotify`) with the share difficulty in force for it.
 * Throws a RangeError when nbits cannot be a block target (negative, overflowing or zero).
 */
export function decodeMiningJob(notify: NotifyParams, difficulty: number): MiningJob {
  const nbits = u32(notify.nbits);
  const blockTarget = targetFromBits(nbits);
  if (blockTarget === 0n) throw new RangeError(`nbits ${notify.nbits} encodes a zero target`);
  return {
    id: notify.jobId,
    notify,
    coinb1: Buffer.from(notify.coinb1, 'hex'),
    coinb2: Buffer.from(notify.coinb2, 'hex'),
    merkleBranch: notify.merkleBranch.map((step) => Buffer.from(step, 'hex')),
    prevhash: swapWords32(Buffer.from(notify.prevhash, 'hex')),
    version: u32(notify.version),
    nbits,
    ntime: u32(notify.ntime),
    poolDifficulty: difficulty,
    poolTarget: targetToLe(targetFromDifficulty(difficulty)),
    networkTarget: targetToLe(blockTarget),
    networkDifficulty: difficultyFromTarget(blockTarget),
  };
}
