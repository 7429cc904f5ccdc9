import t, { type Test } from 'tap';
import { EventBus, type ProxyEventMap } from '../../src/core/events.js';
import type { ProxyOptions } from '../../src/proxy/proxy.js';
import type { NotifyParams } from '../../src/stratum/messages.js';
import type { SubmitResult, UpstreamSubmit } from '../../src/upstream/types.js';
import { FakeUpstream } from '../helpers/fake-upstream.js';
import { mine } from '../helpers/mine.js';
import { device as shareDevice, jobOf, lookupOf, validator } from '../helpers/share-kit.js';
import { proxyUnderTest } from '../helpers/proxy-under-test.js';
import { blockNotify, jobBlock, jobBlockExtranonces } from '../helpers/block-job.js';
import { errorOf, notifyOf, type Line } from '../helpers/line-client.js';
import { sleep, until } from '../helpers/wait.js';

/**
 * The proxy core with an in-process pool (FakeUpstream) and real devices over loopback TCP. The job is
 * real Dash block 844898: its coinbase tail e155|0000|0000000001000000 is read as pool extranonce1 (2 bytes),
 * the first device's prefix (2 bytes) and that device's extranonce2 (8 bytes), so the block's own nonce is a
 * share the proxy must accept, forward and flag as a block candidate.
 */
const block = jobBlock;
const BLOCK_EN2 = jobBlockExtranonces.slice(8); // of e155 0000 0000000001000000
const DEVICE_DIFF = 1e-6;

type Events = { [K in keyof ProxyEventMap]?: ProxyEventMap[K][] };

async function setup(t: Test, options: Partial<ProxyOptions> = {}) {
  const bus = new EventBus();
  const up = new FakeUpstream();
  up.difficulty = 0.001;
  const events: Events = {};
  for (const name of ['share.accepted', 'share.rejected', 'share.upstream', 'block.candidate', 'block.submitted', 'device.disconnected', 'job.fanout'] as const) {
    bus.on(name, (e) => ((events[name] ??= []) as unknown[]).push(e));
  }
  const { proxy, server, port, connect } = await proxyUnderTest(t, {
    proxy: { bus, createUpstream: () => up, startDifficulty: DEVICE_DIFF, vardiff: { minDifficulty: DEVICE_DIFF, maxDifficulty: DEVICE_DIFF }, ...options },
  });
  /** Subscribe and authorize; resolves with the subscribe answer. */
  const device = async (worker = 'rig1', extranonceSubscribe = false) => {
    const c = await connect();
    const sub = await c.request('mining.subscribe', ['test-miner/1.0']);
    if (extranonceSubscribe) await c.request('mining.extranonce.subscribe', []);
    const auth = await c.request('mining.authorize', [worker, 'x']);
    return { c, sub, auth };
  };
  up.ready();
  return { bus, up, proxy, server, port, events, connect, device };
}

const resultOf = (l: Line) => l.result;

t.test('handshake: unique prefixes, difficulty before the job, one serialized job for every device', async (t) => {
  const { up, device } = await setup(t);
  up.job(blockNotify('p1'));
  const a = await device('rig1');
  const b = await device('rig2');
  t.same(resultOf(a.sub), [[['mining.set_difficulty', '00000001'], ['mining.notify', '00000001']], '0000', 8], 'extranonce1: the device\'s prefix only');
  t.equal((b.sub.result as unknown[])[1], '0001', 'the second device gets the next prefix');
  t.equal(a.auth.result, true);
  const firstNotify = await a.c.waitFor((l) => l.method === 'mining.notify', 5000, true);
  t.equal(firstNotify.params![2], blockNotify('p1').coinb1 + 'e155', 'the pool\'s extranonce1 travels at the end of coinb1');
  t.equal(firstNotify.params![3], blockNotify('p1').coinb2, 'no pad: the pool\'s 10 bytes are prefix (2) and the device\'s 8');
  const diffIndex = a.c.lines.findIndex((l) => l.method === 'mining.set_difficulty');
  t.ok(diffIndex >= 0 && diffIndex < a.c.lines.indexOf(firstNotify), 'set_difficulty precedes the job');
  t.same(a.c.lines[diffIndex]!.params, [DEVICE_DIFF]);
  t.not(firstNotify.params![0], 'p1', 'devices see the proxy\'s own job id');
  t.equal(firstNotify.params![8], true, 'a joining device gets the job with clean_jobs on');

  const gotA = a.c.waitFor((l) => l.method === 'mining.notify' && l.params![8] === false);
  const gotB = b.c.waitFor((l) => l.method === 'mining.notify' && l.params![8] === false);
  up.job(blockNotify('p2', false));
  await Promise.all([gotA, gotB]);
  const rawA = a.c.rawLines.filter((r) => r.includes('mining.notify')).at(-1);
  const rawB = b.c.rawLines.filter((r) => r.includes('mining.notify')).at(-1);
  t.equal(rawA, rawB, 'both devices received the same bytes for the new job');
});

t.test('a retarget is followed by the current job, so the new difficulty applies at once', async (t) => {
  const { up, device } = await setup(t, { vardiff: { minDifficulty: 1e-9, maxDifficulty: 1 } });
  up.job(blockNotify('p1'));
  const { c } = await device('rig1');
  const first = await c.waitFor((l) => l.method === 'mining.notify', 5000, true);
  const seen = c.lines.length;
  const next = c.waitFor((l) => l.method === 'mining.notify', 5000);
  c.sendRequest(99, 'mining.suggest_difficulty', [DEVICE_DIFF * 4]);
  const again = await next;
  const after = c.lines.slice(seen);
  const diffAt = after.findIndex((l) => l.method === 'mining.set_difficulty');
  t.same(after[diffAt]?.params, [DEVICE_DIFF * 4], 'the new difficulty');
  t.ok(diffAt >= 0 && diffAt < after.indexOf(again), 'set_difficulty, then the job');
  t.equal(again.params![0], first.params![0], 'the same job');
  t.equal(again.params![8], false, 'clean_jobs off: work in hand stays valid');

  // A retarget forced by a job (the pool's difficulty fell below the device's) sends that job only once.
  const before = c.lines.length;
  up.difficulty = DEVICE_DIFF * 2;
  up.job(blockNotify('p2', false));
  await c.waitFor((l) => l.method === 'mining.notify', 5000);
  await sleep(100);
  const tail = c.lines.slice(before);
  t.same(tail.map((l) => l.method), ['mining.set_difficulty', 'mining.notify'], 'lowered to the pool\'s difficulty, then the new job once');
  t.same(tail[0]!.params, [DEVICE_DIFF * 2]);
});

t.test('the block\'s own share: accepted, forwarded with the device prefix, flagged as a block candidate', async (t) => {
  const { up, device, events } = await setup(t);
  up.job(blockNotify('p1'));
  const { c } = await device('rig1');
  const job = await c.waitFor((l) => l.method === 'mining.notify', 5000, true);
  const ans = await c.request('mining.submit', ['rig1', job.params![0], BLOCK_EN2, block.stratum.ntime, block.stratum.nonce]);
  t.equal(ans.result, true);
  t.equal(errorOf(ans), null);
  t.equal(up.submits.length, 1, 'forwarded to the pool');
  t.same(up.submits[0], { worker: '', jobId: 'p1', extranonce2: '0000' + BLOCK_EN2, ntime: block.stratum.ntime, nonce: block.stratum.nonce });
  t.equal(events['block.candidate']?.length, 1);
  t.equal(events['block.candidate']![0]!.hash, block.hash);
  t.same(events['share.upstream']?.[0]?.verdict, { kind: 'accepted' });
});

t.test('solo: a verdict carrying a submitted block is followed by block.submitted with the share\'s place', async (t) => {
  const { up, device, events, bus } = await setup(t);
  const order: string[] = [];
  bus.on('share.upstream', () => order.push('share.upstream'));
  bus.on('block.submitted', () => order.push('block.submitted'));
  const submission = { hash: block.hash, height: 844898, reward: 168_000_000, coinbaseValue: 300_000_000, payoutAddress: 'XpayoutAddressOfTheFarm', result: 'rejected' as const, reason: 'bad-cb-payee' };
  up.answer = () => ({ kind: 'accepted', latencyMs: 3, block: submission });
  up.job(blockNotify('p1'), DEVICE_DIFF); // every share the device finds goes to the pool
  const { c } = await device('rig1');
  const job = await c.waitFor((l) => l.method === 'mining.notify', 5000, true);
  const ans = await c.request('mining.submit', ['rig1', job.params![0], BLOCK_EN2, block.stratum.ntime, block.stratum.nonce]);
  t.equal(ans.result, true, 'the device gets the verdict on its share');
  t.same(order, ['share.upstream', 'block.submitted'], 'right after the share\'s verdict');
  const up0 = events['share.upstream']![0]!;
  t.same(up0.verdict, { kind: 'accepted' }, 'the verdict itself carries no block');
  const sub = events['block.submitted'];
  t.equal(sub?.length, 1);
  t.same(sub![0], { sessionId: up0.sessionId, worker: 'rig1', shareId: up0.shareId, route: up0.route, target: up0.target, connection: up0.connection, pool: 'fake', ...submission, at: up0.at });

  // A share without a block (a pool's verdict) never makes one.
  up.answer = () => ({ kind: 'accepted', latencyMs: 1 });
  const plain = mine(blockNotify('p1'), 'e1550000', '0000000000000005', DEVICE_DIFF);
  const plainAns = await c.request('mining.submit', ['rig1', job.params![0], '0000000000000005', plain.ntime, plain.nonce]);
  t.equal(plainAns.result, true);
  t.equal(events['share.upstream']?.length, 2, 'the second share went to the pool too');
  t.equal(events['block.submitted']?.length, 1, 'still one block');
});

t.test('every rejection path gets its standard code, and the connection stays', async (t) => {
  const { up, device, connect } = await setup(t);
  up.job(blockNotify('p1'));

  const fresh = await connect();
  const notSub = await fresh.request('mining.submit', ['rig1', '1', BLOCK_EN2, block.stratum.ntime, block.stratum.nonce]);
  t.same(errorOf(notSub), [25, 'Not subscribed', null]);
  await fresh.request('mining.subscribe', []);
  const notAuth = await fresh.request('mining.submit', ['rig1', '1', BLOCK_EN2, block.stratum.ntime, block.stratum.nonce]);
  t.same(errorOf(notAuth), [24, 'Unauthorized worker', null]);

  const { c } = await device('rig1');
  const job = await c.waitFor((l) => l.method === 'mining.notify', 5000, true);
  const jobId = job.params![0] as string;
  const en1 = 'e1550001';
  const notify = blockNotify(jobId);

  const unknown = await c.request('mining.frobnicate', []);
  t.same(errorOf(unknown), [20, 'Unknown method: mining.frobnicate', null]);
  c.sendRaw('this is not json\n');
  const garbage = await c.waitFor((l) => l.id === null && l.error !== null && l.error !== undefined);
  t.same(errorOf(garbage), [20, 'Malformed JSON', null]);
  const wrongWorker = await c.request('mining.submit', ['someone-else', jobId, '0000000000000000', notify.ntime, '00000000']);
  t.same(errorOf(wrongWorker), [24, 'Unauthorized worker: someone-else', null]);
  const badEn2 = await c.request('mining.submit', ['rig1', jobId, '00', notify.ntime, '00000000']);
  t.same(errorOf(badEn2), [20, 'Invalid extranonce2: expected 16 hex digits (8 bytes)', null]);
  const noJob = await c.request('mining.submit', ['rig1', 'ffff', '0000000000000000', notify.ntime, '00000000']);
  t.same(errorOf(noJob), [21, 'Job not found', null]);
  const missing = await c.request('mining.submit', ['rig1', jobId]);
  t.equal(errorOf(missing)?.[0], 20);
  t.match(errorOf(missing)?.[1], /mining.submit: expected 5 or 6 params/);

  const good = mine(notify, en1, '0000000000000001', DEVICE_DIFF);
  const ok = await c.request('mining.submit', ['rig1', jobId, '0000000000000001', good.ntime, good.nonce]);
  t.equal(ok.result, true, 'a mined share at the device difficulty is accepted');
  const dup = await c.request('mining.submit', ['rig1', jobId, '0000000000000001', good.ntime, good.nonce.toUpperCase()]);
  t.same(errorOf(dup), [22, 'Duplicate share', null]);
  const low = mine(notify, en1, '0000000000000002', 2 ** -32, { below: DEVICE_DIFF });
  const lowAns = await c.request('mining.submit', ['rig1', jobId, '0000000000000002', low.ntime, low.nonce]);
  t.equal(errorOf(lowAns)?.[0], 23);
  t.match(errorOf(lowAns)?.[1], /^Low difficulty share: [0-9.e-]+ < 0\.000001$/);
  t.notOk(c.closed, 'still connected after all of that');

  // A clean job voids the old one.
  const next = c.waitFor((l) => l.method === 'mining.notify' && l.params![0] !== jobId);
  up.job(blockNotify('p2', true));
  await next;
  const stale = mine(notify, en1, '0000000000000003', DEVICE_DIFF);
  const staleAns = await c.request('mining.submit', ['rig1', jobId, '0000000000000003', stale.ntime, stale.nonce]);
  t.same(errorOf(staleAns), [21, 'Stale job: superseded by a clean job', null]);
});

t.test('answers go back in request order, even with one id reused and a pool answer pending', async (t) => {
  const { up, device } = await setup(t);
  let release: () => void = () => {};
  up.answer = () => new Promise((resolve) => (release = () => resolve({ kind: 'accepted', latencyMs: 200 })));
  up.job(blockNotify('p1'));
  const { c } = await device('rig1');
  const job = await c.waitFor((l) => l.method === 'mining.notify', 5000, true);
  const jobId = job.params![0] as string;
  const low = mine(blockNotify(jobId), 'e1550000', '0000000000000009', 2 ** -32, { below: DEVICE_DIFF });
  const answersTo4 = () => c.lines.filter((l) => l.id === 4);
  c.sendRaw(JSON.stringify({ id: 4, method: 'mining.submit', params: ['rig1', jobId, BLOCK_EN2, block.stratum.ntime, block.stratum.nonce] }) + '\n');
  c.sendRaw(JSON.stringify({ id: 4, method: 'mining.submit', params: ['rig1', jobId, '0000000000000009', low.ntime, low.nonce] }) + '\n');
  c.sendRaw(JSON.stringify({ id: 4, method: 'mining.submit', params: ['rig1', jobId, BLOCK_EN2, block.stratum.ntime, block.stratum.nonce] }) + '\n');
  await sleep(200);
  t.equal(c.lines.filter((l) => l.id === 4).length, 0, 'nothing is answered while the first (pool) share waits for the pool');
  release();
  await until(() => answersTo4().length >= 3, 'three answers to id 4');
  const answers = answersTo4();
  t.equal(answers[0]!.result, true, 'first: the block share, answered after the pool');
  t.equal(errorOf(answers[1]!)?.[0], 23, 'second: low difficulty');
  t.equal(errorOf(answers[2]!)?.[0], 22, 'third: duplicate of the first');
});

t.test('the pool\'s rejection reaches the device that sent the share, and a dead pool makes jobs stale', async (t) => {
  const { up, device, events } = await setup(t);
  up.answer = () => ({ kind: 'rejected', code: 22, reason: 'Duplicate share', latencyMs: 3 });
  up.job(blockNotify('p1'));
  const { c } = await device('rig1');
  const job = await c.waitFor((l) => l.method === 'mining.notify', 5000, true);
  const ans = await c.request('mining.submit', ['rig1', job.params![0], BLOCK_EN2, block.stratum.ntime, block.stratum.nonce]);
  t.same(errorOf(ans), [22, 'Rejected by the pool: Duplicate share', null]);
  t.same(events['share.upstream']![0]!.verdict, { kind: 'rejected', code: 22, reason: 'Duplicate share' });
  t.equal(events['share.upstream']![0]!.worker, 'rig1');

  up.down('connection reset');
  const good = mine(blockNotify(job.params![0] as string), 'e1550000', '0000000000000005', DEVICE_DIFF);
  const afterDown = await c.request('mining.submit', ['rig1', job.params![0], '0000000000000005', good.ntime, good.nonce]);
  t.equal(errorOf(afterDown)?.[0], 21, 'a share on a job of a lost pool connection is stale, never "accepted"');
  t.equal(up.submits.length, 1, 'nothing more went upstream');
});

t.test('each pool verdict reaches observers as it came (latency apart) and the device as its Stratum answer', async (t) => {
  const { up, device, events } = await setup(t);
  const cases: { result: SubmitResult; device: unknown }[] = [
    { result: { kind: 'accepted', latencyMs: 4 }, device: true },
    { result: { kind: 'rejected', code: 23, reason: 'Low difficulty share', latencyMs: 5 }, device: [23, 'Rejected by the pool: Low difficulty share', null] },
    { result: { kind: 'rejected', code: -7, reason: 'Odd pool error', latencyMs: 6 }, device: [20, 'Rejected by the pool: Odd pool error', null] },
    { result: { kind: 'unanswered', cause: 'timeout', reason: 'pool did not answer in time', latencyMs: 10_000 }, device: [20, 'The pool did not answer in time: pool did not answer in time', null] },
    { result: { kind: 'unanswered', cause: 'connection-lost', reason: 'pool connection lost', latencyMs: 7 }, device: [21, 'Stale: pool connection lost', null] },
    { result: { kind: 'unanswered', cause: 'no-pool', reason: 'no pool connection', latencyMs: 0 }, device: [21, 'Stale: no pool connection', null] },
  ];
  let next = 0;
  up.answer = () => cases[next++]!.result;
  up.job(blockNotify('p1'), DEVICE_DIFF); // every share the device finds goes to the pool
  const { c } = await device('rig1');
  const job = await c.waitFor((l) => l.method === 'mining.notify', 5000, true);
  const jobId = job.params![0] as string;
  for (const [i, { result, device: expected }] of cases.entries()) {
    const en2 = `00000000000000${(0x10 + i).toString(16)}`;
    const share = mine(blockNotify(jobId), 'e1550000', en2, DEVICE_DIFF);
    const ans = await c.request('mining.submit', ['rig1', jobId, en2, share.ntime, share.nonce]);
    const { latencyMs, ...verdict } = result;
    const what = result.kind === 'unanswered' ? `unanswered (${result.cause})` : result.kind;
    t.same(ans.result === true ? true : errorOf(ans), expected, `${what}: the device's answer`);
    const event = events['share.upstream']![i]!;
    t.same(event.verdict, verdict, `${what}: the event's verdict is the pool's, as it came, without the latency`);
    t.match(event, { worker: 'rig1', route: 'default', target: 'default', connection: 0, pool: 'fake', latencyMs }, `${what}: with its route and latency`);
  }
  t.equal(up.submits.length, cases.length, 'every share went to the pool once');
});


/** The pool's own judgement of a forwarded share: its job, its extranonce1, the extranonce2 it received. */
function poolJudges(poolNotify: NotifyParams, poolExtranonce1: string, submit: UpstreamSubmit, difficulty: number) {
  const job = jobOf(poolNotify, poolExtranonce1, difficulty);
  const poolSide = shareDevice(poolExtranonce1, submit.extranonce2.length / 2, difficulty);
  return validator().validate({ ...submit, jobId: job.id }, poolSide, lookupOf([job]));
}

t.test('pool extranonce change: nothing reaches the devices, the next job carries it, and their shares on it are the pool\'s', async (t) => {
  const { up, device, proxy } = await setup(t, { reconnectPerSecond: 1000 });
  up.job(blockNotify('p1'), DEVICE_DIFF); // every share the devices find goes to the pool
  const follower = await device('rig1', true);
  const other = await device('rig2', false);
  await follower.c.waitFor((l) => l.method === 'mining.notify', 5000, true);
  await other.c.waitFor((l) => l.method === 'mining.notify', 5000, true);
  up.setExtranonce('abcd', 10);
  const jobs = [follower, other].map(({ c }) => c.waitFor((l) => l.method === 'mining.notify' && notifyOf(l).coinb1.endsWith('abcd')));
  up.job(blockNotify('p2'), DEVICE_DIFF);
  const [jobA, jobB] = await Promise.all(jobs);
  t.equal(notifyOf(jobA!).coinb1, blockNotify('p2').coinb1 + 'abcd', 'the new extranonce1 ends coinb1');
  for (const [i, { c, sub }] of [follower, other].entries()) {
    const en1 = (sub.result as unknown[])[1] as string;
    const en2 = `00000000000000a${i}`;
    const share = mine(notifyOf(i === 0 ? jobA! : jobB!), en1, en2, DEVICE_DIFF);
    const ans = await c.request('mining.submit', [`rig${i + 1}`, notifyOf(i === 0 ? jobA! : jobB!).jobId, en2, share.ntime, share.nonce]);
    t.equal(ans.result, true, `rig${i + 1}: its share after the change is accepted, with the extranonce1 it got at subscribe`);
    const sent = up.submits.at(-1)!;
    t.same(sent, { worker: '', jobId: 'p2', extranonce2: en1 + en2, ntime: share.ntime, nonce: share.nonce }, 'forwarded as prefix + extranonce2');
    t.equal(poolJudges(blockNotify('p2'), 'abcd', sent, DEVICE_DIFF).ok, true, 'the pool, building its coinbase with its new extranonce1, finds the same valid share');
  }
  t.same([...follower.c.notifications('mining.set_extranonce'), ...other.c.notifications('mining.set_extranonce')], [], 'no set_extranonce');
  t.same([...follower.c.notifications('client.reconnect'), ...other.c.notifications('client.reconnect')], [], 'no reconnect');
  t.notOk(follower.c.closed || other.c.closed, 'both stay connected');
  t.equal(proxy.deviceCount, 2);
});

t.test('a pool extranonce2 too small for the layout: every device\'s extranonce2 shrinks (set_extranonce to subscribers, client.reconnect to the rest)', async (t) => {
  const { up, device, proxy } = await setup(t, { reconnectPerSecond: 1000 });
  up.job(blockNotify('p1'), DEVICE_DIFF);
  const follower = await device('rig1', true);
  const other = await device('rig2', false);
  const setEn = follower.c.waitFor((l) => l.method === 'mining.set_extranonce');
  const reconnect = other.c.waitFor((l) => l.method === 'client.reconnect');
  up.setExtranonce('abcd', 6); // 2 bytes of prefix leave 4 of the device's 8
  t.same((await setEn).params, ['0000', 4], 'same prefix, 4 bytes of extranonce2');
  await reconnect;
  await other.c.waitClosed();
  t.notOk(follower.c.closed, 'the subscriber stays connected');
  t.equal(proxy.deviceCount, 1);
  const next = follower.c.waitFor((l) => l.method === 'mining.notify' && notifyOf(l).coinb1.endsWith('abcd'));
  up.job(blockNotify('p2'), DEVICE_DIFF);
  const job = notifyOf(await next);
  const share = mine(job, '0000', '000000b1', DEVICE_DIFF);
  const ans = await follower.c.request('mining.submit', ['rig1', job.jobId, '000000b1', share.ntime, share.nonce]);
  t.equal(ans.result, true, 'a 4-byte extranonce2 share on the new job is accepted');
  t.equal(poolJudges(blockNotify('p2'), 'abcd', up.submits.at(-1)!, DEVICE_DIFF).ok, true, 'and is valid for the pool');
});

t.test('pass-through worker naming authorizes each device upstream and submits under its name', async (t) => {
  const { up, device } = await setup(t, { workerMode: 'passthrough' });
  up.acceptWorker = (name) => name !== 'intruder';
  up.job(blockNotify('p1'));
  const { c, auth } = await device('farm.rig7');
  t.equal(auth.result, true);
  const refused = await device('intruder');
  t.same(errorOf(refused.auth), [24, 'The pool refused worker intruder', null]);
  const job = await c.waitFor((l) => l.method === 'mining.notify', 5000, true);
  await c.request('mining.submit', ['farm.rig7', job.params![0], BLOCK_EN2, block.stratum.ntime, block.stratum.nonce]);
  t.equal(up.submits[0]!.worker, 'farm.rig7');
  t.same(up.authorized, ['farm.rig7', 'intruder']);
});
