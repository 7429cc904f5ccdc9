import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The HTTP side of the simulated dashd: JSON-RPC 1.0 over POST with HTTP basic authentication, as Dash
 * Core's RPC server speaks it. A wrong login gets 401 with no body; an answer is `{ result, error, id }`
 * with HTTP 200, or with the error's status (404 method not found, 400 invalid request, 500 otherwise); a
 * JSON array is a batch (HTTP 200, one answer per request). It knows nothing of Dash: `call` answers.
 */

/** An RPC error as Dash Core returns it (`{ code, message }`). */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

/** Dash Core's RPC error codes used by the simulator. */
export const RpcCode = {
  MiscError: -1,
  TypeError: -3,
  InvalidAddressOrKey: -5,
  InvalidParameter: -8,
  ClientNotConnected: -9,
  ClientInInitialDownload: -10,
  DeserializationError: -22,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  ParseError: -32700,
} as const;

export interface RpcHttpOptions {
  host: string;
  port: number;
  /** Whether an `Authorization` header's user and password may call. */
  authorize: (user: string, password: string) => boolean;
  call: (method: string, params: unknown[], request: { closed: AbortSignal }) => Promise<unknown>;
  /** Called for each request before anything else; a request held here waits (a hung node). */
  gate: () => Promise<void>;
  onUnauthorized: () => void;
  /** Request bodies over this many bytes get 413 (default 32 MiB: a large block's hex). */
  maxBodyBytes?: number;
}

const DEFAULT_MAX_BODY = 32 * 1024 * 1024;

function statusOf(code: number): number {
  if (code === RpcCode.MethodNotFound) return 404;
  if (code === RpcCode.InvalidRequest) return 400;
  return 500;
}

function credentials(header: string | undefined): { user: string; password: string } | null {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m) return null;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon === -1 ? null : { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

async function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export class RpcHttpServer {
  private server: http.Server | undefined;
  private boundPort: number;

  constructor(private readonly opts: RpcHttpOptions) {
    this.boundPort = opts.port;
  }

  get port(): number {
    return this.boundPort;
  }

  get listening(): boolean {
    return this.server?.listening ?? false;
  }

  /** Listen on the configured port (port 0: a free one, kept for the next `listen` after `close`). */
  async listen(): Promise<number> {
    // A client that goes away mid-request (its body cut short) ends that exchange, never the process.
    const server = http.createServer((req, res) => void this.handle(req, res).catch(() => res.destroy()));
    server.keepAliveTimeout = 30_000;
    server.headersTimeout = 0; // a long-poll may wait long before its answer
    server.requestTimeout = 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.boundPort, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.boundPort = (server.address() as AddressInfo).port;
    return this.boundPort;
  }

  /** Stop listening and drop every connection (waiting long-polls included). */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const closed = new AbortController();
    res.on('close', () => closed.abort());
    await this.opts.gate();
    if (closed.signal.aborted) return;
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    const login = credentials(req.headers.authorization);
    if (!login || !this.opts.authorize(login.user, login.password)) {
      this.opts.onUnauthorized();
      req.resume();
      res.writeHead(401, { 'www-authenticate': 'Basic realm="jsonrpc"' }).end();
      return;
    }
    const body = await readBody(req, this.opts.maxBodyBytes ?? DEFAULT_MAX_BODY);
    if (body === null) {
      res.writeHead(413).end();
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      this.send(res, 500, { result: null, error: { code: RpcCode.ParseError, message: 'Parse error' }, id: null });
      return;
    }
    if (Array.isArray(parsed)) {
      const answers = await Promise.all(parsed.map((one) => this.answer(one, closed.signal)));
      this.send(res, 200, answers.map((a) => a.body));
      return;
    }
    const answer = await this.answer(parsed, closed.signal);
    this.send(res, answer.status, answer.body);
  }

  private async answer(request: unknown, closed: AbortSignal): Promise<{ status: number; body: unknown }> {
    const r = (typeof request === 'object' && request !== null ? request : {}) as { id?: unknown; method?: unknown; params?: unknown };
    const id = r.id ?? null;
    try {
      if (typeof r.method !== 'string') throw new RpcError(RpcCode.InvalidRequest, 'Method must be a string');
      if (r.params !== undefined && r.params !== null && !Array.isArray(r.params)) throw new RpcError(RpcCode.InvalidRequest, 'Params must be an array');
      const result = await this.opts.call(r.method, (r.params as unknown[] | undefined) ?? [], { closed });
      return { status: 200, body: { result: result ?? null, error: null, id } };
    } catch (err) {
      const e = err instanceof RpcError ? err : new RpcError(RpcCode.MiscError, `internal error: ${(err as Error).message}`);
      return { status: statusOf(e.code), body: { result: null, error: { code: e.code, message: e.message }, id } };
    }
  }

  private send(res: http.ServerResponse, status: number, body: unknown): void {
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body) + '\n');
  }
}
