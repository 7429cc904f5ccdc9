import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { displayHash, swapWords32 } from '../../src/chain/bytes.js';
import { difficultyFromBits } from '../../src/chain/target.js';
import { parseRawBlock, parseRawTransaction } from '../../src/sim/raw-block.js';
import { DashdConnection, type DashdConnectionOptions } from '../../src/upstream/dashd-connection.js';
import type { PoolDownInfo } from '../../src/upstream/pool-session.js';
import type { DashdSettings, PoolConfig, UpstreamJob } from '../../src/upstream/types.js';
import { mine } from '../helpers/mine.js';
import { closedPort } from '../helpers/scripted-pool.js';
import { dashdTemplate, EASY_BITS, PAYOUT_ADDRESS, PAYOUT_SCRIPT, ScriptedDashd } from '../helpers/scripted-dashd.js';
import { hasher } from '../helpers/share-kit.js';
import { sleep, until } from '../helpers/wait.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const EN2 = '0000000000000001';

interface Session {
  conn: DashdConnection;
  jobs: UpstreamJob[];
  events: string[];
  logs: string[];
  down: Promise<PoolDownInfo>;
  downInfo: () => PoolDownInfo | null;
}

async function dashd(t: Test): Promise<ScriptedDashd> {
  const d = await ScriptedDashd.start();
  t.teardown(() => d.close());
  return d;
}

function entry(url: string, settings: Partial<DashdSettings> = {}, login: Partial<PoolConfig> = {}): PoolConfig {
  return { name: 'own-dashd', url, user: 'rpcuser', password: 'rpcpass', ...login, dashd: { payoutAddress: PAYOUT_ADDRESS, pollSeconds: 0.1, templateSeconds: 60, ...settings } };
}

function session(t: Test, pool: PoolConfig, options: Partial<DashdConnectionOptions> = {}): Session {
  const logs: string[] = [];
  const conn = new DashdConnection(pool, { hasher, rpcTimeoutMs: 2000, log: (level, m) => logs.push(`${level}: ${m}`), ...options });
  t.teardown(async () => {
    conn.close();
    await conn.closed;
  });
  const jobs: UpstreamJob[] = [];
  const events: string[] = [];
  let downInfo: PoolDownInfo | null = null;
  conn.on('ready', () => events.push('ready'));
  conn.on('job', (j) => {
    jobs.push(j);
    events.push(`job:${j.notify.cleanJobs ? 'clean' : 'same-tip'}`);
  });
  conn.on('jobRefused', (r) => events.push(`jobRefused:${r.inARow}`));
  conn.on('fault', () => events.push('fault'));
  const down = new Promise<PoolDownInfo>((resolve) =>
    conn.on('down', (d) => {
      downInfo = d;
      events.push(`down:${d.cause}`);
      resolve(d);
    }),
  );
  conn.start();
  return { conn, jobs, events, logs, down, downInfo: () => downInfo };
}

async function firstJob(s: Session): Promise<UpstreamJob> {
  await until(() => s.jobs.length > 0 || s.downInfo() !== null, () => `a first job; events ${s.events.join(' ')}`, 10_000);
  if (!s.jobs[0]) throw new Error(`no job: ${s.downInfo()?.reason}`);
  return s.jobs[0];
}

function extranonce1(s: Session): string {
  return s.conn.extranonce!.extranonce1;
}

t.test('start: chain info, payout address, first template -> ready, then a clean job built from the template', async (t) => {
  const d = await dashd(t);
  const s = session(t, entry(d.url, { shareDifficulty: 65536 }));
  const job = await firstJob(s);
  t.same(d.calls.slice(0, 3).map((c) => c.method), ['getblockchaininfo', 'validateaddress', 'getblocktemplate']);
  t.same(d.calls[1]!.params, [PAYOUT_ADDRESS]);
  t.same(s.events.slice(0, 2), ['ready', 'job:clean']);
  t.equal(s.conn.network, 'test');
  t.match(s.conn.extranonce, { extranonce1: /^[0-9a-f]{16}$/, extranonce2Size: 8 });
  t.equal(s.conn.versionMask, null);
  // The header fields in Stratum's forms.
  t.equal(job.notify.nbits, EASY_BITS);
  t.equal(job.notify.version, '20000000');
  t.equal(displayHash(swapWords32(Buffer.from(job.notify.prevhash, 'hex'))), d.tip, 'the Stratum prevhash is the tip, word-swapped');
  t.equal(job.difficulty, difficultyFromBits(0x207fffff), 'capped at the network difficulty (easy bits here)');
  t.equal(job.extranonce.extranonce1, extranonce1(s));
  t.equal(job.notify.merkleBranch.length, 1, 'one transaction besides the coinbase');
  // The coinbase the proxy will build: the farm's output first, then the platform 6a and the masternode payee.
  const coinbase = parseRawTransaction(job.notify.coinb1 + extranonce1(s) + EN2 + job.notify.coinb2);
  t.same([coinbase.version, coinbase.type], [3, 5], 'DIP4 coinbase');
  t.same(
    coinbase.outputs.map((o) => [o.value, o.script.toString('hex')]),
    [
      [230_000_000n - 37_637_979n - 62_729_966n, PAYOUT_SCRIPT],
      [37_637_979n, '6a'],
      [62_729_966n, '76a914' + '22'.repeat(20) + '88ac'],
    ],
  );
  const sig = coinbase.inputs[0]!.scriptSig.toString('hex');
  t.ok(sig.includes(extranonce1(s) + EN2), 'the extranonce sits in the scriptSig');
  t.ok(sig.endsWith(Buffer.from('/dash-farm-proxy/').toString('hex')), 'the tag ends it');
  t.same(coinbase.extraPayload, Buffer.from(dashdTemplate({ height: d.height }).coinbase_payload as string, 'hex'));
});

t.test('the share difficulty is the setting when the network is harder', async (t) => {
  const d = await dashd(t);
  d.bits = '1b0404cb'; // difficulty about 16307
  const s = session(t, entry(d.url, { shareDifficulty: 1024 }));
  t.equal((await firstJob(s)).difficulty, 1024);
  // In the proxy's difficulty unit (difficulty.multiplier): the target it forwards at, diff1 * 256 / (1024 * 256), is the session's.
  const scaled = session(t, entry(d.url, { shareDifficulty: 1024 }), { difficultyMultiplier: 256 });
  t.equal((await firstJob(scaled)).difficulty, 1024 * 256);
});

t.test('faults at start, each a down with its cause and a sentence an operator understands', async (t) => {
  t.test('unreachable', async (t) => {
    const port = await closedPort();
    const s = session(t, entry(`http://127.0.0.1:${port}`));
    const down = await s.down;
    t.equal(down.cause, 'connect');
    t.match(down.reason, new RegExp(`no answer from dashd at http://127.0.0.1:${port} to getblockchaininfo: .*ECONNREFUSED`));
    t.same(s.events, ['down:connect']);
  });
  t.test('still syncing (initialblockdownload)', async (t) => {
    const d = await dashd(t);
    d.handlers.getblockchaininfo = () => ({ result: { chain: 'main', blocks: 10, initialblockdownload: true, verificationprogress: 0.4321 } });
    const down = await session(t, entry(d.url)).down;
    t.equal(down.cause, 'syncing');
    t.equal(down.reason, `dashd at ${d.url} is still syncing (initialblockdownload, 43% verified): no work from it until it is done`);
  });
  t.test('syncing the masternode list (-10 on getblocktemplate)', async (t) => {
    const d = await dashd(t);
    d.handlers.getblocktemplate = () => ({ error: { code: -10, message: 'Dash Core is syncing with network...' } });
    const down = await session(t, entry(d.url)).down;
    t.equal(down.cause, 'syncing');
    t.match(down.reason, 'is still syncing (initial block download or masternode sync): Dash Core is syncing with network...');
  });
  t.test('wrong credentials', async (t) => {
    const d = await dashd(t);
    const down = await session(t, entry(d.url, {}, { password: 'wrong' })).down;
    t.equal(down.cause, 'auth');
    t.match(down.reason, `dashd at ${d.url} refused the RPC login (HTTP 401)`);
  });
  t.test('cookie file missing', async (t) => {
    const d = await dashd(t);
    const dir = mkdtempSync(join(tmpdir(), 'dashd-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const down = await session(t, entry(d.url, { cookieFile: join(dir, '.cookie') }, { user: '', password: '' })).down;
    t.equal(down.cause, 'auth');
    t.match(down.reason, `cannot read the cookie file ${join(dir, '.cookie')} (ENOENT)`);
  });
  t.test('payout address dashd says is invalid', async (t) => {
    const d = await dashd(t);
    const down = await session(t, entry(d.url, { payoutAddress: 'XsomethingElseNotThisChain1234567' })).down;
    t.equal(down.cause, 'auth');
    t.equal(down.reason, `dashd at ${d.url} (chain test): the payout address XsomethingElseNotThisChain1234567 is not valid on this chain: fix dashd.payoutAddress`);
    t.equal(d.count('getblocktemplate'), 0, 'no work asked for');
  });
  t.test('answers that are not chain info or an address check', async (t) => {
    const d = await dashd(t);
    for (const answer of ['hello', null]) {
      d.handlers.getblockchaininfo = () => ({ result: answer });
      const down = await session(t, entry(d.url)).down;
      t.equal(down.cause, 'protocol');
      t.match(down.reason, 'getblockchaininfo did not answer an object');
    }
    d.handlers.getblockchaininfo = () => ({ result: { chain: 'test', initialblockdownload: false } });
    d.handlers.validateaddress = () => ({ result: null });
    const down = await session(t, entry(d.url)).down;
    t.equal(down.cause, 'auth');
    t.match(down.reason, 'could not be checked (validateaddress did not answer an object)');
  });
});

t.test('a template that fails our checks: never mined, the session ends (protocol) with the field named', async (t) => {
  const cases: [string, (d: ScriptedDashd) => Record<string, unknown>, RegExp][] = [
    ['payments exceeding the value', (d) => d.template({ coinbasevalue: 50_000_000 }), /coinbasevalue: payments 1\.00367945 DASH exceed coinbasevalue 0\.50000000 DASH/],
    ['a malformed script', (d) => d.template({ masternode: [{ payee: '', script: '6a' , amount: 1 }, { payee: 'x', script: 'zz', amount: 1 }] }), /masternode\[1\]\.script: not hex/],
    ['an unknown rule', (d) => d.template({ rules: ['v20', '!teleport'] }), /rules\[1\]: "!teleport" is a rule the miner must understand/],
  ];
  for (const [what, bad, words] of cases) {
    await t.test(what, async (t) => {
      const d = await dashd(t);
      d.handlers.getblocktemplate = () => ({ result: bad(d) });
      const s = session(t, entry(d.url));
      const down = await s.down;
      t.equal(down.cause, 'protocol');
      t.match(down.reason, new RegExp(`^dashd at ${d.url.replace(/\./g, '\\.')} gave a template that fails our checks \\(`));
      t.match(down.reason, words);
      t.match(down.reason, /nothing is mined on it$/);
      t.same(s.events, ['jobRefused:1', 'fault', 'down:protocol'], 'no ready, no job');
    });
  }
});

t.test('a bad template for the same tip keeps the checked work; for a new tip it ends the session', async (t) => {
  const d = await dashd(t);
  let coinbasevalue = 230_000_000;
  d.handlers.getblocktemplate = () => ({ result: d.template({ longpollid: null, coinbasevalue }) });
  const s = session(t, entry(d.url, { templateSeconds: 1 }), {});
  await firstJob(s);
  coinbasevalue = 1;
  await until(() => s.events.includes('jobRefused:1'), () => `a refused refresh; ${s.events.join(' ')}`, 5000);
  t.equal(s.conn.isReady, true, 'still mining the checked template of this tip');
  t.same(s.events, ['ready', 'job:clean', 'jobRefused:1']);
  d.newTip('bb'.repeat(32));
  const down = await s.down;
  t.equal(down.cause, 'protocol');
  t.match(down.reason, 'coinbasevalue: payments');
  t.same(s.events.slice(-3), ['jobRefused:2', 'fault', 'down:protocol']);
});

t.test('a new tip seen by polling makes a clean job at once (no long poll)', async (t) => {
  const d = await dashd(t);
  d.handlers.getblocktemplate = () => ({ result: d.template({ longpollid: null }) });
  const s = session(t, entry(d.url, { pollSeconds: 0.1 }));
  await firstJob(s);
  const before = d.count('getbestblockhash');
  await until(() => d.count('getbestblockhash') > before + 2, 'polls of the tip', 5000);
  t.equal(s.jobs.length, 1, 'the same tip: no new job');
  d.newTip('cc'.repeat(32));
  await until(() => s.jobs.length === 2, () => `a second job; ${s.events.join(' ')}`, 5000);
  t.equal(s.jobs[1]!.notify.cleanJobs, true);
  t.equal(displayHash(swapWords32(Buffer.from(s.jobs[1]!.notify.prevhash, 'hex'))), 'cc'.repeat(32));
  t.equal(d.count('longpoll'), 0);
});

t.test('long poll: a new tip reaches the session through it, before any poll', async (t) => {
  const d = await dashd(t);
  const s = session(t, entry(d.url, { pollSeconds: 60 }));
  await firstJob(s);
  await until(() => d.calls.some((c) => c.method === 'getblocktemplate' && (c.params[0] as { longpollid?: string }).longpollid === `${d.tip}-lp`), 'the long poll', 5000);
  d.newTip('dd'.repeat(32));
  await until(() => s.jobs.length === 2, () => `a job from the long poll; ${s.events.join(' ')}`, 3000);
  t.equal(s.jobs[1]!.notify.cleanJobs, true);
  t.equal(d.count('getbestblockhash'), 0, 'not by polling (60 s)');
});

t.test('long poll fallback: a dashd that refuses it is polled', async (t) => {
  const d = await dashd(t);
  d.handlers.longpoll = () => ({ error: { code: -8, message: 'Invalid longpollid' } });
  const s = session(t, entry(d.url, { pollSeconds: 0.1 }));
  await firstJob(s);
  await until(() => s.logs.some((l) => l.includes('long poll not available')), () => s.logs.join('\n'), 5000);
  d.newTip('ee'.repeat(32));
  await until(() => s.jobs.length === 2, () => `a job by polling; ${s.events.join(' ')}`, 5000);
  t.equal(s.jobs[1]!.notify.cleanJobs, true);
});

t.test('long poll fallback: a dashd that answers it at once every time is polled instead', async (t) => {
  const d = await dashd(t);
  d.handlers.longpoll = () => ({ result: d.template() });
  const s = session(t, entry(d.url, { pollSeconds: 0.1 }));
  await firstJob(s);
  await until(() => s.logs.some((l) => l.includes('long poll answered at once 3 times')), () => s.logs.join('\n'), 5000);
  const polls = d.count('longpoll');
  await sleep(300);
  t.equal(d.count('longpoll'), polls, 'no more long polls');
});

t.test('a fresh template every templateSeconds: a job that is not clean', async (t) => {
  const d = await dashd(t);
  d.handlers.getblocktemplate = () => ({ result: d.template({ longpollid: null }) });
  const s = session(t, entry(d.url, { templateSeconds: 1 }));
  await firstJob(s);
  await until(() => s.jobs.length >= 2, 'a refreshed job', 5000);
  t.equal(s.jobs[1]!.notify.cleanJobs, false);
  t.not(s.jobs[1]!.notify.jobId, s.jobs[0]!.notify.jobId);
});

t.test('a dashd that stops answering: down (timeout) after 3 poll intervals + the slack', async (t) => {
  const d = await dashd(t);
  const s = session(t, entry(d.url, { pollSeconds: 0.1 }), { silenceSlackMs: 500, rpcTimeoutMs: 300 });
  await firstJob(s);
  for (const m of ['getbestblockhash', 'getblocktemplate', 'longpoll']) d.handlers[m] = () => 'hang';
  const down = await s.down;
  t.equal(down.cause, 'timeout');
  t.match(down.reason, `dashd at ${d.url} stopped answering (nothing for `);
});

t.test('dashd starts syncing during the session: down (syncing)', async (t) => {
  const d = await dashd(t);
  const s = session(t, entry(d.url, { pollSeconds: 0.1 }));
  await firstJob(s);
  d.handlers.getbestblockhash = () => ({ error: { code: -10, message: 'Dash Core is in initial sync' } });
  const down = await s.down;
  t.equal(down.cause, 'syncing');
});

t.test('submit: job not found (21), low difficulty (23), a share (accepted at once), a block (submitblock)', async (t) => {
  const d = await dashd(t);
  d.bits = '1f00ffff';
  const s = session(t, entry(d.url, { shareDifficulty: 1e-6 }));
  const job = await firstJob(s);
  const en1 = extranonce1(s);
  const share = (mined: { nonce: string; ntime: string }, jobId = job.notify.jobId) => ({ worker: '', jobId, extranonce2: EN2, ...mined });
  t.match(await s.conn.submit(share({ nonce: '00000000', ntime: job.notify.ntime }, 'nope')), { kind: 'rejected', code: 21, reason: 'job not found' });
  const network = difficultyFromBits(0x1f00ffff);
  const low = mine(job.notify, en1, EN2, 1e-12, { below: 1e-6 });
  t.match(await s.conn.submit(share(low)), { kind: 'rejected', code: 23 });
  const good = mine(job.notify, en1, EN2, 1e-6, { below: network });
  const verdict = await s.conn.submit(share(good));
  t.match(verdict, { kind: 'accepted' });
  t.equal(verdict.block, undefined);
  t.equal(d.count('submitblock'), 0);
  t.match(await s.conn.submit({ ...share(good), versionBits: '00002000' }), { kind: 'rejected', code: 20, reason: 'version rolling is not offered by a dashd' });
  t.match(await s.conn.submit({ ...share(good), extranonce2: '00' }), { kind: 'rejected', code: 20, reason: 'extranonce2 must be 16 hex digits' });

  const found = mine(job.notify, en1, EN2, network, { startNonce: 1 << 20 });
  const blockVerdict = await s.conn.submit(share(found));
  t.match(blockVerdict, { kind: 'accepted' });
  t.equal(d.blocks.length, 1, 'dashd got the block');
  const block = parseRawBlock(d.blocks[0]!);
  const hash = displayHash(hasher.hash(block.header.raw));
  t.same(blockVerdict.block, { hash, height: d.height, reward: 230_000_000 - 37_637_979 - 62_729_966, coinbaseValue: 230_000_000, payoutAddress: PAYOUT_ADDRESS, result: 'accepted', reason: null });
  t.equal(block.header.prevhash, 'aa'.repeat(31) + '00');
  t.equal(block.header.nonce, parseInt(found.nonce, 16));
  t.equal(block.txs.length, 2, 'the coinbase and the template transaction');
  t.equal(block.txs[0]!.raw.toString('hex'), job.notify.coinb1 + en1 + EN2 + job.notify.coinb2);
  t.equal(block.txs[1]!.raw.toString('hex'), (dashdTemplate().transactions as { data: string }[])[0]!.data);
});

t.test('submitblock: dashd rejects (verdict rejected with its reason), says duplicate, or inconclusive', async (t) => {
  const d = await dashd(t);
  const s = session(t, entry(d.url));
  const job = await firstJob(s);
  const network = difficultyFromBits(0x207fffff);
  const answers: [unknown, object, object][] = [
    ['bad-cb-payee', { kind: 'rejected', code: 20, reason: 'block rejected by dashd: bad-cb-payee' }, { result: 'rejected', reason: 'bad-cb-payee' }],
    ['duplicate', { kind: 'accepted' }, { result: 'accepted', reason: 'duplicate' }],
    ['inconclusive', { kind: 'accepted' }, { result: 'inconclusive', reason: 'inconclusive' }],
  ];
  let nonce = 0;
  for (const [answer, verdict, block] of answers) {
    d.handlers.submitblock = () => ({ result: answer });
    const found = mine(job.notify, extranonce1(s), EN2, network, { startNonce: nonce });
    nonce = parseInt(found.nonce, 16) + 1;
    const v = await s.conn.submit({ worker: '', jobId: job.notify.jobId, extranonce2: EN2, ...found });
    t.match(v, verdict, String(answer));
    t.match(v.block, block);
  }
});

t.test('submitblock is tried again on transport errors (3 tries), then unanswered', async (t) => {
  const d = await dashd(t);
  const s = session(t, entry(d.url, { pollSeconds: 60 }));
  const job = await firstJob(s);
  const network = difficultyFromBits(0x207fffff);
  let tries = 0;
  d.handlers.submitblock = () => (++tries < 3 ? 'drop' : { result: null });
  const found = mine(job.notify, extranonce1(s), EN2, network);
  const v = await s.conn.submit({ worker: '', jobId: job.notify.jobId, extranonce2: EN2, ...found });
  t.equal(tries, 3);
  t.match(v, { kind: 'accepted', block: { result: 'accepted', reason: null } });

  tries = 0;
  d.handlers.submitblock = () => {
    tries++;
    return 'drop';
  };
  const again = mine(job.notify, extranonce1(s), EN2, network, { startNonce: parseInt(found.nonce, 16) + 1 });
  const lost = await s.conn.submit({ worker: '', jobId: s.jobs.at(-1)!.notify.jobId, extranonce2: EN2, ...again });
  t.equal(tries, 3);
  t.match(lost, { kind: 'accepted', block: { result: 'unanswered', reason: /^no answer from dashd after 3 tries: / } });
});

/** A session with a block waiting for dashd's answer to submitblock (`release` answers it: accepted). */
async function blockInFlight(t: Test) {
  const d = await dashd(t);
  const s = session(t, entry(d.url, { pollSeconds: 60 }));
  const job = await firstJob(s);
  let release!: () => void;
  d.handlers.submitblock = () => new Promise((r) => (release = () => r({ result: null })));
  const share = { worker: '', jobId: job.notify.jobId, extranonce2: EN2, ...mine(job.notify, extranonce1(s), EN2, difficultyFromBits(0x207fffff)) };
  const pending = s.conn.submit(share);
  await until(() => d.count('submitblock') === 1, 'the block sent', 3000);
  return { s, share, pending, release: () => release() };
}

t.test('retire waits for a block being submitted, refusing new shares meanwhile', async (t) => {
  const { s, share, pending, release } = await blockInFlight(t);
  s.conn.retire('switching back to the pool', 5000);
  t.match(await s.conn.submit(share), { kind: 'unanswered', cause: 'no-pool', reason: 'dashd session is closing' });
  t.equal(s.downInfo(), null, 'not down while the block waits for its answer');
  release();
  t.match(await pending, { kind: 'accepted', block: { result: 'accepted' } });
  const down = await s.down;
  t.same([down.cause, down.reason], ['owner', 'switching back to the pool']);
  await s.conn.closed;
});

t.test('close() during a block submission: the session is down at once, the block still gets its answer', async (t) => {
  const { s, pending, release } = await blockInFlight(t);
  s.conn.close('upstream stopped');
  t.same((await s.down).cause, 'owner');
  let closed = false;
  void s.conn.closed.then(() => (closed = true));
  await sleep(50);
  t.equal(closed, false, 'the RPC client stays open for the block');
  release();
  t.match(await pending, { kind: 'accepted', block: { result: 'accepted', reason: null } });
  await s.conn.closed;
});
