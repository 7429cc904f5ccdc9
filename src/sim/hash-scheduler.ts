import { performance } from 'node:perf_hooks';

/**
 * Shares one event loop between thousands of simulated devices that hash. Every `tickMs` each busy task
 * earns hashes for the time that passed (its hashrate, scaled down when the fleet asks for more than
 * `maxHashrate`); the scheduler then spends them round-robin in small chunks, never for longer than
 * `sliceMs` at a stretch (the rest continues after the event loop has run I/O and timers). Idle tasks cost
 * one check per tick.
 */

export interface HashTask {
  /** Hashes per second the task wants. */
  readonly hashrate: number;
  /** True while the task has something to hash (connected, authorized, holding a job). */
  readonly busy: boolean;
  /** Spend up to `n` hashes; returns how many were done (fewer when the task went idle). */
  runHashes(n: number): number;
}

export interface HashSchedulerOptions {
  /** Fleet-wide cap on hashes per second (default 20,000: about half a core with the WASM X11). */
  maxHashrate?: number;
  /** How often credits are handed out (ms, default 50). */
  tickMs?: number;
  /** Longest stretch of hashing before yielding to the event loop (ms, default 8). */
  sliceMs?: number;
  /** Hashes per call to one task (default 32). */
  chunk?: number;
}

export interface HashSchedulerStats {
  /** Hashes done since start. */
  hashes: number;
  /** Tasks registered / busy at the last tick. */
  tasks: number;
  busy: number;
  /** Sum of the hashrates busy tasks ask for. */
  demandedHashrate: number;
  /** demanded x scale = what is handed out (<= maxHashrate). */
  grantedHashrate: number;
  /** Measured over the last few seconds. */
  measuredHashrate: number;
}

interface Entry {
  task: HashTask;
  credit: number;
}

export class HashScheduler {
  readonly maxHashrate: number;
  private readonly tickMs: number;
  private readonly sliceMs: number;
  private readonly chunk: number;
  private readonly entries: Entry[] = [];
  private readonly index = new Map<HashTask, Entry>();
  private cursor = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private lastTick = 0;
  private hashes = 0;
  private busyCount = 0;
  private demanded = 0;
  private scale = 1;
  private window: { at: number; hashes: number }[] = [];

  constructor(opts: HashSchedulerOptions = {}) {
    this.maxHashrate = opts.maxHashrate ?? 20_000;
    this.tickMs = opts.tickMs ?? 50;
    this.sliceMs = opts.sliceMs ?? 8;
    this.chunk = opts.chunk ?? 32;
    if (!(this.maxHashrate > 0)) throw new RangeError(`maxHashrate must be > 0, got ${this.maxHashrate}`);
    if (!(this.tickMs >= 1) || !(this.sliceMs >= 1) || !(this.chunk >= 1)) throw new RangeError('tickMs, sliceMs and chunk must be >= 1');
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  add(task: HashTask): void {
    if (this.index.has(task)) return;
    const e = { task, credit: 0 };
    this.index.set(task, e);
    this.entries.push(e);
  }

  remove(task: HashTask): void {
    const e = this.index.get(task);
    if (!e) return;
    this.index.delete(task);
    const i = this.entries.indexOf(e);
    const last = this.entries.pop()!;
    if (last !== e) this.entries[i] = last;
    if (this.cursor >= this.entries.length) this.cursor = 0;
  }

  start(): void {
    if (this.timer) return;
    this.lastTick = performance.now();
    this.window = [{ at: this.lastTick, hashes: this.hashes }];
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  stats(): HashSchedulerStats {
    const now = performance.now();
    const first = this.window[0];
    const measured = first && now - first.at > 0 ? ((this.hashes - first.hashes) * 1000) / (now - first.at) : 0;
    return {
      hashes: this.hashes,
      tasks: this.entries.length,
      busy: this.busyCount,
      demandedHashrate: this.demanded,
      grantedHashrate: this.demanded * this.scale,
      measuredHashrate: measured,
    };
  }

  private tick(): void {
    const now = performance.now();
    const dt = Math.min(1000, now - this.lastTick) / 1000;
    this.lastTick = now;
    let demanded = 0;
    let busy = 0;
    for (const e of this.entries) {
      if (e.task.busy && e.task.hashrate > 0) {
        demanded += e.task.hashrate;
        busy++;
      }
    }
    this.demanded = demanded;
    this.busyCount = busy;
    this.scale = demanded > this.maxHashrate ? this.maxHashrate / demanded : 1;
    for (const e of this.entries) {
      if (!e.task.busy || e.task.hashrate <= 0) {
        e.credit = 0;
        continue;
      }
      const rate = e.task.hashrate * this.scale;
      // At most one second of backlog: a fleet that cannot keep up does not snowball.
      e.credit = Math.min(e.credit + rate * dt, rate + this.chunk);
    }
    this.window.push({ at: now, hashes: this.hashes });
    while (this.window.length > 2 && now - this.window[0]!.at > 5000) this.window.shift();
    if (!this.immediate) this.drain();
  }

  private drain(): void {
    this.immediate = undefined;
    const deadline = performance.now() + this.sliceMs;
    const n = this.entries.length;
    for (;;) {
      let remaining = false;
      for (let visited = 0; visited < n && this.entries.length > 0; visited++) {
        if (this.cursor >= this.entries.length) this.cursor = 0;
        const e = this.entries[this.cursor++]!;
        if (e.credit < 1) continue;
        if (!e.task.busy) {
          e.credit = 0;
          continue;
        }
        const want = Math.min(Math.floor(e.credit), this.chunk);
        const done = e.task.runHashes(want);
        this.hashes += done;
        e.credit = done < want ? 0 : e.credit - done;
        if (e.credit >= 1) remaining = true;
        if (performance.now() >= deadline) {
          if (this.timer) this.immediate = setImmediate(() => this.drain());
          return;
        }
      }
      if (!remaining) return;
    }
  }
}
