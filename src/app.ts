import type { AddressInfo } from 'node:net';
import { loadX11Wasm } from './chain/x11-wasm.js';
import type { PowHasher } from './chain/hasher.js';
import type { ProxyConfig } from './config.js';
import type { AccessPolicy } from './downstream/access.js';
import type { DeviceServer } from './downstream/server.js';
import type { Feed } from './observe/feed.js';
import { EventBus } from './core/events.js';
import type { FarmLedger } from './observe/farm-ledger.js';
import type { HttpServer } from './observe/http-server.js';
import { createLogger, type Logger } from './core/log.js';
import type { RoutingSpec } from './routing/types.js';
import type { Proxy } from './proxy/proxy.js';
import type { LedgerWriter } from './books/ledger-writer.js';
import { createCoreSide, type CoreSide } from './app-core.js';
import { createObserverSide, type ObserverSide } from './app-observers.js';
import { poolEntryNamed } from './config.js';
import { DashdBlocks } from './upstream/dashd-blocks.js';
import { registerClusterRoute } from './observe/cluster-api.js';
import { openFilesCount, readOpenFiles } from './util/open-files.js';

/**
 * The whole proxy in one process, wired from a validated configuration: the core side (upstream slots, the
 * proxy core, the device server: src/app-core.ts) and the observer side (the farm ledger, metrics, API,
 * dashboard, alerts, books and the HTTP server: src/app-observers.ts) on one event bus. `start` with
 * `workers: 1` and `demo` run this; a cluster runs the two sides in different processes (src/cluster/).
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
  /** The two sides this app is made of (the reload applies each: src/reload.ts). */
  readonly core: CoreSide;
  readonly observers: ObserverSide;
  start(): Promise<{ stratum: AddressInfo; http: AddressInfo }>;
  /** Graceful stop: no new devices, devices told to reconnect, pending pool answers awaited (bounded). */
  stop(): Promise<void>;
}

export async function createProxyApp(config: ProxyConfig, deps: { hasher?: PowHasher; log?: Logger } = {}): Promise<ProxyApp> {
  const log = deps.log ?? createLogger({ level: config.log.level, format: config.log.format });
  const hasher = deps.hasher ?? (await loadX11Wasm());
  const bus = new EventBus();
  // The observers first: the routes resolve owners with the farm ledger's owners map (the one a reload
  // replaces), and the ledger reads the routes in force from the core when a view asks.
  let core: CoreSide | null = null;
  // Solo: the block watcher asks the dashd entry (in the configuration in force) a found block came from.
  const dashdBlocks = new DashdBlocks((pool) => poolEntryNamed(observers.config, pool));
  const observers = createObserverSide(config, {
    bus,
    log,
    routes: () => core!.routing.routes,
    notReady: () => (core!.proxy.isReady ? null : 'no pool connection with a current job'),
    blockLookup: (pool, hash) => dashdBlocks.lookup(pool, hash),
  });
  core = createCoreSide(config, { hasher, bus, log, owners: observers.ledger.owners });
  const startedAt = Date.now();
  const openFiles = openFilesCount(readOpenFiles());
  // One process: one entry, the same shape a cluster's primary serves (src/cluster/primary.ts).
  registerClusterRoute(observers.http, () => ({
    workers: [{ worker: 0, pid: process.pid, incarnation: 0, startedAt, restarts: 0, devices: core!.devices.sessions.size, ready: core!.proxy.isReady, openFiles }],
  }));
  const side = core;

  let started = false;
  return {
    get config() {
      return side.config;
    },
    set config(next: ProxyConfig) {
      side.config = next;
      observers.config = next;
    },
    get routing() {
      return side.routing;
    },
    set routing(next: RoutingSpec) {
      side.routing = next;
    },
    access: side.access,
    bus,
    ledger: observers.ledger,
    proxy: side.proxy,
    devices: side.devices,
    http: observers.http,
    feed: observers.feed,
    log,
    books: observers.books,
    core: side,
    observers,
    async start() {
      // The books first: a file that is not ours (or is newer) fails the start; one out of reach is logged and retried.
      await observers.openBooks();
      // Ports first: a port in use fails the start before any pool connection is made.
      let stratum: AddressInfo;
      try {
        stratum = await side.listen();
      } catch (err) {
        await observers.books?.stop('start failed');
        throw err;
      }
      let httpAddr: AddressInfo;
      try {
        httpAddr = await observers.listenHttp();
      } catch (err) {
        await side.close();
        await observers.books?.stop('start failed');
        throw err;
      }
      side.start();
      observers.start();
      started = true;
      const scheme = side.config.listen.tls ? 'stratum+ssl' : 'stratum+tcp';
      log.info('proxy listening', { stratum: `${scheme}://${stratum.address}:${stratum.port}`, http: `http://${httpAddr.address}:${httpAddr.port}/`, routes: routesInBrief(side.routing) });
      return { stratum, http: httpAddr };
    },
    async stop() {
      if (!started) {
        await observers.feed.close();
        return side.proxy.stop();
      }
      started = false;
      // Alerts stop first, so devices leaving at shutdown are not reported as going offline.
      void observers.stopAlerts();
      await side.drain();
      // Every forwarded share has its verdict now: the books take the last ones and the stop (pruning first
      // finishes its step: the writer closes the store).
      await observers.closeBooks('stopped');
      await side.close();
      await observers.close();
      await dashdBlocks.close();
    },
  };
}

/** Each route's targets with their weights and pool urls, for the start-up log line. */
export function routesInBrief(routing: RoutingSpec): { route: string; targets: { target: string; weight: number; pools: string[] }[] }[] {
  return routing.routes.map((r) => ({ route: r.name, targets: r.targets.map((x) => ({ target: x.name, weight: x.weight, pools: x.pools.map((p) => p.url) })) }));
}
