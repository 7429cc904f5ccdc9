/**
 * Share-path benchmark: how close does full share validation come to the raw X11 speed of the backend?
 *
 *   npm run bench:shares [-- --seconds 3] [-- --branches 2,10] [-- --json]
 *
 * Everything runs in this one process, on one core, in the same run:
 *   - raw X11: hasher.hash() on 80-byte headers (nonce changing);
 *   - validated shares: ShareValidator.validate() on realistic jobs (a ~330-byte type-5 Dash coinbase, a merkle
 *     branch of the given length), every share unique (its own extranonce2 and nonce), every share accepted:
 *     the full path submit params -> checks -> duplicate cache -> coinbase -> merkle -> header -> X11 -> compare;
 *   - the ratio of the two, latency percentiles per validate() call, and where the time goes (X11, coinbase
 *     sha256d, merkle fold, the rest) measured on the same inputs.
 * Measurements are interleaved in rounds so a noisy neighbour hurts them all alike.
 */
import { sha256d, sha256dInto } from '../chain/sha256.js';
import { foldMerkleBranch } from '../chain/merkle.js';
import { u32Hex } from '../chain/bytes.js';
import type { PowHasher } from '../chain/hasher.js';
import { loadX11Wasm } from '../chain/x11-wasm.js';
import { initialTarget } from '../proxy/device-target.js';
import { createJob, type Job } from '../proxy/job.js';
import { ShareValidator, type DeviceWork, type JobLookup } from '../proxy/share-validator.js';
import type { SubmitParams } from '../stratum/messages.js';

interface Options {
  seconds: number;
  branches: number[];
  json: boolean;
  rounds: number;
}

const HELP = `bench:shares: raw X11 hashes/s vs validated shares/s through ShareValidator (one core, same run)

Options:
  --seconds N       seconds per measurement, split over the rounds (default 3)
  --branches A,B    merkle branch lengths to measure (default 2,10)
  --rounds N        interleaved rounds per measurement (default 10)
  --json            print one JSON line instead of the table
`;

function parseOptions(argv: string[]): Options {
  const opts: Options = { seconds: 3, branches: [2, 10], json: false, rounds: 10 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--json') opts.json = true;
    else if (a === '--seconds') opts.seconds = Number(value());
    else if (a === '--rounds') opts.rounds = Number(value());
    else if (a === '--branches') opts.branches = value().split(',').map(Number);
    else if (a === '--help' || a === '-h') {
      process.stdout.write(HELP);
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  if (!(opts.seconds > 0)) throw new Error('--seconds must be a positive number');
  if (!Number.isInteger(opts.rounds) || opts.rounds < 1) throw new Error('--rounds must be a positive integer');
  if (opts.branches.length === 0 || !opts.branches.every((b) => Number.isInteger(b) && b >= 0 && b <= 32)) throw new Error('--branches must be integers from 0 to 32');
  return opts;
}

// ---- realistic work ----------------------------------------------------------------------------------------

/** Deterministic pseudo-random 32-byte values (sha256d of a counter): merkle siblings, CbTx roots. */
function fakeHash(seed: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(seed, 0);
  b.writeUInt32LE(0x5eed, 4);
  return sha256d(b);
}

const POOL_EXTRANONCE1 = '68000000';
const DEVICE_PREFIX = '0a1b';
const EXTRANONCE2_SIZE = 4;

/**
 * A modern Dash coinbase split around the extranonces: a type-5 special transaction (version 3, type 5),
 * one input whose scriptSig carries the BIP34 height, extranonce1 + extranonce2 and a pool tag, two P2PKH
 * outputs (miner, masternode), nLockTime, then the compact-size length and a version-3 CbTx payload
 * (version, height, merkleRootMNList, merkleRootQuorums, bestCLHeightDiff, bestCLSignature, creditPoolBalance).
 */
function dashCoinbase(height: number): { coinb1: string; coinb2: string; size: number } {
  const en1Bytes = (POOL_EXTRANONCE1.length + DEVICE_PREFIX.length) / 2;
  const heightPush = Buffer.from([0x03, height & 0xff, (height >> 8) & 0xff, (height >> 16) & 0xff]);
  const tag = Buffer.from('/dash-farm-proxy/', 'ascii');
  const scriptLen = heightPush.length + en1Bytes + EXTRANONCE2_SIZE + 1 + tag.length;
  const coinb1 = Buffer.concat([
    Buffer.from('03000500', 'hex'), // version 3, type 5
    Buffer.from([1]), // one input
    Buffer.alloc(32), // null prevout hash
    Buffer.from('ffffffff', 'hex'), // prevout index
    Buffer.from([scriptLen]),
    heightPush,
  ]);
  const p2pkh = (seed: number, value: bigint): Buffer => {
    const out = Buffer.alloc(8 + 1 + 25);
    out.writeBigUInt64LE(value, 0);
    out[8] = 25;
    Buffer.from('76a914', 'hex').copy(out, 9);
    fakeHash(seed).copy(out, 12, 0, 20);
    Buffer.from('88ac', 'hex').copy(out, 32);
    return out;
  };
  const payload = Buffer.concat([
    Buffer.from('0300', 'hex'), // CbTx version 3
    Buffer.from(Uint32Array.of(height).buffer),
    fakeHash(1), // merkleRootMNList
    fakeHash(2), // merkleRootQuorums
    Buffer.from([0]), // bestCLHeightDiff
    Buffer.concat([fakeHash(3), fakeHash(4), fakeHash(5)]), // bestCLSignature (96 bytes)
    Buffer.alloc(8, 0x11), // creditPoolBalance
  ]);
  const coinb2 = Buffer.concat([
    Buffer.from([tag.length]),
    tag,
    Buffer.from('ffffffff', 'hex'), // sequence
    Buffer.from([2]),
    p2pkh(10, 110_000_000n),
    p2pkh(11, 90_000_000n),
    Buffer.alloc(4), // nLockTime
    Buffer.from([payload.length]),
    payload,
  ]);
  return { coinb1: coinb1.toString('hex'), coinb2: coinb2.toString('hex'), size: coinb1.length + en1Bytes + EXTRANONCE2_SIZE + coinb2.length };
}

interface Work {
  job: Job;
  lookup: JobLookup;
  device: DeviceWork;
  coinbaseSize: number;
}

function makeWork(branchLength: number, ntime: number): Work {
  const cb = dashCoinbase(2_100_000);
  const job = createJob(
    {
      jobId: `b${branchLength}`,
      prevhash: fakeHash(99).toString('hex'),
      coinb1: cb.coinb1,
      coinb2: cb.coinb2,
      merkleBranch: Array.from({ length: branchLength }, (_, i) => fakeHash(1000 + i).toString('hex')),
      version: '20000000',
      nbits: '1927e5e4',
      ntime: u32Hex(ntime),
      cleanJobs: true,
    },
    { poolExtranonce1: POOL_EXTRANONCE1, poolDifficulty: 65536 },
  );
  const found = { job, stale: false };
  return {
    job,
    lookup: (id) => (id === job.id ? found : undefined),
    // A tiny device difficulty: every share is accepted, as nearly all shares from real devices are.
    device: { extranonce1: POOL_EXTRANONCE1 + DEVICE_PREFIX, extranonce2Size: EXTRANONCE2_SIZE, versionMask: 0, target: initialTarget(1e-12) },
    coinbaseSize: cb.size,
  };
}

// ---- measurement -------------------------------------------------------------------------------------------

const BATCH = 2048;

/** Run `fn(i)` in batches until `ms` elapse; returns calls and elapsed ms. `prepare` runs outside the clock. */
function timed(ms: number, prepare: (count: number) => void, fn: (i: number) => void, latencies?: number[]): { calls: number; elapsed: number } {
  let calls = 0;
  let elapsed = 0;
  while (elapsed < ms) {
    prepare(BATCH);
    if (latencies) {
      const start = performance.now();
      let prev = start;
      for (let i = 0; i < BATCH; i++) {
        fn(i);
        const now = performance.now();
        latencies.push(now - prev);
        prev = now;
      }
      elapsed += prev - start;
    } else {
      const start = performance.now();
      for (let i = 0; i < BATCH; i++) fn(i);
      elapsed += performance.now() - start;
    }
    calls += BATCH;
  }
  return { calls, elapsed };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface BranchResult {
  branch: number;
  sharesPerSecond: number;
  /** validated shares/s over raw X11 hashes/s (means over the whole measurement). */
  ratio: number;
  /** Median X11 call over median validate() call: the same ratio, robust to a noisy neighbour. */
  ratioOfMedians: number;
  p50Us: number;
  p99Us: number;
  /**
   * Median microseconds per share in each part (X11, coinbase build + sha256d, merkle fold), each timed in
   * isolation on the same inputs; rest = median validate() minus the parts (checks, duplicate cache, header,
   * compares, the result object). Medians, because this machine may be shared.
   */
  breakdownUs: { x11: number; coinbase: number; merkle: number; rest: number; total: number };
  accepted: number;
  rejected: number;
}

let uniqueCounter = 1;

async function main(): Promise<void> {
  return run(parseOptions(process.argv.slice(2)));
}

async function run(opts: Options): Promise<void> {
  const hasher: PowHasher = await loadX11Wasm();
  const ntime = Math.floor(Date.now() / 1000);
  const sliceMs = (opts.seconds * 1000) / opts.rounds;
  const works = opts.branches.map((b) => makeWork(b, ntime));
  const ntimeHex = u32Hex(ntime);

  // Raw X11 on an 80-byte header, the nonce changing each call.
  const header = Buffer.alloc(80);
  fakeHash(7).copy(header, 4);
  let nonce = 0;
  const hashOnce = (): void => {
    header.writeUInt32LE(nonce++ >>> 0, 76);
    hasher.hash(header);
  };

  // Unique submits, made outside the clock batch by batch.
  const submits: SubmitParams[] = new Array(BATCH);
  const prepareSubmits = (jobId: string) => (count: number) => {
    for (let i = 0; i < count; i++) {
      const n = uniqueCounter++;
      submits[i] = { worker: 'rig01', jobId, extranonce2: u32Hex(n), ntime: ntimeHex, nonce: u32Hex(Math.imul(n, 2654435761)) };
    }
  };

  const validators = works.map(() => new ShareValidator({ hasher }));
  const outcome = works.map(() => ({ accepted: 0, rejected: 0, firstError: '' }));
  const validateOnce = (w: number) => {
    const work = works[w]!;
    const v = validators[w]!;
    const o = outcome[w]!;
    return (i: number): void => {
      const out = v.validate(submits[i]!, work.device, work.lookup);
      if (out.ok) o.accepted++;
      else {
        o.rejected++;
        o.firstError ||= out.error.message;
      }
    };
  };

  // Parts of the path, in isolation, on the same inputs and with the same calls the validator makes.
  const coinbaseBuf = Buffer.alloc(1024);
  const pair = Buffer.alloc(64);
  const coinbasePart = (w: number) => {
    const job = works[w]!.job;
    const en1 = works[w]!.device.extranonce1;
    return (i: number): void => {
      let off = job.coinb1.copy(coinbaseBuf, 0);
      off += coinbaseBuf.write(en1, off, 'hex');
      off += coinbaseBuf.write(submits[i]!.extranonce2, off, 'hex');
      off += job.coinb2.copy(coinbaseBuf, off);
      sha256dInto(coinbaseBuf.subarray(0, off), pair, 0);
    };
  };
  const merklePart = (w: number) => {
    const branch = works[w]!.job.merkleBranch;
    return (i: number): void => {
      pair.writeUInt32LE(i, 0);
      foldMerkleBranch(pair, branch);
    };
  };

  // Warm up every path (JIT, WASM, caches).
  timed(300, () => {}, hashOnce);
  for (let w = 0; w < works.length; w++) {
    timed(300, prepareSubmits(works[w]!.job.id), validateOnce(w));
    timed(100, prepareSubmits(works[w]!.job.id), coinbasePart(w));
    timed(100, () => {}, merklePart(w));
  }
  for (const o of outcome) Object.assign(o, { accepted: 0, rejected: 0 });

  const hashTotals = { calls: 0, elapsed: 0 };
  const validateTotals = works.map(() => ({ calls: 0, elapsed: 0 }));
  const coinbaseLatencies: number[][] = works.map(() => []);
  const merkleLatencies: number[][] = works.map(() => []);
  const latencies: number[][] = works.map(() => []);
  const hashLatencies: number[] = [];
  const add = (into: { calls: number; elapsed: number }, r: { calls: number; elapsed: number }) => {
    into.calls += r.calls;
    into.elapsed += r.elapsed;
  };
  for (let round = 0; round < opts.rounds; round++) {
    add(hashTotals, timed(sliceMs, () => {}, hashOnce, hashLatencies));
    for (let w = 0; w < works.length; w++) {
      add(validateTotals[w]!, timed(sliceMs, prepareSubmits(works[w]!.job.id), validateOnce(w), latencies[w]));
      timed(sliceMs / 4, prepareSubmits(works[w]!.job.id), coinbasePart(w), coinbaseLatencies[w]);
      timed(sliceMs / 4, () => {}, merklePart(w), merkleLatencies[w]);
    }
  }

  const hashesPerSecond = (hashTotals.calls / hashTotals.elapsed) * 1000;
  const x11Us = (hashTotals.elapsed / hashTotals.calls) * 1000;
  const x11P50Us = percentile(Float64Array.from(hashLatencies).sort(), 50) * 1000;
  const results: BranchResult[] = works.map((work, w) => {
    const vt = validateTotals[w]!;
    const sorted = Float64Array.from(latencies[w]!).sort();
    const median = (xs: number[]) => percentile(Float64Array.from(xs).sort(), 50) * 1000;
    const total = percentile(sorted, 50) * 1000;
    const coinbase = median(coinbaseLatencies[w]!);
    const merkle = median(merkleLatencies[w]!);
    const sharesPerSecond = (vt.calls / vt.elapsed) * 1000;
    return {
      branch: work.job.merkleBranch.length,
      sharesPerSecond,
      ratio: sharesPerSecond / hashesPerSecond,
      ratioOfMedians: x11P50Us / (percentile(sorted, 50) * 1000),
      p50Us: percentile(sorted, 50) * 1000,
      p99Us: percentile(sorted, 99) * 1000,
      breakdownUs: { x11: x11P50Us, coinbase, merkle, rest: total - x11P50Us - coinbase - merkle, total },
      accepted: outcome[w]!.accepted,
      rejected: outcome[w]!.rejected,
    };
  });

  const bad = outcome.find((o) => o.rejected > 0);
  if (bad) throw new Error(`a benchmark share was rejected (${bad.firstError}): the benchmark's work is wrong`);

  const report = {
    backend: hasher.name,
    node: process.version,
    secondsPerMeasurement: opts.seconds,
    coinbaseBytes: works[0]!.coinbaseSize,
    extranonce1Bytes: works[0]!.device.extranonce1.length / 2,
    extranonce2Bytes: EXTRANONCE2_SIZE,
    x11HashesPerSecond: hashesPerSecond,
    x11Us,
    x11P50Us,
    branches: results,
  };
  if (opts.json) {
    process.stdout.write(JSON.stringify(report) + '\n');
    return;
  }
  const f0 = (n: number) => Math.round(n).toLocaleString('en-US');
  const f1 = (n: number) => n.toFixed(1);
  const lines = [
    `share path benchmark: ${hasher.name}, node ${process.version}, one core, ${opts.seconds} s per measurement in ${opts.rounds} interleaved rounds`,
    `work: type-5 Dash coinbase of ${report.coinbaseBytes} B, extranonce1 ${report.extranonce1Bytes} B + extranonce2 ${EXTRANONCE2_SIZE} B, every share unique and accepted`,
    '',
    `raw X11 (80-byte header): ${f0(hashesPerSecond)} hashes/s (mean ${f1(x11Us)} µs/hash, median ${f1(x11P50Us)} µs)`,
    '',
    'branch  validated/s  ratio  ratio p50  p50 µs  p99 µs | median µs/share:  X11  coinbase  merkle  rest  total',
    ...results.map(
      (r) =>
        `${String(r.branch).padStart(6)}  ${f0(r.sharesPerSecond).padStart(11)}  ${r.ratio.toFixed(2).padStart(5)}  ${r.ratioOfMedians.toFixed(2).padStart(9)}  ${f1(r.p50Us).padStart(6)}  ${f1(r.p99Us).padStart(6)} |` +
        `${f1(r.breakdownUs.x11).padStart(22)}  ${f1(r.breakdownUs.coinbase).padStart(8)}  ${f1(r.breakdownUs.merkle).padStart(6)}  ${f1(r.breakdownUs.rest).padStart(4)}  ${f1(r.breakdownUs.total).padStart(5)}`,
    ),
    '',
    'ratio = validated shares/s / raw X11 hashes/s; ratio p50 = median X11 call / median validate() call (robust to noise).',
    'median µs/share: each part timed on its own with the same inputs. coinbase = build + sha256d; merkle = the branch',
    'fold (one sha256d per entry); rest = checks, duplicate cache, header, compares, result (median validate() minus the parts).',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:shares: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
