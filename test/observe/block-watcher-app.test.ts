import t from 'tap';
import { request } from 'undici';
import { createObserverSide } from '../../src/app-observers.js';
import { buildConfig } from '../../src/config.js';
import { EventBus, type ProxyEventMap } from '../../src/core/events.js';
import { silentLogger } from '../../src/core/log.js';
import type { BlockCheck } from '../../src/observe/block-watcher.js';
import { until } from '../helpers/wait.js';

/**
 * The observer side with a block lookup: the watcher runs with it (started by start(), stopped by close()),
 * each block followed at its dashd entry's blockCheckSeconds from the configuration in force (a route
 * target's entry as well as a top-level one), its status reaching the ledger and /api/blocks. Real timers,
 * short intervals.
 */

t.test('the observer side follows solo blocks through the lookup it is given, at each dashd entry\'s interval', async (t) => {
  const config = buildConfig({
    pools: [{ name: 'pool-a', url: 'stratum+tcp://127.0.0.1:1', user: 'farm' }],
    http: { host: '127.0.0.1', port: 0, token: null },
  } as never);
  // The dashd entries (their checks and defaults are the config loader's, once solo-upstream's schema is in).
  config.pools.push({ name: 'own-dashd', url: 'http://127.0.0.1:9998', user: '', password: '', dashd: { payoutAddress: 'XfarmPayout', blockCheckSeconds: 0.05 } });
  config.routes.push({ name: 'solo', targets: [{ name: 'mine', weight: 1, pools: [{ name: 'big-dashd', url: 'http://127.0.0.1:9999', user: 'u', password: 'p', dashd: { payoutAddress: 'XfarmPayout', blockCheckSeconds: 0.1 } }] }] } as never);
  const asked: { pool: string; hash: string; at: number }[] = [];
  const answers: Record<string, BlockCheck[]> = { h1: [{ confirmations: 1, chainlock: false, height: 7 }, { confirmations: 2, chainlock: true, height: 7 }], h2: [{ confirmations: 1, chainlock: true, height: 8 }] };
  const bus = new EventBus();
  const side = createObserverSide(config, {
    bus,
    log: silentLogger,
    routes: () => [],
    notReady: () => null,
    blockLookup: async (pool, hash) => {
      asked.push({ pool, hash, at: Date.now() });
      return answers[hash]!.length > 1 ? answers[hash]!.shift()! : answers[hash]![0]!;
    },
  });
  const { port } = await side.listenHttp();
  side.start();
  t.teardown(async () => {
    await side.stopAlerts();
    await side.close();
  });
  const statuses: ProxyEventMap['block.status'][] = [];
  bus.on('block.status', (e) => statuses.push(e));

  const block = { route: 'default', target: 'default', connection: 0, sessionId: 1, worker: 'rig1', shareId: 1, reward: 1, coinbaseValue: 2, payoutAddress: 'XfarmPayout', result: 'accepted' as const, reason: null };
  const sentAt = Date.now();
  bus.emit('block.submitted', { ...block, pool: 'own-dashd', hash: 'h1', height: 7, at: sentAt });
  bus.emit('block.submitted', { ...block, route: 'solo', target: 'mine', pool: 'big-dashd', hash: 'h2', height: 8, at: sentAt });
  await until(() => statuses.length === 3, 'three statuses', 10_000);
  t.same(statuses.map((s) => [s.pool, s.hash, s.status]).sort(), [
    ['big-dashd', 'h2', 'chainlocked'],
    ['own-dashd', 'h1', 'chainlocked'],
    ['own-dashd', 'h1', 'in-chain'],
  ]);
  const firstOf = (pool: string) => asked.find((a) => a.pool === pool)!.at - sentAt;
  t.ok(firstOf('own-dashd') >= 40 && firstOf('own-dashd') < 5000, `own-dashd asked after its 0.05 s (${firstOf('own-dashd')} ms)`);
  t.ok(firstOf('big-dashd') >= 90, `big-dashd (a route target's entry) asked after its 0.1 s (${firstOf('big-dashd')} ms)`);
  const api = JSON.parse(await (await request(`http://127.0.0.1:${port}/api/blocks`)).body.text());
  t.same(api.blocks.map((b: { hash: string; status: string }) => [b.hash, b.status]), [['h2', 'chainlocked'], ['h1', 'chainlocked']], '/api/blocks shows where each stands');
});
