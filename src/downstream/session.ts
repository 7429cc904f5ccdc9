import type { Duplex } from 'node:stream';
import { StratumError, StratumErrorCode } from '../stratum/errors.js';
import { LineFramer } from '../stratum/framing.js';
import { errorLine, notificationLine, parseLine, resultLine, type RpcId } from '../stratum/jsonrpc.js';
import {
  Method,
  parseAuthorize,
  parseConfigure,
  parseSubmit,
  parseSubscribe,
  parseSuggestDifficulty,
  requestedVersionMask,
  type SubmitParams,
} from '../stratum/messages.js';

/**
 * One device's connection: framing, the state machine (connected -> subscribed -> authorized), answers in
 * request order, and a bounded write buffer. It speaks the protocol only, over any `Duplex` (the device
 * server hands it a TCP or TLS socket, tests an in-memory pair): it decides nothing about jobs or shares and
 * holds no mining state (prefix, target, vardiff live in the proxy's device state); it asks its host and
 * writes what the host hands it.
 */
export type SessionState = 'connected' | 'subscribed' | 'authorized' | 'closed';

/** A grant from the host when a device subscribes: where it sits in the extranonce space. */
export interface SubscribeGrant {
  extranonce1: string;
  extranonce2Size: number;
}

/**
 * What mining needs: the device's requests, answered by the proxy core. A method may throw (or reject
 * with) a StratumError, which the device gets as its answer.
 */
export interface MiningHost {
  subscribe(session: Session): Promise<SubscribeGrant>;
  authorize(session: Session, username: string, password: string): Promise<void>;
  /** Resolves when the share is judged (and, for pool shares, answered by the pool); rejects with StratumError. */
  submit(session: Session, params: SubmitParams): Promise<void> | void;
  /** The version-rolling mask to grant this device for the one it asks (BIP 310), or 0 for none. */
  versionMask(session: Session, requested: number): number;
  suggestDifficulty(session: Session, difficulty: number): void;
  /** Called once the device finished authorizing (jobs can flow). */
  ready(session: Session): void;
  /** The connection is gone (called once, after `closed`): release what the device held. */
  disconnected(session: Session, reason: string): void;
}

/** What the connection's owner (the device server) needs: the connection's lifecycle. */
export interface ConnectionHost {
  /** The session closed (once); the owner forgets it and tells the mining host. */
  closed(session: Session, reason: string): void;
  /** A limit refused something from this device (counted and logged once per cause by the server). */
  limited(session: Session, cause: string): void;
  /**
   * A bug, not the device's fault: handling a line threw something other than a StratumError. The device
   * got error 20 and the connection stays; the owner logs it.
   */
  failed(session: Session, error: Error, method: string): void;
}

/**
 * What a session calls back. The server makes one such object for all its sessions (a closure per
 * connection would cost memory at farm scale): lifecycle calls it handles itself, mining calls it passes on.
 */
export type SessionHost = ConnectionHost & Omit<MiningHost, 'disconnected'>;

/**
 * A session reads its limits from this object on every use, so the server can change them for every live
 * session at once (SIGHUP) by updating one shared object. `maxLineBytes` is the exception: it sizes the
 * session's line framer when the connection opens, so a new value applies to new connections.
 */
export interface SessionLimits {
  maxLineBytes: number;
  /** A device whose unsent output grows past this is dropped (it stopped reading). */
  maxWriteBufferBytes: number;
  /** Submits per second allowed on average (a burst of twice that is allowed); excess gets error 20. */
  submitsPerSecond: number;
  /** Requests waiting for an earlier answer (answers go out in request order); past this the device is dropped. */
  maxPendingReplies: number;
  /** Distinct worker names one connection may authorize. */
  maxWorkersPerSession: number;
}

export const DEFAULT_MAX_PENDING_REPLIES = 1000;
export const DEFAULT_MAX_WORKERS_PER_SESSION = 64;
/** After `end()`, how long the queued bytes get to reach a device before the socket is destroyed. */
export const END_GRACE_MS = 2000;

type Reply = { line: string | null };

/** The session a stream carries, for the listeners every session shares. */
const SESSION = Symbol('session');
type SessionStream = Duplex & { [SESSION]?: Session };

export class Session {
  state: SessionState = 'connected';
  readonly connectedAt = Date.now();
  lastActivity = Date.now();
  /** Worker names this connection authorized; the first is the device's name. */
  readonly workers = new Set<string>();
  worker: string | null = null;
  userAgent: string | undefined;
  /** The BIP 310 mask negotiated with mining.configure (0: the device does not roll the version). */
  versionMask = 0;
  /** The bits the device asked to roll, when it was granted version rolling (0 otherwise). */
  private versionBitsAsked = 0;
  /** The device sent mining.extranonce.subscribe: it follows mining.set_extranonce. */
  extranonceSubscribed = false;
  /** The difficulty the device asked for with mining.suggest_difficulty, if it did. */
  suggestedDifficulty: number | null = null;

  private readonly framer: LineFramer;
  /** Token bucket for submits. */
  private submitTokens: number;
  private submitRefilledAt = Date.now();
  /** Answers waiting for an earlier one, in request order (null while none waits: most of a device's life). */
  private replies: Reply[] | null = null;
  private closeReason: string | null = null;
  /** While mining.subscribe waits for the host: resolves true once subscribed (a pipelined authorize waits on it). */
  private subscribing: Promise<boolean> | null = null;

  /**
   * `stream` carries the device's bytes both ways; `ip` is where it connects from (the server reads it from
   * the socket; it is only reported, never used by the protocol).
   */
  constructor(
    readonly id: number,
    readonly stream: Duplex,
    readonly ip: string,
    private readonly host: SessionHost,
    private readonly limits: SessionLimits,
  ) {
    this.framer = new LineFramer(limits.maxLineBytes);
    this.submitTokens = limits.submitsPerSecond * 2;
    // One set of listeners for every session, finding theirs through the stream (three closures and their
    // context per connection would cost about 200 bytes a device).
    (stream as SessionStream)[SESSION] = this;
    stream.on('data', Session.onStreamData);
    stream.on('error', Session.onStreamError);
    stream.on('close', Session.onStreamClose);
  }

  private static onStreamData(this: Duplex, chunk: Buffer): void {
    (this as SessionStream)[SESSION]?.onData(chunk);
  }

  private static onStreamError(this: Duplex, err: Error): void {
    (this as SessionStream)[SESSION]?.close(`socket error: ${err.message}`);
  }

  private static onStreamClose(this: Duplex): void {
    (this as SessionStream)[SESSION]?.close('connection closed by device');
  }

  /** Write a pre-serialized line (shared bytes for a job fan-out, or a string). */
  write(data: string | Buffer): void {
    if (this.state === 'closed') return;
    this.stream.write(data);
    const max = this.limits.maxWriteBufferBytes;
    if (this.stream.writableLength > max) {
      // The device stopped reading: drop it rather than buffer without limit.
      this.host.limited(this, 'write_buffer');
      this.close(`device is not reading (over ${max} bytes waiting to be sent)`);
    }
  }

  notify(method: string, params: readonly unknown[]): void {
    this.write(notificationLine(method, params));
  }

  /**
   * The bits the device may roll are now `allowed` (the pool connection that serves it allows fewer or more
   * than when it was granted): a device granted version rolling gets the bits it asked for within them, and
   * hears of a change with BIP 310 mining.set_version_mask. A device not granted rolling is left alone.
   */
  allowVersionBits(allowed: number): void {
    const next = (this.versionBitsAsked & allowed) >>> 0;
    if (next === this.versionMask || this.versionBitsAsked === 0) return;
    this.versionMask = next;
    this.notify(Method.SetVersionMask, [next.toString(16).padStart(8, '0')]);
  }

  /** Close the connection now (queued bytes are dropped); the host hears about it once. */
  close(reason: string): void {
    if (!this.markClosed(reason)) return;
    this.stream.destroy();
    this.host.closed(this, reason);
  }

  /**
   * Let what is queued reach the device, then close (error answers before a drop, client.reconnect,
   * shutdown). Input from now on is read and discarded (so the device's own close is seen); a device that
   * does not take the bytes within END_GRACE_MS is cut off.
   */
  end(reason: string): void {
    if (!this.markClosed(reason)) return;
    const stream = this.stream;
    stream.end();
    if (!stream.destroyed) {
      const timer = setTimeout(() => stream.destroy(), END_GRACE_MS);
      timer.unref();
      stream.once('close', () => clearTimeout(timer));
    }
    this.host.closed(this, reason);
  }

  private markClosed(reason: string): boolean {
    if (this.state === 'closed') return false;
    this.state = 'closed';
    this.closeReason = reason;
    this.replies = null;
    return true;
  }

  /** Not narrowed by the compiler: a handler may have closed the session in between. */
  get isClosed(): boolean {
    return this.state === 'closed';
  }

  get reasonClosed(): string | null {
    return this.closeReason;
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.lastActivity = Date.now();
    const ok = this.framer.push(chunk, (line) => this.onLine(line));
    if (!ok && !this.isClosed) {
      // Nothing of the long line was kept (the framer drops it); the device hears why, then the connection ends.
      this.host.limited(this, 'line_too_long');
      this.write(errorLine(null, new StratumError(StratumErrorCode.Other, `Line too long: over ${this.limits.maxLineBytes} bytes`)));
      this.end('line over the maximum length');
    }
  }

  private onLine(line: string): void {
    if (this.state === 'closed') return;
    const parsed = parseLine(line);
    if (!parsed.ok) return this.answerError(parsed.id, parsed.error);
    const msg = parsed.message;
    if (msg.kind === 'response') return; // devices answering our requests (none expected): ignored
    const { id, method, params } = msg;
    try {
      switch (method) {
        case Method.Subscribe:
          return this.onSubscribe(id, params);
        case Method.Authorize:
          return this.onAuthorize(id, params);
        case Method.Submit:
          return this.onSubmit(id, params);
        case Method.ExtranonceSubscribe:
          this.extranonceSubscribed = true;
          return this.answer(id, true);
        case Method.Configure:
          return this.onConfigure(id, params);
        case Method.SuggestDifficulty: {
          const d = parseSuggestDifficulty(params);
          this.suggestedDifficulty = d;
          this.host.suggestDifficulty(this, d);
          return this.answer(id, true);
        }
        case 'mining.get_transactions':
          return this.answer(id, []);
        case 'mining.ping':
          return this.answer(id, 'pong');
        default:
          return this.answerError(id, new StratumError(StratumErrorCode.Other, `Unknown method: ${method.slice(0, 64)}`));
      }
    } catch (err) {
      if (err instanceof StratumError) return this.answerError(id, err);
      // Never let one device's line take the process down: answer, report, keep serving.
      this.host.failed(this, err instanceof Error ? err : new Error(String(err)), method);
      return this.answerError(id, new StratumError(StratumErrorCode.Other, `Internal error while handling ${method.slice(0, 64)}`));
    }
  }

  private onSubscribe(id: RpcId, params: unknown[]): void {
    const p = parseSubscribe(params);
    if (this.state !== 'connected' || this.subscribing) return this.answerError(id, new StratumError(StratumErrorCode.Other, 'Already subscribed'));
    this.userAgent = p.userAgent;
    const reply = this.deferReply();
    if (!reply) return;
    this.subscribing = this.host.subscribe(this).then(
      (grant) => {
        this.subscribing = null;
        if (this.state === 'closed') return false;
        this.state = 'subscribed';
        const sub = this.id.toString(16).padStart(8, '0');
        this.resolveReply(reply, resultLine(id, [[['mining.set_difficulty', sub], ['mining.notify', sub]], grant.extranonce1, grant.extranonce2Size]));
        return true;
      },
      (err: unknown) => {
        this.subscribing = null;
        this.resolveReply(reply, errorLine(id, asStratumError(err)));
        return false;
      },
    );
  }

  private onAuthorize(id: RpcId, params: unknown[]): void {
    const p = parseAuthorize(params);
    const subscribing = this.subscribing;
    if (this.state === 'connected' && !subscribing) return this.answerError(id, new StratumError(StratumErrorCode.NotSubscribed, 'Not subscribed'));
    if (!this.workers.has(p.username) && this.workers.size >= this.limits.maxWorkersPerSession) {
      this.host.limited(this, 'workers_per_connection');
      return this.answerError(id, new StratumError(StratumErrorCode.Unauthorized, `Too many worker names on one connection (limit ${this.limits.maxWorkersPerSession})`));
    }
    const reply = this.deferReply();
    if (!reply) return;
    // A device may send authorize right behind subscribe without waiting for its answer: wait for it here.
    const subscribed = subscribing ?? Promise.resolve(true);
    subscribed
      .then((ok) => {
        if (!ok) throw new StratumError(StratumErrorCode.NotSubscribed, 'Not subscribed');
        return this.host.authorize(this, p.username, p.password);
      })
      .then(
        () => {
          if (this.state === 'closed') return;
          this.workers.add(p.username);
          const first = this.worker === null;
          if (first) this.worker = p.username;
          this.state = 'authorized';
          this.resolveReply(reply, resultLine(id, true));
          if (first) this.safely('ready', () => this.host.ready(this));
        },
        (err: unknown) => {
          const refusal = asStratumError(err, StratumErrorCode.Unauthorized);
          // Refused credentials are counted like any other refusal (a password guesser shows in the metrics).
          if (refusal.code === StratumErrorCode.Unauthorized && this.state !== 'closed') this.host.limited(this, 'authorize_refused');
          this.resolveReply(reply, errorLine(id, refusal));
        },
      );
  }

  private onSubmit(id: RpcId, params: unknown[]): void {
    if (this.state === 'connected') return this.answerError(id, new StratumError(StratumErrorCode.NotSubscribed, 'Not subscribed'));
    if (this.state !== 'authorized') return this.answerError(id, new StratumError(StratumErrorCode.Unauthorized, 'Unauthorized worker'));
    if (!this.takeSubmitToken()) {
      this.host.limited(this, 'submit_rate');
      return this.answerError(id, new StratumError(StratumErrorCode.Other, `Too many submits: the limit is ${this.limits.submitsPerSecond} per second`));
    }
    const p = parseSubmit(params);
    if (!this.workers.has(p.worker)) return this.answerError(id, new StratumError(StratumErrorCode.Unauthorized, `Unauthorized worker: ${p.worker.slice(0, 64)}`));
    let pending: Promise<void> | void;
    try {
      pending = this.host.submit(this, p);
    } catch (err) {
      return this.answerError(id, asStratumError(err));
    }
    if (!pending) return this.answer(id, true);
    const reply = this.deferReply();
    if (!reply) return;
    pending.then(
      () => this.resolveReply(reply, resultLine(id, true)),
      (err: unknown) => this.resolveReply(reply, errorLine(id, asStratumError(err))),
    );
  }

  private takeSubmitToken(): boolean {
    const now = Date.now();
    const rate = this.limits.submitsPerSecond;
    this.submitTokens = Math.min(rate * 2, this.submitTokens + ((now - this.submitRefilledAt) / 1000) * rate);
    this.submitRefilledAt = now;
    if (this.submitTokens < 1) return false;
    this.submitTokens -= 1;
    return true;
  }

  private onConfigure(id: RpcId, params: unknown[]): void {
    const cfg = parseConfigure(params);
    const result: Record<string, unknown> = {};
    const requested = requestedVersionMask(cfg);
    if (requested !== undefined) {
      const granted = this.host.versionMask(this, requested) >>> 0;
      this.versionMask = granted;
      this.versionBitsAsked = granted === 0 ? 0 : requested >>> 0;
      result['version-rolling'] = granted !== 0;
      if (granted !== 0) result['version-rolling.mask'] = granted.toString(16).padStart(8, '0');
    }
    for (const ext of cfg.extensions) if (!(ext in result)) result[ext] = false;
    this.answer(id, result);
  }

  // ---- answers in request order ----

  private answer(id: RpcId, result: unknown): void {
    this.emitReply(resultLine(id, result));
  }

  private answerError(id: RpcId, error: StratumError): void {
    this.emitReply(errorLine(id, error));
  }

  private emitReply(line: string): void {
    if (this.replies === null) return this.write(line);
    if (this.tooManyPending()) return;
    this.replies.push({ line });
  }

  /** A place in the answer order for an answer that comes later; null when the device was dropped for flooding. */
  private deferReply(): Reply | null {
    if (this.tooManyPending()) return null;
    const r: Reply = { line: null };
    (this.replies ??= []).push(r);
    return r;
  }

  private tooManyPending(): boolean {
    if (this.state === 'closed') return true;
    if ((this.replies?.length ?? 0) < this.limits.maxPendingReplies) return false;
    this.host.limited(this, 'pending_replies');
    this.close(`more than ${this.limits.maxPendingReplies} requests waiting for an answer`);
    return true;
  }

  private resolveReply(r: Reply, line: string): void {
    if (this.state === 'closed') return;
    r.line = line;
    // A write may close the session (a device not reading), which drops what waits.
    while (this.replies !== null && this.replies.length > 0 && this.replies[0]!.line !== null) this.write(this.replies.shift()!.line!);
    if (this.replies?.length === 0) this.replies = null;
  }

  private safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.host.failed(this, err instanceof Error ? err : new Error(String(err)), what);
    }
  }
}

function asStratumError(err: unknown, code: StratumErrorCode = StratumErrorCode.Other): StratumError {
  if (err instanceof StratumError) return err;
  return new StratumError(code, (err as Error)?.message ?? String(err));
}
