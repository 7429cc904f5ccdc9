import type { BlockStatus, EventBus, ProxyEventMap } from '../core/events.js';
import { silentLogger, type Logger } from '../core/log.js';
import { realTimers, type Timers } from '../util/timers.js';

/**
 * The block watcher (solo, observer side): each block dashd took (`block.submitted` with result `accepted` or
 * `inconclusive`) is followed on dashd's best chain with `getblock <hash>` every `checkSeconds(pool)` until
 * its place is final, and every change of its status is told as `block.status` (BlockStatus in
 * src/core/events.ts):
 *
 *   in-chain     on the best chain (confirmations >= 1), not final yet
 *   chainlocked  a ChainLock covers it: final
 *   mature       MATURE_CONFIRMATIONS deep without a ChainLock: final
 *   orphaned     final, its reward is lost: off the best chain (confirmations -1) after it was seen in it, or
 *                never seen in it in NOT_SEEN_CHECKS checks in a row (dashd does not know it, or an
 *                `inconclusive` block that never made it to the best chain)
 *
 * A check dashd does not answer (unreachable, syncing) changes nothing: the block is checked again at the
 * next interval. At most `maxBlocks` blocks are followed; a new one beyond that makes the oldest be let go
 * (with a warning). With workers it runs in the primary, fed the workers' relayed events.
 *
 * The RPC is injected (`lookup`): the app wires it to the pool's dashd (src/upstream/dashd-rpc.ts).
 */

/** What `getblock <hash>` (verbosity 1) tells of a block; null when dashd does not know the hash (RPC error -5). */
export interface BlockCheck {
  /** -1 when the block is not on the best chain. */
  confirmations: number;
  chainlock: boolean;
  height: number;
}

/** Asks the dashd of pool `pool` about block `hash`; rejects when dashd gave no usable answer. */
export type BlockLookup = (pool: string, hash: string) => Promise<BlockCheck | null>;

/** Confirmations that make a block without a ChainLock final (coinbase maturity). */
export const MATURE_CONFIRMATIONS = 100;
/** Checks in a row that find the block off the best chain or unknown, before it was ever in it, that make it orphaned. */
export const NOT_SEEN_CHECKS = 3;
/** Blocks followed at once at most. */
export const MAX_FOLLOWED_BLOCKS = 1000;
/** The check interval for a block whose pool the configuration no longer names (a reload took it out). */
export const FALLBACK_CHECK_SECONDS = 30;

/** One followed block's state, as the pure judge needs it. */
export interface FollowState {
  status: BlockStatus | null;
  /** It was on the best chain at some check. */
  seen: boolean;
  /** Checks in a row, before it was ever seen, that did not find it on the best chain. */
  misses: number;
}

export interface Judgement {
  state: FollowState;
  /** The status now and why (null: no status yet, still waiting to see it). */
  status: BlockStatus | null;
  reason: string;
  final: boolean;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Pure: where a block stands after one answer of dashd (`check` null: dashd does not know it). */
export function judgeBlock(prev: FollowState, check: BlockCheck | null): Judgement {
  if (check !== null && check.confirmations >= 1) {
    const state = { status: prev.status, seen: true, misses: 0 };
    if (check.chainlock) return { state, status: 'chainlocked', reason: `a ChainLock covers it (${plural(check.confirmations, 'confirmation')})`, final: true };
    if (check.confirmations >= MATURE_CONFIRMATIONS) return { state, status: 'mature', reason: `${plural(check.confirmations, 'confirmation')} without a ChainLock: mature`, final: true };
    return { state, status: 'in-chain', reason: `on dashd's best chain, ${plural(check.confirmations, 'confirmation')}`, final: false };
  }
  const where = check === null ? 'dashd does not know it' : 'not on the best chain (confirmations -1)';
  if (prev.seen) return { state: { ...prev, misses: 0 }, status: 'orphaned', reason: `${where}: it left the best chain`, final: true };
  const misses = prev.misses + 1;
  const state = { ...prev, misses };
  if (misses >= NOT_SEEN_CHECKS) return { state, status: 'orphaned', reason: `${where} after ${plural(misses, 'check')}`, final: true };
  return { state, status: prev.status, reason: where, final: false };
}

export interface BlockWatcherOptions {
  bus: EventBus;
  lookup: BlockLookup;
  /** Seconds between two checks of a block of `pool` (its dashd entry's `blockCheckSeconds`). */
  checkSeconds: (pool: string) => number;
  timers?: Timers;
  log?: Logger;
  /** Default MAX_FOLLOWED_BLOCKS. */
  maxBlocks?: number;
}

interface Followed {
  pool: string;
  hash: string;
  height: number;
  state: FollowState;
  /** The next check's timer (null while a lookup is on its way: the next is scheduled when it ends). */
  timer: unknown;
  /** The last lookup failed (its failure is logged once, until one succeeds). */
  failing: boolean;
}

export class BlockWatcher {
  private readonly followed = new Map<string, Followed>();
  private readonly timers: Timers;
  private readonly log: Logger;
  private readonly maxBlocks: number;
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly opts: BlockWatcherOptions) {
    this.timers = opts.timers ?? realTimers;
    this.log = opts.log ?? silentLogger;
    this.maxBlocks = opts.maxBlocks ?? MAX_FOLLOWED_BLOCKS;
  }

  start(): void {
    if (this.unsubscribe !== null) return;
    this.unsubscribe = this.opts.bus.on('block.submitted', (e) => this.onSubmitted(e));
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    for (const f of this.followed.values()) if (f.timer !== null) this.timers.clearTimeout(f.timer);
    this.followed.clear();
  }

  /** The blocks followed now (hashes, oldest first). */
  get following(): string[] {
    return [...this.followed.keys()];
  }

  private onSubmitted(e: ProxyEventMap['block.submitted']): void {
    if (e.result !== 'accepted' && e.result !== 'inconclusive') return;
    if (this.followed.has(e.hash)) return; // submitted again (a duplicate): already followed
    if (this.followed.size >= this.maxBlocks) {
      const [oldest, f] = this.followed.entries().next().value!;
      if (f.timer !== null) this.timers.clearTimeout(f.timer);
      this.followed.delete(oldest);
      this.log.warn(`no longer following block ${f.height} ${oldest}: ${this.maxBlocks} blocks followed at most`, { pool: f.pool, hash: oldest, height: f.height });
    }
    const f: Followed = { pool: e.pool, hash: e.hash, height: e.height, state: { status: null, seen: false, misses: 0 }, timer: null, failing: false };
    this.followed.set(e.hash, f);
    this.schedule(f);
  }

  private schedule(f: Followed): void {
    const seconds = this.opts.checkSeconds(f.pool);
    f.timer = this.timers.setTimeout(() => void this.check(f), seconds * 1000);
  }

  private async check(f: Followed): Promise<void> {
    f.timer = null;
    let check: BlockCheck | null;
    try {
      check = await this.opts.lookup(f.pool, f.hash);
    } catch (err) {
      if (this.followed.get(f.hash) !== f) return; // stopped, or let go meanwhile
      if (!f.failing) this.log.warn(`could not check block ${f.height} ${f.hash} with dashd ${f.pool}: ${(err as Error).message} (trying again)`, { pool: f.pool, hash: f.hash });
      f.failing = true;
      this.schedule(f);
      return;
    }
    if (this.followed.get(f.hash) !== f) return;
    f.failing = false;
    const j = judgeBlock(f.state, check);
    const before = f.state.status;
    f.state = { ...j.state, status: j.status };
    if (check !== null && check.height > 0) f.height = check.height;
    if (j.status !== null && j.status !== before) {
      this.opts.bus.emit('block.status', {
        pool: f.pool,
        hash: f.hash,
        height: f.height,
        status: j.status,
        confirmations: check?.confirmations ?? -1,
        chainlock: check?.chainlock ?? false,
        reason: j.reason,
        at: this.timers.now(),
      });
    }
    if (j.final) this.followed.delete(f.hash);
    else this.schedule(f);
  }
}
