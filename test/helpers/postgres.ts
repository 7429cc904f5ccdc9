import { findPostgres, startPgCluster, type PgCluster } from '../../src/bench/pg-cluster.js';

/**
 * A throwaway PostgreSQL cluster for a test file (src/bench/pg-cluster.ts, which the benchmark uses too):
 * fsync off, since the server's own durability is not what the tests check. Removed at `t`'s teardown.
 */
export type TestPostgres = PgCluster;

/** Start a cluster, or give the reason it cannot (the test skips with it). `t.teardown` removes it. */
export async function startPostgres(t: { teardown(fn: () => void | Promise<void>): void }): Promise<TestPostgres | { missing: string }> {
  const found = findPostgres();
  if ('missing' in found) return found;
  const server = await startPgCluster(found.bin, { durable: false });
  t.teardown(() => server.destroy());
  return server;
}
