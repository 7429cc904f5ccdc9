import { StratumError, StratumErrorCode, type WireError } from './errors.js';

/** JSON-RPC 1.0 as Stratum V1 uses it: one object per line, `id`/`method`/`params` or `id`/`result`/`error`. */
export type RpcId = number | string | null;

export interface RpcRequest {
  kind: 'request';
  /** null for a notification (the pool's `mining.notify`, `mining.set_difficulty`, ...). */
  id: RpcId;
  method: string;
  params: unknown[];
}

export interface RpcResponse {
  kind: 'response';
  id: RpcId;
  result: unknown;
  error: unknown;
}

export type RpcMessage = RpcRequest | RpcResponse;

export type ParseOutcome = { ok: true; message: RpcMessage } | { ok: false; id: RpcId; error: StratumError };

const other = (message: string) => new StratumError(StratumErrorCode.Other, message);

function isRpcId(v: unknown): v is RpcId {
  return v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
}

/** Parse one line. Never throws: malformed input comes back as an error with code 20 and a clear message. */
export function parseLine(line: string): ParseOutcome {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, id: null, error: other('Malformed JSON') };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, id: null, error: other('A message must be a JSON object') };
  }
  const obj = value as Record<string, unknown>;
  const rawId = obj.id === undefined ? null : obj.id;
  if (!isRpcId(rawId)) return { ok: false, id: null, error: other('id must be a number, a string or null') };
  if ('method' in obj) {
    if (typeof obj.method !== 'string' || obj.method.length === 0) {
      return { ok: false, id: rawId, error: other('method must be a non-empty string') };
    }
    const params = obj.params === undefined || obj.params === null ? [] : obj.params;
    if (!Array.isArray(params)) return { ok: false, id: rawId, error: other(`${obj.method}: params must be an array`) };
    return { ok: true, message: { kind: 'request', id: rawId, method: obj.method, params } };
  }
  if ('result' in obj || 'error' in obj) {
    return { ok: true, message: { kind: 'response', id: rawId, result: obj.result ?? null, error: obj.error ?? null } };
  }
  return { ok: false, id: rawId, error: other('Not a request or a response: no method, result or error') };
}

export function requestLine(id: RpcId, method: string, params: readonly unknown[]): string {
  return JSON.stringify({ id, method, params }) + '\n';
}

export function notificationLine(method: string, params: readonly unknown[]): string {
  return JSON.stringify({ id: null, method, params }) + '\n';
}

export function resultLine(id: RpcId, result: unknown): string {
  return JSON.stringify({ id, result, error: null }) + '\n';
}

export function errorLine(id: RpcId, error: StratumError | WireError): string {
  const wire = error instanceof StratumError ? error.toWire() : error;
  return JSON.stringify({ id, result: null, error: wire }) + '\n';
}

/** Read a peer's error field into code and message, whatever shape it came in (array, object, string). */
export function describeWireError(error: unknown): { code: number; message: string } | null {
  if (error === null || error === undefined || error === false) return null;
  if (Array.isArray(error)) {
    const code = typeof error[0] === 'number' ? error[0] : StratumErrorCode.Other;
    return { code, message: typeof error[1] === 'string' ? error[1] : JSON.stringify(error) };
  }
  if (typeof error === 'object') {
    const e = error as Record<string, unknown>;
    return { code: typeof e.code === 'number' ? e.code : StratumErrorCode.Other, message: typeof e.message === 'string' ? e.message : JSON.stringify(e) };
  }
  return { code: StratumErrorCode.Other, message: String(error) };
}
