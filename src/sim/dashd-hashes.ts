import { createHash } from 'node:crypto';

/**
 * The hashes the dashd simulator judges blocks with, written here on node:crypto so that the simulator's
 * verdict never rests on the proxy's own sha256d or merkle code (src/chain/sha256.ts, src/chain/merkle.ts).
 * X11 comes from the shared PowHasher: it is the hash function itself, not a judgment.
 */

/** SHA-256 applied twice (txids, merkle nodes, base58check checksums), internal byte order. */
export function doubleSha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(createHash('sha256').update(data).digest()).digest();
}

/**
 * The merkle root of a block's transaction ids (internal order), coinbase first. Each level pairs
 * neighbours; a level of odd length pairs its last id with itself (Bitcoin's rule, kept by Dash).
 */
export function blockMerkleRoot(txids: readonly Uint8Array[]): Buffer {
  if (txids.length === 0) throw new RangeError('blockMerkleRoot: a block has at least its coinbase');
  let nodes: Buffer[] = txids.map((id) => Buffer.from(id));
  while (nodes.length > 1) {
    const parents: Buffer[] = [];
    for (let left = 0; left < nodes.length; left += 2) {
      const right = Math.min(left + 1, nodes.length - 1);
      parents.push(doubleSha256(Buffer.concat([nodes[left]!, nodes[right]!])));
    }
    nodes = parents;
  }
  return nodes[0]!;
}

/** The display (RPC, explorer) form of an internal-order hash. */
export function hashHex(hash: Uint8Array): string {
  return Buffer.from(hash).reverse().toString('hex');
}

/** The internal-order bytes of a display-hex hash. */
export function hashFromHex(hex: string): Buffer {
  return Buffer.from(hex, 'hex').reverse();
}
