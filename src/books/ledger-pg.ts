import pg from 'pg';
import { LEDGER_MARK, LEDGER_SCHEMA_VERSION, pendingMigrations, SCHEMA_VERSION_TABLE } from './ledger-schema.js';
import { blockParams, blockStatusParams, INSERT_BLOCK_SQL, UPDATE_BLOCK_STATUS_SQL } from './ledger-blocks.js';
import { redactLedgerUrl } from './ledger-location.js';
import { pruneStep } from './ledger-prune.js';
import { LedgerFaultError, LedgerRefusedError, minuteOf, type LedgerFaultCause, type LedgerRecord, type LedgerRun, type LedgerStore, type ShareRecord } from './ledger-store.js';

/**
 * The shared ledger: one PostgreSQL database that several proxies write (one run id each), through a small
 * `pg.Pool`. Same migrations and rows as the SQLite store (src/books/ledger-schema.ts). A batch is one
 * transaction of a few set-based statements (arrays through unnest), so a 20,000-record batch is a handful
 * of round trips. Nothing here blocks the event loop: a slow or unreachable server only delays the writer's
 * commits, and every wait is bounded (connect, lock) so an outage shows as a fault the writer retries.
 */
export interface PgLedgerOptions {
  /** postgres://user:password@host:port/database (checked by the config: src/books/ledger-location.ts). */
  url: string;
  /** Connect timeout: past it the server counts as unreachable. */
  connectTimeoutMs?: number;
  /** How long a statement waits for a lock held by someone else before the batch fails as "locked". */
  lockTimeoutMs?: number;
  /** An answer later than this (a server or network that went silent mid-batch) fails the batch as "unreachable". */
  queryTimeoutMs?: number;
  /** false: a database without the books is refused, not given them (a reader never creates books). */
  create?: boolean;
}

export const PG_LEDGER_DEFAULTS = { connectTimeoutMs: 5_000, lockTimeoutMs: 10_000, queryTimeoutMs: 30_000, create: true } as const;

/** What the store writes on schema_version (COMMENT ON TABLE): a table of that name without it is not ours. */
const SCHEMA_COMMENT = `dash-farm-proxy ledger (${LEDGER_MARK.toString(16)})`;

export class PgLedgerStore implements LedgerStore {
  /** The URL without its password. */
  readonly location: string;
  private readonly opts: Required<PgLedgerOptions>;
  private pool: pg.Pool | null = null;
  private opened = false;

  constructor(opts: PgLedgerOptions) {
    this.opts = { ...PG_LEDGER_DEFAULTS, ...opts };
    this.location = redactLedgerUrl(opts.url);
  }

  /** Connect, refuse a database that is not ours or is newer, and migrate: in one transaction, under an advisory lock. */
  async open(): Promise<void> {
    if (this.opened) return;
    await this.transaction(async (c) => {
      // Two proxies starting at once: the second waits here, then finds the schema current.
      await c.query('SELECT pg_advisory_xact_lock($1)', [LEDGER_MARK]);
      const current = await this.checkOurs(c);
      if (current === 0 && !this.opts.create) throw new LedgerRefusedError(this.location, 'no books in this database (the proxy creates them when it starts with ledger.url set)');
      const todo = pendingMigrations(current);
      for (const m of todo) {
        for (const sql of m.statements) await c.query(sql);
        if (m.version === 1) await c.query(`COMMENT ON TABLE ${SCHEMA_VERSION_TABLE} IS '${SCHEMA_COMMENT}'`);
        await c.query(`INSERT INTO ${SCHEMA_VERSION_TABLE} (version, description, applied_at) VALUES ($1, $2, $3)`, [m.version, m.description, Date.now()]);
      }
    });
    this.opened = true;
  }

  async write(run: LedgerRun, records: readonly LedgerRecord[], at: number): Promise<void> {
    await this.open();
    await this.transaction((c) => this.writeAll(c, run, records, at));
  }

  async prune(beforeMs: number, maxRows: number): Promise<number> {
    await this.open();
    let removed = 0;
    await this.transaction(async (c) => {
      const step = pruneStep(beforeMs, maxRows);
      let next = step.next();
      while (!next.done) {
        const st = next.value;
        const res = await c.query(numbered(st.sql), st.params);
        next = step.next(st.kind === 'rows' ? (res.rows as Record<string, unknown>[]) : (res.rowCount ?? 0));
      }
      removed = next.value;
    });
    return removed;
  }

  /** `sql` with `?` placeholders (ledger-queries.ts) on the open books; its rows. */
  async query(sql: string, params: readonly unknown[] = []): Promise<Record<string, unknown>[]> {
    await this.open();
    let rows: Record<string, unknown>[] = [];
    await this.transaction(async (c) => {
      rows = (await c.query(numbered(sql), params as unknown[])).rows as Record<string, unknown>[];
    });
    return rows;
  }

  /** `body` in one transaction on the open books, given a runner of `?`-placeholder SQL. */
  async inTransaction<T>(body: (run: (sql: string, params?: readonly unknown[]) => Promise<Record<string, unknown>[]>) => Promise<T>): Promise<T> {
    await this.open();
    let result: T | undefined;
    await this.transaction(async (c) => {
      result = await body(async (sql, params = []) => (await c.query(numbered(sql), params as unknown[])).rows as Record<string, unknown>[]);
    });
    return result as T;
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    this.opened = false;
    await pool?.end().catch(() => {});
  }

  /** The schema version found (0: an empty database); refuses one that is not ours or is newer. */
  private async checkOurs(c: pg.PoolClient): Promise<number> {
    const tables = (
      await c.query<{ name: string }>(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
    ).rows.map((r) => r.name);
    if (tables.length === 0) return 0;
    if (!tables.includes(SCHEMA_VERSION_TABLE)) {
      throw new LedgerRefusedError(this.location, `not a dash-farm-proxy ledger: it has tables (${tables.slice(0, 5).join(', ')}${tables.length > 5 ? ', ...' : ''}) and no ${SCHEMA_VERSION_TABLE}`);
    }
    const comment = (await c.query<{ comment: string | null }>(`SELECT obj_description(to_regclass($1), 'pg_class') AS comment`, [SCHEMA_VERSION_TABLE])).rows[0]?.comment ?? null;
    if (comment !== SCHEMA_COMMENT) throw new LedgerRefusedError(this.location, `not a dash-farm-proxy ledger: its ${SCHEMA_VERSION_TABLE} table belongs to another application`);
    const version = Number((await c.query<{ v: string | null }>(`SELECT MAX(version) AS v FROM ${SCHEMA_VERSION_TABLE}`)).rows[0]?.v ?? 0);
    if (version > LEDGER_SCHEMA_VERSION) {
      throw new LedgerRefusedError(this.location, `schema version ${version} is newer than this program knows (${LEDGER_SCHEMA_VERSION}): use a newer dash-farm-proxy`);
    }
    return version;
  }

  private async writeAll(c: pg.PoolClient, run: LedgerRun, records: readonly LedgerRecord[], at: number): Promise<void> {
    await c.query(
      `INSERT INTO proxy_runs (run_id, started_at, last_seen_at, pid, host, version) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (run_id) DO UPDATE SET last_seen_at = excluded.last_seen_at`,
      [run.runId, run.startedAt, at, run.pid, run.host, run.version],
    );
    const shares = records.filter((r): r is ShareRecord => r.kind === 'share');
    const minutes = new MinuteSums();
    if (shares.length > 0) {
      const col = <T>(f: (s: ShareRecord) => T) => shares.map(f);
      // Only the rows actually inserted come back: a share written before (a retried batch) moves no count.
      const inserted = await c.query<{ at: string; worker: string; owner: string; verdict: ShareRecord['verdict']; credited_difficulty: number }>(
        `INSERT INTO shares (run_id, share_id, at, answered_at, worker, owner, pool, connection, job_id, credited_difficulty, share_difficulty,
           network_difficulty, verdict, reject_code, reason, no_answer_cause, latency_ms, block_candidate, block_hash, route, target)
         SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[],
           $10::float8[], $11::float8[], $12::float8[], $13::text[], $14::bigint[], $15::text[], $16::text[], $17::float8[], $18::bigint[], $19::text[],
           $20::text[], $21::text[])
         ON CONFLICT (run_id, share_id) DO NOTHING
         RETURNING at, worker, owner, verdict, credited_difficulty`,
        [
          run.runId, col((s) => s.shareId), col((s) => s.at), col((s) => s.answeredAt), col((s) => s.worker), col((s) => s.owner), col((s) => s.pool),
          col((s) => s.connection), col((s) => s.jobId), col((s) => s.creditedDifficulty), col((s) => s.shareDifficulty), col((s) => s.networkDifficulty), col((s) => s.verdict),
          col((s) => s.rejectCode), col((s) => s.reason), col((s) => s.noAnswerCause), col((s) => s.latencyMs), col((s) => (s.blockHash === null ? 0 : 1)),
          col((s) => s.blockHash), col((s) => s.route), col((s) => s.target),
        ],
      );
      for (const r of inserted.rows) minutes.verdict(minuteOf(Number(r.at)), r.worker, r.owner, r.verdict, r.credited_difficulty);
    }
    const switches = [];
    for (const r of records) {
      if (r.kind === 'local-work') minutes.local(r.minute, r.worker, r.owner, r.shares, r.work);
      else if (r.kind === 'pool-switch') switches.push(r);
    }
    if (minutes.size > 0) {
      const rows = minutes.rows();
      const col = <T>(f: (m: MinuteRow) => T) => rows.map(f);
      await c.query(
        `INSERT INTO worker_minutes AS w (minute, worker, owner, local_shares, local_work, accepted, rejected, unanswered, accepted_work)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::float8[], $6::bigint[], $7::bigint[], $8::bigint[], $9::float8[])
         ON CONFLICT (minute, worker, owner) DO UPDATE SET local_shares = w.local_shares + excluded.local_shares, local_work = w.local_work + excluded.local_work,
           accepted = w.accepted + excluded.accepted, rejected = w.rejected + excluded.rejected, unanswered = w.unanswered + excluded.unanswered,
           accepted_work = w.accepted_work + excluded.accepted_work`,
        [
          col((m) => m.minute), col((m) => m.worker), col((m) => m.owner), col((m) => m.localShares), col((m) => m.localWork), col((m) => m.accepted),
          col((m) => m.rejected), col((m) => m.unanswered), col((m) => m.acceptedWork),
        ],
      );
    }
    if (switches.length > 0) {
      await c.query(
        `INSERT INTO pool_switches (run_id, seq, at, connection, from_pool, to_pool, reason, route, target)
         SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[]) ON CONFLICT (run_id, seq) DO NOTHING`,
        [
          run.runId, switches.map((s) => s.seq), switches.map((s) => s.at), switches.map((s) => s.connection), switches.map((s) => s.from), switches.map((s) => s.to),
          switches.map((s) => s.reason), switches.map((s) => s.route), switches.map((s) => s.target),
        ],
      );
    }
    // Blocks are rare (a solo block now and then): one statement each, in order (a block's row before its status).
    for (const r of records) {
      if (r.kind === 'block') await c.query(numbered(INSERT_BLOCK_SQL), blockParams(run.runId, r));
      else if (r.kind === 'block-status') await c.query(numbered(UPDATE_BLOCK_STATUS_SQL), blockStatusParams(r));
    }
    for (const r of records) {
      if (r.kind === 'run-stop') await c.query(`UPDATE proxy_runs SET stopped_at = $1, stop_reason = $2 WHERE run_id = $3`, [r.at, r.reason, run.runId]);
    }
  }

  /** `body` in one transaction on a pooled connection; any failure rolls back and comes out as a fault (or the refusal). */
  private async transaction(body: (c: pg.PoolClient) => Promise<void>): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.connections().connect();
    } catch (err) {
      throw this.fault(err);
    }
    // A connection lost between two statements is reported on the client (the pool listens only to idle
    // ones): the next statement fails with it; unheard, it would end the process.
    const lost = () => {};
    client.on('error', lost);
    try {
      await client.query('BEGIN');
      await body(client);
      await client.query('COMMIT');
      client.off('error', lost);
      client.release();
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      // A failed connection is not given back to the pool: the next batch connects afresh.
      client.off('error', lost);
      client.release(true);
      if (err instanceof LedgerRefusedError) throw err;
      throw this.fault(err);
    }
  }

  private connections(): pg.Pool {
    if (this.pool) return this.pool;
    const pool = new pg.Pool({
      connectionString: this.opts.url,
      max: 2,
      connectionTimeoutMillis: this.opts.connectTimeoutMs,
      lock_timeout: this.opts.lockTimeoutMs,
      query_timeout: this.opts.queryTimeoutMs,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      application_name: 'dash-farm-proxy ledger',
    });
    // An idle connection the server drops (restart, admin shutdown) is reported here; the pool discards it and
    // the next batch fails or reconnects on its own: nothing to do but not crash.
    pool.on('error', () => {});
    this.pool = pool;
    return pool;
  }

  private fault(err: unknown): LedgerFaultError {
    if (err instanceof LedgerFaultError) return err;
    const code = (err as { code?: string }).code ?? '';
    const message = (err as Error).message ?? String(err);
    // A connection lost mid-way leaves the pool's other idle connections suspect too: start over next time.
    const cause = pgFaultOf(code, message);
    if (cause === 'unreachable') void this.close();
    return new LedgerFaultError(this.location, cause, `${message}${code ? ` (${code})` : ''}`);
  }
}

/** SQL with `?` placeholders (written once for both stores) in PostgreSQL's numbered form: $1, $2, ... */
export function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** A PostgreSQL SQLSTATE or a Node socket error code (and pg's own code-less messages) as a fault cause. */
export function pgFaultOf(code: string, message = ''): LedgerFaultCause {
  // Connection exceptions, the server shutting down or not accepting connections yet, sockets.
  if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') return 'unreachable';
  if (/^E(CONNREFUSED|CONNRESET|HOSTUNREACH|NETUNREACH|TIMEDOUT|PIPE|AI_AGAIN)$/.test(code) || code === 'ENOTFOUND' || code === 'ENOENT') return 'unreachable';
  if (code === '' && /Connection terminated|timeout exceeded when trying to connect|connection timeout|Query read timeout|Client has encountered a connection error/i.test(message)) return 'unreachable';
  if (code === '53100') return 'full'; // disk_full
  if (code === '25006' || code === '42501') return 'read-only'; // read_only_sql_transaction, insufficient_privilege
  if (code === '55P03' || code === '40P01' || code === '40001' || code === '53300') return 'locked'; // lock timeout, deadlock, serialization, too many connections
  if (code === '3D000') return 'missing'; // the database does not exist
  if (code === '28P01' || code === '28000') return 'refused'; // authentication
  if (code.startsWith('58') || code === 'XX001' || code === 'XX002') return 'io'; // system/I-O error, corrupted data or index
  return 'other';
}

interface MinuteRow {
  minute: number;
  worker: string;
  owner: string;
  localShares: number;
  localWork: number;
  accepted: number;
  rejected: number;
  unanswered: number;
  acceptedWork: number;
}

/** A batch's additions to worker_minutes, one row per key (an upsert may touch a row only once per statement). */
class MinuteSums {
  private readonly byKey = new Map<string, MinuteRow>();
  get size(): number {
    return this.byKey.size;
  }
  local(minute: number, worker: string, owner: string, shares: number, work: number): void {
    const m = this.row(minute, worker, owner);
    m.localShares += shares;
    m.localWork += work;
  }
  verdict(minute: number, worker: string, owner: string, verdict: ShareRecord['verdict'], creditedDifficulty: number): void {
    const m = this.row(minute, worker, owner);
    if (verdict === 'accepted') {
      m.accepted += 1;
      m.acceptedWork += creditedDifficulty;
    } else if (verdict === 'rejected') m.rejected += 1;
    else m.unanswered += 1;
  }
  rows(): MinuteRow[] {
    return [...this.byKey.values()];
  }
  private row(minute: number, worker: string, owner: string): MinuteRow {
    const key = `${minute}\u0000${worker}\u0000${owner}`;
    let m = this.byKey.get(key);
    if (!m) {
      m = { minute, worker, owner, localShares: 0, localWork: 0, accepted: 0, rejected: 0, unanswered: 0, acceptedWork: 0 };
      this.byKey.set(key, m);
    }
    return m;
  }
}
