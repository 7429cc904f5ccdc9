import t from 'tap';
import { displayHash, u32Hex } from '../../src/chain/bytes.js';
import { difficultyFromBits } from '../../src/chain/target.js';
import { loadX11Wasm } from '../../src/chain/x11-wasm.js';
import type { SubmitParams } from '../../src/stratum/messages.js';
import { SimJobSource } from '../../src/sim/job-source.js';
import { decodeMiningJob, type MiningJob } from '../../src/sim/mining-job.js';
import { ShareJudge, type Verdict } from '../../src/sim/share-judge.js';
import { cutCoinbase, loadBlocks, type FixtureBlock } from '../helpers/fixtures.js';
import { findNonce, hashShare, meetsBits, meetsDifficulty, missesDifficulty } from './mine.js';

const hasher = await loadX11Wasm();

/** A real block as a pool would have sent it, with the extranonces cut from the tail of its coinbase scriptSig. */
function blockJob(block: FixtureBlock, difficulty: number) {
  const size = Math.min(4, Math.floor((block.coinbase.scriptsig_length - 1) / 2));
  const cut = cutCoinbase(block, size, size);
  const s = block.stratum;
  const notify = { jobId: 'b1', prevhash: s.prevhash, coinb1: cut.coinb1, coinb2: cut.coinb2, merkleBranch: s.merkle_branch, version: s.version, nbits: s.nbits, ntime: s.ntime, cleanJobs: true };
  return { job: decodeMiningJob(notify, difficulty), extranonce1: cut.extranonce1, extranonce2: cut.extranonce2, size };
}

function rejection(v: Verdict): { code: number; message: string } | null {
  return v.accepted ? null : { code: v.error.code, message: v.error.message };
}

t.test('a real Dash block meets its network target; one bit changed in its nonce does not', async (t) => {
  const blocks = loadBlocks();
  t.ok(blocks.length >= 4, 'the fixtures hold real blocks');
  for (const block of blocks) {
    // The share target at the network difficulty: a header that misses the block target misses the share target too.
    const { job, extranonce1, extranonce2, size } = blockJob(block, difficultyFromBits(parseInt(block.stratum.nbits, 16)));
    const judge = new ShareJudge({ hasher, extranonce2Size: size, now: () => parseInt(block.stratum.ntime, 16) * 1000 });
    const submit: SubmitParams = { worker: 'w', jobId: job.id, extranonce2, ntime: block.stratum.ntime, nonce: block.stratum.nonce };
    const real = judge.judge(submit, { job, stale: false }, { extranonce1, versionMask: 0 });
    t.equal(real.accepted, true, `${block.id}: accepted`);
    if (real.accepted) {
      t.equal(real.block, true, `${block.id}: meets its network target`);
      t.equal(displayHash(real.hash), block.hash, `${block.id}: the block's own hash`);
      t.ok(real.shareDifficulty >= job.networkDifficulty, `${block.id}: share difficulty at least the network's`);
    }
    const flipped = u32Hex(parseInt(block.stratum.nonce, 16) ^ 1);
    const off = judge.judge({ ...submit, nonce: flipped }, { job, stale: false }, { extranonce1, versionMask: 0 });
    t.match(rejection(off), { code: 23, message: /^Low difficulty share/ }, `${block.id}: nonce ${flipped} is no block and no share`);
    t.ok(!off.accepted && off.shareDifficulty! < job.networkDifficulty, `${block.id}: its difficulty is below the network's`);
  }
});

t.test('a real block is a block even when the share target is harder than the network target', async (t) => {
  const block = loadBlocks().find((b) => b.id === 'dash-mainnet-844898')!;
  const { job, extranonce1, extranonce2, size } = blockJob(block, 1e15);
  const judge = new ShareJudge({ hasher, extranonce2Size: size, now: () => parseInt(block.stratum.ntime, 16) * 1000 });
  const v = judge.judge({ worker: 'w', jobId: job.id, extranonce2, ntime: block.stratum.ntime, nonce: block.stratum.nonce }, { job, stale: false }, { extranonce1, versionMask: 0 });
  t.match(v, { accepted: true, block: true });
});

/** A simulated job (difficulty 1e-9, nbits 1e0fffff), its source and a judge over it. */
function simSetup(opts: { rememberShares?: number } = {}) {
  const source = new SimJobSource({ extranonce1Size: 4, extranonce2Size: 8, nbits: 0x1e0fffff });
  const sim = source.nextJob(1e-9, true);
  const judge = new ShareJudge({ hasher, extranonce2Size: 8, ...opts });
  const extranonce1 = '0badf00d';
  const en2 = '0000000000000001';
  const good = findNonce(sim.notify, extranonce1, en2, meetsDifficulty(1e-9));
  const submit: SubmitParams = { worker: 'w', jobId: sim.notify.jobId, extranonce2: en2, ntime: sim.notify.ntime, nonce: good };
  const judgeIt = (s: Partial<SubmitParams>, versionMask = 0, en1 = extranonce1) => judge.judge({ ...submit, ...s }, source.lookup(s.jobId ?? submit.jobId), { extranonce1: en1, versionMask });
  return { source, sim, judge, extranonce1, en2, good, submit, judgeIt };
}

t.test('a good share is accepted and credited with the job; the same share again is a duplicate (22)', async (t) => {
  const { sim, judge, judgeIt, good } = simSetup();
  const first = judgeIt({});
  t.match(first, { accepted: true, block: false });
  t.ok(first.accepted && first.shareDifficulty >= 1e-9);
  t.ok(first.accepted && first.job === sim.job, 'judged against the job named');
  t.same(rejection(judgeIt({})), { code: 22, message: 'Duplicate share' });
  t.same(rejection(judgeIt({ nonce: good.toUpperCase(), extranonce2: '0000000000000001'.toUpperCase() })), { code: 22, message: 'Duplicate share' }, 'hex case does not make a new share');
  t.equal(judge.remembered, 1);
  t.not(rejection(judgeIt({}, 0, 'cafebabe'))?.code, 22, 'another extranonce1 is another share (hashed, not a duplicate)');
  t.equal(judge.remembered, 2);
});

t.test('every rejection, with its code and message', async (t) => {
  const { source, sim, judgeIt, en2 } = simSetup();
  const ntime = parseInt(sim.notify.ntime, 16);
  const cases: [string, Partial<SubmitParams>, number, number, RegExp | string][] = [
    ['extranonce2 too short', { extranonce2: '00000001' }, 0, 20, 'Invalid extranonce2: expected 16 hex digits (8 bytes)'],
    ['extranonce2 not hex', { extranonce2: 'zz00000000000001' }, 0, 20, /^Invalid extranonce2/],
    ['unknown job', { jobId: 'ffff' }, 0, 21, 'Job not found'],
    ['ntime not hex', { ntime: 'xyz' }, 0, 20, 'Invalid ntime: expected 8 hex digits'],
    ['ntime before the job', { ntime: u32Hex(ntime - 1) }, 0, 20, /^ntime out of range: earlier/],
    ['ntime over 2 h ahead', { ntime: u32Hex(Math.floor(Date.now() / 1000) + 7300) }, 0, 20, /^ntime out of range: too far in the future/],
    ['nonce of 7 digits', { nonce: '0000001' }, 0, 20, 'Invalid nonce: expected 8 hex digits'],
    ['version bits not hex', { versionBits: 'nothex!!' }, 0x1fffe000, 20, 'Invalid version bits: expected 8 hex digits'],
    ['version bits without configure', { versionBits: '00002000' }, 0, 20, /Version rolling was not negotiated/],
    ['version bits outside the mask', { versionBits: '00001000' }, 0x1fffe000, 20, 'Version bits outside the negotiated mask'],
  ];
  for (const [name, change, mask, code, message] of cases) t.match(rejection(judgeIt(change, mask)), { code, message }, name);

  const low = findNonce(sim.notify, '0badf00d', en2, missesDifficulty(1e-9));
  const lowVerdict = judgeIt({ nonce: low });
  t.match(rejection(lowVerdict), { code: 23, message: /^Low difficulty share: .* < 1\.0000e-9$/ }, 'a hash above the share target');
  t.ok(!lowVerdict.accepted && lowVerdict.shareDifficulty! < 1e-9, 'with the difficulty it achieved');

  source.nextBlock(1e-9);
  t.same(rejection(judgeIt({ nonce: findNonce(sim.notify, '0badf00d', '0000000000000002', meetsDifficulty(1e-9)), extranonce2: '0000000000000002' })), { code: 21, message: 'Stale job: superseded by a clean job' }, 'a job before a clean job');
});

t.test('none of the malformed submits is remembered: the good share after them is still accepted', async (t) => {
  const { judge, judgeIt } = simSetup();
  judgeIt({ nonce: 'bad' });
  judgeIt({ versionBits: '00002000' });
  t.equal(judge.remembered, 0);
  t.match(judgeIt({}), { accepted: true });
});

t.test('version rolling: bits inside the mask roll the header version', async (t) => {
  const { sim, judgeIt, en2 } = simSetup();
  const mask = 0x1fffe000;
  const bits = 0x00006000;
  const version = ((parseInt(sim.notify.version, 16) & ~mask) | bits) >>> 0;
  const rolledOnly = (h: Buffer, nonce: number) => meetsDifficulty(1e-9)(h) && missesDifficulty(1e-9)(hashShare(sim.notify, '0badf00d', en2, nonce));
  const rolled = findNonce(sim.notify, '0badf00d', en2, rolledOnly, { version });
  t.match(judgeIt({ nonce: rolled, versionBits: u32Hex(bits) }, mask), { accepted: true }, 'the rolled header meets the target');
  t.same(rejection(judgeIt({ nonce: rolled, versionBits: u32Hex(bits) }, mask)), { code: 22, message: 'Duplicate share' });
  t.match(rejection(judgeIt({ nonce: rolled }, mask)), { code: 23 }, 'the same nonce on the job version misses it');
});

t.test('zero version bits without configure are the job version (accepted, as before)', async (t) => {
  const { judgeIt } = simSetup();
  t.match(judgeIt({ versionBits: '00000000' }, 0), { accepted: true });
});

t.test('a block: the network target met', async (t) => {
  const source = new SimJobSource({ extranonce1Size: 4, extranonce2Size: 8, nbits: 0x2000ffff });
  const sim = source.nextJob(1e-12, true);
  const judge = new ShareJudge({ hasher, extranonce2Size: 8 });
  const en2 = '00000000000000b1';
  const nonce = findNonce(sim.notify, '0badf00d', en2, meetsBits(sim.notify.nbits));
  const miss = findNonce(sim.notify, '0badf00d', en2, (h) => !meetsBits(sim.notify.nbits)(h));
  const lookup = (id: string) => source.lookup(id);
  t.match(judge.judge({ worker: 'w', jobId: sim.notify.jobId, extranonce2: en2, ntime: sim.notify.ntime, nonce }, lookup(sim.notify.jobId), { extranonce1: '0badf00d', versionMask: 0 }), { accepted: true, block: true });
  t.match(judge.judge({ worker: 'w', jobId: sim.notify.jobId, extranonce2: en2, ntime: sim.notify.ntime, nonce: miss }, lookup(sim.notify.jobId), { extranonce1: '0badf00d', versionMask: 0 }), { accepted: true, block: false });
});

t.test('duplicate memory is bounded: the oldest share is forgotten first', async (t) => {
  const { judge, judgeIt, sim } = simSetup({ rememberShares: 2 });
  const nonces = ['0000000000000011', '0000000000000012', '0000000000000013'].map((en2) => ({ en2, nonce: findNonce(sim.notify, '0badf00d', en2, meetsDifficulty(1e-9)) }));
  for (const { en2, nonce } of nonces) t.match(judgeIt({ extranonce2: en2, nonce }), { accepted: true });
  t.equal(judge.remembered, 2);
  t.same(rejection(judgeIt({ extranonce2: nonces[2]!.en2, nonce: nonces[2]!.nonce })), { code: 22, message: 'Duplicate share' }, 'the newest is remembered');
  t.match(judgeIt({ extranonce2: nonces[0]!.en2, nonce: nonces[0]!.nonce }), { accepted: true }, 'the oldest was forgotten');
});

t.test('a job decodes with its targets; nbits that are no target are refused', async (t) => {
  const source = new SimJobSource({ extranonce1Size: 4, extranonce2Size: 8, nbits: 0x1e0fffff });
  const sim = source.nextJob(2, true);
  const job: MiningJob = decodeMiningJob(sim.notify, 2);
  t.equal(job.id, sim.notify.jobId);
  t.equal(job.nbits, 0x1e0fffff);
  t.equal(job.poolDifficulty, 2);
  t.ok(job.networkDifficulty > 0.0002 && job.networkDifficulty < 0.0003, 'nbits 1e0fffff: difficulty about 0.000244');
  t.same(job.prevhash, sim.job.prevhash);
  t.throws(() => decodeMiningJob({ ...sim.notify, nbits: '00000000' }, 1), /zero target/);
  t.throws(() => decodeMiningJob({ ...sim.notify, nbits: '01800000' }, 1), /negative/);
});
