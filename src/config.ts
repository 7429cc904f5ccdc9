import { readFileSync } from 'node:fs';
import { parseCidr } from './downstream/access.js';
import { checkAlertsConfig, DEFAULT_ALERTS_CONFIG, type AlertsConfig } from './observe/alerts.js';
import { parsePoolUrl } from './upstream/pool-url.js';
import type { PoolConfig } from './upstream/types.js';

/**
 * The proxy's configuration: defaults, then a JSON file, then environment variables, then command-line
 * overrides. Every problem is reported with the field it concerns ("listen.port must be ..."), all at once.
 */
export interface ProxyConfig {
  pools: PoolConfig[];
  listen: { host: string; port: number; tls: { cert: string; key: string } | null };
  http: { host: string; port: number; token: string | null; allowedOrigins: string[] };
  /** 'farm': shares go upstream under the pool's user; 'passthrough': under each device's own name. */
  workerMode: 'farm' | 'passthrough';
  /** Devices expected on the farm (sizes the extranonce prefix). */
  expectedDevices: number;
  /** Bytes of extranonce2 every device keeps at least. */
  minDeviceExtranonce2: number;
  maxUpstreamConnections: number;
  difficulty: {
    start: number;
    min: number;
    max: number;
    targetSharesPerMinute: number;
    retargetSeconds: number;
    maxStep: number;
    /** The pool's difficulty unit: target = diff1 * multiplier / difficulty (1 for every X11 pool we know). */
    multiplier: number;
  };
  limits: {
    maxDevices: number;
    maxConnectionsPerIp: number;
    handshakeTimeoutSeconds: number;
    idleTimeoutSeconds: number;
    maxLineBytes: number;
    maxWriteBufferBytes: number;
    submitsPerSecond: number;
  };
  access: { workers: string[]; password: string | null; allowCidrs: string[] };
  upstream: { submitTimeoutSeconds: number; failoverAfterAttempts: number; probeIntervalSeconds: number; connectTimeoutSeconds: number };
  metrics: { labelIp: boolean; retentionSeconds: number };
  log: { level: 'debug' | 'info' | 'warn' | 'error'; format: 'json' | 'pretty' };
  shutdown: { drainSeconds: number };
  /** Webhooks (generic JSON, Slack, Telegram) for device offline/back, hashrate drop, rejects, pools, blocks. */
  alerts: AlertsConfig;
}

export const DEFAULT_CONFIG: ProxyConfig = {
  pools: [],
  listen: { host: '0.0.0.0', port: 3333, tls: null },
  http: { host: '0.0.0.0', port: 8080, token: null, allowedOrigins: [] },
  workerMode: 'farm',
  expectedDevices: 1000,
  minDeviceExtranonce2: 3,
  maxUpstreamConnections: 16,
  difficulty: { start: 256, min: 0.001, max: 1e9, targetSharesPerMinute: 12, retargetSeconds: 30, maxStep: 4, multiplier: 1 },
  limits: {
    maxDevices: 20_000,
    maxConnectionsPerIp: 20_000,
    handshakeTimeoutSeconds: 30,
    idleTimeoutSeconds: 600,
    maxLineBytes: 16 * 1024,
    maxWriteBufferBytes: 256 * 1024,
    submitsPerSecond: 50,
  },
  access: { workers: [], password: null, allowCidrs: [] },
  upstream: { submitTimeoutSeconds: 10, failoverAfterAttempts: 3, probeIntervalSeconds: 30, connectTimeoutSeconds: 10 },
  metrics: { labelIp: false, retentionSeconds: 3600 },
  log: { level: 'info', format: 'json' },
  shutdown: { drainSeconds: 10 },
  alerts: DEFAULT_ALERTS_CONFIG,
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Read a JSON config file; a syntax error names the file and position. */
export function readConfigFile(path: string): Record<string, Json> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`config file ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (err as Error).message}`]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([`config file ${path}: not valid JSON (${(err as Error).message})`]);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError([`config file ${path}: must hold a JSON object`]);
  return value as Record<string, Json>;
}

/**
 * Environment variables: DASH_PROXY_ and the field's path in capitals, dots and camelCase humps as `_`:
 * `listen.port` is DASH_PROXY_LISTEN_PORT, `limits.maxDevices` is DASH_PROXY_LIMITS_MAX_DEVICES, and lists
 * and objects are JSON: DASH_PROXY_POOLS='[{"url":"stratum+tcp://host:3333","user":"..."}]',
 * DASH_PROXY_LISTEN_TLS='{"cert":"...","key":"..."}'. A DASH_PROXY_ variable that names no field, or JSON
 * that does not parse, is an error naming the variable.
 */
export function envName(path: string[]): string {
  return 'DASH_PROXY_' + path.map((p) => p.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase()).join('_');
}

export function configFromEnv(env: NodeJS.ProcessEnv): Record<string, Json> {
  const out: Record<string, Json> = {};
  const problems: string[] = [];
  const known = new Map(leafPaths(DEFAULT_CONFIG as unknown as Json).map((path) => [envName(path), path]));
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('DASH_PROXY_') || raw === undefined) continue;
    const path = known.get(name);
    if (!path) {
      const near = closest(name, [...known.keys()]);
      problems.push(`${name}: no such setting${near ? ` (did you mean ${near}?)` : ''}`);
      continue;
    }
    const value = coerceEnv(raw, getPath(DEFAULT_CONFIG as unknown as Json, path));
    if (value instanceof Error) problems.push(`${name}: ${value.message}`);
    else setPath(out, path, value);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}

/** The known name nearest to a misspelt one (edit distance at most 3), for the error message. */
function closest(name: string, names: string[]): string | null {
  let best: string | null = null;
  let bestDistance = 4;
  for (const candidate of names) {
    const d = editDistance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

function leafPaths(v: Json, prefix: string[] = []): string[][] {
  if (v && typeof v === 'object' && !Array.isArray(v)) return Object.entries(v).flatMap(([k, c]) => (c && typeof c === 'object' && !Array.isArray(c) ? leafPaths(c, [...prefix, k]) : [[...prefix, k]]));
  return [prefix];
}

function getPath(v: Json, path: string[]): Json | undefined {
  let cur: Json | undefined = v;
  for (const p of path) cur = cur && typeof cur === 'object' && !Array.isArray(cur) ? cur[p] : undefined;
  return cur;
}

function setPath(obj: Record<string, Json>, path: string[], value: Json): void {
  let cur = obj;
  for (const p of path.slice(0, -1)) {
    if (typeof cur[p] !== 'object' || cur[p] === null || Array.isArray(cur[p])) cur[p] = {};
    cur = cur[p] as Record<string, Json>;
  }
  cur[path[path.length - 1]!] = value;
}

/** An environment string as the field's type; an Error when JSON was needed and does not parse. */
function coerceEnv(raw: string, example: Json | undefined): Json | Error {
  if (typeof example === 'number') {
    const n = Number(raw);
    // A non-number is kept as text: the validator then names the field and shows the value.
    return raw.trim() !== '' && Number.isFinite(n) ? n : raw;
  }
  if (typeof example === 'boolean') return raw === 'true' || raw === '1' ? true : raw === 'false' || raw === '0' ? false : raw;
  const text = raw.trim();
  const structured = Array.isArray(example) || (example !== null && typeof example === 'object');
  // Lists and objects are JSON; so is an optional field (default null) given as an object or a list.
  if (structured || text.startsWith('{') || text.startsWith('[')) {
    try {
      return JSON.parse(text) as Json;
    } catch (err) {
      return new Error(`not valid JSON (${(err as Error).message})`);
    }
  }
  if (example === null && text === 'null') return null;
  return raw;
}

/** Deep merge of plain objects; arrays and scalars replace. */
export function merge(base: Json, over: Json | undefined): Json {
  if (over === undefined) return base;
  if (base && typeof base === 'object' && !Array.isArray(base) && over && typeof over === 'object' && !Array.isArray(over)) {
    const out: Record<string, Json> = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = merge(base[k] as Json, v);
    return out;
  }
  return over;
}

/** Build and validate the configuration from its layers (later layers win). */
export function buildConfig(...layers: (Record<string, Json> | undefined)[]): ProxyConfig {
  let merged: Json = DEFAULT_CONFIG as unknown as Json;
  for (const l of layers) merged = merge(merged, l);
  return validateConfig(merged);
}

export function validateConfig(input: Json): ProxyConfig {
  const problems: string[] = [];
  const root = (input && typeof input === 'object' && !Array.isArray(input) ? input : {}) as Record<string, Json>;
  const known = new Set(Object.keys(DEFAULT_CONFIG));
  for (const k of Object.keys(root)) if (!known.has(k)) problems.push(`${k}: unknown field (known: ${[...known].join(', ')})`);
  for (const [section, def] of Object.entries(DEFAULT_CONFIG)) {
    const v = root[section];
    if (def && typeof def === 'object' && !Array.isArray(def) && v && typeof v === 'object' && !Array.isArray(v)) {
      const knownSub = new Set(Object.keys(def));
      for (const k of Object.keys(v)) if (!knownSub.has(k)) problems.push(`${section}.${k}: unknown field (known: ${[...knownSub].join(', ')})`);
    }
  }
  const get = (path: string): Json | undefined => getPath(root, path.split('.'));
  const num = (path: string, opts: { min?: number; max?: number; int?: boolean; positive?: boolean }): number => {
    const v = get(path);
    const ok = typeof v === 'number' && Number.isFinite(v) && (!opts.int || Number.isInteger(v)) && (opts.min === undefined || v >= opts.min) && (opts.max === undefined || v <= opts.max) && (!opts.positive || v > 0);
    if (!ok) {
      const bounds =
        opts.min !== undefined && opts.max !== undefined
          ? `from ${opts.min} to ${opts.max}`
          : [opts.positive ? '> 0' : '', opts.min !== undefined ? `>= ${opts.min}` : '', opts.max !== undefined ? `<= ${opts.max}` : ''].filter(Boolean).join(' and ');
      const range = `${opts.int ? 'an integer' : 'a number'} ${bounds}`.trim();
      problems.push(`${path} must be ${range} (got ${JSON.stringify(v)})`);
      return NaN;
    }
    return v as number;
  };
  const str = (path: string, nullable = false): string | null => {
    const v = get(path);
    if (nullable && (v === null || v === undefined || v === '')) return null;
    if (typeof v !== 'string' || v === '') {
      problems.push(`${path} must be a non-empty string${nullable ? ' or null' : ''} (got ${JSON.stringify(v)})`);
      return '';
    }
    return v;
  };
  const bool = (path: string): boolean => {
    const v = get(path);
    if (typeof v !== 'boolean') problems.push(`${path} must be true or false (got ${JSON.stringify(v)})`);
    return v === true;
  };
  const oneOf = <T extends string>(path: string, choices: readonly T[]): T => {
    const v = get(path);
    if (typeof v !== 'string' || !choices.includes(v as T)) {
      problems.push(`${path} must be one of ${choices.join(', ')} (got ${JSON.stringify(v)})`);
      return choices[0]!;
    }
    return v as T;
  };
  const strings = (path: string): string[] => {
    const v = get(path);
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x !== '')) {
      problems.push(`${path} must be a list of non-empty strings (got ${JSON.stringify(v)})`);
      return [];
    }
    return v as string[];
  };

  // [hardening] Each CIDR is checked here so a typo is a config error naming the entry, not a crash at start.
  const cidrs = (path: string): string[] => {
    const list = strings(path);
    list.forEach((c, i) => {
      try {
        parseCidr(c);
      } catch (e) {
        problems.push(`${path}[${i}]: ${(e as Error).message}`);
      }
    });
    return list;
  };

  const pools: PoolConfig[] = [];
  const rawPools = get('pools');
  if (rawPools !== undefined && rawPools !== null && !Array.isArray(rawPools)) {
    problems.push(`pools must be a list of pools, [{"url": ..., "user": ...}], not ${typeof rawPools === 'object' ? 'an object' : `a ${typeof rawPools}`}`);
  } else if (!Array.isArray(rawPools) || rawPools.length === 0) {
    problems.push('pools must list at least one pool: [{"url": "stratum+tcp://host:port", "user": "...", "password": "x"}] (or use --pool URL --user NAME)');
  } else {
    const names = new Set<string>();
    rawPools.forEach((p, i) => {
      const at = `pools[${i}]`;
      if (!p || typeof p !== 'object' || Array.isArray(p)) return problems.push(`${at} must be an object with url, user and password`);
      for (const k of Object.keys(p)) if (!['name', 'url', 'user', 'password', 'tlsVerify', 'tlsCa'].includes(k)) problems.push(`${at}.${k}: unknown field (known: name, url, user, password, tlsVerify, tlsCa)`);
      const url = p.url;
      if (typeof url !== 'string') return problems.push(`${at}.url must be a string like stratum+tcp://host:port`);
      try {
        const { host } = parsePoolUrl(url);
        // RFC 2606 reserves .example: it never resolves. It is the example file's placeholder.
        if (host === 'example' || host.endsWith('.example')) problems.push(`${at}.url: ${host} is a placeholder from the example: put your pool's address`);
      } catch (err) {
        problems.push(`${at}.url: ${(err as Error).message}`);
      }
      if (typeof p.user !== 'string' || p.user === '') problems.push(`${at}.user must be the pool login (wallet address or account.worker)`);
      if (p.password !== undefined && typeof p.password !== 'string') problems.push(`${at}.password must be a string`);
      if (p.tlsVerify !== undefined && typeof p.tlsVerify !== 'boolean') problems.push(`${at}.tlsVerify must be true or false`);
      const name = typeof p.name === 'string' && p.name !== '' ? p.name : `pool${i + 1}`;
      if (names.has(name)) problems.push(`${at}.name '${name}' is used twice`);
      names.add(name);
      // tlsCa: a PEM file with the CA that signed a pool's certificate (a private CA), read here.
      let tlsCa: string | undefined;
      if (p.tlsCa !== undefined && p.tlsCa !== null) {
        if (typeof p.tlsCa !== 'string' || p.tlsCa === '') problems.push(`${at}.tlsCa must be the path of a PEM file`);
        else {
          try {
            tlsCa = readFileSync(p.tlsCa, 'utf8');
            if (!tlsCa.includes('-----BEGIN CERTIFICATE-----')) problems.push(`${at}.tlsCa: ${p.tlsCa} holds no PEM certificate`);
          } catch (err) {
            problems.push(`${at}.tlsCa: cannot read ${p.tlsCa} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
          }
        }
      }
      pools.push({ name, url, user: String(p.user ?? ''), password: typeof p.password === 'string' ? p.password : 'x', tlsVerify: p.tlsVerify !== false, ...(tlsCa ? { tlsCa } : {}) });
    });
  }

  const tlsRaw = get('listen.tls');
  let listenTls: ProxyConfig['listen']['tls'] = null;
  if (tlsRaw !== null && tlsRaw !== undefined) {
    if (typeof tlsRaw !== 'object' || Array.isArray(tlsRaw) || typeof tlsRaw.cert !== 'string' || typeof tlsRaw.key !== 'string') {
      problems.push('listen.tls must be null or {"cert": "path/to/cert.pem", "key": "path/to/key.pem"}');
    } else {
      listenTls = { cert: tlsRaw.cert, key: tlsRaw.key };
    }
  }

  const config: ProxyConfig = {
    pools,
    listen: { host: str('listen.host')!, port: num('listen.port', { int: true, min: 0, max: 65535 }), tls: listenTls },
    http: { host: str('http.host')!, port: num('http.port', { int: true, min: 0, max: 65535 }), token: str('http.token', true), allowedOrigins: strings('http.allowedOrigins') },
    workerMode: oneOf('workerMode', ['farm', 'passthrough'] as const),
    expectedDevices: num('expectedDevices', { int: true, min: 1, max: 16_777_216 }),
    minDeviceExtranonce2: num('minDeviceExtranonce2', { int: true, min: 1, max: 8 }),
    maxUpstreamConnections: num('maxUpstreamConnections', { int: true, min: 1, max: 1024 }),
    difficulty: {
      start: num('difficulty.start', { positive: true }),
      min: num('difficulty.min', { positive: true }),
      max: num('difficulty.max', { positive: true }),
      targetSharesPerMinute: num('difficulty.targetSharesPerMinute', { positive: true, max: 600 }),
      retargetSeconds: num('difficulty.retargetSeconds', { min: 1, max: 3600 }),
      maxStep: num('difficulty.maxStep', { min: 1.1, max: 1024 }),
      multiplier: num('difficulty.multiplier', { positive: true }),
    },
    limits: {
      maxDevices: num('limits.maxDevices', { int: true, min: 1 }),
      maxConnectionsPerIp: num('limits.maxConnectionsPerIp', { int: true, min: 1 }),
      handshakeTimeoutSeconds: num('limits.handshakeTimeoutSeconds', { positive: true, max: 3600 }),
      idleTimeoutSeconds: num('limits.idleTimeoutSeconds', { positive: true }),
      maxLineBytes: num('limits.maxLineBytes', { int: true, min: 512, max: 16 * 1024 * 1024 }),
      maxWriteBufferBytes: num('limits.maxWriteBufferBytes', { int: true, min: 4096 }),
      submitsPerSecond: num('limits.submitsPerSecond', { positive: true }),
    },
    access: { workers: strings('access.workers'), password: str('access.password', true), allowCidrs: cidrs('access.allowCidrs') },
    upstream: {
      submitTimeoutSeconds: num('upstream.submitTimeoutSeconds', { positive: true, max: 600 }),
      failoverAfterAttempts: num('upstream.failoverAfterAttempts', { int: true, min: 1, max: 100 }),
      probeIntervalSeconds: num('upstream.probeIntervalSeconds', { min: 1, max: 86_400 }),
      connectTimeoutSeconds: num('upstream.connectTimeoutSeconds', { positive: true, max: 600 }),
    },
    metrics: { labelIp: bool('metrics.labelIp'), retentionSeconds: num('metrics.retentionSeconds', { min: 0 }) },
    log: { level: oneOf('log.level', ['debug', 'info', 'warn', 'error'] as const), format: oneOf('log.format', ['json', 'pretty'] as const) },
    shutdown: { drainSeconds: num('shutdown.drainSeconds', { min: 0, max: 600 }) },
    alerts: (() => {
      const found: string[] = [];
      const a = checkAlertsConfig(get('alerts'), found);
      for (const p of found) if (!problems.includes(p)) problems.push(p);
      return a;
    })(),
  };
  if (config.difficulty.min > config.difficulty.max) problems.push(`difficulty.min (${config.difficulty.min}) is above difficulty.max (${config.difficulty.max})`);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
