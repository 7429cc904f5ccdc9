import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { EventBus } from '../../src/core/events.js';
import { LEDGER_SCHEMA_VERSION, MIGRATIONS } from '../../src/books/ledger-schema.js';
import { LEDGER_APPLICATION_ID, SqliteLedgerStore } from '../../src/books/ledger-sqlite.js';
import { ThreadedSqliteLedgerStore } from '../../src/books/ledger-sqlite-thread.js';
import { LedgerRefusedError, type ShareRecord } from '../../src/books/ledger-store.js';
import { LedgerWriter } from '../../src/books/ledger-writer.js';
import { readLedger, tempDir } from './ledger-kit.js';

const run = { runId: 'r1', startedAt: 1_000, pid: 1, host: 'h', version: 'v' };

t.test('an empty file (new or zero bytes) is migrated to the current version, in WAL mode, marked as ours', async (t) => {
  const dir = tempDir(t);
  for (const file of [path.join(dir, 'new.sqlite'), path.join(dir, 'empty.sqlite')]) {
    if (file.endsWith('empty.sqlite')) writeFileSync(file, '');
    const store = new SqliteLedgerStore({ path: file });
    await store.open();
    await store.close();
    const rows = readLedger(file);
    t.same(rows.versions, MIGRATIONS.map((m) => ({ version: m.version, description: m.description })));
    t.equal(rows.versions.at(-1)!.version, LEDGER_SCHEMA_VERSION);
    const db = new Database(file, { readonly: true });
    t.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    t.equal(db.pragma('application_id', { simple: true }), LEDGER_APPLICATION_ID);
    t.same((db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as { name: string }[]).map((r) => r.name), ['blocks', 'payout_splits', 'payouts', 'pool_switches', 'proxy_runs', 'schema_version', 'shares', 'worker_minutes']);
    db.close();
    // Opening again changes nothing (migrations run once).
    const again = new SqliteLedgerStore({ path: file });
    await again.open();
    await again.close();
    t.equal(readLedger(file).versions.length, MIGRATIONS.length);
  }
});

t.test('refused, with the file named: a newer schema, foreign tables, not SQLite, another application', async (t) => {
  const dir = tempDir(t);
  const cases: { name: string; make: (file: string) => void; why: RegExp }[] = [
    {
      name: 'newer.sqlite',
      make: (file) => {
        const db = new Database(file);
        db.exec(`CREATE TABLE schema_version (version BIGINT PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
        db.prepare('INSERT INTO schema_version VALUES (?, ?, ?)').run(LEDGER_SCHEMA_VERSION + 98, 'from the future', 0);
        db.close();
      },
      why: new RegExp(`schema version ${LEDGER_SCHEMA_VERSION + 98} is newer than this program knows \\(${LEDGER_SCHEMA_VERSION}\\)`),
    },
    {
      name: 'foreign.sqlite',
      make: (file) => {
        const db = new Database(file);
        db.exec('CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)');
        db.close();
      },
      why: /not a dash-farm-proxy ledger: it has tables \(customers\) and no schema_version/,
    },
    { name: 'text.sqlite', make: (file) => writeFileSync(file, 'these are not the books you are looking for\n'.repeat(200)), why: /not an SQLite database/ },
    {
      name: 'other-app.sqlite',
      make: (file) => {
        const db = new Database(file);
        db.pragma('application_id = 1234');
        db.close();
      },
      why: /another application \(application_id 1234\)/,
    },
  ];
  for (const c of cases) {
    const file = path.join(dir, c.name);
    c.make(file);
    const before = readFileSync(file);
    const err = await new SqliteLedgerStore({ path: file }).open().then(
      () => null,
      (e: unknown) => e,
    );
    t.ok(err instanceof LedgerRefusedError, `${c.name}: refused`);
    t.match((err as Error).message, new RegExp(`^ledger ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `), `${c.name}: the message names the file`);
    t.match((err as Error).message, c.why);
    t.same(readFileSync(file), before, `${c.name}: the file is left untouched`);
    // The writer refuses too: a configuration error at start, not a fault to retry.
    const writer = new LedgerWriter({ store: new SqliteLedgerStore({ path: file }), bus: new EventBus() });
    await t.rejects(writer.start(), LedgerRefusedError, `${c.name}: the writer's start rejects`);
  }
});

t.test('a share written twice (a retried batch) is one row and counted once in its minute', async (t) => {
  const file = path.join(tempDir(t), 'books.sqlite');
  const store = new SqliteLedgerStore({ path: file });
  const share: ShareRecord = {
    kind: 'share', shareId: 7, at: 120_500, answeredAt: 120_530, worker: 'rig', owner: 'farm', route: 'default', target: 'default', pool: 'main', connection: 0, jobId: 'j', creditedDifficulty: 4,
    shareDifficulty: 5, networkDifficulty: 1e6, verdict: 'accepted', rejectCode: null, reason: null, noAnswerCause: null, latencyMs: 30, blockHash: null,
  };
  await store.write(run, [share], 2_000);
  await store.write(run, [share, { ...share, shareId: 8 }], 3_000);
  await store.close();
  const rows = readLedger(file);
  t.same(rows.shares.map((s) => s.share_id), [7, 8]);
  t.match(rows.minutes, [{ minute: 120_000, worker: 'rig', accepted: 2, accepted_work: 8 }]);
  t.match(rows.runs, [{ run_id: 'r1', started_at: 1_000, last_seen_at: 3_000, stopped_at: null }]);
});

t.test('the worker-thread store: same rows, same refusals, and the proxy thread keeps running while it commits', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'books.sqlite');
  const records = (from: number, n: number): ShareRecord[] =>
    Array.from({ length: n }, (_, i) => ({
      kind: 'share', shareId: from + i, at: 60_000, answeredAt: 60_010, worker: `rig${i % 100}`, owner: 'farm', route: 'default', target: 'default', pool: 'main', connection: 0, jobId: 'j',
      creditedDifficulty: 2, shareDifficulty: 3, networkDifficulty: 1e6, verdict: 'accepted', rejectCode: null, reason: null, noAnswerCause: null, latencyMs: 10, blockHash: null,
    }));
  // Count the proxy thread's timer ticks while one 10,000-record commit is under way.
  const ticksDuring = async (store: { write: SqliteLedgerStore['write'] }, from: number) => {
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);
    await store.write(run, records(from, 10_000), 5_000);
    clearInterval(ticker);
    return ticks;
  };
  const threaded = new ThreadedSqliteLedgerStore({ path: file });
  await threaded.open();
  const threadTicks = await ticksDuring(threaded, 1);
  await threaded.close();
  const plain = new SqliteLedgerStore({ path: file });
  const plainTicks = await ticksDuring(plain, 10_001);
  await plain.close();
  t.equal(plainTicks, 0, 'on the same thread, nothing else runs during a commit');
  t.ok(threadTicks >= 1, `from the worker thread, the proxy's thread ran on (${threadTicks} ticks during the commit)`);
  const rows = readLedger(file);
  t.equal(rows.shares.length, 20_000);
  t.equal(rows.minutes.length, 100, 'one minute row per worker');
  t.equal(rows.minutes.reduce((n, m) => n + (m.accepted as number), 0), 20_000);
  t.equal(rows.minutes.reduce((n, m) => n + (m.accepted_work as number), 0), 40_000);

  const foreign = path.join(dir, 'foreign.sqlite');
  const db = new Database(foreign);
  db.exec('CREATE TABLE invoices (id INTEGER)');
  db.close();
  const refused = new ThreadedSqliteLedgerStore({ path: foreign });
  const err = await refused.open().then(() => null, (e: unknown) => e);
  await refused.close();
  t.ok(err instanceof LedgerRefusedError, 'a refusal crosses the thread as LedgerRefusedError');
  t.equal((err as Error).message, `ledger ${foreign}: not a dash-farm-proxy ledger: it has tables (invoices) and no schema_version`);
});
