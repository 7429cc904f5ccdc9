import t from 'tap';
import { OwnerMap } from '../../src/books/owners.js';
import { buildConfig, ConfigError, type ProxyConfig } from '../../src/config.js';
import { routingSpec } from '../../src/options.js';
import { DEFAULT_ROUTE, DEFAULT_TARGET } from '../../src/routing/default-route.js';
import { ROUTE_CACHE_SIZE, routeTable } from '../../src/routing/route-table.js';
import { patternRegExp } from '../../src/util/worker-pattern.js';
import { mulberry32 } from '../helpers/prng.js';

/**
 * The route table: the configuration's routes as the RoutingSpec the proxy applies, and routeOf(worker) by
 * patterns, owners (their patterns and the owner.worker convention) and the default route for the rest.
 */
const pool = { url: 'stratum+tcp://127.0.0.1:3333', user: 'Xfarm.main' };
const poolsOf = (user: string) => [{ url: 'stratum+tcp://127.0.0.1:4444', user }];
const spec = (c: ProxyConfig) => routingSpec(c, OwnerMap.compile(c.owners, c.books));

t.test('no routes: one route "default" with one target "default" on the pools, as before routes existed', async (t) => {
  const c = buildConfig({ pools: [pool, { ...pool, name: 'backup', url: 'stratum+tcp://127.0.0.1:3334' }] });
  const s = spec(c);
  t.same(s.routes, [{ name: DEFAULT_ROUTE, fallback: 'none', targets: [{ name: DEFAULT_TARGET, weight: 1, pools: c.pools }] }]);
  t.same(s.routes[0]!.targets[0]!.pools.map((p) => p.name), ['pool1', 'backup'], 'the same pools, with their defaults');
  for (const w of ['rig1', 'alice.rig1', 'x']) t.equal(s.routeOf(w), DEFAULT_ROUTE, w);
  c.pools[0]!.user = 'changed later';
  t.equal(s.routes[0]!.targets[0]!.pools[0]!.user, pool.user, 'the spec is its own copy');
});

t.test('routeOf: worker patterns, owners by their patterns and by the owner.worker convention, the default route for the rest', async (t) => {
  const c = buildConfig({
    pools: [pool],
    owners: { alice: { workers: ['rack3.*'] }, bob: {}, carol: { workers: ['c-??'] } },
    routes: [
      { name: 'alice', match: { owners: ['alice'] }, targets: [{ name: 'alice-own', weight: 98, pools: poolsOf('alice.farm') }, { name: 'fee', weight: 2, pools: poolsOf('farm') }] },
      { name: 'second', match: { workers: ['s19-*', 'exact-rig'], owners: ['bob'] }, targets: [{ name: 'pool-b', pools: poolsOf('farm.b') }], fallback: 'none' },
    ],
  });
  const s = spec(c);
  t.same(
    s.routes.map((r) => [r.name, r.fallback, r.targets.map((x) => [x.name, x.weight, x.pools[0]!.user])]),
    [
      ['alice', 'default', [['alice-own', 98, 'alice.farm'], ['fee', 2, 'farm']]],
      ['second', 'none', [['pool-b', 1, 'farm.b']]],
      [DEFAULT_ROUTE, 'none', [[DEFAULT_TARGET, 1, pool.user]]],
    ],
    'every route, the default one last; a weight left out is 1, a fallback left out is default',
  );
  const cases: [string, string][] = [
    ['rack3.07', 'alice'], // alice's pattern
    ['alice.rig1', 'alice'], // the convention
    ['bob.s9', 'second'], // bob by the convention
    ['s19-001', 'second'], // a pattern
    ['exact-rig', 'second'], // an exact name
    ['exact-rig2', DEFAULT_ROUTE],
    ['c-01', DEFAULT_ROUTE], // carol has no route
    ['dave.rig', DEFAULT_ROUTE], // dave is no owner: the farm's
    ['Alice.rig1', DEFAULT_ROUTE], // case as written
    ['rig9', DEFAULT_ROUTE],
  ];
  for (const [worker, route] of cases) t.equal(s.routeOf(worker), route, `${worker} -> ${route}`);
  for (const [worker, route] of cases) t.equal(s.routeOf(worker), route, `${worker} -> ${route} (cached)`);
});

t.test('a route without match is the default route; the farm owner as an owner takes the workers no owner has', async (t) => {
  const c = buildConfig({
    owners: { alice: {} },
    routes: [
      { name: 'default', targets: [{ name: 'main', weight: 70, pools: poolsOf('farm') }, { name: 'second', weight: 30, pools: poolsOf('farm.2') }] },
      { name: 'house', match: { owners: ['farm'] }, targets: [{ name: 'house-pool', pools: poolsOf('house') }] },
    ],
  });
  t.same(c.pools, [], 'no top-level pools');
  const s = spec(c);
  t.same(s.routes.map((r) => [r.name, r.targets.map((x) => [x.name, x.weight])]), [['house', [['house-pool', 1]]], [DEFAULT_ROUTE, [['main', 70], ['second', 30]]]]);
  t.equal(s.routeOf('rig1'), 'house', 'no owner: the farm owner');
  t.equal(s.routeOf('alice.rig1'), DEFAULT_ROUTE, "alice's (the convention), and alice has no route");
});

t.test('routeOf asks the owners map it was given (the one in force), once per worker name, and its cache is bounded', async (t) => {
  let asked = 0;
  const owners = { ownerOf: (w: string) => (asked++, w.startsWith('a') ? 'alice' : 'farm') };
  const c = buildConfig({ pools: [pool], owners: { alice: {} }, routes: [{ name: 'alice', match: { owners: ['alice'] }, targets: [{ name: 'a', pools: poolsOf('a') }] }] });
  const s = routeTable(c, owners);
  t.equal(s.routeOf('a1'), 'alice');
  t.equal(s.routeOf('b1'), DEFAULT_ROUTE);
  t.equal(s.routeOf('a1'), 'alice');
  t.equal(asked, 2, 'a worker seen before comes from the cache');
  for (let i = 0; i < ROUTE_CACHE_SIZE + 10; i++) s.routeOf(`b${i}`);
  asked = 0;
  t.equal(s.routeOf('a1'), 'alice', 'the oldest name left the cache ...');
  t.equal(asked, 1, '... and is resolved again');
});

/**
 * The overlap check against brute force: random owners and routes over a small alphabet; whenever the
 * configuration is accepted, no worker name (all names up to 4 characters) is taken by two routes, by the
 * books' own owner resolution; and whenever it is refused for an overlap, such a name exists.
 */
t.test('property: a configuration is refused for overlapping routes exactly when some worker would be taken by two', async (t) => {
  const rand = mulberry32(14);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const chars = ['a', 'b', '.', '*', '?'];
  const pattern = () => Array.from({ length: 1 + Math.floor(rand() * 3) }, () => pick(chars)).join('');
  const names: string[] = [''];
  for (let len = 1; len <= 4; len++) for (const n of names.filter((x) => x.length === len - 1)) for (const c of ['a', 'b', '.', 'x']) names.push(n + c);
  const workers = names.filter((n) => n !== '');
  let accepted = 0;
  let refused = 0;
  for (let run = 0; run < 300; run++) {
    const owners: Record<string, { workers: string[] }> = {};
    for (const o of ['a', 'b']) if (rand() < 0.6) owners[o] = { workers: rand() < 0.5 ? [pattern()] : [] };
    const routes = [0, 1, 2].slice(0, 2 + Math.floor(rand() * 2)).map((i) => {
      const match = { owners: rand() < 0.5 ? [pick([...Object.keys(owners), 'farm'])] : [], workers: rand() < 0.7 ? [pattern()] : [] };
      if (match.owners.length === 0 && match.workers.length === 0) match.workers.push(pattern());
      return { name: `r${i}`, match, targets: [{ name: `t${i}`, pools: poolsOf('u') }] };
    });
    let c: ProxyConfig;
    try {
      c = buildConfig({ pools: [pool], owners, routes } as never);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      // Owners that overlap each other are the owners' check, not this one.
      if (err.problems.some((p) => p.startsWith('owners.'))) continue;
      t.ok(err.problems.every((p) => /^routes\[\d\]\.match\.(owners|workers)\[0\] .* overlaps /.test(p)), `only overlaps: ${err.problems.join(' | ')}`);
      const map = OwnerMap.compile(Object.fromEntries(Object.entries(owners).map(([k, v]) => [k, { ...v, feePercent: 0 }])));
      const takes = (r: (typeof routes)[number], w: string) => r.match.owners.includes(map.ownerOf(w)) || r.match.workers.some((p) => patternRegExp(p).test(w));
      const both = err.problems.map((p) => /both take "([^"]*)"/.exec(p)?.[1] ?? (/\(the same owner\)/.test(p) ? 'same owner' : null));
      for (const [k, w] of both.entries()) {
        t.not(w, null, `the problem names a worker: ${err.problems[k]}`);
        if (w === 'same owner') continue;
        const count = routes.filter((r) => takes(r, w!)).length;
        if (count < 2) t.fail(`"${w}" is taken by ${count} route(s) only: ${err.problems[k]} (owners ${JSON.stringify(owners)}, routes ${JSON.stringify(routes.map((r) => r.match))})`);
      }
      refused++;
      continue;
    }
    accepted++;
    const map = OwnerMap.compile(c.owners, c.books);
    const table = spec(c);
    for (const w of workers) {
      const taking = c.routes.filter((r) => r.match!.owners.includes(map.ownerOf(w)) || r.match!.workers.some((p) => patternRegExp(p).test(w)));
      if (taking.length > 1) t.fail(`"${w}" is taken by ${taking.map((r) => r.name).join(' and ')} (owners ${JSON.stringify(owners)}, routes ${JSON.stringify(routes.map((r) => r.match))})`);
      else if (table.routeOf(w) !== (taking[0]?.name ?? DEFAULT_ROUTE)) t.fail(`routeOf("${w}")`);
    }
  }
  t.ok(accepted > 30 && refused > 30, `both outcomes are exercised: ${accepted} accepted, ${refused} refused`);
});
