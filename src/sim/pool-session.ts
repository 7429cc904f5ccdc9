import type { Socket } from 'node:net';
import { LineFramer } from '../stratum/framing.js';
import { newCounters, type ShareCounters } from './counters.js';

/**
 * One connection to the simulated pool: its Stratum state and an ordered output. Answers leave in request
 * order even when some are delayed (a late submit answer holds back the answers behind it), as a real
 * pool does; notifications that are not answers (jobs) go straight out.
 */
export class PoolSession {
  readonly framer: LineFramer;
  readonly connectedAt = Date.now();
  readonly counters: ShareCounters = newCounters();
  /** Worker names authorized on this connection. */
  readonly workers = new Set<string>();
  subscribed = false;
  extranonce1 = '';
  /** The extranonce1 before the last `mining.set_extranonce`: jobs issued before `extranonceSinceSeq` still use it. */
  previousExtranonce1: string | null = null;
  extranonceSinceSeq = 0;
  extranonceSubscribed = false;
  /** BIP 310 mask granted by `mining.configure` (0: no version rolling). */
  versionMask = 0;
  /** The difficulty last sent with `mining.set_difficulty` (NaN before the first). */
  sentDifficulty = NaN;
  /** True once the first set_difficulty + notify went out. */
  working = false;
  private queue: { at: number; data: string | Buffer }[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly id: number,
    readonly socket: Socket,
    readonly remote: string,
    maxLineBytes: number,
  ) {
    this.framer = new LineFramer(maxLineBytes);
  }

  get open(): boolean {
    return !this.socket.destroyed && this.socket.writable;
  }

  /** The extranonce1 a share on job `seq` was mined with. */
  extranonce1For(seq: number | undefined): string {
    if (this.previousExtranonce1 !== null && seq !== undefined && seq < this.extranonceSinceSeq) return this.previousExtranonce1;
    return this.extranonce1;
  }

  /** Write now (jobs, difficulty), regardless of queued answers. */
  write(data: string | Buffer): void {
    if (this.open) this.socket.write(data);
  }

  /** Send in order with earlier answers; `delayMs` holds this one (and everything after it) back. */
  send(data: string | Buffer, delayMs = 0): void {
    if (delayMs <= 0 && this.queue.length === 0) {
      this.write(data);
      return;
    }
    this.queue.push({ at: Date.now() + Math.max(0, delayMs), data });
    if (this.timer === undefined) this.schedule();
  }

  close(): void {
    this.clearQueue();
    this.socket.destroy();
  }

  clearQueue(): void {
    this.queue = [];
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    const head = this.queue[0];
    if (!head) {
      this.timer = undefined;
      return;
    }
    this.timer = setTimeout(() => this.flush(), Math.max(0, head.at - Date.now()));
  }

  private flush(): void {
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0]!.at <= now) this.write(this.queue.shift()!.data);
    this.schedule();
  }
}
