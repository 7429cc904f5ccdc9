import { u32Hex } from '../chain/bytes.js';
import { targetFromBits } from '../chain/target.js';
import { p2pkhAddress, type DashChain } from './dash-address.js';
import { p2pkhScript, serializeCbTxPayload, type CbTxPayload } from './dash-coinbase.js';
import { hashHex } from './dashd-hashes.js';
import { paymentTx, quorumCommitmentTx, templateTxJson, type Random, type TemplateTx } from './dashd-transactions.js';

/**
 * What the simulated dashd expects in the next block on its tip (a `BlockPlan`: transactions, required
 * payments, CbTx payload, value) and the `getblocktemplate` answer made from it, in Dash Core 20's shape
 * (dashpay/docs, remote-procedure-calls-mining: the testnet example with `rules: ["v20", "mn_rr"]` and the
 * platform's `{ payee: "", script: "6a" }` first in `masternode`). Pure apart from the randomness given.
 *
 * Money, as Dash Core's CreateNewBlock pays it: the block value is the subsidy plus the fees; the masternode
 * share is 60% of it, of which the platform (credit pool, an OP_RETURN `6a` output) takes 37.5% (the docs'
 * example: 376379796 / (376379796 + 627299661)) and the masternode payee the rest; on a superblock height
 * the budget goes to two proposal payees. `coinbasevalue` is the block value plus the superblock budget:
 * every payment included, so the miner keeps coinbasevalue less every `masternode` and `superblock` amount.
 */

export interface Payment {
  /** Address, or '' when the script has none (the platform's `6a`). */
  payee: string;
  script: Buffer;
  amount: bigint;
}

export interface BlockPlan {
  height: number;
  /** The tip's hash (internal order): the block's prevhash. */
  prevHash: Buffer;
  prevBits: number;
  bits: number;
  version: number;
  /** Seconds: the tip's time + 1 (a block may not be older). */
  mintime: number;
  transactions: readonly TemplateTx[];
  subsidy: bigint;
  fees: bigint;
  masternode: readonly Payment[];
  superblock: readonly Payment[];
  /** The CbTx (version 3, this height) the coinbase must carry, and its bytes (`coinbase_payload`). */
  cbtx: CbTxPayload;
  payload: Buffer;
  /** subsidy + fees + the superblock budget (duffs). */
  coinbaseValue: bigint;
}

export interface PlanOptions {
  chain: DashChain;
  bits: number;
  version: number;
  /** Duffs of new coins per block. */
  subsidy: bigint;
  /** Payment transactions besides the quorum commitment. */
  txCount: number;
  /** A superblock every this many heights (0: never). */
  superblockInterval: number;
  /** Duffs paid to the superblock's payees. */
  superblockBudget: bigint;
  random: Random;
}

/** The tip the next block builds on. */
export interface PlanTip {
  hash: Buffer;
  height: number;
  time: number;
  bits: number;
}

export type TemplateFault = 'payments-exceed-value' | 'malformed-script' | 'unknown-rule';
export const TEMPLATE_FAULTS: readonly TemplateFault[] = ['payments-exceed-value', 'malformed-script', 'unknown-rule'];

export const TEMPLATE_RULES: readonly string[] = ['v20', 'mn_rr'];
const PLATFORM_SCRIPT = Buffer.from([0x6a]);

function randomPayee(o: PlanOptions): { payee: string; script: Buffer } {
  const hash = o.random(20);
  return { payee: p2pkhAddress(o.chain, hash), script: p2pkhScript(hash) };
}

/** The next block on `tip`. */
export function planBlock(tip: PlanTip, o: PlanOptions): BlockPlan {
  const height = tip.height + 1;
  const transactions: TemplateTx[] = [];
  for (let i = 0; i < o.txCount; i++) transactions.push(paymentTx(o.random, BigInt(226 + o.random(2).readUInt16LE(0) % 2000)));
  transactions.push(quorumCommitmentTx(o.random, height));
  const fees = transactions.reduce((sum, tx) => sum + tx.fee, 0n);
  const blockValue = o.subsidy + fees;
  const masternodeShare = (blockValue * 60n) / 100n;
  const platform = (masternodeShare * 375n) / 1000n;
  const masternode: Payment[] = [
    { payee: '', script: PLATFORM_SCRIPT, amount: platform },
    { ...randomPayee(o), amount: masternodeShare - platform },
  ];
  const superblock: Payment[] = [];
  if (o.superblockInterval > 0 && height % o.superblockInterval === 0) {
    const first = (o.superblockBudget * 3n) / 5n;
    superblock.push({ ...randomPayee(o), amount: first }, { ...randomPayee(o), amount: o.superblockBudget - first });
  }
  const cbtx: CbTxPayload = {
    height,
    merkleRootMNList: o.random(32),
    merkleRootQuorums: o.random(32),
    bestCLHeightDiff: 0,
    bestCLSignature: o.random(96),
    creditPoolBalance: BigInt(height) * 1_000_000n,
  };
  const superblockTotal = superblock.reduce((sum, p) => sum + p.amount, 0n);
  return {
    height,
    prevHash: tip.hash,
    prevBits: tip.bits,
    bits: o.bits,
    version: o.version,
    mintime: tip.time + 1,
    transactions,
    subsidy: o.subsidy,
    fees,
    masternode,
    superblock,
    cbtx,
    payload: serializeCbTxPayload(cbtx),
    coinbaseValue: blockValue + superblockTotal,
  };
}

function paymentJson(p: Payment): { payee: string; script: string; amount: number } {
  return { payee: p.payee, script: p.script.toString('hex'), amount: Number(p.amount) };
}

/** The `getblocktemplate` result for `plan` at `curtime`, with `fault` (a test hook) applied when set. */
export function renderTemplate(plan: BlockPlan, at: { curtime: number; longpollid: string; fault: TemplateFault | null }): Record<string, unknown> {
  const masternode = plan.masternode.map(paymentJson);
  const rules = [...TEMPLATE_RULES];
  switch (at.fault) {
    case 'payments-exceed-value':
      masternode[masternode.length - 1]!.amount = Number(plan.coinbaseValue); // with the platform's, over the value
      break;
    case 'malformed-script':
      masternode[masternode.length - 1]!.script = '76a914' + '00'.repeat(10); // a 20-byte push with 10 bytes left
      break;
    case 'unknown-rule':
      rules.push('!sim-unknown-rule');
      break;
    case null:
      break;
  }
  return {
    capabilities: ['proposal'],
    version: plan.version,
    rules,
    vbavailable: {},
    vbrequired: 0,
    previousblockhash: hashHex(plan.prevHash),
    transactions: plan.transactions.map(templateTxJson),
    coinbaseaux: {},
    coinbasevalue: Number(plan.coinbaseValue),
    longpollid: at.longpollid,
    target: targetFromBits(plan.bits).toString(16).padStart(64, '0'),
    mintime: plan.mintime,
    mutable: ['time', 'transactions', 'prevblock'],
    noncerange: '00000000ffffffff',
    sigoplimit: 40000,
    sizelimit: 2000000,
    curtime: Math.max(at.curtime, plan.mintime),
    bits: u32Hex(plan.bits),
    previousbits: u32Hex(plan.prevBits),
    height: plan.height,
    masternode,
    masternode_payments_started: true,
    masternode_payments_enforced: true,
    superblock: plan.superblock.map(paymentJson),
    superblocks_started: true,
    superblocks_enabled: true,
    coinbase_payload: plan.payload.toString('hex'),
  };
}
