import { leLessOrEqual, swapWords32, u32Hex } from '../../src/chain/bytes.js';
import { writeHeader } from '../../src/chain/header.js';
import { merkleRootFromBranch } from '../../src/chain/merkle.js';
import { sha256d } from '../../src/chain/sha256.js';
import { targetFromBits, targetFromDifficulty, targetToLe } from '../../src/chain/target.js';
import type { NotifyParams } from '../../src/stratum/messages.js';
import { hasher } from '../helpers/share-kit.js';

/**
 * A test miner built from the chain primitives (each proven on real Dash blocks in test/chain), apart from
 * the simulator's own MinerWork: it hashes a notify's header for a given extranonce and nonce.
 */
export function hashShare(notify: NotifyParams, extranonce1: string, extranonce2: string, nonce: number, version?: number): Buffer {
  const coinbase = Buffer.from(notify.coinb1 + extranonce1 + extranonce2 + notify.coinb2, 'hex');
  const root = merkleRootFromBranch(
    sha256d(coinbase),
    notify.merkleBranch.map((h) => Buffer.from(h, 'hex')),
  );
  const header = writeHeader({
    version: version ?? parseInt(notify.version, 16),
    prevhash: swapWords32(Buffer.from(notify.prevhash, 'hex')),
    merkleRoot: root,
    ntime: parseInt(notify.ntime, 16),
    nbits: parseInt(notify.nbits, 16),
    nonce,
  });
  return Buffer.from(hasher.hash(header));
}

/** The first nonce (as submitted: 8 hex digits, big-endian) whose hash satisfies `pred`; throws after maxTries. */
export function findNonce(notify: NotifyParams, extranonce1: string, extranonce2: string, pred: (hash: Buffer, nonce: number) => boolean, opts: { start?: number; maxTries?: number; version?: number } = {}): string {
  const start = opts.start ?? 0;
  const max = opts.maxTries ?? 200_000;
  for (let n = start; n < start + max; n++) {
    if (pred(hashShare(notify, extranonce1, extranonce2, n, opts.version), n)) return u32Hex(n);
  }
  throw new Error(`findNonce: nothing in ${max} tries`);
}

export const meetsDifficulty = (difficulty: number) => {
  const t = targetToLe(targetFromDifficulty(difficulty));
  return (hash: Buffer) => leLessOrEqual(hash, t);
};

export const missesDifficulty = (difficulty: number) => {
  const meets = meetsDifficulty(difficulty);
  return (hash: Buffer) => !meets(hash);
};

export const meetsBits = (nbits: string) => {
  const t = targetToLe(targetFromBits(parseInt(nbits, 16)));
  return (hash: Buffer) => leLessOrEqual(hash, t);
};
