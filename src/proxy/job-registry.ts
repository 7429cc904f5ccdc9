import { deviceNotify, padHex } from './device-job.js';
import { createJob, type Job } from './job.js';
import type { UpstreamJob } from '../upstream/types.js';

/**
 * The jobs of one upstream session, under the proxy's own ids, as devices see them (derived from the pool's
 * job: device-job.ts). Ids are unique for the life of the process
 * (a pool restarting its counter after a reconnect can never make an old share look current). A clean job
 * or an extranonce change voids every older job ("stale"); old jobs are forgotten past `maxJobs`.
 */
export interface JobRegistryOptions {
  /** How many jobs are remembered (current and recent, for late shares on not-cleaned jobs). */
  maxJobs?: number;
  difficultyMultiplier?: number;
}

let nextId = 1;
/** Process-wide job id source: short hex, never reused. */
function newJobId(): string {
  return (nextId++).toString(16);
}

export class JobRegistry {
  private readonly jobs = new Map<string, { job: Job; generation: number }>();
  private readonly maxJobs: number;
  private readonly multiplier: number;
  /** Bumped by every clean job and every extranonce change: jobs of older generations are stale. */
  private gen = 0;
  private latest: Job | null = null;

  constructor(opts: JobRegistryOptions = {}) {
    this.maxJobs = opts.maxJobs ?? 16;
    this.multiplier = opts.difficultyMultiplier ?? 1;
  }

  get generation(): number {
    return this.gen;
  }

  /** The job devices should be mining now. */
  get current(): Job | null {
    return this.latest;
  }

  /**
   * Register a pool job (usable: the upstream judged it and decoded its network target) as devices get it:
   * the pool's extranonce1 at the end of coinb1, `padBytes` zero bytes at the start of coinb2.
   */
  add(upstream: UpstreamJob, padBytes = 0): Job {
    const job = createJob(deviceNotify(upstream.notify, upstream.extranonce.extranonce1, padBytes), {
      pad: padHex(padBytes),
      id: newJobId(),
      networkTarget: upstream.networkTarget,
      poolExtranonce1: upstream.extranonce.extranonce1,
      poolDifficulty: upstream.difficulty,
      difficultyMultiplier: this.multiplier,
      receivedAt: upstream.receivedAt,
    });
    if (job.cleanJobs) this.gen++;
    this.jobs.set(job.id, { job, generation: this.gen });
    while (this.jobs.size > this.maxJobs) {
      const oldest = this.jobs.keys().next().value as string;
      this.jobs.delete(oldest);
    }
    this.latest = job;
    return job;
  }

  /** Void every job (extranonce changed, connection lost, pool switched). */
  invalidateAll(): void {
    this.gen++;
    this.latest = null;
  }

  lookup(id: string): { job: Job; stale: boolean } | undefined {
    const entry = this.jobs.get(id);
    if (!entry) return undefined;
    return { job: entry.job, stale: entry.generation !== this.gen };
  }
}
