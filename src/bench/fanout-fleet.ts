import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { LineFramer } from '../stratum/framing.js';
import { connectAndSubscribe, handshakeStep, type DeviceSource, type HandshakeAnswer } from './device-handshake.js';

/**
 * The miners of the fan-out benchmark: N device connections to the proxy that subscribe, authorize (after
 * the subscribe answer, as cpuminer does) and wait for work, connected at a set rate with a cap on the
 * connections still setting up. Once every device holds a job, `expect()` names each new job by its
 * prevhash (unique per block; no proxy may change it, the header needs it) and the fleet records when each
 * device first received the mining.notify carrying it, on this process's clock. It never submits.
 */

export interface FleetOptions {
  port: number;
  devices: number;
  /** New connections per second. */
  connectRate: number;
  /** The most connections connecting, subscribing or authorizing at once. */
  maxSettingUp: number;
  /** Jobs that will be expected (warm-up ones included): sizes the arrival table. */
  jobs: number;
  workerPrefix?: string;
  /** Source address of every connection (e.g. 127.0.0.3); default: the system's choice (127.0.0.1). */
  localAddress?: string;
  /**
   * With localAddress: source ports given out in turn from this range (wrapping), instead of the kernel's
   * search for a free one, which slows as thousands of an address's ports are taken. The address must be
   * this fleet's alone.
   */
  localPorts?: { first: number; last: number };
}

export interface ConnectReport {
  /** Devices that were authorized and held a job when the wait ended. */
  ready: number;
  failed: number;
  /** Why devices failed, by reason (connect error code, refused subscribe or authorize, closed). */
  reasons: Record<string, number>;
  seconds: number;
}

/** Retries of a device whose connection failed before it was ready. */
const CONNECT_ATTEMPTS = 3;
const RETRY_DELAY_MS = 200;
/** Jobs searched for in each read: the newest and the three before it. */
const EXPECTED_JOBS = 4;
/** Bytes kept from the end of a read: a prevhash is 64 hex digits, so at most 63 of them end a read. */
const CARRY_BYTES = 63;

const enum Phase {
  Waiting,
  SettingUp,
  Ready,
  Failed,
}

class Device {
  socket: net.Socket | null = null;
  /** The tail of the previous chunk (ready devices), so that a prevhash split between two reads is found. */
  carry: Buffer | null = null;
  phase = Phase.Waiting;
  authorized = false;
  hasJob = false;
  attempts = 0;
  /** performance.now() before which a failed connection is not tried again. */
  retryAt = 0;
  readonly framer = new LineFramer(1 << 20);
  constructor(readonly index: number, readonly worker: string) {}
}

export class FanoutFleet {
  private readonly devices: Device[];
  /** arrivals[k][i]: when device i first received job k (NaN: not yet). */
  private readonly arrivals: Float64Array[];
  private readonly got: Uint32Array;
  /** The jobs still searched for, newest first: job number and its prevhash as bytes. */
  private expected: { k: number; prevhash: Buffer }[] = [];
  private settingUp = 0;
  private readyCount = 0;
  private readonly reasons: Record<string, number> = {};
  /** Devices that lost their connection after they were ready. */
  droppedAfterReady = 0;

  constructor(private readonly opts: FleetOptions) {
    const prefix = opts.workerPrefix ?? 'fan.d';
    this.devices = Array.from({ length: opts.devices }, (_, i) => new Device(i, `${prefix}${i + 1}`));
    this.arrivals = Array.from({ length: opts.jobs }, () => new Float64Array(opts.devices).fill(NaN));
    this.got = new Uint32Array(opts.jobs);
  }

  /** Devices ready (authorized, holding a job) and still connected. */
  get ready(): number {
    return this.readyCount;
  }

  /** Connect every device at the set rate; resolves when all are ready or failed, or at `timeoutMs`. */
  async connect(timeoutMs: number): Promise<ConnectReport> {
    const t0 = performance.now();
    const deadline = t0 + timeoutMs;
    let started = 0;
    const queue: Device[] = [...this.devices];
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now();
        const allowed = Math.floor(((now - t0) * this.opts.connectRate) / 1000) + 1;
        while (queue.length > 0 && started < allowed && this.settingUp < this.opts.maxSettingUp) {
          // Retries wait at the end of the queue: the first one not yet due means none behind it is.
          if (queue[0]!.retryAt > now) break;
          const d = queue.shift()!;
          started++;
          this.open(d, () => {
            queue.push(d);
            started--;
          });
        }
        const pending = this.devices.some((d) => d.phase === Phase.Waiting || d.phase === Phase.SettingUp);
        if (!pending || now > deadline) return resolve();
        setTimeout(tick, 5);
      };
      tick();
    });
    for (const d of this.devices) {
      if (d.phase === Phase.Waiting || d.phase === Phase.SettingUp) this.fail(d, `not ready within ${Math.round(timeoutMs / 1000)} s`);
    }
    return { ready: this.ready, failed: this.devices.filter((d) => d.phase === Phase.Failed).length, reasons: { ...this.reasons }, seconds: (performance.now() - t0) / 1000 };
  }

  /** From now on, a notify with this prevhash is job `k` (the last few jobs stay searched for late deliveries). */
  expect(k: number, prevhash: string): void {
    this.expected = [{ k, prevhash: Buffer.from(prevhash, 'latin1') }, ...this.expected.slice(0, EXPECTED_JOBS - 1)];
  }

  /** True once every device still held has received job `k`. */
  allHave(k: number): boolean {
    return this.got[k]! >= this.readyCount;
  }

  /** Deliveries of job `k` so far. */
  delivered(k: number): number {
    return this.got[k]!;
  }

  /** Latencies (ms) of job `k` from `writtenAt`, one per device that received it. */
  latencies(k: number, writtenAt: number): Float64Array {
    const row = this.arrivals[k]!;
    const out: number[] = [];
    for (let i = 0; i < row.length; i++) if (!Number.isNaN(row[i]!)) out.push(row[i]! - writtenAt);
    return Float64Array.from(out);
  }

  close(): void {
    for (const d of this.devices) d.socket?.destroy();
  }

  private nextLocalPort = -1;

  private source(): DeviceSource | undefined {
    const { localAddress, localPorts } = this.opts;
    if (!localAddress) return undefined;
    if (!localPorts) return { localAddress };
    if (this.nextLocalPort < localPorts.first || this.nextLocalPort > localPorts.last) this.nextLocalPort = localPorts.first;
    return { localAddress, localPort: this.nextLocalPort++ };
  }

  /** `retry` is called when the connection failed before the device was ready and it may be tried again. */
  private open(d: Device, retry: () => void): void {
    d.phase = Phase.SettingUp;
    d.attempts++;
    d.authorized = false;
    d.hasJob = false;
    this.settingUp++;
    const socket = connectAndSubscribe(this.opts.port, 'bench-fanout', this.source());
    d.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      const at = performance.now();
      if (d.phase === Phase.Ready) this.onReadyData(d, chunk, at);
      else d.framer.push(chunk, (line) => this.onLine(d, line, at));
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (d.phase !== Phase.SettingUp || d.socket !== socket) return;
      socket.destroy();
      if (d.attempts < CONNECT_ATTEMPTS) {
        this.settingUp--;
        d.phase = Phase.Waiting;
        d.retryAt = performance.now() + RETRY_DELAY_MS;
        retry();
      } else this.fail(d, err.code ?? err.message);
    });
    socket.on('close', () => {
      if (d.socket !== socket) return;
      if (d.phase === Phase.Ready) {
        this.droppedAfterReady++;
        this.readyCount--;
        d.phase = Phase.Failed;
      } else if (d.phase === Phase.SettingUp) this.fail(d, 'closed by the proxy before it was ready');
    });
  }

  private fail(d: Device, reason: string): void {
    if (d.phase === Phase.SettingUp) this.settingUp--;
    d.phase = Phase.Failed;
    this.reasons[reason] = (this.reasons[reason] ?? 0) + 1;
    d.socket?.destroy();
  }

  /** Setting up: answers to subscribe and authorize, and the first job. */
  private onLine(d: Device, line: string, at: number): void {
    // A notify is told apart without parsing it (the subscribe answer names mining.notify too, in its result).
    if (line.includes('"mining.notify"') && !line.includes('"result"')) {
      if (d.phase !== Phase.SettingUp) return;
      d.hasJob = true;
      this.becomeReadyIfSo(d);
      // An expected job may already be in this very line (a device that became ready late).
      if ((d.phase as Phase) === Phase.Ready) this.onReadyData(d, Buffer.from(line, 'latin1'), at);
      return;
    }
    let msg: HandshakeAnswer;
    try {
      msg = JSON.parse(line) as HandshakeAnswer;
    } catch {
      return;
    }
    if (d.phase !== Phase.SettingUp) return;
    const step = handshakeStep(msg, d.socket, d.worker);
    if (step?.step === 'refused') return this.fail(d, step.reason);
    if (step?.step === 'authorized') {
      d.authorized = true;
      this.becomeReadyIfSo(d);
    }
  }

  /** Ready: each read is searched for the prevhashes expected; nothing else is looked at. */
  private onReadyData(d: Device, chunk: Buffer, at: number): void {
    const data = d.carry === null ? chunk : Buffer.concat([d.carry, chunk]);
    for (const e of this.expected) {
      if (data.indexOf(e.prevhash) === -1) continue;
      const row = this.arrivals[e.k]!;
      if (Number.isNaN(row[d.index]!)) {
        row[d.index] = at;
        this.got[e.k]!++;
      }
    }
    d.carry = data[data.length - 1] === 0x0a ? null : Buffer.from(data.subarray(Math.max(0, data.length - CARRY_BYTES)));
  }

  private becomeReadyIfSo(d: Device): void {
    if (!d.authorized || !d.hasJob) return;
    d.phase = Phase.Ready;
    this.settingUp--;
    this.readyCount++;
  }
}
