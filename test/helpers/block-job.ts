import type { NotifyParams } from '../../src/stratum/messages.js';
import { loadBlocks } from './fixtures.js';

/**
 * Real Dash block 844898 as a pool job. Its coinbase is cut around the last 12 bytes of the scriptSig,
 * e155|0000|0000000001000000, which the proxy tests read as pool extranonce1 (2 bytes), the first device's
 * prefix (2 bytes) and that device's extranonce2 (8 bytes): so the block's own nonce is a valid share.
 */
export const jobBlock = loadBlocks().find((b) => b.id === 'dash-mainnet-844898')!;

const full = jobBlock.stratum.coinb_full;
const scriptEnd = (jobBlock.coinbase.scriptsig_offset + jobBlock.coinbase.scriptsig_length) * 2;

/** The 12 coinbase bytes (hex) the job leaves out between coinb1 and coinb2. */
export const jobBlockExtranonces = full.slice(scriptEnd - 24, scriptEnd);

export function blockNotify(jobId: string, clean = true, padCoinb2Bytes = 0): NotifyParams {
  const s = jobBlock.stratum;
  return {
    jobId,
    prevhash: s.prevhash,
    coinb1: full.slice(0, scriptEnd - 24),
    // Padding makes big job lines (a device that stops reading fills its buffer sooner); it is hashed like any coinbase byte.
    coinb2: full.slice(scriptEnd) + '00'.repeat(padCoinb2Bytes),
    merkleBranch: s.merkle_branch,
    version: s.version,
    nbits: s.nbits,
    ntime: s.ntime,
    cleanJobs: clean,
  };
}
