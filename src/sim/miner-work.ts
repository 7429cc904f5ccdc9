import { leLessOrEqual, u32Hex } from '../chain/bytes.js';
import type { PowHasher } from '../chain/hasher.js';
import { writeHeader } from '../chain/header.js';
import { merkleRootFromBranch } from '../chain/merkle.js';
import { sha256d } from '../chain/sha256.js';
import type { MiningJob } from './mining-job.js';

/**
 * What a simulated ASIC does with one job: build the coinbase with its extranonce1 and a rolling
 * extranonce2, the merkle root and the 80-byte header, then try nonces with X11 and keep those whose hash
 * meets the device's target. Pure computation: the caller decides how many hashes to spend and when.
 */

export interface MinedShare {
  jobId: string;
  extranonce2: string;
  ntime: string;
  nonce: string;
  /** Rolled version bits (BIP 310), when version rolling was negotiated. */
  versionBits?: string;
}

export interface MinerWorkOptions {
  /** The job, decoded with the device's difficulty as `poolDifficulty` (its `poolTarget` is the device's target). */
  job: MiningJob;
  extranonce1: string;
  extranonce2Size: number;
  /** First extranonce2 value to use; the device carries the counter from job to job so (en2, nonce) never repeat. */
  extranonce2Start: number;
  /** Nonces tried per extranonce2 before it rolls (default 2^20). */
  noncesPerExtranonce2?: number;
  /** BIP 310 mask granted by the pool (0: no version rolling). */
  versionMask?: number;
}

/** extranonce2 as hex of `size` bytes from a counter (wraps within the size). */
export function extranonce2Hex(counter: number, size: number): string {
  const v = size < 6 ? counter % 2 ** (8 * size) : counter;
  return v.toString(16).padStart(size * 2, '0').slice(-size * 2);
}

export class MinerWork {
  readonly job: MiningJob;
  private readonly extranonce1: string;
  private readonly en2Size: number;
  private readonly noncesPerEn2: number;
  private readonly versionMask: number;
  private readonly header = Buffer.alloc(80);
  private en2Counter: number;
  private en2 = '';
  private versionBits: string | undefined;
  private nonce = 0;
  private lastMissValue: MinedShare | null = null;
  /** Hashes tried on this job. */
  hashes = 0;

  constructor(opts: MinerWorkOptions) {
    this.job = opts.job;
    this.extranonce1 = opts.extranonce1.toLowerCase();
    this.en2Size = opts.extranonce2Size;
    this.noncesPerEn2 = Math.max(1, Math.min(2 ** 32, opts.noncesPerExtranonce2 ?? 2 ** 20));
    this.versionMask = (opts.versionMask ?? 0) >>> 0;
    this.en2Counter = opts.extranonce2Start;
    this.prepare();
  }

  /** The extranonce2 counter value after the one in use (to carry over to the next job). */
  get nextExtranonce2(): number {
    return this.en2Counter + 1;
  }

  /** The last share tried that did NOT meet the target (for the "low difficulty" misbehaviour); taken once. */
  takeMiss(): MinedShare | null {
    const m = this.lastMissValue;
    this.lastMissValue = null;
    return m;
  }

  /** A copy of the header being hashed (current extranonce2 and version), with `nonce`. */
  headerWith(nonce: number): Buffer {
    const h = Buffer.from(this.header);
    h.writeUInt32LE(nonce >>> 0, 76);
    return h;
  }

  /** The extranonce2 in use (hex). */
  get extranonce2(): string {
    return this.en2;
  }

  /** Try `count` nonces; `onShare` gets each share that meets the target. Returns the hashes done. */
  search(hasher: PowHasher, count: number, onShare: (share: MinedShare) => void): number {
    const target = this.job.poolTarget;
    const h = this.header;
    let done = 0;
    let lastMissNonce = -1;
    while (done < count) {
      if (this.nonce >= this.noncesPerEn2) {
        this.en2Counter++;
        this.prepare();
        lastMissNonce = -1; // a miss belongs to the extranonce2 it was hashed with
      }
      const nonce = this.nonce++;
      h.writeUInt32LE(nonce, 76);
      const hash = hasher.hash(h);
      done++;
      if (leLessOrEqual(hash, target)) onShare(this.share(nonce));
      else lastMissNonce = nonce;
    }
    this.hashes += done;
    if (lastMissNonce >= 0) this.lastMissValue = this.share(lastMissNonce);
    return done;
  }

  private share(nonce: number): MinedShare {
    const s: MinedShare = { jobId: this.job.id, extranonce2: this.en2, ntime: this.job.notify.ntime, nonce: u32Hex(nonce) };
    if (this.versionBits !== undefined) s.versionBits = this.versionBits;
    return s;
  }

  /** New extranonce2 (and version bits): coinbase, merkle root and header for it. */
  private prepare(): void {
    this.nonce = 0;
    this.en2 = extranonce2Hex(this.en2Counter, this.en2Size);
    let version = this.job.version;
    if (this.versionMask !== 0) {
      const bits = (Math.imul(this.en2Counter, 0x2000) & this.versionMask) >>> 0;
      this.versionBits = u32Hex(bits);
      version = ((version & ~this.versionMask) | bits) >>> 0;
    }
    const coinbase = Buffer.concat([this.job.coinb1, Buffer.from(this.extranonce1 + this.en2, 'hex'), this.job.coinb2]);
    const merkleRoot = merkleRootFromBranch(sha256d(coinbase), this.job.merkleBranch);
    writeHeader({ version, prevhash: this.job.prevhash, merkleRoot, ntime: this.job.ntime, nbits: this.job.nbits, nonce: 0 }, this.header);
  }
}
