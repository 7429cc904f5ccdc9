import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { LineFramer } from '../stratum/framing.js';

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
}

export interface ConnectReport {
  /** Devices that were authorized and held a job when the wait ended. */
  ready: number;
  failed: number;
  /** Why devices failed, by reason (connect error code, refused subscribe or authorize, closed). */
  reasons: Record<string, number>;
  seconds: number;
}

const SUBSCRIBE_ID = 1;
const AUTHORIZE_ID = 2;
/** Retries of a device whose connection failed before it was ready. */
const CONNECT_ATTEMPTS = 3;
const RETRY_DELAY_MS = 200;

const enum Phase {
  Waiting,
  SettingUp,
  Ready,
  Failed,
}

class Device {
  socket: net.Socket | null = null;
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
  private readonly jobOf = new Map<string, number>();
  /** A notify line's prevhash, parsed once per distinct line (the proxy writes the same bytes to every device). */
  private readonly prevhashOfLine = new Map<string, string | null>();
  private settingUp = 0;
  private expecting = false;
  private readonly reasons: Record<string, number> = {};
  /** Devices that lost their connection after they were ready. */
  droppedAfterReady = 0;
  /** Notifies after the first expected job that matched no expected job. */
  strayNotifies = 0;
  /** client.reconnect requests from the proxy. */
  reconnectRequests = 0;

  constructor(private readonly opts: FleetOptions) {
    const prefix = opts.workerPrefix ?? 'fan.d';
    this.devices = Array.from({ length: opts.devices }, (_, i) => new Device(i, `${prefix}${i + 1}`));
    this.arrivals = Array.from({ length: opts.jobs }, () => new Float64Array(opts.devices).fill(NaN));
    this.got = new Uint32Array(opts.jobs);
  }

  get ready(): number {
    let n = 0;
    for (const d of this.devices) if (d.phase === Phase.Ready) n++;
    return n;
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

  /** From now on, a notify with this prevhash is job `k`. */
  expect(k: number, prevhash: string): void {
    this.expecting = true;
    this.jobOf.set(prevhash, k);
  }

  /** Devices ready now that have not yet received job `k`. */
  missing(k: number): number {
    let n = 0;
    const row = this.arrivals[k]!;
    for (const d of this.devices) if (d.phase === Phase.Ready && Number.isNaN(row[d.index]!)) n++;
    return n;
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

  /** `retry` is called when the connection failed before the device was ready and it may be tried again. */
  private open(d: Device, retry: () => void): void {
    d.phase = Phase.SettingUp;
    d.attempts++;
    d.authorized = false;
    d.hasJob = false;
    this.settingUp++;
    const socket = net.connect({ host: '127.0.0.1', port: this.opts.port });
    d.socket = socket;
    socket.setNoDelay(true);
    socket.on('connect', () => socket.write(`{"id":${SUBSCRIBE_ID},"method":"mining.subscribe","params":["bench-fanout"]}\n`));
    socket.on('data', (chunk: Buffer) => {
      const at = performance.now();
      d.framer.push(chunk, (line) => this.onLine(d, line, at));
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

  private onLine(d: Device, line: string, at: number): void {
    // A notify is told apart without parsing it (the subscribe answer names mining.notify too, in its result).
    if (line.includes('"mining.notify"') && !line.includes('"result"')) return this.onNotify(d, line, at);
    let msg: { id?: unknown; method?: unknown; result?: unknown; error?: unknown };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return;
    }
    if (msg.method === 'client.reconnect') this.reconnectRequests++;
    if (d.phase !== Phase.SettingUp) return;
    if (msg.id === SUBSCRIBE_ID) {
      const r = msg.result;
      if (!Array.isArray(r) || typeof r[1] !== 'string') return this.fail(d, `subscribe refused: ${JSON.stringify(msg.error ?? r).slice(0, 80)}`);
      d.socket?.write(`{"id":${AUTHORIZE_ID},"method":"mining.authorize","params":["${d.worker}","x"]}\n`);
    } else if (msg.id === AUTHORIZE_ID) {
      if (msg.result !== true) return this.fail(d, `authorize refused: ${JSON.stringify(msg.error).slice(0, 80)}`);
      d.authorized = true;
      this.becomeReadyIfSo(d);
    }
  }

  private onNotify(d: Device, line: string, at: number): void {
    if (d.phase === Phase.SettingUp) {
      d.hasJob = true;
      this.becomeReadyIfSo(d);
    }
    if (!this.expecting) return;
    const prevhash = this.prevhashOf(line);
    const k = prevhash === null ? undefined : this.jobOf.get(prevhash);
    if (k === undefined) {
      this.strayNotifies++;
      return;
    }
    const row = this.arrivals[k]!;
    if (Number.isNaN(row[d.index]!)) {
      row[d.index] = at;
      this.got[k]!++;
    }
  }

  private becomeReadyIfSo(d: Device): void {
    if (!d.authorized || !d.hasJob) return;
    d.phase = Phase.Ready;
    this.settingUp--;
  }

  private prevhashOf(line: string): string | null {
    let prevhash = this.prevhashOfLine.get(line);
    if (prevhash !== undefined) return prevhash;
    try {
      const params = (JSON.parse(line) as { params?: unknown }).params;
      prevhash = Array.isArray(params) && typeof params[1] === 'string' ? params[1] : null;
    } catch {
      prevhash = null;
    }
    if (this.prevhashOfLine.size >= 256) this.prevhashOfLine.clear();
    this.prevhashOfLine.set(line, prevhash);
    return prevhash;
  }
}
