import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { SqliteLedgerReader } from '../../src/books/ledger-sqlite-reader.js';
import type { ProxyEventMap } from '../../src/core/events.js';
import { p2pkhAddress } from '../../src/sim/dash-address.js';
import { SimDashd } from '../../src/sim/dashd.js';
import type { TemplateFault } from '../../src/sim/dashd-template.js';
import { parseRawBlock } from '../../src/sim/raw-block.js';
import { mining, quiesce, startFleet, startPool, startProxy, WAIT } from '../helpers/farm.js';
import { hasher } from '../helpers/share-kit.js';
import { until } from '../helpers/wait.js';
import { call } from '../sim/dashd-block-kit.js';

/**
 * Solo through dashd, the whole farm on loopback: a simulated pool first and the farm's own (simulated) dashd
 * second in the pool list, the proxy, and a fleet of simulated ASICs hashing X11. The pool goes down: the
 * proxy fails over to dashd, mines on its templates, finds blocks and submits them; the dashd simulator judges
 * every block with its own code (proof of work, merkle root, BIP34 height, CbTx, value, every payee, the
 * payout address) and takes each one. The pool comes back and the proxy returns to it. No device is dropped,
 * every count agrees (fleet, pool, dashd, events, books), the blocks table holds exactly dashd's blocks, and a
 * chainlocked block's reward is split among the owners to the duff.
 *
 * Then the faults of issue 16 item 5 through the simulator, dashd first: still syncing, each template fault
 * (payments exceeding the value, a malformed script, an unknown rule) on a new tip, a restart with a new
 * cookie, a wrong login, and a dashd that does not answer: each time the proxy leaves dashd for the pool with
 * a reason that says why, mines nothing on work it could not check, and takes dashd back when it is right.
 */

const RPC = { user: 'farmrpc', password: 'solo-e2e' };
const PAYOUT = p2pkhAddress('main', Buffer.alloc(20, 0x5a));
/** About 8,192 hashes a block: with 12 devices at 300 H/s, a block every 2 to 3 s. Network difficulty ~1.9e-6. */
const DASHD_BITS = '1f07ffff';
/** Below the network's: shares between the two are credited as solo work without being blocks. */
const SOLO_SHARE_DIFFICULTY = 1e-6;
const BLOCKS_WANTED = 3;

t.test('solo through dashd: pool down -> solo blocks accepted by dashd -> pool back; no device dropped; the books right', async (t) => {
  const ledgerPath = path.join(mkdtempSync(path.join(tmpdir(), 'solo-e2e-')), 'books.sqlite');
  // A hard network target on the pool: no pool block, so no clean job lands on honest shares in flight.
  const pool = await startPool(t, { difficulty: 1e-6, nbits: '1d00ffff' });
  const dashd = new SimDashd({ hasher, ...RPC, bits: DASHD_BITS, chainlockMs: 500, expectPayoutAddress: PAYOUT, otherMinerIntervalMs: 0 });
  await dashd.start();
  t.teardown(() => dashd.stop());

  const workers = Array.from({ length: 12 }, (_, i) => `solo.${i}`);
  const app = await startProxy(
    t,
    [pool, { name: 'own-dashd', url: dashd.url, ...RPC, dashd: { payoutAddress: PAYOUT, shareDifficulty: SOLO_SHARE_DIFFICULTY, pollSeconds: 0.2, templateSeconds: 5, blockCheckSeconds: 1 } }],
    {
      ledgerPath,
      failoverAfterAttempts: 2,
      probeIntervalSeconds: 1,
      owners: { alice: { workers: workers.slice(0, 8) }, bob: { workers: workers.slice(8) } },
      books: { payoutMethod: 'prop' },
    },
  );
  const events = {
    submitted: [] as ProxyEventMap['block.submitted'][],
    status: [] as ProxyEventMap['block.status'][],
    verdicts: [] as ProxyEventMap['share.upstream'][],
    /** The credited difficulty of each forwarded share, by shareId. */
    forwarded: new Map<number, number>(),
    switches: [] as string[],
  };
  app.bus.on('block.submitted', (e) => events.submitted.push(e));
  app.bus.on('block.status', (e) => events.status.push(e));
  app.bus.on('share.upstream', (e) => events.verdicts.push(e));
  app.bus.on('share.forwarded', (e) => events.forwarded.set(e.shareId, e.difficulty));
  app.bus.on('pool.switch', (e) => {
    if (e.from !== null) events.switches.push(`${e.from}->${e.to}`);
  });

  const fleet = await startFleet(t, app, { devices: 12, hashrate: 300, workerPrefix: 'solo' });
  await fleet.whenMining(12, WAIT);
  await mining(fleet, app);
  t.equal(dashd.stats().blocksAccepted, 0, 'nothing mined on dashd while the pool is up');

  // The pool goes down: the proxy fails over to the farm's own dashd.
  await pool.refuse('reset');
  pool.dropAll();
  await until(() => app.proxy.channels[0]!.pool === 'own-dashd' && app.proxy.isReady, 'mining on own-dashd', WAIT);
  await until(() => dashd.stats().blocksAccepted >= BLOCKS_WANTED, () => `${BLOCKS_WANTED} blocks accepted by dashd (${JSON.stringify(dashd.stats())})`, WAIT);
  // A ChainLock comes 500 ms after a block joins the chain; the watcher looks every second.
  await until(() => events.status.some((e) => e.status === 'chainlocked'), 'a block chainlocked (block.status)', WAIT);

  // The pool comes back: the proxy probes it and returns.
  await pool.resume();
  await until(() => app.proxy.channels[0]!.pool === 'poolA' && app.proxy.isReady, 'back on poolA', WAIT);
  await mining(fleet, app);

  const s = await quiesce(fleet);
  await app.proxy.drain(5000);
  t.same(events.switches.slice(0, 2), ['poolA->own-dashd', 'own-dashd->poolA'], `switches: ${events.switches.join(', ')}`);
  t.equal(s.disconnects, 0, 'no device was disconnected');
  t.equal(s.unanswered, 0, 'every submit was answered');
  for (const [code, n] of Object.entries(s.totals.rejectedByCode)) t.equal(code, '21', `only stale-job rejections around tip changes and switches (${n} x ${code})`);

  // dashd's own verdicts: every block the proxy sent was taken, none refused.
  const d = dashd.stats();
  t.same(d.blocksRejected, {}, 'dashd refused no block');
  t.equal(d.undecodable, 0);
  const acceptedHashes = d.accepted.map((b) => b.hash).sort();
  const submitted = events.submitted.filter((e) => e.pool === 'own-dashd');
  t.same(submitted.map((e) => e.result), submitted.map(() => 'accepted'), 'the proxy heard "accepted" for every block');
  t.same(submitted.map((e) => e.hash).sort(), acceptedHashes, "block.submitted names exactly dashd's accepted blocks");
  for (const b of submitted) {
    const raw = parseRawBlock(await call<string>(dashd.url, 'getblock', [b.hash, 0], RPC));
    const coinbase = raw.txs[0]!;
    t.equal(BigInt(b.reward), coinbase.outputs[0]!.value, `block ${b.height}: the reward is what output 0 pays the farm`);
    t.equal(BigInt(b.coinbaseValue), coinbase.outputs.reduce((sum, o) => sum + o.value, 0n), `block ${b.height}: coinbaseValue is the whole coinbase`);
    t.equal(coinbase.outputs[1]!.script.toString('hex'), '6a', `block ${b.height}: the platform output is there`);
    t.equal(b.payoutAddress, PAYOUT);
  }

  // Each pool's verdicts: the simulated pool's own count, and dashd's (accepted at once by the proxy's judge).
  const verdictsOf = (p: string) => events.verdicts.filter((e) => e.pool === p);
  const creditedWork = (p: string) => verdictsOf(p).reduce((sum, e) => sum + (e.verdict.kind === 'accepted' ? events.forwarded.get(e.shareId)! : 0), 0);
  t.equal(verdictsOf('poolA').filter((e) => e.verdict.kind === 'accepted').length, pool.stats().totals.accepted, "poolA's accepted verdicts = the pool's own count");
  t.equal(pool.stats().totals.rejected, 0, 'the pool rejected nothing');
  const soloVerdicts = verdictsOf('own-dashd');
  t.ok(soloVerdicts.length >= BLOCKS_WANTED, `${soloVerdicts.length} solo shares forwarded`);
  t.ok(soloVerdicts.every((e) => e.verdict.kind === 'accepted'), 'every solo share accepted');
  const live = app.ledger.summary();
  t.equal(live.poolAccepted, pool.stats().totals.accepted + soloVerdicts.length, "the live numbers: the pool's accepted shares and the solo ones");
  t.equal(s.totals.accepted, live.accepted - live.poolRejected - live.poolUnanswered, 'a device heard "accepted" for each share the proxy accepted and no upstream refused');
  t.equal(s.byKind.valid.accepted + s.byKind.valid.rejected, s.byKind.valid.submitted, "the fleet's own counts balance");

  // The books, once the app has stopped (every event written).
  const run = app.books!.run.startedAt;
  await app.stop();
  const reader = new SqliteLedgerReader(ledgerPath);
  t.teardown(() => reader.close());
  const range = { from: run, to: Date.now() + 1 };
  const byPool = await reader.report(range, 'pool');
  const row = (p: string) => byPool.find((r) => r.key === p);
  t.equal(row('poolA')?.accepted, pool.stats().totals.accepted, "books: poolA's accepted shares = the pool's count");
  t.equal(row('own-dashd')?.accepted, soloVerdicts.length, "books: own-dashd's accepted shares = the proxy's solo verdicts");
  for (const p of ['poolA', 'own-dashd']) {
    const work = creditedWork(p);
    t.ok(work > 0 && Math.abs((row(p)?.acceptedWork ?? NaN) - work) <= 1e-9 * work, `books: ${p}'s accepted work = the difficulty credited to its accepted shares (${work})`);
  }
  t.same(byPool.map((r) => r.key).sort(), ['own-dashd', 'poolA'], 'no other pool in the books');

  const blocks = await reader.blocks(range);
  t.same(blocks.map((b) => b.hash).sort(), acceptedHashes, "books: the blocks table holds exactly dashd's blocks");
  t.ok(blocks.every((b) => b.pool === 'own-dashd' && b.submitResult === 'accepted' && b.payoutAddress === PAYOUT));
  const paid = blocks.filter((b) => b.payoutId !== null);
  t.ok(paid.length >= 1, `at least one final block's reward split (${paid.length})`);
  const payouts = await reader.payouts();
  for (const b of paid) {
    t.ok(b.status === 'chainlocked' || b.status === 'mature', `block ${b.height} is final (${b.status})`);
    const payout = payouts.find((p) => p.id === b.payoutId);
    t.ok(payout, `block ${b.height}: its payout is recorded`);
    if (!payout) continue;
    t.equal(payout.amount, b.reward, `block ${b.height}: the payout is its reward`);
    t.equal(payout.splits.reduce((sum, x) => sum + x.total, 0n), b.reward, `block ${b.height}: the split sums to the reward to the duff`);
    const owners = payout.splits.filter((x) => x.total > 0n).map((x) => x.owner);
    t.ok(owners.length > 0 && owners.every((o) => o === 'alice' || o === 'bob'), `block ${b.height}: split among the owners of the solo work (${owners.join(', ')})`);
  }
  t.same(await reader.verify(), [], 'ledger verify finds nothing wrong');
});

t.test('solo first, faults through the simulator: syncing, a template that fails the checks, a restart with a new cookie', async (t) => {
  const cookieFile = path.join(mkdtempSync(path.join(tmpdir(), 'solo-e2e-cookie-')), '.cookie');
  const pool = await startPool(t, { difficulty: 1e-6, nbits: '1d00ffff' });
  const dashd = new SimDashd({ hasher, cookieFile, bits: DASHD_BITS, expectPayoutAddress: PAYOUT });
  dashd.setInitialBlockDownload(true);
  await dashd.start();
  t.teardown(() => dashd.stop());
  const app = await startProxy(
    t,
    [{ name: 'own-dashd', url: dashd.url, user: '', password: '', dashd: { payoutAddress: PAYOUT, cookieFile, shareDifficulty: SOLO_SHARE_DIFFICULTY, pollSeconds: 0.2, templateSeconds: 5 } }, pool],
    { failoverAfterAttempts: 2, probeIntervalSeconds: 1 },
  );
  const downs: string[] = [];
  app.bus.on('pool.down', (e) => {
    if (e.pool === 'own-dashd') downs.push(e.reason);
  });
  const onDashd = () => app.proxy.channels[0]!.pool === 'own-dashd' && app.proxy.isReady;
  const onPool = () => app.proxy.channels[0]!.pool === 'poolB' && app.proxy.isReady;
  const fleet = await startFleet(t, app, { devices: 8, hashrate: 300, workerPrefix: 'solo' });

  // dashd still syncing: the farm mines on the pool meanwhile.
  await until(onPool, 'mining on poolB while dashd syncs', WAIT);
  await fleet.whenMining(8, WAIT);
  await mining(fleet, app, 10);
  t.ok(downs.some((r) => /sync/i.test(r)), `the reason says dashd is syncing (${downs.join(' | ')})`);
  t.equal(dashd.stats().templatesServed, 0, 'no template while syncing');

  // Synced: the proxy goes back to dashd and finds blocks.
  dashd.setInitialBlockDownload(false);
  await until(onDashd, 'mining on own-dashd once synced', WAIT);
  await until(() => dashd.stats().blocksAccepted >= 1, 'a block accepted by dashd', WAIT);

  // A template that fails the proxy's checks on a new tip: dashd is left (nothing mined on it), then taken
  // back once its templates are right again. Each fault with the reason it gives.
  const faults: [TemplateFault, RegExp][] = [
    ['payments-exceed-value', /payments .* exceed coinbasevalue/],
    ['malformed-script', /masternode\[1\]\.script/],
    ['unknown-rule', /!sim-unknown-rule/],
  ];
  for (const [fault, reason] of faults) {
    const downsBefore = downs.length;
    const acceptedBefore = dashd.stats().blocksAccepted;
    dashd.setTemplateFault(fault);
    dashd.mineOtherBlock();
    await until(() => downs.length > downsBefore && onPool(), `${fault}: off own-dashd, on the pool`, WAIT);
    t.match(downs[downs.length - 1], reason, `${fault}: the reason says why (${downs[downs.length - 1]})`);
    t.equal(dashd.stats().blocksAccepted, acceptedBefore, `${fault}: no block on the refused template`);
    dashd.setTemplateFault(null);
    await until(onDashd, `${fault}: back on own-dashd with correct templates`, WAIT);
  }
  t.same(dashd.stats().blocksRejected, {}, 'dashd refused nothing: nothing was mined on work the proxy could not check');

  // dashd restarts on the same port with a new cookie: the proxy reads it again and mines on.
  await dashd.stop();
  await dashd.start();
  const blocks = dashd.stats().blocksAccepted;
  await until(() => dashd.stats().blocksAccepted > blocks && onDashd(), 'a block after the restart (the new cookie read)', WAIT);

  const s = await quiesce(fleet);
  t.equal(s.disconnects, 0, 'no device was disconnected through all of it');
  t.equal(s.unanswered, 0, 'every submit was answered');
  t.same(dashd.stats().blocksRejected, {}, 'dashd refused no block the proxy sent');
});

t.test('a wrong login and a dashd that does not answer: the pool mines, and each reason says why', async (t) => {
  const pool = await startPool(t, { difficulty: 1e-6, nbits: '1d00ffff' });
  const dashd = new SimDashd({ hasher, ...RPC, bits: DASHD_BITS });
  await dashd.start();
  t.teardown(() => dashd.stop());
  const gone = new SimDashd({ hasher, ...RPC });
  await gone.start();
  const gonePort = gone.port;
  await gone.stop(); // nothing listens there any more
  const entry = (name: string, port: number, password: string) => ({ name, url: `http://127.0.0.1:${port}`, user: RPC.user, password, dashd: { payoutAddress: PAYOUT, pollSeconds: 0.2 } });
  const app = await startProxy(t, [entry('wrong-login', dashd.port, 'not-the-password'), entry('no-dashd', gonePort, RPC.password), pool], { failoverAfterAttempts: 1, probeIntervalSeconds: 30 });
  const downs = new Map<string, string>();
  app.bus.on('pool.down', (e) => downs.set(e.pool, e.reason));
  const fleet = await startFleet(t, app, { devices: 2, hashrate: 300 });
  await until(() => app.proxy.channels[0]!.pool === 'poolC' && app.proxy.isReady, 'mining on poolC', WAIT);
  await fleet.whenMining(2, WAIT);
  t.match(downs.get('wrong-login'), /refused the RPC login \(HTTP 401\)/, `wrong login: ${downs.get('wrong-login')}`);
  t.match(downs.get('no-dashd'), /no answer from dashd .*ECONNREFUSED/, `no dashd: ${downs.get('no-dashd')}`);
  t.ok(dashd.stats().unauthorized >= 1, 'dashd refused the login');
  t.equal(dashd.stats().templatesServed, 0, 'and served nothing');
});
