import t from 'tap';
import { request } from 'undici';
import WebSocket from 'ws';
import { demoSummary } from '../../src/commands/demo.js';
import { NO_VERDICT_CAUSES, type ProxyEventMap } from '../../src/core/events.js';
import { POOL_RESULTS, type FarmSummary } from '../../src/observe/farm-ledger.js';
import type { SnapshotMessage } from '../../src/observe/feed.js';
import { REJECT_REASONS } from '../../src/observe/device-store.js';
import { quiesce, startFleet, startPool, startProxy, WAIT } from '../helpers/farm.js';
import { familySum, seriesValue } from '../helpers/metrics-sut.js';
import { until } from '../helpers/wait.js';

/**
 * One source of truth (issue 12): a farm runs through a pool drop, a pool that stops answering (submit
 * timeouts), a failover to a second pool and a block candidate; then the devices stop, the numbers settle,
 * and every place that shows the farm's numbers must say the same, count by count:
 *
 *   - /api/summary (and the sums of /api/devices and /api/pools, /api/connections),
 *   - the sums of /metrics (its text, parsed),
 *   - the websocket feed's snapshot (summary and devices),
 *   - the demo-style summary (commands/demo.ts: demoSummary),
 *   - the core's events counted here independently,
 *   - and the simulated pools' own counts, which are kept by different code (src/sim/pool.ts):
 *       pools' accepted (sum)             == poolAccepted
 *       pools' rejected (sum), by code    == poolRejected, by result (21 stale, 22 duplicate, 23 low_difficulty, ...)
 *       pools' submitted (sum)            == poolAccepted + poolRejected   (shares a pool received and judged)
 *       forwarded - pools' submitted      == poolUnanswered                (shares no pool judged: a stalled pool
 *                                                                           ignores what it receives, a dropped
 *                                                                           connection loses what was in flight)
 *       pools' blocks (sum), block hashes == blockCandidates, their hashes
 *     with forwarded = poolAccepted + poolRejected + poolUnanswered + inFlight and inFlight = 0 at the end.
 *
 * Pool A has a hard network target (no block on it); B, the failover pool, an easy one: its first block
 * candidate stops the devices. The drops happen while A is stalled, so no answer is lost after the pool
 * counted its share (that would be a real disagreement between the two sides, not a counting one).
 */

const DEVICES = 10;

t.test('every surface tells the same numbers after drops, timeouts, a failover and a block', async (t) => {
  const a = await startPool(t, { difficulty: 8e-7, nbits: '1d00ffff' });
  // Network difficulty about 3e-6: a candidate every few seconds at this fleet's 3 kH/s.
  const b = await startPool(t, { difficulty: 8e-7, nbits: '1f050000' });
  const app = await startProxy(t, [a, b], { startDifficulty: 2e-7, submitTimeoutSeconds: 2, failoverAfterAttempts: 2, probeIntervalSeconds: 600, connectTimeoutSeconds: 2 });

  // An independent tally of the core's events.
  const tally = { accepted: 0, rejected: 0, forwarded: 0, accepted_: 0, rejected_: 0, unanswered: 0, blocks: 0, work: 0 };
  const candidateHashes: string[] = [];
  const poolBlockHashes: string[] = [];
  b.on('block', (blk) => poolBlockHashes.push(blk.hash));
  a.on('block', (blk) => poolBlockHashes.push(blk.hash));
  const verdicts: ProxyEventMap['share.upstream'][] = [];
  app.bus.on('share.accepted', (e) => {
    tally.accepted++;
    tally.work += e.difficulty;
  });
  app.bus.on('share.rejected', () => tally.rejected++);
  app.bus.on('share.forwarded', () => tally.forwarded++);
  app.bus.on('share.upstream', (e) => {
    verdicts.push(e);
    if (e.verdict.kind === 'accepted') tally.accepted_++;
    else if (e.verdict.kind === 'rejected') tally.rejected_++;
    else tally.unanswered++;
  });

  const fleet = await startFleet(t, app, { devices: DEVICES, hashrate: 300 });
  await fleet.whenMining(DEVICES, WAIT);
  const ledger = app.ledger;
  await until(() => ledger.summary().poolAccepted >= 5, 'shares accepted by pool A', WAIT);

  // 1. Pool drop with shares in flight: A goes quiet, a share is forwarded, then every connection drops.
  a.stall();
  await until(() => ledger.summary().inFlight > 0, 'a share in flight to the quiet pool', WAIT);
  a.dropAll();
  a.unstall();
  await until(() => ledger.summary().poolUnansweredByCause['connection-lost'] >= 1, 'the in-flight share lost with the connection', WAIT);
  await until(() => app.proxy.isReady && ledger.summary().connectionsUp === 1, 'reconnected to A', WAIT);
  const acceptedBefore = ledger.summary().poolAccepted;
  await until(() => ledger.summary().poolAccepted >= acceptedBefore + 3, 'mining on A again', WAIT);

  // 2. A stops answering: submits time out.
  a.stall();
  await until(() => ledger.summary().poolUnansweredByCause.timeout >= 2, 'two submits timed out', WAIT);

  // 3. A goes away for good: failover to B.
  await a.refuse('reset');
  a.dropAll();
  await until(() => ledger.connections()[0]?.pool === 'poolB' && ledger.connections()[0]?.up === true, 'connection 0 mines on pool B', WAIT);

  // 4. A block candidate on B; the devices stop at the first one.
  app.bus.on('block.candidate', (e) => {
    candidateHashes.push(e.hash);
    fleet.setHashrate(0);
  });
  await until(() => candidateHashes.length >= 1, 'a block candidate', WAIT);

  // 5. Let the numbers settle: every device answered, every forwarded share has its verdict, a feed tick.
  const fleetStats = await quiesce(fleet);
  await app.proxy.drain(5000);
  await until(() => ledger.summary().inFlight === 0, 'no share in flight', WAIT);
  app.feed.tick();

  // ---- read every surface ----------------------------------------------------------------------------
  const ours = ledger.summary();
  const get = async (path: string) => {
    const res = await request(`${app.httpUrl}${path}`);
    t.equal(res.statusCode, 200, `GET ${path}`);
    return res.body;
  };
  const api = (await (await get('/api/summary')).json()) as FarmSummary;
  const apiDevices = ((await (await get('/api/devices')).json()) as { devices: Record<string, number>[] }).devices;
  const apiPools = ((await (await get('/api/pools')).json()) as { pools: (Record<string, number> & { name: string; results: Record<string, number> })[] }).pools;
  const apiConnections = ((await (await get('/api/connections')).json()) as { connections: Record<string, number>[] }).connections;
  const metrics = await (await get('/metrics')).text();
  const snapshot = await feedSnapshot(`${app.httpUrl.replace('http', 'ws')}/ws`);
  const demo = demoSummary(ours, [a.stats(), b.stats()], fleet.stats(), DEVICES, 0);
  const pools = [a.stats().totals, b.stats().totals];
  const poolSum = (k: 'submitted' | 'accepted' | 'rejected' | 'blocks') => pools.reduce((n, p) => n + p[k], 0);

  // The scenario happened.
  t.ok(ours.poolUnansweredByCause['connection-lost'] >= 1, `shares lost with a dropped connection (${ours.poolUnansweredByCause['connection-lost']})`);
  t.ok(ours.poolUnansweredByCause.timeout >= 2, `submits that timed out (${ours.poolUnansweredByCause.timeout})`);
  t.ok(apiPools.find((p) => p.name === 'poolB')!.switchesTo >= 1, 'a failover to pool B');
  t.ok(ours.blockCandidates >= 1, `block candidates (${ours.blockCandidates})`);
  t.ok(ours.poolAccepted > 0 && ours.accepted > ours.forwarded, `shares everywhere (${ours.accepted} accepted, ${ours.forwarded} forwarded)`);

  // The ledger counted the core's events, and its invariant holds.
  t.equal(ours.accepted, tally.accepted, 'accepted = share.accepted events');
  t.equal(ours.rejected, tally.rejected, 'rejected = share.rejected events');
  t.equal(ours.work, tally.work, 'work = sum of credited difficulties');
  t.equal(ours.forwarded, tally.forwarded, 'forwarded = share.forwarded events');
  t.equal(ours.poolAccepted, tally.accepted_, 'poolAccepted = accepted verdicts');
  t.equal(ours.poolRejected, tally.rejected_, 'poolRejected = rejected verdicts');
  t.equal(ours.poolUnanswered, tally.unanswered, 'poolUnanswered = verdicts without an answer');
  t.equal(ours.forwarded, ours.poolAccepted + ours.poolRejected + ours.poolUnanswered + ours.inFlight, 'forwarded = poolAccepted + poolRejected + poolUnanswered + inFlight');
  t.equal(ours.inFlight, 0);
  t.equal(ours.blockCandidates, candidateHashes.length);
  t.equal(
    ours.poolUnanswered,
    NO_VERDICT_CAUSES.reduce((n, c) => n + ours.poolUnansweredByCause[c], 0),
    'poolUnanswered = the sum of its causes',
  );

  // The simulated pools agree (their own code, their own counts).
  t.equal(poolSum('accepted'), ours.poolAccepted, "pools' accepted == poolAccepted");
  t.equal(poolSum('rejected'), ours.poolRejected, "pools' rejected == poolRejected");
  t.equal(poolSum('submitted'), ours.poolAccepted + ours.poolRejected, "pools' submitted == the shares that got a verdict");
  t.equal(ours.forwarded - poolSum('submitted'), ours.poolUnanswered, 'forwarded - pools\' submitted == poolUnanswered');
  t.equal(poolSum('blocks'), ours.blockCandidates, "pools' blocks == blockCandidates");
  t.same([...poolBlockHashes].sort(), [...candidateHashes].sort(), 'the same block hashes on both sides');
  for (const [name, sim] of [['poolA', a], ['poolB', b]] as const) {
    const p = apiPools.find((x) => x.name === name)!;
    const s = sim.stats().totals;
    t.equal(p.poolAccepted, s.accepted, `${name}: accepted`);
    t.equal(p.poolRejected, s.rejected, `${name}: rejected`);
    const byCode: Record<number, number> = {};
    for (const v of verdicts) if (v.pool === name && v.verdict.kind === 'rejected') byCode[v.verdict.code] = (byCode[v.verdict.code] ?? 0) + 1;
    t.same(byCode, s.rejectedByCode, `${name}: rejections by the pool's code`);
    t.equal(p.results.stale, s.rejectedByCode[21] ?? 0, `${name}: stale = code 21`);
  }

  // /api/summary, the feed and the demo summary: the same numbers, count by count.
  const COUNTS = ['accepted', 'rejected', 'work', 'forwarded', 'poolAccepted', 'poolRejected', 'poolUnanswered', 'inFlight', 'blockCandidates', 'devicesOnline', 'devicesOffline', 'sessionsOpen'] as const;
  for (const k of COUNTS) {
    t.equal(api[k], ours[k], `/api/summary ${k}`);
    t.equal(snapshot.summary[k], ours[k], `feed ${k}`);
  }
  t.same(api.rejectedByReason, ours.rejectedByReason, '/api/summary rejectedByReason');
  t.same(snapshot.summary.rejectedByReason, ours.rejectedByReason, 'feed rejectedByReason');
  t.same(api.poolUnansweredByCause, ours.poolUnansweredByCause, '/api/summary poolUnansweredByCause');
  t.same(snapshot.summary.poolUnansweredByCause, ours.poolUnansweredByCause, 'feed poolUnansweredByCause');
  for (const k of ['accepted', 'forwarded', 'poolAccepted', 'poolRejected', 'poolUnanswered', 'inFlight', 'blockCandidates'] as const) t.equal(demo[k], ours[k], `demo summary ${k}`);
  t.same(demo.rejected, ours.rejectedByReason, 'demo summary rejected by reason');
  const poolRejectedByCode: Record<string, number> = {};
  for (const p of pools) for (const [code, n] of Object.entries(p.rejectedByCode)) poolRejectedByCode[code] = (poolRejectedByCode[code] ?? 0) + n;
  t.same(
    demo.pool,
    { submitted: poolSum('submitted'), accepted: poolSum('accepted'), rejected: poolSum('rejected'), rejectedByCode: poolRejectedByCode, blocks: poolSum('blocks') },
    "demo summary: the pools' own counts",
  );

  // Per device (API and feed) and per pool and connection add up to the totals.
  const sumOf = (rows: Record<string, number>[], k: string) => rows.reduce((n, r) => n + (r[k] ?? 0), 0);
  const feedDevices = snapshot.devices as unknown as Record<string, number>[];
  t.equal(apiDevices.length, DEVICES);
  for (const k of ['accepted', 'rejected', 'forwarded', 'poolAccepted', 'poolRejected', 'poolUnanswered', 'blockCandidates'] as const) {
    t.equal(sumOf(apiDevices, k), ours[k], `sum of /api/devices ${k}`);
    t.equal(sumOf(feedDevices, k), ours[k], `sum of the feed's devices ${k}`);
  }
  // Work is a sum of floating-point difficulties: added per device in another order, it may differ in the last bits.
  const near = (x: number, y: number) => Math.abs(x - y) <= Math.abs(y) * 1e-12;
  t.ok(near(sumOf(apiDevices, 'work'), ours.work), `sum of /api/devices work (${sumOf(apiDevices, 'work')} vs ${ours.work})`);
  // Per owner (the feed's owners, as /api/owners gives them): credited at the time of each share, they add up too.
  const feedOwners = snapshot.owners as unknown as Record<string, number>[];
  for (const k of ['accepted', 'blockCandidates'] as const) t.equal(sumOf(feedOwners, k), ours[k], `sum of the feed's owners ${k}`);
  t.ok(near(sumOf(feedOwners, 'work'), ours.work), `sum of the feed's owners work (${sumOf(feedOwners, 'work')} vs ${ours.work})`);
  t.equal(sumOf(feedOwners, 'devices'), DEVICES, "every device has one owner");
  for (const k of ['forwarded', 'poolAccepted', 'poolRejected', 'poolUnanswered', 'inFlight'] as const) {
    t.equal(sumOf(apiPools, k), ours[k], `sum of /api/pools ${k}`);
    t.equal(sumOf(apiConnections, k), ours[k], `sum of /api/connections ${k}`);
  }

  // /metrics, parsed and summed.
  const m = (name: string, keep?: (l: Record<string, string>) => boolean) => familySum(metrics, `dash_proxy_${name}`, keep);
  const REJECTIONS = new Set(['stale', 'duplicate', 'low_difficulty', 'unauthorized', 'other']);
  const UNANSWERED: Record<string, keyof FarmSummary['poolUnansweredByCause']> = { timeout: 'timeout', connection_lost: 'connection-lost', no_pool: 'no-pool' };
  t.equal(m('shares_total', (l) => l.result === 'accepted'), ours.accepted, '/metrics shares_total{result="accepted"}');
  t.equal(m('shares_total', (l) => l.result !== 'accepted'), ours.rejected, '/metrics shares_total, the rejections');
  for (const r of REJECT_REASONS) t.equal(m('shares_total', (l) => l.result === r), ours.rejectedByReason[r] ?? 0, `/metrics shares_total{result="${r}"}`);
  t.equal(seriesValue(metrics, 'dash_proxy_work_total'), ours.work, '/metrics work_total');
  t.equal(seriesValue(metrics, 'dash_proxy_forwarded_shares_total'), ours.forwarded, '/metrics forwarded_shares_total');
  t.equal(seriesValue(metrics, 'dash_proxy_upstream_in_flight_shares'), ours.inFlight, '/metrics upstream_in_flight_shares');
  t.equal(seriesValue(metrics, 'dash_proxy_block_candidates_total'), ours.blockCandidates, '/metrics block_candidates_total');
  t.equal(seriesValue(metrics, 'dash_proxy_devices_connected'), ours.devicesOnline);
  t.equal(seriesValue(metrics, 'dash_proxy_sessions_open'), ours.sessionsOpen);
  for (const family of ['upstream_shares_total', 'upstream_connection_shares_total']) {
    t.equal(m(family, (l) => l.result === 'accepted'), ours.poolAccepted, `/metrics ${family}: accepted`);
    t.equal(m(family, (l) => REJECTIONS.has(l.result!)), ours.poolRejected, `/metrics ${family}: the pool's rejections`);
    for (const [result, cause] of Object.entries(UNANSWERED)) t.equal(m(family, (l) => l.result === result), ours.poolUnansweredByCause[cause], `/metrics ${family}{result="${result}"}`);
    t.equal(m(family), ours.forwarded - ours.inFlight, `/metrics ${family}: every verdict once`);
  }
  t.same(new Set(POOL_RESULTS), new Set([...REJECTIONS, ...Object.keys(UNANSWERED), 'accepted']), 'the result labels are exactly these');
  t.equal(m('device_shares_total', (l) => l.result === 'accepted'), ours.accepted, '/metrics sum of device_shares_total{result="accepted"}');
  t.equal(m('device_shares_total', (l) => l.result !== 'accepted'), ours.rejected, '/metrics sum of device_shares_total rejections');
  t.ok(near(m('device_work_total'), ours.work), `/metrics sum of device_work_total (${m('device_work_total')} vs ${ours.work})`);
  t.equal(m('device_upstream_shares_total', (l) => l.result === 'accepted'), ours.poolAccepted, '/metrics sum of device_upstream_shares_total{result="accepted"}');
  t.equal(m('device_upstream_shares_total', (l) => l.result === 'rejected'), ours.poolRejected, '/metrics sum of device_upstream_shares_total{result="rejected"}');
  t.equal(m('device_upstream_shares_total', (l) => l.result === 'unanswered'), ours.poolUnanswered, '/metrics sum of device_upstream_shares_total{result="unanswered"}');
  t.equal(m('upstream_switches_total', (l) => l.to === 'poolB'), apiPools.find((p) => p.name === 'poolB')!.switchesTo, '/metrics upstream_switches_total');
  t.equal(seriesValue(metrics, 'dash_proxy_upstream_connection_active{connection="0",route="default",target="default",pool="poolB"}'), 1, '/metrics: connection 0 mines on pool B');

  // The fleet heard what the proxy said: accepted only for shares valid locally and not refused or unanswered upstream.
  t.equal(fleetStats.totals.accepted, ours.accepted - ours.poolRejected - ours.poolUnanswered, 'devices heard "accepted" exactly for accepted shares the pool did not refuse or leave unanswered');
  t.equal(fleetStats.totals.rejected, ours.rejected + ours.poolRejected + ours.poolUnanswered, 'and an error for every other');
});

/** The snapshot a new feed client receives. */
async function feedSnapshot(url: string): Promise<SnapshotMessage> {
  const ws = new WebSocket(url);
  try {
    return await new Promise<SnapshotMessage>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no snapshot from the feed within 10 s')), 10_000);
      ws.once('error', reject);
      ws.on('message', (data) => {
        const msg = JSON.parse(String(data)) as SnapshotMessage;
        if (msg.type !== 'snapshot') return;
        clearTimeout(timer);
        resolve(msg);
      });
    });
  } finally {
    ws.terminate();
  }
}
