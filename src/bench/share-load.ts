import type net from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { LineFramer } from '../stratum/framing.js';
import { connectAndSubscribe, handshakeStep } from './device-handshake.js';
import { treeCpuSeconds, treeRssKiB } from './proc.js';
import type { ShareTimeline } from './share-timeline.js';
import { round, summarize } from './stats.js';

/**
 * The load generator of the share benchmark: K device connections to the proxy that subscribe, authorize,
 * take the job and then submit unique shares (every share its own extranonce2 and nonce) at a target rate
 * (open loop: a schedule, bounded by an in-flight cap), or as fast as the proxy answers (closed loop: a
 * fixed number of unanswered submits per device). It hashes nothing: the proxy's difficulty is so low that
 * every share is valid, so each submit costs the proxy the full share path and a forward to the pool.
 */

export interface ShareLoadOptions {
  port: number;
  devices: number;
  timeline: ShareTimeline;
  workerPrefix?: string;
}

export interface StepOptions {
  /** Submits per second offered; null: as fast as the proxy answers (closed loop). */
  rate: number | null;
  warmupMs: number;
  measureMs: number;
  /** Closed loop: unanswered submits each device keeps. */
  windowPerDevice: number;
  /** Open loop: the most unanswered submits overall (beyond it the schedule skips: the proxy is saturated). */
  maxInFlight: number;
  /** The proxy's PID, for its CPU time and memory (with its workers': the processes below it). */
  proxyPid: number | null;
}

export interface LatencySummary {
  p50: number | null;
  p99: number | null;
  max: number | null;
  count: number;
}

export interface StepResult {
  mode: 'open' | 'closed';
  offeredPerSecond: number | null;
  seconds: number;
  /** Submits written per second in the measured window. */
  sentPerSecond: number;
  /** Submits the proxy answered `true` (validated, forwarded and accepted by the pool) per second. */
  validatedPerSecond: number;
  /** Submits the pool received per second. */
  forwardedPerSecond: number;
  rejected: number;
  rejectReasons: Record<string, number>;
  /** Shares sent in the window that got no answer within the drain time. */
  unanswered: number;
  /** Shares sent in the window the proxy accepted but the pool never saw. */
  notForwarded: number;
  /** Load generator send -> pool receive (ms), shares sent in the window. */
  forwardMs: LatencySummary;
  /** Load generator send -> the proxy's answer back (ms). */
  answerMs: LatencySummary;
  proxyCpuSeconds: number | null;
  /** Proxy CPU seconds per 1,000 validated shares. */
  proxyCpuPer1000: number | null;
  /** Proxy CPU time / wall time in the window (1 = one core busy). */
  proxyCpuBusy: number | null;
  /** This process (load generator + pool) CPU time / wall time, and its event-loop utilization. */
  loadCpuBusy: number;
  loadElu: number;
  /** How late a 1 ms timer of this process fired (p99, ms): when high, the load generator's own pauses (GC) move the latencies. */
  loadLoopDelayP99Ms: number;
  /** Scheduled submits skipped because the in-flight cap was reached (open loop). */
  skippedAtCap: number;
  proxyRssKiB: number | null;
}

const FIRST_SEQ = 1000;

class LoadDevice {
  socket: net.Socket | null = null;
  en1 = '';
  en2Size = 0;
  jobId: string | null = null;
  ntime = '';
  authorized = false;
  inFlight = 0;
  failure: string | null = null;
  readonly framer = new LineFramer(1 << 20);

  constructor(readonly index: number, readonly worker: string) {}

  get ready(): boolean {
    return this.authorized && this.jobId !== null && this.en2Size > 0;
  }
}

export class ShareLoad {
  private readonly devices: LoadDevice[];
  private seq = FIRST_SEQ;
  private inFlight = 0;
  private running = false;
  private closedLoopWindow = 0;
  private readonly rejectReasons: Record<string, number> = {};
  private rejectedCount = 0;

  constructor(private readonly opts: ShareLoadOptions) {
    const prefix = opts.workerPrefix ?? 'bench.d';
    this.devices = Array.from({ length: opts.devices }, (_, i) => new LoadDevice(i, `${prefix}${i + 1}`));
  }

  /** Connect every device and wait until each is authorized and holds a job (retrying refused connects). */
  async connect(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    await Promise.all(this.devices.map((d) => this.connectOne(d, deadline)));
  }

  close(): void {
    this.running = false;
    for (const d of this.devices) d.socket?.destroy();
  }

  private async connectOne(d: LoadDevice, deadline: number): Promise<void> {
    for (;;) {
      const error = await new Promise<string | null>((resolve) => {
        const socket = connectAndSubscribe(this.opts.port, 'bench-share-load');
        d.socket = socket;
        d.authorized = false;
        d.jobId = null;
        const timer = setTimeout(() => resolve('no job within 10 s'), 10_000);
        const check = setInterval(() => {
          if (d.ready) {
            clearTimeout(timer);
            clearInterval(check);
            resolve(null);
          }
        }, 5);
        socket.on('data', (chunk: Buffer) => {
          const at = performance.now();
          d.framer.push(chunk, (line) => this.onLine(d, line, at));
        });
        socket.on('error', (err) => {
          clearTimeout(timer);
          clearInterval(check);
          resolve((err as NodeJS.ErrnoException).code ?? err.message);
        });
        socket.on('close', () => {
          clearTimeout(timer);
          clearInterval(check);
          if (!d.ready) resolve(d.failure ?? 'closed by the proxy');
          else if (this.running) d.failure = 'closed by the proxy during the run';
        });
      });
      if (error === null) return;
      d.socket?.destroy();
      if (performance.now() > deadline) throw new Error(`device ${d.worker} could not get work from the proxy: ${error}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private onLine(d: LoadDevice, line: string, at: number): void {
    let msg: { id?: unknown; method?: unknown; params?: unknown; result?: unknown; error?: unknown };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return;
    }
    if (typeof msg.method === 'string') {
      const params = Array.isArray(msg.params) ? msg.params : [];
      if (msg.method === 'mining.notify' && typeof params[0] === 'string' && typeof params[7] === 'string') {
        d.jobId = params[0];
        d.ntime = params[7];
      }
      return;
    }
    const id = msg.id;
    if (typeof id !== 'number') return;
    if (id >= FIRST_SEQ) return this.onAnswer(d, id, msg.result === true, msg.error, at);
    const step = handshakeStep(msg, d.socket, d.worker);
    if (step?.step === 'subscribed') {
      d.en1 = step.extranonce1;
      d.en2Size = step.extranonce2Size;
    } else if (step?.step === 'authorized') d.authorized = true;
    else if (step?.step === 'refused') {
      d.failure = step.reason;
      d.socket?.destroy();
    }
  }

  private onAnswer(d: LoadDevice, seq: number, accepted: boolean, error: unknown, at: number): void {
    this.opts.timeline.answered(seq, at, accepted);
    d.inFlight--;
    this.inFlight--;
    if (!accepted) {
      this.rejectedCount++;
      const text = Array.isArray(error) ? `${String(error[0])} ${String(error[1])}` : JSON.stringify(error);
      this.rejectReasons[text] = (this.rejectReasons[text] ?? 0) + 1;
    }
    if (this.running && this.closedLoopWindow > 0) {
      while (d.inFlight < this.closedLoopWindow) if (!this.submit(d)) break;
    }
  }

  /** Send one unique share from device `d`; false when the device cannot submit. */
  private submit(d: LoadDevice): boolean {
    const socket = d.socket;
    if (!d.ready || !socket || socket.destroyed) return false;
    const seq = this.seq++;
    const hex = (seq >>> 0).toString(16).padStart(8, '0');
    const en2 = d.en2Size >= 4 ? hex.padStart(d.en2Size * 2, '0') : hex.slice(8 - d.en2Size * 2);
    const line = `{"id":${seq},"method":"mining.submit","params":["${d.worker}","${d.jobId}","${en2}","${d.ntime}","${hex}"]}\n`;
    this.opts.timeline.sent(seq, performance.now());
    socket.write(line);
    d.inFlight++;
    this.inFlight++;
    return true;
  }

  /** One measured step: warm up, measure, then drain (wait for the answers still due, bounded). */
  async step(o: StepOptions): Promise<StepResult> {
    const timeline = this.opts.timeline;
    const rejectedBefore = this.rejectedCount;
    for (const k of Object.keys(this.rejectReasons)) delete this.rejectReasons[k];
    this.running = true;
    let skipped = 0;
    const t0 = performance.now();
    // The window as the timers really marked it (a timer may fire late).
    let w0 = t0 + o.warmupMs;
    let w1 = w0 + o.measureMs;
    let seqW0 = -1;
    let seqW1 = -1;
    let cpuW0: number | null = null;
    let cpuW1: number | null = null;
    let loadCpu0 = process.cpuUsage();
    let loadCpu = { user: 0, system: 0 };
    let elu0 = performance.eventLoopUtilization();
    let elu = 0;
    const loopDelay = monitorEventLoopDelay({ resolution: 1 });
    const markStart = () => {
      loopDelay.enable();
      w0 = performance.now();
      seqW0 = this.seq;
      skippedAtW0 = skipped;
      cpuW0 = o.proxyPid === null ? null : treeCpuSeconds(o.proxyPid);
      loadCpu0 = process.cpuUsage();
      elu0 = performance.eventLoopUtilization();
    };
    let skippedAtW0 = 0;
    const markEnd = () => {
      w1 = performance.now();
      seqW1 = this.seq;
      cpuW1 = o.proxyPid === null ? null : treeCpuSeconds(o.proxyPid);
      loadCpu = process.cpuUsage(loadCpu0);
      elu = performance.eventLoopUtilization(elu0).utilization;
      loopDelay.disable();
      this.running = false;
    };

    await new Promise<void>((resolve) => {
      setTimeout(markStart, o.warmupMs);
      setTimeout(() => {
        markEnd();
        resolve();
      }, o.warmupMs + o.measureMs);
      if (o.rate === null) {
        this.closedLoopWindow = o.windowPerDevice;
        for (const d of this.devices) while (d.inFlight < o.windowPerDevice) if (!this.submit(d)) break;
        return;
      }
      this.closedLoopWindow = 0;
      const rate = o.rate;
      let scheduled = 0;
      let next = 0;
      const tick = () => {
        if (!this.running) return;
        const due = Math.floor(((performance.now() - t0) * rate) / 1000) - scheduled;
        for (let i = 0; i < due; i++) {
          scheduled++;
          if (this.inFlight >= o.maxInFlight) {
            skipped++;
            continue;
          }
          // Round robin over the devices, skipping any that cannot submit.
          for (let tries = 0; tries < this.devices.length; tries++) {
            const d = this.devices[next]!;
            next = (next + 1) % this.devices.length;
            if (this.submit(d)) break;
          }
        }
        setTimeout(tick, 1);
      };
      tick();
    });
    this.closedLoopWindow = 0;

    // Drain: the answers still due (bounded).
    const drainEnd = performance.now() + 5000;
    while (this.inFlight > 0 && performance.now() < drainEnd) await new Promise((r) => setTimeout(r, 10));

    const seconds = (w1 - w0) / 1000;
    let sent = 0;
    let unanswered = 0;
    let notForwarded = 0;
    const forward: number[] = [];
    const answer: number[] = [];
    for (let s = seqW0; s < seqW1; s++) {
      const i = timeline.slot(s);
      sent++;
      const sentAt = timeline.sentAt[i]!;
      const poolAt = timeline.poolAt[i]!;
      const answeredAt = timeline.answeredAt[i]!;
      if (!Number.isNaN(poolAt)) forward.push(poolAt - sentAt);
      if (Number.isNaN(answeredAt)) unanswered++;
      else answer.push(answeredAt - sentAt);
      if (timeline.verdict[i] === 1 && Number.isNaN(poolAt)) notForwarded++;
    }
    // Throughput: answers and pool receipts that fell inside the window, whenever their share was sent.
    let validated = 0;
    let forwarded = 0;
    const from = Math.max(FIRST_SEQ, seqW0 - 200_000);
    for (let s = from; s < this.seq; s++) {
      const i = timeline.slot(s);
      const a = timeline.answeredAt[i]!;
      if (timeline.verdict[i] === 1 && a >= w0 && a < w1) validated++;
      const p = timeline.poolAt[i]!;
      if (p >= w0 && p < w1) forwarded++;
    }
    const cpu = cpuW0 !== null && cpuW1 !== null ? (cpuW1 as number) - (cpuW0 as number) : null;
    const lat = (xs: number[]): LatencySummary => {
      const s = summarize(xs);
      return { p50: round(s.p50, 3), p99: round(s.p99, 3), max: round(s.max, 3), count: s.count };
    };
    // Devices whose connection broke no longer count towards in-flight.
    for (const d of this.devices) {
      this.inFlight -= d.inFlight;
      d.inFlight = 0;
    }
    this.inFlight = Math.max(0, this.inFlight);
    return {
      mode: o.rate === null ? 'closed' : 'open',
      offeredPerSecond: o.rate,
      seconds,
      sentPerSecond: round(sent / seconds, 1)!,
      validatedPerSecond: round(validated / seconds, 1)!,
      forwardedPerSecond: round(forwarded / seconds, 1)!,
      rejected: this.rejectedCount - rejectedBefore,
      rejectReasons: { ...this.rejectReasons },
      unanswered,
      notForwarded,
      forwardMs: lat(forward),
      answerMs: lat(answer),
      proxyCpuSeconds: round(cpu, 3),
      proxyCpuPer1000: cpu !== null && validated > 0 ? round((cpu / validated) * 1000, 4) : null,
      proxyCpuBusy: cpu !== null ? round(cpu / seconds, 3) : null,
      loadCpuBusy: round((loadCpu.user + loadCpu.system) / 1e6 / seconds, 3)!,
      loadElu: round(elu, 3)!,
      // The histogram holds the intervals of a 1 ms timer (ns): the delay is what exceeds the period.
      loadLoopDelayP99Ms: round(Math.max(0, loopDelay.percentile(99) / 1e6 - 1), 2)!,
      skippedAtCap: skipped - skippedAtW0,
      proxyRssKiB: o.proxyPid === null ? null : treeRssKiB(o.proxyPid),
    };
  }

  /** Connections that broke during the run (the proxy dropped them). */
  failures(): string[] {
    return this.devices.filter((d) => d.failure !== null).map((d) => `${d.worker}: ${d.failure}`);
  }
}
