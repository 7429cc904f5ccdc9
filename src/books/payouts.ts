import { apportion } from './apportion.js';
import { checkDuffs, formatDash, type Duffs } from './duffs.js';
import { exactFraction, overCommonDenominator, toNumber, ZERO, type Fraction } from './exact.js';

/**
 * Splitting a payout the pool made among the farm's owners: pure, no clock, no database. The ledger feeds
 * it plain data (work per owner, or work units with their times and difficulties) and stores the result.
 *
 * 1. Each owner's weight by the method (all exact, see exact.ts):
 *    - prop:  their pool-accepted work (sum of share difficulty) in the period;
 *    - pplns: for each block paid, the last `window` units of the farm's pool-accepted work up to the block
 *             (time <= the block's; the unit that crosses the window's edge counts in part), the block's
 *             reward split by it; an owner's weight is the sum over the blocks;
 *    - pps:   each unit of work at blockReward x share difficulty / network difficulty; the payout is split
 *             in proportion to these values (it is exactly them when the pool paid the full PPS value).
 *             The values are counted in atoms of 2^-64 duff (see ppsWeights); PROP and PPLNS are exact.
 * 2. Gross shares: the payout split by the weights with the largest-remainder rule (apportion.ts; owners in
 *    name order break ties). No work at all (or a block with no work in its window): that money is the
 *    farm owner's.
 * 3. Hosting fees, taken from each owner's gross before they are credited: fee = gross x basis points /
 *    10,000 rounded down (the fraction of a duff stays with the owner), all of it credited to the farm owner.
 *
 * Every owner's total is gross - fee (+ the fees received, for the farm owner); the totals sum exactly to
 * the payout and none is negative.
 */
export const PAYOUT_METHODS = ['prop', 'pplns', 'pps'] as const;
export type PayoutMethod = (typeof PAYOUT_METHODS)[number];

/** Work (difficulty units, pool-accepted) of one owner; an owner may appear many times (summed). */
export interface OwnerWork {
  owner: string;
  work: number;
}

/** Work at a time (ms since the epoch, or any one clock used for the blocks too): one share, or a minute's sum. */
export interface TimedWork extends OwnerWork {
  at: number;
}

/** Work valued at the network's difficulty and the block reward of its time (PPS). */
export interface PpsWork extends OwnerWork {
  networkDifficulty: number;
  /** The reward a block paid then, in duffs (what the pool pays per block for the miners). */
  blockReward: Duffs;
}

/** A block the payout pays for (PPLNS). Give each its reward (summing to the amount), or none: then equal parts. */
export interface PaidBlock {
  at: number;
  reward?: Duffs;
}

export type PayoutRequest =
  | { method: 'prop'; amount: Duffs; work: readonly OwnerWork[] }
  | { method: 'pplns'; amount: Duffs; window: number; blocks: readonly PaidBlock[]; work: readonly TimedWork[] }
  | { method: 'pps'; amount: Duffs; work: readonly PpsWork[] };

/** Who receives the hosting fees and what each owner pays (basis points: 250 is 2.5%). The OwnerMap is one. */
export interface HostingFees {
  readonly farmOwner: string;
  feeBasisPoints(owner: string): number;
}

export interface OwnerShare {
  owner: string;
  /** The owner's work as the method counted it, in difficulty units (PPLNS: in the blocks' windows). Display only. */
  work: number;
  /** Their part of the payout by work. */
  gross: Duffs;
  /** Hosting fee taken from gross (0 for the farm owner). */
  fee: Duffs;
  /** Fees of the other owners (the farm owner only). */
  feesReceived: Duffs;
  /** What they are credited: gross - fee + feesReceived. */
  total: Duffs;
}

export interface PayoutSplit {
  method: PayoutMethod;
  amount: Duffs;
  /** One entry per owner with work, and the farm owner always; in owner name order. */
  shares: OwnerShare[];
}

export class PayoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PayoutError';
  }
}

export const BASIS_POINTS = 10_000;

/** Split `request.amount` among owners by its method, hosting fees first. Throws PayoutError on bad input. */
export function splitPayout(request: PayoutRequest, fees: HostingFees): PayoutSplit {
  const amount = guard(() => checkDuffs('amount', request.amount));
  const weights = request.method === 'prop' ? propWeights(request.work) : request.method === 'pplns' ? pplnsWeights(request, amount) : ppsWeights(request.work);
  return settle(request.method, amount, weights, fees);
}

/** Each owner's weight as exact terms (summed over a common denominator) and their work for display. */
interface Weights {
  terms: Map<string, Fraction[]>;
  /** The work behind them, exactly (so the displayed number does not depend on the rows' order). */
  work: Map<string, Fraction[]>;
}

function newWeights(): Weights {
  return { terms: new Map(), work: new Map() };
}

function addTerm(w: Weights, owner: string, term: Fraction, work: Fraction): void {
  push(w.terms, owner, term);
  push(w.work, owner, work);
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function propWeights(work: readonly OwnerWork[]): Weights {
  const w = newWeights();
  work.forEach((u, i) => {
    const amount = checkWork(u.work, `work[${i}].work`);
    addTerm(w, checkOwner(u.owner, `work[${i}].owner`), amount, amount);
  });
  return w;
}

function ppsWeights(work: readonly PpsWork[]): Weights {
  // Units of one network difficulty and reward are summed first (exactly), then valued once per owner.
  const groups = new Map<string, { difficulty: Fraction; reward: Duffs; byOwner: Map<string, Fraction[]> }>();
  const w = newWeights();
  work.forEach((u, i) => {
    const owner = checkOwner(u.owner, `work[${i}].owner`);
    const amount = checkWork(u.work, `work[${i}].work`);
    if (!(typeof u.networkDifficulty === 'number' && Number.isFinite(u.networkDifficulty) && u.networkDifficulty > 0)) {
      throw new PayoutError(`work[${i}].networkDifficulty must be a number > 0 (got ${String(u.networkDifficulty)})`);
    }
    const reward = guard(() => checkDuffs(`work[${i}].blockReward`, u.blockReward));
    const key = `${u.networkDifficulty}/${reward}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { difficulty: exactFraction(u.networkDifficulty), reward, byOwner: new Map() }));
    push(g.byOwner, owner, amount);
    push(w.work, owner, amount);
  });
  for (const g of groups.values()) {
    const owners = [...g.byOwner.keys()];
    const { sums, denominator } = overCommonDenominator(owners.map((o) => g.byOwner.get(o)!));
    // value = reward x (sum / denominator) / (difficulty.n / difficulty.d), in atoms of 2^-64 duff, rounded
    // down: distinct network difficulties are many (one per block), and an exact common denominator of
    // them all would grow with every block; 2^-64 duff per owner and difficulty is the only rounding.
    owners.forEach((o, k) => push(w.terms, o, { n: (g.reward * sums[k]! * g.difficulty.d * PPS_ATOMS_PER_DUFF) / (denominator * g.difficulty.n), d: 1n }));
  }
  return w;
}

const PPS_ATOMS_PER_DUFF = 1n << 64n;

function pplnsWeights(request: Extract<PayoutRequest, { method: 'pplns' }>, amount: Duffs): Weights {
  const { window, blocks, work } = request;
  if (!(typeof window === 'number' && Number.isFinite(window) && window > 0)) throw new PayoutError(`window must be a number of difficulty units > 0 (got ${String(window)})`);
  if (!Array.isArray(blocks) || blocks.length === 0) throw new PayoutError('blocks: a PPLNS payout pays for at least one block');
  blocks.forEach((b, i) => checkTime(b.at, `blocks[${i}].at`));
  const withReward = blocks.filter((b) => b.reward !== undefined).length;
  if (withReward !== 0 && withReward !== blocks.length) {
    throw new PayoutError(`blocks: ${withReward} of ${blocks.length} blocks have a reward: give every block its reward, or none (the amount is then split equally)`);
  }
  const ordered = blocks.map((b, i) => ({ ...b, i })).sort((a, b) => a.at - b.at || a.i - b.i);
  let rewards: Duffs[];
  if (withReward > 0) {
    rewards = ordered.map((b) => guard(() => checkDuffs(`blocks[${b.i}].reward`, b.reward)));
    const sum = rewards.reduce((a, b) => a + b, 0n);
    if (sum !== amount) {
      const gap = sum > amount ? `${formatDash(sum - amount)} DASH more` : `${formatDash(amount - sum)} DASH less`;
      throw new PayoutError(`blocks: the block rewards sum to ${formatDash(sum)} DASH, ${gap} than the amount, ${formatDash(amount)} DASH: they must sum to it exactly`);
    }
  } else {
    rewards = apportion(amount, ordered.map(() => 1n))!;
  }

  // All work and the window on one scale: integers over a shared power of two, so the walk is exact.
  const units = work.map((u, i) => ({ owner: checkOwner(u.owner, `work[${i}].owner`), at: checkTime(u.at, `work[${i}].at`), work: u.work, exact: checkWork(u.work, `work[${i}].work`) }));
  units.sort((a, b) => a.at - b.at || (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : a.work - b.work));
  const scaled = overCommonDenominator([...units.map((u) => [u.exact]), [exactFraction(window)]]);
  const size = scaled.sums.pop()!;
  const scale = scaled.denominator;

  const w = newWeights();
  ordered.forEach((block, k) => {
    const reward = rewards[k]!;
    const inWindow = new Map<string, bigint>();
    let filled = 0n;
    for (let j = lastAtOrBefore(units, block.at); j >= 0 && filled < size; j--) {
      const take = scaled.sums[j]! < size - filled ? scaled.sums[j]! : size - filled;
      filled += take;
      inWindow.set(units[j]!.owner, (inWindow.get(units[j]!.owner) ?? 0n) + take);
    }
    if (filled === 0n) {
      addTerm(w, FARM, { n: reward, d: 1n }, ZERO);
      return;
    }
    for (const [owner, part] of inWindow) addTerm(w, owner, { n: reward * part, d: filled }, { n: part, d: scale });
  });
  return w;
}

/** Stand-in key for "the farm owner", replaced in settle (the farm owner's name is the fees' business). */
const FARM = '\u0000farm';

function lastAtOrBefore(units: readonly { at: number }[], at: number): number {
  let lo = 0;
  let hi = units.length; // first index with units[i].at > at
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (units[mid]!.at <= at) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

function settle(method: PayoutMethod, amount: Duffs, weights: Weights, fees: HostingFees): PayoutSplit {
  const farm = fees.farmOwner;
  // The farm's stand-in joins the farm owner's own work, if any.
  const farmTerms = weights.terms.get(FARM);
  if (farmTerms) {
    weights.terms.delete(FARM);
    weights.terms.set(farm, [...(weights.terms.get(farm) ?? []), ...farmTerms]);
    weights.work.set(farm, [...(weights.work.get(farm) ?? []), ...weights.work.get(FARM)!]);
    weights.work.delete(FARM);
  }
  const owners = [...new Set([...weights.terms.keys(), farm])].sort(byName);
  const { sums } = overCommonDenominator(owners.map((o) => weights.terms.get(o) ?? []));
  const work = overCommonDenominator(owners.map((o) => weights.work.get(o) ?? []));
  const gross = apportion(amount, sums) ?? owners.map((o) => (o === farm ? amount : 0n));

  const shares: OwnerShare[] = owners.map((owner, i) => {
    const bp = owner === farm ? 0 : checkBasisPoints(fees.feeBasisPoints(owner), owner);
    const fee = (gross[i]! * BigInt(bp)) / BigInt(BASIS_POINTS);
    return { owner, work: toNumber({ n: work.sums[i]!, d: work.denominator }), gross: gross[i]!, fee, feesReceived: 0n, total: gross[i]! - fee };
  });
  const farmShare = shares.find((s) => s.owner === farm)!;
  farmShare.feesReceived = shares.reduce((a, s) => a + s.fee, 0n);
  farmShare.total += farmShare.feesReceived;
  return { method, amount, shares };
}

export const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function checkOwner(owner: unknown, at: string): string {
  if (typeof owner !== 'string' || owner === '' || owner === FARM) throw new PayoutError(`${at} must be an owner's name (got ${JSON.stringify(owner) ?? String(owner)})`);
  return owner;
}

function checkWork(work: unknown, at: string): Fraction {
  if (typeof work !== 'number' || !Number.isFinite(work) || work < 0) throw new PayoutError(`${at} must be a number of difficulty units >= 0 (got ${String(work)})`);
  return exactFraction(work);
}

function checkTime(t: unknown, at: string): number {
  if (typeof t !== 'number' || !Number.isFinite(t)) throw new PayoutError(`${at} must be a time in ms (got ${String(t)})`);
  return t;
}

function checkBasisPoints(bp: number, owner: string): number {
  if (!Number.isInteger(bp) || bp < 0 || bp > BASIS_POINTS) throw new PayoutError(`the hosting fee of ${owner} must be 0 to ${BASIS_POINTS} basis points (got ${bp})`);
  return bp;
}

function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new PayoutError((err as Error).message);
  }
}
