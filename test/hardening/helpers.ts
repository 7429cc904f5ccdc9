import net from 'node:net';
import { LineFramer } from '../../src/stratum/framing.js';
import type { NotifyParams } from '../../src/stratum/messages.js';
import type { Logger } from '../../src/observe/log.js';
import { loadBlocks } from '../helpers/fixtures.js';
import { mine } from '../helpers/mine.js';

/**
 * Pieces shared by the hardening tests: a line client that can pick its loopback source address (so one
 * "address" can flood while others behave), a well-behaved device that mines real X11 shares on the jobs
 * it is sent, a real Dash block as job material, a log recorder, bounded waits.
 */

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll `cond` every 10 ms; throws after `timeoutMs` naming `what`. */
export async function until(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(10);
  }
}

export interface Line {
  id?: unknown;
  method?: string;
  params?: unknown[];
  result?: unknown;
  error?: unknown;
}

/** A raw Stratum line client over loopback, from a chosen 127.x.y.z source address. */
export class LineClient {
  readonly lines: Line[] = [];
  readonly rawLines: string[] = [];
  closed = false;
  private nextId = 1;
  private waiters: { test: (l: Line) => boolean; resolve: (l: Line) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  private closeWaiters: (() => void)[] = [];

  private constructor(readonly socket: net.Socket) {
    const framer = new LineFramer(4 * 1024 * 1024);
    socket.on('data', (chunk: Buffer) =>
      framer.push(chunk, (text) => {
        this.rawLines.push(text);
        let line: Line;
        try {
          line = JSON.parse(text) as Line;
        } catch {
          return;
        }
        this.lines.push(line);
        for (const w of [...this.waiters]) {
          if (!w.test(line)) continue;
          clearTimeout(w.timer);
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(line);
          break;
        }
      }),
    );
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new Error('connection closed'));
      }
      for (const c of this.closeWaiters.splice(0)) c();
    });
  }

  static connect(port: number, from = '127.0.0.1', timeoutMs = 10_000): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1', localAddress: from });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no connection within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new LineClient(socket));
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  send(text: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(text);
  }

  request(method: string, params: unknown[], id: number | string = this.nextId++, timeoutMs = 15_000): Promise<Line> {
    const answer = this.waitFor((l) => l.id === id && l.method === undefined, timeoutMs);
    this.send(JSON.stringify({ id, method, params }) + '\n');
    return answer;
  }

  waitFor(test: (l: Line) => boolean, timeoutMs = 15_000, fromStart = false): Promise<Line> {
    if (fromStart) {
      const hit = this.lines.find(test);
      if (hit) return Promise.resolve(hit);
    }
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('connection closed'));
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a line`));
      }, timeoutMs);
      this.waiters.push({ test, resolve, reject, timer });
    });
  }

  waitClosed(timeoutMs = 15_000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`still open after ${timeoutMs} ms`)), timeoutMs);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  notifications(method: string): Line[] {
    return this.lines.filter((l) => l.method === method);
  }

  close(): void {
    this.socket.destroy();
  }
}

export const errorOf = (l: Line) => l.error as [number, string, null] | null;

/** NotifyParams from the params of a mining.notify line. */
export function notifyFromParams(p: unknown[]): NotifyParams {
  return {
    jobId: p[0] as string,
    prevhash: p[1] as string,
    coinb1: p[2] as string,
    coinb2: p[3] as string,
    merkleBranch: p[4] as string[],
    version: p[5] as string,
    nbits: p[6] as string,
    ntime: p[7] as string,
    cleanJobs: p[8] as boolean,
  };
}

/**
 * A well-behaved device: subscribes, authorizes, follows set_difficulty / set_extranonce / notify, and
 * mines real shares (X11, test/helpers/mine.ts) at the difficulty it was given, on the newest job.
 */
export class GoodDevice {
  extranonce1 = '';
  extranonce2Size = 0;
  private en2 = 0;
  readonly answers: Line[] = [];

  private constructor(
    readonly client: LineClient,
    readonly worker: string,
  ) {}

  static async connect(port: number, worker: string, from = '127.0.0.1', opts: { extranonceSubscribe?: boolean; password?: string } = {}): Promise<GoodDevice> {
    const client = await LineClient.connect(port, from);
    const d = new GoodDevice(client, worker);
    const sub = await client.request('mining.subscribe', ['good-miner/1.0']);
    if (errorOf(sub)) throw new Error(`subscribe refused: ${JSON.stringify(sub.error)}`);
    const r = sub.result as [unknown, string, number];
    d.extranonce1 = r[1];
    d.extranonce2Size = r[2];
    if (opts.extranonceSubscribe !== false) await client.request('mining.extranonce.subscribe', []);
    const auth = await client.request('mining.authorize', [worker, opts.password ?? 'x']);
    if (auth.result !== true) throw new Error(`authorize refused: ${JSON.stringify(auth.error)}`);
    return d;
  }

  get jobsReceived(): number {
    return this.client.notifications('mining.notify').length;
  }

  /** The newest job, the difficulty and extranonce in force for it. */
  current(): { notify: NotifyParams; difficulty: number; extranonce1: string; extranonce2Size: number } | null {
    let notify: NotifyParams | null = null;
    let difficulty = 1;
    let en1 = this.extranonce1;
    let size = this.extranonce2Size;
    for (const l of this.client.lines) {
      if (l.method === 'mining.set_difficulty') difficulty = l.params![0] as number;
      else if (l.method === 'mining.set_extranonce') {
        en1 = l.params![0] as string;
        size = l.params![1] as number;
        notify = null; // older jobs are void
      } else if (l.method === 'mining.notify') notify = notifyFromParams(l.params!);
    }
    return notify ? { notify, difficulty, extranonce1: en1, extranonce2Size: size } : null;
  }

  /** Mine one share on the newest job and submit it; resolves with the answer. */
  async submitOne(timeoutMs = 15_000): Promise<Line> {
    const cur = this.current();
    if (!cur) throw new Error(`${this.worker}: no job yet`);
    const en2 = (this.en2++).toString(16).padStart(cur.extranonce2Size * 2, '0');
    const share = mine(cur.notify, cur.extranonce1, en2, cur.difficulty, { startNonce: Math.floor(Math.random() * 2 ** 31) });
    const answer = await this.client.request('mining.submit', [this.worker, cur.notify.jobId, en2, share.ntime, share.nonce], undefined, timeoutMs);
    this.answers.push(answer);
    return answer;
  }
}

/** Real Dash block 844898 as a pool job (coinbase split around a 12-byte extranonce, as in test/proxy). */
const block = loadBlocks().find((b) => b.id === 'dash-mainnet-844898')!;
const full = block.stratum.coinb_full;
const scriptEnd = (block.coinbase.scriptsig_offset + block.coinbase.scriptsig_length) * 2;

export function blockNotify(jobId: string, clean = true, padCoinb2Bytes = 0): NotifyParams {
  const s = block.stratum;
  return {
    jobId,
    prevhash: s.prevhash,
    coinb1: full.slice(0, scriptEnd - 24),
    // Padding makes big job lines (a device that stops reading fills its buffer sooner); it is hashed like any coinbase byte.
    coinb2: full.slice(scriptEnd) + '00'.repeat(padCoinb2Bytes),
    merkleBranch: s.merkle_branch,
    version: s.version,
    nbits: s.nbits,
    ntime: s.ntime,
    cleanJobs: clean,
  };
}

/** A logger that keeps every record (level, message, fields) for assertions. */
export function recordingLogger(): Logger & { records: { level: string; msg: string; fields: Record<string, unknown> }[]; text(): string } {
  const records: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const make = (base: Record<string, unknown>): Logger => ({
    debug: (msg, f) => records.push({ level: 'debug', msg, fields: { ...base, ...f } }),
    info: (msg, f) => records.push({ level: 'info', msg, fields: { ...base, ...f } }),
    warn: (msg, f) => records.push({ level: 'warn', msg, fields: { ...base, ...f } }),
    error: (msg, f) => records.push({ level: 'error', msg, fields: { ...base, ...f } }),
    child: (f) => make({ ...base, ...f }),
  });
  return Object.assign(make({}), { records, text: () => records.map((r) => `${r.level} ${r.msg} ${JSON.stringify(r.fields)}`).join('\n') });
}
