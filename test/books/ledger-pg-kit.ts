import pg from 'pg';

/**
 * The PostgreSQL ledger's rows, read with a client of the test's own, in the shape readLedger (ledger-kit.ts)
 * gives for an SQLite file: same tables, same order, BIGINT columns as numbers.
 */
const INT8_OID = 20;
const types = { getTypeParser: (oid: number, format?: string) => (oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) };

export async function readPgLedger(url: string) {
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
