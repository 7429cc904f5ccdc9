import type { ProxyApp } from './app.js';
import type { CoreSide } from './app-core.js';
import type { ObserverSide } from './app-observers.js';
import type { Logger } from './core/log.js';
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
 * restart: it is reported, and the running value stays in force (so does `workers`, the number of worker
 * processes). In a cluster (src/cluster/) the primary applies the observer side's part (the owners map) and
 * tells every worker, which reads the same file, environment and flags again and applies the core side's.
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
 * A reload checked and ready to apply: the diff, the owners map and routing it makes (when owners, routes or
 * pools changed) and the configuration in force afterwards (`next`'s live values, the running values for the
 * rest). Both sides of the proxy apply the same plan: the observer side its owners map, the core side access,
 * limits, difficulty and routing (in a cluster, the primary and each worker make it from the same file).
 */
export interface ReloadPlan extends ConfigDiff {
  next: ProxyConfig;
  owners: OwnerMap | null;
  routing: RoutingSpec | null;
  inForce: ProxyConfig;
}

/**
 * Check everything that may refuse a reload, before anything changes; throws ConfigError naming the problems.
 * `owners` is the owners map in force (routes resolve workers with it when the reload does not replace it).
 */
export function planReload(inForce: ProxyConfig, next: ProxyConfig, owners: OwnerMap): ReloadPlan {
  const diff = diffConfig(inForce, next);
  const changed = (prefix: string) => diff.apply.some((p) => p === prefix || p.startsWith(prefix + '.'));
  let newOwners: OwnerMap | null = null;
  let routing: RoutingSpec | null = null;
  try {
    if (changed('limits')) checkDeviceLimits(deviceLimits(next.limits));
    if (changed('access')) new AccessPolicy(next.access);
    if (changed('listen.trustedProxies')) CidrSet.parse(next.listen.trustedProxies);
    if (changed('owners') || changed('books.farmOwner')) newOwners = ownerMap(next);
    if (changed('routes') || changed('pools') || newOwners) routing = routingSpec(next, newOwners ?? owners);
    if (changed('pools') && next.pools.length > 0) checkPools(next.pools);
    if (changed('routes')) next.routes.forEach((r, i) => r.targets.forEach((target, j) => checkPoolsAt(`routes[${i}].targets[${j}].pools`, target.pools)));
  } catch (err) {
    throw new ConfigError(err instanceof OwnersError ? err.problems : [(err as Error).message]);
  }
  const result = structuredClone(inForce) as unknown as Tree;
  for (const path of diff.apply) setPath(result, path.split('.'), structuredClone(getPath(next, path.split('.'))));
  for (const section of WHOLE) if (changed(section)) result[section] = structuredClone(getPath(next, [section]));
  return { ...diff, next, owners: newOwners, routing, inForce: result as unknown as ProxyConfig };
}

const changedIn = (plan: ReloadPlan, prefix: string) => plan.apply.some((p) => p === prefix || p.startsWith(prefix + '.'));

/** The observer side's part of a reload: the owners map the farm ledger (and the books) credit work by. */
export function applyObserverReload(observers: ObserverSide, plan: ReloadPlan): void {
  if (plan.owners) {
    const moved = observers.ledger.setOwners(plan.owners);
    observers.log.info('owners map in force from now on; work credited before stays with its owner', { owners: plan.owners.names, farmOwner: plan.owners.farmOwner, devicesMoved: moved });
  }
  observers.config = plan.inForce;
}

/** The core side's part of a reload: access lists, device limits (this process's share), difficulty, routing. */
export function applyCoreReload(core: CoreSide, plan: ReloadPlan): void {
  if (changedIn(plan, 'access')) core.access.update(plan.next.access);
  if (changedIn(plan, 'listen.trustedProxies')) core.devices.setTrustedProxies(plan.next.listen.trustedProxies);
  if (changedIn(plan, 'limits')) core.devices.updateLimits(deviceLimits(core.limits(plan.next)));
  if (changedIn(plan, 'difficulty')) core.proxy.updateOptions(proxyLiveOptions(plan.next));
  if (plan.owners) core.owners = plan.owners;
  if (plan.routing) {
    // The proxy takes the new routes, weights and pools (Proxy.setRouting).
    core.routing = plan.routing;
    core.log.info('routes in force from now on', { routes: plan.routing.routes.map((r) => ({ route: r.name, targets: r.targets.map((t) => ({ target: t.name, weight: t.weight })) })) });
  }
  core.config = plan.inForce;
}

/** The reload's outcome in the log: what applied, what needs a restart. */
export function logReload(log: Logger, plan: ConfigDiff): void {
  if (plan.apply.length === 0 && plan.restartNeeded.length === 0) {
    log.info('configuration reloaded: nothing changed');
  } else {
    log.info('configuration reloaded', { applied: plan.apply, restartNeeded: plan.restartNeeded });
  }
  if (plan.restartNeeded.length > 0) {
    log.warn('some changed settings take effect only after a restart; the running values stay in force', { restartNeeded: plan.restartNeeded });
  }
}

const resultOf = (plan: ReloadPlan): ReloadResult => (plan.routing ? { apply: plan.apply, restartNeeded: plan.restartNeeded, routing: plan.routing } : { apply: plan.apply, restartNeeded: plan.restartNeeded });

/**
 * Apply what can change live from `next` to a running app, and report what needs a restart (logged).
 * Nothing is changed when a part cannot be applied (checked first). Returns the diff; `app.config` becomes
 * the configuration in force: `next`'s live values, the running values for the rest.
 */
export function applyConfig(app: ProxyApp, next: ProxyConfig): ReloadResult {
  const plan = planReload(app.config, next, app.ledger.owners);
  applyObserverReload(app.observers, plan);
  applyCoreReload(app.core, plan);
  logReload(app.log, plan);
  return resultOf(plan);
}

/** The core side's reload in a cluster worker (the primary applies the observer side's: src/cluster/primary.ts). */
export function applyCoreConfig(core: CoreSide, next: ProxyConfig): ReloadResult {
  const plan = planReload(core.config, next, core.owners);
  applyCoreReload(core, plan);
  logReload(core.log, plan);
  return resultOf(plan);
}

/** The observer side's reload in a cluster's primary; the routing it returns is the one the views show. */
export function applyObserverConfig(observers: ObserverSide, next: ProxyConfig): ReloadResult {
  const plan = planReload(observers.config, next, observers.ledger.owners);
  applyObserverReload(observers, plan);
  logReload(observers.log, plan);
  return resultOf(plan);
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
 * `apply` is applyConfig for the one-process app; a cluster's primary and workers give their side's.
 */
export function reloadConfig(app: ProxyApp, load: () => ProxyConfig): ReloadResult | null;
export function reloadConfig<S extends { log: Logger }>(side: S, load: () => ProxyConfig, apply: (side: S, next: ProxyConfig) => ReloadResult): ReloadResult | null;
export function reloadConfig(side: { log: Logger }, load: () => ProxyConfig, apply: (side: never, next: ProxyConfig) => ReloadResult = applyConfig as never): ReloadResult | null {
  let next: ProxyConfig;
  try {
    next = load();
    return apply(side as never, next);
  } catch (err) {
    const problems = err instanceof ConfigError ? err.problems : [(err as Error).message];
    side.log.error('configuration reload refused: the running configuration is kept', { problems });
    return null;
  }
}
