import path from 'node:path';
import pg from 'pg';
import { PgLedgerStore } from '../../src/books/ledger-pg.js';
import { SqliteLedgerStore } from '../../src/books/ledger-sqlite.js';
import type { LedgerStore } from '../../src/books/ledger-store.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { readLedger, tempDir } from './ledger-kit.js';

/**
 * The ledger's stores for tests that hold for each of them: an SQLite file, and a PostgreSQL database on a
 * throwaway server (test/helpers/postgres.ts, one per test file). Each gives a new empty ledger, a store on
 * it, and its rows in one shape (readLedger's: same tables, same order, BIGINT columns as numbers).
 */
export type LedgerRows = ReturnType<typeof readLedger>;

export interface LedgerBackend {
  name: 'SQLite' | 'PostgreSQL';
  /** Where a new, empty ledger is (a file path, a database URL). */
  fresh(t: { teardown(fn: () => void): void }): Promise<string>;
  store(location: string): LedgerStore;
  read(location: string): Promise<LedgerRows>;
}

export const sqliteBackend: LedgerBackend = {
  name: 'SQLite',
  fresh: async (t) => path.join(tempDir(t), 'books.sqlite'),
  store: (location) => new SqliteLedgerStore({ path: location }),
  read: async (location) => readLedger(location),
};

export function pgBackend(server: TestPostgres): LedgerBackend {
  let n = 0;
  return {
    name: 'PostgreSQL',
    fresh: () => server.createDatabase(`ledger${++n}`),
    store: (location) => new PgLedgerStore({ url: location }),
    read: (location) => readPgLedger(location),
  };
}

/**
 * The backends this machine can run: SQLite always, PostgreSQL when its server binaries are installed (else
 * `skipped` says why, for the test file to report). Starts the PostgreSQL server, stopped at `t`'s teardown.
 */
export async function ledgerBackends(t: { teardown(fn: () => void | Promise<void>): void }): Promise<{ backends: LedgerBackend[]; skipped: string | null }> {
  const server = await startPostgres(t);
  if ('missing' in server) return { backends: [sqliteBackend], skipped: `PostgreSQL: ${server.missing}` };
  return { backends: [sqliteBackend, pgBackend(server)], skipped: null };
}

const INT8_OID = 20;
const types = { getTypeParser: (oid: number, format?: string) => (oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) };

/** A PostgreSQL ledger's rows, read with a client of the test's own, in readLedger's shape. */
export async function readPgLedger(url: string): Promise<LedgerRows> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000, types: types as pg.CustomTypesConfig });
  await client.connect();
  const all = async (sql: string) => (await client.query(sql)).rows as Record<string, unknown>[];
  try {
    return {
      runs: await all('SELECT * FROM proxy_runs ORDER BY started_at, run_id'),
      shares: await all('SELECT * FROM shares ORDER BY run_id, share_id'),
      minutes: await all('SELECT * FROM worker_minutes ORDER BY minute, worker, owner'),
      switches: await all('SELECT * FROM pool_switches ORDER BY run_id, seq'),
      versions: await all('SELECT version, description FROM schema_version ORDER BY version'),
    };
  } finally {
    await client.end();
  }
}
