import { targetFromDifficulty, targetToLe } from '../chain/target.js';

/**
 * A device's share target and the one it replaced. A share that meets the difficulty in force just before
 * a retarget still counts: the device may be finishing work on a job it got before the change.
 */
export interface DeviceTarget {
  readonly difficulty: number;
  readonly target: Buffer;
  readonly previous: { readonly difficulty: number; readonly target: Buffer } | null;
  /** Date.now() of the last change. */
  readonly changedAt: number;
}

export function initialTarget(difficulty: number, multiplier = 1, now = Date.now()): DeviceTarget {
  return { difficulty, target: targetToLe(targetFromDifficulty(difficulty, multiplier)), previous: null, changedAt: now };
}

export function retarget(current: DeviceTarget, difficulty: number, multiplier = 1, now = Date.now()): DeviceTarget {
  if (difficulty === current.difficulty) return current;
  return {
    difficulty,
    target: targetToLe(targetFromDifficulty(difficulty, multiplier)),
    previous: { difficulty: current.difficulty, target: current.target },
    changedAt: now,
  };
}
