import net from 'node:net';
import { LineFramer } from '../../src/stratum/framing.js';

/** A bare Stratum client for tests: send lines, await answers by id or in order, collect notifications. */
export interface Line {
  id?: unknown;
  method?: string;
  params?: unknown[];
  result?: unknown;
  error?: unknown;
}

export class StratumTestClient {
  readonly received: Line[] = [];
  readonly raw: string[] = [];
  closed = false;
  private readonly socket: net.Socket;
  private readonly waiters: { test: (l: Line) => boolean; resolve: (l: Line) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  private nextId = 1;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    const framer = new LineFramer(1 << 20);
    socket.on('data', (chunk) =>
      framer.push(chunk, (text) => {
        this.raw.push(text);
        let line: Line;
        try {
          line = JSON.parse(text) as Line;
        } catch {
          return;
        }
        this.received.push(line);
        for (const w of [...this.waiters]) {
          if (w.test(line)) {
            clearTimeout(w.timer);
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(line);
            break;
          }
        }
      }),
    );
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new Error('connection closed'));
      }
    });
    socket.on('error', () => {});
  }

  static connect(port: number, host = '127.0.0.1'): Promise<StratumTestClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host }, () => resolve(new StratumTestClient(s)));
      s.once('error', reject);
    });
  }

  sendRaw(text: string): void {
    this.socket.write(text);
  }

  /** Send a request; resolves with the answer carrying its id. */
  request(method: string, params: unknown[], id: number | string = this.nextId++): Promise<Line> {
    const p = this.waitFor((l) => l.id === id && l.method === undefined);
    this.socket.write(JSON.stringify({ id, method, params }) + '\n');
    return p;
  }

  waitFor(test: (l: Line) => boolean, timeoutMs = 10_000, fromStart = false): Promise<Line> {
    if (fromStart) {
      const hit = this.received.find(test);
      if (hit) return Promise.resolve(hit);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.findIndex((w) => w.timer === timer), 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a line`));
      }, timeoutMs);
      this.waiters.push({ test, resolve, reject, timer });
    });
  }

  /** Notifications of a method received so far. */
  notifications(method: string): Line[] {
    return this.received.filter((l) => l.method === method);
  }

  waitClosed(timeoutMs = 10_000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('not closed in time')), timeoutMs);
      this.socket.once('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
