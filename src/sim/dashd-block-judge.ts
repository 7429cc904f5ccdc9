import type { PowHasher } from '../chain/hasher.js';
import { targetFromBits } from '../chain/target.js';
import { COINBASE_TX_TYPE, COINBASE_TX_VERSION, MAX_COINBASE_SCRIPTSIG, scriptNumPush } from './dash-coinbase.js';
import type { BlockPlan } from './dashd-template.js';
import { blockMerkleRoot, doubleSha256, hashHex } from './dashd-hashes.js';
import { parseRawBlock, type RawBlock, type RawTx } from './raw-block.js';

/**
 * The simulated dashd's verdict on a `submitblock`, with its own code (src/sim/raw-block.ts to read the bytes,
 * its own sha256d and merkle, the X11 PowHasher for the proof of work; nothing of the proxy's builder). The
 * checks and their words, in order (Dash Core's reasons where it has one):
 *
 *   the bytes parse and the first transaction is a coinbase    else a decode error (RPC -22)
 *   the block is new                                          else `duplicate` (or `duplicate-invalid`)
 *   it builds on the tip                                      else `inconclusive` (on a known block) or `prev-blk-not-found`
 *   nBits is the network's                                    `bad-diffbits`
 *   X11 of the header meets nBits                             `high-hash`
 *   time not before the template's mintime, not 2 h ahead     `time-too-old`, `time-too-new`
 *   merkle root of the block's own transactions               `bad-txnmrklroot`
 *   one coinbase, first, scriptSig of 2..100 bytes            `bad-cb-multiple`, `bad-cb-length`
 *   BIP34: the scriptSig starts with the height push          `bad-cb-height`
 *   coinbase version 3 type 5 carrying the template's CbTx    `bad-cbtx-payload`
 *   only the template's transactions, all of them            `bad-txns-inputs-missingorspent` (one it does not
 *                                                              know), `bad-txns-template-missing` (the simulator
 *                                                              is stricter than dashd here: a test wants to know)
 *   coinbase outputs at most coinbasevalue                    `bad-cb-amount`
 *   every masternode and superblock payment: its script, at least its amount   `bad-cb-payee`
 *   the farm's payout script in output 0, when one is expected `bad-cb-payout` (simulator only)
 */

export interface JudgeContext {
  /** The expected next block on the tip. */
  plan: BlockPlan;
  /** Display hex of the tip. */
  tipId: string;
  /** What dashd already knows of a block: accepted ('valid'), refused ('invalid'), or nothing. */
  known: (id: string) => 'valid' | 'invalid' | undefined;
  hasher: PowHasher;
  /** Seconds, for the time-too-new check. */
  now: number;
  /** When set, output 0 must pay exactly this script. */
  payoutScript: Buffer | null;
}

export type BlockJudgment =
  | { kind: 'undecodable'; message: string }
  | { kind: 'accepted'; id: string; hash: Buffer; block: RawBlock; txids: string[] }
  | { kind: 'duplicate'; id: string; reason: 'duplicate' | 'duplicate-invalid' }
  | { kind: 'inconclusive'; id: string }
  | { kind: 'rejected'; id: string; reason: string };

const NULL_PREVOUT = '0'.repeat(64);
const MAX_FUTURE_SECONDS = 2 * 60 * 60;

function isCoinbase(tx: RawTx): boolean {
  return tx.inputs.length === 1 && tx.inputs[0]!.prevTxid === NULL_PREVOUT && tx.inputs[0]!.prevIndex === 0xffffffff;
}

/** Each payment matched by a distinct output with its script and at least its amount. */
function missingPayment(plan: BlockPlan, coinbase: RawTx): string | null {
  const used = new Set<number>();
  for (const p of [...plan.masternode, ...plan.superblock]) {
    const i = coinbase.outputs.findIndex((o, k) => !used.has(k) && o.script.equals(p.script) && o.value >= p.amount);
    if (i === -1) return `${p.payee || 'script ' + p.script.toString('hex')} ${p.amount} duffs`;
    used.add(i);
  }
  return null;
}

/** The rule a block on the tip breaks, or null when it is valid. */
function brokenRule(block: RawBlock, id: string, txids: Buffer[], ctx: JudgeContext): string | null {
  const { plan } = ctx;
  const h = block.header;
  if (h.bits !== plan.bits) return 'bad-diffbits';
  if (BigInt('0x' + id) > targetFromBits(h.bits)) return 'high-hash';
  if (h.time < plan.mintime) return 'time-too-old';
  if (h.time > ctx.now + MAX_FUTURE_SECONDS) return 'time-too-new';
  if (hashHex(blockMerkleRoot(txids)) !== h.merkleRoot) return 'bad-txnmrklroot';
  const coinbase = block.txs[0]!;
  if (block.txs.slice(1).some(isCoinbase)) return 'bad-cb-multiple';
  const scriptSig = coinbase.inputs[0]!.scriptSig;
  if (scriptSig.length < 2 || scriptSig.length > MAX_COINBASE_SCRIPTSIG) return 'bad-cb-length';
  const heightPush = scriptNumPush(plan.height);
  if (!scriptSig.subarray(0, heightPush.length).equals(heightPush)) return 'bad-cb-height';
  if (coinbase.version !== COINBASE_TX_VERSION || coinbase.type !== COINBASE_TX_TYPE || !coinbase.extraPayload?.equals(plan.payload)) return 'bad-cbtx-payload';
  const expected = new Set(plan.transactions.map((tx) => hashHex(tx.txid)));
  const present = new Set<string>();
  for (const id of txids.slice(1)) {
    const display = hashHex(id);
    if (!expected.has(display)) return 'bad-txns-inputs-missingorspent';
    present.add(display);
  }
  if (present.size !== expected.size) return 'bad-txns-template-missing';
  const paid = coinbase.outputs.reduce((sum, o) => sum + o.value, 0n);
  if (paid > plan.coinbaseValue) return 'bad-cb-amount';
  if (missingPayment(plan, coinbase) !== null) return 'bad-cb-payee';
  if (ctx.payoutScript && !coinbase.outputs[0]?.script.equals(ctx.payoutScript)) return 'bad-cb-payout';
  return null;
}

/** Judge the hex of a `submitblock`. */
export function judgeBlock(hex: string, ctx: JudgeContext): BlockJudgment {
  let block: RawBlock;
  try {
    block = parseRawBlock(hex);
  } catch (err) {
    return { kind: 'undecodable', message: `Block decode failed: ${(err as Error).message}` };
  }
  if (!isCoinbase(block.txs[0]!)) return { kind: 'undecodable', message: 'Block does not start with a coinbase' };
  const hash = Buffer.from(ctx.hasher.hash(block.header.raw));
  const id = hashHex(hash);
  const before = ctx.known(id);
  if (before !== undefined) return { kind: 'duplicate', id, reason: before === 'valid' ? 'duplicate' : 'duplicate-invalid' };
  if (block.header.prevhash !== ctx.tipId) {
    return ctx.known(block.header.prevhash) === 'valid' ? { kind: 'inconclusive', id } : { kind: 'rejected', id, reason: 'prev-blk-not-found' };
  }
  const txids = block.txs.map((tx) => doubleSha256(tx.raw));
  const reason = brokenRule(block, id, txids, ctx);
  if (reason !== null) return { kind: 'rejected', id, reason };
  return { kind: 'accepted', id, hash, block, txids: txids.map(hashHex) };
}
