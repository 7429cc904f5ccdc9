import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { SqliteLedgerReader } from '../../src/books/ledger-sqlite-reader.js';
import { payoutRules } from '../../src/books/open-reader.js';
import { HttpServer } from '../../src/observe/http-server.js';
import { registerLedgerRoutes } from '../../src/observe/ledger-api.js';
import { mainCaptured as cli } from '../helpers/cli-main.js';
import { BOOKS, filledBooks, OWNERS } from './books-fixture.js';

/**
 * PPLNS with each block's own reward (`--blocks time=DASH,...` on the command line, `blocks: [{at, reward}]`
 * in POST /api/ledger/payouts), on the fixture books (window 5500):
 *   block 1 at 2026-12-05T10:00:01.500Z: only alice's 3000 came before it: all of its reward is alice's;
 *   block 2 at 2026-12-06T01:00:00Z: alice 1000 + farm 1000 + bob 2000 + 1500 of alice's 3000 (2500/2000/1000).
 * Rewards 0.5 and 1.1: alice 0.5 + 1.1 x 2500/5500 = 1.0, bob 0.4, farm 0.2 (alice pays a 2% fee, 0.02, to the farm).
 * Split equally (1.6 / 2 = 0.8 each) it would be alice 1.16363636: the rewards are really used.
 */
const B1 = '2026-12-05T10:00:01.500Z';
const B2 = '2026-12-06T01:00:00Z';
const EXPECTED = [
  ['alice', '1.00000000', '0.02000000', '0.98000000'],
  ['bob', '0.40000000', '0.00000000', '0.40000000'],
  ['farm', '0.20000000', '0.00000000', '0.22000000'],
];
type Split = { owner: string; gross: string; fee: string; total: string };
const splits = (p: { splits: Split[] }) => p.splits.map((s) => [s.owner, s.gross, s.fee, s.total]);

async function books(t: Parameters<typeof filledBooks>[0]) {
  const { dir, file } = await filledBooks(t);
  const config = path.join(dir, 'proxy.json');
  writeFileSync(config, JSON.stringify({ ledger: { path: file }, owners: OWNERS, books: BOOKS }));
  return { file, config };
}

t.test('ledger payout record --blocks time=DASH,...: each block\'s reward split by its own window', async (t) => {
  const { config } = await books(t);
  const record = ['ledger', 'payout', 'record', '--config', config, '--from', '2026-12-05', '--to', '2026-12-07', '--method', 'pplns', '--format', 'json'];
  const r = await cli([...record, '--amount', '1.6', '--blocks', `${B1}=0.5,${B2}=1.1`]);
  t.equal(r.code, 0, r.err);
  const p = JSON.parse(r.out).payouts[0];
  t.same(splits(p), EXPECTED);
  t.same(p.blocks, ['2026-12-05T10:00:01.500Z', '2026-12-06T01:00:00.000Z']);
  t.same(p.blockRewards, ['0.50000000', '1.10000000'], 'the rewards are kept with the payout');

  const equal = await cli([...record, '--amount', '1.6', '--blocks', `${B1},${B2}`]);
  t.equal(equal.code, 0, equal.err);
  const q = JSON.parse(equal.out).payouts[0];
  t.equal(q.splits[0].gross, '1.16363636', 'without rewards: equal parts, another split');
  t.equal(q.blockRewards, null);

  const listed = JSON.parse((await cli(['ledger', 'payouts', '--config', config, '--format', 'json'])).out).payouts;
  t.same(listed.map((x: { blockRewards: string[] | null }) => x.blockRewards), [['0.50000000', '1.10000000'], null], 'read back from the books');
  t.same(splits(listed[0]), EXPECTED);
  t.equal((await cli(['ledger', 'verify', '--config', config])).code, 0, 'verify: consistent');

  const wrong: [string, RegExp][] = [
    [`${B1}=0.5,${B2}=1`, /blocks: the block rewards sum to 1\.50000000 DASH, 0\.10000000 DASH less than the amount, 1\.60000000 DASH: they must sum to it exactly/],
    [`${B1}=0.5,${B2}=1.2`, /blocks: the block rewards sum to 1\.70000000 DASH, 0\.10000000 DASH more than the amount, 1\.60000000 DASH/],
    [`${B1}=0.5,${B2}`, /blocks: 1 of 2 blocks have a reward: give every block its reward, or none/],
    [`${B1}=-1,${B2}=1.1`, /--blocks: block 1's reward: amount "-1" is negative/],
    [`${B1}=0.123456789,${B2}=1.1`, /--blocks: block 1's reward: amount "0\.123456789" has 9 decimals/],
    [`${B1}=,${B2}=1.1`, /--blocks: block 1's reward: amount "" is not a number of DASH/],
    [`2026-12-08=0.5,${B2}=1.1`, /--blocks: block 1 \(2026-12-08T00:00:00\.000Z\) is outside the period/],
    [`yesterday=0.5`, /--blocks: expected an ISO date or UTC date-time/],
  ];
  for (const [blocks, message] of wrong) {
    const w = await cli([...record, '--amount', '1.6', '--blocks', blocks]);
    t.equal(w.code, 2, blocks);
    t.match(w.err, message, blocks);
    t.equal(w.out, '');
  }
  t.equal(JSON.parse((await cli(['ledger', 'payouts', '--config', config, '--format', 'json'])).out).payouts.length, 2, 'nothing more recorded');
});

t.test('POST /api/ledger/payouts with blocks [{at, reward}] (or "time=DASH"): the same split; a mismatch is 400 naming it', async (t) => {
  const { file } = await books(t);
  const reader = new SqliteLedgerReader(file);
  const http = new HttpServer({ host: '127.0.0.1', port: 0, token: 'tok' });
  registerLedgerRoutes(http, { reader, rules: () => payoutRules({ owners: OWNERS, books: BOOKS }), method: () => 'pplns', now: () => Date.UTC(2026, 11, 7) });
  const { port } = await http.listen();
  t.teardown(async () => {
    await http.close();
    await reader.close();
  });
  const post = async (body: unknown) => {
    const res = await request(`http://127.0.0.1:${port}/api/ledger/payouts`, { method: 'POST', headers: { authorization: 'Bearer tok', 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.statusCode, json: (await res.body.json()) as any };
  };
  const period = { amount: '1.6', from: '2026-12-05', to: '2026-12-07' };
  const objects = await post({ ...period, blocks: [{ at: B1, reward: '0.5' }, { at: B2, reward: '1.1' }] });
  t.equal(objects.status, 201, JSON.stringify(objects.json));
  t.same(splits(objects.json), EXPECTED);
  t.same(objects.json.blockRewards, ['0.50000000', '1.10000000']);
  const texts = await post({ ...period, blocks: [`${B1}=0.5`, `${B2}=1.1`] });
  t.equal(texts.status, 201);
  t.same(splits(texts.json), EXPECTED, 'the command line\'s form gives the same split');
  const plain = await post({ ...period, blocks: [B1, B2] });
  t.equal(plain.status, 201);
  t.equal(plain.json.blockRewards, null, 'times only: equal parts, as before');

  const bad: [unknown, RegExp][] = [
    [[{ at: B1, reward: '0.5' }, { at: B2, reward: '1' }], /^blocks: the block rewards sum to 1\.50000000 DASH, 0\.10000000 DASH less than the amount, 1\.60000000 DASH/],
    [[{ at: B1, reward: '0.5' }, { at: B2 }], /^blocks: 1 of 2 blocks have a reward/],
    [[{ at: B1, reward: -1 }], /^blocks\[0\]\.reward: amount "-1" is negative/],
    [[{ at: B1, reward: '0.5', hash: 'ab' }], /^blocks\[0\]: unknown field hash \(a block has at and reward\)/],
    [[{ reward: '1.6' }], /^blocks\[0\]\.at: expected an ISO date/],
    [[42], /^blocks\[0\]: expected a time or \{"at": time, "reward": "DASH"\}, got 42/],
    [[], /^blocks: expected a list of block times/],
    [{ at: B1 }, /^blocks: expected a list of block times/],
    [[B1, `${B2}=x`], /^blocks\[1\]: the reward: amount "x" is not a number of DASH/],
    [['2026-12-09', B2], /^blocks: block 1 \(2026-12-09T00:00:00\.000Z\) is outside the period/],
  ];
  for (const [blocks, message] of bad) {
    const r = await post({ ...period, blocks });
    t.equal(r.status, 400, JSON.stringify(blocks));
    t.match(r.json.error, message, JSON.stringify(blocks));
  }
});
