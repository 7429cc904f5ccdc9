import t from 'tap';
import { u32Hex } from '../../src/chain/bytes.js';
import { loadX11Wasm } from '../../src/chain/x11-wasm.js';
import { initialTarget } from '../../src/proxy/device-target.js';
import { createJob, type Job } from '../../src/proxy/job.js';
import { ShareValidator } from '../../src/proxy/share-validator.js';
import type { SubmitParams } from '../../src/stratum/messages.js';
import { SimJobSource } from '../../src/sim/job-source.js';
import { ShareJudge } from '../../src/sim/share-judge.js';
import { mulberry32 } from '../helpers/prng.js';

/**
 * Two judges written apart, one answer: the proxy's ShareValidator and the simulated pool's ShareJudge get
 * the same random shares (good, low, duplicate, stale, unknown job, malformed fields, version bits in and out
 * of the mask) and must give the same verdict for each: accepted or not, the error code and message, the
 * share difficulty and whether it is a block.
 */

const hasher = await loadX11Wasm();
const SHARES = 1500;
const MASK = 0x1fffe000;
const NOW = 1_760_000_000_000;

t.test('the proxy validator and the simulated pool judge agree on random shares', async (t) => {
  const rand = mulberry32(12);
  const randomBytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  // nbits 2000ffff: network difficulty 2^-24 (about 6e-8), so about one share in 60 is a block.
  const source = new SimJobSource({ extranonce1Size: 4, extranonce2Size: 8, nbits: 0x2000ffff, txCount: 5, now: () => NOW, random: randomBytes });
  const proxyJobs = new Map<string, Job>();
  const issue = (difficulty: number, clean: boolean) => {
    const sim = source.nextJob(difficulty, clean);
    proxyJobs.set(sim.notify.jobId, createJob(sim.notify, { poolExtranonce1: '', poolDifficulty: difficulty, receivedAt: NOW }));
    return sim;
  };
  const old = issue(1e-9, true);
  const jobs = [issue(1e-9, true), issue(4e-9, false)]; // the first is now stale
  const jobIds = [old.notify.jobId, ...jobs.map((j) => j.notify.jobId), ...jobs.map((j) => j.notify.jobId), 'abcdef'];

  const judge = new ShareJudge({ hasher, extranonce2Size: 8, now: () => NOW });
  const validator = new ShareValidator({ hasher, now: () => NOW });
  const ntimeOf = (jobId: string) => source.lookup(jobId)?.job.ntime ?? Math.floor(NOW / 1000);

  const tally: Record<string, number> = {};
  let disagreements = 0;
  for (let i = 0; i < SHARES; i++) {
    const jobId = pick(jobIds);
    const r = rand();
    const extranonce2 = r < 0.03 ? '00000001' : r < 0.05 ? 'zz' + '0'.repeat(14) : u32Hex(0) + u32Hex(Math.floor(rand() * 6));
    const baseNtime = ntimeOf(jobId);
    const n = rand();
    const ntime = n < 0.03 ? u32Hex(baseNtime - 1) : n < 0.05 ? u32Hex(Math.floor(NOW / 1000) + 7201) : n < 0.07 ? 'nothex!!' : u32Hex(baseNtime + Math.floor(rand() * 3));
    const nonce = rand() < 0.03 ? '123' : u32Hex(Math.floor(rand() * 40));
    const v = rand();
    const versionBits = v < 0.6 ? undefined : v < 0.7 ? '00000000' : v < 0.85 ? u32Hex(Math.floor(rand() * 4) << 13) : v < 0.95 ? u32Hex(0x1000) : 'xx';
    const submit: SubmitParams = { worker: 'w', jobId, extranonce2, ntime, nonce, ...(versionBits !== undefined && { versionBits }) };
    const extranonce1 = pick(['0badf00d', 'cafebabe']);
    const versionMask = pick([0, MASK]);

    const found = source.lookup(jobId);
    const pj = proxyJobs.get(jobId);
    const difficulty = found?.job.poolDifficulty ?? 1e-9;
    const proxy = validator.validate(submit, { extranonce1, extranonce2Size: 8, versionMask, target: initialTarget(difficulty, 1, 0) }, (id) => (id === jobId && pj && found ? { job: pj, stale: found.stale } : undefined));
    const sim = judge.judge(submit, found, { extranonce1, versionMask });

    const proxySide = proxy.ok
      ? { accepted: true, block: proxy.meetsNetwork, shareDifficulty: proxy.shareDifficulty, hash: proxy.hash.toString('hex') }
      : { accepted: false, code: proxy.error.code, message: proxy.error.message, shareDifficulty: proxy.shareDifficulty };
    const simSide = sim.accepted
      ? { accepted: true, block: sim.block, shareDifficulty: sim.shareDifficulty, hash: sim.hash.toString('hex') }
      : { accepted: false, code: sim.error.code, message: sim.error.message, shareDifficulty: sim.shareDifficulty };
    if (JSON.stringify(proxySide) !== JSON.stringify(simSide)) {
      // The first few are shown side by side; the count below fails the test either way.
      if (++disagreements <= 10) t.same(simSide, proxySide, `share ${i}: ${JSON.stringify(submit)} on ${extranonce1} with mask ${u32Hex(versionMask)}`);
    }
    const key = sim.accepted ? (sim.block ? 'block' : 'accepted') : String(sim.error.code);
    tally[key] = (tally[key] ?? 0) + 1;
  }
  t.equal(disagreements, 0, `${SHARES} shares, the same verdict on both sides: ${JSON.stringify(tally)}`);
  // The random shares reach every verdict, or the agreement would prove little.
  for (const key of ['accepted', 'block', '20', '21', '22', '23']) t.ok((tally[key] ?? 0) > 0, `some shares end as ${key}`);
});
