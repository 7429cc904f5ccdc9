import type { PoolEndpoint } from './pool-url.js';
import type { ExtranonceInfo, PoolConfig, SubmitResult, UpstreamEvents, UpstreamSubmit } from './types.js';

/**
 * One session on one entry of a pool list, as the UpstreamSlot drives it: a Stratum pool
 * (pool-connection.ts) or the farm's own dashd (dashd-connection.ts). It never reconnects by itself: when it
 * ends it emits `down` exactly once and is done (the slot makes a new one).
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type UpstreamLog = (level: LogLevel, message: string) => void;

/** Why a session ended (the `down` reason says it in words). */
export type DownCause =
  /** TCP/TLS connect failed or timed out (a dashd: its RPC port did not answer). */
  | 'connect'
  /** The pool did not answer subscribe/authorize in time, stopped answering submits, went silent, or sent no usable job in time. */
  | 'timeout'
  /** The pool refused mining.subscribe or answered it with nonsense. */
  | 'subscribe'
  /** The pool refused mining.authorize (a dashd: its RPC login or cookie, or the payout address). */
  | 'auth'
  /** The pool closed the connection (or it broke). */
  | 'closed'
  /** Unreadable lines, an over-long line, or unusable jobs in a row (a dashd: a template that fails our checks). */
  | 'protocol'
  /** The pool sent client.reconnect. */
  | 'reconnect'
  /** A dashd that cannot give work yet: initial block download, masternode sync, no peers. */
  | 'syncing'
  /** Our owner closed it. */
  | 'owner';

export type PoolDownInfo = UpstreamEvents['down'][0] & { cause: DownCause };

export interface ReconnectRequest {
  /** Where to go (the pool's own endpoint when it named another host and that is not allowed). */
  endpoint: PoolEndpoint;
  waitMs: number;
}

export interface PoolSessionEvents {
  ready: UpstreamEvents['ready'];
  job: UpstreamEvents['job'];
  jobRefused: UpstreamEvents['jobRefused'];
  fault: UpstreamEvents['fault'];
  extranonce: UpstreamEvents['extranonce'];
  versionMask: UpstreamEvents['versionMask'];
  down: [info: PoolDownInfo];
  message: UpstreamEvents['message'];
  /** Emitted just before `down` (cause `reconnect`) when the pool sent client.reconnect. */
  reconnectRequested: [request: ReconnectRequest];
}

export interface PoolSession {
  readonly pool: PoolConfig;
  /** The url actually used. */
  readonly url: string;
  readonly isReady: boolean;
  /** True once this session was ready (even if it ended since). */
  readonly wasReady: boolean;
  readonly extranonce: ExtranonceInfo | null;
  readonly versionMask: number | null;
  /** Resolves once everything the session opened is closed. */
  readonly closed: Promise<void>;
  /** Open the session; events report the outcome. Call once. */
  start(): void;
  /** End now; pending submits resolve as lost; `down` follows (cause `owner`). */
  close(reason?: string): void;
  /** End once pending submits are answered (or after `graceMs`), refusing new ones meanwhile. */
  retire(reason: string, graceMs: number): void;
  /** Forward a share; never rejects and never hangs. */
  submit(share: UpstreamSubmit): Promise<SubmitResult>;
  authorizeWorker(name: string, password: string): Promise<boolean>;
  on<K extends keyof PoolSessionEvents>(event: K, listener: (...args: PoolSessionEvents[K]) => void): this;
}
