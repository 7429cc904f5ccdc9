import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { p2pkhAddress } from '../../src/sim/dash-address.js';
import { SimDashd, type SimDashdOptions, type SimDashdSubmitEvent } from '../../src/sim/dashd.js';
import { DashdConnection } from '../../src/upstream/dashd-connection.js';
import type { PoolDownInfo } from '../../src/upstream/pool-session.js';
import type { DashdSettings, PoolConfig, SubmitResult, UpstreamJob } from '../../src/upstream/types.js';
import { mine } from '../helpers/mine.js';
import { hasher } from '../helpers/share-kit.js';
import { until } from '../helpers/wait.js';

/**
 * The dashd session against the dashd simulator (src/sim/dashd.ts), which judges every block with its own
 * code: the blocks the session assembles are accepted (proof of work, merkle root, BIP34 height, coinbase
 * value, every masternode and superblock payee, the CbTx payload, the template's transactions), a tip from
 * another miner makes a clean job, and the simulator's faults reach the session as down causes.
 */

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const PAYOUT = p2pkhAddress('main', Buffer.alloc(20, 0x42));
const EN2 = '00000000000000aa';

async function sim(t: Test, o: SimDashdOptions = {}): Promise<SimDashd> {
  const d = new SimDashd({ user: 'u', password: 'p', bits: '2000ffff', hasher, expectPayoutAddress: PAYOUT, ...o });
  await d.start();
  t.teardown(() => d.stop());
  return d;
}

function session(t: Test, d: SimDashd, settings: Partial<DashdSettings> = {}, login: Partial<PoolConfig> = {}) {
  const pool: PoolConfig = { name: 'own-dashd', url: d.url, user: 'u', password: 'p', ...login, dashd: { payoutAddress: PAYOUT, pollSeconds: 0.1, ...settings } };
  const conn = new DashdConnection(pool, { hasher, rpcTimeoutMs: 2000 });
  t.teardown(async () => {
    conn.close();
    await conn.closed;
  });
  const jobs: UpstreamJob[] = [];
  conn.on('job', (j) => jobs.push(j));
  const down = new Promise<PoolDownInfo>((resolve) => conn.on('down', resolve));
  conn.start();
  return { conn, jobs, down };
}

/** Mine the newest job into a block and submit it. */
async function findBlock(s: ReturnType<typeof session>): Promise<SubmitResult> {
  const job = s.jobs.at(-1)!;
  const found = mine(job.notify, s.conn.extranonce!.extranonce1, EN2, difficultyOf(job));
  return s.conn.submit({ worker: '', jobId: job.notify.jobId, extranonce2: EN2, ...found });
}

/** The network difficulty of a job (its target from nBits). */
function difficultyOf(job: UpstreamJob): number {
  return Number(0xffffn << 208n) / Number(job.networkTarget);
}

t.test('blocks the session assembles are accepted by the simulator, each one the new tip and a clean job', async (t) => {
  const d = await sim(t);
  const submits: SimDashdSubmitEvent[] = [];
  d.on('submit', (e) => submits.push(e));
  const s = session(t, d);
  await until(() => s.jobs.length > 0, 'a first job', 10_000);
  for (let i = 0; i < 3; i++) {
    const height = d.height + 1;
    const before = s.jobs.length;
    const verdict = await findBlock(s);
    t.match(verdict, { kind: 'accepted', block: { result: 'accepted', reason: null, height, payoutAddress: PAYOUT } }, `block ${i + 1}`);
    t.equal(submits.at(-1)!.outcome, 'accepted', `the simulator's judgment: ${submits.at(-1)!.reason}`);
    t.equal(verdict.block!.hash, submits.at(-1)!.hash);
    await until(() => s.jobs.slice(before).some((j) => j.notify.cleanJobs), 'a clean job on the new tip', 5000);
  }
  t.equal(d.stats().blocksAccepted, 3);
  t.same(d.stats().blocksRejected, {});
});

t.test('a block from another miner: a clean job at once; a share of the old tip is stale', async (t) => {
  const d = await sim(t);
  const s = session(t, d);
  await until(() => s.jobs.length > 0, 'a first job', 10_000);
  const old = s.jobs.at(-1)!;
  d.mineOtherBlock();
  await until(() => s.jobs.slice(s.jobs.indexOf(old) + 1).some((j) => j.notify.cleanJobs), 'a clean job', 5000);
  const found = mine(old.notify, s.conn.extranonce!.extranonce1, EN2, difficultyOf(old));
  t.match(await s.conn.submit({ worker: '', jobId: old.notify.jobId, extranonce2: EN2, ...found }), { kind: 'rejected', code: 21 });
  t.equal(d.stats().blocksAccepted, 0, 'nothing sent on the old tip');
});

t.test("the simulator's faults: syncing, a template we refuse, stalled, and its cookie after a restart", async (t) => {
  t.test('initial block download', async (t) => {
    const d = await sim(t);
    d.setInitialBlockDownload(true);
    const down = await session(t, d).down;
    t.equal(down.cause, 'syncing');
    t.match(down.reason, 'is still syncing (initialblockdownload, 43% verified)');
  });
  for (const fault of ['payments-exceed-value', 'malformed-script', 'unknown-rule'] as const) {
    t.test(fault, async (t) => {
      const d = await sim(t);
      d.setTemplateFault(fault);
      const down = await session(t, d).down;
      t.equal(down.cause, 'protocol');
      t.match(down.reason, 'gave a template that fails our checks');
    });
  }
  t.test('stalled: down (timeout)', async (t) => {
    const d = await sim(t, { longpoll: false });
    const s = new DashdConnection({ name: 'own', url: d.url, user: 'u', password: 'p', dashd: { payoutAddress: PAYOUT, pollSeconds: 0.1 } }, { hasher, rpcTimeoutMs: 300, silenceSlackMs: 500 });
    t.teardown(() => s.close());
    const down = new Promise<PoolDownInfo>((resolve) => s.on('down', resolve));
    const ready = new Promise((resolve) => s.on('ready', resolve));
    s.start();
    await ready;
    d.setStalled(true);
    t.equal((await down).cause, 'timeout');
    d.setStalled(false);
  });
  t.test('cookie: read again after dashd restarts with a new one', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-cookie-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const cookieFile = join(dir, '.cookie');
    const d = await sim(t, { user: undefined, password: undefined, cookieFile });
    const s = session(t, d, { cookieFile }, { user: '', password: '' });
    await until(() => s.jobs.length > 0, 'a first job', 10_000);
    await d.stop();
    await d.start();
    const before = s.jobs.length;
    d.mineOtherBlock();
    await until(() => s.jobs.length > before, 'a job after the restart (new cookie)', 5000);
    t.match(await findBlock(s), { kind: 'accepted', block: { result: 'accepted' } });
  });
});
