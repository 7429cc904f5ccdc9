import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { problemsOf } from './helpers/config-problems.js';
import AjvModule from 'ajv';
import { configSchema, configSchemaText, WEBHOOK_SCHEMA } from '../src/config-schema.js';
import { DEFAULT_ALERTS_CONFIG, WEBHOOK_FIELDS } from '../src/observe/alerts.js';
import { getPath, leafPaths } from '../src/util/path.js';
import { buildConfig, configFromEnv, DEFAULT_CONFIG, readConfigFile, validateConfig } from '../src/config.js';
import { configFromFlags } from '../src/commands/start.js';
import { UsageError } from '../src/commands/command.js';

const Ajv = AjvModule as unknown as typeof AjvModule.default;
const pool = { url: 'stratum+tcp://127.0.0.1:3333', user: 'Xaddr.farm' };

t.test('the example config file is valid but for its placeholder pools and payout address, which are refused by name', async (t) => {
  const example = readConfigFile(path.resolve('config/proxy.example.json'));
  t.same(problemsOf(() => buildConfig(example)), [
    "pools[0].url: dash.pool.example is a placeholder from the example: put your pool's address",
    "pools[1].url: backup.pool.example is a placeholder from the example: put your pool's address",
    "pools[2].dashd.payoutAddress: XyourDashPayoutAddressHere1234567 is a placeholder from the example: put the farm's Dash address, or remove the entry when the farm runs no dashd",
  ]);
  const cfg = buildConfig(example, { pools: [pool] });
  t.equal(cfg.pools.length, 1);
  t.equal(cfg.listen.port, 3333);
});

t.test('defaults fill everything but the pools', async (t) => {
  const cfg = buildConfig({ pools: [pool] });
  t.equal(cfg.listen.port, DEFAULT_CONFIG.listen.port);
  t.equal(cfg.pools[0]!.name, 'pool1', 'a pool without a name gets one');
  t.equal(cfg.pools[0]!.password, 'x');
  t.equal(cfg.pools[0]!.tlsVerify, true, 'certificate checks are on by default');
  t.same(problemsOf(() => buildConfig({})), [
    'pools must list at least one pool: [{"url": "stratum+tcp://host:port", "user": "...", "password": "x"}] (or use --pool URL --user NAME)',
  ]);
});

t.test('every bad value is reported with the field it concerns', async (t) => {
  const problems = problemsOf(() =>
    buildConfig({
      pools: [{ url: 'http://x', user: '' }, { url: 'stratum+tcp://h:1', user: 'u', extra: 1 } as never],
      listen: { port: 99999 },
      http: { token: 5 } as never,
      workerMode: 'solo',
      difficulty: { start: -1, min: 10, max: 1 },
      limits: { maxLineBytes: 10 },
      log: { level: 'loud' },
      metrics: { labelIp: 'yes' } as never,
      frobnicate: true,
    } as never),
  );
  const expect = [
    /^frobnicate: unknown field/,
    /^pools\[0\]\.url: pool url 'http:\/\/x': unsupported scheme 'http'/,
    /^pools\[0\]\.user must be the pool login/,
    /^pools\[1\]\.extra: unknown field \(known: name, url, user, password, tlsVerify, tlsCa, dashd\)$/,
    /^listen\.port must be an integer from 0 to 65535 \(got 99999\)$/,
    /^http\.token must be a non-empty string or null \(got 5\)$/,
    /^workerMode must be one of farm, passthrough \(got "solo"\)$/,
    /^difficulty\.start must be a number > 0 \(got -1\)$/,
    /^limits\.maxLineBytes must be an integer from 512 to 16777216 \(got 10\)$/,
    /^metrics\.labelIp must be true or false \(got "yes"\)$/,
    /^log\.level must be one of debug, info, warn, error \(got "loud"\)$/,
    /^difficulty\.min \(10\) is above difficulty\.max \(1\)$/,
  ];
  for (const re of expect) t.ok(problems.some((p) => re.test(p)), `reported: ${re}`);
  t.equal(problems.length, expect.length, `exactly these problems: ${problems.join(' | ')}`);
});

t.test('config file errors name the file', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dfp-config-'));
  const bad = path.join(dir, 'bad.json');
  writeFileSync(bad, '{"pools": [');
  t.match(problemsOf(() => readConfigFile(bad))[0], /^config file .*bad\.json: not valid JSON/);
  t.match(problemsOf(() => readConfigFile(path.join(dir, 'missing.json')))[0], /missing\.json: not found$/);
  const arr = path.join(dir, 'arr.json');
  writeFileSync(arr, '[]');
  t.match(problemsOf(() => readConfigFile(arr))[0], /must hold a JSON object$/);
});

t.test('environment variables override the file, flags override both', async (t) => {
  const env = { DASH_PROXY_LISTEN_PORT: '4444', DASH_PROXY_HTTP_TOKEN: 'secret', DASH_PROXY_POOLS: JSON.stringify([pool]), DASH_PROXY_METRICS_LABEL_IP: 'true', DASH_PROXY_EXPECTED_DEVICES: '5000' };
  const fromEnv = configFromEnv(env);
  const cfg = buildConfig({ listen: { port: 1111 } }, fromEnv);
  t.equal(cfg.listen.port, 4444);
  t.equal(cfg.http.token, 'secret');
  t.equal(cfg.metrics.labelIp, true);
  t.equal(cfg.expectedDevices, 5000);
  t.same(problemsOf(() => configFromEnv({ DASH_PROXY_POOLS: '[{url:1}]' })), ['DASH_PROXY_POOLS: not valid JSON (Expected property name or \'}\' in JSON at position 2)']);
  t.same(problemsOf(() => buildConfig(configFromEnv({ DASH_PROXY_POOLS: JSON.stringify(pool) }))), ['pools must be a list of pools, [{"url": ..., "user": ...}], not an object']);
  t.same(problemsOf(() => configFromEnv({ DASH_PROXY_HTTP_TOKN: 'x', DASH_PROXY_LIMITS_MAXDEVICES: '5' })), [
    'DASH_PROXY_HTTP_TOKN: no such setting (did you mean DASH_PROXY_HTTP_TOKEN?)',
    'DASH_PROXY_LIMITS_MAXDEVICES: no such setting (did you mean DASH_PROXY_LIMITS_MAX_DEVICES?)',
  ]);
  const tls = buildConfig(configFromEnv({ DASH_PROXY_POOLS: JSON.stringify([pool]), DASH_PROXY_LISTEN_TLS: '{"cert":"/c.pem","key":"/k.pem"}', DASH_PROXY_HTTP_TOKEN: 'null' }));
  t.same(tls.listen.tls, { cert: '/c.pem', key: '/k.pem' }, 'an optional object field (default null) from JSON');
  t.equal(tls.http.token, null);
  const bad = problemsOf(() => buildConfig(configFromEnv({ DASH_PROXY_LISTEN_PORT: 'abc', DASH_PROXY_POOLS: JSON.stringify([pool]) })));
  t.same(bad, ['listen.port must be an integer from 0 to 65535 (got "abc")'], 'a non-number from the environment is named');

  const flagged = configFromFlags(['--pool', 'stratum+tcp://127.0.0.1:1,stratum+ssl://127.0.0.1:2', '--user', 'Xaddr', '--port', '5555', '--log-format', 'pretty'], env);
  t.equal(flagged.listen.port, 5555);
  t.same(flagged.pools.map((p) => p.url), ['stratum+tcp://127.0.0.1:1', 'stratum+ssl://127.0.0.1:2']);
  t.equal(flagged.log.format, 'pretty');
  t.throws(() => configFromFlags(['--pool', 'stratum+tcp://127.0.0.1:1'], {}), UsageError);
  t.throws(() => configFromFlags(['--port', 'x'], {}), /--port/);
});

t.test('validateConfig refuses listen.tls of the wrong shape', async (t) => {
  t.same(problemsOf(() => validateConfig({ ...DEFAULT_CONFIG, pools: [pool], listen: { host: '0.0.0.0', port: 1, tls: { cert: 1 } } } as never)), [
    'listen.tls must be null or {"cert": "path/to/cert.pem", "key": "path/to/key.pem"}',
  ]);
});

t.test('pools[].tlsCa reads a CA file, and names the field when it cannot', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dfp-ca-'));
  const ca = path.join(dir, 'ca.pem');
  writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  const cfg = buildConfig({ pools: [{ ...pool, url: 'stratum+ssl://127.0.0.1:4443', tlsCa: ca }] });
  t.match(cfg.pools[0]!.tlsCa, /BEGIN CERTIFICATE/);
  t.match(problemsOf(() => buildConfig({ pools: [{ ...pool, tlsCa: path.join(dir, 'nope.pem') }] }))[0], /^pools\[0\]\.tlsCa: cannot read .*nope\.pem \(ENOENT\)$/);
  const notPem = path.join(dir, 'x.txt');
  writeFileSync(notPem, 'hello');
  t.match(problemsOf(() => buildConfig({ pools: [{ ...pool, tlsCa: notPem }] }))[0], /^pools\[0\]\.tlsCa: .*x\.txt holds no PEM certificate$/);
});

t.test('config/proxy.schema.json is the schema the loader checks with (run `npm run config-schema` after a change)', async (t) => {
  t.equal(readFileSync(path.resolve('config/proxy.schema.json'), 'utf8'), configSchemaText());
});

t.test('every example config names the schema with $schema and is valid against the shipped file', async (t) => {
  const shipped = JSON.parse(readFileSync(path.resolve('config/proxy.schema.json'), 'utf8'));
  const validate = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(shipped);
  const examples = readdirSync(path.resolve('config')).filter((f) => f.endsWith('.json') && f !== 'proxy.schema.json');
  t.ok(examples.length >= 1, `examples: ${examples.join(', ')}`);
  for (const file of examples) {
    const example = readConfigFile(path.resolve('config', file));
    t.equal(example.$schema, './proxy.schema.json', `${file} names the schema`);
    t.ok(validate(example), `${file} is valid: ${JSON.stringify(validate.errors)}`);
  }
  // The shipped file refuses what the loader refuses (an editor shows the same problems).
  t.notOk(validate({ pools: [pool], limits: { maxLineBytes: 10 } }), 'a bound');
  t.notOk(validate({ pools: [pool], frobnicate: true }), 'an unknown field');
  t.notOk(validate({ pools: [] }), 'no pool');
  t.notOk(validate({ pools: [{ url: 'stratum+tcp://h:1' }] }), 'a pool without user');
});

t.test('the schema\'s defaults are DEFAULT_CONFIG, and the example file writes the same values', async (t) => {
  const defaultsOf = (s: Record<string, unknown>): unknown => {
    if (s.type === 'object' && s.properties) {
      return Object.fromEntries(
        Object.entries(s.properties as Record<string, Record<string, unknown>>)
          .filter(([k]) => k !== '$schema')
          .map(([k, v]) => [k, 'default' in v ? v.default : defaultsOf(v)]),
      );
    }
    return undefined;
  };
  const fromSchema = defaultsOf(configSchema()) as Record<string, unknown>;
  t.same(Object.keys((WEBHOOK_SCHEMA.properties ?? {}) as object), [...WEBHOOK_FIELDS], 'the schema knows the webhook fields alerts.ts knows');
  t.same(fromSchema, { ...DEFAULT_CONFIG, alerts: { ...DEFAULT_ALERTS_CONFIG } });
  const example = readConfigFile(path.resolve('config/proxy.example.json'));
  for (const leaf of leafPaths(example).filter((p) => p[0] !== 'pools' && p[0] !== '$schema')) {
    t.same(getPath(example, leaf), getPath(DEFAULT_CONFIG, leaf), `example ${leaf.join('.')} is the default`);
  }
});

t.test('the README configuration table shows the defaults in force', async (t) => {
  const readme = readFileSync(path.resolve('README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Configuration reference'), readme.indexOf('\n## ', readme.indexOf('## Configuration reference') + 5));
  let checked = 0;
  for (const line of section.split('\n')) {
    const m = /^\| ((?:`[^`]+`(?: \/ )?)+) \| ((?:`[^`]*`(?: \/ )?)+) \|/.exec(line);
    if (!m) continue;
    const fields = [...m[1]!.matchAll(/`([^`]+)`/g)].map((x) => x[1]!);
    const values = [...m[2]!.matchAll(/`([^`]*)`/g)].map((x) => x[1]!);
    t.equal(fields.length, values.length, line);
    fields.forEach((field, i) => {
      const actual = getPath(DEFAULT_CONFIG, field.split('.'));
      const documented = values[i]!;
      if (typeof actual === 'number') t.equal(Number(documented), actual, field);
      else t.equal(documented, typeof actual === 'string' ? actual : JSON.stringify(actual), field);
      checked++;
    });
  }
  t.ok(checked >= 30, `${checked} documented defaults checked`);
});

t.test('a dashd entry (solo): its defaults, a cookie instead of a login, and its problems naming the field', async (t) => {
  const address = 'yQG3wqDEYrW4sp9UcgF6gJWjjgAgmsSFV7';
  const cfg = buildConfig({ pools: [pool, { name: 'own-dashd', url: 'http://127.0.0.1:9998', dashd: { payoutAddress: address, cookieFile: '/home/dash/.dashcore/.cookie' } }] });
  t.same(cfg.pools[1], {
    name: 'own-dashd',
    url: 'http://127.0.0.1:9998',
    user: '',
    password: '',
    tlsVerify: true,
    dashd: { payoutAddress: address, cookieFile: '/home/dash/.dashcore/.cookie', shareDifficulty: 65536, coinbaseTag: '/dash-farm-proxy/', pollSeconds: 1, templateSeconds: 30, blockCheckSeconds: 30 },
  });
  const routed = buildConfig({ pools: [pool], routes: [{ name: 'solo', match: { workers: ['solo.*'] }, targets: [{ name: 'own', pools: [{ url: 'http://127.0.0.1:9998', user: 'rpc', password: 'pw', dashd: { payoutAddress: address, shareDifficulty: 1024 } }] }] }] });
  t.match(routed.routes[0]!.targets[0]!.pools[0], { user: 'rpc', password: 'pw', dashd: { payoutAddress: address, shareDifficulty: 1024, pollSeconds: 1 } }, "a route target's pools take dashd entries too");
  t.same(
    problemsOf(() =>
      buildConfig({
        pools: [
          { url: 'http://127.0.0.1:9998', dashd: { payoutAddress: address, pollSeconds: 0, coinbaseTag: 'é' } },
          { url: 'stratum+tcp://127.0.0.1:9998', user: 'u', dashd: { payoutAddress: 'not-an-address' } },
          { url: 'http://127.0.0.1:9998', user: 'u' },
          { url: 'http://127.0.0.1:9998', user: 'u', dashd: { cookieFile: '' } },
        ],
        routes: [{ name: 'solo', match: { workers: ['solo.*'] }, targets: [{ name: 'own', pools: [{ url: 'http://127.0.0.1', user: 'u', dashd: { payoutAddress: address } }] }] }],
      }),
    ),
    [
      'pools[0].dashd.coinbaseTag must be printable ASCII text of at most 40 characters (got "é")',
      'pools[0].dashd.pollSeconds must be a number from 0.05 to 60 (got 0)',
      'pools[3].dashd.payoutAddress must be the Dash address the coinbase pays',
      'pools[3].dashd.cookieFile must be a non-empty string or null (got "")',
      "pools[0].user: must be dashd's rpcuser (or set dashd.cookieFile to dashd's .cookie file)",
      "pools[1].url: 'stratum+tcp://127.0.0.1:9998': a dashd entry needs http://host:port (its RPC address, e.g. http://127.0.0.1:9998)",
      "pools[1].dashd.payoutAddress: 'not-an-address' is not a Dash address (base58, 25 to 36 characters)",
      'pools[2].url: pool url \'http://127.0.0.1:9998\': unsupported scheme \'http\' (use stratum+tcp:// or stratum+ssl://); an http:// address is a dashd\'s: give the entry a "dashd" object (solo)',
      "routes[0].targets[0].pools[0].url: 'http://127.0.0.1': missing port: a dashd entry needs http://host:port (its RPC address, e.g. http://127.0.0.1:9998)",
    ],
  );
});

t.test('more problems, each naming its field and value: unknown fields with a suggestion, start outside [min, max], pools', async (t) => {
  t.same(problemsOf(() => buildConfig({ pools: [pool], difficulty: { strat: 5 } } as never)), [
    'difficulty.strat: unknown field (did you mean start? known: start, min, max, targetSharesPerMinute, retargetSeconds, maxStep, multiplier)',
  ]);
  t.same(problemsOf(() => buildConfig({ pools: [pool], difficulty: { start: 0.01 } })), ['difficulty.start (0.01) must be from difficulty.min (1) to difficulty.max (1000000000): move the bound too']);
  t.equal(buildConfig({ pools: [pool], difficulty: { start: 0.01, min: 0.001 } }).difficulty.start, 0.01, 'a start inside the bounds set');
  t.same(problemsOf(() => buildConfig({ pools: [pool, { ...pool, name: 'pool1' }] })), ["pools[1].name: 'pool1' is used by another pool"], 'the upstream\'s own rule, one message');
  t.same(problemsOf(() => buildConfig({ pools: [{ ...pool, name: ' ' }] })), ['pools[0].name must be a non-empty string (got " ")']);
  t.same(problemsOf(() => buildConfig({ pools: [{ ...pool, url: 5 }] } as never)), ['pools[0].url must be a string like stratum+tcp://host:port']);
  t.same(problemsOf(() => buildConfig({ pools: [{ url: pool.url }] } as never)), ['pools[0].user must be the pool login (wallet address or account.worker)']);
  t.same(problemsOf(() => buildConfig({ pools: [pool], access: { allowCidrs: ['10.0.0.0/33', ''] } })), [
    'access.allowCidrs[1] must be a non-empty string (got "")',
    "access.allowCidrs[0]: '10.0.0.0/33': the prefix length must be 0 to 32",
  ]);
  t.same(problemsOf(() => buildConfig({ pools: [pool], http: { allowedOrigins: 'x' } } as never)), ['http.allowedOrigins must be a list of non-empty strings (got "x")']);
  t.same(problemsOf(() => buildConfig({ pools: [pool], alerts: { maxAttempts: 0 } })), ['alerts.maxAttempts must be an integer from 1 to 20 (got 0)'], 'alerts checked once, by their component');
  t.same(problemsOf(() => configFromEnv({ DASH_PROXY_DIFICULTY_START: '1' })), ['DASH_PROXY_DIFICULTY_START: no such setting (did you mean DASH_PROXY_DIFFICULTY_START?)']);
  const cfg = buildConfig({ $schema: './proxy.schema.json', pools: [pool], http: { token: '' }, access: { password: '' } });
  t.notOk('$schema' in cfg, 'the $schema reference is for editors only');
  t.equal(cfg.http.token, null, 'an empty token is no token');
  t.equal(cfg.access.password, null);
});

t.test('the PROXY protocol settings: a mode, trusted proxies as CIDRs, each problem naming its field', async (t) => {
  t.same(buildConfig({ pools: [pool] }).listen, { host: '0.0.0.0', port: 3333, tls: null, proxyProtocol: 'off', trustedProxies: [] }, 'off by default');
  const on = buildConfig({ pools: [pool], listen: { proxyProtocol: 'required', trustedProxies: ['10.0.0.5', 'fd00::/8'] } });
  t.same([on.listen.proxyProtocol, on.listen.trustedProxies], ['required', ['10.0.0.5', 'fd00::/8']]);
  t.match(problemsOf(() => buildConfig({ pools: [pool], listen: { proxyProtocol: 'on' } } as never)), [/^listen\.proxyProtocol .*off.*optional.*required.*"on"/]);
  t.same(problemsOf(() => buildConfig({ pools: [pool], listen: { proxyProtocol: 'optional' } })), [
    'listen.trustedProxies must list the load balancers\' addresses when listen.proxyProtocol is "optional" (e.g. ["10.0.0.5"]): a PROXY header is taken only from them',
  ]);
  t.same(problemsOf(() => buildConfig({ pools: [pool], listen: { proxyProtocol: 'required', trustedProxies: ['10.0.0.0/40', 'balancer'] } })), [
    "listen.trustedProxies[0]: '10.0.0.0/40': the prefix length must be 0 to 32",
    "listen.trustedProxies[1]: 'balancer' is not an IPv4 or IPv6 address",
  ]);
  t.same(configFromEnv({ DASH_PROXY_LISTEN_PROXY_PROTOCOL: 'required', DASH_PROXY_LISTEN_TRUSTED_PROXIES: '["10.0.0.5", "10.0.0.6"]' }).listen, { proxyProtocol: 'required', trustedProxies: ['10.0.0.5', '10.0.0.6'] }, 'from the environment too');
});
