import { existsSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import { LEDGER_WRITER_DEFAULTS, LedgerWriter } from '../books/ledger-writer.js';
import { redactLedgerUrl } from '../books/ledger-location.js';
import { PgLedgerStore } from '../books/ledger-pg.js';
import { ThreadedSqliteLedgerStore } from '../books/ledger-sqlite-thread.js';
import type { LedgerRecord, LedgerRun, LedgerStore } from '../books/ledger-store.js';
import { EventBus } from '../core/events.js';
import { round, summarize } from './stats.js';

/**
 * The books' own speed and size: a LedgerWriter with a store the app uses (SQLite in a worker thread, WAL,
 * synchronous=FULL; or PostgreSQL through `pg`, on a server with fsync and synchronous_commit on) fed
 * synthetic shares on its event bus as fast as it commits them, with the app's defaults (a group commit at
 * most every 100 ms, at most 20,000 records each). Reports records committed per second, each commit's
 * latency (the store's write, on disk when it returns), and the database's bytes per share row, per
 * worker-minute row and per million shares (SQLite: the file, and dbstat's pages of each table and index;
 * PostgreSQL: pg_total_relation_size of each of the ledger's tables, indexes and TOAST included).
 */

/** Where the commit measurement writes: a new SQLite file, or an empty PostgreSQL database. */
export type LedgerCommitTarget = { store: 'sqlite'; path: string } | { store: 'postgres'; url: string };

export interface LedgerCommitOptions {
  target: LedgerCommitTarget;
  /** Shares to write. */
  shares: number;
  /** Distinct workers (devices) the shares come from. */
  workers: number;
  /** Shares sent to the pool per worker per minute (spreads the shares' times: sets the worker-minute rows per share). */
  sharesPerWorkerMinute: number;
  /** Stop feeding after this long even if not all shares were written (a slow disk). */
  maxSeconds: number;
}

export interface LedgerCommitResult {
  store: LedgerCommitTarget['store'];
  /** The file, or the URL without its password. */
  location: string;
  shares: number;
  workers: number;
  sharesPerWorkerMinute: number;
  /** Records committed: share rows plus per-minute sums, the run's start and stop. */
  records: number;
  seconds: number;
  recordsPerSecond: number;
  sharesPerSecond: number;
  commits: number;
  recordsPerCommit: number;
  /** Each group commit's write (ms), on disk when it returns. */
  commitMs: { p50: number | null; p99: number | null; max: number | null; count: number };
  dropped: number;
  /** The database after the writer closed: SQLite's file (WAL checkpointed into it); PostgreSQL's tables of the ledger (pg_total_relation_size, summed). */
  databaseBytes: number;
  bytesPerMillionShares: number;
  /** Bytes of each table with its indexes, and per row. */
  tables: { shares: TableSize; workerMinutes: TableSize };
}

export interface TableSize {
  rows: number;
  bytes: number;
  bytesPerRow: number | null;
}

/** A store that times every write of the store it wraps. */
class TimedStore implements LedgerStore {
  readonly writeMs: number[] = [];
  constructor(private readonly inner: LedgerStore) {}
  get location(): string {
    return this.inner.location;
  }
  open(): Promise<void> {
    return this.inner.open();
  }
  async write(run: LedgerRun, records: readonly LedgerRecord[], at: number): Promise<void> {
    const start = performance.now();
    await this.inner.write(run, records, at);
    this.writeMs.push(performance.now() - start);
  }
  prune(beforeMs: number, maxRows: number): Promise<number> {
    return this.inner.prune(beforeMs, maxRows);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

const FEED_CHUNK = 2_000;
const CREDITED_DIFFICULTY = 65_536;
/** About Dash's network difficulty in 2026 (a double either way: the row's size does not depend on it). */
const NETWORK_DIFFICULTY = 150_000_000;

export async function runLedgerCommit(o: LedgerCommitOptions): Promise<LedgerCommitResult> {
  const target = o.target;
  if (target.store === 'sqlite' && existsSync(target.path)) throw new Error(`ledger bench: ${target.path} exists; it needs a new file`);
  const bus = new EventBus();
  const store = new TimedStore(target.store === 'sqlite' ? new ThreadedSqliteLedgerStore({ path: target.path }) : new PgLedgerStore({ url: target.url }));
  let commitWaiter: (() => void) | null = null;
  const writer = new LedgerWriter({
    store,
    bus,
    ownerOf: (worker) => worker.slice(0, worker.indexOf('.')),
    onCommit: () => {
      commitWaiter?.();
      commitWaiter = null;
    },
  });
  // The next commit, or 2 s without one (a store in fault: the loops below then end at their deadlines).
  const nextCommit = () =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2_000);
      commitWaiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  await writer.start();
  await nextCommit(); // the run's row: the database exists and its schema is in place

  const workers = Array.from({ length: o.workers }, (_, i) => `owner${i % 10}.rig${String(i).padStart(5, '0')}`);
  const t0 = Date.UTC(2026, 0, 1);
  const stepMs = 60_000 / o.sharesPerWorkerMinute;
  const feed = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const w = i % o.workers;
      const worker = workers[w]!;
      // Round-robin over the workers; each worker's shares `stepMs` apart in (synthetic) time.
      const at = t0 + Math.floor(i / o.workers) * stepMs + (w % 1000);
      const sessionId = w + 1;
      const shareDifficulty = CREDITED_DIFFICULTY * (1 + ((i * 2654435761) >>> 0) / 2 ** 32);
      const route = { route: 'default', target: 'default', connection: 0, pool: 'pool-a' };
      bus.emit('share.accepted', { sessionId, worker, route: route.route, target: route.target, ip: '10.0.0.1', difficulty: CREDITED_DIFFICULTY, shareDifficulty, meetsPool: true, meetsNetwork: false, at });
      bus.emit('share.forwarded', { ...route, sessionId, worker, shareId: i + 1, jobId: (0x1a2b0000 + (i >> 12)).toString(16), difficulty: CREDITED_DIFFICULTY, shareDifficulty, networkDifficulty: NETWORK_DIFFICULTY, blockHash: null, at });
      const verdict = i % 100 === 99 ? { kind: 'rejected' as const, code: 23, reason: 'Low difficulty share' } : { kind: 'accepted' as const };
      bus.emit('share.upstream', { ...route, sessionId, worker, shareId: i + 1, verdict, latencyMs: 2 + (i % 7), at: at + 3 });
    }
  };

  const start = performance.now();
  const committedBefore = writer.committed;
  const deadline = start + o.maxSeconds * 1000;
  let fed = 0;
  while (fed < o.shares && performance.now() < deadline) {
    // Keep two batches' worth queued: every commit finds a full batch, the queue never reaches its bound.
    if (writer.pending < 2 * LEDGER_WRITER_DEFAULTS.maxBatch) {
      const to = Math.min(o.shares, fed + FEED_CHUNK);
      feed(fed, to);
      fed = to;
      await new Promise((resolve) => setImmediate(resolve));
    } else await nextCommit();
  }
  while (writer.pending > 0 && performance.now() < deadline + 30_000) await nextCommit();
  await writer.idle();
  const seconds = (performance.now() - start) / 1000;
  const records = writer.committed - committedBefore;
  await writer.stop('bench done');

  const size = target.store === 'sqlite' ? sqliteSizes(target.path) : await pgSizes(target.url);
  const writes = store.writeMs.slice(1); // the first write is the run's row, before the feed
  const shareRows = size.tables.shares.rows;
  return {
    store: target.store,
    location: target.store === 'sqlite' ? target.path : redactLedgerUrl(target.url),
    shares: shareRows,
    workers: o.workers,
    sharesPerWorkerMinute: o.sharesPerWorkerMinute,
    records,
    seconds: round(seconds, 2)!,
    recordsPerSecond: Math.round(records / seconds),
    sharesPerSecond: Math.round(shareRows / seconds),
    commits: writes.length,
    recordsPerCommit: writes.length ? Math.round(records / writes.length) : 0,
    commitMs: roundSummary(summarize(writes)),
    dropped: writer.dropped,
    databaseBytes: size.bytes,
    bytesPerMillionShares: shareRows ? Math.round((size.bytes / shareRows) * 1e6) : 0,
    tables: size.tables,
  };
}

function roundSummary(s: ReturnType<typeof summarize>): LedgerCommitResult['commitMs'] {
  return { p50: round(s.p50, 2), p99: round(s.p99, 2), max: round(s.max, 2), count: s.count };
}

function tableSize(rows: number, bytes: number): TableSize {
  return { rows, bytes, bytesPerRow: rows ? round(bytes / rows, 1) : null };
}

interface DatabaseSize {
  bytes: number;
  tables: LedgerCommitResult['tables'];
}

/** The file (and its WAL, if any is left), and the pages of each table with its indexes (SQLite's dbstat). */
function sqliteSizes(path: string): DatabaseSize {
  const bytes = statSync(path).size + (existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0);
  const db = new Database(path, { readonly: true });
  try {
    const size = (table: string): TableSize => {
      const rows = (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
      const pages = (db.prepare('SELECT COALESCE(SUM(d.pgsize), 0) AS bytes FROM dbstat d JOIN sqlite_schema s ON s.name = d.name WHERE s.tbl_name = ?').get(table) as { bytes: number }).bytes;
      return tableSize(rows, pages);
    };
    return { bytes, tables: { shares: size('shares'), workerMinutes: size('worker_minutes') } };
  } finally {
    db.close();
  }
}

/** Every table of the ledger's schema with its indexes and TOAST (pg_total_relation_size), summed, and each of the two big ones. */
async function pgSizes(url: string): Promise<DatabaseSize> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const relations = (
      await client.query<{ name: string; bytes: string }>(
        `SELECT c.relname AS name, pg_total_relation_size(c.oid) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')`,
      )
    ).rows;
    const bytesOf = (table: string) => Number(relations.find((r) => r.name === table)?.bytes ?? 0);
    const rowsOf = async (table: string) => Number((await client.query<{ n: string }>(`SELECT COUNT(*) AS n FROM ${table}`)).rows[0]!.n);
    return {
      bytes: relations.reduce((a, r) => a + Number(r.bytes), 0),
      tables: { shares: tableSize(await rowsOf('shares'), bytesOf('shares')), workerMinutes: tableSize(await rowsOf('worker_minutes'), bytesOf('worker_minutes')) },
    };
  } finally {
    await client.end();
  }
}
