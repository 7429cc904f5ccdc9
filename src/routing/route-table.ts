import { LRUCache } from 'lru-cache';
import type { PoolConfig } from '../upstream/types.js';
import { hasWildcard, patternRegExp } from '../util/worker-pattern.js';
import { DEFAULT_ROUTE, DEFAULT_TARGET } from './default-route.js';
import type { RouteFallback, RouteSpec, RoutingSpec, TargetSpec } from './types.js';

/**
 * The route table: the configuration's `routes` (and `pools`) as the RoutingSpec the proxy applies, and the
 * rule that gives each worker its route. A route with `match` takes the workers of its owners (by the owners
 * map in force: patterns, then the `owner.worker` convention, then the farm owner) and the workers its
 * patterns match; a worker no route takes mines on the default route: the route without `match`, or else
 * the top-level `pools` as its one target `default`. Routes whose rules overlap are refused when the
 * configuration is read (src/config-routes.ts), so at most one route takes a worker. Pure; the owners map
 * is passed in (anything with `ownerOf`), so the core does not depend on the books.
 */

/** Which workers a route takes: owner names and worker patterns (`*` any run of characters, `?` one). */
export interface RouteMatch {
  owners: string[];
  workers: string[];
}

/** A target as the configuration writes it (weight 1 when left out). */
export interface TargetConfig {
  name: string;
  weight: number;
  pools: PoolConfig[];
}

/** A route as the configuration writes it; without `match` it is the default route (which has no fallback). */
export interface RouteConfig {
  name: string;
  match?: RouteMatch;
  targets: TargetConfig[];
  /** A route with match: `default` when left out. */
  fallback?: RouteFallback;
}

/** A route's or a target's name: a label in metrics, a column in the books. */
export const ROUTE_NAME = { pattern: '^[A-Za-z0-9_.-]{1,64}$', words: 'letters, digits, _, . and - (1 to 64)' };
export const DEFAULT_TARGET_WEIGHT = 1;
export const DEFAULT_FALLBACK: RouteFallback = 'default';
/** Workers whose route is kept in a table's cache (a bounded LRU, as the owners map's). */
export const ROUTE_CACHE_SIZE = 100_000;

/** Who owns a worker (the books' OwnerMap in force). */
export interface OwnerResolver {
  ownerOf(worker: string): string;
}

export const isDefaultRoute = (route: Pick<RouteConfig, 'match'>): boolean => route.match === undefined;

interface Rule {
  route: string;
  owners: ReadonlySet<string>;
  exact: ReadonlySet<string>;
  globs: readonly RegExp[];
}

/** The routing of a validated configuration, with the owners map in force. */
export function routeTable(config: { pools: PoolConfig[]; routes: RouteConfig[] }, owners: OwnerResolver): RoutingSpec {
  return new RouteTable(config, owners);
}

class RouteTable implements RoutingSpec {
  readonly routes: RouteSpec[];
  private readonly rules: Rule[];
  private readonly cache = new LRUCache<string, string>({ max: ROUTE_CACHE_SIZE });

  constructor(config: { pools: PoolConfig[]; routes: RouteConfig[] }, private readonly owners: OwnerResolver) {
    const targets = (ts: TargetConfig[]): TargetSpec[] => ts.map((t) => ({ name: t.name, weight: t.weight, pools: structuredClone(t.pools) }));
    const configured = config.routes.find(isDefaultRoute);
    const matched = config.routes.filter((r) => !isDefaultRoute(r));
    // The default route has no fallback: it is where the others fall back to.
    const defaultRoute: RouteSpec = {
      name: DEFAULT_ROUTE,
      targets: configured ? targets(configured.targets) : [{ name: DEFAULT_TARGET, weight: DEFAULT_TARGET_WEIGHT, pools: structuredClone(config.pools) }],
      fallback: 'none',
    };
    this.routes = [...matched.map((r) => ({ name: r.name, targets: targets(r.targets), fallback: r.fallback ?? DEFAULT_FALLBACK })), defaultRoute];
    this.rules = matched.map((r) => ({
      route: r.name,
      owners: new Set(r.match!.owners),
      exact: new Set(r.match!.workers.filter((p) => !hasWildcard(p))),
      globs: r.match!.workers.filter(hasWildcard).map(patternRegExp),
    }));
  }

  routeOf(worker: string): string {
    const cached = this.cache.get(worker);
    if (cached !== undefined) return cached;
    const route = this.resolve(worker);
    this.cache.set(worker, route);
    return route;
  }

  private resolve(worker: string): string {
    let owner: string | undefined;
    for (const rule of this.rules) {
      if (rule.exact.has(worker) || rule.globs.some((re) => re.test(worker))) return rule.route;
      if (rule.owners.size > 0 && rule.owners.has((owner ??= this.owners.ownerOf(worker)))) return rule.route;
    }
    return DEFAULT_ROUTE;
  }
}
