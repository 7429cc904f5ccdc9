import { hashHex } from './dashd-hashes.js';

/**
 * The simulated dashd's block tree: every block it knows (the start block, blocks submitted to it, blocks of
 * "other miners"), which of them form the best chain, and each block's ChainLock. Pure: the clock is passed in.
 *
 * A ChainLock comes `chainlockMs` after a block joined the best chain (and then covers its ancestors, which
 * joined earlier); a chainlocked block cannot be orphaned, as on Dash. `orphan(hash)` takes a block and
 * everything after it off the best chain (their confirmations read -1) and makes its parent the tip; the
 * simulator then puts another block at that height, like a competing chain winning.
 */

export type BlockSource = 'start' | 'submitted' | 'other-miner';

export interface ChainBlock {
  /** Internal order. */
  readonly hash: Buffer;
  /** Display hex. */
  readonly id: string;
  readonly height: number;
  /** Display hex of the parent ('' for the start block). */
  readonly prevId: string;
  /** Header time (seconds). */
  readonly time: number;
  readonly bits: number;
  /** Display hex txids, coinbase first. */
  readonly txids: readonly string[];
  /** The serialized block. */
  readonly raw: Buffer;
  readonly source: BlockSource;
  /** When it joined the best chain last (ms), or null while it is not on it. */
  connectedAt: number | null;
}

export interface BlockView {
  block: ChainBlock;
  /** Depth on the best chain (1 for the tip), -1 off it. */
  confirmations: number;
  chainlock: boolean;
}

export class SimChain {
  private readonly byId = new Map<string, ChainBlock>();
  /** The best chain by height, from the start block's height. */
  private readonly best: ChainBlock[] = [];

  constructor(start: Omit<ChainBlock, 'id' | 'connectedAt' | 'source'>, now: number) {
    const block: ChainBlock = { ...start, id: hashHex(start.hash), source: 'start', connectedAt: now };
    this.byId.set(block.id, block);
    this.best.push(block);
  }

  get tip(): ChainBlock {
    return this.best[this.best.length - 1]!;
  }

  get baseHeight(): number {
    return this.best[0]!.height;
  }

  get size(): number {
    return this.byId.size;
  }

  get(id: string): ChainBlock | undefined {
    return this.byId.get(id.toLowerCase());
  }

  /** The best chain's block at `height`, if the chain has one there. */
  at(height: number): ChainBlock | undefined {
    return this.best[height - this.baseHeight];
  }

  /**
   * Add a block whose parent is known. On the tip it becomes the new tip (true); on another block it is
   * kept off the best chain (false): a side branch that does not (yet) have more work.
   */
  add(block: Omit<ChainBlock, 'id' | 'connectedAt'>, now: number): boolean {
    const id = hashHex(block.hash);
    if (this.byId.has(id)) throw new Error(`block ${id} is already known`);
    if (!this.byId.has(block.prevId)) throw new Error(`block ${id}: parent ${block.prevId} is not known`);
    const onTip = block.prevId === this.tip.id;
    const entry: ChainBlock = { ...block, id, connectedAt: onTip ? now : null };
    this.byId.set(id, entry);
    if (onTip) this.best.push(entry);
    return onTip;
  }

  view(block: ChainBlock, now: number, chainlockMs: number | null): BlockView {
    const onBest = block.connectedAt !== null;
    return {
      block,
      confirmations: onBest ? this.tip.height - block.height + 1 : -1,
      chainlock: onBest && chainlockMs !== null && now - block.connectedAt! >= chainlockMs,
    };
  }

  /**
   * Take `id` and every block after it off the best chain; its parent becomes the tip. Refused (throws) for
   * a block that is not on the best chain, the start block, or a chainlocked one.
   */
  orphan(id: string, now: number, chainlockMs: number | null): ChainBlock[] {
    const block = this.get(id);
    if (!block || block.connectedAt === null) throw new Error(`orphan: block ${id} is not on the best chain`);
    if (block.source === 'start') throw new Error('orphan: the start block stays');
    if (this.view(block, now, chainlockMs).chainlock) throw new Error(`orphan: block ${id} is chainlocked`);
    const removed = this.best.splice(block.height - this.baseHeight);
    for (const b of removed) b.connectedAt = null;
    return removed;
  }
}
