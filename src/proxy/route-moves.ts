import { medianHashrate, mostUnderweight, planRoute, type PlanTarget, type Slice } from '../routing/split-planner.js';
import { sliceAt, sliceSchedule, type SliceSchedule } from '../routing/slice-schedule.js';
import type { RouteFallback, RoutingTiming } from '../routing/types.js';

/**
 * Where each device of one route should mine now, from the split planner's plan (src/routing/): the proxy's
 * side of a rebalance, pure (time and measurements passed in; no sockets). A sliced device gets its
 * schedule and the target of its current slice; a route with no available target sends its devices to its
 * fallback's targets (the default route's) when it has one, or leaves them where they are. When some devices
 * cannot be sliced, the route is also planned as if every device could be: a device that plan would slice
 * and the real one keeps whole is marked `unsliced` (the API says so, and why).
 */

export type MoveReason = 'placed' | 'rebalance' | 'slice' | 'fallback' | 'reload';

export interface RoutedDevice {
  /** Unique in the route (the session id as text). */
  id: string;
  /** The session id: the key of its slice phase. */
  key: number;
  /** Measured hashrate (H/s), or null before its first credited share. */
  hashrate: number | null;
  /** The target it mines on now (any route's), or null when it has none. */
  current: string | null;
  sliceable: boolean;
  /** The last plan time-sliced it. */
  sliced: boolean;
}

export interface DeviceDecision {
  target: string;
  /** Set when the device is time-sliced: its schedule (the target above is the one of its slice now). */
  schedule: SliceSchedule | null;
  /** Set when the device is time-sliced: its slices as the plan gives them (fractions summing to 1). */
  slices: Slice[] | null;
  /** Whole only because it cannot be sliced: the plan would have time-sliced it if it could. */
  unsliced: boolean;
  /** When its next slice starts (Infinity when it is not sliced). */
  until: number;
  /** Why, when `target` differs from its current one. */
  reason: MoveReason;
}

export interface RouteView {
  targets: PlanTarget[];
  fallback: RouteFallback;
}

/** A decision's part for a device that mines whole on its target. */
const WHOLE = { schedule: null, slices: null, unsliced: false, until: Infinity } as const;

/** Each device's decision, in the devices' order. */
export function routeDecisions(route: RouteView, devices: readonly RoutedDevice[], fallback: RouteView | null, fallbackLoads: Map<string, number>, timing: RoutingTiming, now: number): DeviceDecision[] {
  const names = new Set(route.targets.map((t) => t.name));
  if (route.targets.some((t) => t.available && t.weight > 0)) {
    const planned = devices.map((d) => ({ id: d.id, hashrate: d.hashrate, current: d.current !== null && names.has(d.current) ? d.current : null, sliceable: d.sliceable, sliced: d.sliced }));
    const opts = { maxMoves: timing.maxMovesPerRebalance };
    const plan = planRoute(route.targets, planned, opts);
    const wished = devices.some((d) => !d.sliceable) ? planRoute(route.targets, planned.map((d) => ({ ...d, sliceable: true })), opts) : plan;
    return devices.map((d, i) => {
      const p = plan.placements[i]!;
      if (p.kind === 'whole') return { target: p.target, ...WHOLE, unsliced: wished.placements[i]!.kind === 'sliced', reason: 'rebalance' };
      const schedule = sliceSchedule(p.slices, d.key, timing);
      const slice = sliceAt(schedule, now);
      return { target: slice.target, schedule, slices: p.slices, unsliced: false, until: slice.until, reason: 'rebalance' };
    });
  }
  // No target of the route can take devices.
  const usable = route.fallback === 'default' && fallback !== null ? fallback.targets.filter((t) => t.available && t.weight > 0) : [];
  const fallbackNames = new Set(usable.map((t) => t.name));
  const median = medianHashrate(devices);
  return devices.map((d) => {
    if (usable.length === 0) return { target: d.current ?? route.targets[0]!.name, ...WHOLE, reason: 'fallback' };
    if (d.current !== null && fallbackNames.has(d.current)) return { target: d.current, ...WHOLE, reason: 'fallback' };
    const rate = d.hashrate ?? median;
    const target = mostUnderweight(usable, fallbackLoads, rate)!;
    fallbackLoads.set(target, (fallbackLoads.get(target) ?? 0) + rate);
    return { target, ...WHOLE, reason: 'fallback' };
  });
}
