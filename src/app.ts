import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { loadX11Wasm } from './chain/x11-wasm.js';
import type { PowHasher } from './chain/hasher.js';
import type { ProxyConfig } from './config.js';
import { AccessPolicy } from './downstream/access.js';
import { DeviceServer } from './downstream/server.js';
import { AlertManager } from './observe/alerts.js';
import { registerApiRoutes } from './observe/api.js';
import { registerDashboardRoutes } from './observe/dashboard.js';
import { attachFeed, type Feed } from './observe/feed.js';
import { LogAggregator } from './observe/log-aggregator.js';
import { ProxyMetrics, registerBooksMetrics } from './observe/metrics.js';
import { registerMetricsRoute } from './observe/metrics-route.js';
import { EventBus } from './core/events.js';
import { FarmLedger } from './observe/farm-ledger.js';
import { HttpServer, sendJson } from './observe/http-server.js';
import { createLogger, type Logger } from './core/log.js';
import { deviceServerOptions, httpServerOptions, metricsOptions, ownerMap, proxyOptions, routingSpec, routingTiming, upstreamSlotOptions } from './options.js';
import type { RouteSpec, RoutingSpec } from './routing/types.js';
import { Proxy } from './proxy/proxy.js';
import { UpstreamSlot } from './upstream/upstream-slot.js';
import { ThreadedSqliteLedgerStore } from './books/ledger-sqlite-thread.js';
import { ledgerLocation } from './books/ledger-location.js';
import { PgLedgerStore } from './books/ledger-pg.js';
import { LedgerRetention } from './books/ledger-retention.js';
import { LedgerWriter } from './books/ledger-writer.js';
import { openLedgerReader, payoutRules } from './books/open-reader.js';
import { registerLedgerRoutes } from './observe/ledger-api.js';
import { OwnerPayouts } from './observe/owner-payouts.js';

/**
 * The whole proxy wired from a validated configuration: upstream slots, the proxy core, the device server,
 * the event bus and its observers, and the HTTP server. `start` and `demo` both run this.
 */
export interface ProxyApp {
  /** The configuration in force (SIGHUP reload replaces it: see src/reload.ts). */
  config: ProxyConfig;
  /**
   * The routing in force (every route, its targets, `routeOf(worker)`), made from the configuration with the
   * owners map in force; a reload that changes routes, pools or owners replaces it (src/reload.ts). Setting it
   * applies it to the proxy (Proxy.setRouting: targets, weights and pools, without dropping a device).
   */
  routing: RoutingSpec;
  /** Device access (worker allow-list, password, CIDR allow-list), replaceable while running. */
  readonly access: AccessPolicy;
  readonly bus: EventBus;
  /** The farm's live numbers (every count the API, /metrics, the feed, alerts and the demo show). */
  readonly ledger: FarmLedger;
  readonly proxy: Proxy;
  readonly devices: DeviceServer;
  readonly http: HttpServer;
  /** The dashboard's websocket feed (/ws). */
  readonly feed: Feed;
  readonly log: Logger;
  /** The books' writer (null when neither `ledger.path` nor `ledger.url` is set). */
  readonly books: LedgerWriter | null;
  start(): Promise<{ stratum: AddressInfo; http: AddressInfo }>;
  /** Graceful stop: no new devices, devices told to reconnect, pending pool answers awaited (bounded). */
  stop(): Promise<void>;
}

export async function createProxyApp(config: ProxyConfig, deps: { hasher?: PowHasher; log?: Logger } = {}): Promise<ProxyApp> {
  const log = deps.log ?? createLogger({ level: config.log.level, format: config.log.format });
  const hasher = deps.hasher ?? (await loadX11Wasm());
  const bus = new EventBus();
  // The farm's live numbers; a disconnected device is kept (and continues its counts) for the metrics
  // retention. Owners are resolved there, where a share is counted (the core's events carry worker names).
  // The routes in force (weights and pools for /api/routes, the per-target metrics and the dashboard) are
  // read from `live.routing` (declared below: it needs the ledger's owners) when a view asks, so a reload
  // shows at once.
  const ledger: FarmLedger = new FarmLedger(bus, { retentionSeconds: metricsOptions(config).retentionSeconds, owners: ownerMap(config), routes: (): readonly RouteSpec[] => live.routing.routes });

  // [hardening] `live.config` is the configuration in force: a reload (src/reload.ts) replaces it, and
  // everything read after start-up (upstream sessions opened later, the shutdown drain) reads it from here.
  const live = { config, routing: routingSpec(config, ledger.owners) };
  const access = new AccessPolicy(config.access);

  const upstreamLog = log.child({ component: 'upstream' });
  const proxy = new Proxy({
    ...proxyOptions(config),
    hasher,
    bus,
    log: log.child({ component: 'proxy' }),
    // Each target's connections (one per lane of the extranonce space) over that target's pool list; opened
    // later (and after a reload) with the settings in force.
    createUpstream: (index, target) =>
      new UpstreamSlot({
        ...upstreamSlotOptions(live.config, target.pools),
        log: (level, message) => upstreamLog[level === 'debug' || level === 'info' || level === 'warn' || level === 'error' ? level : 'info'](message, { slot: index, target: target.name }),
      }),
    routing: live.routing,
    routingTiming: routingTiming(config),
    checkAccess: (username, password) => access.checkCredentials(username, password),
  });

  const devices = new DeviceServer(
    {
      ...deviceServerOptions(config),
      tls: config.listen.tls ? { cert: readFileSync(config.listen.tls.cert), key: readFileSync(config.listen.tls.key) } : undefined,
      checkAddress: (ip) => access.checkAddress(ip),
    },
    proxy,
    bus,
    log.child({ component: 'devices' }),
  );

  // The books' reader (its own worker thread; null without books): each owner's last payout for the
  // dashboard and /api/owners is read from it in the background, and /api/ledger/... below serves it.
  const booksReader = openLedgerReader(config.ledger, { threaded: true });
  const payouts = booksReader ? new OwnerPayouts({ read: (range) => booksReader.payouts(range), log: log.child({ component: 'dashboard' }) }) : null;

  const http = new HttpServer(httpServerOptions(config));
  const metrics = new ProxyMetrics(bus, ledger, { labelIp: metricsOptions(config).labelIp });
  registerMetricsRoute(http, metrics);
  registerApiRoutes(http, ledger, payouts ? { payouts } : {});
  registerDashboardRoutes(http);
  const feed = attachFeed(http, ledger, { allowedOrigins: config.http.allowedOrigins, log: log.child({ component: 'dashboard' }), ...(payouts ? { payouts } : {}) });
  http.route({ method: 'GET', path: '/healthz', public: true, handler: (_req, res) => sendJson(res, 200, { status: 'alive' }) });
  http.route({
    method: 'GET',
    path: '/readyz',
    public: true,
    handler: (_req, res) => {
      if (proxy.isReady) sendJson(res, 200, { status: 'ready' });
      else sendJson(res, 503, { status: 'not ready', reason: 'no pool connection with a current job' });
    },
  });

  const alerts = new AlertManager(bus, ledger, config.alerts, { log: log.child({ component: 'alerts' }) });
  // Per-device noise (rejects, connects) is summarised; blocks, pool changes and new refusal causes are
  // already logged at once by the proxy and the device server.
  const summaries = new LogAggregator(bus, log.child({ component: 'summary' }), { immediate: { blocks: false, pools: false, refusals: false } });

  // The books: written behind the share path from the bus' events (src/books/ledger-writer.ts).
  // A share's owner is taken when it is recorded, from the owners map in force: the farm ledger's, which a
  // reload replaces (src/reload.ts), so the books and the live numbers credit the same owner.
  const ownerOf = (worker: string) => ledger.owners.ownerOf(worker);
  // An SQLite file (committed from a worker thread, so the disk never pauses the sockets) or a shared
  // PostgreSQL database (asynchronous already).
  const where = ledgerLocation(config.ledger);
  const store = where === null ? null : where.kind === 'sqlite' ? new ThreadedSqliteLedgerStore({ path: where.path }) : new PgLedgerStore({ url: where.url });
  const books = store === null ? null : new LedgerWriter({ store, bus, ownerOf, log: log.child({ component: 'ledger' }) });
  // Old share and per-minute rows pruned in the background (ledger.retentionDays; 0: kept), through the
  // writer's store: the same connection or thread, so pruning and commits never contend for a lock.
  const retention = store === null ? null : new LedgerRetention({ store, retentionDays: config.ledger.retentionDays, log: log.child({ component: 'ledger' }) });
  // The books' health on /metrics and in the webhooks' alerts, read from the writer when they look.
  if (books) {
    registerBooksMetrics(metrics.registry, books);
    alerts.watchBooks(books);
  }
  // Reading the books (and recording payouts) over /api/ledger/..., from a worker thread of its own, with the
  // owners and books in force; a payout recorded there is read again at once for the owners view.
  if (booksReader) registerLedgerRoutes(http, { reader: booksReader, rules: () => payoutRules(live.config), method: () => live.config.books.payoutMethod, onPayout: () => void payouts?.refresh() });

  let started = false;
  return {
    get config() {
      return live.config;
    },
    set config(next: ProxyConfig) {
      live.config = next;
    },
    get routing() {
      return live.routing;
    },
    set routing(next: RoutingSpec) {
      proxy.setRouting(next);
      live.routing = next;
    },
    access,
    bus,
    ledger,
    proxy,
    devices,
    http,
    feed,
    log,
    books,
    async start() {
      // The books first: a file that is not ours (or is newer) fails the start; one out of reach is logged and retried.
      await books?.start();
      // Ports first: a port in use fails the start before any pool connection is made.
      let stratum: AddressInfo;
      try {
        stratum = await devices.listen();
      } catch (err) {
        await books?.stop('start failed');
        throw err;
      }
      let httpAddr: AddressInfo;
      try {
        httpAddr = await http.listen();
      } catch (err) {
        await devices.close();
        await books?.stop('start failed');
        throw err;
      }
      proxy.start();
      alerts.start();
      summaries.start();
      retention?.start();
      payouts?.start();
      started = true;
      const scheme = live.config.listen.tls ? 'stratum+ssl' : 'stratum+tcp';
      log.info('proxy listening', { stratum: `${scheme}://${stratum.address}:${stratum.port}`, http: `http://${httpAddr.address}:${httpAddr.port}/`, routes: routesInBrief(live.routing) });
      return { stratum, http: httpAddr };
    },
    async stop() {
      if (!started) {
        await feed.close();
        return proxy.stop();
      }
      started = false;
      // Alerts stop first, so devices leaving at shutdown are not reported as going offline.
      const alertsStopped = alerts.stop(2000);
      await devices.stopAccepting().catch(() => {});
      for (const s of devices.sessions) {
        s.notify('client.reconnect', []);
      }
      await proxy.drain(live.config.shutdown.drainSeconds * 1000);
      // [hardening] The pool side stops first: submits still unanswered after the drain resolve now, and
      // their honest answer reaches the device before its session is ended (flushed, bounded).
      await proxy.stop();
      // Every forwarded share has its verdict now: the books take the last ones and the stop (pruning first
      // finishes its step: the writer closes the store).
      await retention?.stop();
      await books?.stop('stopped');
      await payouts?.stop();
      await booksReader?.close();
      await devices.close();
      // The feed first: open websockets would otherwise hold the HTTP server's close.
      await feed.close();
      await http.close();
      await alertsStopped;
      summaries.stop();
      metrics.close();
    },
  };
}

/** Each route's targets with their weights and pool urls, for the start-up log line. */
function routesInBrief(routing: RoutingSpec): { route: string; targets: { target: string; weight: number; pools: string[] }[] }[] {
  return routing.routes.map((r) => ({ route: r.name, targets: r.targets.map((x) => ({ target: x.name, weight: x.weight, pools: x.pools.map((p) => p.url) })) }));
}
