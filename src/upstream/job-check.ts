import { miningTargetFromBits } from '../chain/target.js';
import { parseNotify, type NotifyParams } from '../stratum/messages.js';

/**
 * Every reason a pool's job cannot be mined, in one place: a `mining.notify` that does not parse, an nBits
 * with no valid target, an ntime far ahead of our clock, a pool difficulty that is not a positive number.
 * Pure: the answer is a value (the decoded job, or the reason in words), never an exception.
 */

/** A job whose ntime is this far ahead of our clock cannot be mined: every share of it would be refused. */
export const MAX_JOB_NTIME_AHEAD_S = 7200;

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

/** A notify the proxy can mine on, decoded once: its checked fields and the network target from its nBits. */
export interface UsableNotify {
  notify: NotifyParams;
  /** The network's target from nBits (never zero). */
  networkTarget: bigint;
}

/** The network target of a job's nBits (8 hex digits), or why it has none. */
export function networkTargetOf(nbitsHex: string): Checked<bigint> {
  const target = miningTargetFromBits(parseInt(nbitsHex, 16) >>> 0);
  return target.ok ? target : { ok: false, reason: `mining.notify: ${target.reason}` };
}

/**
 * Judge one `mining.notify` (its raw params) with the pool's difficulty in force for it, at `nowMs` on our
 * clock. Returns the decoded job, or the first reason it cannot be used.
 */
export function checkJob(params: unknown[], difficulty: number, nowMs: number): Checked<UsableNotify> {
  const parsed = readNotify(params);
  if (!parsed.ok) return parsed;
  const notify = parsed.value;
  const network = networkTargetOf(notify.nbits);
  if (!network.ok) return network;
  const ntime = parseInt(notify.ntime, 16);
  if (ntime > nowMs / 1000 + MAX_JOB_NTIME_AHEAD_S) {
    return { ok: false, reason: `mining.notify: ntime ${notify.ntime} is more than ${MAX_JOB_NTIME_AHEAD_S / 3600} h ahead of our clock` };
  }
  if (!(difficulty > 0) || !Number.isFinite(difficulty)) return { ok: false, reason: `pool difficulty ${difficulty} is not a positive number` };
  return { ok: true, value: { notify, networkTarget: network.value } };
}

// The wire parser and the nBits decoder report a bad value by throwing; their messages become reasons here,
// at the edge, so nothing above handles an exception.

function readNotify(params: unknown[]): Checked<NotifyParams> {
  try {
    return { ok: true, value: parseNotify(params) };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}
