import type { NumberRule } from '../util/number-rule.js';
import type { RoutingTiming } from './types.js';

/**
 * How often and how far the split is corrected, and how a single device's time is sliced: the defaults and
 * the bounds (the configuration's `routing` section is these in seconds).
 *   - a rebalance a minute: a device's measured hashrate needs about that long to move past its noise;
 *   - at most 4 whole devices move per route per rebalance: the split follows weight changes and devices that
 *     come and go within minutes, without a noisy measurement moving half the farm at once;
 *   - a sliced device visits each of its targets once in 10 minutes, and no slice is shorter than 10 seconds
 *     (a 2% fee is 12 s of every 600 s; a 1% one stretches the period to 1000 s).
 */
export const ROUTING_TIMING_DEFAULTS: RoutingTiming = {
  rebalanceMs: 60_000,
  maxMovesPerRebalance: 4,
  slicePeriodMs: 600_000,
  minSliceMs: 10_000,
};

export const ROUTING_TIMING_RULES: Record<keyof RoutingTiming, NumberRule> = {
  rebalanceMs: { min: 1000, max: 3_600_000 },
  maxMovesPerRebalance: { int: true, min: 1, max: 100_000 },
  slicePeriodMs: { min: 1000, max: 86_400_000 },
  minSliceMs: { min: 100, max: 3_600_000 },
};
