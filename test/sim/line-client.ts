import net from 'node:net';
import { LineFramer } from '../../src/stratum/framing.js';
import { parseLine, type RpcMessage } from '../../src/stratum/jsonrpc.js';

/**
 * A bare Stratum line client for tests: sends raw lines, keeps every message received in order, and waits
 * (with a bounded timeout) for the next one or the next one matching a predicate.
 */
export class LineClient {
  readonly received: RpcMessage[] = [];
  readonly rawLines: string[] = [];
  private readonly waiters: { pred: (m: RpcMessage) => boolean; resolve: (m: RpcMessage) => void }[] = [];
  private consumed = new Set<RpcMessage>();
  closed = false;
  readonly closedPromise: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    const framer = new LineFramer(1 << 20);
    socket.on('data', (chunk: Buffer) =>
      framer.push(chunk, (line) => {
        this.rawLines.push(line);
        const p = parseLine(line);
        if (p.ok) this.deliver(p.message);
      }),
    );
    socket.on('error', () => undefined);
    this.closedPromise = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        resolve();
      }),
    );
  }

  static connect(port: number, host = '127.0.0.1'): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      socket.once('connect', () => resolve(new LineClient(socket)));
      socket.once('error', reject);
    });
  }

  send(line: string | object): void {
    this.socket.write((typeof line === 'string' ? line : JSON.stringify(line)) + '\n');
  }

  request(id: number, method: string, params: unknown[] = []): void {
    this.send({ id, method, params });
  }

  /** The next message not yet taken, in arrival order. */
  take(timeoutMs = 5000): Promise<RpcMessage> {
    return this.next(() => true, timeoutMs);
  }

  /** The first message not yet taken that matches (messages before it stay available). */
  next(pred: (m: RpcMessage) => boolean, timeoutMs = 5000): Promise<RpcMessage> {
    for (const m of this.received) {
      if (!this.consumed.has(m) && pred(m)) {
        this.consumed.add(m);
        return Promise.resolve(m);
      }
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        pred,
        resolve: (m: RpcMessage) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`LineClient: no matching message within ${timeoutMs} ms (received: ${this.rawLines.slice(-5).join(' | ')})`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  response(id: number, timeoutMs = 5000): Promise<RpcMessage & { kind: 'response' }> {
    return this.next((m) => m.kind === 'response' && m.id === id, timeoutMs) as Promise<RpcMessage & { kind: 'response' }>;
  }

  notification(method: string, timeoutMs = 5000): Promise<RpcMessage & { kind: 'request' }> {
    return this.next((m) => m.kind === 'request' && m.method === method, timeoutMs) as Promise<RpcMessage & { kind: 'request' }>;
  }

  /** Messages not taken yet. */
  pending(): RpcMessage[] {
    return this.received.filter((m) => !this.consumed.has(m));
  }

  close(): void {
    this.socket.destroy();
  }

  private deliver(m: RpcMessage): void {
    this.received.push(m);
    const i = this.waiters.findIndex((w) => w.pred(m));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      this.consumed.add(m);
      w!.resolve(m);
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
