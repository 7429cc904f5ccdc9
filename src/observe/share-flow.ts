import type { NoVerdictCause, PoolVerdict } from '../core/events.js';

/**
 * What became of forwarded shares (on one pool, one upstream connection, or all of them): the pool's
 * verdicts as bounded results, and the counts the farm ledger defines (see farm-ledger.ts):
 * forwarded = poolAccepted + poolRejected + poolUnanswered + inFlight.
 */

/**
 * The pool's verdicts as bounded labels (`result` of dash_proxy_upstream_shares_total): accepted; a
 * rejection by the pool's Stratum code (21 stale, 22 duplicate, 23 low_difficulty, 24 unauthorized, any
 * other code: other); no verdict by cause (timeout, connection_lost, no_pool).
 */
export const POOL_RESULTS = ['accepted', 'stale', 'duplicate', 'low_difficulty', 'unauthorized', 'other', 'timeout', 'connection_lost', 'no_pool'] as const;
export type PoolResult = (typeof POOL_RESULTS)[number];
const UNANSWERED_RESULTS: ReadonlySet<PoolResult> = new Set<PoolResult>(['timeout', 'connection_lost', 'no_pool']);
const CODE_RESULT: Record<number, PoolResult> = { 21: 'stale', 22: 'duplicate', 23: 'low_difficulty', 24: 'unauthorized' };
const CAUSE_RESULT: Record<NoVerdictCause, PoolResult> = { timeout: 'timeout', 'connection-lost': 'connection_lost', 'no-pool': 'no_pool' };

/** The bounded label of a verdict: from the pool's code or the cause, never from message text. */
export function poolResultOf(verdict: PoolVerdict): PoolResult {
  if (verdict.kind === 'accepted') return 'accepted';
  if (verdict.kind === 'rejected') return CODE_RESULT[verdict.code] ?? 'other';
  return CAUSE_RESULT[verdict.cause];
}

/** What became of forwarded shares on one pool or one connection. */
export interface ShareFlow {
  forwarded: number;
  poolAccepted: number;
  poolRejected: number;
  poolUnanswered: number;
  inFlight: number;
  /** The verdicts by result (POOL_RESULTS). */
  results: Record<PoolResult, number>;
}

export function newFlow(): ShareFlow {
  const results = {} as Record<PoolResult, number>;
  for (const r of POOL_RESULTS) results[r] = 0;
  return { forwarded: 0, poolAccepted: 0, poolRejected: 0, poolUnanswered: 0, inFlight: 0, results };
}

/** A share sent toward the pool: in flight until its verdict. */
export function countForward(flow: ShareFlow): void {
  flow.forwarded++;
  flow.inFlight++;
}

/** The verdict on a forwarded share. */
export function countVerdict(flow: ShareFlow, result: PoolResult, n = 1): void {
  flow.results[result] += n;
  if (result === 'accepted') flow.poolAccepted += n;
  else if (UNANSWERED_RESULTS.has(result)) flow.poolUnanswered += n;
  else flow.poolRejected += n;
  flow.inFlight = flow.forwarded - flow.poolAccepted - flow.poolRejected - flow.poolUnanswered;
}

/** Several flows added up (e.g. every pool's: the farm's). */
export function sumFlows(flows: Iterable<ShareFlow>): ShareFlow {
  const sum = newFlow();
  for (const f of flows) {
    sum.forwarded += f.forwarded;
    for (const r of POOL_RESULTS) countVerdict(sum, r, f.results[r]);
  }
  return sum;
}

export const copyFlow = <T extends ShareFlow>(r: T): T => ({ ...r, results: { ...r.results } });
