import { isHex, leLessOrEqual } from '../chain/bytes.js';
import type { PowHasher } from '../chain/hasher.js';
import { HEADER_SIZE } from '../chain/header.js';
import { foldMerkleBranch } from '../chain/merkle.js';
import { sha256dInto } from '../chain/sha256.js';
import { difficultyFromHash } from '../chain/target.js';
import { rejectReasonOf, StratumError, StratumErrorCode, type RejectReason } from '../stratum/errors.js';
import type { SubmitParams } from '../stratum/messages.js';
import { formatDifficulty } from '../util/format.js';
import { DEFAULT_RETARGET_GRACE_MS, type DeviceTarget } from './device-target.js';
import type { Job } from './job.js';

/**
 * The share path: rebuild coinbase, merkle root and header from the job and the submit, hash with X11, and
 * judge the share for the device, the pool and the network. Pure computation: no sockets, no timers.
 *
 * Checks, in this order, each with its standard error:
 *   extranonce2 of the assigned length (20); job known (21) and not cleaned (21); ntime 8 hex and within
 *   [job ntime, now + 7200 s] (20); nonce 8 hex (20); version bits inside the negotiated mask (20);
 *   not a duplicate (22); share difficulty at least the device's (23).
 *
 * Duplicates are remembered per job, for as long as the job itself is held (the channel's job registry keeps
 * the current and a few recent ones): a share can only be a duplicate of one on the same job, and once the
 * registry forgets a job its shares answer "job not found" before any duplicate check, so their memory goes
 * with the job. (A process-wide LRU of 250,000 share keys did this before: about 300 bytes a share of cons
 * strings and map entries, filled at a worker's ~100 shares/s over 40 minutes; the soak's workers grew by
 * ~2 MiB a minute until it was full, and a duplicate on a still-current job went unseen past it.)
 */

/** What the share path needs to know about the device that submitted. */
export interface DeviceWork {
  /** The device's extranonce1 as it was told (its prefix: the pool's extranonce1 is inside the job's coinb1), lower-case hex. */
  readonly extranonce1: string;
  readonly extranonce2Size: number;
  /** BIP 310 mask negotiated with `mining.configure`; 0 when the device does not roll the version. */
  readonly versionMask: number;
  readonly target: DeviceTarget;
}

export type JobLookup = (jobId: string) => { job: Job; stale: boolean } | undefined;

export interface AcceptedShare {
  readonly ok: true;
  readonly job: Job;
  /** Lower-case, normalised submit fields as they go upstream. */
  readonly extranonce2: string;
  readonly ntime: string;
  readonly nonce: string;
  readonly versionBits: string | undefined;
  readonly header: Buffer;
  /** Raw X11 digest (internal order); display order is its reverse. */
  readonly hash: Buffer;
  /** The difficulty the hash achieves. */
  readonly shareDifficulty: number;
  /** The difficulty credited to the device (the target it met: current, or the one just before a retarget). */
  readonly creditedDifficulty: number;
  readonly meetsPool: boolean;
  readonly meetsNetwork: boolean;
}

export interface RejectedShare {
  readonly ok: false;
  readonly error: StratumError;
  readonly reason: RejectReason;
  /** Present once the share was hashed (low difficulty). */
  readonly shareDifficulty?: number;
  readonly header?: Buffer;
  readonly hash?: Buffer;
  readonly job?: Job;
}

export type ShareOutcome = AcceptedShare | RejectedShare;

export interface ShareValidatorOptions {
  hasher: PowHasher;
  difficultyMultiplier?: number;
  /** How far ntime may run ahead of the clock (seconds). */
  maxNtimeAheadSeconds?: number;
  /** After a retarget, shares meeting the previous difficulty count for this long (ms), and always for jobs sent before it. */
  retargetGraceMs?: number;
  now?: () => number;
}

function reject(code: StratumErrorCode, message: string, extra?: Partial<RejectedShare>): RejectedShare {
  return { ok: false, error: new StratumError(code, message), reason: rejectReasonOf[code], ...extra };
}

export class ShareValidator {
  private readonly hasher: PowHasher;
  private readonly multiplier: number;
  private readonly maxAhead: number;
  private readonly graceMs: number;
  private readonly now: () => number;
  /** Per job, the keys (shareKey) of the shares submitted on it: freed with the job. */
  private readonly seen = new WeakMap<Job, Set<string>>();
  private coinbase = Buffer.allocUnsafe(1024);
  private readonly header = Buffer.allocUnsafe(HEADER_SIZE);
  /** sha256d(coinbase) then the merkle fold, in place (see foldMerkleBranch). */
  private readonly merklePair = Buffer.allocUnsafe(64);

  constructor(opts: ShareValidatorOptions) {
    this.hasher = opts.hasher;
    this.multiplier = opts.difficultyMultiplier ?? 1;
    this.maxAhead = opts.maxNtimeAheadSeconds ?? 7200;
    this.graceMs = opts.retargetGraceMs ?? DEFAULT_RETARGET_GRACE_MS;
    this.now = opts.now ?? Date.now;
  }

  /** Shares remembered for duplicate detection on `job`. */
  remembered(job: Job): number {
    return this.seen.get(job)?.size ?? 0;
  }

  validate(submit: SubmitParams, device: DeviceWork, lookup: JobLookup): ShareOutcome {
    const en2Size = device.extranonce2Size;
    if (!isHex(submit.extranonce2, en2Size)) {
      return reject(StratumErrorCode.Other, `Invalid extranonce2: expected ${en2Size * 2} hex digits (${en2Size} bytes)`);
    }
    const found = lookup(submit.jobId);
    if (!found) return reject(StratumErrorCode.JobNotFound, 'Job not found');
    if (found.stale) return reject(StratumErrorCode.JobNotFound, 'Stale job: superseded by a clean job');
    const job = found.job;

    if (!isHex(submit.ntime, 4)) return reject(StratumErrorCode.Other, 'Invalid ntime: expected 8 hex digits');
    const ntime = parseInt(submit.ntime, 16) >>> 0;
    if (ntime < job.ntime) return reject(StratumErrorCode.Other, 'ntime out of range: earlier than the job\'s ntime');
    const nowMs = this.now();
    if (ntime > Math.floor(nowMs / 1000) + this.maxAhead) return reject(StratumErrorCode.Other, 'ntime out of range: too far in the future');

    if (!isHex(submit.nonce, 4)) return reject(StratumErrorCode.Other, 'Invalid nonce: expected 8 hex digits');
    const nonce = parseInt(submit.nonce, 16) >>> 0;

    let version = job.version;
    let versionBits: string | undefined;
    if (submit.versionBits !== undefined) {
      if (!isHex(submit.versionBits, 4)) return reject(StratumErrorCode.Other, 'Invalid version bits: expected 8 hex digits');
      const bits = parseInt(submit.versionBits, 16) >>> 0;
      const mask = device.versionMask >>> 0;
      if ((bits & ~mask) >>> 0 !== 0) {
        return reject(StratumErrorCode.Other, mask === 0 ? 'Version rolling was not negotiated (mining.configure)' : 'Version bits outside the negotiated mask');
      }
      version = ((job.version & ~mask) | (bits & mask)) >>> 0;
      versionBits = submit.versionBits.toLowerCase();
    }

    const extranonce2 = submit.extranonce2.toLowerCase();
    const ntimeHex = submit.ntime.toLowerCase();
    const nonceHex = submit.nonce.toLowerCase();
    const key = shareKey(device.extranonce1, extranonce2, ntimeHex, nonceHex, versionBits);
    let seen = this.seen.get(job);
    if (!seen) this.seen.set(job, (seen = new Set()));
    if (seen.has(key)) return reject(StratumErrorCode.DuplicateShare, 'Duplicate share');
    seen.add(key);

    const header = this.buildHeader(job, device.extranonce1, extranonce2, version, ntime, nonce);
    const hash = Buffer.from(this.hasher.hash(header));
    const shareDifficulty = difficultyFromHash(hash, this.multiplier);
    const meetsPool = leLessOrEqual(hash, job.poolTarget);
    const meetsNetwork = leLessOrEqual(hash, job.networkTarget);

    const t = device.target;
    let credited: number;
    if (leLessOrEqual(hash, t.target)) {
      credited = t.difficulty;
    } else if (t.previous && (job.receivedAt <= t.changedAt || nowMs - t.changedAt <= this.graceMs) && leLessOrEqual(hash, t.previous.target)) {
      credited = t.previous.difficulty;
    } else if (meetsPool || meetsNetwork) {
      // Never lose a share the pool would pay for, nor a block, whatever the device's own target says (the
      // network target can be easier than the pool's on testnets and solo setups).
      credited = meetsPool ? job.poolDifficulty : job.networkDifficulty;
    } else {
      return reject(StratumErrorCode.LowDifficulty, `Low difficulty share: ${formatDifficulty(shareDifficulty)} < ${formatDifficulty(t.difficulty)}`, {
        shareDifficulty,
        header: Buffer.from(header),
        hash,
        job,
      });
    }
    return {
      ok: true,
      job,
      extranonce2,
      ntime: ntimeHex,
      nonce: nonceHex,
      versionBits,
      header: Buffer.from(header),
      hash,
      shareDifficulty,
      creditedDifficulty: credited,
      meetsPool,
      meetsNetwork,
    };
  }

  /** coinbase = coinb1 + extranonce1 + extranonce2 + coinb2; merkle root from the branch; the 80-byte header. */
  private buildHeader(job: Job, extranonce1: string, extranonce2: string, version: number, ntime: number, nonce: number): Buffer {
    const size = job.coinb1.length + (extranonce1.length + extranonce2.length) / 2 + job.coinb2.length;
    if (size > this.coinbase.length) this.coinbase = Buffer.allocUnsafe(size * 2);
    const cb = this.coinbase;
    let off = job.coinb1.copy(cb, 0);
    off += cb.write(extranonce1, off, 'hex');
    off += cb.write(extranonce2, off, 'hex');
    off += job.coinb2.copy(cb, off);
    const pair = this.merklePair;
    sha256dInto(cb.subarray(0, off), pair, 0);
    foldMerkleBranch(pair, job.merkleBranch);
    const h = this.header;
    h.writeUInt32LE(version, 0);
    job.prevhash.copy(h, 4);
    pair.copy(h, 36, 0, 32);
    h.writeUInt32LE(ntime, 68);
    h.writeUInt32LE(job.nbits, 72);
    h.writeUInt32LE(nonce, 76);
    return h;
  }
}

/**
 * One share of a job, as a compact flat string: its bytes (version bits, when sent, behind a flag; then
 * extranonce1 + extranonce2, which make the coinbase; then ntime and nonce, 4 bytes each) one character per
 * byte. About 20 characters in one sequential string, where the template string it replaces held a chain of
 * cons strings over the submit's own strings; the fixed-width parts at both ends keep it unambiguous.
 */
export function shareKey(extranonce1: string, extranonce2: string, ntime: string, nonce: string, versionBits: string | undefined): string {
  const hex = versionBits === undefined ? `00${extranonce1}${extranonce2}${ntime}${nonce}` : `01${versionBits}${extranonce1}${extranonce2}${ntime}${nonce}`;
  return Buffer.from(hex, 'hex').toString('latin1');
}
