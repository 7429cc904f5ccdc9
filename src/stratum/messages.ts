import { isHex } from '../chain/bytes.js';
import { StratumError, StratumErrorCode } from './errors.js';

/**
 * Typed Stratum V1 messages with parameter checks. Every check names the method and the parameter it
 * refused, and throws a StratumError with code 20 (other) that the caller sends back as is.
 */

export const Method = {
  Subscribe: 'mining.subscribe',
  Authorize: 'mining.authorize',
  Submit: 'mining.submit',
  ExtranonceSubscribe: 'mining.extranonce.subscribe',
  Configure: 'mining.configure',
  SuggestDifficulty: 'mining.suggest_difficulty',
  Notify: 'mining.notify',
  SetDifficulty: 'mining.set_difficulty',
  SetExtranonce: 'mining.set_extranonce',
  SetVersionMask: 'mining.set_version_mask',
  Reconnect: 'client.reconnect',
  ShowMessage: 'client.show_message',
  GetVersion: 'client.get_version',
} as const;

/** The largest extranonce2 size we accept from a pool (bytes). */
export const MAX_EXTRANONCE2_SIZE = 16;
/** The largest extranonce1 we accept from a pool (bytes). */
export const MAX_EXTRANONCE1_SIZE = 32;

const bad = (method: string, what: string) => new StratumError(StratumErrorCode.Other, `${method}: ${what}`);

function optionalString(method: string, params: unknown[], index: number, name: string): string | undefined {
  const v = params[index];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(method, `${name} (param ${index + 1}) must be a string`);
  return v;
}

function requiredString(method: string, params: unknown[], index: number, name: string): string {
  const v = params[index];
  if (v === undefined || v === null) throw bad(method, `missing ${name} (param ${index + 1})`);
  if (typeof v !== 'string') throw bad(method, `${name} (param ${index + 1}) must be a string`);
  return v;
}

function positiveNumber(method: string, params: unknown[], index: number, name: string): number {
  const v = params[index];
  if (v === undefined || v === null) throw bad(method, `missing ${name} (param ${index + 1})`);
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) throw bad(method, `${name} (param ${index + 1}) must be a positive number`);
  return n;
}

// ---- device -> proxy -------------------------------------------------------------------------------------

export interface SubscribeParams {
  userAgent?: string;
  sessionId?: string;
}

export function parseSubscribe(params: unknown[]): SubscribeParams {
  // Some firmware sends a number or an object as the user agent; only strings are read, the rest ignored.
  const ua = params[0];
  const sid = params[1];
  const out: SubscribeParams = {};
  if (typeof ua === 'string') out.userAgent = ua.slice(0, 256);
  if (typeof sid === 'string' && isHex(sid) && sid.length <= 64) out.sessionId = sid;
  return out;
}

export interface AuthorizeParams {
  username: string;
  password: string;
}

export const MAX_WORKER_NAME = 256;

export function parseAuthorize(params: unknown[]): AuthorizeParams {
  const username = requiredString(Method.Authorize, params, 0, 'username');
  if (username.length === 0) throw bad(Method.Authorize, 'username (param 1) must not be empty');
  if (username.length > MAX_WORKER_NAME) throw bad(Method.Authorize, `username (param 1) is longer than ${MAX_WORKER_NAME} characters`);
  const pw = params[1];
  let password: string;
  if (typeof pw === 'string') password = pw;
  else if (pw === undefined || pw === null) password = '';
  // Some firmware sends a number or a boolean as the password: read it as text.
  else if (typeof pw === 'number' || typeof pw === 'boolean') password = String(pw);
  else throw bad(Method.Authorize, 'password (param 2) must be a string');
  return { username, password };
}

export interface SubmitParams {
  worker: string;
  jobId: string;
  extranonce2: string;
  ntime: string;
  nonce: string;
  /** BIP 310 rolled version bits, hex, when the device negotiated version rolling. */
  versionBits?: string;
}

/**
 * Structure only (count and types). The content (hex, lengths, ranges) is judged by the share pipeline in
 * its fixed order, so the order of rejections does not depend on where a check happens to live.
 */
export function parseSubmit(params: unknown[]): SubmitParams {
  const m = Method.Submit;
  if (params.length < 5) throw bad(m, `expected 5 or 6 params (worker, job_id, extranonce2, ntime, nonce[, version_bits]), got ${params.length}`);
  const out: SubmitParams = {
    worker: requiredString(m, params, 0, 'worker'),
    jobId: requiredString(m, params, 1, 'job_id'),
    extranonce2: requiredString(m, params, 2, 'extranonce2'),
    ntime: requiredString(m, params, 3, 'ntime'),
    nonce: requiredString(m, params, 4, 'nonce'),
  };
  const vb = optionalString(m, params, 5, 'version_bits');
  if (vb !== undefined) out.versionBits = vb;
  return out;
}

export interface ConfigureParams {
  extensions: string[];
  options: Record<string, unknown>;
}

export function parseConfigure(params: unknown[]): ConfigureParams {
  const m = Method.Configure;
  const exts = params[0];
  if (!Array.isArray(exts) || !exts.every((e) => typeof e === 'string')) throw bad(m, 'extensions (param 1) must be an array of strings');
  const opts = params[1] ?? {};
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw bad(m, 'extension parameters (param 2) must be an object');
  return { extensions: exts as string[], options: opts as Record<string, unknown> };
}

/** The version-rolling mask a device asks for in `mining.configure` (BIP 310), or undefined. */
export function requestedVersionMask(cfg: ConfigureParams): number | undefined {
  if (!cfg.extensions.includes('version-rolling')) return undefined;
  const mask = cfg.options['version-rolling.mask'];
  if (mask === undefined) return 0xffffffff;
  if (!isHex(mask, 4)) throw bad(Method.Configure, 'version-rolling.mask must be 8 hex digits');
  return parseInt(mask, 16) >>> 0;
}

export function parseSuggestDifficulty(params: unknown[]): number {
  return positiveNumber(Method.SuggestDifficulty, params, 0, 'difficulty');
}

// ---- pool -> proxy ---------------------------------------------------------------------------------------

export interface NotifyParams {
  jobId: string;
  /** Stratum word-swapped prevhash, 64 hex digits. */
  prevhash: string;
  coinb1: string;
  coinb2: string;
  merkleBranch: string[];
  version: string;
  nbits: string;
  ntime: string;
  cleanJobs: boolean;
}

export function parseNotify(params: unknown[]): NotifyParams {
  const m = Method.Notify;
  if (params.length < 9) throw bad(m, `expected 9 params, got ${params.length}`);
  const jobId = requiredString(m, params, 0, 'job_id');
  if (jobId.length === 0 || jobId.length > 64) throw bad(m, 'job_id (param 1) must be 1 to 64 characters');
  const hexParam = (i: number, name: string, bytes?: number): string => {
    const v = requiredString(m, params, i, name);
    if (!isHex(v, bytes)) throw bad(m, `${name} (param ${i + 1}) must be ${bytes ? `${bytes * 2} hex digits` : 'hex'}`);
    return v.toLowerCase();
  };
  const prevhash = hexParam(1, 'prevhash', 32);
  const coinb1 = hexParam(2, 'coinb1');
  const coinb2 = hexParam(3, 'coinb2');
  const branch = params[4];
  if (!Array.isArray(branch)) throw bad(m, 'merkle_branch (param 5) must be an array');
  if (branch.length > 32) throw bad(m, 'merkle_branch (param 5) has more than 32 entries');
  const merkleBranch = branch.map((b, i) => {
    if (!isHex(b, 32)) throw bad(m, `merkle_branch[${i}] must be 64 hex digits`);
    return b.toLowerCase();
  });
  const version = hexParam(5, 'version', 4);
  const nbits = hexParam(6, 'nbits', 4);
  const ntime = hexParam(7, 'ntime', 4);
  const clean = params[8];
  if (typeof clean !== 'boolean') throw bad(m, 'clean_jobs (param 9) must be true or false');
  return { jobId, prevhash, coinb1, coinb2, merkleBranch, version, nbits, ntime, cleanJobs: clean };
}

export function parseSetDifficulty(params: unknown[]): number {
  return positiveNumber(Method.SetDifficulty, params, 0, 'difficulty');
}

export interface ExtranonceParams {
  extranonce1: string;
  extranonce2Size: number;
}

function checkExtranonce(method: string, en1: unknown, size: unknown, en1Index: number): ExtranonceParams {
  if (!isHex(en1) || en1.length / 2 > MAX_EXTRANONCE1_SIZE) throw bad(method, `extranonce1 (param ${en1Index + 1}) must be hex of at most ${MAX_EXTRANONCE1_SIZE} bytes`);
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > MAX_EXTRANONCE2_SIZE) {
    throw bad(method, `extranonce2_size (param ${en1Index + 2}) must be an integer from 1 to ${MAX_EXTRANONCE2_SIZE}`);
  }
  return { extranonce1: en1.toLowerCase(), extranonce2Size: size };
}

export function parseSetExtranonce(params: unknown[]): ExtranonceParams {
  return checkExtranonce(Method.SetExtranonce, params[0], params[1], 0);
}

/** The result of `mining.subscribe`: `[subscriptions, extranonce1, extranonce2_size]`. */
export function parseSubscribeResult(result: unknown): ExtranonceParams {
  if (!Array.isArray(result) || result.length < 3) throw bad(Method.Subscribe, 'result must be [subscriptions, extranonce1, extranonce2_size]');
  return checkExtranonce(`${Method.Subscribe} result`, result[1], result[2], 1);
}

export interface ReconnectParams {
  host?: string;
  port?: number;
  waitSeconds: number;
}

export function parseReconnect(params: unknown[]): ReconnectParams {
  const m = Method.Reconnect;
  const out: ReconnectParams = { waitSeconds: 0 };
  const host = optionalString(m, params, 0, 'host');
  if (host) out.host = host;
  const port = params[1];
  if (port !== undefined && port !== null && port !== '') {
    const p = typeof port === 'string' ? Number(port) : port;
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) throw bad(m, 'port (param 2) must be 1 to 65535');
    out.port = p;
  }
  const wait = params[2];
  if (wait !== undefined && wait !== null) {
    const w = typeof wait === 'string' ? Number(wait) : wait;
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) throw bad(m, 'wait (param 3) must be a number of seconds >= 0');
    out.waitSeconds = Math.min(w, 3600);
  }
  return out;
}

export function parseShowMessage(params: unknown[]): string {
  return requiredString(Method.ShowMessage, params, 0, 'message').slice(0, 1024);
}

export function parseSetVersionMask(params: unknown[]): number {
  const v = requiredString(Method.SetVersionMask, params, 0, 'mask');
  if (!isHex(v, 4)) throw bad(Method.SetVersionMask, 'mask (param 1) must be 8 hex digits');
  return parseInt(v, 16) >>> 0;
}
