import { readFile } from 'node:fs/promises';
import { Pool } from 'undici';
import { parseDashdUrl } from './dashd-settings.js';

/**
 * A JSON-RPC 1.0 client for one dashd (HTTP, basic auth), over one undici Pool. Every outcome is data: the
 * result, or a failure classified for the connection's decisions and worded for an operator:
 * - `unreachable`: no connection, or no answer in time;
 * - `auth`: dashd refused the login (HTTP 401/403), or the cookie file cannot be read;
 * - `syncing`: dashd is not ready to give work (-10 initial download or masternode sync, -9 no peers, -28
 *   warming up);
 * - `rpc`: another RPC error (its code and message);
 * - `bad-answer`: an answer that is not JSON-RPC.
 *
 * The login is the entry's user and password, or dashd's cookie file (`__cookie__:<password>`), read at the
 * first call and read again after a 401: dashd writes a new cookie every time it starts.
 */

export type RpcFailureKind = 'unreachable' | 'auth' | 'syncing' | 'rpc' | 'bad-answer';

export interface RpcFailure {
  kind: RpcFailureKind;
  /** What happened, for an operator ("dashd at http://127.0.0.1:9998 refused the RPC login (HTTP 401)..."). */
  message: string;
  /** dashd's RPC error code and its own words, for `syncing` and `rpc`. */
  code?: number;
  rpcMessage?: string;
}

export type RpcOutcome = { ok: true; result: unknown } | { ok: false; failure: RpcFailure };

export interface DashdRpcOptions {
  /** `http://host:port`. */
  url: string;
  user: string;
  password: string;
  /** dashd's `.cookie` file: used instead of user and password when set. */
  cookieFile?: string | null;
  /** Wait for an answer (and for a connection), milliseconds. Default 10000. */
  timeoutMs?: number;
  /** Connections to dashd at most (a long poll holds one). Default 4. */
  connections?: number;
}

export interface CallOptions {
  /** This call's wait, milliseconds (default: the client's). */
  timeoutMs?: number;
  /** A long poll: no wait limit (dashd answers when the tip changes); ended by `signal` or `close()`. */
  longpoll?: boolean;
  signal?: AbortSignal;
}

/** RPC error codes that mean "dashd is not ready to give work yet" (Dash Core's rpc/protocol.h). */
const NOT_READY_CODES: Record<number, string> = {
  [-10]: 'is still syncing (initial block download or masternode sync)',
  [-9]: 'is not connected to the Dash network (no peers)',
  [-28]: 'is still starting (loading the block index)',
};

export const DASHD_RPC_DEFAULTS = { timeoutMs: 10_000, connections: 4 };
/** A template of a full block is a few MB of hex; anything far bigger is not an answer. */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

export class DashdRpc {
  readonly url: string;
  private readonly pool: Pool;
  private readonly opts: Required<Omit<DashdRpcOptions, 'cookieFile'>> & { cookieFile: string | null };
  private authHeader: string | null = null;
  private nextId = 1;
  private closed = false;
  private readonly inFlight = new Set<AbortController>();

  constructor(options: DashdRpcOptions) {
    const endpoint = parseDashdUrl(options.url);
    this.url = endpoint.origin;
    this.opts = {
      url: options.url,
      user: options.user,
      password: options.password,
      cookieFile: options.cookieFile ?? null,
      timeoutMs: options.timeoutMs ?? DASHD_RPC_DEFAULTS.timeoutMs,
      connections: options.connections ?? DASHD_RPC_DEFAULTS.connections,
    };
    this.pool = new Pool(endpoint.origin, { connections: this.opts.connections, connectTimeout: this.opts.timeoutMs, maxResponseSize: MAX_ANSWER_BYTES });
  }

  /** Call `method`; never rejects. */
  async call(method: string, params: unknown[] = [], options: CallOptions = {}): Promise<RpcOutcome> {
    if (this.closed) return fail('unreachable', `dashd client for ${this.url} is closed`);
    const auth = await this.login(false);
    if (!auth.ok) return auth;
    const first = await this.post(method, params, options);
    if (first.status !== 'denied') return first.outcome;
    // A new cookie (dashd restarted) or a wrong login: read the cookie again once, then it is the login.
    if (this.opts.cookieFile) {
      const again = await this.login(true);
      if (!again.ok) return again;
      const second = await this.post(method, params, options);
      if (second.status !== 'denied') return second.outcome;
      return fail('auth', `dashd at ${this.url} refused the cookie from ${this.opts.cookieFile} (HTTP ${second.httpStatus}): is it this dashd's datadir?`);
    }
    return fail('auth', `dashd at ${this.url} refused the RPC login (HTTP ${first.httpStatus}): check the entry's user and password against dashd's rpcuser/rpcpassword (or use dashd.cookieFile)`);
  }

  /** Abort every call in flight (they resolve as `unreachable`) and close the connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.inFlight) c.abort();
    this.inFlight.clear();
    await this.pool.destroy().catch(() => {});
  }

  // ---- internals ------------------------------------------------------------------------------------------

  private async login(reread: boolean): Promise<{ ok: true } | { ok: false; failure: RpcFailure }> {
    if (this.authHeader !== null && !reread) return { ok: true };
    let user = this.opts.user;
    let password = this.opts.password;
    if (this.opts.cookieFile) {
      const cookie = await readCookie(this.opts.cookieFile);
      if (typeof cookie === 'string') return { ok: false, failure: { kind: 'auth', message: `dashd at ${this.url}: ${cookie}` } };
      ({ user, password } = cookie);
    }
    this.authHeader = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    return { ok: true };
  }

  private async post(
    method: string,
    params: unknown[],
    options: CallOptions,
  ): Promise<{ status: 'answered'; outcome: RpcOutcome } | { status: 'denied'; httpStatus: number }> {
    const id = this.nextId++;
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) controller.abort();
    this.inFlight.add(controller);
    const waitMs = options.longpoll ? 0 : (options.timeoutMs ?? this.opts.timeoutMs);
    const answered = (outcome: RpcOutcome) => ({ status: 'answered' as const, outcome });
    try {
      const res = await this.pool.request({
        method: 'POST',
        path: '/',
        headers: { 'content-type': 'application/json', authorization: this.authHeader ?? '' },
        body: JSON.stringify({ jsonrpc: '1.0', id, method, params }),
        headersTimeout: waitMs,
        bodyTimeout: waitMs,
        signal: controller.signal,
      });
      if (res.statusCode === 401 || res.statusCode === 403) {
        await res.body.dump().catch(() => {});
        return { status: 'denied', httpStatus: res.statusCode };
      }
      const text = await res.body.text();
      return answered(readAnswer(this.url, method, res.statusCode, text));
    } catch (err) {
      if (controller.signal.aborted) return answered(fail('unreachable', `${method} to dashd at ${this.url} was cancelled`));
      return answered(fail('unreachable', `no answer from dashd at ${this.url} to ${method}: ${transportWords(err as Error, waitMs)}`));
    } finally {
      this.inFlight.delete(controller);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }
}

function fail(kind: RpcFailureKind, message: string, rpc?: { code: number | undefined; message: string }): { ok: false; failure: RpcFailure } {
  const failure: RpcFailure = { kind, message };
  if (rpc?.code !== undefined) failure.code = rpc.code;
  if (rpc) failure.rpcMessage = rpc.message;
  return { ok: false, failure };
}

/** dashd's JSON-RPC answer (any HTTP status: RPC errors come with 500 or 404), classified. */
export function readAnswer(url: string, method: string, httpStatus: number, text: string): RpcOutcome {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    const start = text.trim().slice(0, 80);
    return fail('bad-answer', `dashd at ${url} answered ${method} with HTTP ${httpStatus} and no JSON${start ? ` (${JSON.stringify(start)})` : ''}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body) || !('result' in body || 'error' in body)) {
    return fail('bad-answer', `dashd at ${url} answered ${method} with JSON that is not a JSON-RPC answer`);
  }
  const { result, error } = body as { result?: unknown; error?: unknown };
  if (error !== null && error !== undefined) {
    const e = (typeof error === 'object' ? error : {}) as { code?: unknown; message?: unknown };
    const code = typeof e.code === 'number' ? e.code : undefined;
    const message = typeof e.message === 'string' ? e.message : JSON.stringify(error);
    if (code !== undefined && NOT_READY_CODES[code]) return fail('syncing', `dashd at ${url} ${NOT_READY_CODES[code]}: ${message}`, { code, message });
    return fail('rpc', `dashd at ${url} refused ${method}: ${message}${code !== undefined ? ` (code ${code})` : ''}`, { code, message });
  }
  if (httpStatus >= 400) return fail('bad-answer', `dashd at ${url} answered ${method} with HTTP ${httpStatus} and no error`);
  return { ok: true, result: result ?? null };
}

/** `__cookie__:<password>` from dashd's cookie file, or why it cannot be used. */
export async function readCookie(path: string): Promise<{ user: string; password: string } | string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint = code === 'ENOENT' ? ': is dashd running, with this datadir?' : code === 'EACCES' ? ': the proxy may not read it (run it as dashd\'s user or in its group)' : '';
    return `cannot read the cookie file ${path} (${code ?? (err as Error).message})${hint}`;
  }
  const line = text.trim();
  const colon = line.indexOf(':');
  if (colon <= 0 || colon === line.length - 1 || line.includes('\n')) return `the cookie file ${path} does not hold user:password (dashd writes __cookie__:<password>)`;
  return { user: line.slice(0, colon), password: line.slice(colon + 1) };
}

function transportWords(err: Error, waitMs: number): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return `no answer within ${waitMs / 1000} s`;
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return `no connection within ${waitMs / 1000} s`;
  if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') return `answer larger than ${MAX_ANSWER_BYTES / 1024 / 1024} MiB`;
  return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
}
