import type { NotifyParams, SubmitParams } from '../stratum/messages.js';

/**
 * The contract between the upstream side (pool connections, failover) and the proxy core. The upstream
 * never knows a device: it hands jobs in and takes submits out.
 */

export interface PoolConfig {
  /** Short name for logs, metrics (`pool` label) and the dashboard. */
  name: string;
  /** `stratum+tcp://host:port` or `stratum+ssl://host:port`. */
  url: string;
  user: string;
  password: string;
  /** TLS only: check the pool's certificate (default true). */
  tlsVerify?: boolean;
  /** TLS only: PEM text of extra CA certificate(s) to trust for this pool (the config loader reads the file). */
  tlsCa?: string;
  /**
   * Present: this entry is the farm's own dashd (solo mining), not a Stratum pool. `url` is its JSON-RPC
   * address (`http://127.0.0.1:9998`), `user`/`password` its RPC login ('' for both with `cookieFile`). Work
   * comes from `getblocktemplate`; a share meeting the network's target is sent with `submitblock`.
   */
  dashd?: DashdSettings;
}

/** A dashd entry's own settings (the defaults are in src/upstream/dashd-settings.ts, once). */
export interface DashdSettings {
  /** The address the coinbase pays (checked with dashd's `validateaddress` at start; its scriptPubKey is used). */
  payoutAddress: string;
  /** dashd's `.cookie` file (read again when dashd restarts), instead of the entry's user and password. */
  cookieFile?: string | null;
  /** The solo "pool's" difficulty: shares meeting it are credited in the books; a device's difficulty never goes above it. */
  shareDifficulty?: number;
  /** Text written in every coinbase scriptSig after the extranonce (ASCII). */
  coinbaseTag?: string;
  /** How often dashd is asked for its tip, seconds (a new tip makes a clean job at once). */
  pollSeconds?: number;
  /** A fresh template at least this often (new transactions and fees), seconds. */
  templateSeconds?: number;
  /** How often a found block's place in the best chain (and its ChainLock) is checked, seconds. */
  blockCheckSeconds?: number;
}

export interface ExtranonceInfo {
  extranonce1: string;
  extranonce2Size: number;
}

/** Which pool an upstream event is about: its name (from the config) and the url actually connected. */
export interface PoolRef {
  pool: string;
  url: string;
}

/** A usable job: the upstream judged it (see pool-health.ts) and decoded what the proxy needs. */
export interface UpstreamJob extends PoolRef {
  notify: NotifyParams;
  /** The network's target from the job's nBits (never zero). */
  networkTarget: bigint;
  /** The pool's difficulty in force for this job (a new difficulty takes effect with the next job); positive. */
  difficulty: number;
  /** The session's extranonce when the job arrived. */
  extranonce: ExtranonceInfo;
  /** Milliseconds (Date.now()) when the job arrived. */
  receivedAt: number;
}

/**
 * A share as the pool receives it: the same `mining.submit` parameters a device sends, where `worker` is the
 * pool-side name (the device's own in pass-through mode, or '' for the pool's configured user), `jobId` the
 * pool's job id, and `extranonce2` the full pool extranonce2 (the device's prefix, then its own extranonce2).
 */
export type UpstreamSubmit = SubmitParams;

/**
 * Why a forwarded share got no verdict from the pool: it did not answer within the submit timeout
 * (`timeout`), the connection went away with the submit in flight or being written (`connection-lost`), or
 * there was no pool connection to send it on (`no-pool`).
 */
export type NoVerdictCause = 'timeout' | 'connection-lost' | 'no-pool';
export const NO_VERDICT_CAUSES: readonly NoVerdictCause[] = ['timeout', 'connection-lost', 'no-pool'];

/** The pool's verdict on one forwarded share, as data (never to be recovered from message text). */
export type PoolVerdict =
  | { kind: 'accepted' }
  /** The pool's own rejection: its Stratum error code (20 when it named none) and its words. */
  | { kind: 'rejected'; code: number; reason: string }
  /** No verdict: the pool never answered. */
  | { kind: 'unanswered'; cause: NoVerdictCause; reason: string };

/**
 * dashd's answer to a block the upstream sent with `submitblock` (solo): `accepted` (null, or `duplicate`:
 * it already had it), `inconclusive` (valid, but not (yet) on its best chain), `rejected` (its reason, such
 * as `bad-cb-amount`), or `unanswered` (no answer after the retries: `reason` says why).
 */
export type BlockSubmitResult = 'accepted' | 'inconclusive' | 'rejected' | 'unanswered';
export const BLOCK_SUBMIT_RESULTS: readonly BlockSubmitResult[] = ['accepted', 'inconclusive', 'rejected', 'unanswered'];

/** A block the upstream assembled from a share and submitted to dashd, with dashd's answer. */
export interface BlockSubmission {
  /** Block hash, display hex. */
  hash: string;
  height: number;
  /** Duffs the coinbase pays the farm's payout address: the template's coinbasevalue less every required payment. */
  reward: number;
  /** The template's coinbasevalue (duffs): block subsidy plus fees, before the masternode and superblock payments. */
  coinbaseValue: number;
  payoutAddress: string;
  result: BlockSubmitResult;
  /** dashd's words for a rejection (`bad-cb-payee`), `duplicate`, or why there was no answer; null when plainly accepted. */
  reason: string | null;
}

/**
 * The outcome of a forwarded share: the pool's verdict (or why there was none) and the round trip it took;
 * `block` when the upstream is a dashd and the share met the network's target (it was submitted as a block).
 */
export type SubmitResult = PoolVerdict & { latencyMs: number; block?: BlockSubmission };

/**
 * Events of an upstream (one connection slot that fails over between pools). Each payload names the pool it
 * is about; the owner knows which slot (connection index) it made, so observers can tell connections apart.
 */
export interface UpstreamEvents {
  /** Subscribed and authorized on `pool`; jobs will follow. Fires again after every reconnect or failover. */
  ready: [info: PoolRef & ExtranonceInfo];
  /** A usable job (only usable jobs leave the upstream). */
  job: [job: UpstreamJob];
  /** A job the pool sent was refused: why, and how many unusable jobs came in a row so far. */
  jobRefused: [info: PoolRef & { reason: string; inARow: number }];
  /**
   * The pool was judged faulty (unusable jobs in a row, or no usable job in time after ready): its session
   * ends now and `down` follows; the slot fails over (or reconnects, with one pool).
   */
  fault: [info: PoolRef & { reason: string }];
  /** The pool changed this session's extranonce (`mining.set_extranonce`). Old jobs are void. */
  extranonce: [info: PoolRef & ExtranonceInfo];
  /** The pool's version-rolling mask (`mining.configure` answer or `mining.set_version_mask`). */
  versionMask: [info: PoolRef & { mask: number }];
  /** The connection was lost; jobs from it are void until the next `ready`. */
  down: [info: PoolRef & { reason: string }];
  /** Failover moved to another pool (or back to a higher-priority one). */
  switch: [info: { from: string | null; to: string; reason: string }];
  message: [info: PoolRef & { text: string }];
}

/**
 * What the proxy core needs from an upstream: events in, submits out. `UpstreamSlot` (failover over an
 * ordered pool list) implements it; tests may use a scripted one.
 */
export interface Upstream {
  on<K extends keyof UpstreamEvents>(event: K, listener: (...args: UpstreamEvents[K]) => void): this;
  off<K extends keyof UpstreamEvents>(event: K, listener: (...args: UpstreamEvents[K]) => void): this;
  start(): void;
  stop(): Promise<void>;
  submit(share: UpstreamSubmit): Promise<SubmitResult>;
  /** Pass-through worker naming: authorize a device's own name on the current pool connection. */
  authorizeWorker(name: string, password: string): Promise<boolean>;
  /** A new ordered pool list (SIGHUP), for an upstream that follows one. */
  setPools?(pools: PoolConfig[]): void;
  readonly isReady: boolean;
}
