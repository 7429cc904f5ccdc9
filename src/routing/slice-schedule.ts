import type { Slice } from './split-planner.js';
import type { RoutingTiming } from './types.js';

/**
 * When a time-sliced device mines on which target. A device's slices follow one another in a cycle:
 * period = max(slicePeriodMs, minSliceMs / its smallest fraction), so no slice is shorter than minSliceMs;
 * each slice is a whole number of milliseconds (its boundary rounded from the cumulative fraction, so each
 * target's time is within 1 ms of its fraction of the period). A per-device phase, from a hash of the
 * device's key, spreads a fleet's switches over the period instead of switching every device at once.
 * Pure: the time (ms) is passed in.
 */

export type SliceTiming = Pick<RoutingTiming, 'slicePeriodMs' | 'minSliceMs'>;

export interface ScheduledSlice {
  target: string;
  /** Its start and end in the cycle (ms from the cycle's start, end exclusive). */
  startMs: number;
  endMs: number;
}

export interface SliceSchedule {
  periodMs: number;
  /** Added to the time before taking it modulo the period. */
  phaseMs: number;
  slices: ScheduledSlice[];
}

export interface SliceNow {
  target: string;
  /** When the device next changes target (ms), or Infinity when it has only one. */
  until: number;
}

/**
 * The schedule for a device's slices (as the planner gives them, fractions summing to 1; a fraction that is
 * not positive is left out and the rest renormalized). `key` identifies the device (its worker name or
 * session id), so its phase is the same at every plan. Throws a RangeError when no slice has a positive fraction.
 */
export function sliceSchedule(slices: readonly Slice[], key: string | number, timing: SliceTiming): SliceSchedule {
  const usable = slices.filter((s) => s.fraction > 0 && Number.isFinite(s.fraction));
  if (usable.length === 0) throw new RangeError('a slice schedule needs at least one slice with a positive fraction');
  const sum = usable.reduce((s, x) => s + x.fraction, 0);
  const smallest = Math.min(...usable.map((s) => s.fraction)) / sum;
  const periodMs = Math.max(1, Math.ceil(Math.max(timing.slicePeriodMs, timing.minSliceMs / smallest)));
  const out: ScheduledSlice[] = [];
  let cumulative = 0;
  let start = 0;
  usable.forEach((s, i) => {
    cumulative += s.fraction / sum;
    const end = i === usable.length - 1 ? periodMs : Math.min(periodMs, Math.round(cumulative * periodMs));
    out.push({ target: s.target, startMs: start, endMs: end });
    start = end;
  });
  return { periodMs, phaseMs: phaseOf(key, periodMs), slices: out };
}

/** The target the device mines on at `at` (ms) and when that changes. */
export function sliceAt(schedule: SliceSchedule, at: number): SliceNow {
  const { periodMs, slices } = schedule;
  const timed = slices.filter((s) => s.endMs > s.startMs);
  if (timed.length === 1) return { target: timed[0]!.target, until: Infinity };
  const pos = (((at + schedule.phaseMs) % periodMs) + periodMs) % periodMs;
  const current = timed.find((s) => pos < s.endMs) ?? timed[timed.length - 1]!;
  return { target: current.target, until: at + (current.endMs - pos) };
}

/** A phase in [0, periodMs) from the device's key: FNV-1a over its text, so it is the same in every process. */
function phaseOf(key: string | number, periodMs: number): number {
  const text = String(key);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % periodMs;
}
