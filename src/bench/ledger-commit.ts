import { existsSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { LEDGER_WRITER_DEFAULTS, LedgerWriter } from '../books/ledger-writer.js';
import { ThreadedSqliteLedgerStore } from '../books/ledger-sqlite-thread.js';
import type { LedgerRecord, LedgerRun, LedgerStore } from '../books/ledger-store.js';
import { EventBus } from '../core/events.js';
import { round, summarize } from './stats.js';

/**
 * The books' own speed and size: a LedgerWriter with the store the app uses (SQLite in a worker thread,
 * WAL, synchronous=FULL) fed synthetic shares on its event bus as fast as it commits them, with the app's
 * defaults (a group commit at most every 100 ms, at most 20,000 records each). Reports records committed per
 * second, each commit's latency (the store's write, on disk when it returns), and the file's bytes per
 * share row, per worker-minute row and per million shares (SQLite's dbstat: pages of each table and index).
 */

export interface LedgerCommitOptions {
  /** The SQLite file (must not exist yet). */
  path: string;
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
  store: 'sqlite';
  path: string;
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
  /** The file after the writer closed (WAL checkpointed into it). */
  fileBytes: number;
  bytesPerMillionShares: number;
  /** Bytes of each table with its indexes (dbstat), and per row. */
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
  if (existsSync(o.path)) throw new Error(`ledger bench: ${o.path} exists; it needs a new file`);
  const bus = new EventBus();
  const store = new TimedStore(new ThreadedSqliteLedgerStore({ path: o.path }));
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
  await nextCommit(); // the run's row: the file exists and its schema is in place

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
      bus.emit('share.accepted', { sessionId, worker, ip: '10.0.0.1', difficulty: CREDITED_DIFFICULTY, shareDifficulty, meetsPool: true, meetsNetwork: false, at });
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

  const fileBytes = statSync(o.path).size + (existsSync(`${o.path}-wal`) ? statSync(`${o.path}-wal`).size : 0);
  const tables = tableSizes(o.path);
  const writes = store.writeMs.slice(1); // the first write is the run's row, before the feed
  return {
    store: 'sqlite',
    path: o.path,
    shares: tables.shares.rows,
    workers: o.workers,
    sharesPerWorkerMinute: o.sharesPerWorkerMinute,
    records,
    seconds: round(seconds, 2)!,
    recordsPerSecond: Math.round(records / seconds),
    sharesPerSecond: Math.round(tables.shares.rows / seconds),
    commits: writes.length,
    recordsPerCommit: writes.length ? Math.round(records / writes.length) : 0,
    commitMs: roundSummary(summarize(writes)),
    dropped: writer.dropped,
    fileBytes,
    bytesPerMillionShares: tables.shares.rows ? Math.round((fileBytes / tables.shares.rows) * 1e6) : 0,
    tables,
  };
}

function roundSummary(s: ReturnType<typeof summarize>): LedgerCommitResult['commitMs'] {
  return { p50: round(s.p50, 2), p99: round(s.p99, 2), max: round(s.max, 2), count: s.count };
}

/** Pages of each table and its indexes (SQLite's dbstat), with the table's rows. */
function tableSizes(path: string): LedgerCommitResult['tables'] {
  const db = new Database(path, { readonly: true });
  try {
    const bytesOf = (table: string): number =>
      (db.prepare('SELECT COALESCE(SUM(d.pgsize), 0) AS bytes FROM dbstat d JOIN sqlite_schema s ON s.name = d.name WHERE s.tbl_name = ?').get(table) as { bytes: number }).bytes;
    const rowsOf = (table: string): number => (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
    const size = (table: string): TableSize => {
      const rows = rowsOf(table);
      const bytes = bytesOf(table);
      return { rows, bytes, bytesPerRow: rows ? round(bytes / rows, 1) : null };
    };
    return { shares: size('shares'), workerMinutes: size('worker_minutes') };
  } finally {
    db.close();
  }
}
