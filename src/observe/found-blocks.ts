import { formatDash } from '../util/format.js';
import { BLOCK_STATUSES, BLOCK_SUBMIT_RESULTS, type BlockStatus, type BlockSubmitResult, type ProxyEventMap } from '../core/events.js';

/**
 * The blocks the farm found solo (a dashd upstream), as the farm ledger keeps them: the most recent ones
 * with dashd's answer and their place on the best chain as the block watcher last told it, and the counts:
 *
 * | count          | what it counts                                                                        |
 * |----------------|---------------------------------------------------------------------------------------|
 * | submitted      | blocks sent to dashd with `submitblock`, by pool and dashd's answer (`block.submitted`: |
 * |                | accepted, inconclusive, rejected, unanswered)                                         |
 * | statuses       | changes of a block's place on the best chain, by pool and the status it went to       |
 * |                | (`block.status`: in-chain, chainlocked, mature, orphaned)                             |
 *
 * Fed only by the two events (from farm-ledger.ts); /metrics, /api/blocks, the dashboard and the alerts read it.
 */

/** One found block: where it came from, dashd's answer, and its place on the best chain now. */
export interface FoundBlock {
  hash: string;
  height: number;
  pool: string;
  route: string;
  target: string;
  worker: string;
  /** When it was submitted (ms since the epoch). */
  foundAt: number;
  /** Duffs paid to the farm's address, and the template's coinbasevalue. */
  reward: number;
  coinbaseValue: number;
  payoutAddress: string;
  result: BlockSubmitResult;
  /** dashd's words (a rejection's reason, `duplicate`, why no answer); null when plainly accepted. */
  reason: string | null;
  /** Its place on the best chain (null: not told yet; a rejected block never gets one). */
  status: BlockStatus | null;
  confirmations: number | null;
  chainlock: boolean;
  statusReason: string | null;
  statusAt: number | null;
}

/** Recent blocks kept (newest first) by default. */
export const DEFAULT_RECENT_BLOCKS = 100;

export class FoundBlocks {
  private readonly recentList: FoundBlock[] = [];
  private readonly byPool = new Map<string, { submitted: Record<BlockSubmitResult, number>; statuses: Record<BlockStatus, number> }>();
  /** Grows with every change: the feed sends the blocks again only when it moved. */
  version = 0;

  constructor(private readonly max = DEFAULT_RECENT_BLOCKS) {}

  submitted(e: ProxyEventMap['block.submitted']): FoundBlock {
    this.counts(e.pool).submitted[e.result]++;
    const block: FoundBlock = {
      hash: e.hash,
      height: e.height,
      pool: e.pool,
      route: e.route,
      target: e.target,
      worker: e.worker,
      foundAt: e.at,
      reward: e.reward,
      coinbaseValue: e.coinbaseValue,
      payoutAddress: e.payoutAddress,
      result: e.result,
      reason: e.reason,
      status: null,
      confirmations: null,
      chainlock: false,
      statusReason: null,
      statusAt: null,
    };
    this.recentList.unshift(block);
    if (this.recentList.length > this.max) this.recentList.pop();
    this.version++;
    return block;
  }

  /** The block's new place; returns the block when it is still among the recent ones. */
  status(e: ProxyEventMap['block.status']): FoundBlock | null {
    this.counts(e.pool).statuses[e.status]++;
    this.version++;
    const block = this.recentList.find((b) => b.hash === e.hash) ?? null;
    if (block !== null) {
      block.status = e.status;
      block.height = e.height;
      block.confirmations = e.confirmations;
      block.chainlock = e.chainlock;
      block.statusReason = e.reason;
      block.statusAt = e.at;
    }
    return block;
  }

  /** The recent blocks, newest first (copies). */
  recent(limit = this.max): FoundBlock[] {
    return this.recentList.slice(0, limit).map((b) => ({ ...b }));
  }

  /** Per pool seen, every submit result (0 until seen, so rate() counts the first one). */
  submittedCounts(): { pool: string; result: BlockSubmitResult; count: number }[] {
    return [...this.byPool].flatMap(([pool, c]) => BLOCK_SUBMIT_RESULTS.map((result) => ({ pool, result, count: c.submitted[result] })));
  }

  /** Per pool seen, every status. */
  statusCounts(): { pool: string; status: BlockStatus; count: number }[] {
    return [...this.byPool].flatMap(([pool, c]) => BLOCK_STATUSES.map((status) => ({ pool, status, count: c.statuses[status] })));
  }

  /** Farm-wide blocks submitted, by dashd's answer. */
  totals(): Record<BlockSubmitResult, number> {
    const out = zeros(BLOCK_SUBMIT_RESULTS);
    for (const c of this.byPool.values()) for (const r of BLOCK_SUBMIT_RESULTS) out[r] += c.submitted[r];
    return out;
  }

  private counts(pool: string) {
    let c = this.byPool.get(pool);
    if (!c) this.byPool.set(pool, (c = { submitted: zeros(BLOCK_SUBMIT_RESULTS), statuses: zeros(BLOCK_STATUSES) }));
    return c;
  }
}

function zeros<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
}

/** Duffs (a safe integer) as DASH: 168000000 -> "1.68000000 DASH". */
export function dashText(duffs: number): string {
  return `${formatDash(BigInt(Math.round(duffs)))} DASH`;
}

const SUBMIT_WORDS: Record<BlockSubmitResult, string> = {
  accepted: 'BLOCK ACCEPTED',
  inconclusive: 'BLOCK SUBMITTED (inconclusive: valid, not on the best chain yet)',
  rejected: 'BLOCK REJECTED',
  unanswered: 'BLOCK NOT CONFIRMED SUBMITTED (no answer)',
};

/**
 * One line on a submitted block, the same in the log, the dashboard's events and the alerts:
 * "*** BLOCK ACCEPTED by dashd own-dashd *** height 2100000 hash 0000... reward 1.68000000 DASH to Xabc..., found by rig1".
 */
export function submittedText(e: ProxyEventMap['block.submitted']): string {
  const why = e.reason !== null && e.reason !== e.result ? ` (${e.reason})` : '';
  return `*** ${SUBMIT_WORDS[e.result]} by dashd ${e.pool}${why} *** height ${e.height} hash ${e.hash} reward ${dashText(e.reward)} to ${e.payoutAddress}, found by ${e.worker}`;
}

/** "block 2100000 0000... on dashd own-dashd: chainlocked (a ChainLock covers it (2 confirmations))". */
export function statusText(e: ProxyEventMap['block.status']): string {
  return `block ${e.height} ${e.hash} on dashd ${e.pool}: ${e.status} (${e.reason})`;
}
