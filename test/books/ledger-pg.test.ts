import { writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { EventBus } from '../../src/core/events.js';
import { createProxyApp } from '../../src/app.js';
import { buildConfig } from '../../src/config.js';
import { silentLogger } from '../../src/core/log.js';
import { LEDGER_SCHEMA_VERSION, MIGRATIONS } from '../../src/books/ledger-schema.js';
import { PgLedgerStore } from '../../src/books/ledger-pg.js';
import { PgLedgerReader } from '../../src/books/ledger-pg-reader.js';
import { recordPayout, type PayoutInput } from '../../src/books/ledger-payout.js';
import { REPORT_GROUPS } from '../../src/books/ledger-reader.js';
import { SqliteLedgerReader } from '../../src/books/ledger-sqlite-reader.js';
import { payoutRules } from '../../src/books/open-reader.js';
import { SqliteLedgerStore } from '../../src/books/ledger-sqlite.js';
import { LedgerRefusedError, type ShareRecord } from '../../src/books/ledger-store.js';
import { LedgerWriter } from '../../src/books/ledger-writer.js';
import { mainCaptured } from '../helpers/cli-main.js';
import { hasher } from '../helpers/share-kit.js';
import { quiesce, startFleet, startPool, startProxy, WAIT } from '../helpers/farm.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { until } from '../helpers/wait.js';
import { ACCEPTED, expectFaultHeld, faultRig, ManualTimers, readLedger, ShareFeeder, tempDir } from './ledger-kit.js';
import { readPgLedger } from './ledger-backends.js';

/**
 * The PostgreSQL store against a real server (Debian's postgresql, started by the test on a loopback port in
 * a temporary directory; one cluster for this file, a new database per test): the same migrations, rows,
 * dedupe and refusals as the SQLite store, its faults (the server stopped, read-only, locked), and the
 * issue's proof: two proxies writing one ledger give the same totals as one proxy with both fleets.
 */

const server = await startPostgres(t);
if ('missing' in server) {
  t.test('the PostgreSQL store against a real server', { skip: server.missing }, () => {});
} else {
  run(server);
}

function run(pgs: TestPostgres) {
  let dbs = 0;
  const newDb = () => pgs.createDatabase(`books${++dbs}`);
  const runRow = { runId: 'r1', startedAt: 1_000, pid: 1, host: 'h', version: 'v' };

  t.test('an empty database is migrated to the current version, once, even with several proxies starting at once', async (t) => {
    const url = await newDb();
    const stores = Array.from({ length: 4 }, () => new PgLedgerStore({ url }));
    await Promise.all(stores.map((s) => s.open()));
    await Promise.all(stores.map((s) => s.close()));
    const rows = await readPgLedger(url);
    t.same(rows.versions, MIGRATIONS.map((m) => ({ version: m.version, description: m.description })), 'each migration applied once');
    t.equal(rows.versions.at(-1)!.version, LEDGER_SCHEMA_VERSION);
    // The same tables and columns, in the same order, as an SQLite file the SQLite store made.
    const columns = await pgs.sql(url.split('/').pop()!, `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`);
    const file = path.join(tempDir(t), 'books.sqlite');
    const sqlite = new SqliteLedgerStore({ path: file });
    await sqlite.open();
    await sqlite.close();
    const db = new Database(file, { readonly: true });
    const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as { name: string }[]).map((r) => r.name);
    const sqliteColumns = tables.flatMap((table) => (db.prepare(`SELECT name FROM pragma_table_info(?)`).all(table) as { name: string }[]).map((c) => ({ table_name: table, column_name: c.name })));
    db.close();
    t.ok(tables.includes('shares') && tables.includes('worker_minutes'));
    t.same(columns, sqliteColumns, 'the same tables and columns as the SQLite file');
    const again = new PgLedgerStore({ url });
    await again.open();
    await again.close();
    t.equal((await readPgLedger(url)).versions.length, MIGRATIONS.length, 'opening again changes nothing');
  });

  t.test('the location never shows the password', async (t) => {
    const store = new PgLedgerStore({ url: `postgres://books:s3cret-pass@127.0.0.1:${pgs.port}/nowhere?sslmode=disable` });
    t.equal(store.location, `postgres://books:***@127.0.0.1:${pgs.port}/nowhere?sslmode=disable`);
    const err = await store.open().then(() => null, (e: unknown) => e as Error);
    await store.close();
    t.ok(err, 'a database that does not exist is a fault');
    t.notMatch(err!.message, /s3cret/, 'not in the error either');
    // Nor in what the writer logs about a server it cannot reach.
    const rig = faultRig(new PgLedgerStore({ url: 'postgres://books:s3cret-pass@127.0.0.1:1/ledger' }));
    await rig.writer.start();
    t.equal(rig.writer.fault, 'unreachable');
    await rig.writer.stop();
    t.ok(rig.log.lines.length >= 2, 'the fault and the stop are logged');
    t.notMatch(JSON.stringify(rig.log.lines), /s3cret/, 'no log line has the password');
    t.match(JSON.stringify(rig.log.lines), /postgres:\/\/books:\*\*\*@127\.0\.0\.1:1\/ledger/, 'the URL is named, masked');
  });

  t.test('refused, with the database named, and left untouched: a newer schema, foreign tables, a schema_version of another application', async (t) => {
    const cases: { setup: string[]; why: RegExp }[] = [
      {
        setup: [], // filled below: a ledger of ours, then a version from the future
        why: new RegExp(`schema version ${LEDGER_SCHEMA_VERSION + 98} is newer than this program knows \\(${LEDGER_SCHEMA_VERSION}\\)`),
      },
      { setup: ['CREATE TABLE customers (id INT PRIMARY KEY, name TEXT)'], why: /not a dash-farm-proxy ledger: it has tables \(customers\) and no schema_version/ },
      {
        setup: ['CREATE TABLE schema_version (version BIGINT PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)', 'CREATE TABLE accounts (id INT)'],
        why: /not a dash-farm-proxy ledger: its schema_version table belongs to another application/,
      },
    ];
    for (const [i, c] of cases.entries()) {
      const url = await newDb();
      const db = url.split('/').pop()!;
      if (i === 0) {
        const ours = new PgLedgerStore({ url });
        await ours.open();
        await ours.close();
        await pgs.sql(db, 'INSERT INTO schema_version VALUES ($1, $2, $3)', [LEDGER_SCHEMA_VERSION + 98, 'from the future', 0]);
      }
      for (const sql of c.setup) await pgs.sql(db, sql);
      const before = await pgs.sql(db, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`);
      const store = new PgLedgerStore({ url });
      const err = await store.open().then(() => null, (e: unknown) => e);
      await store.close();
      t.ok(err instanceof LedgerRefusedError, `case ${i}: refused`);
      t.match((err as Error).message, new RegExp(`^ledger postgres://postgres@127\\.0\\.0\\.1:${pgs.port}/${db}: `), `case ${i}: the message names the database`);
      t.match((err as Error).message, c.why);
      t.same(await pgs.sql(db, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`), before, `case ${i}: no table added`);
      const writer = new LedgerWriter({ store: new PgLedgerStore({ url }), bus: new EventBus() });
      await t.rejects(writer.start(), LedgerRefusedError, `case ${i}: the writer's start rejects (a configuration error, not a fault)`);
    }
  });

  t.test('a reader never creates books: an empty database is refused and left empty', async (t) => {
    const url = await newDb();
    const reader = new PgLedgerReader(url);
    const err = await reader.report({ from: 0, to: 1 }, 'owner').then(() => null, (e: unknown) => e);
    await reader.close();
    t.ok(err instanceof LedgerRefusedError);
    t.match((err as Error).message, /no books in this database \(the proxy creates them when it starts with ledger\.url set\)/);
    t.same(await pgs.sql(url.split('/').pop()!, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`), [], 'still empty');
  });

  t.test('a share written twice (a retried batch, or twice in one batch) is one row and counted once in its minute', async (t) => {
    const url = await newDb();
    const store = new PgLedgerStore({ url });
    const share: ShareRecord = {
      kind: 'share', shareId: 7, at: 120_500, answeredAt: 120_530, worker: 'rig', owner: 'farm', route: 'default', target: 'default', pool: 'main', connection: 0, jobId: 'j', creditedDifficulty: 4,
      shareDifficulty: 5, networkDifficulty: 1_000, verdict: 'accepted', rejectCode: null, reason: null, noAnswerCause: null, latencyMs: 30, blockHash: null,
    };
    await store.write(runRow, [share], 2_000);
    await store.write(runRow, [share, { ...share, shareId: 8 }, { ...share, shareId: 8 }], 3_000);
    await store.close();
    const rows = await readPgLedger(url);
    t.same(rows.shares.map((s) => s.share_id), [7, 8]);
    t.match(rows.minutes, [{ minute: 120_000, worker: 'rig', accepted: 2, accepted_work: 8 }]);
    t.equal(rows.minutes.length, 1);
    t.match(rows.runs, [{ run_id: 'r1', started_at: 1_000, last_seen_at: 3_000, stopped_at: null }]);
  });

  t.test('the same events give the same rows in PostgreSQL as in SQLite (shares, minutes, switches, the run), text with quotes and all', async (t) => {
    const url = await newDb();
    const file = path.join(tempDir(t), 'books.sqlite');
    const timers = new ManualTimers();
    const bus = new EventBus();
    const ownerOf = (w: string) => w.split('.')[0]!;
    const writers = [new LedgerWriter({ store: new SqliteLedgerStore({ path: file }), bus, timers, ownerOf }), new LedgerWriter({ store: new PgLedgerStore({ url }), bus, timers, ownerOf })];
    timers.afterEach = () => Promise.all(writers.map((w) => w.idle()));
    for (const w of writers) await w.start();
    const feed = new ShareFeeder(bus);
    let seed = 11;
    const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const T = timers.now();
    for (let i = 0; i < 3_000; i++) {
      const r = rand();
      const verdict =
        r < 0.7 ? ACCEPTED : r < 0.8 ? { kind: 'rejected' as const, code: 21, reason: `Stale "job" \\ 'x' {${i}}` } : r < 0.85 ? { kind: 'unanswered' as const, cause: 'connection-lost' as const, reason: 'gone, NULL' } : null;
      feed.share({
        worker: `o${Math.floor(rand() * 3)}.rig${Math.floor(rand() * 4)}`,
        at: T + i * 100,
        difficulty: 2 ** Math.floor(rand() * 12) * 1.5,
        shareDifficulty: rand() * 1e9,
        networkDifficulty: 1e6 + (i % 13) * 1_000.5,
        jobId: `j,${i % 7}`,
        blockHash: i % 997 === 0 ? `0000${i}` : null,
        verdict,
      });
      if (i === 1_500) bus.emit('pool.switch', { route: 'default', target: 'default', connection: 1, from: 'main', to: 'backup "b"', reason: 'main down', at: timers.now() });
      if (i % 40 === 0) await timers.advance(100);
    }
    await timers.advance(100);
    for (const w of writers) await w.stop('test over');
    const sqlite = readLedger(file);
    const postgres = await readPgLedger(url);
    const anonymous = (rows: Record<string, unknown>[]) => rows.map(({ run_id: _r, ...rest }) => rest);
    t.ok(sqlite.shares.length > 2_000, `${sqlite.shares.length} shares`);
    t.same(anonymous(postgres.shares), anonymous(sqlite.shares), 'share rows');
    t.same(postgres.minutes, sqlite.minutes, 'per-minute rows');
    t.same(anonymous(postgres.switches), anonymous(sqlite.switches), 'pool switches');
    t.same(postgres.versions, sqlite.versions, 'schema versions');
    t.same(
      postgres.runs.map(({ run_id: _r, ...rest }) => rest),
      sqlite.runs.map(({ run_id: _r, ...rest }) => rest),
      'the run rows (start, last commit, stop)',
    );

    // Read back the same way: reports, owners, work, PPLNS windows, payouts recorded and their splits, verify.
    const fromSqlite = new SqliteLedgerReader(file);
    const fromPg = new PgLedgerReader(url);
    t.teardown(() => Promise.all([fromSqlite.close(), fromPg.close()]));
    const range = { from: T - 60_000, to: T + 400_000 };
    for (const by of REPORT_GROUPS) t.same(await fromPg.report(range, by), await fromSqlite.report(range, by), `report by ${by}`);
    t.same(await fromPg.report({ from: T + 50_000, to: T + 150_000 }, 'worker', 'o1'), await fromSqlite.report({ from: T + 50_000, to: T + 150_000 }, 'worker', 'o1'), "one owner's workers in part of the range");
    t.same(await fromPg.owners(), ['o0', 'o1', 'o2']);
    t.same(await fromPg.acceptedWork(range), await fromSqlite.acceptedWork(range), 'the pool-accepted work, share by share');
    t.equal(await fromPg.windowStart(T + 200_000, 20_000), await fromSqlite.windowStart(T + 200_000, 20_000), 'a PPLNS window start');
    const rules = payoutRules(buildConfig({ pools: [{ url: 'stratum+tcp://127.0.0.1:1', user: 'X.w' }], owners: { o1: { workers: ['o1.*'], feePercent: 2 } }, books: { pplnsWindow: 20_000 } }));
    const inputs: PayoutInput[] = [
      { amount: 150_000_001n, method: 'prop', period: range, blocks: null, blockReward: null, note: 'week 49' },
      { amount: 99_999_999n, method: 'pplns', period: range, blocks: [{ at: T + 100_000 }, { at: T + 250_000 }], blockReward: null, note: null },
      { amount: 7n, method: 'pps', period: { from: T, to: T + 100_000 }, blocks: null, blockReward: 180_000_000n, note: "o'brien \"quoted\"" },
    ];
    for (const input of inputs) {
      t.same(await recordPayout(fromPg, input, rules, T + 1), await recordPayout(fromSqlite, input, rules, T + 1), `a ${input.method} payout recorded and split the same`);
    }
    t.same(await fromPg.payouts(), await fromSqlite.payouts(), 'the payouts read back');
    t.same(await fromPg.payouts(undefined, 'o1'), await fromSqlite.payouts(undefined, 'o1'));
    t.same(await fromPg.verify(), [], 'verify passes on PostgreSQL');
    t.same(await fromSqlite.verify(), [], 'and on SQLite');
  });

  /** A writer on its own database (faultRig: a manual clock, synthetic shares, a recording logger). */
  async function setup(opts: { lockTimeoutMs?: number } = {}) {
    const url = await newDb();
    return { url, db: url.split('/').pop()!, ...faultRig(new PgLedgerStore({ url, ...opts })) };
  }

  t.test('unreachable: the server stops while the proxy runs, then starts again: the writer buffers and catches up, nothing lost or doubled', async (t) => {
    const s = await setup();
    await s.writer.start();
    s.shares(10);
    await s.timers.advance(100);
    t.equal((await readPgLedger(s.url)).shares.length, 10);
    pgs.stop();
    let restarted = false;
    t.teardown(() => {
      if (!restarted) pgs.start();
    });
    await expectFaultHeld(t, s, { cause: 'unreachable', first: 200, rounds: 3, each: 5 });
    pgs.start();
    restarted = true;
    await s.timers.advance(1_000);
    t.equal(s.writer.fault, null);
    t.equal(s.writer.pending, 0, 'caught up');
    t.ok(s.log.lines.some((l) => /caught up/.test(l.msg) && l.fields.after === 'unreachable'), 'says it caught up');
    await s.writer.stop();
    const rows = await readPgLedger(s.url);
    t.equal(rows.shares.length, 225, 'every share once');
    t.equal(new Set(rows.shares.map((r) => r.share_id)).size, 225);
    t.equal(rows.minutes.reduce((n, m) => n + (m.accepted as number), 0), 225, 'counted once in the minutes');
    t.equal(rows.minutes.reduce((n, m) => n + (m.local_shares as number), 0), 225);
    t.equal(s.writer.dropped, 0);
  });

  t.test('unreachable: a server that accepts the connection and never answers is a fault after the connect timeout, not a hang', async (t) => {
    const { createServer } = await import('node:net');
    const held: import('node:net').Socket[] = [];
    const silent = createServer((sock) => held.push(sock));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    t.teardown(() => {
      for (const sock of held) sock.destroy();
      silent.close();
    });
    const port = (silent.address() as { port: number }).port;
    const rig = faultRig(new PgLedgerStore({ url: `postgres://books@127.0.0.1:${port}/ledger`, connectTimeoutMs: 300 }));
    const started = Date.now();
    await rig.writer.start();
    t.equal(rig.writer.fault, 'unreachable');
    t.ok(Date.now() - started < 5_000, `given up after ${Date.now() - started} ms`);
    t.ok(held.length >= 1, 'it did connect');
    await rig.writer.stop();
  });

  t.test('unreachable at start: the server is down when the proxy starts; mining goes on and the books start when it is up', async (t) => {
    const s = await setup();
    pgs.stop();
    let restarted = false;
    t.teardown(() => {
      if (!restarted) pgs.start();
    });
    await s.writer.start();
    t.equal(s.writer.fault, 'unreachable', 'a fault, not a refusal');
    s.shares(3);
    await s.timers.advance(2_000);
    t.equal(s.faultLogs().length, 1);
    pgs.start();
    restarted = true;
    await s.timers.advance(1_000);
    t.equal(s.writer.fault, null);
    await s.writer.stop();
    const rows = await readPgLedger(s.url);
    t.equal(rows.shares.length, 3);
    t.match(rows.runs, [{ run_id: s.writer.run.runId, stop_reason: 'stopped' }]);
  });

  t.test('read-only: the database refuses writes (default_transaction_read_only), then allows them again', async (t) => {
    const s = await setup();
    await s.writer.start();
    await s.timers.advance(0);
    await pgs.sql(s.db, `ALTER DATABASE ${s.db} SET default_transaction_read_only = on`);
    // Sessions opened before keep their setting: the store's pooled connections are ended to pick it up.
    await pgs.sql('postgres', `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [s.db]);
    s.shares(9);
    await s.timers.advance(100);
    if (s.writer.fault === 'unreachable') await s.timers.advance(1_000); // the terminated connection, first
    t.equal(s.writer.fault, 'read-only');
    await s.timers.advance(2_000);
    t.equal(s.writer.pending, 9 + 4);
    await pgs.sql('postgres', `ALTER DATABASE ${s.db} SET default_transaction_read_only = off`);
    await s.timers.advance(1_000);
    t.equal(s.writer.fault, null);
    await s.writer.stop();
    t.equal((await readPgLedger(s.url)).shares.length, 9);
  });

  t.test('locked: another session holds the shares table past the lock timeout, then lets go', async (t) => {
    const s = await setup({ lockTimeoutMs: 200 });
    await s.writer.start();
    await s.timers.advance(0);
    const pg = await import('pg');
    const other = new pg.default.Client({ connectionString: s.url });
    await other.connect();
    t.teardown(() => other.end());
    await other.query('BEGIN');
    await other.query('LOCK TABLE shares IN ACCESS EXCLUSIVE MODE');
    s.shares(30);
    await s.timers.advance(100);
    t.equal(s.writer.fault, 'locked');
    t.equal(s.writer.pending, 30 + 4);
    await other.query('COMMIT');
    await s.timers.advance(1_000);
    t.equal(s.writer.fault, null);
    await s.writer.stop();
    t.equal((await readPgLedger(s.url)).shares.length, 30);
  });

  t.test('two proxies writing one PostgreSQL ledger give the same per-owner and per-worker totals as one proxy with both fleets', async (t) => {
    const shared = await newDb();
    const single = await newDb();
    const timers = new ManualTimers();
    const ownerOf = (w: string) => (w.startsWith('alice.') ? 'alice' : w.startsWith('bob.') ? 'bob' : 'farm');
    const busA = new EventBus();
    const busB = new EventBus();
    const busBoth = new EventBus();
    const make = (bus: EventBus, url: string) => new LedgerWriter({ store: new PgLedgerStore({ url }), bus, timers, ownerOf });
    const proxyA = make(busA, shared);
    const proxyB = make(busB, shared);
    const both = make(busBoth, single);
    const writers = [proxyA, proxyB, both];
    timers.afterEach = () => Promise.all(writers.map((w) => w.idle()));
    await Promise.all(writers.map((w) => w.start()));
    // Each fleet's share events go to its proxy, and to the one proxy that has both fleets.
    const toBoth = new ShareFeeder(busBoth);
    const feeds = { A: [new ShareFeeder(busA), toBoth], B: [new ShareFeeder(busB), toBoth] };
    let seed = 5;
    const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const T = timers.now();
    for (let i = 0; i < 4_000; i++) {
      const fleet = rand() < 0.5 ? 'A' : 'B';
      const r = rand();
      const verdict = r < 0.8 ? ACCEPTED : r < 0.9 ? { kind: 'rejected' as const, code: 23, reason: 'Low difficulty share' } : r < 0.93 ? { kind: 'unanswered' as const, cause: 'timeout' as const, reason: 'no answer' } : null;
      const owner = ['alice', 'bob', 'rack'][Math.floor(rand() * 3)]!;
      // Fleet A's devices are rig0-4, fleet B's rig5-9: the same owners on both proxies.
      const worker = `${owner}.rig${(fleet === 'A' ? 0 : 5) + Math.floor(rand() * 5)}`;
      const share = { worker, at: T + i * 50, difficulty: 2 ** Math.floor(rand() * 10), verdict };
      for (const f of feeds[fleet]) f.share(share);
      if (i % 50 === 0) await timers.advance(100);
    }
    await timers.advance(100);
    await Promise.all(writers.map((w) => w.stop()));

    const totals = async (url: string, by: 'owner' | 'worker') => {
      const db = url.split('/').pop()!;
      const minutes = await pgs.sql(
        db,
        `SELECT ${by} AS k, SUM(local_shares)::text AS local_shares, SUM(local_work) AS local_work, SUM(accepted)::text AS accepted, SUM(rejected)::text AS rejected,
           SUM(unanswered)::text AS unanswered, SUM(accepted_work) AS accepted_work FROM worker_minutes GROUP BY ${by} ORDER BY ${by}`,
      );
      const shares = await pgs.sql(db, `SELECT ${by} AS k, COUNT(*)::text AS n, SUM(credited_difficulty) FILTER (WHERE verdict = 'accepted') AS work FROM shares GROUP BY ${by} ORDER BY ${by}`);
      return { minutes, shares };
    };
    for (const by of ['owner', 'worker'] as const) {
      const two = await totals(shared, by);
      const one = await totals(single, by);
      t.same(two, one, `per ${by}: the two proxies' ledger equals the one proxy's`);
      t.equal(one.minutes.length, by === 'owner' ? 3 : 30);
    }
    const [twoBooks, oneBooks] = [new PgLedgerReader(shared), new PgLedgerReader(single)];
    t.teardown(() => Promise.all([twoBooks.close(), oneBooks.close()]));
    const all = { from: T - 60_000, to: T + 4_000 * 50 + 60_000 };
    for (const by of REPORT_GROUPS) t.same(await twoBooks.report(all, by), await oneBooks.report(all, by), `the report by ${by} of the two proxies' ledger is the one proxy's`);
    t.same(await twoBooks.verify(), [], 'verify passes on the shared ledger');
    // And as an operator reads them: `ledger report` and `ledger verify` with ledger.url in the config.
    const dir = tempDir(t);
    const configFor = (url: string, name: string) => {
      const file = path.join(dir, name);
      writeFileSync(file, JSON.stringify({ pools: [{ url: 'stratum+tcp://127.0.0.1:3333', user: 'X.farm' }], ledger: { url } }));
      return file;
    };
    const range = ['--from', new Date(all.from).toISOString(), '--to', new Date(all.to).toISOString()];
    const twoCli = await mainCaptured(['ledger', 'report', '-c', configFor(shared, 'two.json'), ...range, '--by', 'owner', '--format', 'csv']);
    const oneCli = await mainCaptured(['ledger', 'report', '-c', configFor(single, 'one.json'), ...range, '--by', 'owner', '--format', 'csv']);
    t.equal(twoCli.code, 0, twoCli.err);
    t.match(twoCli.out, /^owner,shares,accepted,rejected,unanswered,accepted_work/);
    t.equal(twoCli.out, oneCli.out, "the CLI's report of the two proxies' books is the one proxy's");
    const verify = await mainCaptured(['ledger', 'verify', '-c', path.join(dir, 'two.json')]);
    t.equal(verify.code, 0, `ledger verify passes: ${verify.out}${verify.err}`);
    const sharedRows = await readPgLedger(shared);
    const singleRows = await readPgLedger(single);
    t.equal(sharedRows.runs.length, 2, 'two runs in the shared ledger');
    t.same(new Set(sharedRows.shares.map((s) => s.run_id)), new Set([proxyA.run.runId, proxyB.run.runId]), 'each share under the run of the proxy that sent it');
    t.equal(sharedRows.shares.length, singleRows.shares.length, 'as many share rows');
    t.ok(singleRows.shares.length > 3_000, `${singleRows.shares.length} shares`);
    t.equal(proxyA.dropped + proxyB.dropped + both.dropped, 0);
  });

  t.test('two proxy apps (ledger.url) mining into one PostgreSQL ledger: its accepted shares and work are the pool\'s own counts', async (t) => {
    const url = await newDb();
    const pool = await startPool(t, { difficulty: 1e-7 });
    const owners = { alice: { workers: ['a.*'] }, bob: { workers: ['b.*'] } };
    const apps = [await startProxy(t, [pool], { ledgerUrl: url, owners }), await startProxy(t, [pool], { ledgerUrl: url, owners })];
    const fleets = [await startFleet(t, apps[0]!, { devices: 4, workerPrefix: 'a' }), await startFleet(t, apps[1]!, { devices: 4, workerPrefix: 'b' })];
    await until(() => pool.stats().totals.accepted >= 40, '40 shares accepted by the pool', WAIT);
    for (const f of fleets) await quiesce(f);
    for (const a of apps) await a.stop();
    const p = pool.stats().totals;
    const rows = await readPgLedger(url);
    t.equal(rows.shares.length, p.submitted, 'one row per share the pool received, from both proxies');
    t.equal(rows.shares.filter((s) => s.verdict === 'accepted').length, p.accepted, "the pool's accepted count");
    t.equal(rows.minutes.reduce((n, m) => n + (m.accepted as number), 0), p.accepted, 'per-minute counts equal it too');
    t.same(new Set(rows.shares.map((s) => s.owner)), new Set(['alice', 'bob']), "each proxy's fleet under its owner");
    t.ok(rows.shares.every((s) => (s.owner === 'alice') === (s.worker as string).startsWith('a.')), 'owner from the config');
    t.equal(rows.runs.length, 2, 'two runs');
    t.ok(rows.runs.every((r) => r.stop_reason === 'stopped'), 'both stopped cleanly');
    t.equal(new Set(rows.shares.map((s) => s.run_id)).size, 2, 'each proxy wrote its own shares');
    t.equal(apps.reduce((n, a) => n + a.books!.dropped, 0), 0);
  });

  t.test('a proxy app whose ledger.url is a database that is not ours fails its start, naming it without the password', async (t) => {
    const url = await newDb();
    const db = url.split('/').pop()!;
    await pgs.sql(db, 'CREATE TABLE invoices (id INT)');
    const withPassword = url.replace('postgres@', 'postgres:s3cret@');
    const config = buildConfig({ pools: [{ url: 'stratum+tcp://127.0.0.1:1', user: 'X.w' }], listen: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, ledger: { url: withPassword } });
    const app = await createProxyApp(config, { hasher, log: silentLogger });
    const err = await app.start().then(() => null, (e: unknown) => e as Error);
    await app.stop();
    t.equal(err?.message, `ledger postgres://postgres:***@127.0.0.1:${pgs.port}/${db}: not a dash-farm-proxy ledger: it has tables (invoices) and no schema_version`);
  });
}
