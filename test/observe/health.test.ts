import t from 'tap';
import { createProxyApp } from '../../src/app.js';
import { buildConfig } from '../../src/config.js';
import { silentLogger } from '../../src/core/log.js';
import { SimPool } from '../../src/sim/pool.js';
import { hasher } from '../helpers/share-kit.js';
import { sleep } from '../helpers/wait.js';

/**
 * The health endpoints of the whole proxy (createProxyApp) against a simulated pool on loopback:
 * /healthz answers 200 whenever the process runs; /readyz answers 200 only while a pool connection is up
 * with a current job, and 503 before the first connection, after the pool is lost, and 200 again after it
 * recovers. Both are public: a configured API token does not hide them from a load balancer or Docker.
 */

const WAIT_MS = 60_000; // generous: reconnects use backoff with jitter

async function get(port: number, path: string, token?: string): Promise<{ status: number; body: Record<string, unknown>; type: string | null }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as Record<string, unknown> };
}

/** Poll until `check` holds; fails with what was last seen after WAIT_MS. */
async function until(what: string, probe: () => Promise<number>, want: number): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  let last = -1;
  while (Date.now() < deadline) {
    last = await probe();
    if (last === want) return;
    await sleep(50);
  }
  throw new Error(`${what}: still ${last} after ${WAIT_MS} ms (wanted ${want})`);
}

t.test('/healthz always 200; /readyz follows the pool: 503 before, 200 up, 503 lost, 200 recovered', async (t) => {
  const pool = new SimPool({ hasher, jobIntervalMs: 0, blockIntervalMs: 0 });
  const { url } = await pool.listen();
  // The pool is not reachable yet when the proxy starts: it accepts and closes at once ('reset': the port
  // stays ours, where 'unlisten' could lose it to another test's ephemeral port before resume()).
  await pool.refuse('reset');
  t.teardown(() => pool.close());

  const config = buildConfig({
    pools: [{ name: 'sim', url, user: 'farm.health' }],
    listen: { host: '127.0.0.1', port: 0, tls: null },
    http: { host: '127.0.0.1', port: 0, token: 'read-only-secret' },
    upstream: { connectTimeoutSeconds: 2 },
    shutdown: { drainSeconds: 1 },
  } as never);
  const app = await createProxyApp(config, { hasher, log: silentLogger });
  const { http } = await app.start();
  t.teardown(() => app.stop());
  const port = http.port;
  const ready = async () => (await get(port, '/readyz')).status;

  // Before any pool connection.
  const alive = await get(port, '/healthz');
  t.equal(alive.status, 200, '/healthz answers while the process runs');
  t.match(alive.type, /^application\/json/);
  t.same(alive.body, { status: 'alive' });
  const before = await get(port, '/readyz');
  t.equal(before.status, 503, '/readyz is 503 before a pool connection');
  t.match(before.body, { status: 'not ready', reason: /pool/ });
  t.equal((await get(port, '/api/summary')).status, 401, 'the API needs the token; the health endpoints above answered without it');

  // The pool comes up: a connection, a job.
  await pool.resume();
  await until('readyz after the pool came up', ready, 200);
  const up = await get(port, '/readyz');
  t.same(up.body, { status: 'ready' });
  t.ok(pool.stats().connections >= 1, 'the proxy holds a pool connection');
  t.ok(app.proxy.isReady, 'the proxy has a current job');

  // The pool goes away: every connection dropped, new ones refused.
  await pool.refuse('reset');
  pool.dropAll();
  await until('readyz after the pool was lost', ready, 503);
  t.equal((await get(port, '/healthz')).status, 200, '/healthz stays 200 without a pool');

  // The pool is back: the proxy reconnects by itself.
  await pool.resume();
  await until('readyz after the pool recovered', ready, 200);
  t.equal((await get(port, '/healthz')).status, 200);
  t.ok(pool.stats().connectionsTotal >= 2, 'a new pool connection was made');
});

t.test('/readyz is 503 while the pool is up but has sent no job yet', async (t) => {
  // A pool that answers subscribe/authorize but stays silent about work: connected is not ready.
  const pool = new SimPool({ hasher, jobIntervalMs: 0, blockIntervalMs: 0, faults: { stallAfterMs: 0 } });
  const { url } = await pool.listen();
  t.teardown(() => pool.close());
  const config = buildConfig({
    pools: [{ name: 'sim', url, user: 'farm.health' }],
    listen: { host: '127.0.0.1', port: 0, tls: null },
    http: { host: '127.0.0.1', port: 0 },
    shutdown: { drainSeconds: 1 },
  } as never);
  const app = await createProxyApp(config, { hasher, log: silentLogger });
  const { http } = await app.start();
  t.teardown(() => app.stop());
  const deadline = Date.now() + 2000;
  while (Date.now() < deadline) {
    t.equal((await get(http.port, '/readyz')).status, 503, 'never ready while no job has come');
    if (pool.stats().connectionsTotal > 0) break;
    await sleep(100);
  }
  t.ok(pool.stats().connectionsTotal > 0, 'the proxy did reach the pool');
  t.equal((await get(http.port, '/readyz')).status, 503);
  t.equal((await get(http.port, '/healthz')).status, 200);
});
