import type { EventBus } from '../core/events.js';
import { Method } from '../stratum/messages.js';
import type { MiningDevice } from './device-state.js';
import { retarget } from './device-target.js';
import { clamp, type VardiffOptions } from './vardiff.js';

/** What a retarget needs of the proxy's options (read at each call: vardiff settings change on SIGHUP). */
export interface DifficultySettings {
  readonly difficultyMultiplier: number;
  readonly retargetGraceMs: number;
  readonly vardiff: VardiffOptions;
}

/**
 * Changing one device's difficulty: its new share target (the previous one still counts for a grace
 * period), mining.set_difficulty, the current job again when needed, and `device.difficulty`. Used by the
 * device side (vardiff, suggest_difficulty), the pool side (a job whose pool difficulty is below the
 * device's) and the routing (a move to a target whose pool difficulty is lower).
 */
export class DeviceDifficulty {
  constructor(
    private readonly settings: DifficultySettings,
    private readonly bus: EventBus,
  ) {}

  /**
   * New difficulty for one device. Miners apply mining.set_difficulty from the next job on, so the current
   * job follows at once (clean_jobs false: work in hand stays valid) unless the caller is about to send one.
   */
  set(device: MiningDevice, difficulty: number, resendJob = true): void {
    const now = Date.now();
    const session = device.session;
    device.target = retarget(device.target, difficulty, this.settings.difficultyMultiplier, now, this.settings.retargetGraceMs);
    device.vardiff.difficulty = difficulty;
    session.notify(Method.SetDifficulty, [difficulty]);
    const job = resendJob && !device.parked ? device.channel.resendLine : null;
    if (job) session.write(job);
    this.bus.emit('device.difficulty', { sessionId: session.id, worker: session.worker!, difficulty, at: now });
  }

  /**
   * A device's difficulty must never be above the pool's: lowered (without resending the job: the caller
   * sends the job it applies to next) when a job of `poolDifficulty` is about to reach it.
   */
  capAt(device: MiningDevice, poolDifficulty: number): void {
    if (device.target.difficulty > poolDifficulty) this.set(device, clamp(device.target.difficulty, poolDifficulty, this.settings.vardiff), false);
  }
}
