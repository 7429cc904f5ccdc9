import net from 'node:net';
import type { Duplex } from 'node:stream';
import { LineFramer } from '../../src/stratum/framing.js';
import { parseLine, type RpcId, type RpcMessage, type RpcRequest, type RpcResponse } from '../../src/stratum/jsonrpc.js';
import type { NotifyParams } from '../../src/stratum/messages.js';

/**
 * The device side of a Stratum V1 connection for tests, over loopback (from a chosen 127.x.y.z source address
 * when a test needs several "addresses"), or over an in-memory stream (`over`, with test/helpers/duplex-pair.ts). Everything received is kept, in arrival order, three ways:
 * - `rawLines`: every line as text (garbage too);
 * - `lines`: every line that is JSON, as `JSON.parse` reads it;
 * - `messages`: every line that is a Stratum message, as src/stratum/jsonrpc.ts reads it (with `kind`);
 *   read from `rawLines` when first asked for, so clients that never use them pay nothing.
 *
 * Two ways to wait, both bounded (they reject on time out, or when the connection closes first):
 * - `request` / `waitFor` look at `lines` and leave them where they are (later waits may see them again);
 * - `take` / `next` / `response` / `notification` hand out `messages` one at a time: a message handed out is
 *   not handed out again, messages before it stay available (`pending()` lists those not taken).
 */

export interface Line {
  id?: unknown;
  method?: string;
  params?: unknown[];
  result?: unknown;
  error?: unknown;
}

/** A Stratum error answer's `[code, message, data]` (null for a success). */
export const errorOf = (l: Line) => l.error as [number, string, null] | null;

/** The job a mining.notify line carries, as NotifyParams. */
export const notifyOf = (l: Line): NotifyParams => {
  const [jobId, prevhash, coinb1, coinb2, merkleBranch, version, nbits, ntime, cleanJobs] = l.params as [string, string, string, string, string[], string, string, string, boolean];
  return { jobId, prevhash, coinb1, coinb2, merkleBranch, version, nbits, ntime, cleanJobs };
};

const WAIT_MS = 15_000;
/** Big enough for any line a test makes the proxy or a pool send (padded jobs included). */
const MAX_LINE_BYTES = 4 * 1024 * 1024;

export class LineClient {
  readonly rawLines: string[] = [];
  readonly lines: Line[] = [];
  closed = false;
  private readonly parsed: RpcMessage[] = [];
  /** How many of `rawLines` were read into `parsed`. */
  private parsedLines = 0;
  private nextId = 1;
  private lineWaiters: { test: (l: Line) => boolean; resolve: (l: Line) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  private messageWaiters: { test: (m: RpcMessage) => boolean; resolve: (m: RpcMessage) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  private readonly taken = new Set<RpcMessage>();
  private closeWaiters: (() => void)[] = [];

  private constructor(readonly socket: Duplex) {
    const framer = new LineFramer(MAX_LINE_BYTES);
    socket.on('data', (chunk: Buffer) => framer.push(chunk, (text) => this.onLine(text)));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      for (const w of [...this.lineWaiters.splice(0), ...this.messageWaiters.splice(0)]) {
        clearTimeout(w.timer);
        w.reject(new Error('connection closed'));
      }
      for (const c of this.closeWaiters.splice(0)) c();
    });
  }

  /** A client over an in-memory stream (the device end of `duplexPair()`): no socket. */
  static over(stream: Duplex): LineClient {
    return new LineClient(stream);
  }

  /** Connect to 127.0.0.1:`port` from the loopback address `from`. */
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

  /** Write bytes as they are (no newline is added). */
  sendRaw(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /** Write one line: a string as it is or an object as JSON, then a newline. */
  sendLine(line: string | object): void {
    this.sendRaw((typeof line === 'string' ? line : JSON.stringify(line)) + '\n');
  }

  /** Send a request without waiting for its answer (read it with `response(id)` or `take()`). */
  sendRequest(id: RpcId, method: string, params: unknown[] = []): void {
    this.sendLine({ id, method, params });
  }

  /** Send a request; resolves with the answer carrying its id (a fresh numeric id unless one is given). */
  request(method: string, params: unknown[], id: number | string = this.nextId++, timeoutMs = WAIT_MS): Promise<Line> {
    const answer = this.waitFor((l) => l.id === id && l.method === undefined, timeoutMs);
    this.sendRequest(id, method, params);
    return answer;
  }

  /** The next JSON line that passes `test` (with `fromStart`, the first one received so far if there is one). */
  waitFor(test: (l: Line) => boolean, timeoutMs = WAIT_MS, fromStart = false): Promise<Line> {
    if (fromStart) {
      const hit = this.lines.find(test);
      if (hit) return Promise.resolve(hit);
    }
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('connection closed'));
      const timer = setTimeout(() => {
        this.lineWaiters = this.lineWaiters.filter((w) => w.timer !== timer);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a line`));
      }, timeoutMs);
      this.lineWaiters.push({ test, resolve, reject, timer });
    });
  }

  /** Every message received so far, in order. */
  get messages(): readonly RpcMessage[] {
    this.readMessages();
    return this.parsed;
  }

  /** The notifications (lines with this method) received so far. */
  notifications(method: string): Line[] {
    return this.lines.filter((l) => l.method === method);
  }

  /** The next message not taken yet, in arrival order. */
  take(timeoutMs = WAIT_MS): Promise<RpcMessage> {
    return this.next(() => true, timeoutMs);
  }

  /** The first message not taken yet that passes `test` (messages before it stay available). */
  next(test: (m: RpcMessage) => boolean, timeoutMs = WAIT_MS): Promise<RpcMessage> {
    for (const m of this.messages) {
      if (!this.taken.has(m) && test(m)) {
        this.taken.add(m);
        return Promise.resolve(m);
      }
    }
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('connection closed'));
      const timer = setTimeout(() => {
        this.messageWaiters = this.messageWaiters.filter((w) => w.timer !== timer);
        reject(new Error(`LineClient: no matching message within ${timeoutMs} ms (received: ${this.rawLines.slice(-5).join(' | ')})`));
      }, timeoutMs);
      this.messageWaiters.push({ test, resolve, reject, timer });
    });
  }

  /** The answer to request `id` (taken). */
  response(id: RpcId, timeoutMs = WAIT_MS): Promise<RpcResponse> {
    return this.next((m) => m.kind === 'response' && m.id === id, timeoutMs) as Promise<RpcResponse>;
  }

  /** The next notification or request of `method` (taken). */
  notification(method: string, timeoutMs = WAIT_MS): Promise<RpcRequest> {
    return this.next((m) => m.kind === 'request' && m.method === method, timeoutMs) as Promise<RpcRequest>;
  }

  /** Messages not taken yet. */
  pending(): RpcMessage[] {
    return this.messages.filter((m) => !this.taken.has(m));
  }

  /** Resolves once the connection is closed (by either side). */
  waitClosed(timeoutMs = WAIT_MS): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`still open after ${timeoutMs} ms`)), timeoutMs);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onLine(text: string): void {
    this.rawLines.push(text);
    let line: Line;
    try {
      line = JSON.parse(text) as Line;
    } catch {
      return;
    }
    this.lines.push(line);
    const w = this.lineWaiters.find((x) => x.test(line));
    if (w) {
      clearTimeout(w.timer);
      this.lineWaiters = this.lineWaiters.filter((x) => x !== w);
      w.resolve(line);
    }
    if (this.messageWaiters.length > 0) this.readMessages();
  }

  /** Read the lines not read yet into messages, each handed to the first waiter it satisfies. */
  private readMessages(): void {
    for (; this.parsedLines < this.rawLines.length; this.parsedLines++) {
      const outcome = parseLine(this.rawLines[this.parsedLines]!);
      if (!outcome.ok) continue;
      const m = outcome.message;
      this.parsed.push(m);
      const w = this.messageWaiters.find((x) => x.test(m));
      if (w) {
        clearTimeout(w.timer);
        this.messageWaiters = this.messageWaiters.filter((x) => x !== w);
        this.taken.add(m);
        w.resolve(m);
      }
    }
  }
}
