import { swapWords32 } from '../chain/bytes.js';
import { difficultyFromTarget, targetFromBits, targetFromDifficulty, targetToLe } from '../chain/target.js';
import type { NotifyParams } from '../stratum/messages.js';

/**
 * A pool job, decoded once when it arrives: everything the share path needs as ready bytes and numbers,
 * plus the pool's difficulty in force for it (shares are judged by the target of the job they were mined on).
 */
export interface Job {
  /** The id devices see (the proxy's own, unique for the life of the process). */
  readonly id: string;
  /** The pool's job id, used when a share goes upstream. */
  readonly poolJobId: string;
  readonly notify: NotifyParams;
  readonly coinb1: Buffer;
  readonly coinb2: Buffer;
  readonly merkleBranch: readonly Buffer[];
  /** Header prevhash (internal order). */
  readonly prevhash: Buffer;
  readonly version: number;
  readonly nbits: number;
  readonly ntime: number;
  readonly cleanJobs: boolean;
  /** The pool's extranonce1 when the job arrived (a device's extranonce1 starts with it). */
  readonly poolExtranonce1: string;
  readonly poolDifficulty: number;
  /** Little-endian 32-byte targets for the fast comparison. */
  readonly poolTarget: Buffer;
  readonly networkTarget: Buffer;
  readonly networkDifficulty: number;
  /** Milliseconds (Date.now()) when the proxy received it. */
  readonly receivedAt: number;
}

export interface JobContext {
  id?: string;
  poolExtranonce1: string;
  poolDifficulty: number;
  difficultyMultiplier?: number;
  receivedAt?: number;
}

/** Decode a validated notify. Throws a RangeError naming the field when the pool sent an impossible value. */
export function createJob(notify: NotifyParams, ctx: JobContext): Job {
  const nbits = parseInt(notify.nbits, 16) >>> 0;
  let network: bigint;
  try {
    network = targetFromBits(nbits);
  } catch (err) {
    throw new RangeError(`mining.notify: nbits ${notify.nbits}: ${(err as Error).message}`);
  }
  if (network === 0n) throw new RangeError(`mining.notify: nbits ${notify.nbits} encodes a zero target`);
  const multiplier = ctx.difficultyMultiplier ?? 1;
  return {
    id: ctx.id ?? notify.jobId,
    poolJobId: notify.jobId,
    notify,
    coinb1: Buffer.from(notify.coinb1, 'hex'),
    coinb2: Buffer.from(notify.coinb2, 'hex'),
    merkleBranch: notify.merkleBranch.map((h) => Buffer.from(h, 'hex')),
    prevhash: swapWords32(Buffer.from(notify.prevhash, 'hex')),
    version: parseInt(notify.version, 16) >>> 0,
    nbits,
    ntime: parseInt(notify.ntime, 16) >>> 0,
    cleanJobs: notify.cleanJobs,
    poolExtranonce1: ctx.poolExtranonce1.toLowerCase(),
    poolDifficulty: ctx.poolDifficulty,
    poolTarget: targetToLe(targetFromDifficulty(ctx.poolDifficulty, multiplier)),
    networkTarget: targetToLe(network),
    networkDifficulty: difficultyFromTarget(network, multiplier),
    receivedAt: ctx.receivedAt ?? Date.now(),
  };
}
