import type tls from 'node:tls';
import t from 'tap';
import { PoolConnection, type PoolDownInfo } from '../../src/upstream/pool-connection.js';
import type { PoolConfig } from '../../src/upstream/types.js';
import { healthyPool, nextEvent, ScriptedPool } from '../helpers/scripted-pool.js';
import { makeCertificate } from '../helpers/tls-cert.js';

/** The subtest object tap hands to a test function. */
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const cert = makeCertificate();
const skip = cert ? false : 'openssl is not available (or failed) to make a self-signed test certificate';

async function tlsPool(t: Test) {
  const pool = await ScriptedPool.start({ tls: cert!, behaviour: healthyPool() });
  t.teardown(() => pool.close());
  return pool;
}

function connection(t: Test, pool: PoolConfig) {
  const conn = new PoolConnection(pool, { connectTimeoutMs: 10_000 });
  t.teardown(async () => {
    conn.close();
    await conn.closed;
  });
  return conn;
}

t.test('TLS: certificate checks are on by default and refuse a self-signed certificate', { skip }, async (t) => {
  const pool = await tlsPool(t);
  t.match(pool.url, /^stratum\+ssl:\/\/127\.0\.0\.1:\d+$/);
  const conn = connection(t, { name: 'tls', url: pool.url, user: 'u', password: 'x' });
  const down = nextEvent<[PoolDownInfo]>(conn, 'down');
  conn.start();
  const [info] = await down;
  t.equal(info.cause, 'connect');
  t.equal(info.reason, 'connect failed: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)');
  t.equal(pool.clients.length, 0, 'no stratum session was opened');
});

t.test('TLS: with checks off for this pool it connects and works', { skip }, async (t) => {
  const pool = await tlsPool(t);
  const conn = connection(t, { name: 'tls', url: pool.url, user: 'u', password: 'x', tlsVerify: false });
  const ready = nextEvent(conn, 'ready');
  conn.start();
  await ready;
  t.same(conn.extranonce, { extranonce1: 'f000000a', extranonce2Size: 4 });
  t.match(await conn.submit({ worker: 'u', jobId: '1', extranonce2: '00000000', ntime: '6b0187b1', nonce: '00000001' }), { kind: 'accepted' });
});

t.test('TLS: with the CA given, checks stay on and pass; SNI carries the hostname', { skip }, async (t) => {
  const pool = await tlsPool(t);
  const byIp = connection(t, { name: 'tls', url: pool.url, user: 'u', password: 'x', tlsCa: cert!.cert });
  const ready = nextEvent(byIp, 'ready');
  byIp.start();
  await ready;
  t.ok(byIp.isReady, 'verified against the given CA (IP SAN)');
  t.equal((pool.clients[0]!.socket as tls.TLSSocket).servername, false, 'no SNI for an IP literal (RFC 6066)');

  const byName = connection(t, { name: 'tls-name', url: `stratum+ssl://localhost:${pool.port}`, user: 'u', password: 'x', tlsCa: cert!.cert });
  const ready2 = nextEvent(byName, 'ready');
  byName.start();
  await ready2;
  t.equal((pool.clients[1]!.socket as tls.TLSSocket).servername, 'localhost', 'servername set to the pool host');
});
