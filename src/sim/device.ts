import net from 'node:net';
import type { PowHasher } from '../chain/hasher.js';
import { StratumErrorCode } from '../stratum/errors.js';
import { LineFramer } from '../stratum/framing.js';
import { describeWireError, parseLine, requestLine, resultLine, type RpcId } from '../stratum/jsonrpc.js';
import {
  Method,
  parseNotify,
  parseReconnect,
  parseSetDifficulty,
  parseSetExtranonce,
  parseSetVersionMask,
  parseShowMessage,
  parseSubscribeResult,
} from '../stratum/messages.js';
import { copyCounters, countRejected, newCounters, type ShareCounters } from './counters.js';
import type { HashTask } from './hash-scheduler.js';
import { MinerWork, type MinedShare } from './miner-work.js';
import { decodeMiningJob, type MiningJob } from './mining-job.js';

/**
 * One simulated ASIC: a Stratum V1 client that subscribes, authorizes, optionally negotiates version rolling
 * and extranonce changes, follows set_difficulty (from the next job on, like real miners), notify,
 * set_extranonce (next job), client.reconnect and show_message, and really hashes X11 when the fleet's
 * scheduler gives it time. Every request has its own id, so answers are matched by id.
 */

/** Per-share probabilities (0..1) of extra, deliberately wrong submissions after each valid share. */
export interface MisbehaviourRates {
  /** Send the same share again (pool answers 22). */
  duplicate: number;
  /** Send the share under a job id superseded by a clean job, or an unknown one before any clean job (21). */
  stale: number;
  /** Send a hash that missed the target (23). */
  lowDifficulty: number;
  /** Send a line that is not JSON (20, or the peer closes). */
  garbage: number;
  /** Send a submit whose extranonce2 has the wrong length (20). */
  malformed: number;
}

export const NO_MISBEHAVIOUR: MisbehaviourRates = { duplicate: 0, stale: 0, lowDifficulty: 0, garbage: 0, malformed: 0 };

export type ShareKind = 'valid' | keyof MisbehaviourRates;
export const SHARE_KINDS: readonly ShareKind[] = ['valid', 'duplicate', 'stale', 'lowDifficulty', 'garbage', 'malformed'];

export type DeviceState = 'idle' | 'connecting' | 'subscribing' | 'authorizing' | 'mining' | 'unauthorized' | 'waiting' | 'killed' | 'stopped';

export interface SimDeviceOptions {
  index: number;
  worker: string;
  password: string;
  host: string;
  port: number;
  /** Hashes per second this device asks the scheduler for. */
  hashrate: number;
  /** Send mining.configure asking for version rolling (mask 1fffe000). */
  versionRolling: boolean;
  /** Send mining.extranonce.subscribe after authorizing. */
  extranonceSubscribe: boolean;
  misbehaviour: MisbehaviourRates;
  /** First reconnect delay after an unexpected close (doubles up to maxReconnectDelayMs). */
  reconnectDelayMs: number;
  maxReconnectDelayMs: number;
  /** Close and retry when subscribe/authorize are not answered within this time. */
  handshakeTimeoutMs: number;
  noncesPerExtranonce2: number;
  userAgent: string;
  random: () => number;
}

export interface SimDeviceStats {
  index: number;
  worker: string;
  state: DeviceState;
  host: string;
  port: number;
  extranonce1: string | null;
  extranonce2Size: number | null;
  /** Difficulty of the job being mined (null before the first job). */
  difficulty: number | null;
  versionMask: number;
  /** Every mining.submit (all kinds but garbage lines, which are not submits). */
  shares: ShareCounters;
  byKind: Record<ShareKind, ShareCounters>;
  /** Shares that met the target while hashing. */
  sharesFound: number;
  hashes: number;
  jobsReceived: number;
  cleanJobs: number;
  lastJobId: string | null;
  /** Date.now() of the last notify. */
  lastJobAt: number | null;
  difficultyChanges: number;
  extranonceChanges: number;
  /** Successful TCP connects. */
  connects: number;
  /** Connects after the first (after a drop or a client.reconnect). */
  reconnects: number;
  /** client.reconnect requests followed. */
  reconnectRequests: number;
  disconnects: number;
  messages: number;
  lastMessage: string | null;
  authorizeRejected: number;
  /** Answers with an id we never used (or already answered). */
  unmatchedAnswers: number;
  /** Submits whose connection closed before the answer came. */
  unanswered: number;
  /** Notifies that could not be used (bad params). */
  badJobs: number;
}

export interface SimFleetEvents {
  share: [{ device: number; worker: string; kind: ShareKind; jobId: string | null; accepted: boolean; code: number | null; message: string | null; latencyMs: number }];
  job: [{ device: number; jobId: string; clean: boolean; difficulty: number }];
  connected: [{ device: number; host: string; port: number }];
  disconnected: [{ device: number; reason: string }];
  reconnect: [{ device: number; host: string; port: number; delayMs: number; requested: boolean }];
  authorized: [{ device: number; worker: string; ok: boolean }];
  extranonce: [{ device: number; extranonce1: string; extranonce2Size: number }];
  difficulty: [{ device: number; difficulty: number }];
  message: [{ device: number; text: string }];
}

export type DeviceEventSink = <K extends keyof SimFleetEvents>(name: K, ...args: SimFleetEvents[K]) => void;

interface Pending {
  method: string;
  kind?: ShareKind;
  jobId?: string;
  /** Difficulty of the job the share was mined on. */
  difficulty?: number;
  sentAt: number;
}

const MAX_PENDING = 2000;
const GARBAGE_LINE = 'garbage from a simulated device }{\n';

function newKindCounters(): Record<ShareKind, ShareCounters> {
  return { valid: newCounters(), duplicate: newCounters(), stale: newCounters(), lowDifficulty: newCounters(), garbage: newCounters(), malformed: newCounters() };
}

export class SimDevice implements HashTask {
  readonly index: number;
  readonly worker: string;
  hashrate: number;
  private readonly opts: SimDeviceOptions;
  private readonly hasher: PowHasher;
  private readonly emit: DeviceEventSink;
  private host: string;
  private port: number;
  private stateValue: DeviceState = 'idle';
  private socket: net.Socket | undefined;
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private garbageOutstanding = 0;
  private extranonce1: string | null = null;
  private extranonce2Size: number | null = null;
  private pendingExtranonce: { extranonce1: string; extranonce2Size: number } | null = null;
  private nextDifficulty = 1;
  private versionMask = 0;
  private work: MinerWork | null = null;
  private en2Counter = 0;
  private recentJobIds: string[] = [];
  private staleJobIds: string[] = [];
  private reconnectTimer: NodeJS.Timeout | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private backoffAttempts = 0;
  private everConnected = false;
  private readonly counters = newCounters();
  private readonly byKind = newKindCounters();
  private s = {
    sharesFound: 0,
    hashes: 0,
    jobsReceived: 0,
    cleanJobs: 0,
    lastJobId: null as string | null,
    lastJobAt: null as number | null,
    difficultyChanges: 0,
    extranonceChanges: 0,
    connects: 0,
    reconnects: 0,
    reconnectRequests: 0,
    disconnects: 0,
    messages: 0,
    lastMessage: null as string | null,
    authorizeRejected: 0,
    unmatchedAnswers: 0,
    unanswered: 0,
    badJobs: 0,
  };

  constructor(opts: SimDeviceOptions, hasher: PowHasher, emit: DeviceEventSink) {
    this.opts = opts;
    this.index = opts.index;
    this.worker = opts.worker;
    this.hashrate = opts.hashrate;
    this.host = opts.host;
    this.port = opts.port;
    this.hasher = hasher;
    this.emit = emit;
  }

  get state(): DeviceState {
    return this.stateValue;
  }

  /** HashTask: hashing while authorized and holding a job. */
  get busy(): boolean {
    return this.stateValue === 'mining' && this.work !== null;
  }

  runHashes(n: number): number {
    const work = this.work;
    if (!work || this.stateValue !== 'mining') return 0;
    const done = work.search(this.hasher, n, (share) => this.onShareFound(work, share));
    this.s.hashes += done;
    return done;
  }

  /** Connect (first start, or after revive). */
  connect(): void {
    if (this.stateValue === 'stopped') return;
    this.clearTimers();
    this.stateValue = 'connecting';
    const socket = net.connect({ host: this.host, port: this.port, noDelay: true });
    this.socket = socket;
    const framer = new LineFramer();
    let reason = 'closed by peer';
    socket.on('connect', () => this.onConnect(socket));
    socket.on('data', (chunk: Buffer) => {
      if (socket !== this.socket) return;
      if (!framer.push(chunk, (line) => this.onLine(line))) {
        reason = 'line too long';
        socket.destroy();
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      reason = err.code ?? err.message;
    });
    socket.on('close', () => {
      if (socket !== this.socket) return;
      this.onClose(reason);
    });
  }

  /** Close abruptly and stay down until revive(). */
  kill(): void {
    this.stateValue = 'killed';
    this.clearTimers();
    this.dropSocket();
  }

  revive(): void {
    if (this.stateValue !== 'killed') return;
    this.stateValue = 'idle';
    this.backoffAttempts = 0;
    this.connect();
  }

  /** Close for good. */
  stop(): void {
    this.stateValue = 'stopped';
    this.clearTimers();
    this.dropSocket();
  }

  /** Change the misbehaviour rates on the fly. */
  setMisbehaviour(rates: Partial<MisbehaviourRates>): void {
    Object.assign(this.opts.misbehaviour, rates);
  }

  stats(): SimDeviceStats {
    const byKind = {} as Record<ShareKind, ShareCounters>;
    for (const k of SHARE_KINDS) byKind[k] = copyCounters(this.byKind[k]);
    return {
      index: this.index,
      worker: this.worker,
      state: this.stateValue,
      host: this.host,
      port: this.port,
      extranonce1: this.extranonce1,
      extranonce2Size: this.extranonce2Size,
      difficulty: this.work ? this.work.job.poolDifficulty : null,
      versionMask: this.versionMask,
      shares: copyCounters(this.counters),
      byKind,
      ...this.s,
    };
  }

  // ---- connection -----------------------------------------------------------------------------------------

  private onConnect(socket: net.Socket): void {
    if (socket !== this.socket) return;
    this.s.connects++;
    if (this.everConnected) this.s.reconnects++;
    this.everConnected = true;
    this.stateValue = 'subscribing';
    this.emit('connected', { device: this.index, host: this.host, port: this.port });
    if (this.opts.versionRolling) this.request(Method.Configure, [['version-rolling'], { 'version-rolling.mask': '1fffe000', 'version-rolling.min-bit-count': 2 }]);
    this.request(Method.Subscribe, [this.opts.userAgent]);
    this.handshakeTimer = setTimeout(() => {
      if (this.stateValue === 'subscribing' || this.stateValue === 'authorizing') this.socket?.destroy();
    }, this.opts.handshakeTimeoutMs);
  }

  private onClose(reason: string): void {
    this.socket = undefined;
    for (const p of this.pending.values()) if (p.method === Method.Submit) this.s.unanswered++;
    this.pending.clear();
    this.garbageOutstanding = 0;
    this.work = null;
    this.resetSession();
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.s.disconnects++;
    this.emit('disconnected', { device: this.index, reason });
    if (this.stateValue === 'killed' || this.stateValue === 'stopped') return;
    const delay = Math.min(this.opts.maxReconnectDelayMs, this.opts.reconnectDelayMs * 2 ** Math.min(this.backoffAttempts, 16));
    this.backoffAttempts++;
    this.scheduleConnect(delay * (0.75 + 0.5 * this.opts.random()), false);
  }

  private scheduleConnect(delayMs: number, requested: boolean): void {
    this.stateValue = 'waiting';
    const ms = Math.max(0, Math.round(delayMs));
    this.emit('reconnect', { device: this.index, host: this.host, port: this.port, delayMs: ms, requested });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect();
    }, ms);
  }

  private resetSession(): void {
    this.extranonce1 = null;
    this.extranonce2Size = null;
    this.pendingExtranonce = null;
    this.versionMask = 0;
    this.nextDifficulty = 1;
    this.recentJobIds = [];
    this.staleJobIds = [];
  }

  private dropSocket(): void {
    const s = this.socket;
    if (!s) return;
    this.socket = undefined;
    for (const p of this.pending.values()) if (p.method === Method.Submit) this.s.unanswered++;
    this.pending.clear();
    this.work = null;
    this.resetSession();
    s.destroy();
    this.s.disconnects++;
    this.emit('disconnected', { device: this.index, reason: this.stateValue });
  }

  private clearTimers(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.reconnectTimer = undefined;
    this.handshakeTimer = undefined;
  }

  private write(line: string): void {
    const s = this.socket;
    if (s && s.writable) s.write(line);
  }

  private request(method: string, params: unknown[], extra: Omit<Pending, 'method' | 'sentAt'> = {}): void {
    const id = this.nextId++;
    this.pending.set(id, { method, sentAt: Date.now(), ...extra });
    if (this.pending.size > MAX_PENDING) {
      const oldest = this.pending.keys().next().value as number;
      if (this.pending.get(oldest)?.method === Method.Submit) this.s.unanswered++;
      this.pending.delete(oldest);
    }
    this.write(requestLine(id, method, params));
  }

  // ---- incoming -------------------------------------------------------------------------------------------

  private onLine(line: string): void {
    const parsed = parseLine(line);
    if (!parsed.ok) return; // a pool's garbage: ignored, as miners do
    const msg = parsed.message;
    if (msg.kind === 'response') this.onResponse(msg.id, msg.result, msg.error);
    else this.onRequest(msg.id, msg.method, msg.params);
  }

  private onResponse(id: RpcId, result: unknown, error: unknown): void {
    const p = typeof id === 'number' ? this.pending.get(id) : undefined;
    if (!p) {
      if (id === null && this.garbageOutstanding > 0) {
        // The answer to a garbage line (a parse error has no id to echo).
        this.garbageOutstanding--;
        const err = describeWireError(error);
        this.countAnswer('garbage', null, err === null, err, 0, 0);
        return;
      }
      this.s.unmatchedAnswers++;
      return;
    }
    this.pending.delete(id as number);
    const err = describeWireError(error);
    switch (p.method) {
      case Method.Subscribe: {
        if (err) {
          this.socket?.destroy();
          return;
        }
        try {
          const en = parseSubscribeResult(result);
          this.extranonce1 = en.extranonce1;
          this.extranonce2Size = en.extranonce2Size;
        } catch {
          this.socket?.destroy();
          return;
        }
        this.stateValue = 'authorizing';
        this.request(Method.Authorize, [this.worker, this.opts.password]);
        return;
      }
      case Method.Authorize: {
        const ok = result === true && err === null;
        if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
        this.handshakeTimer = undefined;
        this.emit('authorized', { device: this.index, worker: this.worker, ok });
        if (!ok) {
          this.s.authorizeRejected++;
          this.stateValue = 'unauthorized';
          return;
        }
        this.stateValue = 'mining';
        if (this.opts.extranonceSubscribe) this.request(Method.ExtranonceSubscribe, []);
        return;
      }
      case Method.Configure: {
        if (err || typeof result !== 'object' || result === null) return;
        const r = result as Record<string, unknown>;
        const mask = r['version-rolling.mask'];
        if (r['version-rolling'] === true && typeof mask === 'string' && /^[0-9a-fA-F]{8}$/.test(mask)) this.versionMask = parseInt(mask, 16) >>> 0;
        return;
      }
      case Method.Submit:
        this.countAnswer(p.kind ?? 'valid', p.jobId ?? null, result === true && err === null, err, p.difficulty ?? 0, Date.now() - p.sentAt);
        return;
      default:
        return;
    }
  }

  private countAnswer(kind: ShareKind, jobId: string | null, accepted: boolean, err: { code: number; message: string } | null, difficulty: number, latencyMs: number): void {
    const code = accepted ? null : (err?.code ?? StratumErrorCode.Other);
    // A garbage line is not a share: it only counts under its kind.
    for (const c of kind === 'garbage' ? [this.byKind.garbage] : [this.counters, this.byKind[kind]]) {
      if (accepted) {
        c.accepted++;
        c.acceptedDifficulty += difficulty;
      } else countRejected(c, code!);
    }
    this.emit('share', { device: this.index, worker: this.worker, kind, jobId, accepted, code, message: accepted ? null : (err?.message ?? 'rejected'), latencyMs });
  }

  private onRequest(id: RpcId, method: string, params: unknown[]): void {
    try {
      switch (method) {
        case Method.SetDifficulty: {
          const d = parseSetDifficulty(params);
          if (d !== this.nextDifficulty) this.s.difficultyChanges++;
          this.nextDifficulty = d;
          this.emit('difficulty', { device: this.index, difficulty: d });
          return;
        }
        case Method.Notify:
          this.onNotify(params);
          return;
        case Method.SetExtranonce:
          this.pendingExtranonce = parseSetExtranonce(params);
          return;
        case Method.SetVersionMask:
          this.versionMask = (parseSetVersionMask(params) & 0x1fffe000) >>> 0;
          return;
        case Method.Reconnect: {
          const r = parseReconnect(params);
          this.s.reconnectRequests++;
          if (r.host) this.host = r.host;
          if (r.port) this.port = r.port;
          const wasState = this.stateValue;
          this.stateValue = 'waiting'; // the close below is ours: no backoff reconnect
          this.dropSocket();
          if (wasState !== 'stopped' && wasState !== 'killed') {
            this.backoffAttempts = 0;
            this.scheduleConnect(r.waitSeconds * 1000, true);
          }
          return;
        }
        case Method.ShowMessage: {
          const text = parseShowMessage(params);
          this.s.messages++;
          this.s.lastMessage = text;
          this.emit('message', { device: this.index, text });
          return;
        }
        case Method.GetVersion:
          if (id !== null) this.write(resultLine(id, this.opts.userAgent));
          return;
        default:
          return; // miners ignore what they do not know
      }
    } catch {
      if (method === Method.Notify) this.s.badJobs++;
    }
  }

  private onNotify(params: unknown[]): void {
    const notify = parseNotify(params);
    if (this.extranonce1 === null || this.extranonce2Size === null) return; // not subscribed yet
    if (this.pendingExtranonce) {
      this.extranonce1 = this.pendingExtranonce.extranonce1;
      this.extranonce2Size = this.pendingExtranonce.extranonce2Size;
      this.pendingExtranonce = null;
      this.s.extranonceChanges++;
      this.emit('extranonce', { device: this.index, extranonce1: this.extranonce1, extranonce2Size: this.extranonce2Size });
    }
    let job: MiningJob;
    try {
      job = decodeMiningJob(notify, this.nextDifficulty);
    } catch {
      this.s.badJobs++;
      return;
    }
    if (notify.cleanJobs) {
      this.s.cleanJobs++;
      this.staleJobIds = this.recentJobIds.filter((id) => id !== notify.jobId).slice(-8);
      this.recentJobIds = [];
    }
    this.recentJobIds.push(notify.jobId);
    if (this.recentJobIds.length > 16) this.recentJobIds.shift();
    this.s.jobsReceived++;
    this.s.lastJobId = notify.jobId;
    this.s.lastJobAt = Date.now();
    this.backoffAttempts = 0;
    if (this.work) this.en2Counter = this.work.nextExtranonce2;
    this.work = new MinerWork({
      job,
      extranonce1: this.extranonce1,
      extranonce2Size: this.extranonce2Size,
      extranonce2Start: this.en2Counter,
      noncesPerExtranonce2: this.opts.noncesPerExtranonce2,
      versionMask: this.versionMask,
    });
    this.emit('job', { device: this.index, jobId: notify.jobId, clean: notify.cleanJobs, difficulty: job.poolDifficulty });
  }

  // ---- shares ---------------------------------------------------------------------------------------------

  private submit(share: MinedShare, kind: ShareKind, overrides: Partial<MinedShare> = {}): void {
    const s = { ...share, ...overrides };
    const params: unknown[] = [this.worker, s.jobId, s.extranonce2, s.ntime, s.nonce];
    if (s.versionBits !== undefined) params.push(s.versionBits);
    this.counters.submitted++;
    this.byKind[kind].submitted++;
    this.request(Method.Submit, params, { kind, jobId: s.jobId, difficulty: this.work?.job.poolDifficulty ?? 0 });
  }

  private onShareFound(work: MinerWork, share: MinedShare): void {
    this.s.sharesFound++;
    this.submit(share, 'valid');
    const m = this.opts.misbehaviour;
    const r = this.opts.random;
    if (m.duplicate > 0 && r() < m.duplicate) this.submit(share, 'duplicate');
    if (m.stale > 0 && r() < m.stale) {
      const staleId = this.staleJobIds[this.staleJobIds.length - 1] ?? `${share.jobId}ff`;
      this.submit(share, 'stale', { jobId: staleId });
    }
    if (m.lowDifficulty > 0 && r() < m.lowDifficulty) {
      const miss = work.takeMiss();
      if (miss) this.submit(miss, 'lowDifficulty');
    }
    if (m.garbage > 0 && r() < m.garbage) {
      this.byKind.garbage.submitted++;
      this.garbageOutstanding++;
      this.write(GARBAGE_LINE);
    }
    if (m.malformed > 0 && r() < m.malformed) this.submit(share, 'malformed', { extranonce2: share.extranonce2 + '00' });
  }
}
