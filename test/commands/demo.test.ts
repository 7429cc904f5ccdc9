import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { request } from 'undici';
import type { DemoSummary } from '../../src/commands/demo.js';
import { runCli } from '../helpers/cli-run.js';
import { sleep, until } from '../helpers/wait.js';

/**
 * `dash-farm-proxy demo` as a new user runs it (from source, free ports): it prints where everything is, the
 * dashboard and the API answer while it runs, progress appears, it stops by itself after --duration with exit 0,
 * and its last stdout line is a summary whose books balance: honest shares accepted, the deliberately bad ones
 * rejected, every forwarded share answered by the pool. Its books (kept here with --keep-books) hold for each
 * demo owner exactly what the summary says, and their pool-accepted shares are the simulated pool's count.
 */
t.test('demo: addresses, live dashboard and API, progress, a balanced summary, exit 0', async (t) => {
  // A pool target easier than the devices' own: every accepted share goes to the pool, so each owner has some.
  const run = runCli(t, ['demo', '--devices', '6', '--duration', '14s', '--port', '0', '--http-port', '0', '--misbehave', '0.4', '--progress', '2s', '--pool-difficulty', '1e-7', '--keep-books']);
  await until(() => /dashboard\s+http:\/\/127\.0\.0\.1:\d+\//.test(run.stderr), () => `the dashboard address on stderr (got: ${run.stderr})`, 60_000);
  await until(() => /books\s+\S+\.sqlite/.test(run.stderr), () => `the books file on stderr (got: ${run.stderr})`, 10_000);
  const booksFile = /books\s+(\S+\.sqlite)/.exec(run.stderr)![1]!;
  t.teardown(() => rmSync(path.dirname(booksFile), { recursive: true, force: true }));
  t.match(run.stderr, /owners\s+alice \(rack1\.\*, fee 2%\), bob \(bob\.\*, fee 0\), farm \(the rest\)/, 'the demo owners');
  const base = /dashboard\s+(http:\/\/127\.0\.0\.1:\d+)\//.exec(run.stderr)![1]!;
  t.match(run.stderr, /proxy \(devices\)\s+stratum\+tcp:\/\/127\.0\.0\.1:\d+/, 'the Stratum address devices would use');

  const page = await request(`${base}/`);
  t.equal(page.statusCode, 200, 'the dashboard page is served');
  t.match(String(page.headers['content-type']), /text\/html/);
  t.match(await page.body.text(), /<html/i);

  // The API as a script would poll it, until the whole fleet is in (bounded).
  let online = -1;
  for (const end = Date.now() + 30_000; online !== 6 && Date.now() < end; ) {
    const res = await request(`${base}/api/summary`);
    t.equal(res.statusCode, 200);
    online = ((await res.body.json()) as { devicesOnline: number }).devicesOnline;
    if (online !== 6) await sleep(250);
  }
  t.equal(online, 6, '/api/summary shows the 6 devices online');

  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([run.exit, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 60_000)))]);
  clearTimeout(timer);
  t.equal(code, 0, 'stops by itself after --duration, exit 0');
  t.match(run.stderr, /t=\d+s\s+devices \d+\/6 online/, 'progress lines while it runs');

  const summary = JSON.parse(run.stdout[run.stdout.length - 1]!) as DemoSummary;
  t.equal(summary.devices, 6);
  t.ok(summary.accepted > 0, `shares accepted (${summary.accepted})`);
  t.ok(summary.fleet.deliberatelyBad > 0, `the fleet sent bad shares on purpose (${summary.fleet.deliberatelyBad})`);
  t.ok(summary.fleet.rejected > 0, 'and the proxy rejected them');
  t.equal(summary.fleet.validRejected, 0, 'no honest share was rejected');
  t.ok(summary.fleet.rejected <= summary.fleet.deliberatelyBad, 'rejections are the bad shares only');
  const rejectedByReason = Object.values(summary.rejected).reduce((a, b) => a + b, 0);
  t.ok(rejectedByReason >= summary.fleet.rejected, 'the proxy counted every rejection the devices heard');
  t.equal(summary.poolAccepted, summary.pool.accepted, 'the pool accepted exactly what the proxy says it did');
  t.equal(summary.poolRejected, 0);
  t.equal(summary.pool.rejected, 0, 'the pool rejected nothing the proxy forwarded');

  // The books, from the file the demo kept: the summary's per-owner numbers are the ledger's report by owner
  // (as `ledger report` prints it) and the per-minute rows'; the pool-accepted shares are the simulated pool's.
  const books = summary.books!;
  t.ok(books && !('error' in books), `the books were read (${JSON.stringify(books)})`);
  if (!books || 'error' in books) return;
  t.equal(books.file, booksFile, 'the file the header named');
  t.equal(books.kept, true);
  t.ok(existsSync(booksFile), '--keep-books: still there after exit');
  t.same(books.owners.map((o) => o.owner), ['alice', 'bob', 'farm'], 'every demo owner is named');
  t.same(books.owners.map((o) => o.feePercent), [2, 0, 0]);
  t.equal(books.poolAccepted, summary.pool.accepted, "pool-accepted shares in the books = the simulated pool's accepted count");
  t.ok(books.poolAccepted > 0, `shares accepted by the pool (${books.poolAccepted})`);
  t.equal(books.owners.reduce((n, o) => n + o.poolAccepted, 0), books.poolAccepted, 'per-owner pool-accepted shares sum to the total');
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
  t.ok(close(books.owners.reduce((n, o) => n + o.work, 0), books.work), 'per-owner work sums to the total');
  t.ok(close(books.owners.reduce((n, o) => n + o.workShare, 0), 1), 'the work shares sum to 1');

  const config = path.join(path.dirname(booksFile), 'proxy.json');
  writeFileSync(config, JSON.stringify({ pools: [{ url: 'stratum+tcp://127.0.0.1:1', user: 'X.w' }], ledger: { path: booksFile } }));
  const report = runCli(t, ['ledger', 'report', '--config', config, '--from', '2000-01-01', '--to', '2100-01-01', '--by', 'owner', '--format', 'json']);
  t.equal(await report.exit, 0, `ledger report: ${report.stderr}`);
  const rows = (JSON.parse(report.stdout.join('\n')) as { rows: { owner: string; shares: number; accepted: number; rejected: number; unanswered: number; acceptedWork: number }[] }).rows;
  t.same(
    books.owners.filter((o) => o.shares > 0).map((o) => ({ owner: o.owner, shares: o.shares, accepted: o.poolAccepted, rejected: o.poolRejected, unanswered: o.poolUnanswered, acceptedWork: o.work })),
    rows.map(({ owner, shares, accepted, rejected, unanswered, acceptedWork }) => ({ owner, shares, accepted, rejected, unanswered, acceptedWork })),
    "the summary's owners are `ledger report --by owner`'s rows",
  );
  const verify = runCli(t, ['ledger', 'verify', '--config', config]);
  t.equal(await verify.exit, 0, `ledger verify passes: ${verify.stdout.join(' ')} ${verify.stderr}`);

  const db = new Database(booksFile, { readonly: true });
  t.teardown(() => db.close());
  const minutes = db.prepare('SELECT owner, SUM(accepted) AS accepted, SUM(rejected) AS rejected, SUM(unanswered) AS unanswered, SUM(accepted_work) AS work FROM worker_minutes GROUP BY owner').all() as {
    owner: string;
    accepted: number;
    rejected: number;
    unanswered: number;
    work: number;
  }[];
  for (const o of books.owners) {
    const m = minutes.find((x) => x.owner === o.owner) ?? { accepted: 0, rejected: 0, unanswered: 0, work: 0 };
    t.same([o.poolAccepted, o.poolRejected, o.poolUnanswered], [m.accepted, m.rejected, m.unanswered], `${o.owner}: the per-minute rows' verdicts`);
    t.ok(close(o.work, m.work), `${o.owner}: the per-minute rows' work (${o.work} vs ${m.work})`);
  }
  const workers = db.prepare('SELECT DISTINCT worker, owner FROM shares').all() as { worker: string; owner: string }[];
  t.ok(workers.length > 0);
  for (const w of workers) {
    const expected = w.worker.startsWith('rack1.') ? 'alice' : w.worker.startsWith('bob.') ? 'bob' : 'farm';
    t.equal(w.owner, expected, `${w.worker} is ${expected}'s`);
  }
});

t.test('demo: the books are a temporary file, removed at exit', async (t) => {
  const run = runCli(t, ['demo', '--devices', '1', '--duration', '2s', '--port', '0', '--http-port', '0', '--progress', '1s']);
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([run.exit, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 60_000)))]);
  clearTimeout(timer);
  t.equal(code, 0);
  const booksFile = /books\s+(\S+\.sqlite) \(removed at exit/.exec(run.stderr)?.[1];
  t.ok(booksFile, 'the header names the temporary file');
  t.notOk(existsSync(path.dirname(booksFile!)), 'the file and its folder are gone');
  const summary = JSON.parse(run.stdout[run.stdout.length - 1]!) as DemoSummary;
  t.match(summary.books, { file: booksFile, kept: false, owners: [{ owner: 'alice' }, { owner: 'bob' }, { owner: 'farm' }] });
});
