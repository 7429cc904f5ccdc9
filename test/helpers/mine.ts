import { leLessOrEqual, swapWords32, u32Hex } from '../../src/chain/bytes.js';
import { writeHeader } from '../../src/chain/header.js';
import { merkleRootFromBranch } from '../../src/chain/merkle.js';
import { sha256d } from '../../src/chain/sha256.js';
import { targetFromDifficulty, targetToLe } from '../../src/chain/target.js';
import type { NotifyParams } from '../../src/stratum/messages.js';
import { hasher } from './share-kit.js';

/**
 * Find a nonce whose header meets `difficulty` (and, with `below`, does NOT meet that harder difficulty),
 * by real X11 hashing. Bounded: throws after `maxTries`.
 */
export function mine(
  notify: NotifyParams,
  extranonce1: string,
  extranonce2: string,
  difficulty: number,
  opts: { startNonce?: number; below?: number; maxTries?: number } = {},
): { nonce: string; ntime: string } {
  const coinbase = Buffer.from(notify.coinb1 + extranonce1 + extranonce2 + notify.coinb2, 'hex');
  const root = merkleRootFromBranch(sha256d(coinbase), notify.merkleBranch.map((b) => Buffer.from(b, 'hex')));
  const target = targetToLe(targetFromDifficulty(difficulty));
  const harder = opts.below !== undefined ? targetToLe(targetFromDifficulty(opts.below)) : null;
  const fields = { version: parseInt(notify.version, 16), prevhash: swapWords32(Buffer.from(notify.prevhash, 'hex')), merkleRoot: root, ntime: parseInt(notify.ntime, 16), nbits: parseInt(notify.nbits, 16), nonce: 0 };
  const header = Buffer.alloc(80);
  const max = opts.maxTries ?? 2_000_000;
  for (let i = 0; i < max; i++) {
    fields.nonce = ((opts.startNonce ?? 0) + i) >>> 0;
    const hash = hasher.hash(writeHeader(fields, header));
    if (leLessOrEqual(hash, target) && (!harder || !leLessOrEqual(hash, harder))) return { nonce: u32Hex(fields.nonce), ntime: notify.ntime };
  }
  throw new Error(`mine: no share at difficulty ${difficulty} in ${max} tries`);
}
