import { displayHash, leLessOrEqual, u32Hex } from '../chain/bytes.js';
import { serializeBlock, merkleBranchOf } from '../chain/block.js';
import type { BlockTemplate } from '../chain/block-template.js';
import { buildCoinbase } from '../chain/coinbase.js';
import type { PowHasher } from '../chain/hasher.js';
import { writeHeader } from '../chain/header.js';
import { foldMerkleBranch } from '../chain/merkle.js';
import { sha256dInto } from '../chain/sha256.js';
import { difficultyFromTarget, targetFromDifficulty, targetToLe } from '../chain/target.js';
import type { NotifyParams } from '../stratum/messages.js';
import type { UpstreamSubmit } from './types.js';

/**
 * The work of a dashd session, pure: a checked template becomes a Stratum job (coinbase halves around the
 * extranonce, merkle branch, header fields in Stratum's forms), and a share on that job becomes a verdict
 * (refused, a share, or a full block to submit). The template checks, the coinbase builder and the block's
 * serialization are src/chain's; this file only puts them together for the connection.
 */

/** The extranonce of a dashd session: 8 bytes of its own (extranonce1), 8 for the proxy and its devices. */
export const DASHD_EXTRANONCE1_BYTES = 8;
export const DASHD_EXTRANONCE2_BYTES = 8;

/** What the session reads of a template: the tip it builds on and the long poll's id. */
export function tipOf(t: BlockTemplate): { prevhash: string; height: number; longpollid: string | null } {
  return { prevhash: t.previousBlockHash, height: t.height, longpollid: t.longpollId };
}

/** The previous block a template that failed the checks names, when it names one (did the tip move?). */
export function claimedPrevhash(raw: unknown): string | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const p = (raw as Record<string, unknown>).previousblockhash;
  return typeof p === 'string' ? p.toLowerCase() : null;
}

/** A job of a dashd session: its Stratum form and what a share on it needs to become a block. */
export interface DashdJob {
  notify: NotifyParams;
  template: BlockTemplate;
  networkTarget: bigint;
  /** min(shareDifficulty, the network's). */
  difficulty: number;
  /** Little-endian targets for the comparisons. */
  shareTargetLe: Buffer;
  networkTargetLe: Buffer;
  coinb1: Buffer;
  coinb2: Buffer;
  branch: Buffer[];
  /** Duffs the coinbase pays the farm (coinbasevalue less every required payment). */
  farmReward: bigint;
}

export interface JobInputs {
  jobId: string;
  payoutScript: Buffer;
  tag: Buffer;
  shareDifficulty: number;
  cleanJobs: boolean;
}

/** The Stratum job of a checked template (the coinbase's extranonce space: extranonce1 ‖ extranonce2). */
export function jobOf(t: BlockTemplate, o: JobInputs): DashdJob {
  const cb = buildCoinbase(t, { payoutScript: o.payoutScript, extranonceSize: DASHD_EXTRANONCE1_BYTES + DASHD_EXTRANONCE2_BYTES, tag: o.tag });
  const branch = merkleBranchOf(t);
  const networkTarget = t.target;
  const difficulty = Math.min(o.shareDifficulty, difficultyFromTarget(networkTarget));
  // Stratum's prevhash: the header's (internal) bytes with every 4-byte word reversed = the display hex's words in reverse order.
  const display = t.previousBlockHash;
  const words: string[] = [];
  for (let i = 64; i > 0; i -= 8) words.push(display.slice(i - 8, i));
  return {
    notify: {
      jobId: o.jobId,
      prevhash: words.join(''),
      coinb1: cb.coinb1.toString('hex'),
      coinb2: cb.coinb2.toString('hex'),
      merkleBranch: branch.map((b) => b.toString('hex')),
      version: u32Hex(t.version),
      nbits: u32Hex(t.bits),
      ntime: u32Hex(t.curTime),
      cleanJobs: o.cleanJobs,
    },
    template: t,
    networkTarget,
    difficulty,
    shareTargetLe: targetToLe(targetFromDifficulty(difficulty)),
    networkTargetLe: targetToLe(networkTarget),
    coinb1: cb.coinb1,
    coinb2: cb.coinb2,
    branch,
    farmReward: cb.farmReward,
  };
}

export type ShareJudgement =
  | { kind: 'refused'; code: number; reason: string }
  | { kind: 'share' }
  | { kind: 'block'; block: Buffer; hash: string };

/**
 * Judge a share on `job`: the coinbase with the session's extranonce1 and the share's extranonce2, the merkle
 * root, the header with the share's ntime and nonce, X11. Above the share target: refused (23); meeting
 * the network's: the full block.
 */
export function judgeShare(job: DashdJob, share: UpstreamSubmit, extranonce1: string, hasher: PowHasher): ShareJudgement {
  if (share.versionBits !== undefined) return { kind: 'refused', code: 20, reason: 'version rolling is not offered by a dashd' };
  if (!/^[0-9a-fA-F]*$/.test(share.extranonce2) || share.extranonce2.length !== DASHD_EXTRANONCE2_BYTES * 2) {
    return { kind: 'refused', code: 20, reason: `extranonce2 must be ${DASHD_EXTRANONCE2_BYTES * 2} hex digits` };
  }
  if (!/^[0-9a-fA-F]{8}$/.test(share.ntime) || !/^[0-9a-fA-F]{8}$/.test(share.nonce)) return { kind: 'refused', code: 20, reason: 'ntime and nonce must be 8 hex digits' };
  const ntime = parseInt(share.ntime, 16) >>> 0;
  if (job.template.minTime !== null && ntime < job.template.minTime) return { kind: 'refused', code: 20, reason: `ntime ${share.ntime} is before the template's mintime` };
  const coinbase = Buffer.concat([job.coinb1, Buffer.from(extranonce1, 'hex'), Buffer.from(share.extranonce2, 'hex'), job.coinb2]);
  const pair = Buffer.allocUnsafe(64);
  sha256dInto(coinbase, pair, 0);
  foldMerkleBranch(pair, job.branch);
  const header = writeHeader({
    version: job.template.version,
    prevhash: job.template.prevhash,
    merkleRoot: pair.subarray(0, 32),
    ntime,
    nbits: job.template.bits,
    nonce: parseInt(share.nonce, 16) >>> 0,
  });
  const hash = Buffer.from(hasher.hash(header));
  if (!leLessOrEqual(hash, job.shareTargetLe)) return { kind: 'refused', code: 23, reason: 'low difficulty share' };
  if (!leLessOrEqual(hash, job.networkTargetLe)) return { kind: 'share' };
  return { kind: 'block', block: serializeBlock(header, coinbase, job.template.transactions.map((tx) => tx.data)), hash: displayHash(hash) };
}
