import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProxyApp, type ProxyApp } from '../../src/app.js';
import { HASHES_PER_DIFF1 } from '../../src/chain/target.js';
import { loadX11Wasm } from '../../src/chain/x11-wasm.js';
import { buildConfig } from '../../src/config.js';
import { registerApiRoutes } from '../../src/observe/api.js';
import { registerDashboardRoutes } from '../../src/observe/dashboard.js';
import { EventBus, type DeviceSplit } from '../../src/core/events.js';
import { BUCKET_SECONDS, FarmLedger } from '../../src/observe/farm-ledger.js';
import { attachFeed, type Feed } from '../../src/observe/feed.js';
import { HttpServer } from '../../src/observe/http-server.js';
import { silentLogger } from '../../src/core/log.js';
import { NO_MISBEHAVIOUR, SimFleet } from '../../src/sim/fleet.js';
import { SimPool } from '../../src/sim/pool.js';
import type { RouteSpec } from '../../src/routing/types.js';
import type { RejectReason } from '../../src/stratum/errors.js';
import { mulberry32 } from './prng.js';

/**
 * The system the dashboard's browser test drives, behind one interface:
 *
 * - `demo`: the real thing, as `dash-farm-proxy demo` runs it: a SimPool, the proxy app (createProxyApp)
 *   and a SimFleet of devices that really hash X11, all on loopback. Killing a device closes its socket.
 * - `synthetic`: the farm ledger fed by the proxy's own events at realistic ASIC rates (with 10 minutes of
 *   history), for sizes the demo cannot run on a test machine (10,000 devices).
 *
 * Either way the browser talks to the same HttpServer + dashboard routes + websocket feed + JSON API.
 */
export interface DashboardSut {
  readonly kind: 'demo' | 'synthetic';
  /** http://127.0.0.1:<port> */
  readonly baseUrl: string;
  /** The page to open (with the token when one is required). */
  readonly pageUrl: string;
  readonly token: string | null;
  /** Worker names of the devices, in creation order. */
  readonly workers: readonly string[];
  /** The running proxy's live state (a new one after a restart). */
  readonly stats: FarmLedger;
  /** The running proxy's event bus (a test plays events the farm cannot make here on it, such as solo blocks). */
  readonly bus: EventBus;
  /** The running proxy's websocket feed (null for the synthetic farm before it starts). */
  readonly feed: Feed | null;
  /** Stop a device abruptly (as if unplugged); it stays down. */
  kill(worker: string): Promise<void>;
  /** Stop the proxy (HTTP and Stratum); devices and pool keep running and will reconnect. */
  stopProxy(): Promise<void>;
  /** Start the proxy again on the same ports, with fresh state. */
  startProxy(): Promise<void>;
  close(): Promise<void>;
}

export interface DashboardSutOptions {
  /** Default 'demo'. */
  kind?: 'demo' | 'synthetic';
  /** Number of devices (default 24). */
  devices?: number;
  /** Read-only token required by the page and the feed. */
  token?: string;
  /** Feed delta period (default 1000 ms). */
  intervalMs?: number;
  /** Synthetic only: mean accepted shares per second per device (default 1). */
  sharesPerSecond?: number;
  /** Synthetic only: fill the last 10 minutes of history (default true). */
  backfill?: boolean;
  /** Synthetic only: deterministic randomness (default: a fixed seed). */
  seed?: number;
  /** Demo only: the owners section of the proxy's configuration (default: none, every device the farm's). */
  owners?: Record<string, { workers?: string[]; feePercent?: number }>;
  /** Demo only: keep books in a temporary SQLite file (removed at close); default: no books. */
  books?: boolean;
  /**
   * Synthetic only: the routes in force, and where device i mines (a `device.route` after it authorizes;
   * its forwarded shares go up on that target's connection, to its first pool). Default: every device on
   * route 'default', target 'default', pool 'primary'. `splitOf`: device i's `device.split` after its
   * placement (none: plainly whole).
   */
  routes?: { specs: RouteSpec[]; placeOf: (i: number) => { route: string; target: string }; splitOf?: (i: number) => DeviceSplit | null };
}

export function startDashboardSut(opts: DashboardSutOptions = {}): Promise<DashboardSut> {
  return (opts.kind ?? 'demo') === 'demo' ? startDemoSut(opts) : startSyntheticSut(opts);
}

/** Worker name of device i: 40 devices per rack, e.g. rack-03.asic-17. */
export function workerName(i: number): string {
  return `rack-${String(Math.floor(i / 40) + 1).padStart(2, '0')}.asic-${String((i % 40) + 1).padStart(2, '0')}`;
}

/** Devices that misbehave (high reject rate): one in fifteen. */
const misbehaves = (i: number) => i % 15 === 7;

function urls(port: number, token: string | null) {
  const baseUrl = `http://127.0.0.1:${port}`;
  return { baseUrl, pageUrl: token ? `${baseUrl}/?token=${encodeURIComponent(token)}` : `${baseUrl}/` };
}

// ---------------------------------------------------------------------------------------------------------
// demo: SimPool -> proxy app -> SimFleet

async function startDemoSut(opts: DashboardSutOptions): Promise<DashboardSut> {
  const count = opts.devices ?? 24;
  const token = opts.token ?? null;
  const hasher = await loadX11Wasm();
  const pool = new SimPool({ hasher, difficulty: 1e-6, jobIntervalMs: 15_000, blockIntervalMs: 0 });
  await pool.listen();

  let stratumPort = 0;
  let httpPort = 0;
  let app: ProxyApp | null = null;
  let feed: Feed | null = null;
  const booksDir = opts.books ? mkdtempSync(join(tmpdir(), 'dash-proxy-dashboard-books-')) : null;

  async function startProxy(): Promise<void> {
    const config = buildConfig({
      pools: [{ name: 'sim-pool', url: pool.url, user: 'XdashboardFarm.proxy', password: 'x' }],
      listen: { host: '127.0.0.1', port: stratumPort, tls: null },
      http: { host: '127.0.0.1', port: httpPort, token, allowedOrigins: [] },
      expectedDevices: Math.max(count, 100),
      // About one share every 3 s per device at 300 H/s; vardiff keeps it near 12 a minute.
      difficulty: { start: 2.5e-7, min: 1e-9, max: 1e9, targetSharesPerMinute: 12, retargetSeconds: 30, maxStep: 4, multiplier: 1 },
      shutdown: { drainSeconds: 1 },
      ...(opts.owners ? { owners: opts.owners } : {}),
      ...(booksDir ? { ledger: { path: join(booksDir, 'books.sqlite') } } : {}),
    });
    const next = await createProxyApp(config, { hasher, log: silentLogger });
    feed = next.feed;
    const addrs = await next.start();
    stratumPort = addrs.stratum.port;
    httpPort = addrs.http.port;
    app = next;
  }

  async function stopProxy(): Promise<void> {
    const running = app;
    if (!running) return;
    app = null;
    await running.stop();
  }

  await startProxy();
  const workers = Array.from({ length: count }, (_, i) => workerName(i));
  const fleet = new SimFleet({
    hasher,
    port: stratumPort,
    devices: count,
    hashrate: 300,
    maxHashrate: 20_000,
    workerName,
    reconnectDelayMs: 200,
    maxReconnectDelayMs: 1000,
    deviceOptions: (i) => (misbehaves(i) ? { misbehaviour: { ...NO_MISBEHAVIOUR, duplicate: 0.2, lowDifficulty: 0.1 } } : {}),
  });
  await fleet.start();
  await fleet.whenMining(count, 60_000);

  const { baseUrl, pageUrl } = urls(httpPort, token);
  let closed = false;
  return {
    kind: 'demo',
    baseUrl,
    pageUrl,
    token,
    workers,
    get stats() {
      if (!app) throw new Error('the proxy is stopped');
      return app.ledger;
    },
    get bus() {
      if (!app) throw new Error('the proxy is stopped');
      return app.bus;
    },
    get feed() {
      return feed;
    },
    async kill(worker) {
      const index = workers.indexOf(worker);
      if (index < 0) throw new Error(`no such device: ${worker}`);
      fleet.killDevice(index);
    },
    stopProxy,
    startProxy,
    async close() {
      if (closed) return;
      closed = true;
      await fleet.stop();
      await stopProxy();
      await pool.close();
      if (booksDir) rmSync(booksDir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// synthetic: the proxy's events at ASIC rates, no sockets to devices

interface SyntheticDevice {
  worker: string;
  /** Where it mines, the upstream connection and pool its forwarded shares go to. */
  place: { route: string; target: string; connection: number; pool: string };
  ip: string;
  sessionId: number;
  /** Difficulty credited per share. */
  difficulty: number;
  /** Probability that a submission is rejected. */
  rejectRate: number;
  alive: boolean;
}

async function startSyntheticSut(opts: DashboardSutOptions): Promise<DashboardSut> {
  const count = opts.devices ?? 24;
  const rate = opts.sharesPerSecond ?? 1;
  const token = opts.token ?? null;
  const random = mulberry32(opts.seed ?? 12345);

  const devices: SyntheticDevice[] = [];
  const specs = opts.routes?.specs ?? null;
  const targetList = specs ? specs.flatMap((r) => r.targets.map((x) => ({ route: r.name, target: x.name, pool: x.pools[0]?.name ?? x.name }))) : [{ route: 'default', target: 'default', pool: 'primary' }];
  const placeOf = (i: number) => {
    const at = opts.routes?.placeOf(i) ?? { route: 'default', target: 'default' };
    const connection = targetList.findIndex((x) => x.target === at.target);
    if (connection < 0) throw new Error(`device ${i}: no target ${at.target} in the routes`);
    return { ...at, connection, pool: targetList[connection]!.pool };
  };
  for (let i = 0; i < count; i++) {
    // A Dash ASIC does about 1-2 TH/s of X11 (e.g. Antminer D9: 1.77 TH/s).
    const hashrate = 1.2e12 + random() * 0.6e12;
    devices.push({
      worker: workerName(i),
      place: placeOf(i),
      ip: `10.0.${Math.floor(i / 40) + 1}.${(i % 40) + 11}`,
      sessionId: i + 1,
      difficulty: hashrate / (rate * HASHES_PER_DIFF1),
      rejectRate: misbehaves(i) ? 0.14 : 0.004,
      alive: true,
    });
  }
  const byWorker = new Map(devices.map((d) => [d.worker, d]));

  interface Proxy {
    bus: EventBus;
    stats: FarmLedger;
    http: HttpServer;
    feed: Feed;
  }
  let proxy: Proxy | null = null;
  let port = 0;
  let firstStart = true;

  let shareIds = 0;
  const reject = (bus: EventBus, d: SyntheticDevice, at: number) => {
    const reason: RejectReason = random() < 0.5 ? 'stale' : 'duplicate';
    bus.emit('share.rejected', { sessionId: d.sessionId, worker: d.worker, ip: d.ip, reason, code: reason === 'stale' ? 21 : 22, message: reason, at });
  };
  const accept = (bus: EventBus, d: SyntheticDevice, at: number, credit: number) => {
    const meetsPool = random() < 0.05;
    bus.emit('share.accepted', {
      sessionId: d.sessionId,
      worker: d.worker,
      route: d.place.route,
      target: d.place.target,
      ip: d.ip,
      difficulty: d.difficulty * credit,
      shareDifficulty: d.difficulty * (1 + random() * 3),
      meetsPool,
      meetsNetwork: false,
      at,
    });
    if (!meetsPool) return;
    const shareId = ++shareIds;
    bus.emit('share.forwarded', { sessionId: d.sessionId, worker: d.worker, ...d.place, shareId, jobId: '1', difficulty: 1, shareDifficulty: 1, networkDifficulty: 1e6, blockHash: null, at });
    const verdict = random() > 0.01 ? ({ kind: 'accepted' } as const) : ({ kind: 'rejected', code: 21, reason: 'Stale share' } as const);
    bus.emit('share.upstream', { sessionId: d.sessionId, worker: d.worker, ...d.place, shareId, verdict, latencyMs: 40, at });
  };

  async function startProxy(): Promise<void> {
    const bus = new EventBus();
    // While the history is filled in, the ledger's clock is set back to when the devices "arrived".
    let clockOverride: number | null = null;
    const stats = new FarmLedger(bus, { now: () => clockOverride ?? Date.now(), ...(specs ? { routes: () => specs } : {}) });
    const http = new HttpServer({ host: '127.0.0.1', port, token: opts.token });
    registerApiRoutes(http, stats);
    registerDashboardRoutes(http);

    const now = Date.now();
    const backfill = firstStart && (opts.backfill ?? true);
    const since = backfill ? now - 700_000 : now;
    clockOverride = since;
    for (const [connection, x] of targetList.entries()) {
      bus.emit('pool.up', { route: x.route, target: x.target, connection, pool: x.pool, url: `stratum+tcp://${x.pool}.pool.example:3333`, at: since });
      bus.emit('pool.switch', { route: x.route, target: x.target, connection, from: null, to: x.pool, reason: 'first pool up', at: since });
    }
    if (!specs) bus.emit('pool.up', { route: 'default', target: 'default', connection: 0, pool: 'backup', url: 'stratum+tcp://backup.pool.example:3333', at: since });
    for (const d of devices) {
      if (!d.alive) continue;
      bus.emit('device.authorized', { sessionId: d.sessionId, worker: d.worker, ip: d.ip, at: since });
      bus.emit('device.route', { sessionId: d.sessionId, worker: d.worker, route: d.place.route, target: d.place.target, reason: 'placed', at: since });
      const split = opts.routes?.splitOf?.(d.sessionId - 1);
      if (split) bus.emit('device.split', { sessionId: d.sessionId, worker: d.worker, route: d.place.route, ...split, at: since });
      bus.emit('device.difficulty', { sessionId: d.sessionId, worker: d.worker, difficulty: d.difficulty, at: since });
    }
    if (backfill) {
      // One share per device per bucket over the last 10 minutes, credited with that bucket's expected
      // work, with a slow wave in each device's output so a chart has a shape.
      for (let b = 60; b >= 1; b--) {
        const at = now - b * BUCKET_SECONDS * 1000;
        for (const [i, d] of devices.entries()) {
          accept(bus, d, at, rate * BUCKET_SECONDS * (1 + 0.18 * Math.sin(b / 6 + i) + 0.08 * (random() - 0.5)));
          if (random() < d.rejectRate) reject(bus, d, at);
        }
      }
      const flaky = devices[Math.min(4, devices.length - 1)]!;
      bus.emit('device.disconnected', { sessionId: flaky.sessionId, worker: flaky.worker, ip: flaky.ip, reason: 'connection reset', at: now - 260_000 });
      bus.emit('device.authorized', { sessionId: flaky.sessionId, worker: flaky.worker, ip: flaky.ip, at: now - 228_000 });
      bus.emit('device.route', { sessionId: flaky.sessionId, worker: flaky.worker, route: flaky.place.route, target: flaky.place.target, reason: 'placed', at: now - 228_000 });
      const lucky = devices[Math.min(2, devices.length - 1)]!;
      bus.emit('block.candidate', {
        sessionId: lucky.sessionId,
        worker: lucky.worker,
        pool: 'primary',
        jobId: '6a1f',
        hash: '000000000000001b7d9d1fa5c3e0e2b1b6a53c0f3f4e1d4a6b2c09e8d7f61a2b',
        shareDifficulty: 1.9e8,
        networkDifficulty: 1.2e8,
        at: now - 150_000,
      });
    }
    clockOverride = null;
    firstStart = false;

    const feed = attachFeed(http, stats, { intervalMs: opts.intervalMs ?? 1000 });
    port = (await http.listen()).port;
    proxy = { bus, stats, http, feed };
  }

  async function stopProxy(): Promise<void> {
    const running = proxy;
    if (!running) return;
    proxy = null;
    await running.feed.close();
    await running.http.close();
    running.stats.close();
  }

  await startProxy();

  // Live shares: every 200 ms each live device submits with probability rate * 0.2.
  const stepMs = 200;
  const timer = setInterval(() => {
    if (!proxy) return;
    const at = Date.now();
    for (const d of devices) {
      if (!d.alive || random() >= rate * (stepMs / 1000)) continue;
      if (random() < d.rejectRate) reject(proxy.bus, d, at);
      else accept(proxy.bus, d, at, 1);
    }
  }, stepMs);
  timer.unref();

  const { baseUrl, pageUrl } = urls(port, token);
  let closed = false;
  return {
    kind: 'synthetic',
    baseUrl,
    pageUrl,
    token,
    workers: devices.map((d) => d.worker),
    get stats() {
      if (!proxy) throw new Error('the proxy is stopped');
      return proxy.stats;
    },
    get bus() {
      if (!proxy) throw new Error('the proxy is stopped');
      return proxy.bus;
    },
    get feed() {
      return proxy?.feed ?? null;
    },
    async kill(worker) {
      const d = byWorker.get(worker);
      if (!d) throw new Error(`no such device: ${worker}`);
      if (!d.alive) return;
      d.alive = false;
      proxy?.bus.emit('device.disconnected', { sessionId: d.sessionId, worker, ip: d.ip, reason: 'connection reset by peer', at: Date.now() });
    },
    stopProxy,
    startProxy,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await stopProxy();
    },
  };
}
