import { randomBytes } from 'node:crypto';
import { swapWords32, u32Hex } from '../chain/bytes.js';
import { coinbaseMerkleBranch } from '../chain/merkle.js';
import { sha256d } from '../chain/sha256.js';
import { targetFromBits } from '../chain/target.js';
import { notificationLine } from '../stratum/jsonrpc.js';
import { Method, type NotifyParams } from '../stratum/messages.js';
import { buildCoinbase, type CoinbaseSpec } from './dash-coinbase.js';
import { decodeMiningJob, type MiningJob } from './mining-job.js';

/**
 * The simulated pool's block templates and jobs: heights, prevhashes, type-5 coinbases, merkle branches,
 * and the registry of jobs the pool judges shares against (clean jobs make the older ones stale). Pure apart
 * from the randomness and the clock it is given; no sockets, no timers.
 */

export interface SimJobSourceOptions {
  extranonce1Size: number;
  extranonce2Size: number;
  /** Compact network target of the jobs. */
  nbits: number;
  /** Block version (default 0x20000000). */
  version?: number;
  /** Height of the first block (default 2,300,000). */
  startHeight?: number;
  /** Transactions besides the coinbase in every job (default 6). */
  txCount?: number;
  poolTag?: string;
  /** Jobs remembered for share validation (default 128); older ones answer "job not found". */
  maxJobs?: number;
  now?: () => number;
  random?: (bytes: number) => Buffer;
}

export interface SimJob {
  /** 1, 2, 3, ... in issue order. */
  readonly seq: number;
  readonly height: number;
  /** The decoded job with the pool difficulty in force for it. */
  readonly job: MiningJob;
  readonly notify: NotifyParams;
  /** The `mining.notify` line, serialized once for every connection. */
  readonly notifyLine: Buffer;
  /** The other transactions of the block (internal order), for checks of the merkle branch. */
  readonly txHashes: readonly Buffer[];
  /** The CbTx payload in the coinbase. */
  readonly payload: Buffer;
}

export interface JobLookupResult {
  job: MiningJob;
  stale: boolean;
  seq: number;
}

export const DEFAULT_START_HEIGHT = 2_300_000;
const MINER_REWARD = 38_000_000n;
const MASTERNODE_REWARD = 115_000_000n;

export class SimJobSource {
  private readonly opts: Required<Omit<SimJobSourceOptions, 'startHeight'>>;
  private readonly seed: Buffer;
  private readonly poolPubKeyHash: Buffer;
  private readonly jobs = new Map<string, { sim: SimJob; stale: boolean }>();
  private seqCounter = 0;
  private heightValue: number;
  private prevhash: Buffer;
  private masternodePayee: Buffer;
  private mnRoots: { list: Buffer; quorums: Buffer };
  private chainLockSignature: Buffer;
  private latest: SimJob | undefined;

  constructor(options: SimJobSourceOptions) {
    this.opts = {
      extranonce1Size: options.extranonce1Size,
      extranonce2Size: options.extranonce2Size,
      nbits: options.nbits >>> 0,
      version: options.version ?? 0x20000000,
      txCount: options.txCount ?? 6,
      poolTag: options.poolTag ?? '/dash-farm-proxy sim/',
      maxJobs: options.maxJobs ?? 128,
      now: options.now ?? Date.now,
      random: options.random ?? randomBytes,
    };
    const target = targetFromBits(this.opts.nbits); // throws on a negative or overflowing nbits
    if (target === 0n) throw new RangeError(`nbits ${u32Hex(this.opts.nbits)} encodes a zero target`);
    if (!Number.isInteger(this.opts.txCount) || this.opts.txCount < 0 || this.opts.txCount > 10_000) throw new RangeError(`txCount must be 0 to 10000, got ${this.opts.txCount}`);
    if (!Number.isInteger(this.opts.maxJobs) || this.opts.maxJobs < 2) throw new RangeError(`maxJobs must be an integer >= 2, got ${this.opts.maxJobs}`);
    this.seed = this.opts.random(32);
    this.poolPubKeyHash = this.opts.random(20);
    this.heightValue = options.startHeight ?? DEFAULT_START_HEIGHT;
    this.prevhash = this.prevhashFor(this.heightValue);
    this.masternodePayee = this.opts.random(20);
    this.mnRoots = { list: this.opts.random(32), quorums: this.opts.random(32) };
    this.chainLockSignature = this.opts.random(96);
  }

  /** Height of the block being mined. */
  get height(): number {
    return this.heightValue;
  }

  get nbits(): number {
    return this.opts.nbits;
  }

  /** The most recent job, if any was issued. */
  get current(): SimJob | undefined {
    return this.latest;
  }

  /** The seq the next job will get. */
  get nextSeq(): number {
    return this.seqCounter + 1;
  }

  /** Jobs remembered for validation. */
  get size(): number {
    return this.jobs.size;
  }

  /** A new job on the current block (fresh ntime and transactions); `clean` makes every older job stale. */
  nextJob(difficulty: number, clean: boolean): SimJob {
    const seq = ++this.seqCounter;
    const now = this.opts.now();
    const ntime = Math.floor(now / 1000);
    const spec: CoinbaseSpec = {
      height: this.heightValue,
      time: ntime,
      extranonce1Size: this.opts.extranonce1Size,
      extranonce2Size: this.opts.extranonce2Size,
      poolTag: this.opts.poolTag,
      outputs: [
        { value: MINER_REWARD + BigInt(seq % 1000) * 1000n, pubKeyHash: this.poolPubKeyHash },
        { value: MASTERNODE_REWARD, pubKeyHash: this.masternodePayee },
      ],
      payload: {
        height: this.heightValue,
        merkleRootMNList: this.mnRoots.list,
        merkleRootQuorums: this.mnRoots.quorums,
        bestCLHeightDiff: 0,
        bestCLSignature: this.chainLockSignature,
        creditPoolBalance: 1_234_567_890n,
      },
    };
    const { coinb1, coinb2, payload } = buildCoinbase(spec);
    const txHashes = Array.from({ length: this.opts.txCount }, () => this.opts.random(32));
    const notify: NotifyParams = {
      jobId: seq.toString(16),
      prevhash: swapWords32(this.prevhash).toString('hex'),
      coinb1: coinb1.toString('hex'),
      coinb2: coinb2.toString('hex'),
      merkleBranch: coinbaseMerkleBranch(txHashes).map((h) => h.toString('hex')),
      version: u32Hex(this.opts.version),
      nbits: u32Hex(this.opts.nbits),
      ntime: u32Hex(ntime),
      cleanJobs: clean,
    };
    const job = decodeMiningJob(notify, difficulty);
    const notifyLine = Buffer.from(
      notificationLine(Method.Notify, [notify.jobId, notify.prevhash, notify.coinb1, notify.coinb2, notify.merkleBranch, notify.version, notify.nbits, notify.ntime, notify.cleanJobs]),
    );
    const sim: SimJob = { seq, height: this.heightValue, job, notify, notifyLine, txHashes, payload };
    if (clean) for (const entry of this.jobs.values()) entry.stale = true;
    this.jobs.set(notify.jobId, { sim, stale: false });
    while (this.jobs.size > this.opts.maxJobs) this.jobs.delete(this.jobs.keys().next().value as string);
    this.latest = sim;
    return sim;
  }

  /** Move to the next block (height + 1, a new prevhash, new masternode data) and issue its clean job. */
  nextBlock(difficulty: number): SimJob {
    this.heightValue++;
    this.prevhash = this.prevhashFor(this.heightValue);
    this.masternodePayee = this.opts.random(20);
    this.mnRoots = { list: this.opts.random(32), quorums: this.opts.random(32) };
    this.chainLockSignature = this.opts.random(96);
    return this.nextJob(difficulty, true);
  }

  lookup(jobId: string): JobLookupResult | undefined {
    const entry = this.jobs.get(jobId);
    return entry ? { job: entry.sim.job, stale: entry.stale, seq: entry.sim.seq } : undefined;
  }

  /** The header prevhash (internal order) of a height: unique per height, with the leading zeros of a real block hash. */
  private prevhashFor(height: number): Buffer {
    const h = Buffer.alloc(36);
    this.seed.copy(h, 0, 0, 32);
    h.writeUInt32LE(height >>> 0, 32);
    const hash = sha256d(h);
    hash.fill(0, 28); // display form starts with 8 zero hex digits
    return hash;
  }
}
