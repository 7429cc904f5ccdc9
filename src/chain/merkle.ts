import { sha256d, sha256dInto } from './sha256.js';

/**
 * The merkle root a miner builds: root = sha256d(coinbase), then root = sha256d(root || branch[i]) for each
 * branch entry in order. Branch entries and the result are raw sha256d output (internal byte order): the
 * result goes into header bytes 36..68 as is.
 */
export function merkleRootFromBranch(coinbaseHash: Uint8Array, branch: readonly Uint8Array[]): Buffer {
  const pair = Buffer.allocUnsafe(64);
  pair.set(coinbaseHash.subarray(0, 32), 0);
  foldMerkleBranch(pair, branch);
  return Buffer.from(pair.subarray(0, 32));
}

/**
 * The same fold in place, allocation-free for the share path: `pair` is 64 bytes whose first 32 hold the
 * coinbase hash on entry and the merkle root on return (its last 32 are work space).
 */
export function foldMerkleBranch(pair: Buffer, branch: readonly Uint8Array[]): void {
  for (let i = 0; i < branch.length; i++) {
    pair.set(branch[i]!, 32);
    sha256dInto(pair, pair, 0);
  }
}

/** The merkle root of a whole block from its transaction hashes (internal order), Bitcoin's rule of pairing an odd last hash with itself. */
export function merkleRoot(txHashes: readonly Uint8Array[]): Buffer {
  if (txHashes.length === 0) throw new Error('merkleRoot: no transactions');
  let level: Buffer[] = txHashes.map((h) => Buffer.from(h));
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const left = level[i]!;
      const right = level[i + 1] ?? left;
      next.push(sha256d(Buffer.concat([left, right])));
    }
    level = next;
  }
  return level[0]!;
}

/**
 * The stratum merkle branch for the coinbase (position 0) given the other transactions' hashes in block order
 * (internal byte order). This is what a pool puts in `mining.notify`.
 */
export function coinbaseMerkleBranch(otherTxHashes: readonly Uint8Array[]): Buffer[] {
  const branch: Buffer[] = [];
  // Index 0 stands for the coinbase, whose hash is not known to the pool.
  let level: (Buffer | null)[] = [null, ...otherTxHashes.map((h) => Buffer.from(h))];
  while (level.length > 1) {
    branch.push(level[1]!);
    if (level.length % 2 === 1) level.push(level[level.length - 1]!);
    const next: (Buffer | null)[] = [null];
    for (let i = 2; i < level.length; i += 2) next.push(sha256d(Buffer.concat([level[i]!, level[i + 1]!])));
    level = next;
  }
  return branch;
}
