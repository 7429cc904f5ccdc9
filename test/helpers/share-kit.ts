import { loadX11Wasm } from '../../src/chain/x11-wasm.js';
import { initialTarget } from '../../src/proxy/device-target.js';
import { createJob, type Job } from '../../src/proxy/job.js';
import { ShareValidator, type DeviceWork, type JobLookup } from '../../src/proxy/share-validator.js';
import type { NotifyParams } from '../../src/stratum/messages.js';

export const hasher = await loadX11Wasm();

export function device(extranonce1: string, extranonce2Size: number, difficulty: number, versionMask = 0): DeviceWork {
  return { extranonce1, extranonce2Size, versionMask, target: initialTarget(difficulty) };
}

/** A lookup over a fixed set of jobs; ids in `stale` answer as cleaned. */
export function lookupOf(jobs: Job[], stale: string[] = []): JobLookup {
  const byId = new Map(jobs.map((j) => [j.id, j]));
  return (id) => {
    const job = byId.get(id);
    return job ? { job, stale: stale.includes(id) } : undefined;
  };
}

export function jobOf(notify: NotifyParams, poolExtranonce1: string, poolDifficulty: number, receivedAt = Date.now()): Job {
  return createJob(notify, { poolExtranonce1, poolDifficulty, receivedAt });
}

export function validator(opts: Partial<ConstructorParameters<typeof ShareValidator>[0]> = {}) {
  return new ShareValidator({ hasher, ...opts });
}
