import { swapWords32 } from '../chain/bytes.js';
import { difficultyFromTarget, targetFromDifficulty, targetToLe } from '../chain/target.js';
import type { NotifyParams } from '../stratum/messages.js';
import { networkTargetOf } from '../upstream/job-check.js';

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
  /** The pool's extranonce1 when the job arrived (devices get it at the end of coinb1: see device-job.ts). */
  readonly poolExtranonce1: string;
  /** Zero bytes (hex) after the device's extranonce2 in the pool's extranonce2 (at the start of coinb2 for devices). */
  readonly pad: string;
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
  /** The network target from the notify's nBits, when the upstream decoded it already (it judged the job usable). */
  networkTarget?: bigint;
  poolExtranonce1: string;
  /** See Job.pad (default none). */
  pad?: string;
  poolDifficulty: number;
  difficultyMultiplier?: number;
  receivedAt?: number;
}

/**
 * Build a job from a usable notify: pool jobs come judged and decoded by the upstream (`ctx.networkTarget`);
 * the tools that make their own notify (benchmark, check-share, tests) get its nBits decoded here. A
 * notify that is not usable breaks that precondition: a RangeError names the field.
 */
export function createJob(notify: NotifyParams, ctx: JobContext): Job {
  const nbits = parseInt(notify.nbits, 16) >>> 0;
  const network = ctx.networkTarget ?? usableNetworkTarget(notify.nbits);
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
    pad: ctx.pad ?? '',
    poolDifficulty: ctx.poolDifficulty,
    poolTarget: targetToLe(targetFromDifficulty(ctx.poolDifficulty, multiplier)),
    networkTarget: targetToLe(network),
    networkDifficulty: difficultyFromTarget(network, multiplier),
    receivedAt: ctx.receivedAt ?? Date.now(),
  };
}

function usableNetworkTarget(nbitsHex: string): bigint {
  const target = networkTargetOf(nbitsHex);
  if (!target.ok) throw new RangeError(target.reason);
  return target.value;
}
