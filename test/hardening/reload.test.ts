import t from 'tap';
import { createProxyApp, type ProxyApp } from '../../src/app.js';
import { buildConfig, ConfigError, type ProxyConfig } from '../../src/config.js';
import { applyConfig, diffConfig, reloadConfig } from '../../src/reload.js';
import { hasher } from '../helpers/share-kit.js';
import { healthyPool, ScriptedPool } from '../helpers/scripted-pool.js';
import { errorOf, LineClient } from '../helpers/line-client.js';
import { until } from '../helpers/wait.js';
import { GoodDevice, recordingLogger } from './helpers.js';

/**
 * Configuration reload: the pure diff (what applies live, what needs a restart) and applying it to a
 * running app (access lists, limits, start difficulty) without dropping anyone.
 */
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const pools = [{ name: 'A', url: 'stratum+tcp://127.0.0.1:3333', user: 'farm', password: 'x' }];
const base = buildConfig({ pools });
const edit = (over: Record<string, unknown>): ProxyConfig => buildConfig({ pools }, over as never);

t.test('diffConfig: live fields apart from restart-only ones; arrays compare whole', async (t) => {
  t.same(diffConfig(base, structuredClone(base)), { apply: [], restartNeeded: [] }, 'nothing changed');
  const next = edit({
    pools: [...pools, { name: 'B', url: 'stratum+tcp://127.0.0.1:3334', user: 'farm', password: 'x' }],
    limits: { maxConnectionsPerIp: 5, submitsPerSecond: 10 },
    difficulty: { start: 512, maxStep: 2, multiplier: 2 },
    access: { workers: ['rig1'], password: 'pw', allowCidrs: ['10.0.0.0/8'] },
    listen: { port: 4444 },
    http: { token: 'secret' },
    log: { level: 'debug' },
    upstream: { submitTimeoutSeconds: 5 },
    workerMode: 'passthrough',
    shutdown: { drainSeconds: 3 },
  });
  t.same(diffConfig(base, next), {
    apply: ['access.allowCidrs', 'access.password', 'access.workers', 'difficulty.maxStep', 'difficulty.start', 'limits.maxConnectionsPerIp', 'limits.submitsPerSecond', 'pools', 'shutdown.drainSeconds'],
    restartNeeded: ['difficulty.multiplier', 'http.token', 'listen.port', 'log.level', 'upstream.submitTimeoutSeconds', 'workerMode'],
  });
  t.same(diffConfig(base, edit({ pools: [{ ...pools[0], password: 'y' }] })), { apply: ['pools'], restartNeeded: [] }, 'a pool password is a pool change');  const behind = edit({ listen: { proxyProtocol: 'required', trustedProxies: ['10.0.0.5'] } });
  t.same(diffConfig(base, behind), { apply: ['listen.trustedProxies'], restartNeeded: ['listen.proxyProtocol'] }, 'the PROXY protocol: the mode at a restart, the trusted proxies live');
});

async function runningApp(t: Test, config: ProxyConfig): Promise<ProxyApp & { records: ReturnType<typeof recordingLogger>['records'] }> {
  const log = recordingLogger();
  const app = await createProxyApp(config, { hasher, log });
  await app.start();
  t.teardown(() => app.stop());
  return Object.assign(app, { records: log.records });
}

t.test('applyConfig on a running app: access lists, limits and start difficulty change, nobody is dropped', async (t) => {
  const pool = await ScriptedPool.start({ behaviour: healthyPool({ extranonce1: 'aaaa0000', extranonce2Size: 8, difficulty: 0.5 }) });
  t.teardown(() => pool.close());
  const cfg = (over: Record<string, unknown> = {}) =>
    buildConfig(
      {
        pools: [{ name: 'A', url: pool.url, user: 'farm', password: 'x' }],
        listen: { host: '127.0.0.1', port: 0, tls: null },
        http: { host: '127.0.0.1', port: 0, token: null, allowedOrigins: [] },
        expectedDevices: 10,
        difficulty: { start: 0.001, min: 1e-9, max: 1e9 },
      },
      over as never,
    );
  const app = await runningApp(t, cfg());
  const port = app.devices.address!.port;
  const refusedCauses: string[] = [];
  app.bus.on('limit.refused', (e) => refusedCauses.push(e.cause));
  await until(() => app.proxy.isReady, 'ready');
  const rig1 = await GoodDevice.connect(port, 'rig1', '127.0.0.2');
  const rig2 = await GoodDevice.connect(port, 'rig2', '127.0.0.3');
  t.teardown(() => [rig1, rig2].forEach((d) => d.client.close()));
  t.equal(rig1.current()?.difficulty ?? rig1.client.notifications('mining.set_difficulty')[0]?.params?.[0], 0.001);

  const next = cfg({
    difficulty: { start: 0.004, min: 1e-9, max: 1e9 },
    limits: { submitsPerSecond: 1 },
    access: { workers: ['rig1', 'rig3'], password: 'pw', allowCidrs: ['127.0.0.2/32', '127.0.0.3/32', '127.0.0.4/32'] },
    listen: { host: '127.0.0.1', port: 1, tls: null },
  });
  const diff = applyConfig(app, next);
  t.same(diff, { apply: ['access.allowCidrs', 'access.password', 'access.workers', 'difficulty.start', 'limits.submitsPerSecond'], restartNeeded: ['listen.port'] });
  t.equal(app.config.listen.port, 0, 'the running value of a restart-only field stays in force');
  t.equal(app.config.difficulty.start, 0.004, 'live values are in force');
  t.match(app.records.find((r) => r.msg === 'configuration reloaded')?.fields, { applied: diff.apply, restartNeeded: ['listen.port'] });
  t.ok(app.records.some((r) => r.level === 'warn' && r.msg.startsWith('some changed settings take effect only after a restart')));

  t.notOk(rig1.client.closed || rig2.client.closed, 'devices already connected stay (rig2 is no longer on the list, but is not dropped)');
  // New authorizations follow the new lists.
  const c3 = await LineClient.connect(port, '127.0.0.4');
  t.teardown(() => c3.close());
  await c3.request('mining.subscribe', []);
  t.same(errorOf(await c3.request('mining.authorize', ['rig2', 'pw'])), [24, 'Worker rig2 is not on the allow-list', null]);
  t.same(errorOf(await c3.request('mining.authorize', ['rig3', 'x'])), [24, 'Wrong password', null]);
  t.equal(refusedCauses.filter((c) => c === 'authorize_refused').length, 2, 'both refusals counted');
  t.equal((await c3.request('mining.authorize', ['rig3', 'pw'])).result, true);
  const d = await c3.waitFor((l) => l.method === 'mining.set_difficulty', 5000, true);
  t.same(d.params, [0.004], 'a device authorizing now starts at the new difficulty');
  const outsider = await LineClient.connect(port, '127.0.0.9');
  await t.resolves(outsider.waitClosed(5000), 'an address outside the new CIDR list is refused');
  // The new submit rate applies to a device already connected.
  const flood = Array.from({ length: 4 }, (_, i) => JSON.stringify({ id: 500 + i, method: 'mining.submit', params: ['rig1', 'ffff', '0000000000000000', '00000000', '00000000'] })).join('\n');
  rig1.client.sendRaw(flood + '\n');
  await until(() => rig1.client.lines.filter((l) => typeof l.id === 'number' && l.id >= 500).length === 4, 'four answers');
  t.ok(rig1.client.lines.some((l) => errorOf(l)?.[1] === 'Too many submits: the limit is 1 per second'), 'the new rate is in force for rig1');

  // Reload with the same file again: the restart-only change is reported again, nothing else.
  t.same(applyConfig(app, next), { apply: [], restartNeeded: ['listen.port'] });
});

t.test('applyConfig: the PROXY protocol\'s trusted proxies change live, for new connections', async (t) => {
  const pool = await ScriptedPool.start({ behaviour: healthyPool() });
  t.teardown(() => pool.close());
  const cfg = (trustedProxies: string[]) =>
    buildConfig({
      pools: [{ name: 'A', url: pool.url, user: 'farm', password: 'x' }],
      listen: { host: '127.0.0.1', port: 0, tls: null, proxyProtocol: 'required', trustedProxies },
      http: { host: '127.0.0.1', port: 0, token: null, allowedOrigins: [] },
    });
  const app = await runningApp(t, cfg(['127.0.0.2']));
  const port = app.devices.address!.port;
  const connected: string[] = [];
  const refused: string[] = [];
  app.bus.on('device.connected', (e) => connected.push(e.ip));
  app.bus.on('limit.refused', (e) => refused.push(`${e.cause} ${e.ip}`));
  const viaBalancer = async (from: string, client: string) => {
    const c = await LineClient.connect(port, from);
    t.teardown(() => c.close());
    c.sendRaw(`PROXY TCP4 ${client} 127.0.0.1 40000 ${port}\r\n`);
    return c;
  };
  const before = await viaBalancer('127.0.0.2', '198.51.100.1');
  t.ok(Array.isArray((await before.request('mining.subscribe', [])).result));
  t.same(applyConfig(app, cfg(['127.0.0.3'])), { apply: ['listen.trustedProxies'], restartNeeded: [] });
  const oldBalancer = await viaBalancer('127.0.0.2', '198.51.100.2');
  await t.resolves(oldBalancer.waitClosed(5000), 'the balancer taken off the list is refused');
  const newBalancer = await viaBalancer('127.0.0.3', '198.51.100.3');
  t.ok(Array.isArray((await newBalancer.request('mining.subscribe', [])).result));
  t.same(connected, ['198.51.100.1', '198.51.100.3']);
  t.same(refused, ['proxy_untrusted 127.0.0.2']);
  t.notOk(before.closed, 'a device already connected through the old balancer stays');
  t.same(app.config.listen.trustedProxies, ['127.0.0.3'], 'in force');
});

t.test('a reload that cannot be applied changes nothing; a broken file is refused with its problems logged', async (t) => {
  const pool = await ScriptedPool.start({ behaviour: healthyPool() });
  t.teardown(() => pool.close());
  const good = buildConfig({
    pools: [{ name: 'A', url: pool.url, user: 'farm', password: 'x' }],
    listen: { host: '127.0.0.1', port: 0, tls: null },
    http: { host: '127.0.0.1', port: 0, token: null, allowedOrigins: [] },
  });
  const app = await runningApp(t, good);
  const broken = { ...structuredClone(good), pools: [{ name: 'A', url: 'http://nope', user: 'farm', password: 'x' }], access: { workers: ['only'], password: null, allowCidrs: [] } };
  t.throws(() => applyConfig(app, broken), ConfigError);
  t.equal(app.access.checkCredentials('anyone', 'x'), null, 'the access list was not changed either');
  t.same(app.config, good);

  t.equal(
    reloadConfig(app, () => {
      throw new ConfigError(['limits.maxDevices must be an integer >= 1 (got 0)']);
    }),
    null,
  );
  t.equal(reloadConfig(app, () => broken), null, 'a config the slot refuses is refused as a whole');
  const refused = app.records.filter((r) => r.level === 'error' && r.msg === 'configuration reload refused: the running configuration is kept').map((r) => r.fields.problems as string[]);
  t.equal(refused.length, 2);
  t.same(refused[0], ['limits.maxDevices must be an integer >= 1 (got 0)']);
  t.match(refused[1]![0], /^pools\[0\]\.url: /);
  t.equal(app.access.checkCredentials('anyone', 'x'), null);
  t.same(reloadConfig(app, () => good), { apply: [], restartNeeded: [] }, 'a reload with nothing changed');
});

t.test('applyConfig: a new pool list reaches the running upstream (through the proxy), the config in force follows', async (t) => {
  const a = await ScriptedPool.start({ behaviour: healthyPool() });
  const b = await ScriptedPool.start({ behaviour: healthyPool({ extranonce1: 'bbbb0000' }) });
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const cfg = (pools: { name: string; url: string }[]) =>
    buildConfig({
      pools: pools.map((p) => ({ ...p, user: 'farm', password: 'x' })),
      listen: { host: '127.0.0.1', port: 0, tls: null },
      http: { host: '127.0.0.1', port: 0, token: null, allowedOrigins: [] },
    });
  const app = await runningApp(t, cfg([{ name: 'A', url: a.url }]));
  await until(() => app.proxy.isReady, 'ready on A');
  const pools: string[] = [];
  app.bus.on('pool.switch', (e) => pools.push(e.to));
  const { routing, ...diff } = applyConfig(app, cfg([{ name: 'B', url: b.url }]));
  t.same(diff, { apply: ['pools'], restartNeeded: [] });
  t.same(routing?.routes.map((r) => [r.name, r.targets.map((x) => [x.name, x.pools.map((p) => p.name)])]), [['default', [['default', ['B']]]]], 'the new routing: the default route on B');
  t.equal(app.routing, routing, 'the app holds it for the proxy');
  await until(() => b.connections >= 1 && app.proxy.isReady && pools.includes('B'), () => `switched to B (switches: ${pools.join(', ')})`);
  t.same(app.config.pools.map((p) => p.name), ['B']);
});

t.test('app.stop() with devices connected: they get client.reconnect and the stop completes (bounded)', async (t) => {
  const pool = await ScriptedPool.start({ behaviour: healthyPool({ extranonce2Size: 8 }) });
  t.teardown(() => pool.close());
  const log = recordingLogger();
  const app = await createProxyApp(
    buildConfig({
      pools: [{ name: 'A', url: pool.url, user: 'farm', password: 'x' }],
      listen: { host: '127.0.0.1', port: 0, tls: null },
      http: { host: '127.0.0.1', port: 0, token: null, allowedOrigins: [] },
      expectedDevices: 10,
    }),
    { hasher, log },
  );
  await app.start();
  await until(() => app.proxy.isReady, 'ready');
  const devices = await Promise.all(['a', 'b', 'c'].map((w) => GoodDevice.connect(app.devices.address!.port, w)));
  const started = Date.now();
  await app.stop();
  t.ok(Date.now() - started < 8000, `stopped in ${Date.now() - started} ms`);
  for (const d of devices) {
    t.ok(d.client.lines.some((l) => l.method === 'client.reconnect'), `${d.worker} got client.reconnect`);
    await d.client.waitClosed(5000);
  }
});

t.test('SIGHUP owners: a new map applies from then on (devices re-resolved, credited work stays); invalid owners keep the old map', async (t) => {
  const pool = await ScriptedPool.start({ behaviour: healthyPool({ extranonce2Size: 8, difficulty: 1e-6 }) });
  t.teardown(() => pool.close());
  // The owners section as given (a file's section replaces the whole, it is not merged with another's).
  const cfg = (owners: Record<string, unknown>, farmOwner = 'farm') =>
    buildConfig({
      pools: [{ name: 'A', url: pool.url, user: 'farm', password: 'x' }],
      listen: { host: '127.0.0.1', port: 0, tls: null },
      http: { host: '127.0.0.1', port: 0, token: null, allowedOrigins: [] },
      expectedDevices: 10,
      difficulty: { start: 1e-7, min: 1e-9, max: 1e9 },
      owners: owners as never,
      books: { farmOwner },
    });
  const app = await runningApp(t, cfg({ alice: { workers: ['rig-a*'], feePercent: 2 } }));
  await until(() => app.proxy.isReady, 'ready');
  const port = app.devices.address!.port;
  const a1 = await GoodDevice.connect(port, 'rig-a1');
  const b1 = await GoodDevice.connect(port, 'rig-b1');
  t.teardown(() => [a1, b1].forEach((d) => d.client.close()));
  await until(() => a1.current() !== null && b1.current() !== null, 'jobs');
  t.equal((await a1.submitOne()).result, true);
  t.equal((await b1.submitOne()).result, true);
  const owner = (name: string) => app.ledger.ownerList().find((o) => o.owner === name);
  t.equal(app.ledger.device('rig-a1')!.owner, 'alice');
  t.equal(app.ledger.device('rig-b1')!.owner, 'farm');
  const aliceWork = owner('alice')!.work;
  t.equal(aliceWork, app.ledger.device('rig-a1')!.work, "alice is credited rig-a1's work");
  t.ok(aliceWork > 0);

  // rig-a* moves to bob, the farm owner is renamed: live, nothing needs a restart.
  const next = cfg({ bob: { workers: ['rig-a*'] } }, 'house');
  const diff = applyConfig(app, next);
  t.same(diff.restartNeeded, [], 'owners and books.farmOwner need no restart');
  t.ok(diff.apply.includes('books.farmOwner') && diff.apply.includes('owners.bob.workers') && diff.apply.includes('owners.alice.workers'), `applied: ${diff.apply.join(', ')}`);
  t.same(app.config.owners, { bob: { workers: ['rig-a*'], feePercent: 0 } }, 'the owners in force are the new section, alice gone');
  t.equal(app.config.books.farmOwner, 'house');
  t.same(app.ledger.owners.names, ['bob', 'house'], 'the new map is in force');
  t.match(app.records.find((r) => r.msg.startsWith('owners map in force from now on'))?.fields, { owners: ['bob', 'house'], farmOwner: 'house', devicesMoved: 2 });
  t.equal(app.ledger.device('rig-a1')!.owner, 'bob', 'a connected device is re-resolved');
  t.equal(app.ledger.device('rig-b1')!.owner, 'house');
  t.notOk(a1.client.closed || b1.client.closed, 'nobody is dropped');

  t.equal((await a1.submitOne()).result, true);
  t.match(owner('alice'), { configured: false, work: aliceWork, devices: 0 }, 'alice keeps what she was credited, though no longer configured');
  t.equal(owner('bob')!.work, app.ledger.device('rig-a1')!.work - aliceWork, "bob is credited rig-a1's work from the reload on only");
  t.same(applyConfig(app, next), { apply: [], restartNeeded: [] }, 'the same file again changes nothing');

  // Invalid owners: refused with every problem named, the map in force stays.
  const mapInForce = app.ledger.owners;
  const overlapping = { bob: { workers: ['rig-a*'] }, carol: { workers: ['rig-*'], feePercent: 101 } };
  t.equal(reloadConfig(app, () => cfg(overlapping, 'house')), null, 'refused');
  const problems = app.records.filter((r) => r.level === 'error' && r.msg === 'configuration reload refused: the running configuration is kept').at(-1)!.fields.problems as string[];
  t.ok(problems.some((p) => p.includes('owners.carol.workers[0] "rig-*" overlaps owners.bob.workers[0] "rig-a*"')), `the overlap is named: ${problems.join(' | ')}`);
  t.ok(problems.some((p) => p.includes('owners.carol.feePercent')), 'and the fee');
  t.equal(app.ledger.owners, mapInForce, 'the old map stays in force');
  t.equal(app.ledger.device('rig-a1')!.owner, 'bob');
  // A configuration that skipped validation is still checked before anything changes.
  const unchecked = structuredClone(next);
  (unchecked.owners as Record<string, unknown>).bob = { workers: ['rig[a]'], feePercent: 0 };
  t.throws(() => applyConfig(app, unchecked), ConfigError);
  t.equal(app.ledger.owners, mapInForce);
  t.same(app.config.owners, { bob: { workers: ['rig-a*'], feePercent: 0 } });
});

t.test('SIGHUP routes: a new routing for the proxy (with the owners map in force); bad routes are refused with every field named, the routing in force stays', async (t) => {
  const pool = await ScriptedPool.start({ behaviour: healthyPool({ extranonce2Size: 8 }) });
  t.teardown(() => pool.close());
  const target = (name: string, weight?: number) => ({ name, ...(weight !== undefined ? { weight } : {}), pools: [{ name: `${name}-pool`, url: pool.url, user: `${name}.farm` }] });
  const cfg = (routes: unknown[], owners: Record<string, unknown> = { alice: {} }) =>
    buildConfig({
      pools: [{ name: 'A', url: pool.url, user: 'farm', password: 'x' }],
      listen: { host: '127.0.0.1', port: 0, tls: null },
      http: { host: '127.0.0.1', port: 0, token: null, allowedOrigins: [] },
      owners: owners as never,
      routes: routes as never,
    });
  const app = await runningApp(t, cfg([]));
  await until(() => app.proxy.isReady, 'ready');
  const before = app.routing;
  t.same(before.routes.map((r) => r.name), ['default']);

  const split = [{ name: 'alice', match: { owners: ['alice'] }, targets: [target('alice-own', 98), target('fee', 2)] }];
  const result = applyConfig(app, cfg(split));
  t.same([result.apply, result.restartNeeded], [['routes'], []], 'routes apply live');
  t.equal(app.routing, result.routing, 'the app holds the new routing');
  t.same(app.routing.routes.map((r) => [r.name, r.targets.map((x) => `${x.name}:${x.weight}`)]), [['alice', ['alice-own:98', 'fee:2']], ['default', ['default:1']]]);
  t.equal(app.routing.routeOf('alice.rig1'), 'alice', "by the owners map in force (alice's by the convention)");
  t.match(app.records.find((r) => r.msg === 'routes in force from now on')?.fields, { routes: [{ route: 'alice', targets: [{ target: 'alice-own', weight: 98 }, { target: 'fee', weight: 2 }] }, { route: 'default' }] });
  t.equal(app.proxy.isReady, true, 'the proxy keeps its pools (the default route did not change)');

  // The owners map changes, the routes not: a new routing, resolving with the new map.
  const owned = applyConfig(app, cfg(split, { alice: { workers: ['rack3.*'] } }));
  t.ok(owned.routing, 'a changed owners map makes a new routing');
  t.equal(app.routing.routeOf('rack3.01'), 'alice');

  const inForce = app.routing;
  const bad = [
    { name: 'alice', match: { owners: ['alice', 'nobody'] }, targets: [target('alice-own', 0), { name: 'fee', pools: [] }] },
    { name: 'racks', match: { workers: ['rack3.0*'] }, targets: [target('fee')] },
  ];
  t.equal(reloadConfig(app, () => cfg(bad, { alice: { workers: ['rack3.*'] } })), null, 'refused');
  const problems = app.records.filter((r) => r.msg === 'configuration reload refused: the running configuration is kept').at(-1)!.fields.problems as string[];
  for (const field of ['routes[0].targets[0].weight', 'routes[0].targets[1].pools', 'routes[0].match.owners[1]: unknown owner "nobody"', 'routes[1].targets[0].name "fee" is also routes[0].targets[1].name', 'routes[1].match.workers[0] "rack3.0*" overlaps routes[0].match.owners[0] "alice"']) {
    t.ok(problems.some((p) => p.startsWith(field)), `named: ${field}`);
  }
  t.equal(problems.length, 5, problems.join(' | '));
  t.equal(app.routing, inForce, 'the routing in force stays');
  t.same(app.config.routes, cfg(split).routes, 'and so do the routes in force');
  // A configuration that skipped validation is still checked before anything changes.
  const unchecked = structuredClone(cfg(split, { alice: { workers: ['rack3.*'] } }));
  unchecked.routes[0]!.targets[1]!.pools[0]!.url = 'http://nope';
  t.throws(() => applyConfig(app, unchecked), { name: 'ConfigError', problems: [/^routes\[0\]\.targets\[1\]\.pools\[0\]\.url: pool url 'http:\/\/nope'/] });
  t.equal(app.routing, inForce);
});

t.test('a route without match as the default route: the proxy starts on its first target (until it applies every route)', async (t) => {
  const pool = await ScriptedPool.start({ behaviour: healthyPool({ extranonce2Size: 8 }) });
  t.teardown(() => pool.close());
  const app = await runningApp(
    t,
    buildConfig({
      listen: { host: '127.0.0.1', port: 0, tls: null },
      http: { host: '127.0.0.1', port: 0, token: null, allowedOrigins: [] },
      routes: [{ name: 'default', targets: [{ name: 'main', weight: 70, pools: [{ name: 'M', url: pool.url, user: 'farm' }] }, { name: 'second', weight: 30, pools: [{ name: 'S', url: 'stratum+tcp://127.0.0.1:1', user: 'farm' }] }] }],
    } as never),
  );
  await until(() => app.proxy.isReady && pool.connections >= 1, 'ready on the first target');
  t.same(app.routing.routes.map((r) => [r.name, r.targets.map((x) => x.name)]), [['default', ['main', 'second']]]);
});
