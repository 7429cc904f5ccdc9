import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { u32Hex } from '../../src/chain/bytes.js';
import type { PowHasher } from '../../src/chain/hasher.js';
import { initialTarget } from '../../src/proxy/device-target.js';
import { createJob, type Job } from '../../src/proxy/job.js';
import { ShareValidator, shareKey, type DeviceWork, type JobLookup } from '../../src/proxy/share-validator.js';
import { loadBlocks } from '../helpers/fixtures.js';

/**
 * The share path's memory follows the jobs it judges, not the shares it has seen: a proxy worker judging
 * ~100 shares a second for hours (the soak) must not grow by them. Shares stream over jobs that come and go
 * as a channel's job registry keeps them (the newest 16); the heap after a full collection must not grow
 * with the number of shares. (With the former process-wide LRU of 250,000 share keys it grew by ~50 MB over
 * the 200,000 shares below.)
 */

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const s = loadBlocks().find((b) => b.id === 'dash-mainnet-2045354')!.stratum;
/** Every hash meets every target: the test is about memory, X11 is not needed (and would take minutes). */
const zeroHasher: PowHasher = { name: 'zero', hash: () => Buffer.alloc(32) };
const KEPT_JOBS = 16;
const SHARES_PER_JOB = 1000;

function jobNumbered(n: number): Job {
  return createJob(
    { jobId: `p${n}`, prevhash: s.prevhash, coinb1: '01000000010000', coinb2: 'ffffffff0100', merkleBranch: s.merkle_branch, version: s.version, nbits: s.nbits, ntime: s.ntime, cleanJobs: false },
    { id: n.toString(16), poolExtranonce1: '68000000', poolDifficulty: 1, receivedAt: 0 },
  );
}

t.test('the duplicate memory does not grow with the shares judged, only with the jobs held', async (t) => {
  const now = parseInt(s.ntime, 16) * 1000;
  const v = new ShareValidator({ hasher: zeroHasher, now: () => now });
  const held = new Map<string, Job>();
  const lookup: JobLookup = (id) => {
    const job = held.get(id);
    return job ? { job, stale: false } : undefined;
  };
  const devices: DeviceWork[] = Array.from({ length: 100 }, (_, i) => ({ extranonce1: u32Hex(0x01000000 + i), extranonce2Size: 4, versionMask: 0, target: initialTarget(1) }));
  let jobs = 0;
  let shares = 0;
  const judge = (count: number) => {
    for (let i = 0; i < count; i++) {
      if (shares % SHARES_PER_JOB === 0) {
        const job = jobNumbered(++jobs);
        held.set(job.id, job);
        // As a JobRegistry does: the oldest is forgotten past its size.
        if (held.size > KEPT_JOBS) held.delete(held.keys().next().value as string);
      }
      const device = devices[shares % devices.length]!;
      const out = v.validate({ worker: 'w', jobId: jobs.toString(16), extranonce2: u32Hex(shares), ntime: s.ntime, nonce: u32Hex(shares * 7) }, device, lookup);
      if (!out.ok) throw new Error(`share ${shares}: ${out.error.message}`);
      shares++;
    }
  };
  const heapAfterGc = () => {
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };

  judge(KEPT_JOBS * SHARES_PER_JOB * 2); // steady state: every held job full of shares
  const before = heapAfterGc();
  judge(200_000);
  const after = heapAfterGc();
  const grewMiB = (after - before) / 2 ** 20;
  t.ok(grewMiB < 4, `heap grew ${grewMiB.toFixed(1)} MiB over 200,000 shares on ${jobs} jobs (${KEPT_JOBS} held at a time)`);
  const newest = held.get(jobs.toString(16))!;
  t.equal(v.remembered(newest), shares % SHARES_PER_JOB || SHARES_PER_JOB, 'the newest job remembers its own shares');
  const again = v.validate({ worker: 'w', jobId: jobs.toString(16), extranonce2: u32Hex(shares - 1), ntime: s.ntime, nonce: u32Hex((shares - 1) * 7) }, devices[(shares - 1) % devices.length]!, lookup);
  t.equal(again.ok ? 0 : again.error.code, 22, 'and still catches a duplicate on it');
});

t.test('a share key is compact and unambiguous', async (t) => {
  const key = shareKey('01020304', 'aabbccdd', '5f5e1000', '00000007', undefined);
  t.equal(key.length, 17, 'one character per byte: flag, extranonce1 + extranonce2, ntime, nonce');
  t.not(key, shareKey('01020304', 'aabbccdd', '5f5e1000', '00000007', '00000000'), 'version bits sent (even zero) differ from none sent');
  t.not(shareKey('01', '020304aa', '5f5e1000', '00000007', undefined), shareKey('0102', '0304aa', '5f5e1001', '00000007', undefined), 'another ntime is another share');
  t.equal(shareKey('0102', '0304aa', '5f5e1000', '00000007', undefined), shareKey('01', '020304aa', '5f5e1000', '00000007', undefined), 'the same coinbase bytes are the same work');
});
