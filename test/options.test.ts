import t from 'tap';
import { buildConfig, DEFAULT_CONFIG } from '../src/config.js';
import { EventBus } from '../src/core/events.js';
import { DEFAULT_DEVICE_LIMITS, DeviceServer } from '../src/downstream/server.js';
import { DEFAULT_ALERTS_CONFIG } from '../src/observe/alerts.js';
import { deviceLimits, deviceServerOptions, httpServerOptions, metricsOptions, proxyLiveOptions, proxyOptions, routingSpec, routingTiming, upstreamSlotOptions, vardiffOptions } from '../src/options.js';
import { OwnerMap } from '../src/books/owners.js';
import { ROUTING_TIMING_DEFAULTS } from '../src/routing/timing.js';
import { Proxy, PROXY_DEFAULTS } from '../src/proxy/proxy.js';
import { DEFAULT_START_DIFFICULTY, DEFAULT_VARDIFF } from '../src/proxy/vardiff.js';
import { DEFAULTS as POOL_CONNECTION_DEFAULTS } from '../src/upstream/pool-connection.js';
import { SLOT_DEFAULTS } from '../src/upstream/upstream-slot.js';
import { hasher } from './helpers/share-kit.js';

/**
 * The one mapping from configuration to component options (pure, no socket), and the rule that the
 * configuration's defaults are the components' own: what the README documents is what runs.
 */
const pools = [{ name: 'A', url: 'stratum+tcp://127.0.0.1:3333', user: 'farm', password: 'x' }];

t.test("the configuration's defaults, mapped to options, are each component's own defaults", async (t) => {
  const c = { ...DEFAULT_CONFIG, pools };
  const { maxPendingReplies: _p, maxWorkersPerSession: _w, ...configurableLimits } = DEFAULT_DEVICE_LIMITS;
  t.same(deviceLimits(c.limits), configurableLimits, 'device limits (server.ts)');
  const { tolerance: _t, ...configurableVardiff } = DEFAULT_VARDIFF;
  t.same(vardiffOptions(c.difficulty), configurableVardiff, 'vardiff (vardiff.ts)');
  t.same(proxyOptions(c), { ...PROXY_DEFAULTS, vardiff: configurableVardiff }, 'proxy (proxy.ts)');
  t.equal(c.difficulty.start, DEFAULT_START_DIFFICULTY);
  t.same(upstreamSlotOptions(c, pools), {
    pools,
    failoverAfter: SLOT_DEFAULTS.failoverAfter,
    probeIntervalMs: SLOT_DEFAULTS.probeIntervalMs,
    connection: { submitTimeoutMs: POOL_CONNECTION_DEFAULTS.submitTimeoutMs, connectTimeoutMs: POOL_CONNECTION_DEFAULTS.connectTimeoutMs },
    dashd: { difficultyMultiplier: 1 },
  }, 'upstream (upstream-slot.ts, pool-connection.ts)');
  t.same(c.alerts, DEFAULT_ALERTS_CONFIG, 'alerts (alerts.ts)');
  t.same(routingTiming(c), ROUTING_TIMING_DEFAULTS, 'routing timings (routing/timing.ts)');
});

t.test('a component built with no options runs with the limits the default configuration sets', async (t) => {
  const bus = new EventBus();
  // Never started: no upstream is made, no socket opened.
  const proxy = new Proxy({ hasher, bus, createUpstream: () => { throw new Error('not started'); } });
  const server = new DeviceServer({ host: '127.0.0.1', port: 0 }, proxy, bus);
  const given = new DeviceServer(deviceServerOptions(buildConfig({ pools })), proxy, bus);
  t.same(given.limits, server.limits, 'no socket is opened: limits only');
});

t.test('seconds become milliseconds, names become the components\' names', async (t) => {
  const c = buildConfig({
    pools,
    listen: { host: '127.0.0.1', port: 4444, proxyProtocol: 'required', trustedProxies: ['10.0.0.5', '10.1.0.0/16'] },
    http: { host: '127.0.0.2', port: 9090, token: 'secret' },
    workerMode: 'passthrough',
    expectedDevices: 300,
    minDeviceExtranonce2: 4,
    maxUpstreamConnections: 2,
    difficulty: { start: 50, min: 2, max: 5000, targetSharesPerMinute: 6, retargetSeconds: 45, maxStep: 2, multiplier: 256 },
    limits: { maxDevices: 10, maxConnectionsPerIp: 3, handshakeTimeoutSeconds: 1.5, idleTimeoutSeconds: 60, maxLineBytes: 1024, maxWriteBufferBytes: 8192, submitsPerSecond: 2 },
    upstream: { submitTimeoutSeconds: 4, failoverAfterAttempts: 2, probeIntervalSeconds: 12, connectTimeoutSeconds: 0.5 },
    metrics: { labelIp: true, retentionSeconds: 7 },
  });
  t.same(deviceServerOptions(c), {
    host: '127.0.0.1',
    port: 4444,
    maxDevices: 10,
    maxConnectionsPerIp: 3,
    handshakeTimeoutMs: 1500,
    idleTimeoutMs: 60_000,
    maxLineBytes: 1024,
    maxWriteBufferBytes: 8192,
    submitsPerSecond: 2,
    proxyProtocol: { mode: 'required', trustedProxies: ['10.0.0.5', '10.1.0.0/16'] },
  });
  const vardiff = { minDifficulty: 2, maxDifficulty: 5000, targetSharesPerMinute: 6, retargetSeconds: 45, maxStep: 2 };
  t.same(proxyOptions(c), { expectedDevices: 300, minDeviceExtranonce2: 4, maxUpstreamConnections: 2, workerMode: 'passthrough', startDifficulty: 50, vardiff, difficultyMultiplier: 256 });
  t.same(proxyLiveOptions(c), { startDifficulty: 50, vardiff }, 'what SIGHUP applies to the proxy');
  t.same(upstreamSlotOptions(c, c.pools), { pools: c.pools, failoverAfter: 2, probeIntervalMs: 12_000, connection: { submitTimeoutMs: 4000, connectTimeoutMs: 500 }, dashd: { difficultyMultiplier: c.difficulty.multiplier } });
  t.same(httpServerOptions(c), { host: '127.0.0.2', port: 9090, token: 'secret' });
  t.same(httpServerOptions(buildConfig({ pools })).token, undefined, 'no token: open');
  t.same(metricsOptions(c), { labelIp: true, retentionSeconds: 7 });
});

t.test('routing: timings in ms, the routes with the owners map given, and the pools of each target', async (t) => {
  const c = buildConfig({ pools, routing: { rebalanceSeconds: 30, maxMovesPerRebalance: 2, slicePeriodSeconds: 120, minSliceSeconds: 2.5 } });
  t.same(routingTiming(c), { rebalanceMs: 30_000, maxMovesPerRebalance: 2, slicePeriodMs: 120_000, minSliceMs: 2500 });
  const spec = routingSpec(c, OwnerMap.compile({}));
  t.same(spec.routes.map((r) => r.name), ['default']);
  t.same(spec.routes[0]!.targets.map((x) => [x.name, x.pools]), [['default', c.pools]], 'no routes: one target, the pools');
  const routed = buildConfig({ routes: [{ name: 'default', targets: [{ name: 'main', pools: [{ url: 'stratum+tcp://127.0.0.1:4444', user: 'u' }] }, { name: 'b', pools }] }] });
  t.same(
    routingSpec(routed, OwnerMap.compile({})).routes[0]!.targets.map((x) => [x.name, x.pools.map((p) => p.url)]),
    [['main', ['stratum+tcp://127.0.0.1:4444']], ['b', pools.map((p) => p.url)]],
    'a configured default route: its targets and their pools',
  );
});
