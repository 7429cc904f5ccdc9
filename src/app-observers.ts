import type { AddressInfo } from 'node:net';
import type { ProxyConfig } from './config.js';
import type { EventBus } from './core/events.js';
import type { Logger } from './core/log.js';
import { AlertManager } from './observe/alerts.js';
import { registerApiRoutes } from './observe/api.js';
import { registerDashboardRoutes } from './observe/dashboard.js';
import { attachFeed, type Feed } from './observe/feed.js';
import { LogAggregator } from './observe/log-aggregator.js';
import { ProxyMetrics, registerBooksMetrics, type ProcessSource } from './observe/metrics.js';
import { registerMetricsRoute } from './observe/metrics-route.js';
import { FarmLedger } from './observe/farm-ledger.js';
import { HttpServer, sendJson } from './observe/http-server.js';
import { httpServerOptions, metricsOptions, ownerMap } from './options.js';
import type { RouteSpec } from './routing/types.js';
import { ThreadedSqliteLedgerStore } from './books/ledger-sqlite-thread.js';
import { ledgerLocation } from './books/ledger-location.js';
import { PgLedgerStore } from './books/ledger-pg.js';
import { LedgerRetention } from './books/ledger-retention.js';
import { LedgerWriter } from './books/ledger-writer.js';
import { BlockPayouts } from './books/block-payouts.js';
import { openLedgerReader, payoutRules } from './books/open-reader.js';
import { registerLedgerRoutes } from './observe/ledger-api.js';
import { OwnerPayouts } from './observe/owner-payouts.js';
import { BlockWatcher, FALLBACK_CHECK_SECONDS, type BlockLookup } from './observe/block-watcher.js';
import type { DashdSettings } from './upstream/types.js';

/**
 * The observer side of the proxy: everything that watches the event bus and shows or keeps what it sees, and
 * the one HTTP server. The farm ledger (live numbers), the Prometheus metrics, the JSON API, the dashboard and
 * its feed, the alerts and webhooks, the log aggregator, the books (one writer, one store, the reader), the
 * solo block watcher (when given a lookup),
 * `/healthz` and `/readyz`. It runs in the one process of `workers: 1` (src/app.ts) and in a cluster's
 * primary (src/cluster/primary.ts), where its bus is fed every worker's events. It never calls the core.
 */
export interface ObserverSide {
  /** The configuration in force (a reload replaces it: src/reload.ts). */
  config: ProxyConfig;
  readonly bus: EventBus;
  readonly ledger: FarmLedger;
  readonly metrics: ProxyMetrics;
  readonly http: HttpServer;
  readonly feed: Feed;
  readonly alerts: AlertManager;
  readonly books: LedgerWriter | null;
  readonly log: Logger;
  /** The books first (a file that is not ours fails the start here), before any port is opened. */
  openBooks(): Promise<void>;
  listenHttp(): Promise<AddressInfo>;
  /** The background parts (alerts, log summaries, pruning, the owners' payouts view). */
  start(): void;
  /** Alerts stop first at shutdown, so devices leaving then are not reported as going offline. */
  stopAlerts(): Promise<void>;
  /** The books take the last events and stop (after the core's drain: every forwarded share has its verdict). */
  closeBooks(reason: string): Promise<void>;
  /** The feed, the HTTP server and the rest. */
  close(): Promise<void>;
}

export interface ObserverSideDeps {
  bus: EventBus;
  log: Logger;
  /** The routes in force, read when a view asks (so a reload shows at once). */
  routes: () => readonly RouteSpec[];
  /** `/readyz`: null when ready, else why not. */
  notReady: () => string | null;
  /** A cluster's primary: every process's own metrics merged into /metrics, and the workers' families (src/observe/process-metrics.ts). */
  processes?: ProcessSource;
  /**
   * Solo: asks the dashd of a pool entry about a block (`getblock <hash>`, verbosity 1), for the block watcher.
   * Absent: no block is followed on the best chain (no `block.status`). The app builds it on the dashd RPC
   * client (src/upstream/dashd-rpc.ts) for the dashd entries of the configuration in force.
   */
  blockLookup?: BlockLookup;
}

export function createObserverSide(config: ProxyConfig, deps: ObserverSideDeps): ObserverSide {
  const { bus, log } = deps;
  const live = { config };
  // The farm's live numbers; a disconnected device is kept (and continues its counts) for the metrics
  // retention. Owners are resolved there, where a share is counted (the core's events carry worker names).
  const ledger = new FarmLedger(bus, { retentionSeconds: metricsOptions(config).retentionSeconds, owners: ownerMap(config), routes: deps.routes });

  // The books' reader (its own worker thread; null without books): each owner's last payout for the
  // dashboard and /api/owners is read from it in the background, and /api/ledger/... below serves it.
  const booksReader = openLedgerReader(config.ledger, { threaded: true });
  const payouts = booksReader ? new OwnerPayouts({ read: (range) => booksReader.payouts(range), log: log.child({ component: 'dashboard' }) }) : null;

  const http = new HttpServer(httpServerOptions(config));
  const metrics = new ProxyMetrics(bus, ledger, { labelIp: metricsOptions(config).labelIp, ...(deps.processes ? { cluster: deps.processes } : {}) });
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
      const why = deps.notReady();
      if (why === null) sendJson(res, 200, { status: 'ready' });
      else sendJson(res, 503, { status: 'not ready', reason: why });
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
  // A solo block's reward is split among owners (books.payoutMethod) once it is final (chainlocked or mature):
  // when the writer has committed that, and at start for one left unpaid; through the reader, exactly once.
  const blockPayouts = booksReader
    ? new BlockPayouts({ reader: booksReader, rules: () => payoutRules(live.config), method: () => live.config.books.payoutMethod, onPayout: () => void payouts?.refresh(), log: log.child({ component: 'ledger' }) })
    : null;
  const books = store === null ? null : new LedgerWriter({ store, bus, ownerOf, log: log.child({ component: 'ledger' }), onPaidBlocks: () => void blockPayouts?.settle() });
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

  // Solo: each block dashd took is followed on its best chain until final (block.status), every
  // `blockCheckSeconds` of its dashd entry in the configuration in force. With workers: here, in the primary.
  const blockWatcher = deps.blockLookup
    ? new BlockWatcher({ bus, lookup: deps.blockLookup, checkSeconds: (pool) => dashdNamed(live.config, pool)?.blockCheckSeconds ?? FALLBACK_CHECK_SECONDS, log: log.child({ component: 'blocks' }) })
    : null;

  let alertsStopped: Promise<void> | null = null;
  return {
    get config() {
      return live.config;
    },
    set config(next: ProxyConfig) {
      live.config = next;
    },
    bus,
    ledger,
    metrics,
    http,
    feed,
    alerts,
    books,
    log,
    openBooks: async () => {
      await books?.start();
    },
    listenHttp: () => http.listen(),
    start() {
      blockWatcher?.start();
      alerts.start();
      summaries.start();
      retention?.start();
      payouts?.start();
      void blockPayouts?.start();
    },
    stopAlerts() {
      alertsStopped ??= alerts.stop(2000);
      return alertsStopped;
    },
    async closeBooks(reason) {
      await retention?.stop();
      await books?.stop(reason);
      await blockPayouts?.stop();
      await payouts?.stop();
      await booksReader?.close();
    },
    async close() {
      // The feed first: open websockets would otherwise hold the HTTP server's close.
      await feed.close();
      await http.close();
      await alertsStopped;
      blockWatcher?.stop();
      summaries.stop();
      metrics.close();
    },
  };
}

/** The dashd settings of the pool entry named `pool` (the top-level pools, then each route target's), if it is a dashd. */
function dashdNamed(config: ProxyConfig, pool: string): DashdSettings | undefined {
  const lists = [config.pools, ...config.routes.flatMap((r) => r.targets.map((t) => t.pools))];
  for (const list of lists) for (const p of list) if (p.name === pool && p.dashd) return p.dashd;
  return undefined;
}
