import type { ProxyApp } from './app.js';
import { OwnersError, type OwnerMap } from './books/owners.js';
import { ConfigError, poolsAt, type ProxyConfig } from './config.js';
import { AccessPolicy, CidrSet } from './downstream/access.js';
import { checkDeviceLimits } from './downstream/server.js';
import { deviceLimits, ownerMap, proxyLiveOptions, routingSpec } from './options.js';
import type { RoutingSpec } from './routing/types.js';
import { checkPools } from './upstream/upstream-slot.js';
import { getPath, leafPaths, setPath, type Tree } from './util/path.js';

/**
 * Configuration reload (SIGHUP): what changed, what can change without dropping a device, and applying it.
 *
 * Applied live: the pool list (failover order, logins), device limits, vardiff settings and the start
 * difficulty, access lists (worker names, password, CIDRs), the PROXY protocol's trusted proxies, the shutdown drain bound. No device is dropped by
 * a reload: devices already connected keep their session (a worker taken off the allow-list, an address
 * taken off the CIDR list or a lower per-address limit apply to new connections and authorizations; a new
 * line length to new connections; the start difficulty to devices authorizing from now on; vardiff settings
 * at each device's next retarget; the submit rate, write buffer and timeouts at once). The owners map
 * (`owners`, `books.farmOwner`) applies from the reload on: every device is re-resolved, and what was
 * credited to an owner before stays with it (src/observe/farm-ledger.ts). The routes (`routes`, and `pools`
 * as the default route's target) apply as a new routing (src/routing/route-table.ts), made with the owners
 * map in force, so a changed owners map also makes one: the app takes it (`app.routing`, for the proxy).
 * A configuration with any problem, in its routes too, is refused whole and the routes in force stay.
 * Everything else (listening addresses and ports, the `routing` timings, TLS certificates, the HTTP server
 * and its token, worker mode, the extranonce split, upstream timeouts, metrics and log settings) needs a
 * restart: it is reported, and the running value stays in force.
 */
export interface ConfigDiff {
  /** Changed fields applied while running (`pools`, `limits.maxConnectionsPerIp`, ...). */
  apply: string[];
  /** Changed fields that take effect only after a restart. */
  restartNeeded: string[];
}

/** What a reload applied: the diff, and the new routing when routes, pools or owners changed. */
export interface ReloadResult extends ConfigDiff {
  routing?: RoutingSpec;
}

/** Fields (or whole sections, ending with '.') that a running proxy can change. */
const LIVE: readonly string[] = [
  'pools',
  'routes',
  'limits.',
  'difficulty.start',
  'difficulty.min',
  'difficulty.max',
  'difficulty.targetSharesPerMinute',
  'difficulty.retargetSeconds',
  'difficulty.maxStep',
  'access.',
  'listen.trustedProxies',
  'shutdown.drainSeconds',
  'owners.',
  'books.farmOwner',
];

/** Sections whose keys are names (an owner), not fields: in force, the changed section is replaced whole. */
const WHOLE: readonly string[] = ['owners'];

const isLive = (path: string) => LIVE.some((l) => (l.endsWith('.') ? path.startsWith(l) || path === l.slice(0, -1) : path === l));

/** Leaf paths whose values differ, in order; arrays (pools, access lists) compare as a whole. Pure. */
function changedPaths(a: unknown, b: unknown): string[] {
  const paths = new Map([...leafPaths(a), ...leafPaths(b)].map((p) => [p.join('.'), p]));
  return [...paths.keys()].sort().filter((key) => JSON.stringify(getPath(a, paths.get(key)!)) !== JSON.stringify(getPath(b, paths.get(key)!)));
}

/** What differs between two validated configurations, split into live changes and restart-only ones. Pure. */
export function diffConfig(old: ProxyConfig, next: ProxyConfig): ConfigDiff {
  const changed = changedPaths(old, next);
  return { apply: changed.filter(isLive), restartNeeded: changed.filter((p) => !isLive(p)) };
}

/**
 * Apply what can change live from `next` to a running app, and report what needs a restart (logged).
 * Nothing is changed when a part cannot be applied (checked first). Returns the diff; `app.config` becomes
 * the configuration in force: `next`'s live values, the running values for the rest.
 */
export function applyConfig(app: ProxyApp, next: ProxyConfig): ReloadResult {
  const diff = diffConfig(app.config, next);
  const changed = (prefix: string) => diff.apply.some((p) => p === prefix || p.startsWith(prefix + '.'));

  const limits = deviceLimits(next.limits);
  // Checks that may refuse, before anything changes.
  let owners: OwnerMap | null = null;
  let routing: RoutingSpec | null = null;
  try {
    if (changed('limits')) checkDeviceLimits(limits);
    if (changed('access')) new AccessPolicy(next.access);
    if (changed('listen.trustedProxies')) CidrSet.parse(next.listen.trustedProxies);
    if (changed('owners') || changed('books.farmOwner')) owners = ownerMap(next);
    if (changed('routes') || changed('pools') || owners) routing = routingSpec(next, owners ?? app.ledger.owners);
    if (changed('pools') && next.pools.length > 0) checkPools(next.pools);
    if (changed('routes')) next.routes.forEach((r, i) => r.targets.forEach((target, j) => checkPoolsAt(`routes[${i}].targets[${j}].pools`, target.pools)));
  } catch (err) {
    throw new ConfigError(err instanceof OwnersError ? err.problems : [(err as Error).message]);
  }

  if (changed('access')) app.access.update(next.access);
  if (changed('listen.trustedProxies')) app.devices.setTrustedProxies(next.listen.trustedProxies);
  if (changed('limits')) app.devices.updateLimits(limits);
  if (changed('difficulty')) app.proxy.updateOptions(proxyLiveOptions(next));
  if (owners) {
    const moved = app.ledger.setOwners(owners);
    app.log.info('owners map in force from now on; work credited before stays with its owner', { owners: owners.names, farmOwner: owners.farmOwner, devicesMoved: moved });
  }
  if (routing) {
    // The proxy takes the new routes, weights and pools (Proxy.setRouting).
    app.routing = routing;
    app.log.info('routes in force from now on', { routes: routing.routes.map((r) => ({ route: r.name, targets: r.targets.map((t) => ({ target: t.name, weight: t.weight })) })) });
  }

  const inForce = structuredClone(app.config) as unknown as Tree;
  for (const path of diff.apply) setPath(inForce, path.split('.'), structuredClone(getPath(next, path.split('.'))));
  for (const section of WHOLE) if (changed(section)) inForce[section] = structuredClone(getPath(next, [section]));
  app.config = inForce as unknown as ProxyConfig;

  if (diff.apply.length === 0 && diff.restartNeeded.length === 0) {
    app.log.info('configuration reloaded: nothing changed');
  } else {
    app.log.info('configuration reloaded', { applied: diff.apply, restartNeeded: diff.restartNeeded });
  }
  if (diff.restartNeeded.length > 0) {
    app.log.warn('some changed settings take effect only after a restart; the running values stay in force', { restartNeeded: diff.restartNeeded });
  }
  return routing ? { ...diff, routing } : diff;
}

/** A target's pool list by the upstream's own rule, the problem named by its field. */
function checkPoolsAt(at: string, pools: unknown): void {
  try {
    checkPools(pools);
  } catch (err) {
    throw new Error(poolsAt((err as Error).message, at));
  }
}

/**
 * Reload from `load` (the same file, environment and flags the proxy started with). A configuration with
 * errors is refused, its problems logged, and the running one kept. Returns the diff, or null when refused.
 */
export function reloadConfig(app: ProxyApp, load: () => ProxyConfig): ReloadResult | null {
  let next: ProxyConfig;
  try {
    next = load();
    return applyConfig(app, next);
  } catch (err) {
    const problems = err instanceof ConfigError ? err.problems : [(err as Error).message];
    app.log.error('configuration reload refused: the running configuration is kept', { problems });
    return null;
  }
}
