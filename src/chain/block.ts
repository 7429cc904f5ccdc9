import type { BlockSubmitResult } from '../upstream/types.js';
import type { BlockTemplate } from './block-template.js';
import { HEADER_SIZE } from './header.js';
import { coinbaseMerkleBranch } from './merkle.js';
import { compactSizeBytes } from './script.js';

/**
 * A found block: its bytes for `submitblock`, the merkle branch its coinbase needs, and dashd's answer read
 * as data. Pure. Block serialization: the 80-byte header, a compact-size transaction count, the coinbase,
 * then the template's transactions in template order (BIP22 for the answers).
 */

/** The serialized block (what `submitblock` takes, as hex). */
export function serializeBlock(header: Buffer, coinbase: Buffer, txs: readonly Buffer[]): Buffer {
  if (header.length !== HEADER_SIZE) throw new RangeError(`block header must be ${HEADER_SIZE} bytes, got ${header.length}`);
  if (coinbase.length === 0) throw new RangeError('block needs a coinbase');
  return Buffer.concat([header, compactSizeBytes(1 + txs.length), coinbase, ...txs]);
}

/** The stratum merkle branch for the coinbase of a block made from `t` (internal order, bottom up). */
export function merkleBranchOf(t: BlockTemplate): Buffer[] {
  return coinbaseMerkleBranch(t.transactions.map((tx) => tx.hash));
}

export interface SubmitBlockAnswer {
  result: BlockSubmitResult;
  /** dashd's words; null when plainly accepted. */
  reason: string | null;
}

function rpcErrorText(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (typeof message === 'string') return typeof code === 'number' ? `${message} (RPC error ${code})` : message;
  }
  return `RPC error ${JSON.stringify(error) ?? String(error)}`;
}

/**
 * dashd's `submitblock` answer (the JSON-RPC `result` and `error`): null -> accepted; `duplicate` -> accepted
 * (it already has the block); `inconclusive` / `duplicate-inconclusive` -> inconclusive (valid, not on its
 * best chain yet); any other string (`duplicate-invalid`, `rejected`, `high-hash`, `bad-cb-amount`...) ->
 * rejected with it; an RPC error (`Block decode failed`) -> rejected with its message. Anything else is no
 * BIP22 answer: unanswered, and the reason quotes it.
 */
export function readSubmitBlockAnswer(result: unknown, error: unknown): SubmitBlockAnswer {
  if (error !== null && error !== undefined) return { result: 'rejected', reason: rpcErrorText(error) };
  if (result === null || result === undefined) return { result: 'accepted', reason: null };
  if (typeof result !== 'string') return { result: 'unanswered', reason: `submitblock answered ${JSON.stringify(result)}, not a BIP22 result` };
  if (result === 'duplicate') return { result: 'accepted', reason: 'duplicate' };
  if (result === 'inconclusive' || result === 'duplicate-inconclusive') return { result: 'inconclusive', reason: result };
  return { result: 'rejected', reason: result === '' ? 'rejected' : result };
}
