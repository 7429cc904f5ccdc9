import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { blockParams, blockStatusParams, INSERT_BLOCK_SQL, UPDATE_BLOCK_STATUS_SQL } from './ledger-blocks.js';
import { pruneStep } from './ledger-prune.js';
import { LEDGER_MARK, LEDGER_SCHEMA_VERSION, pendingMigrations, SCHEMA_VERSION_TABLE } from './ledger-schema.js';
import { LedgerFaultError, LedgerRefusedError, minuteOf, type LedgerFaultCause, type LedgerRecord, type LedgerRun, type LedgerStore } from './ledger-store.js';

/**
 * The embedded ledger: one SQLite file through better-sqlite3, in WAL mode with synchronous=FULL (a commit
 * is on disk when it returns). The connection never waits for a lock (busy timeout 0): a locked database is
 * a fault the writer retries later, never a stall of the event loop.
 */
export interface SqliteLedgerOptions {
  path: string;
  /** Cap on the file's size in pages (SQLite's max_page_count): past it, writes fail as "full". */
  maxPageCount?: number;
}

/** Marks the file as ours (SQLite's application_id). */
export const LEDGER_APPLICATION_ID = LEDGER_MARK;

type Db = Database.Database;

export class SqliteLedgerStore implements LedgerStore {
  readonly location: string;
  private db: Db | null = null;
  private maxPageCount: number | undefined;

  constructor(opts: SqliteLedgerOptions) {
    this.location = opts.path;
    this.maxPageCount = opts.maxPageCount;
  }

  async open(): Promise<void> {
    this.openSync();
  }

  async write(run: LedgerRun, records: readonly LedgerRecord[], at: number): Promise<void> {
    this.writeSync(run, records, at);
  }

  async prune(beforeMs: number, maxRows: number): Promise<number> {
    return this.pruneSync(beforeMs, maxRows);
  }

  async close(): Promise<void> {
    this.closeSync();
  }

  /** Change the size cap of the open connection (and of later ones). */
  setMaxPageCount(pages: number | undefined): void {
    this.maxPageCount = pages;
    if (this.db) this.db.pragma(`max_page_count = ${pages ?? 1073741823}`);
  }

  /** write(), synchronously (what the store's worker thread runs). */
  writeSync(run: LedgerRun, records: readonly LedgerRecord[], at: number): void {
    // A file removed under an open connection would take writes into the void: check it is still there.
    if (this.db && !existsSync(this.location)) {
      this.closeQuietly();
      throw new LedgerFaultError(this.location, 'missing', 'the database file was removed');
    }
    const db = this.openSync();
    try {
      db.transaction(() => this.writeAll(db, run, records, at)).immediate();
    } catch (err) {
      const fault = this.fault(err);
      // Reopen next time after anything but a lock or a full disk: the file may come back writable.
      if (fault.fault !== 'locked' && fault.fault !== 'full') this.closeQuietly();
      throw fault;
    }
  }

  /** prune(), synchronously (what the store's worker thread runs). */
  pruneSync(beforeMs: number, maxRows: number): number {
    const db = this.openSync();
    try {
      return db
        .transaction(() => {
          const step = pruneStep(beforeMs, maxRows);
          let next = step.next();
          while (!next.done) {
            const st = next.value;
            const stmt = db.prepare(st.sql);
            next = step.next(st.kind === 'rows' ? (stmt.all(...st.params) as Record<string, unknown>[]) : stmt.run(...st.params).changes);
          }
          return next.value;
        })
        .immediate();
    } catch (err) {
      if (err instanceof RangeError) throw err;
      const fault = this.fault(err);
      if (fault.fault !== 'locked' && fault.fault !== 'full') this.closeQuietly();
      throw fault;
    }
  }

  closeSync(): void {
    this.closeQuietly();
  }

  /** open(), synchronously; the connection. */
  openSync(): Db {
    if (this.db) return this.db;
    let db: Db;
    try {
      db = new Database(this.location, { timeout: 0 });
    } catch (err) {
      throw this.fault(err);
    }
    try {
      this.checkOurs(db);
      if (this.maxPageCount !== undefined) db.pragma(`max_page_count = ${this.maxPageCount}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      this.migrate(db);
    } catch (err) {
      db.close();
      throw err instanceof LedgerRefusedError ? err : this.fault(err);
    }
    this.db = db;
    return db;
  }

  /** Refuse a file that is not SQLite, belongs to another application, or has a newer schema. */
  private checkOurs(db: Db): void {
    let tables: string[];
    let appId: number;
    try {
      tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all() as { name: string }[]).map((r) => r.name);
      appId = db.pragma('application_id', { simple: true }) as number;
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) throw new LedgerRefusedError(this.location, `not an SQLite database (${(err as Error).message})`);
      throw err;
    }
    if (appId !== 0 && appId !== LEDGER_APPLICATION_ID) throw new LedgerRefusedError(this.location, `an SQLite database of another application (application_id ${appId})`);
    if (tables.length === 0) return;
    if (!tables.includes(SCHEMA_VERSION_TABLE)) {
      throw new LedgerRefusedError(this.location, `not a dash-farm-proxy ledger: it has tables (${tables.slice(0, 5).join(', ')}${tables.length > 5 ? ', ...' : ''}) and no ${SCHEMA_VERSION_TABLE}`);
    }
    const version = this.schemaVersion(db);
    if (version > LEDGER_SCHEMA_VERSION) {
      throw new LedgerRefusedError(this.location, `schema version ${version} is newer than this program knows (${LEDGER_SCHEMA_VERSION}): use a newer dash-farm-proxy`);
    }
  }

  private schemaVersion(db: Db): number {
    const row = db.prepare(`SELECT MAX(version) AS v FROM ${SCHEMA_VERSION_TABLE}`).get() as { v: number | null };
    return row.v ?? 0;
  }

  private migrate(db: Db): void {
    const hasVersionTable = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(SCHEMA_VERSION_TABLE) !== undefined;
    const todo = pendingMigrations(hasVersionTable ? this.schemaVersion(db) : 0);
    if (todo.length === 0) return;
    db.transaction(() => {
      db.pragma(`application_id = ${LEDGER_APPLICATION_ID}`);
      for (const m of todo) {
        for (const sql of m.statements) db.exec(sql);
        db.prepare(`INSERT INTO ${SCHEMA_VERSION_TABLE} (version, description, applied_at) VALUES (?, ?, ?)`).run(m.version, m.description, Date.now());
      }
    }).immediate();
  }

  private writeAll(db: Db, run: LedgerRun, records: readonly LedgerRecord[], at: number): void {
    db.prepare(
      `INSERT INTO proxy_runs (run_id, started_at, last_seen_at, pid, host, version) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (run_id) DO UPDATE SET last_seen_at = excluded.last_seen_at`,
    ).run(run.runId, run.startedAt, at, run.pid, run.host, run.version);
    const share = db.prepare(
      `INSERT INTO shares (run_id, share_id, at, answered_at, worker, owner, pool, connection, job_id, credited_difficulty, share_difficulty,
         network_difficulty, verdict, reject_code, reason, no_answer_cause, latency_ms, block_candidate, block_hash, route, target)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, share_id) DO NOTHING`,
    );
    const verdictMinute = db.prepare(
      `INSERT INTO worker_minutes (minute, worker, owner, accepted, rejected, unanswered, accepted_work) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (minute, worker, owner) DO UPDATE SET accepted = accepted + excluded.accepted, rejected = rejected + excluded.rejected,
         unanswered = unanswered + excluded.unanswered, accepted_work = accepted_work + excluded.accepted_work`,
    );
    const localMinute = db.prepare(
      `INSERT INTO worker_minutes (minute, worker, owner, local_shares, local_work) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (minute, worker, owner) DO UPDATE SET local_shares = local_shares + excluded.local_shares, local_work = local_work + excluded.local_work`,
    );
    const poolSwitch = db.prepare(
      `INSERT INTO pool_switches (run_id, seq, at, connection, from_pool, to_pool, reason, route, target) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, seq) DO NOTHING`,
    );
    const stop = db.prepare(`UPDATE proxy_runs SET stopped_at = ?, stop_reason = ? WHERE run_id = ?`);
    const block = db.prepare(INSERT_BLOCK_SQL);
    const blockStatus = db.prepare(UPDATE_BLOCK_STATUS_SQL);
    for (const r of records) {
      switch (r.kind) {
        case 'share': {
          const inserted = share.run(
            run.runId, r.shareId, r.at, r.answeredAt, r.worker, r.owner, r.pool, r.connection, r.jobId, r.creditedDifficulty, r.shareDifficulty,
            r.networkDifficulty, r.verdict, r.rejectCode, r.reason, r.noAnswerCause, r.latencyMs, r.blockHash === null ? 0 : 1, r.blockHash, r.route, r.target,
          ).changes;
          // The minute's counts move only with a new share row, so they always equal the rows.
          if (inserted === 1) {
            const accepted = r.verdict === 'accepted';
            verdictMinute.run(minuteOf(r.at), r.worker, r.owner, accepted ? 1 : 0, r.verdict === 'rejected' ? 1 : 0, r.verdict === 'unanswered' ? 1 : 0, accepted ? r.creditedDifficulty : 0);
          }
          break;
        }
        case 'local-work':
          localMinute.run(r.minute, r.worker, r.owner, r.shares, r.work);
          break;
        case 'pool-switch':
          poolSwitch.run(run.runId, r.seq, r.at, r.connection, r.from, r.to, r.reason, r.route, r.target);
          break;
        case 'run-stop':
          stop.run(r.at, r.reason, run.runId);
          break;
        case 'block':
          block.run(...blockParams(run.runId, r));
          break;
        case 'block-status':
          blockStatus.run(...blockStatusParams(r));
          break;
      }
    }
  }

  private fault(err: unknown): LedgerFaultError {
    if (err instanceof LedgerFaultError) return err;
    const code = (err as { code?: string }).code ?? '';
    const message = (err as Error).message ?? String(err);
    return new LedgerFaultError(this.location, faultOf(code, this.location), `${message}${code ? ` (${code})` : ''}`);
  }

  private closeQuietly(): void {
    try {
      this.db?.close();
    } catch {
      // Closing a connection to a vanished file can fail; it is gone either way.
    }
    this.db = null;
  }
}

function faultOf(code: string, location: string): LedgerFaultCause {
  if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_') || code === 'SQLITE_LOCKED' || code.startsWith('SQLITE_LOCKED_')) return 'locked';
  if (code === 'SQLITE_FULL') return 'full';
  if (code === 'SQLITE_READONLY' || code.startsWith('SQLITE_READONLY_')) return 'read-only';
  if (code === 'SQLITE_CANTOPEN' || code.startsWith('SQLITE_CANTOPEN_')) return existsSync(location) ? 'read-only' : 'missing';
  if (code.startsWith('SQLITE_IOERR')) return existsSync(location) ? 'io' : 'missing';
  // better-sqlite3 refuses a path in a missing directory itself, before SQLite (no code).
  if (!existsSync(path.dirname(location))) return 'missing';
  return 'other';
}
