import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The proxy's HTTP server: one port for /metrics, the JSON API, health, the dashboard and its websocket feed.
 * Features add routes; the server owns listening, the optional read-only token and error handling.
 */
export type RouteHandler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => void | Promise<void>;

export interface HttpRoute {
  method: 'GET' | 'POST' | 'HEAD';
  /** Exact path, or a prefix when it ends with '/'. */
  path: string;
  handler: RouteHandler;
  /** Served without the token (health checks). */
  public?: boolean;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  /** When set, every non-public route needs `Authorization: Bearer <token>` or `?token=<token>`. */
  token?: string | undefined;
}

export class HttpServer {
  readonly server: http.Server;
  private readonly routes: HttpRoute[] = [];

  constructor(readonly options: HttpServerOptions) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: `internal error: ${(err as Error).message}` });
        else res.destroy();
      });
    });
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 30_000;
  }

  route(route: HttpRoute): this {
    this.routes.push(route);
    return this;
  }

  /** True when the request carries the token (or none is configured). */
  authorized(req: http.IncomingMessage, url: URL): boolean {
    const token = this.options.token;
    if (!token) return true;
    const header = req.headers.authorization;
    const given = header?.startsWith('Bearer ') ? header.slice(7) : url.searchParams.get('token');
    return given !== null && given !== undefined && sameSecret(given, token);
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return sendJson(res, 400, { error: 'bad request URL' });
    }
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const candidates = this.routes.filter((r) => (r.path.endsWith('/') && r.path !== '/' ? url.pathname.startsWith(r.path) : url.pathname === r.path));
    if (candidates.length === 0) return sendJson(res, 404, { error: `no such path: ${url.pathname}` });
    const route = candidates.find((r) => r.method === method);
    if (!route) return sendJson(res, 405, { error: `method ${req.method} not allowed on ${url.pathname}` });
    if (!route.public && !this.authorized(req, url)) return sendJson(res, 401, { error: 'token required' });
    await route.handler(req, res, url);
  }
}

/** Constant-time comparison, so the token cannot be guessed from response times. */
function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
