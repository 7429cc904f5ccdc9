import type { OpenFiles } from '../util/open-files.js';

/**
 * The IPC contract between a cluster's primary and its workers (node's `cluster` channel), in one place.
 * Messages are plain JSON objects with a `type`; anything else on the channel (prom-client's own metrics
 * requests) is not ours and is left alone (`isWorkerMessage`, `isPrimaryMessage`).
 */

/** Environment variables the primary gives each fork (not DASH_PROXY_*: those are configuration fields). */
export const WORKER_ENV = {
  /** The worker's index, 0 .. workers-1, kept by a restarted worker. */
  index: 'DASH_FARM_PROXY_WORKER',
  /** The fork's incarnation, 1, 2, 3... across the host's forks (its id range: src/cluster/ids.ts). */
  incarnation: 'DASH_FARM_PROXY_INCARNATION',
  /** The number of workers the host runs (a worker's share of the per-host limits). */
  workers: 'DASH_FARM_PROXY_WORKERS',
} as const;

/** Worker -> primary (besides the batches of bus events, EventBatch of src/cluster/event-relay.ts, its own contract). */
export type WorkerMessage =
  /** The device port is open in this worker. */
  | { type: 'listening'; openFiles: OpenFiles | null }
  /** Sent on a change and every second: devices held, and whether it has a pool connection with a current job. */
  | { type: 'state'; devices: number; ready: boolean }
  /** A graceful stop is over: every event was sent before this (the primary may count the worker gone). */
  | { type: 'stopped' };

/** Primary -> worker. */
export type PrimaryMessage =
  /** SIGHUP: read the same argv, environment and file again and apply the core side's live settings. */
  | { type: 'reload' }
  /** SIGTERM/SIGINT at the primary: stop gracefully (as a one-process proxy does), then exit 0. */
  | { type: 'stop' };

const WORKER_TYPES: ReadonlySet<string> = new Set(['listening', 'state', 'stopped']);
const PRIMARY_TYPES: ReadonlySet<string> = new Set(['reload', 'stop']);

const typeOf = (m: unknown): unknown => (typeof m === 'object' && m !== null ? (m as { type?: unknown }).type : undefined);

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  const type = typeOf(m);
  return typeof type === 'string' && WORKER_TYPES.has(type);
}

export function isPrimaryMessage(m: unknown): m is PrimaryMessage {
  const type = typeOf(m);
  return typeof type === 'string' && PRIMARY_TYPES.has(type);
}

/** A worker's identity from its environment (null: not a worker of ours). */
export function workerIdentity(env: NodeJS.ProcessEnv): { worker: number; incarnation: number; workers: number } | null {
  const num = (name: string) => (env[name] !== undefined && /^\d+$/.test(env[name]!) ? Number(env[name]) : null);
  const worker = num(WORKER_ENV.index);
  const incarnation = num(WORKER_ENV.incarnation);
  const workers = num(WORKER_ENV.workers);
  return worker === null || incarnation === null || workers === null || incarnation < 1 || workers < 1 ? null : { worker, incarnation, workers };
}

/** The first session id and share id of a worker incarnation: its own 2^32 range, so ids are unique host-wide unmapped. */
export function firstIdOf(incarnation: number): number {
  return incarnation * 2 ** 32 + 1;
}
