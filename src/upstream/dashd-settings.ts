import { numberProblem, type NumberRule } from '../util/number-rule.js';
import type { DashdSettings, PoolConfig } from './types.js';

/**
 * A dashd entry of a pool list (solo mining): its defaults, the rules of its numbers, and every check of
 * the entry that does not need dashd itself, each problem naming its field (`pools[2].dashd.payoutAddress:
 * ...`). The configuration's schema (src/config-schema.ts) is made from the same defaults and rules.
 */

/** What a dashd entry's `dashd` object may leave out. */
export const DASHD_DEFAULTS = {
  shareDifficulty: 65536,
  coinbaseTag: '/dash-farm-proxy/',
  pollSeconds: 1,
  templateSeconds: 30,
  blockCheckSeconds: 30,
} as const;

/** The rules of a dashd entry's numbers (one place: the schema and the checks below read them). */
export const DASHD_NUMBER_RULES = {
  shareDifficulty: { positive: true },
  // Short intervals are for tests and simulators on loopback; a real dashd is fine with the defaults.
  pollSeconds: { min: 0.05, max: 60 },
  templateSeconds: { min: 0.1, max: 3600 },
  blockCheckSeconds: { min: 0.05, max: 3600 },
} as const satisfies Record<string, NumberRule>;

/**
 * The coinbase tag's longest length, bytes. The scriptSig (at most 100 bytes) holds the BIP34 height push (up
 * to 5 bytes), the extranonce (16) and the tag's push (1 + length): 40 leaves room to spare.
 */
export const COINBASE_TAG_MAX_BYTES = 40;

/** A dashd entry's settings with every default filled in. */
export type ResolvedDashdSettings = Required<Omit<DashdSettings, 'cookieFile'>> & { cookieFile: string | null };

export function withDashdDefaults(d: DashdSettings): ResolvedDashdSettings {
  return {
    payoutAddress: d.payoutAddress,
    cookieFile: d.cookieFile ?? null,
    shareDifficulty: d.shareDifficulty ?? DASHD_DEFAULTS.shareDifficulty,
    coinbaseTag: d.coinbaseTag ?? DASHD_DEFAULTS.coinbaseTag,
    pollSeconds: d.pollSeconds ?? DASHD_DEFAULTS.pollSeconds,
    templateSeconds: d.templateSeconds ?? DASHD_DEFAULTS.templateSeconds,
    blockCheckSeconds: d.blockCheckSeconds ?? DASHD_DEFAULTS.blockCheckSeconds,
  };
}

/** Where a dashd's JSON-RPC answers: the origin (`http://127.0.0.1:9998`) and host/port for messages. */
export interface DashdEndpoint {
  origin: string;
  host: string;
  port: number;
}

/** Parse a dashd entry's url (`http://host:port`, port written); throws an Error saying what is wrong. */
export function parseDashdUrl(url: string): DashdEndpoint {
  const needs = 'a dashd entry needs http://host:port (its RPC address, e.g. http://127.0.0.1:9998)';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`'${url}' is not a url: ${needs}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`'${url}': ${needs}`);
  if (u.username !== '' || u.password !== '') throw new Error(`'${url}': credentials do not belong in the url (set user and password, or dashd.cookieFile)`);
  if (u.pathname !== '/' || u.search !== '' || u.hash !== '') throw new Error(`'${url}': no path, query or fragment: ${needs}`);
  // URL drops a port that is the scheme's default: the port must be written (dashd's are 9998 / 19998).
  if (!/:\d+\/?$/.test(url.trim())) throw new Error(`'${url}': missing port: ${needs}`);
  const port = u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : Number(u.port);
  return { origin: u.origin, host: u.hostname, port };
}

const BASE58 = /^[1-9A-HJ-NP-Za-km-z]{25,36}$/;

/**
 * The problems of one dashd entry (`pool.dashd` present), named from `at` (`pools[2]`): url, login or cookie
 * file, payout address (its form: dashd's `validateaddress` judges it at start), numbers, tag.
 */
export function dashdEntryProblems(pool: Record<string, unknown>, at: string): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  const problem = (path: string, what: string) => out.push({ path, message: `${path}: ${what}` });
  if (typeof pool.url !== 'string') problem(`${at}.url`, 'must be a string like http://127.0.0.1:9998');
  else {
    try {
      parseDashdUrl(pool.url);
    } catch (e) {
      problem(`${at}.url`, (e as Error).message);
    }
  }
  const d = pool.dashd;
  if (typeof d !== 'object' || d === null || Array.isArray(d)) {
    problem(`${at}.dashd`, 'must be an object with at least payoutAddress');
    return out;
  }
  const s = d as Record<string, unknown>;
  const cookie = s.cookieFile;
  if (cookie !== undefined && cookie !== null && (typeof cookie !== 'string' || cookie === '')) problem(`${at}.dashd.cookieFile`, "must be the path of dashd's .cookie file, or null");
  const usesCookie = typeof cookie === 'string' && cookie !== '';
  if (!usesCookie && (typeof pool.user !== 'string' || pool.user === '')) {
    problem(`${at}.user`, "must be dashd's rpcuser (or set dashd.cookieFile to dashd's .cookie file)");
  } else if (pool.user !== undefined && typeof pool.user !== 'string') problem(`${at}.user`, 'must be a string');
  if (typeof pool.password !== 'string') problem(`${at}.password`, "must be a string (dashd's rpcpassword)");
  if (pool.tlsCa !== undefined || pool.tlsVerify === false) problem(`${at}.${pool.tlsCa !== undefined ? 'tlsCa' : 'tlsVerify'}`, "does not apply to a dashd entry (dashd's RPC is plain http: keep it on the farm's network)");
  if (typeof s.payoutAddress !== 'string' || s.payoutAddress === '') problem(`${at}.dashd.payoutAddress`, 'must be the Dash address the coinbase pays (checked with dashd at start)');
  else if (!BASE58.test(s.payoutAddress)) problem(`${at}.dashd.payoutAddress`, `'${s.payoutAddress}' is not a Dash address (base58, 25 to 36 characters)`);
  for (const [key, rule] of Object.entries(DASHD_NUMBER_RULES)) {
    if (s[key] === undefined) continue;
    const p = numberProblem(`${at}.dashd.${key}`, s[key], rule);
    if (p) out.push({ path: `${at}.dashd.${key}`, message: p });
  }
  if (s.coinbaseTag !== undefined) {
    if (typeof s.coinbaseTag !== 'string' || !/^[\x20-\x7e]*$/.test(s.coinbaseTag)) problem(`${at}.dashd.coinbaseTag`, 'must be printable ASCII text');
    else if (s.coinbaseTag.length > COINBASE_TAG_MAX_BYTES) problem(`${at}.dashd.coinbaseTag`, `is ${s.coinbaseTag.length} characters, at most ${COINBASE_TAG_MAX_BYTES} fit in the coinbase`);
  }
  return out;
}

/** True for a dashd entry of a pool list. */
export function isDashdEntry(pool: PoolConfig): pool is PoolConfig & { dashd: DashdSettings } {
  return pool.dashd !== undefined;
}

/** The same dashd settings (defaults filled in): a change makes it another pool for the slot. */
export function sameDashdSettings(a: DashdSettings | undefined, b: DashdSettings | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const x = withDashdDefaults(a);
  const y = withDashdDefaults(b);
  return (Object.keys(x) as (keyof ResolvedDashdSettings)[]).every((k) => x[k] === y[k]);
}
