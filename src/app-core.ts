import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { OwnerMap } from './books/owners.js';
import type { PowHasher } from './chain/hasher.js';
import type { ProxyConfig } from './config.js';
import type { EventBus } from './core/events.js';
import type { Logger } from './core/log.js';
import { AccessPolicy } from './downstream/access.js';
import { DeviceServer } from './downstream/server.js';
import { deviceServerOptions, proxyOptions, routingSpec, routingTiming, upstreamSlotOptions } from './options.js';
import { Proxy } from './proxy/proxy.js';
import type { RoutingSpec } from './routing/types.js';
import { UpstreamSlot } from './upstream/upstream-slot.js';

/**
 * The core side of the proxy: device access, the upstream slots, the proxy core and the device server, on an
 * event bus it is given. It runs in the one process of `workers: 1` (src/app.ts composes it with the observer
 * side on one bus) and in every worker process of a cluster (src/cluster/worker.ts: its bus is forwarded to
 * the primary). It holds every device and pool connection; it observes nothing itself.
 */
export interface CoreSide {
  /** The configuration in force (a reload replaces it: src/reload.ts). */
  config: ProxyConfig;
  /** The routing in force; setting it applies it to the proxy (Proxy.setRouting: without dropping a device). */
  routing: RoutingSpec;
  /** The owners map routes resolve workers with (a reload that changes owners replaces it). */
  owners: OwnerMap;
  readonly access: AccessPolicy;
  readonly proxy: Proxy;
  readonly devices: DeviceServer;
  readonly bus: EventBus;
  readonly log: Logger;
  /** The device limits this process applies for a configuration (a cluster worker's share of the per-host ones). */
  limits(config: ProxyConfig): ProxyConfig['limits'];
  /** Listen on the device port (a port in use fails here, before any pool connection is made). */
  listen(): Promise<AddressInfo>;
  /** Open the pool side (upstream connections open as devices need them). */
  start(): void;
  /**
   * The first half of a graceful stop: no new devices, devices told to reconnect, pending pool answers
   * awaited (bounded by `shutdown.drainSeconds`), then the pool side stopped, so every forwarded share has
   * its `share.upstream` when this resolves.
   */
  drain(): Promise<void>;
  /** The second half: the device sessions ended and the port closed. */
  close(): Promise<void>;
}

export interface CoreSideDeps {
  hasher: PowHasher;
  bus: EventBus;
  log: Logger;
  /** The owners map routes resolve workers with (the farm ledger's in one process; compiled from the config in a worker). */
  owners: OwnerMap;
  /** The first session id and share id (a worker's incarnation range; default 1: see src/cluster/ids.ts). */
  firstId?: number;
  /** The device server's per-host limits as this process applies them (a worker's share: src/cluster/worker-count.ts). */
  limits?: (config: ProxyConfig) => ProxyConfig['limits'];
}

export function createCoreSide(config: ProxyConfig, deps: CoreSideDeps): CoreSide {
  const { bus, log } = deps;
  const limitsOf = deps.limits ?? ((c: ProxyConfig) => c.limits);
  // [hardening] `live.config` is the configuration in force: a reload (src/reload.ts) replaces it, and
  // everything read after start-up (upstream sessions opened later, the shutdown drain) reads it from here.
  const live = { config, owners: deps.owners, routing: routingSpec(config, deps.owners) };
  const access = new AccessPolicy(config.access);

  const upstreamLog = log.child({ component: 'upstream' });
  const proxy = new Proxy({
    ...proxyOptions(config),
    hasher: deps.hasher,
    bus,
    log: log.child({ component: 'proxy' }),
    // Each target's connections (one per lane of the extranonce space) over that target's pool list; opened
    // later (and after a reload) with the settings in force.
    createUpstream: (index, target) =>
      new UpstreamSlot({
        ...upstreamSlotOptions(live.config, target.pools),
        // A dashd entry's session judges shares itself (X11).
        hasher: deps.hasher,
        log: (level, message) => upstreamLog[level === 'debug' || level === 'info' || level === 'warn' || level === 'error' ? level : 'info'](message, { slot: index, target: target.name }),
      }),
    routing: live.routing,
    routingTiming: routingTiming(config),
    checkAccess: (username, password) => access.checkCredentials(username, password),
    ...(deps.firstId !== undefined ? { firstShareId: deps.firstId } : {}),
  });

  const devices = new DeviceServer(
    {
      ...deviceServerOptions({ ...config, limits: limitsOf(config) }),
      tls: config.listen.tls ? { cert: readFileSync(config.listen.tls.cert), key: readFileSync(config.listen.tls.key) } : undefined,
      checkAddress: (ip) => access.checkAddress(ip),
      ...(deps.firstId !== undefined ? { firstSessionId: deps.firstId } : {}),
    },
    proxy,
    bus,
    log.child({ component: 'devices' }),
  );

  return {
    get config() {
      return live.config;
    },
    set config(next: ProxyConfig) {
      live.config = next;
    },
    get owners() {
      return live.owners;
    },
    set owners(next: OwnerMap) {
      live.owners = next;
    },
    get routing() {
      return live.routing;
    },
    set routing(next: RoutingSpec) {
      proxy.setRouting(next);
      live.routing = next;
    },
    access,
    proxy,
    devices,
    bus,
    log,
    limits: limitsOf,
    listen: () => devices.listen(),
    start: () => proxy.start(),
    async drain() {
      await devices.stopAccepting().catch(() => {});
      for (const s of devices.sessions) {
        s.notify('client.reconnect', []);
      }
      await proxy.drain(live.config.shutdown.drainSeconds * 1000);
      // [hardening] The pool side stops first: submits still unanswered after the drain resolve now, and
      // their honest answer reaches the device before its session is ended (flushed, bounded).
      await proxy.stop();
    },
    close: () => devices.close(),
  };
}
