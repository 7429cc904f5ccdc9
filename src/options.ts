import { OwnerMap } from './books/owners.js';
import type { ProxyConfig } from './config-schema.js';
import type { DeviceLimits, DeviceServerOptions } from './downstream/server.js';
import type { ProxyLiveOptions, ProxyOptions } from './proxy/proxy.js';
import type { VardiffOptions } from './proxy/vardiff.js';
import { routeTable } from './routing/route-table.js';
import type { RoutingSpec, RoutingTiming } from './routing/types.js';
import type { PoolConfig } from './upstream/types.js';
import type { UpstreamSlotOptions } from './upstream/upstream-slot.js';

/**
 * The one mapping from the configuration (seconds, the file's names) to each component's options
 * (milliseconds, the component's names). `start` (src/app.ts) builds the components with it and SIGHUP
 * (src/reload.ts) applies its live part with it. Pure: no socket, no file.
 */
const ms = (seconds: number) => seconds * 1000;

export function vardiffOptions(d: ProxyConfig['difficulty']): Partial<VardiffOptions> {
  return { minDifficulty: d.min, maxDifficulty: d.max, targetSharesPerMinute: d.targetSharesPerMinute, retargetSeconds: d.retargetSeconds, maxStep: d.maxStep };
}

/** What a running proxy can change (SIGHUP): the start difficulty and vardiff. */
export function proxyLiveOptions(c: ProxyConfig): Required<Pick<ProxyLiveOptions, 'startDifficulty' | 'vardiff'>> {
  return { startDifficulty: c.difficulty.start, vardiff: vardiffOptions(c.difficulty) };
}

/** The proxy's options from the configuration (the wiring adds hasher, bus, log, upstreams, access check). */
export function proxyOptions(c: ProxyConfig): Pick<ProxyOptions, 'expectedDevices' | 'minDeviceExtranonce2' | 'maxUpstreamConnections' | 'workerMode' | 'startDifficulty' | 'vardiff' | 'difficultyMultiplier'> {
  return {
    expectedDevices: c.expectedDevices,
    minDeviceExtranonce2: c.minDeviceExtranonce2,
    maxUpstreamConnections: c.maxUpstreamConnections,
    workerMode: c.workerMode,
    ...proxyLiveOptions(c),
    difficultyMultiplier: c.difficulty.multiplier,
  };
}

/** The device limits (all of them can change while running). */
export function deviceLimits(l: ProxyConfig['limits']): Omit<DeviceLimits, 'maxPendingReplies' | 'maxWorkersPerSession'> {
  return {
    maxDevices: l.maxDevices,
    maxConnectionsPerIp: l.maxConnectionsPerIp,
    handshakeTimeoutMs: ms(l.handshakeTimeoutSeconds),
    idleTimeoutMs: ms(l.idleTimeoutSeconds),
    maxLineBytes: l.maxLineBytes,
    maxWriteBufferBytes: l.maxWriteBufferBytes,
    submitsPerSecond: l.submitsPerSecond,
  };
}

/** The device server's options but TLS material (read from `listen.tls`'s files by the wiring) and the address check. */
export function deviceServerOptions(c: ProxyConfig): Omit<DeviceServerOptions, 'tls' | 'checkAddress'> {
  return { host: c.listen.host, port: c.listen.port, ...deviceLimits(c.limits), proxyProtocol: { mode: c.listen.proxyProtocol, trustedProxies: c.listen.trustedProxies } };
}

/** One upstream slot's options over a pool list (a target's: `routing.routes[].targets[].pools`; the wiring adds its log). */
export function upstreamSlotOptions(c: ProxyConfig, pools: PoolConfig[]): Omit<UpstreamSlotOptions, 'log'> {
  return {
    pools,
    failoverAfter: c.upstream.failoverAfterAttempts,
    probeIntervalMs: ms(c.upstream.probeIntervalSeconds),
    connection: { submitTimeoutMs: ms(c.upstream.submitTimeoutSeconds), connectTimeoutMs: ms(c.upstream.connectTimeoutSeconds) },
    dashd: { difficultyMultiplier: c.difficulty.multiplier },
  };
}

/** The HTTP server (dashboard, API, metrics). */
export function httpServerOptions(c: ProxyConfig): { host: string; port: number; token: string | undefined } {
  return { host: c.http.host, port: c.http.port, token: c.http.token ?? undefined };
}

/** The Prometheus metrics (the wiring adds what to do when a device's series are forgotten). */
export function metricsOptions(c: ProxyConfig): { labelIp: boolean; retentionSeconds: number } {
  return { labelIp: c.metrics.labelIp, retentionSeconds: c.metrics.retentionSeconds };
}

/** The owners map the farm ledger credits work by (compiled; throws OwnersError naming every problem). */
export function ownerMap(c: ProxyConfig): OwnerMap {
  return OwnerMap.compile(c.owners, c.books);
}

/**
 * The routing in force: every route (the default one last) and `routeOf(worker)`, which resolves owners with
 * `owners` (the owners map in force: a reload that changes owners, routes or pools makes a new one).
 */
export function routingSpec(c: ProxyConfig, owners: OwnerMap): RoutingSpec {
  return routeTable(c, owners);
}

/** How often and how far the split is corrected, and how a single device's time is sliced. */
export function routingTiming(c: ProxyConfig): RoutingTiming {
  return {
    rebalanceMs: ms(c.routing.rebalanceSeconds),
    maxMovesPerRebalance: c.routing.maxMovesPerRebalance,
    slicePeriodMs: ms(c.routing.slicePeriodSeconds),
    minSliceMs: ms(c.routing.minSliceSeconds),
  };
}
