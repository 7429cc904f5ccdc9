import path from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { quiesce, startFleet, startPool, startProxy, WAIT } from '../helpers/farm.js';
import { until } from '../helpers/wait.js';
import { tempDir } from './ledger-kit.js';

/** The books over the running proxy's API: after a farm run, the report equals the pool's counts and verify passes. */
t.test('a farm run: /api/ledger/report equals the pool\'s own counts, verify passes, recording needs a token', async (t) => {
  const file = path.join(tempDir(t), 'books.sqlite');
  const pool = await startPool(t, { difficulty: 1e-7 });
  const app = await startProxy(t, [pool], { ledgerPath: file, owners: { alice: { workers: ['sim.1', 'sim.2'], feePercent: 5 } } });
  const fleet = await startFleet(t, app, { devices: 6 });
  await until(() => pool.stats().totals.accepted >= 30, '30 shares accepted by the pool', WAIT);
  await quiesce(fleet);
  await until(() => app.books!.pending === 0 && app.books!.awaitingVerdict === 0, 'the books caught up', WAIT);
  await app.books!.idle();

  const get = async (p: string) => {
    const res = await request(`${app.httpUrl}${p}`);
    return { status: res.statusCode, json: (await res.body.json()) as any };
  };
  const totals = pool.stats().totals;
  const report = await get('/api/ledger/report?from=2000-01-01&to=2100-01-01&by=owner');
  t.equal(report.status, 200);
  t.same(report.json.rows.map((r: { owner: string }) => r.owner), ['alice', 'farm']);
  t.equal(report.json.total.accepted, totals.accepted, "pool-accepted shares: the pool's own count");
  t.equal(report.json.total.rejected, totals.rejected, "rejected: the pool's own count");
  t.equal(report.json.total.shares, totals.submitted, 'every share the pool received');
  t.same((await get('/api/ledger/verify')).json.problems, [], 'per-minute totals equal the share rows');
  const post = await request(`${app.httpUrl}/api/ledger/payouts`, { method: 'POST', body: JSON.stringify({ amount: '1', from: '2000-01-01', to: '2100-01-01' }) });
  t.equal(post.statusCode, 403, 'no http.token configured: recording refused');
  await post.body.text();
});
