import type { PowHasher } from '../chain/hasher.js';
import type { RouteView } from '../observe/farm-ledger.js';
import { DEFAULT_ROUTE } from '../routing/default-route.js';
import { SimPool, type SimPoolStats } from '../sim/pool.js';

/**
 * `demo --routes split`: the farm's default route split between two simulated pools, 70% of the measured
 * hashrate to the main pool and 30% as a second pool's share, and what the closing summary says about it:
 * the split achieved in each pool's own accepted work (the simulated pools count it themselves), against the
 * weights, and the proxy's own per-target counts (its live numbers) beside them.
 */

export type DemoRoutes = 'none' | 'split';

/** The demo's two targets of the default route, in order, with their weights and pool logins. */
export const DEMO_SPLIT_TARGETS = [
  { name: 'main', weight: 70, pool: 'sim-pool-main', user: 'XdemoFarmAddress.farm' },
  { name: 'second-pool-share', weight: 30, pool: 'sim-pool-second', user: 'demoSecondAccount.farm' },
] as const;

/**
 * The pools' share difficulty of the split demo: below what vardiff would give the devices, so a device's
 * difficulty is its pool's and every share goes to a pool; each pool's count, the split's measure, runs into
 * thousands in a few minutes (20 devices of 500 H/s: ~12 shares a second).
 */
export const DEMO_SPLIT_POOL_DIFFICULTY = 2e-7;

/**
 * The demo's routing timings: a rebalance every 5 s and slices of a 30 s period (the defaults, a minute and
 * ten, are for farms that run for months; a demo of a minute should show the split settle).
 */
export const DEMO_ROUTING = { rebalanceSeconds: 5, maxMovesPerRebalance: 4, slicePeriodSeconds: 30, minSliceSeconds: 2 };

/** A pool login as the configuration writes it. */
type PoolLogin = { name: string; url: string; user: string; password: string };
/** The default route as the configuration writes it (a route without match). */
type DemoRoute = { name: string; targets: { name: string; weight: number; pools: PoolLogin[] }[] };

export interface DemoPools {
  /** Every simulated pool, in target order (one without routes). */
  pools: SimPool[];
  /** The configuration's pool part: `pools` (one pool, no routes) or the default route with two targets. */
  config: { pools: PoolLogin[]; routes: DemoRoute[]; routing?: typeof DEMO_ROUTING };
  /** The header lines that say where each pool is and what it gets. */
  describe(poolDifficulty: number): string[];
  close(): Promise<void>;
}

/** Start the demo's simulated pool(s) on loopback: one, or the two of the split. */
export async function startDemoPools(routes: DemoRoutes, opts: { difficulty: number; hasher: PowHasher }): Promise<DemoPools> {
  const newPool = () => new SimPool({ difficulty: opts.difficulty, jobIntervalMs: 10_000, blockIntervalMs: 60_000, hasher: opts.hasher });
  const count = routes === 'split' ? DEMO_SPLIT_TARGETS.length : 1;
  const pools: SimPool[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const pool = newPool();
      pools.push(pool);
      await pool.listen();
    }
  } catch (err) {
    await Promise.all(pools.map((p) => p.close()));
    throw err;
  }
  const close = async () => {
    await Promise.all(pools.map((p) => p.close()));
  };
  if (routes === 'none') {
    return {
      pools,
      config: { pools: [{ name: 'sim-pool', url: pools[0]!.url, user: 'XdemoFarmAddress.farm', password: 'x' }], routes: [] },
      describe: (d) => [`  simulated pool   ${pools[0]!.url} (difficulty ${d})`],
      close,
    };
  }
  const total = DEMO_SPLIT_TARGETS.reduce((n, t) => n + t.weight, 0);
  return {
    pools,
    config: {
      pools: [],
      routes: [
        {
          name: DEFAULT_ROUTE,
          targets: DEMO_SPLIT_TARGETS.map((t, i) => ({ name: t.name, weight: t.weight, pools: [{ name: t.pool, url: pools[i]!.url, user: t.user, password: 'x' }] })),
        },
      ],
      routing: DEMO_ROUTING,
    },
    describe: (d) => [
      ...DEMO_SPLIT_TARGETS.map((t, i) => `  simulated pool   ${pools[i]!.url} (difficulty ${d}): target ${t.name}, login ${t.user}`),
      `  routes           the farm's default route split ${DEMO_SPLIT_TARGETS.map((t) => `${t.name} ${pct(t.weight / total)}`).join(' / ')} by measured hashrate`,
    ],
    close,
  };
}

/** One target's part of the split: its weight, and the part of the work it got by each count. */
export interface DemoSplitTarget {
  target: string;
  weight: number;
  /** Its weight over the route's weights (0 to 1): what the split aims at. */
  weightShare: number;
  /** The target's simulated pool's own count: shares it accepted, their work (difficulty units) and its part of both pools' work. */
  pool: { accepted: number; work: number; workShare: number };
  /**
   * The proxy's live numbers for the target: shares it accepted from the devices placed there, the pool's
   * verdicts it heard, their credited work and its part of the route's work; null when it has none.
   */
  proxy: { accepted: number; poolAccepted: number; work: number; workShare: number } | null;
}

/** The split achieved (`demo --routes split`), target by target, in the order of the configuration. */
export interface DemoSplit {
  route: string;
  targets: DemoSplitTarget[];
}

/**
 * The split achieved: each target's pool's own accepted work over both pools', and the proxy's per-target
 * counts (the default route's targets in `routes`, the farm ledger's routeList) where it has them. Pure.
 */
export function demoSplit(pools: SimPoolStats[], routes: readonly RouteView[]): DemoSplit {
  const total = DEMO_SPLIT_TARGETS.reduce((n, t) => n + t.weight, 0);
  const poolWork = pools.reduce((n, p) => n + p.totals.acceptedDifficulty, 0);
  const route = routes.find((r) => r.name === DEFAULT_ROUTE);
  return {
    route: DEFAULT_ROUTE,
    targets: DEMO_SPLIT_TARGETS.map((t, i) => {
      const p = pools[i]!.totals;
      const seen = route?.targets.find((x) => x.name === t.name);
      return {
        target: t.name,
        weight: t.weight,
        weightShare: t.weight / total,
        pool: { accepted: p.accepted, work: p.acceptedDifficulty, workShare: poolWork > 0 ? p.acceptedDifficulty / poolWork : 0 },
        proxy: seen ? { accepted: seen.accepted, poolAccepted: seen.poolAccepted, work: seen.work, workShare: seen.workShare } : null,
      };
    }),
  };
}

/** The split in one human line: `main 69.8% (weight 70%), second-pool-share 30.2% (weight 30%) of pool-accepted work`. */
export function formatDemoSplit(split: DemoSplit): string {
  const parts = split.targets.map((t) => `${t.target} ${pct(t.pool.workShare, 1)} (weight ${pct(t.weightShare)}${t.proxy ? `; proxy ${pct(t.proxy.workShare, 1)}` : ''})`);
  return `${parts.join(', ')} of pool-accepted work`;
}

const pct = (x: number, digits = 0) => `${(x * 100).toFixed(digits)}%`;
