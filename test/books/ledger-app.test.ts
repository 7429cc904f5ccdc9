import path from 'node:path';
import t from 'tap';
import { buildConfig, DEFAULT_CONFIG } from '../../src/config.js';
import { createProxyApp } from '../../src/app.js';
import { silentLogger } from '../../src/core/log.js';
import { hasher } from '../helpers/share-kit.js';
import { quiesce, startFleet, startPool, startProxy, WAIT } from '../helpers/farm.js';
import { until } from '../helpers/wait.js';
import { request } from 'undici';
import { ACCEPTED, readLedger, ShareFeeder, tempDir } from './ledger-kit.js';

/** The books in the whole proxy: a simulated farm on loopback mines through it, the ledger matches the pool's own counts. */

t.test('ledger.path is off by default; a path turns the books on', async (t) => {
  t.equal(DEFAULT_CONFIG.ledger.path, null);
  const base = { pools: [{ url: 'stratum+tcp://127.0.0.1:1', user: 'X.w' }] };
  t.equal(buildConfig(base).ledger.path, null);
  t.equal(buildConfig({ ...base, ledger: { path: '/var/lib/books.sqlite' } }).ledger.path, '/var/lib/books.sqlite');
  t.equal(buildConfig({ ...base, ledger: { path: '' } }).ledger.path, null, 'an empty path (e.g. DASH_PROXY_LEDGER_PATH=) is off, like every optional text');
  t.throws(() => buildConfig({ ...base, ledger: { path: 42 } } as never), /ledger\.path/, 'a path that is not text names the field');
  t.throws(() => buildConfig({ ...base, ledger: { file: 'x' } } as never), /ledger/, 'an unknown field names the section');
});

t.test('after a farm run the books hold exactly the shares the pool saw, and the stop', async (t) => {
  const file = path.join(tempDir(t), 'books.sqlite');
  // A pool target easy enough for ~7 pool shares/s from 10 simulated devices.
  const pool = await startPool(t, { difficulty: 1e-7 });
  const app = await startProxy(t, [pool], { ledgerPath: file, owners: { alice: { workers: ['sim.1', 'sim.2'], feePercent: 5 } } });
  const fleet = await startFleet(t, app, { devices: 10 });
  await until(() => pool.stats().totals.accepted >= 60, '60 shares accepted by the pool', WAIT);
  await quiesce(fleet);
  await app.stop();

  const p = pool.stats().totals;
  const rows = readLedger(file);
  const byVerdict = (v: string) => rows.shares.filter((s) => s.verdict === v).length;
  t.equal(rows.shares.length, p.submitted, 'one row per share the pool received');
  t.equal(byVerdict('accepted'), p.accepted, "the pool's accepted count");
  t.equal(byVerdict('rejected'), p.rejected, "the pool's rejected count");
  t.equal(byVerdict('unanswered'), 0);
  const ids = rows.shares.map((s) => s.share_id as number).sort((a, b) => a - b);
  t.equal(new Set(ids).size, ids.length, 'each share once');
  t.equal(rows.minutes.reduce((n, m) => n + (m.accepted as number), 0), p.accepted, 'per-minute counts equal the pool\'s');
  t.equal(rows.minutes.reduce((n, m) => n + (m.local_shares as number), 0), app.ledger.summary().accepted, 'every share the proxy accepted is in the local work');
  t.ok(rows.shares.every((s) => s.pool === 'poolA' && /^sim\.\d+$/.test(s.worker as string)), 'worker and pool on each row');
  t.ok(rows.shares.every((s) => s.owner === (s.worker === 'sim.1' || s.worker === 'sim.2' ? 'alice' : 'farm')), "the owner from the config's owners (the farm for the rest)");
  t.ok(rows.minutes.some((m) => m.owner === 'alice') && rows.minutes.some((m) => m.owner === 'farm'), 'both owners have work');
  t.ok(rows.minutes.every((m) => m.owner === (m.worker === 'sim.1' || m.worker === 'sim.2' ? 'alice' : 'farm')), 'and on the per-minute rows');
  t.match(rows.switches, [{ route: 'default', target: 'default', connection: 0, from_pool: null, to_pool: 'poolA' }]);
  t.equal(rows.runs.length, 1);
  t.match(rows.runs[0], { stop_reason: 'stopped', pid: process.pid });
  t.not(rows.runs[0]!.stopped_at, null);
  t.equal(app.books!.dropped, 0);
});

t.test('a ledger file that is not ours fails the start, naming the file', async (t) => {
  const file = path.join(tempDir(t), 'not-books.sqlite');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(file, 'plain text, not a database\n'.repeat(100));
  const config = buildConfig({ pools: [{ url: 'stratum+tcp://127.0.0.1:1', user: 'X.w' }], listen: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, ledger: { path: file } });
  const app = await createProxyApp(config, { hasher, log: silentLogger });
  await t.rejects(app.start(), new RegExp(`ledger ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not an SQLite database`));
  await app.stop();
});

t.test('in the app: a solo block that becomes chainlocked is split among owners by the books, once, and shown by /api/ledger/blocks', async (t) => {
  const file = path.join(tempDir(t), 'books.sqlite');
  const pool = await startPool(t, { difficulty: 1e-7 });
  const app = await startProxy(t, [pool], { ledgerPath: file, owners: { alice: { workers: ['alice.*'], feePercent: 0 } } });
  // The events as the proxy (a dashd upstream) and the block watcher emit them.
  const feed = new ShareFeeder(app.bus);
  const now = Date.now();
  const place = { route: 'default', target: 'default', connection: 0, pool: 'own-dashd' };
  feed.share({ worker: 'alice.rig1', at: now - 3000, difficulty: 3000, pool: 'own-dashd', verdict: ACCEPTED });
  const shareId = feed.share({ worker: 'rig9', at: now - 2000, difficulty: 1000, pool: 'own-dashd', blockHash: 'ab'.repeat(32), verdict: ACCEPTED })!;
  const hash = 'ab'.repeat(32);
  app.bus.emit('block.submitted', { ...place, sessionId: 1, worker: 'rig9', shareId, at: now - 1000, hash, height: 2_100_000, reward: 200_000_000, coinbaseValue: 450_000_000, payoutAddress: 'Xfarm', result: 'accepted', reason: null });
  app.bus.emit('block.status', { pool: 'own-dashd', hash, height: 2_100_000, status: 'in-chain', confirmations: 1, chainlock: false, reason: 'on the best chain', at: now - 500 });
  app.bus.emit('block.status', { pool: 'own-dashd', hash, height: 2_100_000, status: 'chainlocked', confirmations: 1, chainlock: true, reason: 'ChainLock', at: now });
  const get = async (what: string) => (await (await request(`${app.httpUrl}/api/ledger/${what}`)).body.json()) as any;
  let paid = false;
  const poll = async () => {
    for (const end = Date.now() + WAIT; !paid && Date.now() < end; await new Promise((r) => setTimeout(r, 50))) paid = (await get('blocks')).blocks[0]?.payout === 1;
  };
  await poll();
  t.ok(paid, 'the block paid');
  const payouts = (await get('payouts')).payouts;
  t.equal(payouts.length, 1);
  t.match(payouts[0], { id: 1, method: 'prop', amount: '2.00000000', note: `solo block 2100000 ${hash}` });
  t.same(payouts[0].splits.map((s: { owner: string; total: string }) => [s.owner, s.total]), [['alice', '1.50000000'], ['farm', '0.50000000']]);
  t.match((await get('blocks')).blocks[0], { hash, status: 'chainlocked', chainlock: true, worker: 'rig9', owner: 'farm', pool: 'own-dashd', reward: '2.00000000' });
  t.same((await get('verify')).problems, []);
  await app.stop();
  t.equal(readLedger(file).runs.length, 1);
});
