import net from 'node:net';
import tls from 'node:tls';
import { LineFramer } from '../../src/stratum/framing.js';
import { parseLine, type RpcId, type RpcRequest } from '../../src/stratum/jsonrpc.js';

/**
 * A tiny Stratum pool for tests, on 127.0.0.1 and an OS-chosen port, whose behaviour each test scripts:
 * answers, silence, garbage, delays, drops. Either step by step (`await client.next('mining.subscribe')`,
 * then `client.reply(...)`), or with a `behaviour` that answers every request of every connection.
 * Every wait is bounded; `close()` destroys every socket and the server.
 */

export const DEFAULT_WAIT_MS = 10_000;

export type Behaviour = (client: ScriptedClient, request: RpcRequest) => void;

export class ScriptedClient {
  /** Every request the proxy sent, in order. */
  readonly requests: RpcRequest[] = [];
  /** Every raw line the proxy sent, in order. */
  readonly lines: string[] = [];
  readonly closed: Promise<void>;
  private isClosed = false;
  private readonly queue: RpcRequest[] = [];
  private waiters: { method: string | undefined; resolve: (r: RpcRequest) => void }[] = [];
  private closeWaiters: (() => void)[] = [];

  constructor(
    readonly socket: net.Socket,
    private readonly pool: ScriptedPool,
  ) {
    const framer = new LineFramer(1024 * 1024);
    socket.on('data', (chunk: Buffer) => {
      framer.push(chunk, (line) => this.onLine(line));
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        for (const w of this.closeWaiters) w();
        this.closeWaiters = [];
        resolve();
      }),
    );
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  private onLine(line: string): void {
    this.lines.push(line);
    const parsed = parseLine(line);
    if (!parsed.ok || parsed.message.kind !== 'request') return;
    const req = parsed.message;
    this.requests.push(req);
    const i = this.waiters.findIndex((w) => w.method === undefined || w.method === req.method);
    if (i !== -1) {
      const [w] = this.waiters.splice(i, 1);
      w!.resolve(req);
    } else {
      this.queue.push(req);
    }
    this.pool.behaviour?.(this, req);
  }

  /** The next request from the proxy (of `method` if given; others stay queued). Rejects after `timeoutMs`. */
  next(method?: string, timeoutMs = DEFAULT_WAIT_MS): Promise<RpcRequest> {
    const i = this.queue.findIndex((r) => method === undefined || r.method === method);
    if (i !== -1) return Promise.resolve(this.queue.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = {
        method,
        resolve: (r: RpcRequest) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`scripted pool: no ${method ?? 'request'} from the proxy within ${timeoutMs} ms (got: ${this.requests.map((r) => r.method).join(', ') || 'nothing'})`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Resolves when the proxy closed this connection; rejects after `timeoutMs`. */
  waitClosed(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    if (this.isClosed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`scripted pool: connection still open after ${timeoutMs} ms`)), timeoutMs);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Send one raw line (a newline is added). */
  sendLine(line: string): void {
    if (!this.socket.destroyed) this.socket.write(line + '\n');
  }

  /** Send raw bytes as they are. */
  sendRaw(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  send(message: object): void {
    this.sendLine(JSON.stringify(message));
  }

  reply(id: RpcId, result: unknown, error: unknown = null): void {
    this.send({ id, result, error });
  }

  notify(method: string, params: unknown[]): void {
    this.send({ id: null, method, params });
  }

  /** A request from the pool that expects an answer. */
  request(id: RpcId, method: string, params: unknown[]): void {
    this.send({ id, method, params });
  }

  /** Close gracefully (FIN). */
  end(): void {
    this.socket.end();
  }

  /** Drop the connection at once. */
  destroy(): void {
    this.socket.destroy();
  }
}

export interface ScriptedPoolOptions {
  /** Serve TLS with this key and certificate (PEM). */
  tls?: { key: string; cert: string };
  behaviour?: Behaviour;
}

export class ScriptedPool {
  /** Answers every request of every connection when set (tests may swap it at any time). */
  behaviour: Behaviour | undefined;
  /** `reset`: accept and drop every new connection at once (a pool that is down). */
  mode: 'serve' | 'reset' = 'serve';
  readonly clients: ScriptedClient[] = [];
  private waiters: ((c: ScriptedClient) => void)[] = [];
  private readonly queue: ScriptedClient[] = [];
  private connectionCount = 0;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    readonly secure: boolean,
  ) {}

  static async start(options: ScriptedPoolOptions = {}): Promise<ScriptedPool> {
    const server = options.tls ? tls.createServer({ key: options.tls.key, cert: options.tls.cert }) : net.createServer();
    // TLS handshake failures (a client refusing our certificate) are expected in tests.
    server.on('tlsClientError', () => {});
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const port = (server.address() as net.AddressInfo).port;
    const pool = new ScriptedPool(server, port, options.tls !== undefined);
    pool.behaviour = options.behaviour;
    server.on(options.tls ? 'secureConnection' : 'connection', (socket: net.Socket) => pool.onConnection(socket));
    return pool;
  }

  get url(): string {
    return `${this.secure ? 'stratum+ssl' : 'stratum+tcp'}://127.0.0.1:${this.port}`;
  }

  /** Connections accepted so far (including those dropped in `reset` mode). */
  get connections(): number {
    return this.connectionCount;
  }

  private onConnection(socket: net.Socket): void {
    this.connectionCount++;
    if (this.mode === 'reset') {
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    const client = new ScriptedClient(socket, this);
    this.clients.push(client);
    const w = this.waiters.shift();
    if (w) w(client);
    else this.queue.push(client);
  }

  /** The next connection the proxy opens (in `serve` mode). Rejects after `timeoutMs`. */
  nextClient(timeoutMs = DEFAULT_WAIT_MS): Promise<ScriptedClient> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const waiter = (c: ScriptedClient) => {
        clearTimeout(timer);
        resolve(c);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`scripted pool :${this.port}: no connection within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Drop every open connection (the pool restarts). */
  dropAll(): void {
    for (const c of this.clients) c.destroy();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

// ---- ready-made pieces ------------------------------------------------------------------------------------

export const PREVHASH = 'bab4f0ed5b345d66f09116b42e910af88779357e5913fad10000000000000000';

/** Valid mining.notify params for job `jobId` (a small made-up coinbase; nothing here is hashed). */
export function notifyParams(jobId: string, cleanJobs = true, ntime = '6b0187b1'): unknown[] {
  return [
    jobId,
    PREVHASH,
    '03000500010000000000000000000000000000000000000000000000000000000000000000ffffffff20036018230408',
    '0d2f6e6f64655374726174756d2f0000000001',
    ['15ae55102d91ac5e3960b3d867ce579004d18847914c64a2973d59c82b446ecc'],
    '20000000',
    '1d3fffc0',
    ntime,
    cleanJobs,
  ];
}

export interface HealthyPoolScript {
  extranonce1?: string;
  extranonce2Size?: number;
  difficulty?: number;
  /** Job ids sent right after the subscribe answer (before the authorize answer, as real pools do). */
  jobs?: string[];
  /** Answer to mining.authorize (default true). */
  authorize?: (user: string) => { result: unknown; error?: unknown };
  /** Answer to mining.submit (default true). */
  submit?: (params: unknown[]) => { result: unknown; error?: unknown } | 'silence';
}

/** A well-behaved pool: subscribe, difficulty and jobs before the authorize answer, submits accepted. */
export function healthyPool(script: HealthyPoolScript = {}): Behaviour {
  const en1 = script.extranonce1 ?? 'f000000a';
  const size = script.extranonce2Size ?? 4;
  return (client, req) => {
    switch (req.method) {
      case 'mining.subscribe':
        client.reply(req.id, [[['mining.notify', 'ae6812eb4cd7735a302a8a9dd95cf71f']], en1, size]);
        client.notify('mining.set_difficulty', [script.difficulty ?? 0.5]);
        for (const id of script.jobs ?? ['1']) client.notify('mining.notify', notifyParams(id));
        return;
      case 'mining.authorize': {
        const a = script.authorize ? script.authorize(String(req.params[0])) : { result: true };
        client.reply(req.id, a.result, a.error ?? null);
        return;
      }
      case 'mining.submit': {
        const s = script.submit ? script.submit(req.params) : { result: true };
        if (s !== 'silence') client.reply(req.id, s.result, s.error ?? null);
        return;
      }
      default:
        return; // mining.extranonce.subscribe and mining.configure are never answered, like real pools
    }
  };
}

/** A port nothing listens on (taken from the OS, then released). */
/** Short failover timings for slot tests (two attempts, fast probes and backoff). */
export const FAST_SLOT = {
  failoverAfter: 2,
  probeIntervalMs: 100,
  backoff: { baseMs: 20, maxMs: 100, factor: 2, jitter: 'none' as const },
  connection: { handshakeTimeoutMs: 5000, connectTimeoutMs: 5000 },
};

export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves with the args of the next `event` from `emitter`; rejects after `timeoutMs`. */
export function nextEvent<T extends unknown[]>(
  emitter: { once(event: string, listener: (...args: any[]) => void): unknown; off(event: string, listener: (...args: any[]) => void): unknown },
  event: string,
  timeoutMs = DEFAULT_WAIT_MS,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const listener = (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args as T);
    };
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`no '${event}' event within ${timeoutMs} ms`));
    }, timeoutMs);
    emitter.once(event, listener);
  });
}
