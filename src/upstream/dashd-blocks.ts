import { DashdRpc } from './dashd-rpc.js';
import type { PoolConfig } from './types.js';

/**
 * Where a found block stands on a dashd's best chain, asked with `getblock <hash>` (verbosity 1) of the dashd
 * entry the block was found on: its confirmations (-1 off the best chain), ChainLock and height, or null when
 * dashd does not know the hash (RPC error -5). Any other failure rejects with dashd's words (the block watcher
 * tries again later). One RPC client per entry, made again when the entry's address or login changes.
 */

export interface BlockStanding {
  confirmations: number;
  chainlock: boolean;
  height: number;
}

/** dashd's "block not found" (RPC_INVALID_ADDRESS_OR_KEY). */
const BLOCK_NOT_FOUND = -5;

export class DashdBlocks {
  private readonly clients = new Map<string, { key: string; rpc: DashdRpc }>();

  /** `entryOf(pool)`: the pool entry in force with that name (undefined when the configuration has none). */
  constructor(private readonly entryOf: (pool: string) => PoolConfig | undefined) {}

  async lookup(pool: string, hash: string): Promise<BlockStanding | null> {
    const entry = this.entryOf(pool);
    if (!entry?.dashd) throw new Error(`no dashd entry named '${pool}' in the configuration`);
    const out = await this.client(entry).call('getblock', [hash, 1]);
    if (!out.ok) {
      if (out.failure.code === BLOCK_NOT_FOUND) return null;
      throw new Error(out.failure.message);
    }
    const r = out.result as Record<string, unknown> | null;
    if (typeof r !== 'object' || r === null || typeof r.confirmations !== 'number' || typeof r.height !== 'number') {
      throw new Error(`dashd at ${entry.url} answered getblock ${hash} without confirmations and height`);
    }
    return { confirmations: r.confirmations, chainlock: r.chainlock === true, height: r.height };
  }

  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(all.map((c) => c.rpc.close()));
  }

  private client(entry: PoolConfig): DashdRpc {
    const key = JSON.stringify([entry.url, entry.user, entry.password, entry.dashd?.cookieFile ?? null]);
    const known = this.clients.get(entry.name);
    if (known?.key === key) return known.rpc;
    if (known) void known.rpc.close();
    const rpc = new DashdRpc({ url: entry.url, user: entry.user, password: entry.password, cookieFile: entry.dashd?.cookieFile ?? null, connections: 1 });
    this.clients.set(entry.name, { key, rpc });
    return rpc;
  }
}
