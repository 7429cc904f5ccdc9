import { createHash, randomBytes } from 'node:crypto';
import type { PowHasher } from '../chain/hasher.js';
import { bitsFromTarget } from '../chain/target.js';
import { SqliteLedgerReader } from '../books/ledger-sqlite-reader.js';
import { formatDash } from '../util/format.js';
import { p2pkhAddress } from '../sim/dash-address.js';
import { SimDashd, type SimDashdStats } from '../sim/dashd.js';
import type { SimPool } from '../sim/pool.js';
import type { TimeRange } from '../books/ledger-reader.js';

/**
 * `demo --solo`: the farm's own pool through a simulated dashd (src/sim/dashd.ts), which builds Dash Core 20
 * templates (platform and masternode payments, a ChainLock two seconds after each block, another miner's
 * block now and then) and judges every submitted block with its own code.
 *
 * - `only`: the dashd is the only entry of the pool list: the fleet mines solo, every block is submitted,
 *   followed to its ChainLock, and its reward split among the demo's owners in the books.
 * - `failover`: the simulated pool first, the dashd last: the pool goes away for the middle third of the run
 *   (the proxy mines solo), then comes back (the proxy probes it and returns), with no device dropped.
 *
 * The closing summary's `solo` part puts dashd's own counts beside the proxy's and the books'.
 */

export type DemoSolo = 'none' | 'failover' | 'only';

/** The dashd entry's name in the demo's pool list. */
export const DEMO_DASHD_NAME = 'own-dashd';

/**
 * The demo's timings for pools and the dashd: a pool that stops is left after one failed attempt and probed
 * again every 5 s; dashd is asked for its tip every second and each found block checked every 2 s (the
 * defaults suit a farm that runs for months, not a demo of a minute).
 */
export const DEMO_SOLO_UPSTREAM = { failoverAfterAttempts: 1, probeIntervalSeconds: 5 };

/** The farm's payout address on the simulated (mainnet-like) chain: a fixed P2PKH so runs compare. */
export const DEMO_PAYOUT_ADDRESS = p2pkhAddress('main', createHash('sha256').update('dash-farm-proxy demo farm').digest().subarray(0, 20));

/** A dashd entry as the configuration writes it. */
export interface DemoDashdEntry {
  name: string;
  url: string;
  user: string;
  password: string;
  dashd: { payoutAddress: string; shareDifficulty: number; pollSeconds: number; blockCheckSeconds: number };
}

export interface DemoDashd {
  dashd: SimDashd;
  entry: DemoDashdEntry;
  describe(): string[];
  close(): Promise<void>;
}

/**
 * The network's nBits at which hashing at `hashesPerSecond` finds a block every `seconds` on average: the
 * target is 2^256 / (hashes per block). Pure.
 */
export function demoNetworkBits(hashesPerSecond: number, seconds: number): number {
  const hashesPerBlock = BigInt(Math.max(1, Math.round(hashesPerSecond * seconds)));
  return bitsFromTarget((1n << 256n) / hashesPerBlock);
}

/**
 * Start the simulated dashd on loopback, its network difficulty set so the fleet's `hashesPerSecond` finds a
 * block every `blockSeconds` on average; its entry credits shares at `shareDifficulty` (the demo pool's).
 */
export async function startDemoDashd(opts: { hasher: PowHasher; shareDifficulty: number; hashesPerSecond: number; blockSeconds: number }): Promise<DemoDashd> {
  const user = 'demo';
  const password = randomBytes(8).toString('hex');
  const dashd = new SimDashd({ user, password, chain: 'main', bits: demoNetworkBits(opts.hashesPerSecond, opts.blockSeconds), hasher: opts.hasher, otherMinerIntervalMs: 45_000, chainlockMs: 2_000, longpollSeconds: 30, expectPayoutAddress: DEMO_PAYOUT_ADDRESS });
  await dashd.start();
  return {
    dashd,
    entry: {
      name: DEMO_DASHD_NAME,
      url: dashd.url,
      user,
      password,
      dashd: { payoutAddress: DEMO_PAYOUT_ADDRESS, shareDifficulty: opts.shareDifficulty, pollSeconds: 1, blockCheckSeconds: 2 },
    },
    describe: () => [
      `  simulated dashd  ${dashd.url} (network difficulty ${dashd.networkDifficulty.toPrecision(3)}: a block every ${opts.blockSeconds} s at the fleet's hashrate; height ${dashd.height}; another miner's block every 45 s, ChainLocks after 2 s)`,
      `  solo payout      ${DEMO_PAYOUT_ADDRESS}`,
    ],
    close: () => dashd.stop(),
  };
}

/**
 * `failover`: the pool goes away (stops listening, drops its connections) at a third of the run and comes
 * back at two thirds; for a run until Ctrl-C, from 30 s to 60 s. Returns a function that cancels what has not
 * happened yet. `say` prints the change.
 */
export function scheduleOutage(pool: SimPool, durationMs: number, say: (line: string) => void): () => void {
  const downAt = durationMs > 0 ? durationMs / 3 : 30_000;
  const upAt = durationMs > 0 ? (2 * durationMs) / 3 : 60_000;
  const down = setTimeout(() => {
    void pool.refuse('unlisten').then(() => {
      const dropped = pool.dropAll();
      say(`t=${Math.round(downAt / 1000)}s  the simulated pool went away (${dropped} connection${dropped === 1 ? '' : 's'} dropped): the proxy fails over to ${DEMO_DASHD_NAME} and mines solo\n`);
    });
  }, downAt);
  const up = setTimeout(() => {
    void pool.resume().then(() => say(`t=${Math.round(upAt / 1000)}s  the simulated pool is back: the proxy finds it at its next probe (every ${DEMO_SOLO_UPSTREAM.probeIntervalSeconds} s) and returns to it\n`));
  }, upAt);
  return () => {
    clearTimeout(down);
    clearTimeout(up);
  };
}

/** What the closing summary says about solo mining: dashd's own counts, the proxy's, and the books'. */
export interface DemoSoloSummary {
  mode: Exclude<DemoSolo, 'none'>;
  /** The simulated dashd's own counts: blocks it accepted (and made its tip), refused by reason, other miners' blocks. */
  dashd: Pick<SimDashdStats, 'blocksAccepted' | 'blocksRejected' | 'blocksInconclusive' | 'duplicates' | 'otherMinerBlocks' | 'height'>;
  /** The proxy's count of blocks it submitted, by dashd's answer (the farm ledger's `blocksSubmitted`). */
  proxy: Record<string, number>;
  /** The books: the blocks recorded, by status; the rewards split among owners (DASH); each owner's part. */
  books?: { blocks: number; byStatus: Record<string, number>; paidBlocks: number; paid: string; owners: Record<string, string> } | { error: string };
}

export function demoSoloDashd(s: SimDashdStats): DemoSoloSummary['dashd'] {
  return { blocksAccepted: s.blocksAccepted, blocksRejected: s.blocksRejected, blocksInconclusive: s.blocksInconclusive, duplicates: s.duplicates, otherMinerBlocks: s.otherMinerBlocks, height: s.height };
}

/** The solo blocks the books hold for the run, and what their payouts credited each owner (read after the stop). */
export async function readDemoSoloBooks(file: string, range: TimeRange): Promise<NonNullable<DemoSoloSummary['books']>> {
  const reader = new SqliteLedgerReader(file);
  try {
    const blocks = await reader.blocks(range);
    const byStatus: Record<string, number> = {};
    for (const b of blocks) byStatus[b.status] = (byStatus[b.status] ?? 0) + 1;
    const paidIds = new Set(blocks.flatMap((b) => (b.payoutId === null ? [] : [b.payoutId])));
    const payouts = (await reader.payouts()).filter((p) => paidIds.has(p.id));
    const owners = new Map<string, bigint>();
    for (const p of payouts) for (const s of p.splits) owners.set(s.owner, (owners.get(s.owner) ?? 0n) + s.total);
    return {
      blocks: blocks.length,
      byStatus,
      paidBlocks: payouts.length,
      paid: formatDash(payouts.reduce((n, p) => n + p.amount, 0n)),
      owners: Object.fromEntries([...owners].sort(([a], [b]) => a.localeCompare(b)).map(([o, d]) => [o, formatDash(d)])),
    };
  } finally {
    await reader.close();
  }
}
