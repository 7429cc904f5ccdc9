import { DEFAULT_DEVICE_LIMITS, DEVICE_LIMIT_RULES } from './downstream/server.js';
import { PROXY_PROTOCOL_MODES, type ProxyProtocolMode } from './downstream/proxy-gate.js';
import { ALERT_NUMBER_RULES, DEFAULT_ALERTS_CONFIG, DEFAULT_WEBHOOK_MAX_PER_MINUTE, WEBHOOK_MAX_PER_MINUTE_RULE, type AlertsConfig } from './observe/alerts.js';
import { ALERT_KINDS, WEBHOOK_FORMATS } from './observe/webhooks.js';
import { DEFAULT_RETENTION_SECONDS } from './observe/farm-ledger.js';
import { DEFAULT_BOOKS, DEFAULT_OWNER, OWNER_NAME, type BooksConfig, type OwnersConfig } from './books/owners.js';
import { PAYOUT_METHODS } from './books/payouts.js';
import { PROXY_DEFAULTS, type WorkerMode } from './proxy/proxy.js';
import { DEFAULT_VARDIFF } from './proxy/vardiff.js';
import { DEFAULTS as POOL_CONNECTION_DEFAULTS } from './upstream/pool-connection.js';
import type { PoolConfig } from './upstream/types.js';
import { numberRuleSchema, scaleNumberRule, type NumberRule } from './util/number-rule.js';
import { SLOT_DEFAULTS } from './upstream/upstream-slot.js';
import { COINBASE_TAG_MAX_BYTES, DASHD_DEFAULTS, DASHD_NUMBER_RULES } from './upstream/dashd-settings.js';
import type { JsonSchema } from './util/json-schema.js';
import { DEFAULT_FALLBACK, DEFAULT_TARGET_WEIGHT, ROUTE_NAME, type RouteConfig } from './routing/route-table.js';
import { ROUTING_TIMING_DEFAULTS, ROUTING_TIMING_RULES } from './routing/timing.js';
import { DEFAULT_ROUTE, DEFAULT_TARGET } from './routing/default-route.js';
import { DEFAULT_WORKERS, WORKERS_MAX, type WorkersSetting } from './cluster/worker-count.js';

/**
 * The configuration's shape, defaults and rules, written once. The defaults are the components' own
 * (vardiff's, the device server's limits, the proxy's, the upstream's, the alerts'), in the config's units
 * (seconds where the component counts milliseconds). `configSchema()` is the JSON Schema the loader checks
 * with and that ships as config/proxy.schema.json (`npm run config-schema` writes it) for editors.
 */
export interface ProxyConfig {
  /** The default route's one target (`default`); empty when a route without `match` is the default route. */
  pools: PoolConfig[];
  /** Routes: which workers (owners, patterns) split their hashrate among which targets (pool lists), by weight. */
  routes: RouteConfig[];
  /** How often and how far the split is corrected, and how a single device's time is sliced. */
  routing: { rebalanceSeconds: number; maxMovesPerRebalance: number; slicePeriodSeconds: number; minSliceSeconds: number };
  /** Worker processes sharing the device port (src/cluster/): 1 runs one process, 'auto' one per core. */
  workers: WorkersSetting;
  /** The device port; behind a load balancer, the PROXY protocol it speaks and the balancers trusted to. */
  listen: { host: string; port: number; tls: { cert: string; key: string } | null; proxyProtocol: ProxyProtocolMode; trustedProxies: string[] };
  http: { host: string; port: number; token: string | null; allowedOrigins: string[] };
  /** 'farm': shares go upstream under the pool's user; 'passthrough': under each device's own name. */
  workerMode: WorkerMode;
  /** Devices expected on the farm (sizes the extranonce prefix). */
  expectedDevices: number;
  /** Bytes of extranonce2 every device keeps at least. */
  minDeviceExtranonce2: number;
  /** Upstream connections per target: the lanes of the extranonce space (a target opens one per lane it has devices in). */
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
  /** The books (src/books/): an SQLite file or a PostgreSQL database (one of the two) of every share sent to the pool; both null: no books. */
  ledger: { path: string | null; url: string | null; retentionDays: number };
  /** Webhooks (generic JSON, Slack, Telegram) for device offline/back, hashrate drop, rejects, pools, blocks. */
  alerts: AlertsConfig;
  /** Who owns which workers (hosting farms): owner name -> worker patterns and hosting fee. */
  owners: OwnersConfig;
  /** The books: the farm owner, and how payouts are split among owners. */
  books: BooksConfig;
}

const seconds = (ms: number) => ms / 1000;

export const DEFAULT_CONFIG: ProxyConfig = {
  pools: [],
  routes: [],
  routing: {
    rebalanceSeconds: seconds(ROUTING_TIMING_DEFAULTS.rebalanceMs),
    maxMovesPerRebalance: ROUTING_TIMING_DEFAULTS.maxMovesPerRebalance,
    slicePeriodSeconds: seconds(ROUTING_TIMING_DEFAULTS.slicePeriodMs),
    minSliceSeconds: seconds(ROUTING_TIMING_DEFAULTS.minSliceMs),
  },
  workers: DEFAULT_WORKERS,
  listen: { host: '0.0.0.0', port: 3333, tls: null, proxyProtocol: 'off', trustedProxies: [] },
  http: { host: '0.0.0.0', port: 8080, token: null, allowedOrigins: [] },
  workerMode: PROXY_DEFAULTS.workerMode,
  expectedDevices: PROXY_DEFAULTS.expectedDevices,
  minDeviceExtranonce2: PROXY_DEFAULTS.minDeviceExtranonce2,
  maxUpstreamConnections: PROXY_DEFAULTS.maxUpstreamConnections,
  difficulty: {
    start: PROXY_DEFAULTS.startDifficulty,
    min: DEFAULT_VARDIFF.minDifficulty,
    max: DEFAULT_VARDIFF.maxDifficulty,
    targetSharesPerMinute: DEFAULT_VARDIFF.targetSharesPerMinute,
    retargetSeconds: DEFAULT_VARDIFF.retargetSeconds,
    maxStep: DEFAULT_VARDIFF.maxStep,
    multiplier: PROXY_DEFAULTS.difficultyMultiplier,
  },
  limits: {
    maxDevices: DEFAULT_DEVICE_LIMITS.maxDevices,
    maxConnectionsPerIp: DEFAULT_DEVICE_LIMITS.maxConnectionsPerIp,
    handshakeTimeoutSeconds: seconds(DEFAULT_DEVICE_LIMITS.handshakeTimeoutMs),
    idleTimeoutSeconds: seconds(DEFAULT_DEVICE_LIMITS.idleTimeoutMs),
    maxLineBytes: DEFAULT_DEVICE_LIMITS.maxLineBytes,
    maxWriteBufferBytes: DEFAULT_DEVICE_LIMITS.maxWriteBufferBytes,
    submitsPerSecond: DEFAULT_DEVICE_LIMITS.submitsPerSecond,
  },
  access: { workers: [], password: null, allowCidrs: [] },
  upstream: {
    submitTimeoutSeconds: seconds(POOL_CONNECTION_DEFAULTS.submitTimeoutMs),
    failoverAfterAttempts: SLOT_DEFAULTS.failoverAfter,
    probeIntervalSeconds: seconds(SLOT_DEFAULTS.probeIntervalMs),
    connectTimeoutSeconds: seconds(POOL_CONNECTION_DEFAULTS.connectTimeoutMs),
  },
  metrics: { labelIp: false, retentionSeconds: DEFAULT_RETENTION_SECONDS },
  log: { level: 'info', format: 'json' },
  shutdown: { drainSeconds: 10 },
  // Off until given a path: the books need a place the operator chose and keeps (a volume in a container).
  ledger: { path: null, url: null, retentionDays: 0 },
  alerts: DEFAULT_ALERTS_CONFIG,
  owners: {},
  books: DEFAULT_BOOKS,
};

/** What a pool entry may leave out (its name is `pool1`, `pool2`, ... by position). */
export const POOL_DEFAULTS = { password: 'x', tlsVerify: true };

// ---- schema pieces ----------------------------------------------------------------------------------------

type Bounds = Omit<NumberRule, 'int'>;

const number = (integer: boolean, b: Bounds, dflt: number | undefined, description: string): JsonSchema => ({
  ...numberRuleSchema({ ...b, int: integer }),
  ...(dflt !== undefined ? { default: dflt } : {}),
  description,
});
const int = (b: Bounds, dflt: number | undefined, description: string) => number(true, b, dflt, description);
const num = (b: Bounds, dflt: number | undefined, description: string) => number(false, b, dflt, description);
const text = (dflt: string | undefined, description: string): JsonSchema => ({ type: 'string', minLength: 1, ...(dflt !== undefined ? { default: dflt } : {}), description });
const textOrNull = (description: string): JsonSchema => ({ type: ['string', 'null'], minLength: 1, default: null, description });
const bool = (dflt: boolean | undefined, description: string): JsonSchema => ({ type: 'boolean', ...(dflt !== undefined ? { default: dflt } : {}), description });
const oneOf = (choices: readonly string[], dflt: string | undefined, description: string): JsonSchema => ({ type: 'string', enum: [...choices], ...(dflt !== undefined ? { default: dflt } : {}), description });
const texts = (description: string): JsonSchema => ({ type: 'array', items: { type: 'string', minLength: 1 }, default: [], description });
const section = (description: string, properties: Record<string, JsonSchema>): JsonSchema => ({ type: 'object', description, additionalProperties: false, properties });
const fromRule = (r: NumberRule, dflt: number, description: string) => number(r.int === true, r, dflt, description);

const DASHD: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['payoutAddress'],
  description: "this entry is the farm's own dashd (solo): url is its RPC address (http://127.0.0.1:9998), user/password its rpcuser/rpcpassword (or dashd.cookieFile)",
  properties: {
    payoutAddress: { type: 'string', minLength: 1, description: "the Dash address the coinbase pays (checked with dashd's validateaddress at start)" },
    cookieFile: { type: ['string', 'null'], minLength: 1, default: null, description: "dashd's .cookie file (<datadir>/.cookie, read again when dashd restarts), instead of user and password" },
    shareDifficulty: fromRule(DASHD_NUMBER_RULES.shareDifficulty, DASHD_DEFAULTS.shareDifficulty, 'the solo difficulty: shares meeting it are credited in the books (capped at the network difficulty)'),
    coinbaseTag: { type: 'string', maxLength: COINBASE_TAG_MAX_BYTES, pattern: '^[\\x20-\\x7e]*$', default: DASHD_DEFAULTS.coinbaseTag, description: 'ASCII text in every coinbase after the extranonce' },
    pollSeconds: fromRule(DASHD_NUMBER_RULES.pollSeconds, DASHD_DEFAULTS.pollSeconds, "how often dashd's tip is asked (a new tip makes a clean job at once)"),
    templateSeconds: fromRule(DASHD_NUMBER_RULES.templateSeconds, DASHD_DEFAULTS.templateSeconds, 'a fresh template (new transactions and fees) at least this often'),
    blockCheckSeconds: fromRule(DASHD_NUMBER_RULES.blockCheckSeconds, DASHD_DEFAULTS.blockCheckSeconds, "how often a found block's place in the best chain and its ChainLock are checked"),
  },
};

const POOL: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['url'],
  // A Stratum pool needs its login; a dashd entry may leave user and password empty with dashd.cookieFile.
  if: { type: 'object', required: ['dashd'], properties: { dashd: { type: 'object' } } },
  else: { type: 'object', required: ['user'], properties: { user: { type: 'string', minLength: 1 } } },
  properties: {
    name: { type: 'string', minLength: 1, pattern: '\\S', description: 'short name for logs, metrics and the dashboard (default: pool1, pool2, ... by position)' },
    url: { type: 'string', minLength: 1, description: 'stratum+tcp://host:port or stratum+ssl://host:port (a dashd entry: http://host:port, its RPC address)' },
    user: { type: 'string', description: "the pool login: wallet address or account.worker (a dashd entry: its rpcuser, '' with dashd.cookieFile)" },
    password: { type: 'string', default: POOL_DEFAULTS.password, description: "the pool password (a dashd entry: its rpcpassword)" },
    tlsVerify: { type: 'boolean', default: POOL_DEFAULTS.tlsVerify, description: 'stratum+ssl only: check the pool certificate' },
    tlsCa: { type: ['string', 'null'], minLength: 1, description: 'stratum+ssl only: path of a PEM file with the private CA that signed the pool certificate' },
    dashd: DASHD,
  },
};

export const WEBHOOK_SCHEMA: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['url'],
  properties: {
    name: { type: 'string', description: 'name in logs (default: webhook1, webhook2, ...)' },
    url: { type: 'string', description: 'http:// or https:// URL of the webhook' },
    format: { type: 'string', enum: [...WEBHOOK_FORMATS], default: 'json', description: 'payload format' },
    headers: { type: 'object', additionalProperties: { type: 'string' }, description: 'extra request headers, e.g. {"Authorization": "Bearer ..."}' },
    events: { type: 'array', minItems: 1, items: { type: 'string', enum: [...ALERT_KINDS] }, description: 'alert kinds sent to this webhook (default: all)' },
    chatId: { type: ['string', 'integer'], description: 'format telegram: the chat id (-1001234567890 or "@channel")' },
    maxPerMinute: fromRule(WEBHOOK_MAX_PER_MINUTE_RULE, DEFAULT_WEBHOOK_MAX_PER_MINUTE, 'messages a minute at most; the rest waits and goes as one digest'),
  },
};

const NAME = (what: string): JsonSchema => ({ type: 'string', pattern: ROUTE_NAME.pattern, description: `${what}: ${ROUTE_NAME.words}` });

const TARGET: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'pools'],
  properties: {
    name: NAME(`the target's name, unique across routes ("${DEFAULT_TARGET}" only in the default route)`),
    weight: num({ positive: true }, DEFAULT_TARGET_WEIGHT, "the target's share of the route's measured hashrate, against the other targets' weights (97 and 3: 97% and 3%)"),
    pools: { type: 'array', minItems: 1, items: POOL, description: "the target's pools in failover order, each with its own login" },
  },
};

const ROUTE: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'targets'],
  properties: {
    name: NAME(`the route's name, unique; "${DEFAULT_ROUTE}" is the route without match`),
    match: {
      type: 'object',
      additionalProperties: false,
      properties: {
        owners: texts('owners (names in `owners`, or books.farmOwner) whose workers this route takes'),
        workers: texts('worker patterns this route takes: * any run of characters, ? one, case as written'),
      },
      description: 'which workers this route takes (at least one owner or pattern); a route without match is the default route, which takes every worker no route takes',
    },
    targets: { type: 'array', minItems: 1, items: TARGET, description: "where the route's hashrate goes, split by weight" },
    fallback: oneOf(['default', 'none'], DEFAULT_FALLBACK, "when every target is down: 'default' mines on the default route until one is back, 'none' waits"),
  },
};

const ALERT_WORDS: Record<keyof typeof ALERT_NUMBER_RULES, string> = {
  offlineGraceSeconds: 'a device is reported offline only when not back within this',
  groupWindowSeconds: 'alerts of one kind within this window become one message',
  maxNamesListed: 'names listed in a grouped message',
  hashrateDropPercent: 'farm hashrate drop against its average that raises an alert (0: off)',
  hashrateAverageMinutes: 'the average the hashrate is compared with',
  rejectRatePercent: 'farm reject rate that raises an alert (0: off)',
  rejectRateWindowMinutes: 'window of the reject rate',
  rejectRateMinShares: 'shares needed in the window before the reject rate counts',
  checkIntervalSeconds: 'how often hashrate and reject rate are checked',
  requestTimeoutSeconds: 'a webhook request longer than this fails',
  maxAttempts: 'attempts per message',
  retryBaseSeconds: 'first retry delay (doubles)',
  retryMaxSeconds: 'longest retry delay',
  queueSize: 'messages waiting per webhook at most',
};

const OWNER: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    workers: { ...texts('worker patterns this owner owns: * any run of characters, ? one, case as written (e.g. ["alice.*", "rack3.*"])'), default: DEFAULT_OWNER.workers },
    feePercent: num({ min: 0, max: 100 }, DEFAULT_OWNER.feePercent, "hosting fee taken from the owner's payouts for the farm owner, in percent (at most 2 decimals)"),
  },
};

/** The configuration's JSON Schema (draft-07). Pure: the same object every call. */
export function configSchema(): JsonSchema {
  const d = DEFAULT_CONFIG;
  const l = d.limits;
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'dash-farm-proxy configuration',
    description: 'Generated from src/config-schema.ts by `npm run config-schema`: do not edit by hand.',
    type: 'object',
    additionalProperties: false,
    // Without a default route in `routes` (one without match), `pools` is it: at least one pool.
    if: { type: 'object', not: { type: 'object', required: ['routes'], properties: { routes: { type: 'array', contains: { type: 'object', not: { type: 'object', required: ['match'], properties: { match: { type: 'object' } } } } } } } },
    then: { type: 'object', required: ['pools'], properties: { pools: { type: 'array', minItems: 1 } } },
    properties: {
      $schema: { type: 'string', description: 'this schema, for editors' },
      pools: { type: 'array', items: POOL, default: [], description: 'pools in failover order: the default route\'s target "default" (leave it out when a route without match is the default route)' },
      routes: { type: 'array', items: ROUTE, default: [], description: 'routes in any order (their rules may not overlap); a worker no route takes mines on the default route' },
      routing: section('how the split of each route is kept to its weights', {
        rebalanceSeconds: fromRule(scaleNumberRule(ROUTING_TIMING_RULES.rebalanceMs, 1 / 1000), d.routing.rebalanceSeconds, "how often each route's split is planned again from the measured hashrate"),
        maxMovesPerRebalance: fromRule(ROUTING_TIMING_RULES.maxMovesPerRebalance, d.routing.maxMovesPerRebalance, 'whole devices moved per route per rebalance at most (the rest next time)'),
        slicePeriodSeconds: fromRule(scaleNumberRule(ROUTING_TIMING_RULES.slicePeriodMs, 1 / 1000), d.routing.slicePeriodSeconds, 'a time-sliced device visits each of its targets once in this period'),
        minSliceSeconds: fromRule(scaleNumberRule(ROUTING_TIMING_RULES.minSliceMs, 1 / 1000), d.routing.minSliceSeconds, 'no slice shorter than this: a smaller fraction makes the period longer'),
      }),
      workers: {
        anyOf: [
          { type: 'integer', minimum: 1, maximum: WORKERS_MAX },
          { type: 'string', enum: ['auto'] },
        ],
        default: d.workers,
        description: `worker processes sharing the device port (1 to ${WORKERS_MAX}, or "auto": one per core); each holds its share of the devices and its own pool connections, the one HTTP port covers all; limits.maxDevices and limits.maxConnectionsPerIp are divided among them (restart needed)`,
      },
      listen: section('where devices connect', {
        host: text(d.listen.host, 'address devices connect to'),
        port: int({ min: 0, max: 65535 }, d.listen.port, 'Stratum port for devices'),
        tls: {
          type: ['object', 'null'],
          additionalProperties: false,
          required: ['cert', 'key'],
          properties: { cert: text(undefined, 'PEM certificate file'), key: text(undefined, 'PEM key file') },
          default: null,
          description: 'PEM file paths: devices then use stratum+ssl://',
        },
        proxyProtocol: oneOf(
          PROXY_PROTOCOL_MODES,
          d.listen.proxyProtocol,
          "behind a load balancer (HAProxy send-proxy / send-proxy-v2): read the PROXY protocol header (v1 or v2) and use the device's real address; 'optional' also takes connections without a header, 'required' only connections from a trusted proxy with one",
        ),
        trustedProxies: texts('addresses or networks of the load balancers allowed to send a PROXY header, e.g. ["10.0.0.5", "10.1.0.0/16"] (required when proxyProtocol is not off)'),
      }),
      http: section('dashboard, /ws, /metrics, /api/*, /healthz, /readyz', {
        host: text(d.http.host, 'address of the HTTP server'),
        port: int({ min: 0, max: 65535 }, d.http.port, 'HTTP port'),
        token: textOrNull('when set, /metrics, /api, the dashboard and its feed need Authorization: Bearer <token> or ?token='),
        allowedOrigins: texts('extra browser origins allowed on the websocket'),
      }),
      workerMode: oneOf(['farm', 'passthrough'], d.workerMode, "'farm': shares go upstream under the pool login; 'passthrough': under each device's worker name"),
      expectedDevices: int({ min: 1, max: 16_777_216 }, d.expectedDevices, 'devices on the farm: sizes the extranonce prefix'),
      minDeviceExtranonce2: int({ min: 1, max: 8 }, d.minDeviceExtranonce2, 'bytes of extranonce2 each device keeps at least'),
      maxUpstreamConnections: int({ min: 1, max: 1024 }, d.maxUpstreamConnections, "upstream connections per target: lanes of the extranonce space (256^prefix bytes devices each); a target opens one per lane it has devices in"),
      difficulty: section('device difficulty and vardiff', {
        start: num({ positive: true }, d.difficulty.start, "a device's first difficulty (clamped to the pool's); between min and max"),
        min: num({ positive: true }, d.difficulty.min, 'lowest vardiff difficulty'),
        max: num({ positive: true }, d.difficulty.max, "highest vardiff difficulty (a device is never above the pool's either)"),
        targetSharesPerMinute: num({ positive: true, max: 600 }, d.difficulty.targetSharesPerMinute, 'what vardiff aims at'),
        retargetSeconds: num({ min: 1, max: 3600 }, d.difficulty.retargetSeconds, 'shortest time between two retargets'),
        maxStep: num({ min: 1.1, max: 1024 }, d.difficulty.maxStep, 'largest factor of one retarget'),
        multiplier: num({ positive: true }, d.difficulty.multiplier, "the pool's difficulty unit (1 for every X11 pool we know)"),
      }),
      limits: section('device limits', {
        maxDevices: fromRule(DEVICE_LIMIT_RULES.maxDevices, l.maxDevices, 'devices at once'),
        maxConnectionsPerIp: fromRule(DEVICE_LIMIT_RULES.maxConnectionsPerIp, l.maxConnectionsPerIp, 'connections per source address'),
        handshakeTimeoutSeconds: fromRule(scaleNumberRule(DEVICE_LIMIT_RULES.handshakeTimeoutMs, 1 / 1000), l.handshakeTimeoutSeconds, 'time to subscribe and authorize'),
        idleTimeoutSeconds: fromRule(scaleNumberRule(DEVICE_LIMIT_RULES.idleTimeoutMs, 1 / 1000), l.idleTimeoutSeconds, 'a device silent this long is closed'),
        maxLineBytes: fromRule(DEVICE_LIMIT_RULES.maxLineBytes, l.maxLineBytes, 'longest line from a device'),
        maxWriteBufferBytes: fromRule(DEVICE_LIMIT_RULES.maxWriteBufferBytes, l.maxWriteBufferBytes, 'a device that stops reading is dropped past this'),
        submitsPerSecond: fromRule(DEVICE_LIMIT_RULES.submitsPerSecond, l.submitsPerSecond, 'per device, bursts of twice that'),
      }),
      access: section('who may connect', {
        workers: texts('allow-list of worker names (empty: any)'),
        password: textOrNull('shared password devices must send'),
        allowCidrs: texts('address allow-list for the device port, e.g. ["10.0.0.0/8"] (empty: any)'),
      }),
      upstream: section('pool connections', {
        submitTimeoutSeconds: num({ positive: true, max: 600 }, d.upstream.submitTimeoutSeconds, 'a pool answer later than this counts as a timeout'),
        failoverAfterAttempts: int({ min: 1, max: 100 }, d.upstream.failoverAfterAttempts, 'failed attempts before trying the next pool'),
        probeIntervalSeconds: num({ min: 1, max: 86_400 }, d.upstream.probeIntervalSeconds, 'how often a higher-priority pool is probed while on a backup'),
        connectTimeoutSeconds: num({ positive: true, max: 600 }, d.upstream.connectTimeoutSeconds, 'TCP/TLS connect timeout'),
      }),
      metrics: section('Prometheus metrics', {
        labelIp: bool(d.metrics.labelIp, 'add an ip label to per-device series'),
        retentionSeconds: num({ min: 0 }, d.metrics.retentionSeconds, "a disconnected device's series are removed after this"),
      }),
      log: section('logging', {
        level: oneOf(['debug', 'info', 'warn', 'error'], d.log.level, 'log level'),
        format: oneOf(['json', 'pretty'], d.log.format, 'log format'),
      }),
      shutdown: section('graceful stop', {
        drainSeconds: num({ min: 0, max: 600 }, d.shutdown.drainSeconds, 'on SIGTERM, how long pending pool answers are awaited'),
      }),
      ledger: section('the books: every share sent to the pool, per-minute work of each worker, pool switches, starts and stops', {
        path: textOrNull('SQLite file of the books, created when missing (e.g. /var/lib/dash-farm-proxy/ledger.sqlite); null: no books'),
        url: textOrNull('instead of path: a PostgreSQL database several proxies share, postgres://user:password@host:5432/database (the password is never logged)'),
        retentionDays: int({ min: 0, max: 36_500 }, d.ledger.retentionDays, 'share rows and per-minute rows older than this many days are pruned in the background (hourly); 0: kept forever. Payouts, runs and pool switches are always kept'),
      }),
      alerts: section('webhooks for device offline/back, hashrate drop, reject rate, pools, blocks and the books', {
        webhooks: { type: 'array', items: WEBHOOK_SCHEMA, default: [], description: 'where alerts go' },
        instance: textOrNull("the proxy's name in alerts (default: the host name)"),
        ...Object.fromEntries(
          Object.entries(ALERT_NUMBER_RULES).map(([k, rule]) => [k, fromRule(rule, DEFAULT_ALERTS_CONFIG[k as keyof typeof ALERT_NUMBER_RULES], ALERT_WORDS[k as keyof typeof ALERT_NUMBER_RULES])]),
        ),
      }),
      owners: {
        type: 'object',
        additionalProperties: OWNER,
        default: {},
        description: `owner name (${OWNER_NAME.words}) -> {workers, feePercent}; a worker no pattern matches is its name's owner.worker prefix when that owner is listed, else the farm owner's`,
      },
      books: section('the books: owners and payouts', {
        farmOwner: text(DEFAULT_BOOKS.farmOwner, 'the farm itself: owns unmatched workers and receives the hosting fees'),
        payoutMethod: oneOf(PAYOUT_METHODS, DEFAULT_BOOKS.payoutMethod, 'how a payout is split among owners: prop (work in the period), pplns (the last pplnsWindow of work before each block), pps (each unit of work at reward x share difficulty / network difficulty)'),
        pplnsWindow: { type: ['number', 'null'], exclusiveMinimum: 0, default: DEFAULT_BOOKS.pplnsWindow, description: "pplns: the farm's pool-accepted work, in difficulty units, counted back from each block (required for pplns)" },
      }),
    },
  };
}

/** The schema as shipped in config/proxy.schema.json. */
export function configSchemaText(): string {
  return JSON.stringify(configSchema(), null, 2) + '\n';
}
