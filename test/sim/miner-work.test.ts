import t from 'tap';
import { initialTarget } from '../../src/proxy/device-target.js';
import { createJob } from '../../src/proxy/job.js';
import { extranonce2Hex, MinerWork, type MinedShare } from '../../src/sim/miner-work.js';
import { SimJobSource } from '../../src/sim/job-source.js';
import { decodeMiningJob } from '../../src/sim/mining-job.js';
import { ShareJudge } from '../../src/sim/share-judge.js';
import { cutCoinbase, loadBlocks } from '../helpers/fixtures.js';
import { hasher, validator } from '../helpers/share-kit.js';

t.test('the header a simulated device builds is the real header of a real Dash block', async (t) => {
  for (const block of loadBlocks().filter((b) => b.id === 'dash-mainnet-2045354' || b.id === 'dash-mainnet-844898')) {
    const cut = cutCoinbase(block, 4, 4);
    const s = block.stratum;
    // Decoded as the simulated device decodes its jobs (mining-job.ts), not by the proxy.
    const job = decodeMiningJob(
      { jobId: 'b', prevhash: s.prevhash, coinb1: cut.coinb1, coinb2: cut.coinb2, merkleBranch: s.merkle_branch, version: s.version, nbits: s.nbits, ntime: s.ntime, cleanJobs: true },
      1,
    );
    const work = new MinerWork({ job, extranonce1: cut.extranonce1, extranonce2Size: 4, extranonce2Start: parseInt(cut.extranonce2, 16) });
    t.equal(work.extranonce2, cut.extranonce2);
    t.equal(work.headerWith(parseInt(s.nonce, 16)).toString('hex'), block.header_hex, block.id);
  }
});

function simJob(difficulty: number, en2Size = 8) {
  const src = new SimJobSource({ extranonce1Size: 4, extranonce2Size: en2Size, nbits: 0x1e0fffff });
  return src.nextJob(difficulty, true);
}

t.test('every share a device finds is accepted by the share validator and by the pool\'s judge; a miss is low difficulty', async (t) => {
  const d = 1e-9;
  const sim = simJob(d);
  const job = createJob(sim.notify, { poolExtranonce1: '0badf00d', poolDifficulty: d });
  const work = new MinerWork({ job, extranonce1: '0badf00d', extranonce2Size: 8, extranonce2Start: 5, noncesPerExtranonce2: 64 });
  const shares: MinedShare[] = [];
  t.equal(work.search(hasher, 300, (s) => shares.push(s)), 300);
  t.ok(shares.length > 0, 'at difficulty 1e-9 about one hash in 4.3 is a share');
  const v = validator();
  const judge = new ShareJudge({ hasher, extranonce2Size: 8 });
  const dev = { extranonce1: '0badf00d', extranonce2Size: 8, versionMask: 0, target: initialTarget(d) };
  const lookup = (id: string) => (id === job.id ? { job, stale: false } : undefined);
  for (const s of shares) {
    const out = v.validate({ worker: 'w', ...s }, dev, lookup);
    if (!out.ok) t.fail(`share ${JSON.stringify(s)} rejected: ${out.error.message}`);
    const verdict = judge.judge({ worker: 'w', ...s }, { job: sim.job, stale: false }, { extranonce1: '0badf00d', versionMask: 0 });
    if (!verdict.accepted) t.fail(`share ${JSON.stringify(s)} rejected by the pool's judge: ${verdict.error.message}`);
  }
  t.equal(new Set(shares.map((s) => `${s.extranonce2}:${s.nonce}`)).size, shares.length, 'no (extranonce2, nonce) twice');
  t.ok(new Set(shares.map((s) => s.extranonce2)).size >= 4, 'extranonce2 rolls every 64 nonces');
  const miss = work.takeMiss();
  t.ok(miss, 'a miss is kept');
  const out = v.validate({ worker: 'w', ...miss! }, dev, lookup);
  t.equal(out.ok, false);
  t.equal(!out.ok && out.error.code, 23);
  t.match(judge.judge({ worker: 'w', ...miss! }, { job: sim.job, stale: false }, { extranonce1: '0badf00d', versionMask: 0 }), { accepted: false, error: { code: 23 } }, 'the judge agrees');
  t.equal(work.takeMiss(), null, 'taken once');
});

t.test('version rolling: the bits stay inside the mask and the validator agrees', async (t) => {
  const sim = simJob(1e-12);
  const mask = 0x1fffe000;
  const job = createJob(sim.notify, { poolExtranonce1: '01020304', poolDifficulty: 1e-12 });
  const work = new MinerWork({ job, extranonce1: '01020304', extranonce2Size: 8, extranonce2Start: 1, noncesPerExtranonce2: 2, versionMask: mask });
  const shares: MinedShare[] = [];
  work.search(hasher, 10, (s) => shares.push(s));
  t.equal(shares.length, 10, 'difficulty 1e-12: every hash is a share');
  t.same(
    shares.map((s) => `${s.extranonce2.slice(-2)}:${s.nonce}`),
    ['01:00000000', '01:00000001', '02:00000000', '02:00000001', '03:00000000', '03:00000001', '04:00000000', '04:00000001', '05:00000000', '05:00000001'],
  );
  const bits = new Set(shares.map((s) => s.versionBits));
  t.ok(bits.size > 1, 'different version bits per extranonce2');
  for (const b of bits) t.equal((parseInt(b!, 16) & ~mask) >>> 0, 0, `bits ${b} inside the mask`);
  const v = validator();
  const dev = { extranonce1: '01020304', extranonce2Size: 8, versionMask: mask, target: initialTarget(1e-12) };
  for (const s of shares) t.equal(v.validate({ worker: 'w', ...s }, dev, () => ({ job, stale: false })).ok, true);
  t.equal(work.nextExtranonce2, 6);
});

t.test('extranonce2Hex', async (t) => {
  t.equal(extranonce2Hex(1, 4), '00000001');
  t.equal(extranonce2Hex(0x1_0000_0001, 4), '00000001', 'wraps within the size');
  t.equal(extranonce2Hex(258, 1), '02');
  t.equal(extranonce2Hex(0x1_0000_0001, 8), '0000000100000001');
  t.equal(extranonce2Hex(7, 16).length, 32);
});
