import { availableParallelism } from 'node:os';

/**
 * How many worker processes `start` runs (`workers` in the configuration, `--workers N|auto`): a whole number
 * from 1 to WORKERS_MAX, or 'auto' for one per core the host gives this process. 1 runs the proxy in one
 * process, nothing forked. Pure but for the core count, which the caller may give.
 */
export type WorkersSetting = number | 'auto';

export const DEFAULT_WORKERS: WorkersSetting = 1;
/** Far above any core count we run on; a typo like 800 instead of 8 would still be refused by the host's memory. */
export const WORKERS_MAX = 256;
/** What `workers` must be, in words (the config error and the flag's help say it the same way). */
export const WORKERS_WORDS = `an integer from 1 to ${WORKERS_MAX}, or "auto" (one per core)`;

/** The number of workers a setting means on this host. */
export function workerCount(setting: WorkersSetting, cores: number = availableParallelism()): number {
  return setting === 'auto' ? Math.max(1, Math.min(WORKERS_MAX, cores)) : setting;
}

/** A `--workers` value as the configuration takes it: digits become a number, anything else stays text (the schema then names the field). */
export function workersFromText(text: string): WorkersSetting | string {
  return /^\s*\d+\s*$/.test(text) ? Number(text) : text.trim();
}

/**
 * A per-host limit (limits.maxDevices, limits.maxConnectionsPerIp) divided among the workers: each allows
 * ceil(limit / workers). Node's round-robin hands each connection to the next worker that is free (has taken
 * the one before), not strictly in turn: spread evenly over time, but under a burst of connects one worker can
 * take more than its part and refuse at its own share while the host is below the limit (measured: 15 of
 * 10,000 devices refused with 6 workers). The host as a whole never exceeds workers * ceil(limit / workers).
 * README, "Workers": leave headroom in limits.maxDevices.
 */
export function perWorkerLimit(limit: number, workers: number): number {
  return Math.ceil(limit / Math.max(1, workers));
}
