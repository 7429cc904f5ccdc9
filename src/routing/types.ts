import type { PoolConfig } from '../upstream/types.js';

/**
 * The routing's shapes, shared by the configuration (src/routing/route-table.ts), the pure split planner
 * (src/routing/split-planner.ts) and the proxy core that applies it (src/proxy/). A route takes some workers
 * (by worker pattern or owner) and splits their measured hashrate among its targets by weight; a target is
 * one ordered pool list (failover levels) with its own credentials and its own upstream connections.
 */

/** One target of a route: a weight (positive) and its pools in failover order. Names are unique proxy-wide. */
export interface TargetSpec {
  name: string;
  weight: number;
  pools: PoolConfig[];
}

/**
 * When every target of a route is down, its devices mine on the default route's targets (`default`) or
 * wait on their own route until a target returns (`none`).
 */
export type RouteFallback = 'default' | 'none';

export interface RouteSpec {
  name: string;
  targets: TargetSpec[];
  fallback: RouteFallback;
}

/** How often and how far the split is corrected, and how a single device's time is sliced. */
export interface RoutingTiming {
  /** How often each route's split is planned again from the measured hashrate (ms). */
  rebalanceMs: number;
  /** At most this many whole devices move per route per rebalance (time-sliced devices switch on their schedule). */
  maxMovesPerRebalance: number;
  /** The cycle over which a time-sliced device visits each of its targets once (ms). */
  slicePeriodMs: number;
  /** No slice shorter than this: a smaller fraction makes the period longer (ms). */
  minSliceMs: number;
}

/** The routing in force: every route (the default one included, named DEFAULT_ROUTE) and the rule that picks one. */
export interface RoutingSpec {
  routes: RouteSpec[];
  /** The name of the route a worker mines on (the default route when no rule takes it). */
  routeOf(worker: string): string;
}
