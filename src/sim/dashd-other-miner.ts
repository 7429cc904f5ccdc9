import { writeHeader } from '../chain/header.js';
import { buildCoinbase, compactSize, type CoinbaseOutput } from './dash-coinbase.js';
import { blockMerkleRoot, doubleSha256 } from './dashd-hashes.js';
import type { BlockPlan } from './dashd-template.js';
import type { Random } from './dashd-transactions.js';

/**
 * A block of "someone else" for a plan: a valid-looking block (its coinbase pays every required payment and
 * another miner's P2PKH the rest, the template's transactions, the right merkle root) whose proof of work
 * nobody checks: the simulated network found it. It moves the simulated dashd's tip (and makes a proxy
 * start clean work), and fills the chain for `getblock`.
 */

export interface MadeBlock {
  raw: Buffer;
  header: Buffer;
  txids: Buffer[];
}

export function otherMinerBlock(plan: BlockPlan, time: number, random: Random): MadeBlock {
  const payments = [...plan.masternode, ...plan.superblock];
  const paid = payments.reduce((sum, p) => sum + p.amount, 0n);
  const outputs: CoinbaseOutput[] = [{ value: plan.coinbaseValue - paid, pubKeyHash: random(20) }, ...payments.map((p) => ({ value: p.amount, script: p.script }))];
  const parts = buildCoinbase({ height: plan.height, time, extranonce1Size: 4, extranonce2Size: 8, poolTag: '/another miner/', outputs, payload: plan.cbtx });
  const coinbase = Buffer.concat([parts.coinb1, random(12), parts.coinb2]);
  const txs = [coinbase, ...plan.transactions.map((tx) => tx.data)];
  const txids = txs.map(doubleSha256);
  const header = writeHeader({ version: plan.version, prevhash: plan.prevHash, merkleRoot: blockMerkleRoot(txids), ntime: time, nbits: plan.bits, nonce: random(4).readUInt32LE(0) });
  return { raw: Buffer.concat([header, compactSize(txs.length), ...txs]), header: Buffer.from(header), txids };
}
