import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';
import { createProxyApp, type ProxyApp } from '../../src/app.js';
import { buildConfig, type ProxyConfig } from '../../src/config.js';
import type { ProxyEventMap } from '../../src/core/events.js';
import { silentLogger } from '../../src/core/log.js';
import { SimFleet, type SimFleetOptions } from '../../src/sim/fleet.js';
import { SimPool, type SimPoolOptions } from '../../src/sim/pool.js';
import { hasher } from './share-kit.js';

/**
 * A routed farm on loopback for the routing end-to-end tests (test/e2e/routing-*.test.ts): simulated pools
 * that record who logged in and which jobs they issued, the whole proxy app made from a configuration with
 * `routes` and `routing` timings, the core events it emitted, and a simulated fleet.
 */

/** A network target no share reaches: no found block sends a clean job, so what is tested is the routing's switches alone. */
export const NO_BLOCKS = '1b0404cb';

/** A simulated pool and what it saw: the users that authorized on it, the jobs it issued, every share it judged. */
export interface WatchedPool {
  pool: SimPool;
  name: string;
  users: Set<string>;
  jobs: Set<string>;
  /** Shares judged, with the job id and the verdict. */
  shares: { jobId: string | null; accepted: boolean; worker: string | null }[];
}

/**
 * A simulated pool at `difficulty` (no blocks, a new job every second), each a different coinbase tag and
 * height, so the same job id on two pools names different work: a share of one pool's job sent to another
 * would not hash to what the other expects.
 */
export async function watchedPool(t: Test, name: string, index: number, difficulty: number, opts: SimPoolOptions = {}): Promise<WatchedPool> {
  const w: WatchedPool = { pool: undefined as unknown as SimPool, name, users: new Set(), jobs: new Set(), shares: [] };
  w.pool = new SimPool({
    hasher,
    difficulty,
    nbits: NO_BLOCKS,
    jobIntervalMs: 1000,
    blockIntervalMs: 0,
    startHeight: 2_300_000 + 1000 * index,
    poolTag: `/sim ${name}/`,
    submitWorkers: 'authorized',
    authorizeUser: (user) => (w.users.add(user), true),
    ...opts,
  });
  w.pool.on('job', (j) => w.jobs.add(j.jobId));
  w.pool.on('share', (s) => w.shares.push({ jobId: s.jobId, accepted: s.accepted, worker: s.worker }));
  await w.pool.listen();
  t.teardown(() => w.pool.close());
  return w;
}

/** The pool entry of a configuration for `w`, logged in as `user`. */
export const poolEntry = (w: WatchedPool, user: string) => ({ name: w.name, url: w.pool.url, user, password: 'x' });

/**
 * The proxy's configuration: loopback, free ports, every device and pool at `difficulty` (vardiff pinned, so
 * every share goes upstream and a pool's accepted work is its accepted shares x difficulty), no submit rate
 * limit in the way, and `over`
 * (pools, routes, routing, ledger, owners).
 */
export function routedConfig(difficulty: number, over: Record<string, unknown>): ProxyConfig {
  return buildConfig(
    {
      listen: { host: '127.0.0.1', port: 0, tls: null },
      http: { host: '127.0.0.1', port: 0, token: null, allowedOrigins: [] },
      expectedDevices: 100,
      difficulty: { start: difficulty, min: difficulty, max: difficulty, targetSharesPerMinute: 12, retargetSeconds: 30, maxStep: 4, multiplier: 1 },
      upstream: { submitTimeoutSeconds: 10, failoverAfterAttempts: 2, probeIntervalSeconds: 30, connectTimeoutSeconds: 5 },
      // A simulated device at the pool's (low) difficulty submits ~50 shares a second: above the default limit.
      limits: { submitsPerSecond: 10_000 },
      shutdown: { drainSeconds: 5 },
    },
    over as never,
  );
}

type Recorded = { [K in keyof ProxyEventMap]?: ProxyEventMap[K][] };

/**
 * The app started from `config`, and the core events it emits (the ones named), recorded from the start.
 * `stop` stops it once (a test that reads the books stops it first; the teardown then does nothing).
 */
export async function startRoutedApp(t: Test, config: ProxyConfig, record: (keyof ProxyEventMap)[]): Promise<{ app: ProxyApp; events: Recorded; stop: () => Promise<void> }> {
  const app = await createProxyApp(config, { hasher, log: silentLogger });
  const events: Recorded = {};
  for (const name of record) app.bus.on(name, (e) => ((events[name] ??= []) as unknown[]).push(e));
  await app.start();
  let stopped: Promise<void> | null = null;
  const stop = () => (stopped ??= app.stop());
  t.teardown(stop);
  return { app, events, stop };
}

/** A fleet mining on the app's device port (reconnecting quickly if dropped: the tests count drops). */
export async function startRoutedFleet(t: Test, app: ProxyApp, opts: Partial<SimFleetOptions> & Pick<SimFleetOptions, 'devices'>): Promise<SimFleet> {
  const fleet = new SimFleet({ hasher, port: app.devices.address!.port, reconnectDelayMs: 100, maxReconnectDelayMs: 500, ...opts });
  t.teardown(() => fleet.stop());
  await fleet.start();
  await fleet.whenMining(opts.devices, 20_000);
  return fleet;
}

/** Stop hashing and wait (bounded) until every submit has its answer and the proxy heard every pool verdict. */
export async function settle(app: ProxyApp, fleet: SimFleet): Promise<void> {
  fleet.setHashrate(0);
  await fleet.waitFor((s) => s.totals.accepted + s.totals.rejected + s.unanswered === s.totals.submitted, 15_000);
  await app.proxy.drain(5000);
}

/**
 * What every routed test checks of each pool: it saw only its own login(s), and every share it got was of a
 * job it issued and was accepted (a share of another pool's job, with another coinbase and height, would be
 * refused: the job id unknown, or the hash not what this pool's job gives).
 */
export function checkPoolSawItsOwn(t: Test, w: WatchedPool, logins: string[]): void {
  t.same([...w.users].sort(), [...logins].sort(), `pool ${w.name} saw only its own login(s): ${logins.join(', ')}`);
  const foreign = w.shares.filter((s) => s.jobId === null || !w.jobs.has(s.jobId));
  t.equal(foreign.length, 0, `pool ${w.name}: every share names a job it issued`);
  const refused = w.shares.filter((s) => !s.accepted);
  t.equal(refused.length, 0, `pool ${w.name} accepted every share it got (${w.shares.length})`);
}

/** A temporary folder for the books, removed at teardown. */
export function booksFile(t: Test): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'routing-e2e-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'books.sqlite');
}

/** The split of `work` among names, 0 to 1 each (0 when there is none). */
export function shares(work: Record<string, number>): Record<string, number> {
  const total = Object.values(work).reduce((a, b) => a + b, 0);
  return Object.fromEntries(Object.entries(work).map(([k, v]) => [k, total > 0 ? v / total : 0]));
}
