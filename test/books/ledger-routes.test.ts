import { writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import t from 'tap';
import { request } from 'undici';
import { EventBus } from '../../src/core/events.js';
import { formatReport } from '../../src/books/ledger-format.js';
import { LEDGER_MARK, MIGRATIONS, SCHEMA_VERSION_TABLE } from '../../src/books/ledger-schema.js';
import { LedgerWriter } from '../../src/books/ledger-writer.js';
import { openLedgerReader, payoutRules } from '../../src/books/open-reader.js';
import { OwnerMap } from '../../src/books/owners.js';
import { HttpServer } from '../../src/observe/http-server.js';
import { registerLedgerRoutes } from '../../src/observe/ledger-api.js';
import { mainCaptured as cli } from '../helpers/cli-main.js';
import { ledgerBackends, type LedgerBackend } from './ledger-backends.js';
import { ACCEPTED, ManualTimers, ShareFeeder, tempDir } from './ledger-kit.js';

/**
 * Routing in the books (issue 14, schema version 3): every share row names its route and target, pool
 * switches name theirs, `ledger report --by route|target` (CLI and API, table/CSV/JSON) on both stores, and
 * books of schema version 2 (made by the v2 schema, with rows as the v2 writer wrote them) are migrated: their
 * rows become route 'default' / target 'default', and verify still holds with old and new rows in one minute.
 */
const { backends, skipped } = await ledgerBackends(t);
if (skipped) t.test(skipped, { skip: skipped }, () => {});

const T0 = Date.UTC(2026, 11, 5, 10, 0, 0);
const RANGE = { from: Date.UTC(2026, 11, 5), to: Date.UTC(2026, 11, 6) };
const OWNERS = { alice: { workers: ['alice.*'], feePercent: 2 } };
const BOOKS = { farmOwner: 'farm', payoutMethod: 'prop' as const, pplnsWindow: null };
const ledgerOf = (b: LedgerBackend, location: string) => (b.name === 'SQLite' ? { path: location, url: null, retentionDays: 0 } : { path: null, url: location, retentionDays: 0 });

/**
 * A route `alice` (alice's devices) split 98/2 between her own account (alice-own) and the farm's fee
 * (hosting-fee); everything else on the default route. Shares:
 *   alice.rig1  alice-own    3000 accepted, 1000 accepted, 500 rejected
 *   alice.rig1  hosting-fee   200 accepted (the same worker, the same minute: one worker_minutes row)
 *   rig9        default      1000 accepted, 400 unanswered
 */
async function routedBooks(t: Parameters<LedgerBackend['fresh']>[0], b: LedgerBackend, location?: string) {
  const where = location ?? (await b.fresh(t));
  const timers = new ManualTimers(T0 - 1000);
  const bus = new EventBus();
  const owners = OwnerMap.compile(OWNERS, BOOKS);
  const writer = new LedgerWriter({ store: b.store(where), bus, timers, ownerOf: (w) => owners.ownerOf(w) });
  const before = timers.afterEach;
  timers.afterEach = async () => {
    await before();
    await writer.idle();
  };
  await writer.start();
  const feed = new ShareFeeder(bus);
  const alice = { route: 'alice', target: 'alice-own', pool: 'alice-pool' };
  feed.share({ worker: 'alice.rig1', at: T0 + 1000, difficulty: 3000, ...alice, verdict: ACCEPTED });
  feed.share({ worker: 'alice.rig1', at: T0 + 2000, difficulty: 1000, ...alice, verdict: ACCEPTED });
  feed.share({ worker: 'alice.rig1', at: T0 + 3000, difficulty: 500, ...alice, verdict: { kind: 'rejected', code: 23, reason: 'Low difficulty share' } });
  feed.share({ worker: 'alice.rig1', at: T0 + 4000, difficulty: 200, route: 'alice', target: 'hosting-fee', pool: 'fee-pool', connection: 3, verdict: ACCEPTED });
  feed.share({ worker: 'rig9', at: T0 + 5000, difficulty: 1000, verdict: ACCEPTED });
  feed.share({ worker: 'rig9', at: T0 + 6000, difficulty: 400, verdict: { kind: 'unanswered', cause: 'timeout', reason: 'no answer' } });
  bus.emit('pool.switch', { route: 'alice', target: 'hosting-fee', connection: 3, from: null, to: 'fee-pool', reason: 'connected', at: T0 + 500 });
  await timers.advance(200);
  await writer.stop('test over');
  if (writer.dropped !== 0) throw new Error('shares dropped');
  return where;
}

for (const b of backends) {
  t.test(`${b.name}: share rows and pool switches name their route and target; reports by route and target`, async (t) => {
    const location = await routedBooks(t, b);
    const rows = await b.read(location);
    t.same(
      rows.shares.map((r) => [r.worker, r.route, r.target, r.pool, r.credited_difficulty]),
      [
        ['alice.rig1', 'alice', 'alice-own', 'alice-pool', 3000],
        ['alice.rig1', 'alice', 'alice-own', 'alice-pool', 1000],
        ['alice.rig1', 'alice', 'alice-own', 'alice-pool', 500],
        ['alice.rig1', 'alice', 'hosting-fee', 'fee-pool', 200],
        ['rig9', 'default', 'default', 'main', 1000],
        ['rig9', 'default', 'default', 'main', 400],
      ],
    );
    t.same(rows.switches.map((s) => [s.route, s.target, s.to_pool]), [['alice', 'hosting-fee', 'fee-pool']]);
    t.same(rows.minutes.map((m) => [m.worker, m.accepted, m.rejected, m.unanswered, m.accepted_work]), [['alice.rig1', 3, 1, 0, 4200], ['rig9', 1, 0, 1, 1000]], 'one minute row per worker, over its targets');

    const reader = openLedgerReader(ledgerOf(b, location))!;
    t.teardown(() => reader.close());
    t.same(await reader.verify(), [], 'verify holds: a worker\'s minute equals its share rows of every target');
    const byRoute = await reader.report(RANGE, 'route');
    t.same(byRoute, [
      { key: 'alice', shares: 4, accepted: 3, rejected: 1, unanswered: 0, acceptedWork: 4200 },
      { key: 'default', shares: 2, accepted: 1, rejected: 0, unanswered: 1, acceptedWork: 1000 },
    ]);
    const byTarget = await reader.report(RANGE, 'target');
    t.same(byTarget.map((r) => [r.key, r.shares, r.accepted, r.acceptedWork]), [['alice-own', 3, 2, 4000], ['default', 2, 1, 1000], ['hosting-fee', 1, 1, 200]]);
    t.same((await reader.report(RANGE, 'target', 'farm')).map((r) => r.key), ['default'], 'with --owner');

    t.equal(
      formatReport(RANGE, 'target', byTarget, 'table'),
      [
        'books 2026-12-05T00:00:00.000Z to 2026-12-06T00:00:00.000Z by target',
        'target       shares  accepted  rejected  unanswered  accepted_work  work_percent',
        'alice-own         3         2         1           0           4000         76.92',
        'default           2         1         0           1           1000         19.23',
        'hosting-fee       1         1         0           0            200          3.85',
        'total             6         4         1           1           5200        100.00',
        '',
      ].join('\n'),
    );
    t.equal(formatReport(RANGE, 'route', byRoute, 'csv'), 'route,shares,accepted,rejected,unanswered,accepted_work,work_percent\r\nalice,4,3,1,0,4200,80.77\r\ndefault,2,1,0,1,1000,19.23\r\n');
    t.same(JSON.parse(formatReport(RANGE, 'route', byRoute, 'json')).rows[0], { route: 'alice', shares: 4, accepted: 3, rejected: 1, unanswered: 0, acceptedWork: 4200, workPercent: 80.7692 });
  });

  t.test(`${b.name}: ledger report --by route|target on the command line and over /api/ledger/report`, async (t) => {
    const location = await routedBooks(t, b);
    const config = path.join(tempDir(t), 'books.json');
    writeFileSync(config, JSON.stringify({ ledger: ledgerOf(b, location), owners: OWNERS, books: BOOKS }));
    const report = (by: string, format: string) => cli(['ledger', 'report', '--config', config, '--from', '2026-12-05', '--to', '2026-12-06', '--by', by, '--format', format]);
    const csv = await report('target', 'csv');
    t.equal(csv.code, 0, csv.err);
    t.equal(csv.out, 'target,shares,accepted,rejected,unanswered,accepted_work,work_percent\r\nalice-own,3,2,1,0,4000,76.92\r\ndefault,2,1,0,1,1000,19.23\r\nhosting-fee,1,1,0,0,200,3.85\r\n');
    const json = await report('route', 'json');
    t.equal(json.code, 0, json.err);
    t.same(JSON.parse(json.out).rows.map((r: { route: string; acceptedWork: number }) => [r.route, r.acceptedWork]), [['alice', 4200], ['default', 1000]]);
    const table = await report('route', 'table');
    t.equal(table.code, 0);
    t.match(table.out, /\nroute +shares .*\nalice +4 +3 +1 +0 +4200 +80\.77\ndefault +2 +1 +0 +1 +1000 +19\.23\ntotal /);

    const reader = openLedgerReader(ledgerOf(b, location), { threaded: true })!;
    const http = new HttpServer({ host: '127.0.0.1', port: 0 });
    registerLedgerRoutes(http, { reader, rules: () => payoutRules({ owners: OWNERS, books: BOOKS }), method: () => 'prop' });
    const { port } = await http.listen();
    t.teardown(async () => {
      await http.close();
      await reader.close();
    });
    const get = async (q: string) => {
      const res = await request(`http://127.0.0.1:${port}/api/ledger/report?from=2026-12-05&to=2026-12-06&${q}`);
      return { status: res.statusCode, text: await res.body.text() };
    };
    const api = await get('by=target');
    t.equal(api.status, 200);
    t.same(JSON.parse(api.text).rows.map((r: { target: string; accepted: number }) => [r.target, r.accepted]), [['alice-own', 2], ['default', 1], ['hosting-fee', 1]]);
    t.equal((await get('by=route&format=csv')).text, 'route,shares,accepted,rejected,unanswered,accepted_work,work_percent\r\nalice,4,3,1,0,4200,80.77\r\ndefault,2,1,0,1,1000,19.23\r\n', 'the same CSV as the command line');
    t.match((await get('by=route&format=table')).text, /\nalice +4 +3 +1 +0 +4200 +80\.77\n/);
  });

  t.test(`${b.name}: books of schema version 2 are migrated to 3; old rows are route and target 'default', verify holds with old and new rows`, async (t) => {
    const location = await b.fresh(t);
    await writeV2Books(b, location);
    const v2 = await b.read(location);
    t.same(v2.versions.map((v) => v.version), [1, 2], 'the books as the v2 code left them');
    t.notOk('route' in v2.shares[0]!, 'no route column before');

    // A reader opening them first (ledger report beside a proxy not yet upgraded) brings them to version 3.
    const reader = openLedgerReader(ledgerOf(b, location))!;
    t.teardown(() => reader.close());
    t.same(await reader.report(RANGE, 'route'), [{ key: 'default', shares: 3, accepted: 2, rejected: 1, unanswered: 0, acceptedWork: 5000 }]);
    t.same(await reader.verify(), [], 'the v2 books verify after the migration');
    const migrated = await b.read(location);
    t.same(migrated.versions.map((v) => v.version), MIGRATIONS.map((m) => m.version));
    t.same(migrated.versions[2], { version: 3, description: MIGRATIONS[2]!.description }, 'version 3 applied (and every later one)');
    t.same(migrated.shares.map((s) => [s.share_id, s.route, s.target, s.network_difficulty]), [[1, 'default', 'default', 1_000_000], [2, 'default', 'default', 1_000_000], [3, 'default', 'default', null]], 'every v2 row is default/default, its columns kept');
    t.same(migrated.switches.map((s) => [s.to_pool, s.route, s.target]), [['backup', 'default', 'default']]);
    t.same((await reader.payouts()).map((p) => [p.id, p.amount, p.blocks]), [[1, 50_000_000n, [{ at: T0 }]]], 'the v2 payout, its blocks list of times read as before');

    // The v3 writer adds routed shares, some in a minute and for a worker the v2 rows already have.
    await routedBooks(t, b, location);
    t.same(await reader.verify(), [], 'old and new rows in one minute row still add up');
    const byRoute = await reader.report(RANGE, 'route');
    t.same(byRoute.map((r) => [r.key, r.shares, r.accepted, r.acceptedWork]), [['alice', 4, 3, 4200], ['default', 5, 3, 6000]]);
    const minute = (await b.read(location)).minutes.find((m) => m.worker === 'alice.rig1' && m.minute === T0)!;
    t.match(minute, { accepted: 4, rejected: 2, accepted_work: 8200 }, 'one worker_minutes row for v2 and v3 shares of alice.rig1');
  });
}

/**
 * A ledger as the v2 code made it: the migrations up to version 2 (migrations are never edited, so these are
 * the v2 schema), marked as ours, and rows written with the v2 writer's column lists: a run, three shares
 * (alice.rig1 5000 accepted at T0 and one rejected, rig9 a v1-era row without network difficulty), their
 * minute rows, a pool switch, and a PPLNS payout with its splits.
 */
async function writeV2Books(b: LedgerBackend, location: string): Promise<void> {
  const v2 = MIGRATIONS.filter((m) => m.version <= 2);
  const statements: [string, unknown[]][] = [
    ...v2.flatMap((m) => [...m.statements.map((sql): [string, unknown[]] => [sql, []]), [`INSERT INTO ${SCHEMA_VERSION_TABLE} (version, description, applied_at) VALUES (?, ?, ?)`, [m.version, m.description, T0 - 86_400_000]] as [string, unknown[]]]),
    [`INSERT INTO proxy_runs (run_id, started_at, last_seen_at, pid, host, version) VALUES (?, ?, ?, ?, ?, ?)`, ['old-run', T0 - 60_000, T0 + 30_000, 1, 'h', '0.0.9']],
    ...[
      [1, T0 + 100, 'alice.rig1', 'alice', 4000, 1_000_000, 'accepted', null],
      [2, T0 + 200, 'alice.rig1', 'alice', 900, 1_000_000, 'rejected', 21],
      [3, T0 + 300, 'rig9', 'farm', 1000, null, 'accepted', null],
    ].map(([id, at, worker, owner, diff, net, verdict, code]): [string, unknown[]] => [
      `INSERT INTO shares (run_id, share_id, at, answered_at, worker, owner, pool, connection, job_id, credited_difficulty, share_difficulty,
         network_difficulty, verdict, reject_code, reason, no_answer_cause, latency_ms, block_candidate, block_hash)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ['old-run', id, at, (at as number) + 20, worker, owner, 'main', 0, 'j1', diff, (diff as number) * 2, net, verdict, code, code === null ? null : 'Stale', null, 20, 0, null],
    ]),
    [`INSERT INTO worker_minutes (minute, worker, owner, local_shares, local_work, accepted, rejected, unanswered, accepted_work) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, [T0, 'alice.rig1', 'alice', 2, 4900, 1, 1, 0, 4000]],
    [`INSERT INTO worker_minutes (minute, worker, owner, local_shares, local_work, accepted, rejected, unanswered, accepted_work) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, [T0, 'rig9', 'farm', 1, 1000, 1, 0, 0, 1000]],
    [`INSERT INTO pool_switches (run_id, seq, at, connection, from_pool, to_pool, reason) VALUES (?, ?, ?, ?, ?, ?, ?)`, ['old-run', 1, T0 + 50, 0, 'main', 'backup', 'main down']],
    [`INSERT INTO payouts (id, recorded_at, amount_duffs, method, period_from, period_to, blocks, pplns_window, block_reward_duffs, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [1, T0 + 40_000, 50_000_000, 'pplns', RANGE.from, RANGE.to, JSON.stringify([T0]), 5000, null, null]],
    [`INSERT INTO payout_splits (payout_id, owner, work, gross_duffs, fee_duffs, fees_received_duffs, total_duffs) VALUES (?, ?, ?, ?, ?, ?, ?)`, [1, 'alice', 4000, 40_000_000, 800_000, 0, 39_200_000]],
    [`INSERT INTO payout_splits (payout_id, owner, work, gross_duffs, fee_duffs, fees_received_duffs, total_duffs) VALUES (?, ?, ?, ?, ?, ?, ?)`, [1, 'farm', 1000, 10_000_000, 0, 800_000, 10_800_000]],
  ];
  if (b.name === 'SQLite') {
    const db = new Database(location);
    db.pragma(`application_id = ${LEDGER_MARK}`);
    db.transaction(() => {
      for (const [sql, params] of statements) db.prepare(sql).run(...params);
    })();
    db.close();
    return;
  }
  const client = new pg.Client({ connectionString: location });
  await client.connect();
  try {
    await client.query('BEGIN');
    for (const [sql, params] of statements) {
      let n = 0;
      await client.query(sql.replace(/\?/g, () => `$${++n}`), params);
      if (sql.startsWith(`CREATE TABLE ${SCHEMA_VERSION_TABLE}`)) await client.query(`COMMENT ON TABLE ${SCHEMA_VERSION_TABLE} IS 'dash-farm-proxy ledger (${LEDGER_MARK.toString(16)})'`);
    }
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
}
