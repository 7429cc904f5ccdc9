import { writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import t, { type Test } from 'tap';
import { request } from 'undici';
import { EventBus, type BlockStatus, type BlockSubmitResult } from '../../src/core/events.js';
import { BlockPayouts } from '../../src/books/block-payouts.js';
import { formatDash } from '../../src/books/duffs.js';
import type { BlockRow } from '../../src/books/ledger-blocks.js';
import { formatBlocks } from '../../src/books/ledger-format.js';
import type { LedgerReader, RecordedPayout } from '../../src/books/ledger-reader.js';
import { LedgerFaultError } from '../../src/books/ledger-store.js';
import { LedgerWriter } from '../../src/books/ledger-writer.js';
import { openLedgerReader, payoutRules } from '../../src/books/open-reader.js';
import { OwnerMap } from '../../src/books/owners.js';
import type { PayoutMethod } from '../../src/books/payouts.js';
import { HttpServer } from '../../src/observe/http-server.js';
import { registerLedgerRoutes } from '../../src/observe/ledger-api.js';
import { mainCaptured as cli } from '../helpers/cli-main.js';
import { ledgerBackends, type LedgerBackend } from './ledger-backends.js';
import { ACCEPTED, ManualTimers, recordingLogger, ShareFeeder, tempDir } from './ledger-kit.js';

/**
 * Solo blocks in the books (issue 16, schema version 4), on SQLite and PostgreSQL: `block.submitted` makes a
 * row, `block.status` moves it; a block that becomes final (chainlocked, mature) has its reward split among
 * owners by books.payoutMethod from its pool's work, exactly once (also across a restart and with two
 * recorders at once); an orphaned or rejected block never; `ledger blocks`, /api/ledger/blocks, verify.
 *
 * Owners: alice (alice.*, 2% fee), bob (bob.* by the owner.worker rule), the farm (rig9). Pool `solo` is the
 * farm's dashd; `main` is a Stratum pool whose work never counts for a solo block.
 *
 *   time     worker      pool  credited  network diff  verdict
 *   T0+2000  alice.rig1  solo  3000      2,000,000     accepted
 *   T0+3000  bob.s19     solo  1000      1,000,000     accepted
 *   T0+4000  rig9        solo  1000                    rejected (not work)
 *   T0+4500  alice.rig1  main  5000                    accepted (another pool)
 *   T0+5000  bob.s19     solo  1000                    accepted: block A (height 2100000), found T0+5010, reward 1.8 DASH
 *   T0+6000  alice.rig2  solo  2000                    accepted
 *   T0+7000  rig9        solo  2000                    accepted
 *   T0+8000  rig9        solo  2000                    accepted: block B (height 2100001), found T0+8010, reward 1 DASH
 *
 * PROP, block A (the books' first share to A): alice 3000, bob 2000 of 5000: alice 1.08 (fee 0.0216 to the farm), bob 0.72.
 * PROP, block B (after A to B): alice 2000, farm 4000: alice 0.33333333 (fee 0.00666666), farm 0.66666667.
 * PPLNS (window 4000), block A: the pool's last 4000 up to A: bob 1000 + 1000, alice 2000 of her 3000: 0.9 each
 *   (the main pool's 5000 at T0+4500 would have been the whole window).
 * PPS, block A: alice 3000 / 2,000,000, bob 2000 / 1,000,000 at the block's reward: 1.5 : 2 of 1.8 DASH.
 */
const { backends, skipped } = await ledgerBackends(t);
if (skipped) t.test(skipped, { skip: skipped }, () => {});

const T0 = Date.UTC(2026, 11, 5, 10, 0, 0);
const OWNERS = { alice: { workers: ['alice.*'], feePercent: 2 }, bob: { workers: [], feePercent: 0 } };
const booksOf = (method: PayoutMethod) => ({ farmOwner: 'farm', payoutMethod: method, pplnsWindow: 4000 });
const ledgerOf = (b: LedgerBackend, location: string) => (b.name === 'SQLite' ? { path: location, url: null, retentionDays: 0 } : { path: null, url: location, retentionDays: 0 });
const HASH_A = '00000000000000a1' + 'a'.repeat(48);
const HASH_B = '00000000000000b2' + 'b'.repeat(48);
const HASH_C = '00000000000000c3' + 'c'.repeat(48);
const HASH_R = '00000000000000d4' + 'd'.repeat(48);
const DUFFS = 100_000_000;

/** The writer of the scenario's books, with a manual clock; `block` and `status` emit as the proxy and the watcher do. */
async function writerOn(t: Parameters<LedgerBackend['fresh']>[0], b: LedgerBackend, location: string, onPaidBlocks?: (hashes: string[]) => void) {
  const timers = new ManualTimers(T0);
  const bus = new EventBus();
  const owners = OwnerMap.compile(OWNERS, booksOf('prop'));
  const writer = new LedgerWriter({ store: b.store(location), bus, timers, ownerOf: (w) => owners.ownerOf(w), ...(onPaidBlocks ? { onPaidBlocks } : {}) });
  timers.afterEach = () => writer.idle();
  await writer.start();
  t.teardown(() => writer.stop());
  const feed = new ShareFeeder(bus);
  const block = (o: { hash: string; height: number; shareId: number; worker: string; at: number; reward: number; result?: BlockSubmitResult; reason?: string | null }) =>
    bus.emit('block.submitted', {
      route: 'default', target: 'default', connection: 0, pool: 'solo', sessionId: 1, worker: o.worker, shareId: o.shareId, at: o.at,
      hash: o.hash, height: o.height, reward: o.reward, coinbaseValue: 4.5 * DUFFS, payoutAddress: 'XfarmPayoutAddress', result: o.result ?? 'accepted', reason: o.reason ?? null,
    });
  const status = (hash: string, height: number, status: BlockStatus, at: number, confirmations = 1, chainlock = status === 'chainlocked') =>
    bus.emit('block.status', { pool: 'solo', hash, height, status, confirmations, chainlock, reason: `${status} in the test`, at });
  return { timers, bus, writer, feed, block, status };
}

/** The scenario's shares and blocks A and B (accepted by dashd, not yet followed). */
async function soloBooks(t: Parameters<LedgerBackend['fresh']>[0], b: LedgerBackend, onPaidBlocks?: (hashes: string[]) => void) {
  const location = await b.fresh(t);
  const w = await writerOn(t, b, location, onPaidBlocks);
  const solo = { pool: 'solo' };
  w.feed.share({ worker: 'alice.rig1', at: T0 + 2000, difficulty: 3000, networkDifficulty: 2_000_000, ...solo, verdict: ACCEPTED });
  w.feed.share({ worker: 'bob.s19', at: T0 + 3000, difficulty: 1000, ...solo, verdict: ACCEPTED });
  w.feed.share({ worker: 'rig9', at: T0 + 4000, difficulty: 1000, ...solo, verdict: { kind: 'rejected', code: 23, reason: 'Low difficulty share' } });
  w.feed.share({ worker: 'alice.rig1', at: T0 + 4500, difficulty: 5000, pool: 'main', verdict: ACCEPTED });
  const shareA = w.feed.share({ worker: 'bob.s19', at: T0 + 5000, difficulty: 1000, ...solo, blockHash: HASH_A, verdict: ACCEPTED })!;
  w.block({ hash: HASH_A, height: 2_100_000, shareId: shareA, worker: 'bob.s19', at: T0 + 5010, reward: 1.8 * DUFFS });
  w.feed.share({ worker: 'alice.rig2', at: T0 + 6000, difficulty: 2000, ...solo, verdict: ACCEPTED });
  w.feed.share({ worker: 'rig9', at: T0 + 7000, difficulty: 2000, ...solo, verdict: ACCEPTED });
  const shareB = w.feed.share({ worker: 'rig9', at: T0 + 8000, difficulty: 2000, ...solo, blockHash: HASH_B, verdict: ACCEPTED })!;
  w.block({ hash: HASH_B, height: 2_100_001, shareId: shareB, worker: 'rig9', at: T0 + 8010, reward: 1 * DUFFS });
  await w.timers.advance(200);
  return { location, ...w };
}

function readerOf(t: { teardown(fn: () => void | Promise<void>): void }, b: LedgerBackend, location: string, threaded = false): LedgerReader {
  const reader = openLedgerReader(ledgerOf(b, location), { threaded })!;
  t.teardown(() => reader.close());
  return reader;
}

function payoutsOn(reader: LedgerReader, method: PayoutMethod, timers?: ManualTimers) {
  const log = recordingLogger();
  const recorded: RecordedPayout[] = [];
  const payouts = new BlockPayouts({ reader, rules: () => payoutRules({ owners: OWNERS, books: booksOf(method) }), method: () => method, onPayout: (p) => recorded.push(p), log, ...(timers ? { timers } : {}) });
  return { payouts, recorded, log };
}

/** The scenario's books with block A chainlocked, split by `method` at the start of BlockPayouts: its one payout. */
async function blockAPaidBy(t: Test, b: LedgerBackend, method: PayoutMethod) {
  const w = await soloBooks(t, b);
  w.status(HASH_A, 2_100_000, 'chainlocked', T0 + 10_000);
  await w.timers.advance(200);
  const reader = readerOf(t, b, w.location);
  const { payouts, recorded } = payoutsOn(reader, method);
  await payouts.start();
  t.equal(recorded.length, 1, 'one payout');
  return { reader, p: recorded[0]! };
}

/** A payout's splits as [owner, gross, fee, total] in DASH. */
const splits = (p: RecordedPayout) => p.splits.map((s) => [s.owner, formatDash(s.gross), formatDash(s.fee), formatDash(s.total)]);
const byHash = (blocks: BlockRow[]) => new Map(blocks.map((x) => [x.hash, x]));

/** Change the books behind the code's back (a damaged or hand-edited ledger). */
async function tamper(b: LedgerBackend, location: string, sql: string): Promise<void> {
  if (b.name === 'SQLite') {
    const db = new Database(location);
    try {
      db.exec(sql);
    } finally {
      db.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: location });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

for (const b of backends) {
  t.test(`${b.name}: block.submitted makes a row, block.status moves it forward in time only; a rejected block is rejected`, async (t) => {
    const w = await soloBooks(t, b);
    w.block({ hash: HASH_R, height: 2_100_002, shareId: 99, worker: 'alice.rig1', at: T0 + 9000, reward: 1 * DUFFS, result: 'rejected', reason: 'bad-cb-payee' });
    // The same block again (dashd said duplicate): the first row stays.
    w.block({ hash: HASH_A, height: 2_100_000, shareId: 42, worker: 'rig9', at: T0 + 9100, reward: 2 * DUFFS, result: 'accepted', reason: 'duplicate' });
    w.status(HASH_A, 2_100_000, 'in-chain', T0 + 20_000, 2);
    w.status(HASH_A, 2_100_000, 'in-chain', T0 + 15_000, 1); // late and older: not applied
    await w.timers.advance(200);
    const reader = readerOf(t, b, w.location);
    const blocks = await reader.blocks();
    t.same(blocks.map((x) => x.hash), [HASH_A, HASH_B, HASH_R], 'by the time found');
    const a = byHash(blocks).get(HASH_A)!;
    t.same(a, {
      hash: HASH_A, height: 2_100_000, foundAt: T0 + 5010, runId: w.writer.run.runId, shareId: 5, worker: 'bob.s19', owner: 'bob', route: 'default', target: 'default',
      pool: 'solo', connection: 0, reward: 180_000_000n, coinbaseValue: 450_000_000n, payoutAddress: 'XfarmPayoutAddress', submitResult: 'accepted', submitReason: null,
      status: 'in-chain', statusReason: 'in-chain in the test', confirmations: 2, chainlock: false, statusAt: T0 + 20_000, payoutId: null,
    });
    const r = byHash(blocks).get(HASH_R)!;
    t.same([r.submitResult, r.submitReason, r.status, r.owner], ['rejected', 'bad-cb-payee', 'rejected', 'alice']);
    t.same(byHash(blocks).get(HASH_B)!.status, 'submitted');
    t.same((await reader.blocks({ from: T0 + 6000, to: T0 + 9000 })).map((x) => x.hash), [HASH_B], '[from, to) of the time found');
    t.same(await reader.verify(), []);
    t.equal(w.writer.dropped, 0);
  });

  t.test(`${b.name}: a reward or coinbase value that is not duffs is dropped as a bad event, never written`, async (t) => {
    const location = await b.fresh(t);
    const w = await writerOn(t, b, location);
    w.block({ hash: HASH_C, height: 1, shareId: 1, worker: 'rig9', at: T0, reward: 1.5 });
    w.block({ hash: HASH_R, height: 1, shareId: 2, worker: 'rig9', at: T0, reward: -1 });
    await w.timers.advance(200);
    t.equal(w.writer.droppedBy['bad-event'], 2);
    t.same(await readerOf(t, b, location).blocks(), []);
  });

  t.test(`${b.name}: prop: a chainlocked block's reward split by its pool's round, at once after the commit; the next block's round starts after it`, async (t) => {
    let settling: Promise<void> = Promise.resolve();
    let reader: LedgerReader | null = null;
    let payouts: ReturnType<typeof payoutsOn> | null = null;
    const w = await soloBooks(t, b, () => {
      settling = payouts!.payouts.settle();
    });
    reader = readerOf(t, b, w.location, true);
    payouts = payoutsOn(reader, 'prop');
    w.status(HASH_A, 2_100_000, 'in-chain', T0 + 9000);
    await w.timers.advance(200);
    await settling;
    t.equal(payouts.recorded.length, 0, 'in-chain is not final: nothing paid');
    w.status(HASH_A, 2_100_000, 'chainlocked', T0 + 10_000, 1, true);
    await w.timers.advance(200);
    await settling;
    t.equal(payouts.recorded.length, 1, 'paid once the chainlock is committed');
    const pa = payouts.recorded[0]!;
    t.same(splits(pa), [['alice', '1.08000000', '0.02160000', '1.05840000'], ['bob', '0.72000000', '0.00000000', '0.72000000'], ['farm', '0.00000000', '0.00000000', '0.02160000']]);
    t.same([pa.method, pa.amount, pa.note, pa.period, pa.blockReward], ['prop', 180_000_000n, `solo block 2100000 ${HASH_A}`, { from: T0 + 2000, to: T0 + 5011 }, null]);
    t.same(pa.splits.map((s) => [s.owner, s.work]), [['alice', 3000], ['bob', 2000], ['farm', 0]], 'only the solo pool\'s accepted work, none of main\'s');

    w.status(HASH_B, 2_100_001, 'mature', T0 + 11_000, 100, false);
    await w.timers.advance(200);
    await settling;
    t.equal(payouts.recorded.length, 2, 'mature (100 confirmations, no ChainLock) is final too');
    const pb = payouts.recorded[1]!;
    t.same(splits(pb), [['alice', '0.33333333', '0.00666666', '0.32666667'], ['farm', '0.66666667', '0.00000000', '0.67333333']]);
    t.same(pb.period, { from: T0 + 5011, to: T0 + 8011 }, 'the round after block A');
    const blocks = byHash(await reader.blocks());
    t.same([blocks.get(HASH_A)!.payoutId, blocks.get(HASH_B)!.payoutId], [pa.id, pb.id], 'each block names its payout');
    t.same((await reader.payouts()).map((p) => p.id), [pa.id, pb.id]);
    t.same(await reader.verify(), [], 'every payout equals its splits, every paid block its reward');
  });

  t.test(`${b.name}: pplns: the last books.pplnsWindow of the block's pool's work`, async (t) => {
    const { reader, p } = await blockAPaidBy(t, b, 'pplns');
    t.same(splits(p), [['alice', '0.90000000', '0.01800000', '0.88200000'], ['bob', '0.90000000', '0.00000000', '0.90000000'], ['farm', '0.00000000', '0.00000000', '0.01800000']]);
    t.same([p.method, p.pplnsWindow, p.blocks, p.period.to], ['pplns', 4000, [{ at: T0 + 5010 }], T0 + 5011]);
    t.same(await reader.verify(), []);
  });

  t.test(`${b.name}: pps: the round's work valued at the block's reward over each share's network difficulty`, async (t) => {
    const { reader, p } = await blockAPaidBy(t, b, 'pps');
    t.same(splits(p), [['alice', '0.77142857', '0.01542857', '0.75600000'], ['bob', '1.02857143', '0.00000000', '1.02857143'], ['farm', '0.00000000', '0.00000000', '0.01542857']]);
    t.same([p.method, p.blockReward, p.period], ['pps', 180_000_000n, { from: T0 + 2000, to: T0 + 5011 }]);
    t.same(await reader.verify(), []);
  });

  t.test(`${b.name}: exactly once: a final block left unpaid by a stop is paid at the next start, never twice (restarts, two recorders at once)`, async (t) => {
    const w = await soloBooks(t, b); // no onPaidBlocks: the proxy "stopped" before splitting
    w.status(HASH_A, 2_100_000, 'chainlocked', T0 + 10_000);
    w.status(HASH_B, 2_100_001, 'chainlocked', T0 + 11_000);
    await w.timers.advance(200);
    await w.writer.stop('killed');

    const first = payoutsOn(readerOf(t, b, w.location, true), 'prop');
    await first.payouts.start();
    t.equal(first.recorded.length, 2, 'both unpaid final blocks paid at start');
    for (let i = 0; i < 3; i++) {
      const again = payoutsOn(readerOf(t, b, w.location), 'prop');
      await again.payouts.start();
      t.equal(again.recorded.length, 0, `restart ${i + 1}: nothing paid again`);
    }
    const reader = readerOf(t, b, w.location);
    t.equal((await reader.payouts()).length, 2);
    const a = byHash(await reader.blocks()).get(HASH_A)!;
    t.equal(await reader.addBlockPayout(HASH_A, { ...first.recorded[0]!, recordedAt: T0 }), null, 'a paid block is not paid again, whoever asks');
    t.equal((await reader.payouts()).length, 2);
    t.equal(a.payoutId, first.recorded.find((p) => p.note!.includes(HASH_A))!.id);

    // Two proxies sharing the books (or two passes) race for one new final block: one payout.
    const more = await writerOn(t, b, w.location);
    more.block({ hash: HASH_C, height: 2_100_002, shareId: 1, worker: 'alice.rig1', at: T0 + 30_000, reward: 2 * DUFFS });
    more.status(HASH_C, 2_100_002, 'chainlocked', T0 + 31_000);
    await more.timers.advance(200);
    const racers = [payoutsOn(readerOf(t, b, w.location), 'prop'), payoutsOn(readerOf(t, b, w.location, true), 'prop'), payoutsOn(readerOf(t, b, w.location), 'prop')];
    await Promise.all(racers.flatMap((r) => [r.payouts.settle(), r.payouts.settle()]));
    t.equal(racers.reduce((n, r) => n + r.recorded.length, 0), 1, 'one payout for block C among three recorders');
    t.equal((await reader.payouts()).length, 3);
    t.same(await reader.verify(), []);
  });

  t.test(`${b.name}: an orphaned block is never paid; the next paid block's round takes its work`, async (t) => {
    const w = await soloBooks(t, b);
    w.status(HASH_A, 2_100_000, 'in-chain', T0 + 9_000);
    w.status(HASH_A, 2_100_000, 'orphaned', T0 + 10_000, -1, false);
    await w.timers.advance(200);
    const reader = readerOf(t, b, w.location);
    const { payouts, recorded } = payoutsOn(reader, 'prop');
    await payouts.start();
    t.equal(recorded.length, 0, 'orphaned: no payout');
    t.equal(await reader.addBlockPayout(HASH_A, { recordedAt: T0, amount: 180_000_000n, method: 'prop', period: { from: T0, to: T0 + 1 }, blocks: null, pplnsWindow: null, blockReward: null, note: null, splits: [] }), null, 'not even when asked directly');
    t.equal(await reader.addBlockPayout(HASH_R, { recordedAt: T0, amount: 1n, method: 'prop', period: { from: T0, to: T0 + 1 }, blocks: null, pplnsWindow: null, blockReward: null, note: null, splits: [] }), null, 'a block the books do not have: nothing');
    t.same(await reader.payouts(), []);

    w.status(HASH_B, 2_100_001, 'chainlocked', T0 + 12_000);
    await w.timers.advance(200);
    await payouts.settle();
    t.equal(recorded.length, 1);
    t.same(recorded[0]!.period, { from: T0 + 2000, to: T0 + 8011 }, 'block B\'s round starts with the books\' first share: A was orphaned');
    t.same(recorded[0]!.splits.map((s) => [s.owner, s.work]), [['alice', 5000], ['bob', 2000], ['farm', 4000]]);
    const blocks = byHash(await reader.blocks());
    t.same([blocks.get(HASH_A)!.payoutId, blocks.get(HASH_A)!.status], [null, 'orphaned']);
    t.same(await reader.verify(), []);
  });

  t.test(`${b.name}: a block the configuration cannot split stays unpaid, logged once, and is paid when it can`, async (t) => {
    const w = await soloBooks(t, b);
    w.status(HASH_A, 2_100_000, 'chainlocked', T0 + 10_000);
    await w.timers.advance(200);
    const reader = readerOf(t, b, w.location);
    let window: number | null = null;
    const log = recordingLogger();
    const recorded: RecordedPayout[] = [];
    const payouts = new BlockPayouts({ reader, rules: () => ({ ...payoutRules({ owners: OWNERS, books: booksOf('pplns') }), pplnsWindow: window }), method: () => 'pplns', onPayout: (p) => recorded.push(p), log });
    await payouts.start();
    await payouts.settle();
    t.equal(recorded.length, 0);
    const errors = log.lines.filter((l) => l.level === 'error');
    t.equal(errors.length, 1, 'logged once');
    t.match(errors[0]!.fields, { block: HASH_A, error: /books\.pplnsWindow is not set/ });
    window = 4000; // a reload sets it
    await payouts.settle();
    t.equal(recorded.length, 1);
    t.match(log.lines.find((l) => l.level === 'info')!, { msg: /solo block reward split/, fields: { block: HASH_A, height: 2_100_000, payout: 1, method: 'pplns', reward: '1.80000000 DASH' } });
  });

  t.test(`${b.name}: ledger verify names a paid block whose payout is not its reward, or that is not final`, async (t) => {
    const w = await soloBooks(t, b);
    w.status(HASH_A, 2_100_000, 'chainlocked', T0 + 10_000);
    w.status(HASH_B, 2_100_001, 'chainlocked', T0 + 11_000);
    await w.timers.advance(200);
    const reader = readerOf(t, b, w.location);
    await payoutsOn(reader, 'prop').payouts.start();
    t.same(await reader.verify(), []);
    await tamper(b, w.location, `UPDATE blocks SET reward_duffs = reward_duffs + 1 WHERE hash = '${HASH_A}'`);
    await tamper(b, w.location, `UPDATE blocks SET status = 'orphaned' WHERE hash = '${HASH_B}'`);
    t.same(await reader.verify(), [
      { kind: 'block', message: `block 2100000 ${HASH_A} (1.80000001 DASH, chainlocked): its payout 1 is 1.80000000 DASH, not its reward` },
      { kind: 'block', message: `block 2100001 ${HASH_B} (1.00000000 DASH, orphaned): paid (payout 2) but not chainlocked or mature` },
    ]);
    await tamper(b, w.location, `UPDATE blocks SET payout_id = 1, status = 'mature' WHERE hash = '${HASH_B}'`);
    t.same((await reader.verify()).map((p) => p.message), [
      `block 2100000 ${HASH_A} (1.80000001 DASH, chainlocked): its payout 1 is 1.80000000 DASH, not its reward`,
      `block 2100001 ${HASH_B} (1.00000000 DASH, mature): its payout 1 is 1.80000000 DASH, not its reward`,
      `block 2100001 ${HASH_B} (1.00000000 DASH, mature): its payout 1 is block ${HASH_A}'s too`,
    ], 'two blocks on one payout');
  });

  t.test(`${b.name}: ledger blocks (table, CSV, JSON) and /api/ledger/blocks`, async (t) => {
    const w = await soloBooks(t, b);
    w.status(HASH_A, 2_100_000, 'chainlocked', T0 + 10_000);
    await w.timers.advance(200);
    const reader = readerOf(t, b, w.location);
    await payoutsOn(reader, 'prop').payouts.start();
    const config = path.join(tempDir(t), 'books.json');
    writeFileSync(config, JSON.stringify({ ledger: ledgerOf(b, w.location), owners: OWNERS, books: booksOf('prop') }));
    const blocks = (...args: string[]) => cli(['ledger', 'blocks', '--config', config, ...args]);

    const table = await blocks();
    t.equal(table.code, 0, table.err);
    t.equal(
      table.out,
      [
        'height   hash                                                              found_at                  worker   owner  pool      reward  submit_result  submit_reason  status       confirmations  chainlock  payout',
        `2100000  ${HASH_A}  2026-12-05T10:00:05.010Z  bob.s19  bob    solo  1.80000000  accepted       -              chainlocked              1  yes        1`,
        `2100001  ${HASH_B}  2026-12-05T10:00:08.010Z  rig9     farm   solo  1.00000000  accepted       -              submitted                0  no         -`,
        '',
      ].join('\n'),
    );
    const csv = await blocks('--format', 'csv', '--from', '2026-12-05T10:00:06Z', '--to', '2026-12-06');
    t.equal(csv.code, 0, csv.err);
    t.equal(csv.out, `height,hash,found_at,worker,owner,pool,reward,submit_result,submit_reason,status,confirmations,chainlock,payout\r\n2100001,${HASH_B},2026-12-05T10:00:08.010Z,rig9,farm,solo,1.00000000,accepted,-,submitted,0,no,-\r\n`);
    const json = await blocks('--format', 'json');
    t.equal(json.code, 0);
    const a = JSON.parse(json.out).blocks[0];
    t.match(a, { hash: HASH_A, height: 2_100_000, foundAt: '2026-12-05T10:00:05.010Z', worker: 'bob.s19', owner: 'bob', pool: 'solo', reward: '1.80000000', rewardDuffs: '180000000', coinbaseValue: '4.50000000', submitResult: 'accepted', status: 'chainlocked', chainlock: true, payout: 1 });
    t.equal(formatBlocks([], 'table'), 'no blocks recorded\n');
    const bad = await blocks('--from', '2026-12-06');
    t.equal(bad.code, 2);
    t.match(bad.err, /--to is required/);
    const verify = await cli(['ledger', 'verify', '--config', config]);
    t.equal(verify.code, 0, verify.out);
    t.match(verify.out, /every paid block's payout is its reward/);
    const help = await cli(['ledger', '--help']);
    t.match(help.out, /\n {2}blocks +the solo blocks submitted to dashd/);

    const http = new HttpServer({ host: '127.0.0.1', port: 0 });
    registerLedgerRoutes(http, { reader, rules: () => payoutRules({ owners: OWNERS, books: booksOf('prop') }), method: () => 'prop' });
    const { port } = await http.listen();
    t.teardown(() => http.close());
    const get = async (q: string) => {
      const res = await request(`http://127.0.0.1:${port}/api/ledger/blocks${q}`);
      return { status: res.statusCode, type: String(res.headers['content-type']), text: await res.body.text() };
    };
    const api = await get('');
    t.equal(api.status, 200);
    t.same(JSON.parse(api.text), JSON.parse(json.out), 'the same JSON as the command line');
    const apiCsv = await get('?format=csv&from=2026-12-05T10:00:06Z&to=2026-12-06');
    t.equal(apiCsv.text, csv.out);
    t.match(apiCsv.type, /text\/csv/);
    const wrong = await get('?format=xml');
    t.equal(wrong.status, 400);
    t.match(JSON.parse(wrong.text).error, /^format: expected one of table, csv, json, got "xml"/);
    t.equal((await get('?from=2026-12-06')).status, 400);
  });
}

t.test('books that cannot be read now: the split is retried every retryMs, the cause logged once, never thrown', async (t) => {
  const b = backends[0]!;
  const w = await soloBooks(t, b);
  w.status(HASH_A, 2_100_000, 'chainlocked', T0 + 10_000);
  await w.timers.advance(200);
  const real = readerOf(t, b, w.location);
  let failures = 3;
  const reader: LedgerReader = Object.assign(Object.create(real) as LedgerReader, {
    blocks: async (range?: Parameters<LedgerReader['blocks']>[0]) => {
      if (failures-- > 0) throw new LedgerFaultError(real.location, 'locked', 'database is locked (SQLITE_BUSY)');
      return real.blocks(range);
    },
  });
  const timers = new ManualTimers(T0 + 20_000);
  const log = recordingLogger();
  const recorded: RecordedPayout[] = [];
  const payouts = new BlockPayouts({ reader, rules: () => payoutRules({ owners: OWNERS, books: booksOf('prop') }), method: () => 'prop', onPayout: (p) => recorded.push(p), log, timers, retryMs: 1_000 });
  timers.afterEach = async () => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };
  await payouts.start();
  t.equal(recorded.length, 0, 'not yet');
  await timers.advance(1_000);
  await timers.advance(1_000);
  t.equal(recorded.length, 0, 'three failures, three tries');
  await timers.advance(1_000);
  t.equal(recorded.length, 1, 'paid on the fourth try');
  t.same(log.lines.filter((l) => l.level === 'warn').map((l) => [l.msg, l.fields.retryMs]), [['ledger: cannot split solo block rewards now; retrying', 1_000]], 'logged once');
  t.ok(log.lines.some((l) => l.level === 'info' && l.msg === 'ledger: splitting solo block rewards again'), 'and the end of the episode');
  await timers.advance(5_000);
  t.equal(recorded.length, 1, 'no more tries once paid');
  await payouts.stop();
  t.equal((await real.payouts()).length, 1);
});
