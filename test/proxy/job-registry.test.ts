import t from 'tap';
import { JobRegistry } from '../../src/proxy/job-registry.js';
import { createJob } from '../../src/proxy/job.js';
import type { NotifyParams } from '../../src/stratum/messages.js';
import { targetFromBits } from '../../src/chain/target.js';
import type { UpstreamJob } from '../../src/upstream/types.js';

const notify = (jobId: string, clean: boolean, nbits = '1b0404cb'): NotifyParams => ({
  jobId,
  prevhash: '00'.repeat(32),
  coinb1: '01',
  coinb2: '02',
  merkleBranch: [],
  version: '20000000',
  nbits,
  ntime: '5abd9173',
  cleanJobs: clean,
});
const up = (n: NotifyParams, difficulty = 1): UpstreamJob => ({
  pool: 'p',
  url: 'stratum+tcp://p:3333',
  notify: n,
  networkTarget: targetFromBits(parseInt(n.nbits, 16)),
  difficulty,
  extranonce: { extranonce1: 'aa', extranonce2Size: 4 },
  receivedAt: 1,
});

t.test('ids are the proxy\'s own and unique, even when the pool reuses its ids', async (t) => {
  const a = new JobRegistry();
  const b = new JobRegistry();
  const j1 = a.add(up(notify('1', true)));
  const j2 = b.add(up(notify('1', true)));
  t.not(j1.id, j2.id);
  t.equal(j1.poolJobId, '1');
});

t.test('a clean job makes older jobs stale; a non-clean job does not', async (t) => {
  const r = new JobRegistry();
  const a = r.add(up(notify('a', true)));
  const b = r.add(up(notify('b', false)));
  t.same(r.lookup(a.id)?.stale, false);
  t.same(r.lookup(b.id)?.stale, false);
  const c = r.add(up(notify('c', true)));
  t.same(r.lookup(a.id)?.stale, true);
  t.same(r.lookup(b.id)?.stale, true);
  t.same(r.lookup(c.id)?.stale, false);
  t.equal(r.current, c);
  r.invalidateAll();
  t.same(r.lookup(c.id)?.stale, true, 'invalidateAll voids the current job too');
  t.equal(r.current, null);
  t.equal(r.lookup('nope'), undefined);
});

t.test('old jobs are forgotten past maxJobs', async (t) => {
  const r = new JobRegistry({ maxJobs: 3 });
  const ids = ['1', '2', '3', '4'].map((id) => r.add(up(notify(id, false))).id);
  t.equal(r.lookup(ids[0]!), undefined);
  t.ok(r.lookup(ids[3]!));
});

t.test('a job carries the network target the upstream decoded', async (t) => {
  const r = new JobRegistry();
  const job = r.add(up(notify('n', true)));
  t.equal(job.nbits, 0x1b0404cb);
  // nBits 1b0404cb: 0x0404cb * 256^(0x1b - 3), big-endian; the job keeps it little-endian.
  t.same(job.networkTarget, Buffer.from('00'.repeat(5) + '0404cb' + '00'.repeat(24), 'hex').reverse());
  t.equal(job.poolDifficulty, 1);
});
// Pool jobs with an impossible nbits never get here: the upstream refuses them (test/upstream/job-check.test.ts).
t.test('createJob for a notify of our own (simulator, benchmark, check-share): an impossible nbits is refused with the field named', async (t) => {
  const ctx = { poolExtranonce1: 'aa', poolDifficulty: 1 };
  t.throws(() => createJob(notify('x', true, '1d800000'), ctx), /nbits 1d800000.*negative/);
  t.throws(() => createJob(notify('x', true, '00000000'), ctx), /zero target/);
  t.equal(createJob(notify('x', true), ctx).nbits, 0x1b0404cb);
});
