import type { Test } from 'tap';
import { createProxyApp, type ProxyApp } from '../../src/app.js';
import type { SimPool as SimPoolType } from '../../src/sim/pool.js';
import { buildConfig } from '../../src/config.js';
import { silentLogger } from '../../src/core/log.js';
import { SimFleet, type SimFleetOptions, type SimFleetStats } from '../../src/sim/fleet.js';
import { SimPool, type SimPoolOptions } from '../../src/sim/pool.js';
import { hasher } from './share-kit.js';
import { sleep, until } from './wait.js';

/** A whole farm on loopback for end-to-end tests: simulated pool(s) -> the proxy app -> a simulated fleet. */
type Teardown = { teardown(fn: () => unknown): void };
/** A value of a config layer as buildConfig takes it. */
type Json = NonNullable<Parameters<typeof buildConfig>[0]>[string];
export const WAIT = 45_000;

export async function startPool(t: Teardown, opts: SimPoolOptions = {}): Promise<SimPool> {
  const pool = new SimPool({ hasher, jobIntervalMs: 0, blockIntervalMs: 0, difficulty: 1e-6, ...opts });
  await pool.listen();
  t.teardown(() => pool.close());
  return pool;
}

export interface ProxyOverrides {
  startDifficulty?: number;
  probeIntervalSeconds?: number;
  failoverAfterAttempts?: number;
  expectedDevices?: number;
  submitTimeoutSeconds?: number;
  connectTimeoutSeconds?: number;
  /** The books' SQLite file (default: no books), and who owns which workers. */
  ledgerPath?: string;
  /** The books in PostgreSQL instead (ledger.url). */
  ledgerUrl?: string;
  owners?: Record<string, { workers: string[]; feePercent?: number }>;
  /** The books' rules (payoutMethod, pplnsWindow, farmOwner). */
  books?: Record<string, Json>;
}

/** A pool list entry: a simulated pool (named poolA, poolB, ... by place), or an entry as the config writes it (a dashd). */
export type PoolEntry = SimPool | Record<string, Json>;

/** The proxy app on loopback; `httpUrl` is where its dashboard, /api and /metrics answer. */
export async function startProxy(t: Teardown, pools: PoolEntry[], o: ProxyOverrides = {}): Promise<ProxyApp & { httpUrl: string }> {
  const config = buildConfig({
    pools: pools.map((p, i) => (p instanceof SimPool ? { name: `pool${String.fromCharCode(65 + i)}`, url: p.url, user: 'Xfarm.proxy', password: 'x' } : p)),
    listen: { host: '127.0.0.1', port: 0, tls: null },
    http: { host: '127.0.0.1', port: 0, token: null, allowedOrigins: [] },
    expectedDevices: o.expectedDevices ?? 100,
    difficulty: { start: o.startDifficulty ?? 2e-7, min: 1e-9, max: 1e9, targetSharesPerMinute: 12, retargetSeconds: 30, maxStep: 4, multiplier: 1 },
    upstream: { submitTimeoutSeconds: o.submitTimeoutSeconds ?? 10, failoverAfterAttempts: o.failoverAfterAttempts ?? 2, probeIntervalSeconds: o.probeIntervalSeconds ?? 30, connectTimeoutSeconds: o.connectTimeoutSeconds ?? 5 },
    shutdown: { drainSeconds: 5 },
    ledger: { path: o.ledgerPath ?? null, url: o.ledgerUrl ?? null },
    ...(o.owners ? { owners: o.owners } : {}),
    ...(o.books ? { books: o.books } : {}),
  });
  const app = await createProxyApp(config, { hasher, log: silentLogger });
  const { http } = await app.start();
  t.teardown(() => app.stop());
  return Object.assign(app, { httpUrl: `http://127.0.0.1:${http.port}` });
}

export async function startFleet(t: Teardown, app: ProxyApp, opts: Partial<SimFleetOptions> = {}): Promise<SimFleet> {
  const fleet = new SimFleet({ hasher, port: app.devices.address!.port, devices: 10, hashrate: 300, maxHashrate: 20_000, reconnectDelayMs: 100, maxReconnectDelayMs: 500, ...opts });
  t.teardown(() => fleet.stop());
  await fleet.start();
  return fleet;
}

/** Stop hashing and wait until every submit has its answer. */
export async function quiesce(fleet: SimFleet): Promise<SimFleetStats> {
  fleet.setHashrate(0);
  await sleep(150);
  return fleet.waitFor((s) => s.totals.accepted + s.totals.rejected + s.unanswered === s.totals.submitted, WAIT);
}

/** The books every scenario must balance at the end. */
export async function checkBooks(t: Test, app: ProxyApp, fleet: SimFleet, pools: SimPoolType[]) {
  const s = await quiesce(fleet);
  await app.proxy.drain(5000);
  const c = app.ledger.summary();
  const poolAccepted = pools.reduce((n, p) => n + p.stats().totals.accepted, 0);
  const poolRejected = pools.reduce((n, p) => n + p.stats().totals.rejected, 0);
  t.equal(s.disconnects, 0, 'no device was disconnected');
  t.equal(s.unanswered, 0, 'every submit was answered');
  t.equal(c.poolAccepted, poolAccepted, 'every forwarded share the proxy calls accepted, a pool accepted');
  t.equal(poolRejected, c.poolRejected, 'pool rejections are all accounted for');
  t.equal(poolRejected, 0, 'no pool rejected a share the proxy forwarded');
  t.equal(s.totals.accepted, c.accepted - c.poolRejected - c.poolUnanswered, 'a device hears "accepted" only for shares valid locally and not refused or left unanswered by the pool');
  t.equal(s.byKind.valid.accepted + s.byKind.valid.rejected, s.byKind.valid.submitted);
  for (const [code, n] of Object.entries(s.totals.rejectedByCode)) t.ok(code === '21', `rejections during the event are stale-job ones only (${n} x ${code})`);
}

export async function mining(fleet: SimFleet, app: ProxyApp, more = 20): Promise<void> {
  const target = app.ledger.summary().accepted + more;
  await until(() => app.ledger.summary().accepted >= target, `${more} more accepted shares`, WAIT);
  void fleet;
}

