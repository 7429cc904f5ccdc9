import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Real Dash blocks and a real miner-to-pool transcript, kept in the repository (test/fixtures/README.md says where from). */
export const fixturesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

export interface FixtureBlock {
  id: string;
  hash: string;
  header_hex: string;
  bits: string;
  target: string;
  txids: string[];
  coinbase: { hex: string; scriptsig_offset: number; scriptsig_length: number; tx_type: number };
  stratum: { prevhash: string; coinb_full: string; merkle_branch: string[]; version: string; nbits: string; ntime: string; nonce: string };
}

export function loadBlocks(): FixtureBlock[] {
  const file = path.join(fixturesDir, 'dash-blocks.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { blocks: FixtureBlock[] }).blocks;
}

export interface TranscriptLine {
  t: number;
  dir: 'miner->pool' | 'pool->miner';
  line: string;
}

export function loadTranscript(name = 'cpuminer-opt-x11--node-stratum-pool.jsonl'): TranscriptLine[] {
  const file = path.join(fixturesDir, 'transcripts', name);
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as TranscriptLine);
}

/**
 * Cut a block's full coinbase into coinb1 | extranonce1 | extranonce2 | coinb2 with the extranonces taken
 * from the tail of the scriptSig (after the BIP34 height push), as a pool would have placed them.
 */
export function cutCoinbase(block: FixtureBlock, en1Bytes: number, en2Bytes: number) {
  const full = block.stratum.coinb_full;
  const end = block.coinbase.scriptsig_offset + block.coinbase.scriptsig_length;
  const en2Start = end - en2Bytes;
  const en1Start = en2Start - en1Bytes;
  if (en1Start <= block.coinbase.scriptsig_offset) throw new Error(`${block.id}: scriptSig too short for ${en1Bytes}+${en2Bytes}`);
  return {
    coinb1: full.slice(0, en1Start * 2),
    extranonce1: full.slice(en1Start * 2, en2Start * 2),
    extranonce2: full.slice(en2Start * 2, end * 2),
    coinb2: full.slice(end * 2),
  };
}
