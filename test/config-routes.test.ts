import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { problemsOf } from './helpers/config-problems.js';
import AjvModule from 'ajv';
import { buildConfig, configFromEnv, readConfigFile } from '../src/config.js';
import { OwnerMap } from '../src/books/owners.js';
import { routingSpec } from '../src/options.js';
import { configSchema } from '../src/config-schema.js';
import { mainCaptured } from './helpers/cli-main.js';

/**
 * `routes` and `routing` in the configuration: defaults, and every refusal naming its field, all at once, at
 * start (the CLI exits 2). SIGHUP refusals are in test/hardening/reload.test.ts.
 */
const Ajv = AjvModule as unknown as typeof AjvModule.default;
const pool = { url: 'stratum+tcp://127.0.0.1:3333', user: 'Xaddr.farm' };
const poolsOf = (user: string) => [{ url: 'stratum+tcp://127.0.0.1:4444', user }];
const target = (name: string, weight?: number) => ({ name, ...(weight !== undefined ? { weight } : {}), pools: poolsOf(name) });
const refused = (config: Record<string, unknown>) => problemsOf(() => buildConfig(config as never));

t.test('defaults: no routes, and the routing timings', async (t) => {
  const c = buildConfig({ pools: [pool] });
  t.same(c.routes, []);
  t.same(c.routing, { rebalanceSeconds: 60, maxMovesPerRebalance: 4, slicePeriodSeconds: 600, minSliceSeconds: 10 });
  const r = buildConfig({ pools: [pool], routes: [{ name: 'b', match: { workers: ['b*'] }, targets: [target('tb')] }] });
  t.same(r.routes, [{ name: 'b', match: { owners: [], workers: ['b*'] }, targets: [{ name: 'tb', weight: 1, pools: [{ ...poolsOf('tb')[0], name: 'pool1', password: 'x', tlsVerify: true }] }], fallback: 'default' }], 'a route with its defaults, its pools as the top-level ones');
  t.same(
    refused({ pools: [pool], routing: { rebalanceSeconds: 0.5, maxMovesPerRebalance: 1.5, slicePeriodSeconds: 0, minSliceSeconds: 7200 } }),
    [
      'routing.rebalanceSeconds must be a number from 1 to 3600 (got 0.5)',
      'routing.maxMovesPerRebalance must be an integer from 1 to 100000 (got 1.5)',
      'routing.slicePeriodSeconds must be a number from 1 to 86400 (got 0)',
      'routing.minSliceSeconds must be a number from 0.1 to 3600 (got 7200)',
    ],
  );
  t.equal(buildConfig(configFromEnv({ DASH_PROXY_POOLS: JSON.stringify([pool]), DASH_PROXY_ROUTING_REBALANCE_SECONDS: '30' })).routing.rebalanceSeconds, 30, 'from the environment too');
});

t.test('the default route: from pools, or the route without match (then no pools)', async (t) => {
  t.equal(buildConfig({ routes: [{ name: 'default', targets: [target('main')] }] }).pools.length, 0, 'pools may be left out');
  t.same(refused({ routes: [{ name: 'a', match: { workers: ['a*'] }, targets: [target('ta')] }] }), [
    'pools must list at least one pool: [{"url": "stratum+tcp://host:port", "user": "...", "password": "x"}] (or use --pool URL --user NAME)',
  ], 'no default route: pools are needed');
  t.same(refused({ pools: [pool], routes: [{ name: 'default', targets: [target('main')] }] }), [
    'pools and routes[0] both give the default route: routes[0] has no match, so its targets replace pools: move pools into routes[0].targets (or leave pools out), or give routes[0] a match',
  ]);
  t.same(refused({ routes: [{ name: 'main', targets: [target('m')], fallback: 'none' }, { name: 'default', targets: [target('d')] }] }), [
    'routes[0].name: a route without match is the default route, named "default" (got "main"): rename it, or give it a match',
    'routes[0].fallback: the default route has no fallback (the other routes fall back to it): leave it out',
    'routes[1]: a second route without match (routes[0] is the default route): give it a match',
  ]);
});

t.test('every route problem at once, each naming its field', async (t) => {
  const problems = refused({
    pools: [pool],
    owners: { alice: { workers: ['rack3.*'] }, bob: {} },
    routes: [
      { name: 'alice', match: { owners: ['alice'] }, targets: [target('alice-own', 98), target('fee', 2)] },
      { name: 'bad weights', match: { owners: ['carol', 'alise'], workers: ['rig[1]'] }, targets: [target('zero', 0), target('neg', -1), target('inf', 1e400), target('text', 'x' as never)] },
      { name: 'empty', match: { workers: [] }, targets: [{ name: 'no-pools', pools: [] }, { name: 'no-list' }, { name: 'fee', pools: [{ url: 'http://x', user: '' }] }] },
      { name: 'alice', match: { workers: ['x*'] }, targets: [{ name: 'default', pools: poolsOf('d') }] },
      { name: 'default', match: { workers: ['y*'] }, targets: [] },
      { name: 'fallbacks', match: { workers: ['z*'] }, targets: [target('z')], fallback: 'other' },
    ],
  });
  const expected = [
    'routes[1].name must be letters, digits, _, . and - (1 to 64) (got "bad weights")',
    "routes[1].targets[0].weight must be a finite number > 0, the target's share against the route's other targets (got 0)",
    "routes[1].targets[1].weight must be a finite number > 0, the target's share against the route's other targets (got -1)",
    "routes[1].targets[2].weight must be a finite number > 0, the target's share against the route's other targets (got Infinity)",
    `routes[1].targets[3].weight must be a finite number > 0, the target's share against the route's other targets (got "x")`,
    `routes[2].targets[0].pools must list at least one pool, the target's pools in failover order: [{"url": "stratum+tcp://host:port", "user": "...", "password": "x"}]`,
    `routes[2].targets[1].pools must list at least one pool, the target's pools in failover order: [{"url": "stratum+tcp://host:port", "user": "...", "password": "x"}]`,
    'routes[2].targets[2].pools[0].user must be the pool login (wallet address or account.worker)',
    'routes[4].targets must be a non-empty list of objects (got [])',
    'routes[5].fallback must be one of default, none (got "other")',
    "routes[2].targets[2].pools[0].url: pool url 'http://x': unsupported scheme 'http' (use stratum+tcp:// or stratum+ssl://); an http:// address is a dashd's: give the entry a \"dashd\" object (solo)",
    'routes[1].match.owners[0]: unknown owner "carol" (owners: alice, bob; the farm owner: farm)',
    'routes[1].match.owners[1]: unknown owner "alise" (did you mean alice? owners: alice, bob; the farm owner: farm)',
    "routes[1].match.workers[0] must use only * and ? as wildcards ('[' is not one) (got \"rig[1]\")",
    'routes[2].match must list owners or worker patterns (a route without match is the default route: leave match out for that)',
    'routes[2].targets[2].name "fee" is also routes[0].targets[1].name: a target\'s name is unique across routes',
    'routes[3].name "alice" is also routes[0].name: name each route once',
    `routes[3].targets[0].name: "default" is the default route's target (made of pools): name this one otherwise`,
    `routes[4].name: "default" is the default route's name (the route without match): a route with match needs another name`,
  ];
  t.same(problems, expected, problems.join('\n'));
  t.same(refused({ pools: [pool], routes: [{ name: 'r', match: { workers: ['r*'] }, targets: [{ name: 'a b', pools: poolsOf('u') }] }] }), [
    'routes[0].targets[0].name must be letters, digits, _, . and - (1 to 64) (got "a b")',
  ]);
});

t.test('overlapping routes: each overlap names both rules and a worker both would take', async (t) => {
  const owners = { alice: { workers: ['rack3.*'] }, bob: {}, carol: { workers: ['alice.special'] } };
  const route = (name: string, match: Record<string, string[]>) => ({ name, match, targets: [target(`t-${name}`)] });
  t.same(refused({ pools: [pool], owners, routes: [route('a', { owners: ['alice'] }), route('r3', { workers: ['rack3.1*'] })] }), [
    'routes[1].match.workers[0] "rack3.1*" overlaps routes[0].match.owners[0] "alice": both take "rack3.1" ("alice" by owners.alice.workers[0] "rack3.*"); a worker mines on one route: narrow one of them',
  ], "an owner's pattern");
  t.same(refused({ pools: [pool], owners, routes: [route('a', { owners: ['alice'] }), route('x', { workers: ['ali*'] })] }), [
    'routes[1].match.workers[0] "ali*" overlaps routes[0].match.owners[0] "alice": both take "alice." ("alice" by the owner.worker convention "alice.*"); a worker mines on one route: narrow one of them',
  ], 'the owner.worker convention');
  t.same(refused({ pools: [pool], owners, routes: [route('a', { owners: ['alice'] }), route('b', { owners: ['bob', 'alice'] })] }), [
    'routes[1].match.owners[1] "alice" overlaps routes[0].match.owners[0] "alice" (the same owner); a worker mines on one route: narrow one of them',
  ], 'one owner in two routes');
  t.same(refused({ pools: [pool], owners, routes: [route('house', { owners: ['farm'] }), route('s19', { workers: ['s19-*', 'bob.*'] })] }), [
    'routes[1].match.workers[0] "s19-*" overlaps routes[0].match.owners[0] "farm": both take "s19-" ("farm" as the farm owner (books.farmOwner): the workers no owner takes); a worker mines on one route: narrow one of them',
  ], "the farm owner: every worker no owner takes (bob's are bob's)");
  t.same(refused({ pools: [pool], owners, routes: [route('r', { workers: ['r*', 'x?'] }), route('s', { workers: ['*1'] }), route('t', { workers: ['x*'] })] }), [
    'routes[1].match.workers[0] "*1" overlaps routes[0].match.workers[0] "r*": both take "r1" and routes[0].match.workers[1] "x?": both take "x1"; a worker mines on one route: narrow one of them',
    'routes[2].match.workers[0] "x*" overlaps routes[0].match.workers[1] "x?": both take "xy" and routes[1].match.workers[0] "*1": both take "x1"; a worker mines on one route: narrow one of them',
  ], 'every overlap, one problem per rule');

  // No overlap: what another owner's pattern takes is not alice's by the convention, and patterns that cannot meet.
  const ok = buildConfig({ pools: [pool], owners, routes: [route('a', { owners: ['alice'] }), route('c', { workers: ['alice.special'] }), route('house', { owners: ['farm'] }), route('b', { owners: ['bob'] })] } as never);
  t.same(ok.routes.map((r) => r.name), ['a', 'c', 'house', 'b'], 'disjoint routes are accepted');
});

t.test('the shipped schema says the same for an editor: pools or a default route; a target needs pools; weights > 0', async (t) => {
  const validate = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(configSchema());
  t.ok(validate({ routes: [{ name: 'default', targets: [target('main')] }] }), 'a default route instead of pools');
  t.ok(validate({ pools: [pool], routes: [{ name: 'a', match: { owners: ['x'] }, targets: [target('a', 2)] }] }));
  t.notOk(validate({ routes: [{ name: 'a', match: { owners: ['x'] }, targets: [target('a')] }] }), 'no pools and no default route');
  t.notOk(validate({ pools: [pool], routes: [{ name: 'a', match: { owners: ['x'] }, targets: [{ name: 'a', pools: [] }] }] }), 'a target without pools');
  t.notOk(validate({ pools: [pool], routes: [{ name: 'a', match: { owners: ['x'] }, targets: [target('a', 0)] }] }), 'a weight of 0');
});

t.test('start --config with bad routes: exit 2, every problem naming its field', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dfp-routes-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bad = path.join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ pools: [pool], routes: [{ name: 'a', match: { owners: ['nobody'] }, targets: [{ name: 'ta', weight: -2, pools: [] }] }] }));
  const saved = Object.keys(process.env).filter((k) => k.startsWith('DASH_PROXY_'));
  t.same(saved, [], 'no DASH_PROXY_ variable in the way');
  const r = await mainCaptured(['start', '--config', bad]);
  t.equal(r.code, 2);
  t.equal(r.out, '');
  t.match(r.err, /^dash-farm-proxy start: invalid configuration:\n/);
  t.match(r.err, /  - routes\[0\]\.targets\[0\]\.weight must be a finite number > 0.* \(got -2\)\n/);
  t.match(r.err, /  - routes\[0\]\.targets\[0\]\.pools must list at least one pool/);
  t.match(r.err, /  - routes\[0\]\.match\.owners\[0\]: unknown owner "nobody"/);
});

t.test('config/routes.example.json: the three common cases, valid but for its placeholder pools', async (t) => {
  const example = readConfigFile(path.resolve('config/routes.example.json'));
  const problems = refused(example);
  t.ok(problems.length > 0 && problems.every((p) => /^routes\[\d\]\.targets\[\d\]\.pools\[\d\]\.url: \S+\.example is a placeholder from the example/.test(p)), problems.join('\n'));
  // With its placeholders put right: a second pool's share of the farm, customers on their own accounts, a hosting fee.
  const real = JSON.parse(JSON.stringify(example).replaceAll(/stratum\+(tcp|ssl):\/\/[a-z.]+\.example:\d+/g, 'stratum+tcp://127.0.0.1:3333'));
  const c = buildConfig(real);
  const spec = routingSpec(c, OwnerMap.compile(c.owners, c.books));
  t.same(spec.routes.map((r) => [r.name, r.fallback, r.targets.map((x) => `${x.name}:${x.weight}`)]), [
    ['alice', 'default', ['alice-own:98', 'hosting-fee:2']],
    ['bob', 'none', ['bob-own:1']],
    ['default', 'none', ['main:70', 'second:30']],
  ]);
  t.same(['rack3.01', 'alice.s19', 'bob.d7', 'rig9'].map((w) => spec.routeOf(w)), ['alice', 'alice', 'bob', 'default']);
});
