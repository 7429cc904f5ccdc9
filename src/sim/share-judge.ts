import { isHex, leLessOrEqual } from '../chain/bytes.js';
import type { PowHasher } from '../chain/hasher.js';
import { writeHeader } from '../chain/header.js';
import { merkleRootFromBranch } from '../chain/merkle.js';
import { sha256d } from '../chain/sha256.js';
import { difficultyFromHash } from '../chain/target.js';
import { StratumError, StratumErrorCode } from '../stratum/errors.js';
import type { SubmitParams } from '../stratum/messages.js';
import { formatDifficulty } from '../util/format.js';
import type { MiningJob } from './mining-job.js';

/**
 * The simulated pool's judge of a `mining.submit`, as a real pool judges it, built on the chain primitives
 * alone (it shares nothing with the proxy's share path, so the two check each other):
 *
 *   1. extranonce2 is hex of the announced size                               else 20
 *   2. the job is known                                                        else 21 "Job not found"
 *      and was not superseded by a clean job                                   else 21 "Stale job"
 *   3. ntime is 8 hex digits, not before the job's, at most 2 h ahead          else 20
 *   4. nonce is 8 hex digits                                                   else 20
 *   5. version bits, when sent, are 8 hex digits with no bit outside the connection's mask  else 20
 *   6. the same share (job, extranonce1, extranonce2, ntime, nonce, bits) was not seen  else 22
 *   7. the X11 hash of the rebuilt header meets the network target (a block) or the job's share target  else 23
 *
 * Pure computation: no sockets, no timers; the clock is injectable.
 */

/** The connection a share arrives on, as the judge needs it. */
export interface Submitter {
  /** The extranonce1 the share was mined with (lower-case hex). */
  readonly extranonce1: string;
  /** BIP 310 mask granted by `mining.configure` (0: no version rolling). */
  readonly versionMask: number;
}

/** The job a submit names, as the pool's own job registry knows it; undefined when it does not. */
export interface KnownJob {
  readonly job: MiningJob;
  /** True once a clean job came after it. */
  readonly stale: boolean;
}

export interface AcceptedVerdict {
  readonly accepted: true;
  readonly job: MiningJob;
  /** Raw X11 digest (internal order; its reverse is the display hash). */
  readonly hash: Buffer;
  readonly shareDifficulty: number;
  /** The hash meets the network target: a block. */
  readonly block: boolean;
}

export interface RejectedVerdict {
  readonly accepted: false;
  readonly error: StratumError;
  /** The job, once it was found. */
  readonly job?: MiningJob;
  /** Difficulty the hash achieved, when the share was hashed (low difficulty). */
  readonly shareDifficulty?: number;
}

export type Verdict = AcceptedVerdict | RejectedVerdict;

export interface ShareJudgeOptions {
  hasher: PowHasher;
  /** Bytes of extranonce2 the pool announced. */
  extranonce2Size: number;
  /** Shares remembered for duplicate detection (default 250,000); the oldest are forgotten first. */
  rememberShares?: number;
  /** How far ntime may run ahead of the clock (seconds, default 7200, Bitcoin's rule for block times). */
  maxNtimeAheadSeconds?: number;
  now?: () => number;
}

export const DEFAULT_REMEMBERED_SHARES = 250_000;
const DEFAULT_NTIME_AHEAD_SECONDS = 2 * 60 * 60;

const invalid = (message: string): RejectedVerdict => ({ accepted: false, error: new StratumError(StratumErrorCode.Other, message) });

/** A word of 8 hex digits as an unsigned number, or null when it is not one. */
function hexWord(text: string): number | null {
  return isHex(text, 4) ? Number.parseInt(text, 16) >>> 0 : null;
}

export class ShareJudge {
  private readonly hasher: PowHasher;
  private readonly extranonce2Size: number;
  private readonly capacity: number;
  private readonly aheadSeconds: number;
  private readonly now: () => number;
  /** Keys of the shares seen, oldest first (a Set iterates in insertion order). */
  private readonly seen = new Set<string>();

  constructor(opts: ShareJudgeOptions) {
    this.hasher = opts.hasher;
    this.extranonce2Size = opts.extranonce2Size;
    this.capacity = Math.max(1, opts.rememberShares ?? DEFAULT_REMEMBERED_SHARES);
    this.aheadSeconds = opts.maxNtimeAheadSeconds ?? DEFAULT_NTIME_AHEAD_SECONDS;
    this.now = opts.now ?? Date.now;
  }

  /** Shares remembered for duplicate detection. */
  get remembered(): number {
    return this.seen.size;
  }

  judge(submit: SubmitParams, known: KnownJob | undefined, submitter: Submitter): Verdict {
    const en2Size = this.extranonce2Size;
    if (!isHex(submit.extranonce2, en2Size)) return invalid(`Invalid extranonce2: expected ${en2Size * 2} hex digits (${en2Size} bytes)`);

    if (known === undefined) return { accepted: false, error: new StratumError(StratumErrorCode.JobNotFound, 'Job not found') };
    const job = known.job;
    if (known.stale) return { accepted: false, error: new StratumError(StratumErrorCode.JobNotFound, 'Stale job: superseded by a clean job'), job };

    const ntime = hexWord(submit.ntime);
    if (ntime === null) return invalid('Invalid ntime: expected 8 hex digits');
    if (ntime < job.ntime) return invalid("ntime out of range: earlier than the job's ntime");
    if (ntime > Math.floor(this.now() / 1000) + this.aheadSeconds) return invalid('ntime out of range: too far in the future');

    const nonce = hexWord(submit.nonce);
    if (nonce === null) return invalid('Invalid nonce: expected 8 hex digits');

    const mask = submitter.versionMask >>> 0;
    let version = job.version;
    if (submit.versionBits !== undefined) {
      const bits = hexWord(submit.versionBits);
      if (bits === null) return invalid('Invalid version bits: expected 8 hex digits');
      if ((bits | mask) >>> 0 !== mask) {
        return invalid(mask === 0 ? 'Version rolling was not negotiated (mining.configure)' : 'Version bits outside the negotiated mask');
      }
      version = ((job.version & ~mask) | bits) >>> 0;
    }

    const extranonce2 = submit.extranonce2.toLowerCase();
    const shareKey = [job.id, submitter.extranonce1.toLowerCase(), extranonce2, submit.ntime.toLowerCase(), submit.nonce.toLowerCase(), submit.versionBits?.toLowerCase() ?? ''].join('/');
    if (!this.remember(shareKey)) return { accepted: false, error: new StratumError(StratumErrorCode.DuplicateShare, 'Duplicate share'), job };

    const coinbase = Buffer.concat([job.coinb1, Buffer.from(submitter.extranonce1 + extranonce2, 'hex'), job.coinb2]);
    const merkleRoot = merkleRootFromBranch(sha256d(coinbase), job.merkleBranch);
    const header = writeHeader({ version, prevhash: job.prevhash, merkleRoot, ntime, nbits: job.nbits, nonce });
    const hash = Buffer.from(this.hasher.hash(header));
    const shareDifficulty = difficultyFromHash(hash);

    const block = leLessOrEqual(hash, job.networkTarget);
    if (block || leLessOrEqual(hash, job.poolTarget)) return { accepted: true, job, hash, shareDifficulty, block };
    const message = `Low difficulty share: ${formatDifficulty(shareDifficulty)} < ${formatDifficulty(job.poolDifficulty)}`;
    return { accepted: false, error: new StratumError(StratumErrorCode.LowDifficulty, message), job, shareDifficulty };
  }

  /** Record a share; false when it was already there. Past capacity the oldest share is forgotten. */
  private remember(key: string): boolean {
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    if (this.seen.size > this.capacity) this.seen.delete(this.seen.values().next().value as string);
    return true;
  }
}
