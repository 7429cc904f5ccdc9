import type { Socket } from 'node:net';
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
import type { DeviceTarget } from '../proxy/device-target.js';
import type { VardiffState } from '../proxy/vardiff.js';

/**
 * One device's connection: framing, the state machine (connected -> subscribed -> authorized), answers in
 * request order, and a bounded write buffer. It decides nothing about jobs or shares: it asks its host (the
 * proxy core) and writes what the host hands it.
 */
export type SessionState = 'connected' | 'subscribed' | 'authorized' | 'closed';

/** A grant from the host when a device subscribes: where it sits in the extranonce space. */
export interface SubscribeGrant {
  extranonce1: string;
  extranonce2Size: number;
}

export interface SessionHost {
  subscribe(session: Session): Promise<SubscribeGrant>;
  authorize(session: Session, username: string, password: string): Promise<void>;
  /** Resolves when the share is judged (and, for pool shares, answered by the pool); rejects with StratumError. */
  submit(session: Session, params: SubmitParams): Promise<void> | void;
  /** The version-rolling mask to grant for the one the device asks (BIP 310), or 0 for none. */
  versionMask(requested: number): number;
  suggestDifficulty(session: Session, difficulty: number): void;
  /** Called once the device finished authorizing (jobs can flow). */
  ready(session: Session): void;
  closed(session: Session, reason: string): void;
}

export interface SessionLimits {
  maxLineBytes: number;
  /** A device whose unsent output grows past this is dropped (it stopped reading). */
  maxWriteBufferBytes: number;
}

type Reply = { line: string | null };

export class Session {
  state: SessionState = 'connected';
  readonly ip: string;
  readonly connectedAt = Date.now();
  lastActivity = Date.now();
  /** Worker names this connection authorized; the first is the device's name. */
  readonly workers = new Set<string>();
  worker: string | null = null;
  userAgent: string | undefined;
  extranonce1 = '';
  extranonce2Size = 0;
  /** The device's prefix in its channel (hex), and the channel that granted it. Set by the host. */
  prefix = '';
  channel: unknown = null;
  versionMask = 0;
  extranonceSubscribed = false;
  suggestedDifficulty: number | null = null;
  /** Vardiff and share target, owned by the host. */
  vardiff: VardiffState | null = null;
  target: DeviceTarget | null = null;
  /** Set while the device has no usable jobs (e.g. waiting for it to reconnect after an extranonce change). */
  parked = false;

  private readonly framer: LineFramer;
  private readonly replies: Reply[] = [];
  private closeReason: string | null = null;

  constructor(
    readonly id: number,
    readonly socket: Socket,
    private readonly host: SessionHost,
    private readonly limits: SessionLimits,
  ) {
    this.ip = normalizeIp(socket.remoteAddress);
    this.framer = new LineFramer(limits.maxLineBytes);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.close(`socket error: ${err.message}`));
    socket.on('close', () => this.close('connection closed by device'));
  }

  /** Write a pre-serialized line (shared bytes for a job fan-out, or a string). */
  write(data: string | Buffer): void {
    if (this.state === 'closed') return;
    this.socket.write(data);
    if (this.socket.writableLength > this.limits.maxWriteBufferBytes) {
      this.close(`device is not reading (over ${this.limits.maxWriteBufferBytes} bytes waiting to be sent)`);
    }
  }

  notify(method: string, params: readonly unknown[]): void {
    this.write(notificationLine(method, params));
  }

  /** Close the connection once; the host hears about it once. */
  close(reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeReason = reason;
    this.socket.destroy();
    this.host.closed(this, reason);
  }

  /** Flush what is queued, then close (used for client.reconnect and shutdown). */
  end(reason: string): void {
    if (this.state === 'closed') return;
    this.socket.end();
    this.close(reason);
  }

  get reasonClosed(): string | null {
    return this.closeReason;
  }

  private onData(chunk: Buffer): void {
    this.lastActivity = Date.now();
    const ok = this.framer.push(chunk, (line) => this.onLine(line));
    if (!ok && this.state !== 'closed') {
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
      throw err;
    }
  }

  private onSubscribe(id: RpcId, params: unknown[]): void {
    const p = parseSubscribe(params);
    if (this.state !== 'connected') return this.answerError(id, new StratumError(StratumErrorCode.Other, 'Already subscribed'));
    this.userAgent = p.userAgent;
    const reply = this.deferReply();
    this.host.subscribe(this).then(
      (grant) => {
        if (this.state === 'closed') return;
        this.extranonce1 = grant.extranonce1;
        this.extranonce2Size = grant.extranonce2Size;
        this.state = 'subscribed';
        const sub = this.id.toString(16).padStart(8, '0');
        this.resolveReply(reply, resultLine(id, [[['mining.set_difficulty', sub], ['mining.notify', sub]], grant.extranonce1, grant.extranonce2Size]));
      },
      (err: unknown) => this.resolveReply(reply, errorLine(id, asStratumError(err))),
    );
  }

  private onAuthorize(id: RpcId, params: unknown[]): void {
    const p = parseAuthorize(params);
    if (this.state === 'connected') return this.answerError(id, new StratumError(StratumErrorCode.NotSubscribed, 'Not subscribed'));
    const reply = this.deferReply();
    this.host.authorize(this, p.username, p.password).then(
      () => {
        if (this.state === 'closed') return;
        this.workers.add(p.username);
        const first = this.worker === null;
        if (first) this.worker = p.username;
        this.state = 'authorized';
        this.resolveReply(reply, resultLine(id, true));
        if (first) this.host.ready(this);
      },
      (err: unknown) => this.resolveReply(reply, errorLine(id, asStratumError(err, StratumErrorCode.Unauthorized))),
    );
  }

  private onSubmit(id: RpcId, params: unknown[]): void {
    if (this.state === 'connected') return this.answerError(id, new StratumError(StratumErrorCode.NotSubscribed, 'Not subscribed'));
    if (this.state !== 'authorized') return this.answerError(id, new StratumError(StratumErrorCode.Unauthorized, 'Unauthorized worker'));
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
    pending.then(
      () => this.resolveReply(reply, resultLine(id, true)),
      (err: unknown) => this.resolveReply(reply, errorLine(id, asStratumError(err))),
    );
  }

  private onConfigure(id: RpcId, params: unknown[]): void {
    const cfg = parseConfigure(params);
    const result: Record<string, unknown> = {};
    const requested = requestedVersionMask(cfg);
    if (requested !== undefined) {
      const granted = this.host.versionMask(requested);
      this.versionMask = granted;
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
    if (this.replies.length === 0) this.write(line);
    else this.replies.push({ line });
  }

  private deferReply(): Reply {
    const r: Reply = { line: null };
    this.replies.push(r);
    return r;
  }

  private resolveReply(r: Reply, line: string): void {
    r.line = line;
    while (this.replies.length > 0 && this.replies[0]!.line !== null) this.write(this.replies.shift()!.line!);
  }
}

function asStratumError(err: unknown, code: StratumErrorCode = StratumErrorCode.Other): StratumError {
  if (err instanceof StratumError) return err;
  return new StratumError(code, (err as Error)?.message ?? String(err));
}

/** `::ffff:1.2.3.4` -> `1.2.3.4`. */
export function normalizeIp(addr: string | undefined): string {
  if (!addr) return 'unknown';
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}
