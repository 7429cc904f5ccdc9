import { targetFromDifficulty, targetToLe } from '../chain/target.js';

/**
 * A device's share target and the one it replaced. A share that meets the difficulty in force just before
 * a retarget still counts: the device may be finishing work on a job it got before the change.
 */
export interface DeviceTarget {
  readonly difficulty: number;
  /** Little-endian 32 bytes. Shared between devices of the same difficulty: read it, never write into it. */
  readonly target: Buffer;
  readonly previous: { readonly difficulty: number; readonly target: Buffer } | null;
  /** Date.now() of the last change. */
  readonly changedAt: number;
}

/**
 * Target bytes by difficulty and multiplier. Devices share a handful of difficulties (vardiff keeps three
 * significant digits), so a farm of 10,000 devices holds a few dozen target buffers instead of one each
 * (a Buffer object is about 100 bytes of heap). Bounded: cleared when it grows past MAX_CACHED.
 */
const MAX_CACHED = 1024;
const cache = new Map<string, Buffer>();

function targetBytes(difficulty: number, multiplier: number): Buffer {
  const key = multiplier === 1 ? String(difficulty) : `${difficulty}*${multiplier}`;
  let t = cache.get(key);
  if (t === undefined) {
    t = targetToLe(targetFromDifficulty(difficulty, multiplier));
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(key, t);
  }
  return t;
}

/** After a retarget, how long shares meeting the previous difficulty still count on newer jobs (ms). */
export const DEFAULT_RETARGET_GRACE_MS = 5000;

export function initialTarget(difficulty: number, multiplier = 1, now = Date.now()): DeviceTarget {
  return { difficulty, target: targetBytes(difficulty, multiplier), previous: null, changedAt: now };
}

/**
 * The new target, remembering the one it replaces. Two changes close together (within `graceMs`, before the
 * device can have moved on from the first) keep the easier of the two earlier targets, so a share mined at
 * the difficulty of two changes ago and still in flight is not turned down.
 */
export function retarget(current: DeviceTarget, difficulty: number, multiplier = 1, now = Date.now(), graceMs = DEFAULT_RETARGET_GRACE_MS): DeviceTarget {
  if (difficulty === current.difficulty) return current;
  const earlier = current.previous;
  const keepEarlier = earlier !== null && now - current.changedAt <= graceMs && earlier.difficulty < current.difficulty;
  return {
    difficulty,
    target: targetBytes(difficulty, multiplier),
    previous: keepEarlier ? earlier : { difficulty: current.difficulty, target: current.target },
    changedAt: now,
  };
}
