import { DEFAULT_ROUTE } from '../routing/default-route.js';
import type { PlanTarget } from '../routing/split-planner.js';
import type { RouteSpec, RoutingSpec } from '../routing/types.js';
import { checkPools } from '../upstream/upstream-slot.js';
import { TargetGroup } from './target-group.js';

/**
 * The routing in force in the proxy: each route with its targets' groups (a group holds a target's pool
 * connections), every group by target name, and the groups of targets a reload removed, kept until their
 * devices have moved off. No sockets: the proxy opens and closes the connections.
 */

export interface RouteState {
  spec: RouteSpec;
  /** Its targets' groups, in the spec's order. */
  groups: TargetGroup[];
}

/**
 * Throws the first reason `spec` cannot be applied: no default route, a route without targets, a target name
 * used twice, and (with `pools`) a target's pool list that is not valid (`pools[1].url: ...`).
 */
export function checkRouting(spec: RoutingSpec, pools = true): void {
  if (!spec.routes.some((r) => r.name === DEFAULT_ROUTE)) throw new Error(`routing: no route named '${DEFAULT_ROUTE}'`);
  const names = new Set<string>();
  for (const r of spec.routes) {
    if (r.targets.length === 0) throw new Error(`routing: route '${r.name}' has no target`);
    for (const t of r.targets) {
      if (names.has(t.name)) throw new Error(`routing: target name '${t.name}' is used twice`);
      names.add(t.name);
      if (pools) checkPools(t.pools);
    }
  }
}

export class RoutesInForce {
  private spec: RoutingSpec;
  private routes = new Map<string, RouteState>();
  private byTarget = new Map<string, TargetGroup>();
  private retired: { group: TargetGroup; emptySince: number | null }[] = [];

  /** `spec`'s pool lists are not checked here (a proxy without routes lets `createUpstream` pick the pools). */
  constructor(spec: RoutingSpec) {
    checkRouting(spec, false);
    this.spec = spec;
    this.build(() => null);
  }

  /**
   * Put `spec` in force (checked first: on a problem it throws and nothing changes). A target of the same
   * name on the same route keeps its group (`changedPools` lists those whose pool list changed: their
   * connections take the new one); the others get new groups; groups no longer in force retire.
   */
  replace(spec: RoutingSpec): { kept: Set<TargetGroup>; changedPools: TargetGroup[] } {
    checkRouting(spec);
    const old = this.byTarget;
    const kept = new Set<TargetGroup>();
    const changedPools: TargetGroup[] = [];
    this.spec = spec;
    this.build((target, route) => {
      const g = old.get(target.name);
      if (!g || g.route !== route) return null;
      if (JSON.stringify(g.spec.pools) !== JSON.stringify(target.pools)) changedPools.push(g);
      g.spec = target;
      kept.add(g);
      return g;
    });
    for (const g of old.values()) if (!kept.has(g)) this.retired.push({ group: g, emptySince: null });
    return { kept, changedPools };
  }

  /** Every group in force (routes in the spec's order, targets in each route's order). */
  get groups(): TargetGroup[] {
    return [...this.routes.values()].flatMap((r) => r.groups);
  }

  /** Groups in force and retiring ones. */
  get allGroups(): TargetGroup[] {
    return [...this.groups, ...this.retired.map((r) => r.group)];
  }

  route(name: string): RouteState | undefined {
    return this.routes.get(name);
  }

  get defaultRoute(): RouteState {
    return this.routes.get(DEFAULT_ROUTE)!;
  }

  /** The group of target `name` in force. */
  group(name: string): TargetGroup | undefined {
    return this.byTarget.get(name);
  }

  /** The route `worker` takes (the default route when the rules name one not in force). */
  routeOf(worker: string): string {
    const route = this.spec.routeOf(worker);
    return this.routes.has(route) ? route : DEFAULT_ROUTE;
  }

  /** The route's devices go to the default route's targets while none of its own is available. */
  fallsBack(route: RouteState): boolean {
    return route.spec.fallback === 'default' && route.spec.name !== DEFAULT_ROUTE;
  }

  /** The route's targets as the split planner sees them (available: a connection with a job). */
  planTargets(route: RouteState): PlanTarget[] {
    return route.groups.map((g) => ({ name: g.name, weight: g.spec.weight, available: g.available }));
  }

  isRetiring(group: TargetGroup): boolean {
    return this.retired.some((r) => r.group === group);
  }

  /** Retiring groups nobody has mined on for `graceMs`: forgotten here, for the caller to close. */
  takeClosable(now: number, graceMs: number): TargetGroup[] {
    const closable: TargetGroup[] = [];
    this.retired = this.retired.filter((r) => {
      if (r.group.deviceCount > 0) {
        r.emptySince = null;
        return true;
      }
      r.emptySince ??= now;
      if (now - r.emptySince < graceMs) return true;
      closable.push(r.group);
      return false;
    });
    return closable;
  }

  private build(reuse: (target: RouteSpec['targets'][number], route: string) => TargetGroup | null): void {
    const routes = new Map<string, RouteState>();
    const byTarget = new Map<string, TargetGroup>();
    for (const r of this.spec.routes) {
      const groups = r.targets.map((t) => {
        const g = reuse(t, r.name) ?? new TargetGroup(t, r.name);
        byTarget.set(t.name, g);
        return g;
      });
      routes.set(r.name, { spec: r, groups });
    }
    this.routes = routes;
    this.byTarget = byTarget;
  }
}
