import type { Duffs } from './duffs.js';
import { LedgerInputError } from './ledger-input.js';
import { mayPay, type BlockRow } from './ledger-blocks.js';
import type { LedgerReader, PayoutEntry, RecordedPayout, TimeRange } from './ledger-reader.js';
import { PayoutError, splitPayout, type HostingFees, type PaidBlock, type PayoutMethod, type PayoutRequest, type PayoutSplit } from './payouts.js';

/**
 * Recording a payout the pool made: the ledger's pool-accepted work is read for the method, split with
 * splitPayout (payouts.ts: fees first, sums exact to the duff), and the payout and its splits are stored
 * in one transaction. The CLI (`ledger payout record`) and the API (`POST /api/ledger/payouts`) both call this.
 *   - prop:  the pool-accepted shares of the period;
 *   - pplns: for each block (a time inside the period), the last `books.pplnsWindow` units of work up to it,
 *            the block's reward (given, summing to the amount; or the amount split equally) split by it;
 *   - pps:   each pool-accepted share of the period at blockReward x difficulty / network difficulty (the
 *            network difficulty of its job, recorded since schema version 2: older shares are refused).
 */
export interface PayoutInput {
  amount: Duffs;
  method: PayoutMethod;
  period: TimeRange;
  /** PPLNS: the blocks paid for, each with its reward or none without (required then, refused otherwise). */
  blocks: PaidBlock[] | null;
  /** PPS: the block reward (required then, refused otherwise). */
  blockReward: Duffs | null;
  note: string | null;
  /** Only the work sent to this pool (a solo block's reward is its own pool's work), or all work when absent. */
  pool?: string;
}

export interface PayoutRules {
  fees: HostingFees;
  /** books.pplnsWindow (difficulty units), or null when not configured. */
  pplnsWindow: number | null;
}

/** The split the books give this payout (nothing stored). Throws LedgerInputError for what the input lacks. */
export async function splitFromLedger(reader: LedgerReader, input: PayoutInput, rules: PayoutRules): Promise<PayoutSplit> {
  if (input.method !== 'pplns' && input.blocks !== null) throw new LedgerInputError(`blocks: only a pplns payout pays for blocks (the method is ${input.method})`);
  if (input.method !== 'pps' && input.blockReward !== null) throw new LedgerInputError(`block reward: only a pps payout values work by a block reward (the method is ${input.method})`);
  let request: PayoutRequest;
  if (input.method === 'prop') {
    request = { method: 'prop', amount: input.amount, work: await reader.acceptedWork(input.period, input.pool) };
  } else if (input.method === 'pplns') {
    const window = rules.pplnsWindow;
    if (window === null) throw new LedgerInputError('pplns: books.pplnsWindow is not set in the configuration (the work counted back from each block)');
    if (input.blocks === null || input.blocks.length === 0) throw new LedgerInputError('blocks: a pplns payout needs the times of the blocks it pays for');
    const times = input.blocks.map((b) => b.at);
    const first = Math.min(...times);
    const last = Math.max(...times);
    const work = await reader.acceptedWork({ from: await reader.windowStart(first, window, input.pool), to: last + 1 }, input.pool);
    request = { method: 'pplns', amount: input.amount, window, blocks: input.blocks, work };
  } else {
    const reward = input.blockReward;
    if (reward === null) throw new LedgerInputError('block reward: a pps payout needs the block reward its work is valued at');
    const units = await reader.acceptedWork(input.period, input.pool);
    const unvalued = units.filter((u) => u.networkDifficulty === null).length;
    if (unvalued > 0) {
      throw new LedgerInputError(`pps: ${unvalued} pool-accepted shares of the period were recorded without their network difficulty (books older than schema version 2): split this period by prop`);
    }
    request = { method: 'pps', amount: input.amount, work: units.map((u) => ({ owner: u.owner, work: u.work, networkDifficulty: u.networkDifficulty!, blockReward: reward })) };
  }
  try {
    return splitPayout(request, rules.fees);
  } catch (err) {
    if (err instanceof PayoutError) throw new LedgerInputError(err.message);
    throw err;
  }
}

/** Split the payout by the books and store it with its splits (one transaction). */
export async function recordPayout(reader: LedgerReader, input: PayoutInput, rules: PayoutRules, now: number): Promise<RecordedPayout> {
  return reader.addPayout(await payoutEntry(reader, input, rules, now));
}

/** The payout as the books keep it: the input and its split. */
async function payoutEntry(reader: LedgerReader, input: PayoutInput, rules: PayoutRules, now: number): Promise<PayoutEntry> {
  const split = await splitFromLedger(reader, input, rules);
  return {
    recordedAt: now,
    amount: split.amount,
    method: input.method,
    period: input.period,
    blocks: input.blocks,
    pplnsWindow: input.method === 'pplns' ? rules.pplnsWindow : null,
    blockReward: input.blockReward,
    note: input.note,
    splits: split.shares,
  };
}

/**
 * The payout of solo block `block`'s reward by `method`, from its pool's work (`blocks`: every block of the
 * books, for the round's start):
 *   - prop and pps: the round, from just after the previous block of the same pool that was or may still be
 *     paid (accepted by dashd, not orphaned; the books' oldest share without one) up to the block; pps values
 *     that work at the block's reward;
 *   - pplns: the last `books.pplnsWindow` of the pool's work up to the block.
 * The round's end is the block's found_at (when dashd answered), so consecutive rounds tile the pool's work.
 */
export async function blockPayoutInput(reader: LedgerReader, block: BlockRow, blocks: readonly BlockRow[], method: PayoutMethod, rules: PayoutRules): Promise<PayoutInput> {
  const to = block.foundAt + 1;
  const note = `solo block ${block.height} ${block.hash}`;
  const base = { amount: block.reward, method, note, pool: block.pool };
  if (method === 'pplns') {
    if (rules.pplnsWindow === null) throw new LedgerInputError('pplns: books.pplnsWindow is not set in the configuration (the work counted back from each block)');
    const from = Math.min(await reader.windowStart(block.foundAt, rules.pplnsWindow, block.pool), block.foundAt);
    return { ...base, period: { from, to }, blocks: [{ at: block.foundAt }], blockReward: null };
  }
  const previous = blocks.filter((b) => b.pool === block.pool && b.hash !== block.hash && b.foundAt < block.foundAt && mayPay(b)).at(-1);
  const from = previous ? previous.foundAt + 1 : Math.min((await reader.firstShareAt()) ?? block.foundAt, block.foundAt);
  return { ...base, period: { from, to }, blocks: null, blockReward: method === 'pps' ? block.reward : null };
}

/**
 * Split solo block `block`'s reward (blockPayoutInput) and store it with the payout's id on the block's row,
 * in one transaction, if it has no payout yet and is final (chainlocked, mature): the payout, or null when
 * nothing was stored (paid already, by this proxy or another on the same books; not payable).
 */
export async function recordBlockPayout(reader: LedgerReader, block: BlockRow, blocks: readonly BlockRow[], method: PayoutMethod, rules: PayoutRules, now: number): Promise<RecordedPayout | null> {
  const input = await blockPayoutInput(reader, block, blocks, method, rules);
  return reader.addBlockPayout(block.hash, await payoutEntry(reader, input, rules, now));
}
