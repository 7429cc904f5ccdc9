import { EventEmitter } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { StratumError, StratumErrorCode } from '../stratum/errors.js';
import { LineFramer } from '../stratum/framing.js';
import { describeWireError, errorLine, parseLine, requestLine, resultLine, type RpcId, type RpcRequest, type RpcResponse } from '../stratum/jsonrpc.js';
import {
  Method,
  parseReconnect,
  parseSetDifficulty,
  parseSetExtranonce,
  parseSetVersionMask,
  parseShowMessage,
  parseSubscribeResult,
} from '../stratum/messages.js';
import { userAgent as ourUserAgent } from '../version.js';
import type { UsableNotify } from './job-check.js';
import { POOL_HEALTH_DEFAULTS, PoolHealth, type PoolHealthOptions } from './pool-health.js';
import { formatPoolUrl, parsePoolUrl, type PoolEndpoint } from './pool-url.js';
import type { DownCause, PoolDownInfo, PoolSession, PoolSessionEvents, UpstreamLog } from './pool-session.js';
import type { ExtranonceInfo, PoolConfig, SubmitResult, UpstreamSubmit } from './types.js';

/**
 * ONE session to ONE pool: connect (TCP or TLS), optional `mining.configure`, `mining.subscribe`,
 * `mining.authorize`, `mining.extranonce.subscribe`; then jobs in, submits out. It never reconnects by itself:
 * when it ends it emits `down` exactly once and is done (the UpstreamSlot makes a new one).
 *
 * Facts about real pools it copes with (fixtures/transcripts/README.md): set_difficulty and notify come
 * before the authorize answer (they are buffered and delivered after `ready`); a new difficulty applies to
 * the next job; `mining.extranonce.subscribe` and `mining.configure` may never be answered.
 *
 * Every notify goes through the session's judge (pool-health.ts): only usable jobs come out as `job`; a
 * refused one comes out as `jobRefused`, and a pool judged faulty as `fault` just before the session ends.
 */

export type { DownCause, LogLevel, PoolDownInfo, ReconnectRequest, UpstreamLog } from './pool-session.js';
/** The events of a Stratum pool session (every PoolSession's). */
export type PoolConnectionEvents = PoolSessionEvents;

export interface VersionRollingRequest {
  /** The mask we ask for (BIP 310). */
  mask: number;
  minBitCount?: number;
}

export interface PoolConnectionOptions extends PoolHealthOptions {
  /** Connect here instead of the pool's url (after client.reconnect). */
  endpoint?: PoolEndpoint;
  /** TCP/TLS connect, milliseconds. Default 10000. */
  connectTimeoutMs?: number;
  /** Wait for each of the subscribe and authorize answers, milliseconds. Default 10000. */
  handshakeTimeoutMs?: number;
  /** Wait for a submit answer, milliseconds. Default 10000. */
  submitTimeoutMs?: number;
  /** Wait for the mining.configure answer before subscribing anyway, milliseconds. Default 2000. */
  configureTimeoutMs?: number;
  /** Send mining.configure with version-rolling before subscribing. Default: not sent. */
  versionRolling?: VersionRollingRequest;
  /** Send mining.extranonce.subscribe after authorizing (never waits for its answer). Default true. */
  extranonceSubscribe?: boolean;
  /** Longest line accepted from the pool, bytes. Default 64 KiB (notify lines with long branches are big). */
  maxLineBytes?: number;
  /** Unreadable lines in a row before giving up on the pool. Default 10. */
  maxGarbageInARow?: number;
  /** Unanswered submits in a row before the connection is declared dead. Default 5. */
  maxSubmitTimeoutsInARow?: number;
  /** No line at all from the pool for this long ends the connection, milliseconds; 0 = never. Default 600000. */
  idleTimeoutMs?: number;
  /** Difficulty in force before the pool sends mining.set_difficulty (the Stratum default). Default 1. */
  initialDifficulty?: number;
  /** Follow client.reconnect to a different host (a pool could send us anywhere). Default false. */
  allowReconnectToOtherHost?: boolean;
  /** Longest wait honoured from client.reconnect, milliseconds. Default 60000. */
  maxReconnectWaitMs?: number;
  /** Jobs kept while not yet authorized (the newest win). Default 16. */
  maxBufferedJobs?: number;
  userAgent?: string;
  log?: UpstreamLog;
}

/** Option defaults (the configuration's `upstream.*Seconds` defaults are these). */
export const DEFAULTS = {
  connectTimeoutMs: 10_000,
  handshakeTimeoutMs: 10_000,
  submitTimeoutMs: 10_000,
  configureTimeoutMs: 2_000,
  extranonceSubscribe: true,
  maxLineBytes: 64 * 1024,
  maxGarbageInARow: 10,
  ...POOL_HEALTH_DEFAULTS,
  maxSubmitTimeoutsInARow: 5,
  idleTimeoutMs: 600_000,
  initialDifficulty: 1,
  allowReconnectToOtherHost: false,
  maxReconnectWaitMs: 60_000,
  maxBufferedJobs: 16,
};

export type ConnectionState = 'new' | 'connecting' | 'handshaking' | 'ready' | 'closed';

type AnswerHandler = (result: unknown, error: unknown) => void;

interface Pending {
  method: string;
  onAnswer: AnswerHandler;
  /** Called when the connection ends with the request unanswered. */
  onLost?: () => void;
  timer: NodeJS.Timeout | null;
}

interface BufferedJob extends UsableNotify {
  difficulty: number;
  receivedAt: number;
}

const SUBMIT_LOST = 'pool connection lost';
/** Timed-out request ids remembered so a late answer is recognised (the oldest are forgotten). */
const MAX_LATE_IDS = 1024;

export class PoolConnection extends EventEmitter<PoolConnectionEvents> implements PoolSession {
  readonly pool: PoolConfig;
  readonly endpoint: PoolEndpoint;
  /** The url actually used (the pool's, or where client.reconnect sent us). */
  readonly url: string;

  private readonly opts: typeof DEFAULTS & { versionRolling: VersionRollingRequest | undefined; userAgent: string };
  private readonly log: UpstreamLog;
  private readonly framer: LineFramer;
  private socket: net.Socket | null = null;
  private stateNow: ConnectionState = 'new';
  private phase = 'connecting';
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private connectTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private retireTimer: NodeJS.Timeout | null = null;
  private configureTimer: NodeJS.Timeout | null = null;
  /** Armed when the session becomes ready without a usable job yet. */
  private firstJobTimer: NodeJS.Timeout | null = null;
  /**
   * Set while leaving with submits still unanswered: how the session is reported down once they are, `owner`
   * (we switch pools) or `reconnect` (the pool asked), and why.
   */
  private leaving: { cause: DownCause; reason: string } | null = null;
  /** Ids whose wait timed out: a late answer to them is logged, not treated as unknown. */
  private readonly lateIds = new Set<number>();
  private subscribeSent = false;
  private everReady = false;
  private downInfo: PoolDownInfo | null = null;
  private lastSocketError: Error | null = null;

  private extranonceNow: ExtranonceInfo | null = null;
  private versionMaskNow: number | null = null;
  private difficultyNow: number;
  private bufferedJobs: BufferedJob[] = [];
  private readonly workerAuth = new Map<string, Promise<boolean>>();

  private garbageInARow = 0;
  private garbageTotal = 0;
  private submitTimeoutsInARow = 0;
  /** This session's judge of its jobs: one per session, so a reconnect starts clean. */
  private readonly health: PoolHealth;

  private resolveClosed!: () => void;
  /** Resolves once the socket is fully closed (or at once if it never opened). */
  readonly closed: Promise<void> = new Promise((resolve) => (this.resolveClosed = resolve));

  constructor(pool: PoolConfig, options: PoolConnectionOptions = {}) {
    super();
    this.pool = pool;
    this.endpoint = options.endpoint ?? parsePoolUrl(pool.url);
    this.url = options.endpoint ? formatPoolUrl(options.endpoint) : pool.url;
    const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as PoolConnectionOptions;
    this.opts = { ...DEFAULTS, ...defined, versionRolling: options.versionRolling, userAgent: options.userAgent ?? ourUserAgent } as typeof this.opts;
    for (const key of ['connectTimeoutMs', 'handshakeTimeoutMs', 'submitTimeoutMs', 'configureTimeoutMs', 'maxGarbageInARow', 'maxBadJobsInARow', 'firstJobTimeoutMs', 'maxSubmitTimeoutsInARow', 'maxBufferedJobs'] as const) {
      const v = this.opts[key];
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new Error(`pool '${pool.name}': ${key} must be a positive number, got ${String(v)}`);
    }
    if (!Number.isFinite(this.opts.idleTimeoutMs) || this.opts.idleTimeoutMs < 0) throw new Error(`pool '${pool.name}': idleTimeoutMs must be >= 0`);
    if (!(this.opts.initialDifficulty > 0)) throw new Error(`pool '${pool.name}': initialDifficulty must be a positive number`);
    this.log = options.log ?? (() => {});
    this.framer = new LineFramer(this.opts.maxLineBytes);
    this.difficultyNow = this.opts.initialDifficulty;
    this.health = new PoolHealth({ maxBadJobsInARow: this.opts.maxBadJobsInARow, firstJobTimeoutMs: this.opts.firstJobTimeoutMs });
  }

  // ---- public surface -------------------------------------------------------------------------------------

  get state(): ConnectionState {
    return this.stateNow;
  }
  get isReady(): boolean {
    return this.stateNow === 'ready';
  }
  /** True once this session was subscribed and authorized (even if it ended since). */
  get wasReady(): boolean {
    return this.everReady;
  }
  get extranonce(): ExtranonceInfo | null {
    return this.extranonceNow;
  }
  /** The pool's version-rolling mask (null until the pool said one). */
  get versionMask(): number | null {
    return this.versionMaskNow;
  }
  /** The last difficulty the pool set: it applies to the next job. */
  get difficulty(): number {
    return this.difficultyNow;
  }
  /** Lines from the pool that could not be read, in total. */
  get garbageLines(): number {
    return this.garbageTotal;
  }
  /** mining.notify messages refused as unusable (see job-check.ts), in total. */
  get badNotifies(): number {
    return this.health.refusedJobs;
  }
  /** Submits waiting for the pool's answer. */
  get pendingSubmits(): number {
    let n = 0;
    for (const p of this.pending.values()) if (p.method === Method.Submit) n++;
    return n;
  }
  /** Why the connection ended (null while alive). */
  get down(): PoolDownInfo | null {
    return this.downInfo;
  }

  /** Open the connection and run the handshake. Events report the outcome; call once. */
  start(): void {
    if (this.stateNow !== 'new') throw new Error(`pool '${this.pool.name}': start() called twice`);
    this.stateNow = 'connecting';
    const { host, port } = this.endpoint;
    let socket: net.Socket;
    if (this.endpoint.tls) {
      const verify = this.pool.tlsVerify !== false;
      if (!verify) this.log('warn', `pool ${this.pool.name}: TLS certificate checks are OFF for ${this.url}`);
      socket = tls.connect({
        host,
        port,
        // SNI must be a hostname (RFC 6066), never an IP literal.
        ...(net.isIP(host) === 0 ? { servername: host } : {}),
        rejectUnauthorized: verify,
        ...(this.pool.tlsCa ? { ca: this.pool.tlsCa } : {}),
      });
      socket.once('secureConnect', () => this.onConnected());
    } else {
      socket = net.connect({ host, port });
      socket.once('connect', () => this.onConnected());
    }
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.onSocketError(err));
    socket.on('close', () => {
      this.resolveClosed();
      this.onSocketClose();
    });
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      this.fail('connect', `connect failed: no connection to ${host}:${port} within ${seconds(this.opts.connectTimeoutMs)}`);
    }, this.opts.connectTimeoutMs);
  }

  /**
   * Forward a share. Never rejects and never hangs: the pool's answer, or a timeout, or the connection's end
   * resolves it.
   */
  submit(share: UpstreamSubmit): Promise<SubmitResult> {
    if (this.stateNow !== 'ready' || this.leaving) {
      const reason = this.stateNow === 'closed' ? SUBMIT_LOST : this.leaving ? 'pool connection is closing' : 'pool connection not ready';
      return Promise.resolve({ kind: 'unanswered', cause: this.stateNow === 'closed' ? 'connection-lost' : 'no-pool', reason, latencyMs: 0 });
    }
    // An empty worker means the farm's own pool login (workerMode 'farm').
    const params: string[] = [share.worker || this.pool.user, share.jobId, share.extranonce2, share.ntime, share.nonce];
    if (share.versionBits !== undefined) params.push(share.versionBits);
    const sentAt = performance.now();
    const latency = () => Math.round((performance.now() - sentAt) * 1000) / 1000;
    return new Promise<SubmitResult>((resolve) => {
      this.request(Method.Submit, params, {
        timeoutMs: this.opts.submitTimeoutMs,
        onAnswer: (result, error) => {
          this.submitTimeoutsInARow = 0;
          resolve(readSubmitAnswer(result, error, latency()));
          this.closeIfRetiredAndIdle();
        },
        onTimeout: () => {
          resolve({ kind: 'unanswered', cause: 'timeout', reason: 'pool did not answer in time', latencyMs: latency() });
          this.submitTimeoutsInARow++;
          if (this.submitTimeoutsInARow >= this.opts.maxSubmitTimeoutsInARow) {
            this.fail('timeout', `pool did not answer ${this.submitTimeoutsInARow} submits in a row`);
          } else {
            this.closeIfRetiredAndIdle();
          }
        },
        onLost: () => resolve({ kind: 'unanswered', cause: 'connection-lost', reason: SUBMIT_LOST, latencyMs: latency() }),
      });
    });
  }

  /**
   * Pass-through worker naming: an extra mining.authorize on this session. Resolves true when the pool
   * accepted the name, false otherwise (refused, no answer in time, connection not ready or lost).
   */
  authorizeWorker(name: string, password: string): Promise<boolean> {
    if (this.stateNow !== 'ready') return Promise.resolve(false);
    const known = this.workerAuth.get(name);
    if (known) return known;
    const answer = new Promise<boolean>((resolve) => {
      this.request(Method.Authorize, [name, password], {
        timeoutMs: this.opts.handshakeTimeoutMs,
        onAnswer: (result, error) => {
          const err = describeWireError(error);
          const ok = result === true && err === null;
          if (!ok) this.log('warn', `pool ${this.pool.name}: worker '${name}' not authorized: ${err ? err.message : `pool answered ${JSON.stringify(result)}`}`);
          resolve(ok);
        },
        onTimeout: () => {
          this.log('warn', `pool ${this.pool.name}: no answer to mining.authorize for worker '${name}' within ${seconds(this.opts.handshakeTimeoutMs)}`);
          resolve(false);
        },
        onLost: () => resolve(false),
      });
    });
    this.workerAuth.set(name, answer);
    // Only successes are remembered: a refused or unanswered name may be tried again.
    void answer.then((ok) => {
      if (!ok) this.workerAuth.delete(name);
    });
    return answer;
  }

  /** End the session now; pending submits resolve as lost; `down` follows (cause `owner`). */
  close(reason = 'closed by the proxy'): void {
    this.fail('owner', reason);
  }

  /**
   * End the session once its pending submits are answered (or after `graceMs`), refusing new submits
   * meanwhile: used when switching to another pool so shares in flight still get their answer.
   */
  retire(reason: string, graceMs: number): void {
    this.leave('owner', reason, graceMs);
  }

  private leave(cause: DownCause, reason: string, graceMs: number): void {
    if (this.stateNow === 'closed' || this.leaving) return;
    this.leaving = { cause, reason };
    if (this.pendingSubmits === 0) {
      this.fail(cause, reason);
      return;
    }
    this.retireTimer = setTimeout(() => {
      this.retireTimer = null;
      this.fail(cause, reason);
    }, graceMs);
  }

  // ---- socket -----------------------------------------------------------------------------------------------

  private onConnected(): void {
    if (this.stateNow !== 'connecting') return;
    this.clearTimer('connectTimer');
    this.stateNow = 'handshaking';
    this.socket?.setNoDelay(true);
    this.socket?.setKeepAlive(true, 30_000);
    this.armIdleTimer();
    const vr = this.opts.versionRolling;
    if (vr) {
      this.phase = 'waiting for the mining.configure answer';
      const options: Record<string, unknown> = { 'version-rolling.mask': (vr.mask >>> 0).toString(16).padStart(8, '0') };
      if (vr.minBitCount !== undefined) options['version-rolling.min-bit-count'] = vr.minBitCount;
      // Never wait long: many pools do not answer mining.configure at all. A late answer is still read.
      let waited = false;
      const configureTimer = setTimeout(() => {
        waited = true;
        this.log('info', `pool ${this.pool.name}: no answer to mining.configure within ${seconds(this.opts.configureTimeoutMs)}, subscribing anyway`);
        this.subscribe();
      }, this.opts.configureTimeoutMs);
      this.request(Method.Configure, [['version-rolling'], options], {
        onAnswer: (result, error) => {
          clearTimeout(configureTimer);
          this.onConfigureAnswer(result, error);
          if (!waited) this.subscribe();
        },
        onLost: () => clearTimeout(configureTimer),
      });
      this.configureTimer = configureTimer;
    } else {
      this.subscribe();
    }
  }

  private onData(chunk: Buffer): void {
    if (this.stateNow === 'closed') return;
    const ok = this.framer.push(chunk, (line) => this.onLine(line));
    if (!ok && !this.isClosed()) this.fail('protocol', `pool sent a line longer than ${this.opts.maxLineBytes} bytes`);
  }

  private onSocketError(err: Error): void {
    this.lastSocketError = err;
    const code = (err as NodeJS.ErrnoException).code;
    const text = code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
    if (this.stateNow === 'connecting') this.fail('connect', `connect failed: ${text}`);
    else this.fail('closed', `connection error: ${text}`);
  }

  private onSocketClose(): void {
    if (this.stateNow === 'closed') return;
    if (this.stateNow === 'connecting') {
      this.fail('connect', `connect failed: ${this.lastSocketError?.message ?? 'connection closed before it was established'}`);
      return;
    }
    const during = this.stateNow === 'handshaking' ? ` (while ${this.phase})` : '';
    this.fail('closed', `pool closed the connection${during}`);
  }

  private write(line: string): void {
    if (this.stateNow === 'closed' || !this.socket || this.socket.destroyed) return;
    this.socket.write(line);
  }

  // ---- requests we send -------------------------------------------------------------------------------------

  private request(
    method: string,
    params: unknown[],
    handlers: { onAnswer: AnswerHandler; timeoutMs?: number; onTimeout?: () => void; onLost?: () => void },
  ): number {
    const id = this.nextId++;
    const entry: Pending = { method, onAnswer: handlers.onAnswer, timer: null };
    if (handlers.onLost) entry.onLost = handlers.onLost;
    if (handlers.timeoutMs !== undefined && handlers.onTimeout) {
      const onTimeout = handlers.onTimeout;
      entry.timer = setTimeout(() => {
        if (this.pending.get(id) !== entry) return;
        this.pending.delete(id);
        this.lateIds.add(id);
        if (this.lateIds.size > MAX_LATE_IDS) this.lateIds.delete(this.lateIds.values().next().value as number);
        onTimeout();
      }, handlers.timeoutMs);
    }
    this.pending.set(id, entry);
    this.write(requestLine(id, method, params));
    return id;
  }

  private subscribe(): void {
    if (this.subscribeSent || this.stateNow !== 'handshaking') return;
    this.subscribeSent = true;
    this.phase = 'waiting for the mining.subscribe answer';
    this.request(Method.Subscribe, [this.opts.userAgent], {
      timeoutMs: this.opts.handshakeTimeoutMs,
      onTimeout: () => this.fail('timeout', `no answer to mining.subscribe within ${seconds(this.opts.handshakeTimeoutMs)}`),
      onAnswer: (result, error) => {
        const err = describeWireError(error);
        if (err) return this.fail('subscribe', `subscribe rejected: ${err.message} (code ${err.code})`);
        try {
          const en = parseSubscribeResult(result);
          this.setExtranonce(en);
        } catch (e) {
          return this.fail('subscribe', `subscribe failed: ${(e as Error).message}`);
        }
        this.authorize();
      },
    });
  }

  private authorize(): void {
    this.phase = 'waiting for the mining.authorize answer';
    this.request(Method.Authorize, [this.pool.user, this.pool.password], {
      timeoutMs: this.opts.handshakeTimeoutMs,
      onTimeout: () => this.fail('timeout', `no answer to mining.authorize within ${seconds(this.opts.handshakeTimeoutMs)}`),
      onAnswer: (result, error) => {
        const err = describeWireError(error);
        if (err) return this.fail('auth', `authorization rejected: ${err.message} (code ${err.code})`);
        if (result !== true) return this.fail('auth', `authorization rejected: pool answered ${JSON.stringify(result)} for user '${this.pool.user}'`);
        if (this.opts.extranonceSubscribe) {
          // Fire and forget: real pools may never answer it.
          this.request(Method.ExtranonceSubscribe, [], {
            onAnswer: (res, e) => {
              const why = describeWireError(e);
              if (why || res !== true) this.log('info', `pool ${this.pool.name}: mining.extranonce.subscribe not supported (${why ? why.message : JSON.stringify(res)})`);
            },
          });
        }
        this.becomeReady();
      },
    });
  }

  private onConfigureAnswer(result: unknown, error: unknown): void {
    const err = describeWireError(error);
    if (err) {
      this.log('info', `pool ${this.pool.name}: mining.configure refused: ${err.message}`);
      return;
    }
    if (typeof result !== 'object' || result === null || Array.isArray(result)) {
      this.log('warn', `pool ${this.pool.name}: mining.configure answer is not an object: ${truncate(JSON.stringify(result))}`);
      return;
    }
    const r = result as Record<string, unknown>;
    if (r['version-rolling'] === true) {
      const mask = r['version-rolling.mask'];
      if (typeof mask === 'string' && /^[0-9a-fA-F]{8}$/.test(mask)) this.setVersionMask(parseInt(mask, 16) >>> 0);
      else this.log('warn', `pool ${this.pool.name}: mining.configure version-rolling mask missing or not 8 hex digits`);
    } else if (r['version-rolling'] === false) {
      this.setVersionMask(0);
    }
  }

  private becomeReady(): void {
    if (this.stateNow !== 'handshaking') return;
    this.stateNow = 'ready';
    this.everReady = true;
    this.phase = 'ready';
    const en = this.extranonceNow!;
    this.emitSafely('ready', { pool: this.pool.name, url: this.url, extranonce1: en.extranonce1, extranonce2Size: en.extranonce2Size });
    if (this.versionMaskNow !== null && !this.isClosed()) this.emitSafely('versionMask', { pool: this.pool.name, url: this.url, mask: this.versionMaskNow });
    const buffered = this.bufferedJobs;
    this.bufferedJobs = [];
    for (const b of buffered) {
      if (this.isClosed()) break; // a listener may have closed us
      this.emitJob(b, en);
    }
    if (this.isClosed()) return;
    this.health.sessionReady();
    this.armFirstJobTimer();
  }

  /** Wait for the first usable job as long as the judge says; then it tells whether the pool is at fault. */
  private armFirstJobTimer(): void {
    const leftMs = this.health.firstJobWaitLeftMs();
    if (leftMs === null) return;
    this.firstJobTimer = setTimeout(() => {
      this.firstJobTimer = null;
      const fault = this.health.firstJobFault();
      if (fault) this.poolFault('timeout', fault);
      else this.armFirstJobTimer(); // a timer may fire a little before the clock says the time is up
    }, Math.max(1, leftMs));
  }

  private emitJob(job: BufferedJob, extranonce: ExtranonceInfo): void {
    this.emitSafely('job', {
      pool: this.pool.name,
      url: this.url,
      notify: job.notify,
      networkTarget: job.networkTarget,
      difficulty: job.difficulty,
      extranonce: { ...extranonce },
      receivedAt: job.receivedAt,
    });
  }

  // ---- lines from the pool ----------------------------------------------------------------------------------

  private onLine(line: string): void {
    if (this.stateNow === 'closed') return;
    this.idleTimer?.refresh();
    const parsed = parseLine(line);
    if (!parsed.ok) {
      this.garbageInARow++;
      this.garbageTotal++;
      this.log('warn', `pool ${this.pool.name}: unreadable line (${parsed.error.message}): ${truncate(line)}`);
      if (this.garbageInARow >= this.opts.maxGarbageInARow) {
        this.fail('protocol', `pool sent ${this.garbageInARow} unreadable lines in a row (last: ${parsed.error.message})`);
      }
      return;
    }
    this.garbageInARow = 0;
    const msg = parsed.message;
    if (msg.kind === 'response') this.onResponse(msg);
    else this.onRequest(msg);
  }

  private onResponse(msg: RpcResponse): void {
    const id = typeof msg.id === 'string' && /^\d+$/.test(msg.id) ? Number(msg.id) : msg.id;
    const entry = typeof id === 'number' ? this.pending.get(id) : undefined;
    if (!entry) {
      if (typeof id === 'number' && this.lateIds.delete(id)) {
        const err = describeWireError(msg.error);
        this.log('info', `pool ${this.pool.name}: late answer to request ${id}: ${err ? `error ${err.message}` : JSON.stringify(msg.result)}`);
      } else {
        this.log('debug', `pool ${this.pool.name}: answer to unknown request id ${JSON.stringify(msg.id)}`);
      }
      return;
    }
    this.pending.delete(id as number);
    if (entry.timer) clearTimeout(entry.timer);
    entry.onAnswer(msg.result, msg.error);
  }

  private onRequest(msg: RpcRequest): void {
    try {
      switch (msg.method) {
        case Method.Notify:
          return this.onNotify(msg);
        case Method.SetDifficulty:
          this.difficultyNow = parseSetDifficulty(msg.params);
          return this.answer(msg.id, true);
        case Method.SetExtranonce: {
          const en = parseSetExtranonce(msg.params);
          this.answer(msg.id, true);
          this.setExtranonce(en);
          return;
        }
        case Method.SetVersionMask:
          this.setVersionMask(parseSetVersionMask(msg.params));
          return this.answer(msg.id, true);
        case Method.ShowMessage: {
          const text = parseShowMessage(msg.params);
          this.answer(msg.id, true);
          this.emitSafely('message', { pool: this.pool.name, url: this.url, text });
          return;
        }
        case Method.GetVersion:
          return this.answer(msg.id, this.opts.userAgent);
        case Method.Reconnect:
          return this.onReconnect(msg);
        default:
          this.log('info', `pool ${this.pool.name}: unknown method ${truncate(msg.method, 64)} from the pool`);
          if (msg.id !== null) this.write(errorLine(msg.id, new StratumError(StratumErrorCode.Other, `unknown method ${msg.method.slice(0, 64)}`)));
      }
    } catch (e) {
      const err = e instanceof StratumError ? e : new StratumError(StratumErrorCode.Other, (e as Error).message);
      this.log('warn', `pool ${this.pool.name}: ignored ${msg.method}: ${err.message}`);
      if (msg.id !== null) this.write(errorLine(msg.id, err));
    }
  }

  /** Answer a pool request that carried an id (notifications have none). */
  private answer(id: RpcId, result: unknown): void {
    if (id !== null) this.write(resultLine(id, result));
  }

  private onNotify(msg: RpcRequest): void {
    const verdict = this.health.judge(msg.params, this.difficultyNow);
    if (!verdict.usable) {
      // Devices keep the last usable job meanwhile; a pool that only sends unusable jobs is a faulty pool.
      this.log('warn', `pool ${this.pool.name}: ignored bad mining.notify: ${verdict.reason}`);
      this.emitSafely('jobRefused', { pool: this.pool.name, url: this.url, reason: verdict.reason, inARow: verdict.inARow });
      if (verdict.fault !== null) this.poolFault('protocol', verdict.fault);
      return;
    }
    const job: BufferedJob = { notify: verdict.notify, networkTarget: verdict.networkTarget, difficulty: this.difficultyNow, receivedAt: verdict.receivedAt };
    if (this.stateNow === 'ready') {
      this.clearTimer('firstJobTimer');
      this.emitJob(job, this.extranonceNow!);
      return;
    }
    // Before `ready`: keep it (real pools send the first job before answering authorize).
    if (job.notify.cleanJobs) this.bufferedJobs = [];
    this.bufferedJobs.push(job);
    if (this.bufferedJobs.length > this.opts.maxBufferedJobs) this.bufferedJobs.shift();
  }

  /** The judge found the pool faulty: say so, then end the session (the slot fails over or reconnects). */
  private poolFault(cause: 'protocol' | 'timeout', reason: string): void {
    this.emitSafely('fault', { pool: this.pool.name, url: this.url, reason });
    if (!this.isClosed()) this.fail(cause, reason);
  }

  private setExtranonce(en: ExtranonceInfo): void {
    const changed = this.extranonceNow !== null;
    this.extranonceNow = { extranonce1: en.extranonce1, extranonce2Size: en.extranonce2Size };
    if (!changed) return;
    if (this.stateNow === 'ready') this.emitSafely('extranonce', { pool: this.pool.name, url: this.url, ...this.extranonceNow });
    else this.bufferedJobs = []; // jobs from before the change are void
  }

  private setVersionMask(mask: number): void {
    this.versionMaskNow = mask;
    if (this.stateNow === 'ready') this.emitSafely('versionMask', { pool: this.pool.name, url: this.url, mask });
  }

  private onReconnect(msg: RpcRequest): void {
    const r = parseReconnect(msg.params);
    this.answer(msg.id, true);
    const sameHost = r.host === undefined || r.host.toLowerCase() === this.endpoint.host.toLowerCase();
    let endpoint: PoolEndpoint = { ...this.endpoint, port: r.port ?? this.endpoint.port };
    if (!sameHost) {
      if (this.opts.allowReconnectToOtherHost) {
        endpoint = { host: r.host!.toLowerCase(), port: r.port ?? this.endpoint.port, tls: this.endpoint.tls };
      } else {
        this.log('warn', `pool ${this.pool.name}: client.reconnect to another host (${truncate(r.host!, 64)}) not allowed; reconnecting to ${this.url}`);
        endpoint = parsePoolUrl(this.pool.url);
      }
    }
    const waitMs = Math.min(r.waitSeconds * 1000, this.opts.maxReconnectWaitMs);
    const where = `${endpoint.host}:${endpoint.port}`;
    this.emitSafely('reconnectRequested', { endpoint, waitMs });
    // Shares already sent may be accepted by the pool: wait for their answers (new submits are refused
    // meanwhile) so every verdict reaches its device, then go. A submit's own timeout bounds the wait.
    this.leave('reconnect', `pool asked to reconnect to ${where} in ${seconds(waitMs)}`, this.opts.submitTimeoutMs);
  }

  // ---- ending -------------------------------------------------------------------------------------------

  private closeIfRetiredAndIdle(): void {
    if (this.leaving && this.stateNow !== 'closed' && this.pendingSubmits === 0) this.fail(this.leaving.cause, this.leaving.reason);
  }

  private fail(cause: DownCause, reason: string): void {
    if (this.stateNow === 'closed') return;
    // A pool that asked us to reconnect and then closes (or stalls) while we wait for answers: still the
    // reconnect it asked for, not a fault.
    if (this.leaving?.cause === 'reconnect' && cause !== 'owner') {
      cause = 'reconnect';
      reason = this.leaving.reason;
    }
    this.stateNow = 'closed';
    this.clearTimer('connectTimer');
    this.clearTimer('idleTimer');
    this.clearTimer('retireTimer');
    this.clearTimer('configureTimer');
    this.clearTimer('firstJobTimer');
    const lost = [...this.pending.values()];
    this.pending.clear();
    this.lateIds.clear();
    this.bufferedJobs = [];
    for (const p of lost) {
      if (p.timer) clearTimeout(p.timer);
      p.onLost?.();
    }
    if (this.socket) this.socket.destroy();
    else this.resolveClosed(); // never started
    this.downInfo = { pool: this.pool.name, url: this.url, reason, cause };
    // A session that was up and is lost is news; a reconnect attempt that fails again is not (the proxy
    // logs the first failure and the log summary counts the rest).
    this.log(cause === 'owner' ? 'info' : this.wasReady ? 'warn' : 'debug', `pool ${this.pool.name} down: ${reason}`);
    this.emitSafely('down', this.downInfo);
  }

  /** Not narrowed by the compiler: listeners called in between may have closed the connection. */
  private isClosed(): boolean {
    return this.stateNow === 'closed';
  }

  private armIdleTimer(): void {
    if (this.opts.idleTimeoutMs <= 0) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      this.fail('timeout', `pool sent nothing for ${seconds(this.opts.idleTimeoutMs)}`);
    }, this.opts.idleTimeoutMs);
  }

  private clearTimer(name: 'connectTimer' | 'idleTimer' | 'retireTimer' | 'configureTimer' | 'firstJobTimer'): void {
    const t = this[name];
    if (t) clearTimeout(t);
    this[name] = null;
  }

  /** A throwing listener must not break the socket's data path. */
  private emitSafely<K extends keyof PoolConnectionEvents>(event: K, ...args: PoolConnectionEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: PoolConnectionEvents[K]) => boolean)(event, ...args);
    } catch (e) {
      this.log('error', `pool ${this.pool.name}: a '${String(event)}' listener threw: ${(e as Error).message}`);
    }
  }
}

/** A pool's answer to mining.submit, whatever shape its error comes in. */
export function readSubmitAnswer(result: unknown, error: unknown, latencyMs: number): SubmitResult {
  const err = describeWireError(error);
  if (err) return { kind: 'rejected', code: err.code, reason: err.message, latencyMs };
  if (result === true) return { kind: 'accepted', latencyMs };
  return { kind: 'rejected', code: 20, reason: `pool answered ${truncate(JSON.stringify(result) ?? 'nothing')} without an error`, latencyMs };
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

function truncate(s: string, max = 120): string {
  return s.length > max ? `${s.slice(0, max)}...` : s;
}
