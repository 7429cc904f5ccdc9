import t, { type Test } from 'tap';
import { request } from 'undici';
import { EventBus, type ProxyEventMap } from '../../src/core/events.js';
import { registerApiRoutes } from '../../src/observe/api.js';
import { FarmLedger } from '../../src/observe/farm-ledger.js';
import { DEFAULT_RECENT_BLOCKS, FoundBlocks, dashText, statusText, submittedText } from '../../src/observe/found-blocks.js';
import { HttpServer } from '../../src/observe/http-server.js';
import { ProxyMetrics } from '../../src/observe/metrics.js';
import { registerMetricsRoute } from '../../src/observe/metrics-route.js';
import { seriesValue } from '../helpers/metrics-sut.js';
import { blockSubmitted } from '../helpers/solo-blocks.js';

/**
 * Solo blocks in the farm ledger and what reads it: the recent blocks with their status, the counts by pool
 * and result or status, the farm's summary, the dashboard's event lines, /metrics and /api/blocks.
 */

const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);

/** A block found by rack1.rig4 at T0 (its reward has every decimal place in use). */
function submitted(hash: string, over: Partial<ProxyEventMap['block.submitted']> = {}): ProxyEventMap['block.submitted'] {
  return blockSubmitted(hash, { worker: 'rack1.rig4', reward: 168_123_456, payoutAddress: 'XfarmPayoutAddress', at: T0, ...over });
}

function status(hash: string, over: Partial<ProxyEventMap['block.status']> = {}): ProxyEventMap['block.status'] {
  return { pool: 'own-dashd', hash, height: 2_100_000, status: 'in-chain', confirmations: 1, chainlock: false, reason: "on dashd's best chain, 1 confirmation", at: T0 + 30_000, ...over };
}

async function start(t: Test) {
  const bus = new EventBus();
  const ledger = new FarmLedger(bus, { now: () => T0 + 60_000 });
  const metrics = new ProxyMetrics(bus, ledger, { processMetrics: false });
  const http = new HttpServer({ host: '127.0.0.1', port: 0, token: undefined });
  registerApiRoutes(http, ledger, { now: () => T0 + 60_000 });
  registerMetricsRoute(http, metrics);
  const { port } = await http.listen();
  t.teardown(async () => {
    metrics.close();
    ledger.close();
    await http.close();
  });
  const get = async (path: string) => {
    const res = await request(`http://127.0.0.1:${port}${path}`);
    const text = await res.body.text();
    return { status: res.statusCode, text, json: () => JSON.parse(text) as any };
  };
  return { bus, ledger, get };
}

/** Three blocks on two dashd entries: one chainlocked, one orphaned, one rejected; and one of another pool, inconclusive. */
function history(bus: EventBus): void {
  bus.emit('block.submitted', submitted('aa01'));
  bus.emit('block.submitted', submitted('aa02', { height: 2_100_005, worker: 'rack2.rig1', at: T0 + 1000 }));
  bus.emit('block.submitted', submitted('aa03', { height: 2_100_006, result: 'rejected', reason: 'bad-cb-payee', at: T0 + 2000 }));
  bus.emit('block.submitted', submitted('bb01', { pool: 'backup-dashd', target: 'solo', route: 'big', height: 2_100_007, result: 'inconclusive', reason: 'inconclusive', at: T0 + 3000 }));
  bus.emit('block.status', status('aa01'));
  bus.emit('block.status', status('aa02', { height: 2_100_005 }));
  bus.emit('block.status', status('aa01', { status: 'chainlocked', confirmations: 2, chainlock: true, reason: 'a ChainLock covers it (2 confirmations)', at: T0 + 40_000 }));
  bus.emit('block.status', status('aa02', { height: 2_100_005, status: 'orphaned', confirmations: -1, reason: 'not on the best chain (confirmations -1): it left the best chain', at: T0 + 50_000 }));
}

t.test('the words: DASH amounts, the submitted and status lines', async (t) => {
  t.equal(dashText(168_123_456), '1.68123456 DASH');
  t.equal(dashText(0), '0.00000000 DASH');
  t.equal(
    submittedText(submitted('00ab')),
    '*** BLOCK ACCEPTED by dashd own-dashd *** height 2100000 hash 00ab reward 1.68123456 DASH to XfarmPayoutAddress, found by rack1.rig4',
  );
  t.equal(
    submittedText(submitted('00ab', { result: 'rejected', reason: 'bad-cb-amount' })),
    '*** BLOCK REJECTED by dashd own-dashd (bad-cb-amount) *** height 2100000 hash 00ab reward 1.68123456 DASH to XfarmPayoutAddress, found by rack1.rig4',
  );
  t.match(submittedText(submitted('00ab', { result: 'accepted', reason: 'duplicate' })), /^\*\*\* BLOCK ACCEPTED by dashd own-dashd \(duplicate\) \*\*\* /);
  t.match(submittedText(submitted('00ab', { result: 'inconclusive', reason: 'inconclusive' })), /^\*\*\* BLOCK SUBMITTED \(inconclusive: valid, not on the best chain yet\) by dashd own-dashd/);
  t.match(submittedText(submitted('00ab', { result: 'unanswered', reason: 'dashd did not answer in 10 s' })), /^\*\*\* BLOCK NOT CONFIRMED SUBMITTED \(no answer\) by dashd own-dashd \(dashd did not answer in 10 s\) \*\*\* height/);
  t.equal(statusText(status('00ab', { status: 'orphaned', confirmations: -1, reason: 'dashd does not know it after 3 checks' })), 'block 2100000 00ab on dashd own-dashd: orphaned (dashd does not know it after 3 checks)');
});

t.test('FoundBlocks: newest first, bounded; a status updates its block; counts for every result and status of each pool seen', async (t) => {
  const bus = new EventBus();
  const blocks = new FoundBlocks(3);
  bus.on('block.submitted', (e) => blocks.submitted(e));
  bus.on('block.status', (e) => blocks.status(e));
  const v0 = blocks.version;
  history(bus);
  t.ok(blocks.version > v0, 'the version moves');
  t.same(blocks.recent().map((b) => [b.hash, b.result, b.status]), [
    ['bb01', 'inconclusive', null],
    ['aa03', 'rejected', null],
    ['aa02', 'accepted', 'orphaned'],
  ], 'the 3 newest; aa01 fell out');
  t.same(blocks.recent(1).map((b) => b.hash), ['bb01']);
  t.match(blocks.recent()[2], { height: 2_100_005, worker: 'rack2.rig1', confirmations: -1, chainlock: false, statusAt: T0 + 50_000, foundAt: T0 + 1000, reward: 168_123_456, coinbaseValue: 300_000_000, payoutAddress: 'XfarmPayoutAddress' });
  t.same(blocks.totals(), { accepted: 2, inconclusive: 1, rejected: 1, unanswered: 0 });
  t.same(
    blocks.submittedCounts().filter((c) => c.pool === 'own-dashd'),
    [
      { pool: 'own-dashd', result: 'accepted', count: 2 },
      { pool: 'own-dashd', result: 'inconclusive', count: 0 },
      { pool: 'own-dashd', result: 'rejected', count: 1 },
      { pool: 'own-dashd', result: 'unanswered', count: 0 },
    ],
  );
  t.same(
    blocks.statusCounts().filter((c) => c.pool === 'own-dashd').map((c) => [c.status, c.count]),
    [
      ['in-chain', 2],
      ['chainlocked', 1],
      ['mature', 0],
      ['orphaned', 1],
    ],
    "aa01's status counted though it fell out of the recent list",
  );
  const copy = blocks.recent()[0]!;
  copy.status = 'mature';
  t.equal(blocks.recent()[0]!.status, null, 'readers get copies');
});

t.test('the ledger, /metrics and /api/blocks: the same numbers', async (t) => {
  const { bus, ledger, get } = await start(t);
  history(bus);
  t.same(ledger.summary().blocksSubmitted, { accepted: 2, inconclusive: 1, rejected: 1, unanswered: 0 }, 'the summary');
  const lines = ledger.events.filter((e) => e.kind === 'block').map((e) => e.message);
  t.equal(lines.length, 8, 'each submitted block and each status change is a farm event (the dashboard shows them)');
  t.match(lines[2], /^\*\*\* BLOCK REJECTED by dashd own-dashd \(bad-cb-payee\) \*\*\* height 2100006/);
  t.equal(lines[6], 'block 2100000 aa01 on dashd own-dashd: chainlocked (a ChainLock covers it (2 confirmations))');

  const metrics = (await get('/metrics')).text;
  t.equal(seriesValue(metrics, 'dash_proxy_blocks_submitted_total{pool="own-dashd",result="accepted"}'), 2);
  t.equal(seriesValue(metrics, 'dash_proxy_blocks_submitted_total{pool="own-dashd",result="rejected"}'), 1);
  t.equal(seriesValue(metrics, 'dash_proxy_blocks_submitted_total{pool="own-dashd",result="unanswered"}'), 0, 'every result exported at 0 until seen');
  t.equal(seriesValue(metrics, 'dash_proxy_blocks_submitted_total{pool="backup-dashd",result="inconclusive"}'), 1);
  t.equal(seriesValue(metrics, 'dash_proxy_block_status_total{pool="own-dashd",status="chainlocked"}'), 1);
  t.equal(seriesValue(metrics, 'dash_proxy_block_status_total{pool="own-dashd",status="orphaned"}'), 1);
  t.equal(seriesValue(metrics, 'dash_proxy_block_status_total{pool="own-dashd",status="in-chain"}'), 2);
  t.equal(seriesValue(metrics, 'dash_proxy_block_status_total{pool="backup-dashd",status="mature"}'), 0);
  t.match(metrics, /# TYPE dash_proxy_blocks_submitted_total counter/);
  t.match(metrics, /# TYPE dash_proxy_block_status_total counter/);

  const api = await get('/api/blocks');
  t.equal(api.status, 200);
  const body = api.json();
  t.equal(body.at, T0 + 60_000);
  t.same(body.blocks.map((b: any) => [b.hash, b.height, b.pool, b.worker, b.result, b.reason, b.status, b.confirmations, b.chainlock]), [
    ['bb01', 2_100_007, 'backup-dashd', 'rack1.rig4', 'inconclusive', 'inconclusive', null, null, false],
    ['aa03', 2_100_006, 'own-dashd', 'rack1.rig4', 'rejected', 'bad-cb-payee', null, null, false],
    ['aa02', 2_100_005, 'own-dashd', 'rack2.rig1', 'accepted', null, 'orphaned', -1, false],
    ['aa01', 2_100_000, 'own-dashd', 'rack1.rig4', 'accepted', null, 'chainlocked', 2, true],
  ]);
  t.same(body.blocks[3], { ...ledger.blocks.recent()[3] }, 'each block as the ledger keeps it');
  t.same(body.submitted, ledger.blocks.submittedCounts());
  t.same(body.statuses, ledger.blocks.statusCounts());
  t.same((await get('/api/blocks?limit=2')).json().blocks.map((b: any) => b.hash), ['bb01', 'aa03']);
  for (const bad of ['0', '-1', 'x', '1.5', String(DEFAULT_RECENT_BLOCKS + 1)]) {
    const r = await get(`/api/blocks?limit=${bad}`);
    t.equal(r.status, 400, `limit=${bad}`);
    t.equal(r.json().error, `limit must be a whole number from 1 to ${DEFAULT_RECENT_BLOCKS}, got "${bad}"`);
  }
  const summary = (await get('/api/summary')).json();
  t.same(summary.blocksSubmitted, { accepted: 2, inconclusive: 1, rejected: 1, unanswered: 0 });
});

t.test('no solo: empty lists, no series, zeros in the summary', async (t) => {
  const { ledger, get } = await start(t);
  t.same(ledger.summary().blocksSubmitted, { accepted: 0, inconclusive: 0, rejected: 0, unanswered: 0 });
  t.same((await get('/api/blocks')).json(), { at: T0 + 60_000, submitted: [], statuses: [], blocks: [] });
  t.notMatch((await get('/metrics')).text, /dash_proxy_blocks_submitted_total\{/);
});
