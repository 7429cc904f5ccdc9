import { readFileSync } from 'node:fs';
import { configSchema, DEFAULT_CONFIG, POOL_DEFAULTS, type ProxyConfig } from './config-schema.js';
import { parseCidr } from './downstream/access.js';
import { checkAlertsConfig } from './observe/alerts.js';
import { ownersProblems, withOwnerDefaults } from './books/owners.js';
import { parsePoolUrl } from './upstream/pool-url.js';
import { poolListProblems } from './upstream/upstream-slot.js';
import type { DashdSettings, PoolConfig } from './upstream/types.js';
import { COINBASE_TAG_MAX_BYTES, withDashdDefaults } from './upstream/dashd-settings.js';
import { closestName, schemaChecker, type FieldMessage, type JsonSchema, type SchemaProblem } from './util/json-schema.js';
import { duplicateKeys } from './util/json-duplicate-keys.js';
import { getPath, isTree, leafPaths, setPath, type Tree } from './util/path.js';
import { ledgerConfigProblems } from './books/ledger-location.js';
import { routesProblems, withRouteDefaults } from './config-routes.js';
import { ROUTE_NAME } from './routing/route-table.js';
import { WORKERS_WORDS } from './cluster/worker-count.js';

export { configSchema, DEFAULT_CONFIG, POOL_DEFAULTS, type ProxyConfig };

/**
 * The proxy's configuration: defaults, then a JSON file, then environment variables, then command-line
 * overrides. Its shape, defaults and bounds are the JSON Schema of src/config-schema.ts; what a schema
 * cannot say (pool urls, CIDRs, a CA file, min <= start <= max) is checked here by the component's own
 * function. Every problem is reported with the field it concerns ("listen.port must be ..."), all at once.
 */

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
  const twice = duplicateKeys(text);
  if (twice.length > 0) throw new ConfigError(twice.map((field) => `config file ${path}: ${field} is written twice (JSON would keep only the last): write it once`));
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
  const known = new Map(leafPaths(DEFAULT_CONFIG).map((path) => [envName(path), path]));
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('DASH_PROXY_') || raw === undefined) continue;
    const path = known.get(name);
    if (!path) {
      const near = closestName(name, [...known.keys()]);
      problems.push(`${name}: no such setting${near ? ` (did you mean ${near}?)` : ''}`);
      continue;
    }
    const value = coerceEnv(raw, getPath(DEFAULT_CONFIG, path) as Json | undefined);
    if (value instanceof Error) problems.push(`${name}: ${value.message}`);
    else setPath(out, path, value);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
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
      const value = JSON.parse(text) as Json;
      const twice = duplicateKeys(text);
      return twice.length > 0 ? new Error(`${twice.join(', ')} written twice (JSON would keep only the last)`) : value;
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

/**
 * What the configuration is read for. 'proxy' (start, reload, demo): everything, pools required. 'books'
 * (the `ledger` command): it reads only ledger, owners and books, so a config without pools is fine there;
 * every other field is checked as for the proxy (pools too, when some are given).
 */
export type ConfigUse = 'proxy' | 'books';

/** Build and validate the configuration from its layers (later layers win), for the proxy. */
export function buildConfig(...layers: (Record<string, Json> | undefined)[]): ProxyConfig {
  return buildConfigFor('proxy', ...layers);
}

/** buildConfig for a given use (see ConfigUse). */
export function buildConfigFor(use: ConfigUse, ...layers: (Record<string, Json> | undefined)[]): ProxyConfig {
  let merged: Json = DEFAULT_CONFIG as unknown as Json;
  for (const l of layers) merged = merge(merged, l);
  return validateConfig(merged, use);
}

const SCHEMA = configSchema();

/** The words of a pool list's fields, wherever the list is (`pools`, a target's `pools`). */
const poolMessages = (at: string): Record<string, FieldMessage> => ({
  [`${at}[]`]: { text: () => 'must be an object with url, user and password' },
  [`${at}[].url`]: { text: () => 'must be a string like stratum+tcp://host:port' },
  [`${at}[].user`]: { text: () => 'must be the pool login (wallet address or account.worker)' },
  [`${at}[].dashd`]: { text: () => "must be an object with payoutAddress (this entry is then the farm's own dashd)" },
  [`${at}[].dashd.payoutAddress`]: { text: () => 'must be the Dash address the coinbase pays' },
  [`${at}[].dashd.coinbaseTag`]: { text: (_keyword, value) => `must be printable ASCII text of at most ${COINBASE_TAG_MAX_BYTES} characters (got ${JSON.stringify(value)})` },
});
const TARGET_POOLS = 'routes[].targets[].pools';

const checker = schemaChecker(SCHEMA, {
  pools: {
    text: (keyword, value) =>
      keyword === 'type' && value !== null
        ? `must be a list of pools, [{"url": ..., "user": ...}], not ${typeof value === 'object' ? 'an object' : `a ${typeof value}`}`
        : `must list at least one pool: [{"url": "stratum+tcp://host:port", "user": "...", "password": "${POOL_DEFAULTS.password}"}] (or use --pool URL --user NAME)`,
  },
  ...poolMessages('pools'),
  [TARGET_POOLS]: {
    text: (keyword, value) =>
      keyword === 'type' && value !== null
        ? `must be a list of pools, [{"url": ..., "user": ...}], not ${typeof value === 'object' ? 'an object' : `a ${typeof value}`}`
        : `must list at least one pool, the target's pools in failover order: [{"url": "stratum+tcp://host:port", "user": "...", "password": "${POOL_DEFAULTS.password}"}]`,
  },
  ...poolMessages(TARGET_POOLS),
  'routes[].name': { text: (_keyword, value) => `must be ${ROUTE_NAME.words} (got ${JSON.stringify(value)})` },
  'routes[].targets[].name': { text: (_keyword, value) => `must be ${ROUTE_NAME.words} (got ${JSON.stringify(value)})` },
  'routes[].targets[].weight': {
    text: (_keyword, value) => `must be a finite number > 0, the target's share against the route's other targets (got ${typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value))})`,
  },
  workers: { whole: true, text: (_keyword, value) => `must be ${WORKERS_WORDS} (got ${JSON.stringify(value)})` },
  'listen.tls': { whole: true, text: () => 'must be null or {"cert": "path/to/cert.pem", "key": "path/to/key.pem"}' },
});

/** Validate a whole configuration (defaults already merged in); throws ConfigError listing every problem. */
export function validateConfig(input: Json, use: ConfigUse = 'proxy'): ProxyConfig {
  const root = emptyToNull(isTree(input) ? structuredClone(input) : {}, NULLABLE_TEXT);
  delete root.$schema;
  // A reader of the books may leave the pools out (absent or []): only "at least one pool" is waived.
  const noPoolsNeeded = use === 'books' && (root.pools === undefined || (Array.isArray(root.pools) && root.pools.length === 0));
  // The alerts section is checked by its component (src/observe/alerts.ts), with the same bounds.
  const problems: SchemaProblem[] = checker
    .check(root)
    .filter((p) => !p.path.startsWith('alerts.') && p.path !== 'alerts')
    .filter((p) => !(noPoolsNeeded && p.path === 'pools'));
  const seen = (path: string) => problems.some((p) => path === p.path || path.startsWith(p.path + '.') || path.startsWith(p.path + '['));
  const later = (path: string, message: string) => {
    if (!seen(path)) problems.push({ path, message });
  };

  root.pools = checkedPools(root.pools, 'pools', later);
  // Routes: each target's pools as the top-level ones, then what concerns several fields (src/config-routes.ts).
  root.routes = withRouteDefaults(root.routes) as Json;
  if (Array.isArray(root.routes)) {
    root.routes.forEach((route, i) => {
      if (!isTree(route) || !Array.isArray(route.targets)) return;
      route.targets.forEach((target, j) => {
        if (isTree(target)) target.pools = checkedPools(target.pools, `routes[${i}].targets[${j}].pools`, later) as unknown as Json;
      });
    });
  }
  for (const p of routesProblems(root.routes, root.pools, root.owners, root.books)) later(p.path, p.message);

  for (const field of [['access', 'allowCidrs'], ['listen', 'trustedProxies']]) {
    const cidrs = getPath(root, field);
    if (!Array.isArray(cidrs)) continue;
    cidrs.forEach((c, i) => {
      try {
        parseCidr(c as string);
      } catch (e) {
        later(`${field.join('.')}[${i}]`, `${field.join('.')}[${i}]: ${(e as Error).message}`);
      }
    });
  }
  const proxyProtocol = getPath(root, ['listen', 'proxyProtocol']);
  const trustedProxies = getPath(root, ['listen', 'trustedProxies']);
  if (typeof proxyProtocol === 'string' && proxyProtocol !== 'off' && Array.isArray(trustedProxies) && trustedProxies.length === 0) {
    later(
      'listen.trustedProxies',
      `listen.trustedProxies must list the load balancers' addresses when listen.proxyProtocol is "${proxyProtocol}" (e.g. ["10.0.0.5"]): a PROXY header is taken only from them`,
    );
  }

  const d = (isTree(root.difficulty) ? root.difficulty : {}) as Record<string, unknown>;
  const valid = (k: string) => typeof d[k] === 'number' && !seen(`difficulty.${k}`);
  if (valid('min') && valid('max') && (d.min as number) > (d.max as number)) later('difficulty.min', `difficulty.min (${d.min}) is above difficulty.max (${d.max})`);
  else if (valid('start') && valid('min') && valid('max') && ((d.start as number) < (d.min as number) || (d.start as number) > (d.max as number))) {
    later('difficulty.start', `difficulty.start (${d.start}) must be from difficulty.min (${d.min}) to difficulty.max (${d.max}): move the bound too`);
  }

  // Owners and books: names, patterns, overlaps between owners, fees, the PPLNS window (src/books/owners.ts).
  for (const p of ownersProblems(root.owners, root.books)) later(p.path, p.message);
  root.owners = withOwnerDefaults(root.owners) as Json;

  // The books: one SQLite file or one PostgreSQL URL (src/books/ledger-location.ts).
  for (const p of ledgerConfigProblems(root.ledger)) later(p.path, p.message);

  const alertProblems: string[] = [];
  root.alerts = checkAlertsConfig(root.alerts, alertProblems) as unknown as Json;
  for (const p of alertProblems) problems.push({ path: 'alerts', message: p });

  if (problems.length > 0) throw new ConfigError(problems.map((p) => p.message));
  return root as unknown as ProxyConfig;
}

/** The payout address of config/proxy.example.json's dashd entry: a placeholder, never a real address. */
export const EXAMPLE_PAYOUT_ADDRESS = 'XyourDashPayoutAddressHere1234567';

/** The host of a pool url under .example (RFC 2606), or null (also for a url that does not parse). */
function placeholderHost(url: unknown): string | null {
  try {
    const { host } = parsePoolUrl(url as string);
    return host === 'example' || host.endsWith('.example') ? host : null;
  } catch {
    return null;
  }
}

/** The upstream's rules name a pool list `pools` (`pools[1].url: ...`): the same words for the list at `at`. */
export function poolsAt(text: string, at: string): string {
  return text.startsWith('pools') ? at + text.slice('pools'.length) : text;
}

/**
 * A pool list (the top-level `pools` or a target's) with its defaults, and what the schema cannot check, each
 * problem named from `at` (`routes[0].targets[1].pools[0].url`). An empty list is the schema's to refuse.
 */
function checkedPools(raw: unknown, at: string, later: (path: string, message: string) => void): PoolConfig[] {
  const pools = normalizePools(raw);
  if (pools.length === 0) return pools;
  for (const p of poolListProblems(pools)) later(poolsAt(p.path, at), poolsAt(p.message, at));
  pools.forEach((pool, i) => {
    const field = `${at}[${i}]`;
    // RFC 2606 reserves .example: it never resolves. It is the example file's placeholder.
    const host = placeholderHost(pool.url);
    if (host) later(`${field}.url`, `${field}.url: ${host} is a placeholder from the example: put your pool's address`);
    if (pool.dashd?.payoutAddress === EXAMPLE_PAYOUT_ADDRESS) {
      later(`${field}.dashd.payoutAddress`, `${field}.dashd.payoutAddress: ${EXAMPLE_PAYOUT_ADDRESS} is a placeholder from the example: put the farm's Dash address, or remove the entry when the farm runs no dashd`);
    }
    if (typeof pool.tlsCa === 'string') {
      const read = readCaFile(pool.tlsCa);
      if (typeof read === 'string') pool.tlsCa = read;
      else later(`${field}.tlsCa`, `${field}.tlsCa: ${read.problem}`);
    }
  });
  return pools;
}

/**
 * Each pool with its defaults: a name by position, password x, certificate checks on. A dashd entry keeps its
 * `dashd` settings with their defaults (src/upstream/dashd-settings.ts); with a cookie file its user and
 * password may be left out ('').
 */
function normalizePools(raw: unknown): PoolConfig[] {
  if (!Array.isArray(raw)) return [];
  return raw.map((p, i) => {
    if (!isTree(p)) return p as unknown as PoolConfig;
    const { tlsCa, dashd, ...rest } = p;
    const solo = isTree(dashd) && typeof dashd.payoutAddress === 'string';
    return {
      ...rest,
      name: p.name === undefined ? `pool${i + 1}` : p.name,
      ...(solo && p.user === undefined ? { user: '' } : {}),
      password: p.password === undefined ? (solo ? '' : POOL_DEFAULTS.password) : p.password,
      tlsVerify: p.tlsVerify === undefined ? POOL_DEFAULTS.tlsVerify : p.tlsVerify,
      ...(tlsCa !== undefined && tlsCa !== null ? { tlsCa } : {}),
      ...(dashd === undefined ? {} : { dashd: solo ? withDashdDefaults(dashd as unknown as DashdSettings) : dashd }),
    } as PoolConfig;
  });
}

/** The pool entry named `pool` in force (the top-level pools, then each route target's), if any. */
export function poolEntryNamed(config: Pick<ProxyConfig, 'pools' | 'routes'>, pool: string): PoolConfig | undefined {
  for (const list of [config.pools, ...config.routes.flatMap((r) => r.targets.map((t) => t.pools))]) {
    const found = list.find((p) => p.name === pool);
    if (found) return found;
  }
  return undefined;
}

/** tlsCa: a PEM file with the CA that signed a pool's certificate (a private CA). Its text, or the problem. */
function readCaFile(path: string): string | { problem: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return { problem: `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
  }
  return text.includes('-----BEGIN CERTIFICATE-----') ? text : { problem: `${path} holds no PEM certificate` };
}

/** Fields of the sections (not inside lists) that are text or null, from the schema: `http.token`, ... */
function nullableText(schema: JsonSchema, prefix: string[] = []): string[][] {
  const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
  return Object.entries(props).flatMap(([k, s]) => {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    if (types.includes('string') && types.includes('null')) return [[...prefix, k]];
    return types.includes('object') ? nullableText(s, [...prefix, k]) : [];
  });
}
const NULLABLE_TEXT = nullableText(SCHEMA);

/** Optional text fields given as '' mean "not set" (an empty environment variable, for instance). */
function emptyToNull(root: Tree, paths: string[][]): Tree {
  for (const path of paths) if (getPath(root, path) === '') setPath(root, path, null);
  return root;
}
