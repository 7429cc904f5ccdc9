import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { AlertManager, AlertsConfigError, checkAlertsConfig, DEFAULT_ALERTS_CONFIG, validateAlertsConfig, type AlertsConfig } from '../../src/observe/alerts.js';
import { EventBus } from '../../src/core/events.js';
import { FarmLedger, type FarmSummary } from '../../src/observe/farm-ledger.js';
import { createLogger, type Logger } from '../../src/core/log.js';
import { ALERT_KINDS, WebhookSender, type Alert, type WebhookConfig } from '../../src/observe/webhooks.js';
import type { Timers } from '../../src/util/timers.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { sleep } from '../helpers/wait.js';
import { Receiver } from '../helpers/webhook-receiver.js';

/**
 * Alerts end to end: events on a real EventBus, the AlertManager's grouping on a fake clock, and delivery
 * over HTTP to a local receiver (node:http on 127.0.0.1) that records what arrives and answers as scripted.
 */

// ---- test kit -------------------------------------------------------------------------------------------

function capture(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { log: createLogger({ level: 'debug', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }), lines };
}

function summary(over: Partial<FarmSummary> = {}): FarmSummary {
  return {
    at: 0,
    devicesOnline: 0,
    devicesOffline: 0,
    hashrate: 0,
    accepted: 0,
    rejected: 0,
    rejectedByReason: {},
    sessionsOpen: 0,
    work: 0,
    forwarded: 0,
    poolAccepted: 0,
    poolRejected: 0,
    poolUnanswered: 0,
    poolUnansweredByCause: { timeout: 0, 'connection-lost': 0, 'no-pool': 0 },
    inFlight: 0,
    blockCandidates: 0,
    blocksSubmitted: { accepted: 0, inconclusive: 0, rejected: 0, unanswered: 0 },
    activePool: null,
    poolsUp: 0,
    connections: 0,
    connectionsUp: 0,
    refusedByCause: {},
    ...over,
  };
}

/** Every alert title that reached the receiver, digests unfolded. */
function titlesReceived(r: Receiver, path?: string): string[] {
  return r.received.filter((x) => path === undefined || x.path === path).flatMap((x) => (x.body.kind === 'digest' ? x.body.alerts.map((a: { title: string }) => a.title) : [x.body.title]));
}

function hook(url: string, over: Partial<WebhookConfig> = {}): WebhookConfig {
  return { name: 'test', url, format: 'json', headers: {}, events: [...ALERT_KINDS], chatId: null, maxPerMinute: 600, ...over };
}

function config(webhooks: WebhookConfig[], over: Partial<AlertsConfig> = {}): AlertsConfig {
  return { ...DEFAULT_ALERTS_CONFIG, instance: 'proxy-a', retryBaseSeconds: 0.005, retryMaxSeconds: 0.05, webhooks, ...over };
}

async function setup(t: Test, cfg: AlertsConfig, opts: { stats?: FarmSummary; log?: Logger } = {}) {
  const bus = new EventBus();
  const clock = new FakeTimers();
  // Presence (a worker's first session, its last one ending) comes from the real ledger on the same bus;
  // the summary is set by the test.
  const ledger = new FarmLedger(bus);
  t.teardown(() => ledger.close());
  const stats = { current: opts.stats ?? summary(), summary: () => stats.current, onPresence: ledger.onPresence.bind(ledger) };
  const alerts: Alert[] = [];
  // Graces, group windows, checks and the webhooks' rate limit all run on the fake clock.
  const manager = new AlertManager(bus, stats, cfg, { timers: clock, ...(opts.log && { log: opts.log }) });
  manager.onAlert((a) => alerts.push(a));
  manager.start({ tick: false });
  t.teardown(() => manager.stop(0));
  let session = 0;
  const connect = (worker: string, ip = '10.0.0.1') => {
    const sessionId = ++session;
    bus.emit('device.connected', { sessionId, ip, at: clock.now() });
    bus.emit('device.authorized', { sessionId, worker, ip, at: clock.now() });
    return sessionId;
  };
  const disconnect = (sessionId: number, worker: string, reason = 'closed by peer', ip = '10.0.0.1') =>
    bus.emit('device.disconnected', { sessionId, worker, ip, reason, at: clock.now() });
  /** Move the clock, tick, and let the webhooks pick up what the tick produced (as the real tick would). */
  const step = async (ms: number) => {
    clock.advance(ms);
    manager.tick();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { bus, clock, stats, manager, alerts, connect, disconnect, step };
}

// ---- configuration --------------------------------------------------------------------------------------

t.test('config: defaults, and every bad field named (webhook URLs never echoed)', async (t) => {
  const empty = validateAlertsConfig(undefined);
  t.same(empty.webhooks, []);
  t.equal(empty.offlineGraceSeconds, 60);

  const ok = validateAlertsConfig({
    webhooks: [
      { url: 'https://hooks.slack.com/services/T/B/secret', format: 'slack', events: ['device.offline', 'block.candidate'] },
      { name: 'tg', url: 'https://api.telegram.org/botTOKEN/sendMessage', format: 'telegram', chatId: -1001234567890 },
      { url: 'http://receiver.local/alerts', headers: { Authorization: 'Bearer x' } },
    ],
    offlineGraceSeconds: 120,
  });
  t.equal(ok.webhooks[0]!.name, 'webhook1', 'a webhook without a name gets one');
  t.same(ok.webhooks[0]!.events, ['device.offline', 'block.candidate']);
  t.equal(ok.webhooks[1]!.chatId, -1001234567890);
  t.equal(ok.webhooks[2]!.format, 'json', 'json is the default format');
  t.same(ok.webhooks[2]!.events, [...ALERT_KINDS], 'every kind by default');
  t.equal(ok.webhooks[2]!.maxPerMinute, 10);
  t.equal(ok.offlineGraceSeconds, 120);

  let problems: string[] = [];
  try {
    validateAlertsConfig({
      webhooks: [
        { url: 'ftp://secret-token@x/y', format: 'teams', events: ['device.gone'], extra: 1 },
        { url: 'https://api.telegram.org/botSECRET/sendMessage', format: 'telegram' },
        { url: 'not a url', chatId: 5, headers: { 'bad name': 'v', ok: 'a\r\nb' }, maxPerMinute: 0 },
        { name: 'webhook1', url: 'https://x.example/a', events: [] },
      ],
      offlineGraceSeconds: -1,
      maxAttempts: 2.5,
      retryBaseSeconds: 10,
      retryMaxSeconds: 5,
      colour: 'red',
    });
  } catch (err) {
    t.type(err, AlertsConfigError);
    problems = (err as AlertsConfigError).problems;
  }
  const expect = [
    /^alerts\.colour: unknown field \(known: webhooks, instance, /,
    /^alerts\.webhooks\[0\]\.extra: unknown field \(known: name, url, format, headers, events, chatId, maxPerMinute\)$/,
    /^alerts\.webhooks\[0\]\.url must be an http:\/\/ or https:\/\/ URL \(got scheme ftp:\)$/,
    /^alerts\.webhooks\[0\]\.format must be one of json, slack, telegram \(got "teams"\)$/,
    /^alerts\.webhooks\[0\]\.events: unknown alert kind "device\.gone" \(known: device\.offline, /,
    /^alerts\.webhooks\[1\]\.chatId must be the Telegram chat id/,
    /^alerts\.webhooks\[2\]\.url is not a valid URL$/,
    /^alerts\.webhooks\[2\]\.headers: 'bad name' is not a valid header name$/,
    /^alerts\.webhooks\[2\]\.headers\.ok must be a string on one line$/,
    /^alerts\.webhooks\[2\]\.chatId is only used with format telegram \(format is json\)$/,
    /^alerts\.webhooks\[2\]\.maxPerMinute must be an integer from 1 to 600 \(got 0\)$/,
    /^alerts\.webhooks\[3\]\.name 'webhook1' is used twice$/,
    /^alerts\.webhooks\[3\]\.events must be a non-empty list of alert kinds/,
    /^alerts\.offlineGraceSeconds must be a number from 0 to 86400 \(got -1\)$/,
    /^alerts\.maxAttempts must be an integer from 1 to 20 \(got 2\.5\)$/,
    /^alerts\.retryMaxSeconds \(5\) must be >= alerts\.retryBaseSeconds \(10\)$/,
  ];
  t.equal(problems.length, expect.length, problems.join('\n'));
  for (const re of expect) t.ok(problems.some((p) => re.test(p)), `a problem matches ${re}`);
  t.notOk(problems.some((p) => p.includes('secret') || p.includes('SECRET')), 'no webhook URL (a secret) is echoed');

  const gathered: string[] = [];
  checkAlertsConfig('yes', gathered);
  t.match(gathered, [/^alerts must be an object like/], 'checkAlertsConfig adds to the caller\'s list instead of throwing');
});

// ---- formats and the events behind them -----------------------------------------------------------------

t.test('each format carries the right message for the right event', async (t) => {
  const r = await Receiver.start(t);
  const cfg = config([hook(r.url('/json'), { name: 'j' }), hook(r.url('/slack'), { name: 's', format: 'slack' }), hook(r.url('/tg'), { name: 'tg', format: 'telegram', chatId: '-100200' })], {
    offlineGraceSeconds: 60,
    groupWindowSeconds: 10,
  });
  const { manager, alerts, connect, disconnect, step } = await setup(t, cfg);
  const s = connect('rack1<&>d7', '10.1.2.3');
  disconnect(s, 'rack1<&>d7', 'idle timeout', '10.1.2.3');
  await step(30_000);
  t.equal(alerts.length, 0, 'nothing within the grace');
  await step(31_000); // grace over: the group opens
  t.equal(alerts.length, 0, 'grouped for the window first');
  await step(10_000);
  t.equal(alerts.length, 1);
  await r.waitFor(3);
  await manager.idle();

  const json = r.received.find((x) => x.path === '/json')!;
  t.match(json.headers['content-type'], /^application\/json/);
  t.match(json.body, {
    source: 'dash-farm-proxy',
    instance: 'proxy-a',
    kind: 'device.offline',
    severity: 'warning',
    title: 'Device rack1<&>d7 offline',
    count: 1,
    details: { devices: 1, workers: ['rack1<&>d7'], reasons: { 'idle timeout': 1 }, graceSeconds: 60 },
  });
  t.match(json.body.text, /rack1<&>d7 \(10\.1\.2\.3\)/);
  t.ok(!Number.isNaN(Date.parse(json.body.at)), 'at is an ISO date');

  const slack = r.received.find((x) => x.path === '/slack')!;
  t.equal(slack.body.text, 'Device rack1<&>d7 offline (proxy-a)', 'fallback text');
  t.same(slack.body.blocks[0], { type: 'header', text: { type: 'plain_text', text: 'Device rack1<&>d7 offline' } }, 'plain_text needs no escaping');
  t.equal(slack.body.blocks[1].type, 'section');
  t.equal(slack.body.blocks[1].text.type, 'mrkdwn');
  t.match(slack.body.blocks[1].text.text, 'rack1&lt;&amp;&gt;d7 (10.1.2.3)', 'mrkdwn escapes & < >');
  t.equal(slack.body.blocks.at(-1).type, 'context');

  const tg = r.received.find((x) => x.path === '/tg')!;
  t.equal(tg.body.chat_id, '-100200');
  t.equal(tg.body.parse_mode, 'HTML');
  t.match(tg.body.text, /^<b>Device rack1&lt;&amp;&gt;d7 offline<\/b>\n/, 'HTML-escaped title in bold');
  t.match(tg.body.text, /<i>dash-farm-proxy on proxy-a<\/i>$/);
  t.notMatch(tg.body.text.replace(/<\/?[bi]>/g, ''), /<|>/, 'no stray angle bracket outside the tags');
});

t.test('device back within the grace: nothing; back after being reported: "back online"', async (t) => {
  const r = await Receiver.start(t);
  const { manager, alerts, connect, disconnect, step } = await setup(t, config([hook(r.url('/a'))], { offlineGraceSeconds: 60, groupWindowSeconds: 5 }));
  const a = connect('rig1');
  disconnect(a, 'rig1');
  await step(40_000);
  connect('rig1'); // back after 40 s < 60 s grace
  await step(120_000);
  t.same(alerts, [], 'a reconnect within the grace is not reported');

  // Two sessions under one name: the device is offline only when the last one closes.
  const b1 = connect('rig2');
  const b2 = connect('rig2');
  disconnect(b1, 'rig2');
  await step(120_000);
  t.same(alerts, [], 'one of two sessions closing is not offline');
  disconnect(b2, 'rig2');
  await step(61_000);
  await step(5_000);
  t.equal(alerts.length, 1);
  t.equal(alerts[0]!.title, 'Device rig2 offline');
  await step(240_000);
  connect('rig2');
  await step(5_000);
  t.equal(alerts.length, 2);
  t.equal(alerts[1]!.kind, 'device.online');
  t.equal(alerts[1]!.title, 'Device rig2 back online');
  t.match(alerts[1]!.lines[0], /rig2 \(offline 5 min\)/);
  await r.waitFor(2);
  await manager.idle();
  t.same(
    r.received.map((x) => x.body.kind),
    ['device.offline', 'device.online'],
  );
});

t.test('a burst of 1,000 devices going offline at once is one message with the count', async (t) => {
  const r = await Receiver.start(t);
  const { manager, alerts, connect, disconnect, step } = await setup(t, config([hook(r.url('/a'))], { maxNamesListed: 5 }));
  const ids: [number, string][] = [];
  for (let i = 0; i < 1000; i++) {
    const w = `rig${String(i).padStart(4, '0')}`;
    ids.push([connect(w, `10.0.${i >> 8}.${i & 255}`), w]);
  }
  for (const [id, w] of ids) disconnect(id, w, Number(w.slice(3)) < 900 ? 'closed by peer' : 'idle timeout');
  for (let s = 0; s < 200; s++) await step(1000); // 200 one-second ticks: grace, window, and more
  await r.waitFor(1);
  await manager.idle();
  t.equal(alerts.length, 1, 'one alert');
  t.equal(r.received.length, 1, 'one message');
  const body = r.received[0]!.body;
  t.equal(body.title, '1000 devices offline');
  t.equal(body.count, 1000);
  t.equal(body.details.devices, 1000);
  t.same(body.details.workers, ['rig0000', 'rig0001', 'rig0002', 'rig0003', 'rig0004'], 'the first names');
  t.same(body.details.reasons, { 'closed by peer': 900, 'idle timeout': 100 });
  t.match(body.text, /… and 995 more/);
  t.match(body.text, /900 closed by peer, 100 idle timeout/);
  t.ok(Buffer.byteLength(JSON.stringify(body)) < 4000, 'the message stays small');
});

t.test('pools: down once until back up, switches, back up; grouped per window', async (t) => {
  const r = await Receiver.start(t);
  const { bus, manager, alerts, step, clock } = await setup(t, config([hook(r.url('/a'))], { groupWindowSeconds: 10 }));
  bus.emit('pool.up', { route: 'default', target: 'default', connection: 0, pool: 'main', url: 'stratum+tcp://main:3333', at: clock.now() });
  bus.emit('pool.switch', { route: 'default', target: 'default', connection: 0, from: null, to: 'main', reason: 'start', at: clock.now() });
  await step(20_000);
  t.same(alerts, [], 'start-up (first pool up, first pool chosen) is not an alert');

  for (let k = 0; k < 3; k++) bus.emit('pool.down', { route: 'default', target: 'default', connection: 0, pool: 'main', url: 'stratum+tcp://main:3333', reason: 'connection refused', at: clock.now() });
  bus.emit('pool.switch', { route: 'default', target: 'default', connection: 0, from: 'main', to: 'backup', reason: 'main failed 3 times', at: clock.now() });
  bus.emit('pool.up', { route: 'default', target: 'default', connection: 0, pool: 'backup', url: 'stratum+tcp://backup:3333', at: clock.now() });
  await step(10_000);
  t.same(
    alerts.map((a) => [a.kind, a.title, a.lines]),
    [
      ['pool.down', 'Pool main is down', ['main: connection refused']],
      ['pool.switch', 'Pool switch: main → backup', ['main → backup: main failed 3 times']],
    ],
    'down is told once (repeats while down are not), the switch with its reason; backup was never down',
  );
  for (let k = 0; k < 5; k++) bus.emit('pool.down', { route: 'default', target: 'default', connection: 0, pool: 'main', url: 'stratum+tcp://main:3333', reason: 'timeout', at: clock.now() });
  await step(60_000);
  t.equal(alerts.length, 2, 'a pool already reported down is not reported again');
  bus.emit('pool.up', { route: 'default', target: 'default', connection: 0, pool: 'main', url: 'stratum+tcp://main:3333', at: clock.now() });
  bus.emit('pool.switch', { route: 'default', target: 'default', connection: 0, from: 'backup', to: 'main', reason: 'main is healthy again', at: clock.now() });
  await step(10_000);
  t.same(
    alerts.slice(2).map((a) => [a.kind, a.title]),
    [
      ['pool.up', 'Pool main is back up'],
      ['pool.switch', 'Pool switch: backup → main'],
    ],
  );
  await manager.idle();
  // Alerts of one tick travel together (a digest); every alert arrived, in order.
  t.same(
    titlesReceived(r),
    alerts.map((a) => a.title),
  );
  t.equal(r.received[0]!.body.alerts[0].severity, 'critical', 'pool down is critical');
  t.equal(r.received[0]!.body.severity, 'critical', 'a digest has the highest severity of its alerts');
});

t.test('pools of two routing targets with the same name are told apart, each naming its target', async (t) => {
  const r = await Receiver.start(t);
  const { bus, alerts, step, clock } = await setup(t, config([hook(r.url('/a'))], { groupWindowSeconds: 10 }));
  const down = (target: string) => bus.emit('pool.down', { route: 'alice', target, connection: 1, pool: 'main', url: 'stratum+tcp://main:3333', reason: 'connection refused', at: clock.now() });
  down('alice-own');
  down('alice-own');
  down('hosting-fee');
  bus.emit('pool.down', { route: 'default', target: 'default', connection: 0, pool: 'main', url: 'stratum+tcp://main:3333', reason: 'timeout', at: clock.now() });
  await step(10_000);
  t.same(
    alerts.map((a) => [a.kind, a.lines]),
    [['pool.down', ['main (target alice-own): connection refused', 'main (target hosting-fee): connection refused', 'main: timeout']]],
    'one down per target (repeats are not told again); the default target keeps the bare pool name',
  );
  bus.emit('pool.up', { route: 'alice', target: 'hosting-fee', connection: 1, pool: 'main', url: 'stratum+tcp://main:3333', at: clock.now() });
  await step(10_000);
  t.same(alerts.slice(1).map((a) => [a.kind, a.title]), [['pool.up', 'Pool main (target hosting-fee) is back up']], 'back up names its target; the others stay down');
});

t.test('a pool is down when no connection is up on it: one connection of several ending is not (a lane, a dead worker)', async (t) => {
  const r = await Receiver.start(t);
  const { bus, alerts, step, clock } = await setup(t, config([hook(r.url('/a'))], { groupWindowSeconds: 10 }));
  const place = { route: 'default', target: 'default', url: 'stratum+tcp://main:3333' };
  for (const connection of [0, 1, 2]) {
    bus.emit('pool.switch', { route: 'default', target: 'default', connection, from: null, to: 'main', reason: 'start', at: clock.now() });
    bus.emit('pool.up', { ...place, connection, pool: 'main', at: clock.now() });
  }
  // A worker holding connection 2 dies (the intake ends it), and its restart brings it back.
  bus.emit('pool.down', { ...place, connection: 2, pool: 'main', reason: 'worker 1 exited (SIGKILL)', at: clock.now() });
  await step(10_000);
  bus.emit('pool.up', { ...place, connection: 2, pool: 'main', at: clock.now() });
  await step(10_000);
  t.same(alerts, [], 'the pool was never down: nothing to tell');
  // Every connection goes: the pool is down, once.
  for (const connection of [0, 1, 2]) bus.emit('pool.down', { ...place, connection, pool: 'main', reason: 'connection reset', at: clock.now() });
  await step(10_000);
  t.same(alerts.map((a) => [a.kind, a.title]), [['pool.down', 'Pool main is down']]);
  bus.emit('pool.up', { ...place, connection: 1, pool: 'main', at: clock.now() });
  await step(10_000);
  t.same(alerts.slice(1).map((a) => [a.kind, a.title]), [['pool.up', 'Pool main is back up']], 'back up with its first connection');
  // A connection switched back to another pool is no longer up on the one it left.
  bus.emit('pool.switch', { route: 'default', target: 'default', connection: 1, from: 'main', to: 'preferred', reason: 'higher-priority pool preferred is healthy again', at: clock.now() });
  bus.emit('pool.up', { ...place, connection: 1, pool: 'preferred', at: clock.now() });
  bus.emit('pool.down', { ...place, connection: 0, pool: 'main', reason: 'connect failed', at: clock.now() });
  await step(10_000);
  t.same(alerts.slice(2).map((a) => a.title), ['Pool switch: main → preferred', 'Pool main is down']);
});

t.test('block candidate: sent at once, alone, even when the rate limit is spent and the queue is full', async (t) => {
  const r = await Receiver.start(t);
  const cfg = config([hook(r.url('/a'), { maxPerMinute: 1 })], { queueSize: 2, groupWindowSeconds: 0, offlineGraceSeconds: 0 });
  const { bus, alerts, clock, connect, disconnect, step } = await setup(t, cfg);
  disconnect(connect('rig0'), 'rig0');
  await step(1000);
  await r.waitFor(1); // the only message of this minute
  for (let k = 1; k < 4; k++) {
    disconnect(connect(`rig${k}`), `rig${k}`);
    await step(1000);
  }
  await sleep(50);
  t.equal(alerts.length, 4);
  t.equal(r.count(null), 1, 'the other three wait (one was dropped: the queue holds 2)');
  bus.emit('block.candidate', { sessionId: 1, worker: 'rig7', pool: 'main', jobId: '1a', hash: '0000000000000abc', shareDifficulty: 2.5e6, networkDifficulty: 1.2e6, at: clock.now() });
  t.equal(alerts.length, 5, 'made at once, without waiting for a tick');
  await r.waitFor(2);
  const block = r.received[1]!.body;
  t.equal(block.kind, 'block.candidate', 'the block went ahead of the queued alerts');
  t.equal(block.title, 'Block candidate found by rig7');
  t.match(block.text, /hash 0000000000000abc/);
  t.match(block.details, { worker: 'rig7', pool: 'main', jobId: '1a', shareDifficulty: 2.5e6, networkDifficulty: 1.2e6 });
  t.equal(r.received.length, 2, 'nothing else went: still rate-limited');
});

t.test('solo blocks: accepted, rejected, orphaned and final told at once, alone, ahead of a spent rate limit; in-chain is no news', async (t) => {
  const r = await Receiver.start(t);
  const cfg = config([hook(r.url('/a'), { maxPerMinute: 1 })], { groupWindowSeconds: 0, offlineGraceSeconds: 0 });
  const { bus, alerts, clock, connect, disconnect, step } = await setup(t, cfg);
  disconnect(connect('rig0'), 'rig0');
  await step(1000);
  await r.waitFor(1); // the only message of this minute
  disconnect(connect('rig1'), 'rig1');
  await step(1000);
  t.equal(alerts.length, 2, 'rig1 offline waits for the rate limit');

  const block = { route: 'solo', target: 'own', connection: 0, pool: 'own-dashd', sessionId: 1, worker: 'rig7', shareId: 9, hash: '0000000000000abc', height: 2_100_000, reward: 168_000_000, coinbaseValue: 300_000_000, payoutAddress: 'XfarmPayout', at: clock.now() };
  bus.emit('block.submitted', { ...block, result: 'accepted', reason: null });
  bus.emit('block.submitted', { ...block, hash: '0000000000000def', height: 2_100_001, result: 'rejected', reason: 'bad-cb-payee' });
  bus.emit('block.submitted', { ...block, hash: '0000000000000eee', height: 2_100_002, result: 'inconclusive', reason: 'inconclusive' });
  bus.emit('block.submitted', { ...block, hash: '0000000000000fff', height: 2_100_003, result: 'unanswered', reason: 'no answer after 3 attempts in 10 s' });
  const status = { pool: 'own-dashd', hash: block.hash, height: block.height, at: clock.now() };
  bus.emit('block.status', { ...status, status: 'in-chain', confirmations: 1, chainlock: false, reason: "on dashd's best chain, 1 confirmation" });
  bus.emit('block.status', { ...status, status: 'chainlocked', confirmations: 2, chainlock: true, reason: 'a ChainLock covers it (2 confirmations)' });
  bus.emit('block.status', { ...status, hash: '0000000000000eee', height: 2_100_002, status: 'orphaned', confirmations: -1, chainlock: false, reason: 'not on the best chain (confirmations -1) after 3 checks' });
  bus.emit('block.status', { ...status, hash: '0000000000000aaa', height: 2_099_990, status: 'mature', confirmations: 100, chainlock: false, reason: '100 confirmations without a ChainLock: mature' });
  t.same(
    alerts.slice(2).map((a) => [a.kind, a.severity, a.title]),
    [
      ['block.accepted', 'info', 'Block 2100000 accepted by dashd own-dashd'],
      ['block.rejected', 'critical', 'Block 2100001 rejected by dashd own-dashd: bad-cb-payee'],
      ['block.accepted', 'info', 'Block 2100002 inconclusive at dashd own-dashd'],
      ['block.rejected', 'critical', 'Block 2100003 not answered by dashd own-dashd: no answer after 3 attempts in 10 s'],
      ['block.final', 'info', 'Block 2100000 chainlocked on dashd own-dashd: its reward is final'],
      ['block.orphaned', 'warning', 'Block 2100002 orphaned on dashd own-dashd: its reward is lost'],
      ['block.final', 'info', 'Block 2099990 mature on dashd own-dashd: its reward is final'],
    ],
    'made at once, without waiting for a tick; in-chain makes none',
  );
  await r.waitFor(8);
  await sleep(50);
  const sent = r.received.slice(1).map((x) => x.body);
  t.equal(sent.length, 7, 'each block alert went alone (no digest), though the rate limit is spent; rig1 offline still waits');
  t.same(sent.map((b) => b.kind), ['block.accepted', 'block.rejected', 'block.accepted', 'block.rejected', 'block.final', 'block.orphaned', 'block.final']);
  t.equal(sent[0].text, 'hash 0000000000000abc\nreward 1.68000000 DASH to XfarmPayout\nfound by rig7 (target own)');
  t.same(sent[1].details, { pool: 'own-dashd', hash: '0000000000000def', height: 2_100_001, result: 'rejected', reason: 'bad-cb-payee', reward: 168_000_000, coinbaseValue: 300_000_000, payoutAddress: 'XfarmPayout', worker: 'rig7', route: 'solo', target: 'own' });
  t.same(sent[5].details, { pool: 'own-dashd', hash: '0000000000000eee', height: 2_100_002, status: 'orphaned', confirmations: -1, chainlock: false, reason: 'not on the best chain (confirmations -1) after 3 checks' });
  t.equal(sent[5].text, 'hash 0000000000000eee\nnot on the best chain (confirmations -1) after 3 checks');

  const only = validateAlertsConfig({ webhooks: [{ url: 'http://127.0.0.1/x', events: ['block.rejected', 'block.orphaned'] }] });
  t.same(only.webhooks[0]!.events, ['block.rejected', 'block.orphaned'], 'a webhook may take only the bad news');
});

t.test('a worker that died outside shutdown: told at once, naming it, its pid, cause, devices and restart', async (t) => {
  const r = await Receiver.start(t);
  const only = validateAlertsConfig({ webhooks: [{ url: 'http://127.0.0.1/x', events: ['worker.exited'] }] });
  t.same(only.webhooks[0]!.events, ['worker.exited'], 'a webhook may take this kind alone');
  const cfg = config([hook(r.url('/workers'), { name: 'w', events: ['worker.exited'] })]);
  const { bus, alerts, clock, manager, step } = await setup(t, cfg);
  bus.emit('worker.exited', { worker: 2, pid: 4242, code: null, signal: 'SIGKILL', devices: 812, restartInMs: 1000, at: clock.now() });
  t.equal(alerts.length, 1, 'at once, without waiting for a tick or a group window');
  await r.waitFor(1);
  const a = r.received[0]!.body;
  t.match(a, { kind: 'worker.exited', severity: 'warning', title: 'Proxy worker 2 (pid 4242) died (SIGKILL)', count: 1 });
  t.equal(a.text, 'its 812 devices reconnect to the other workers\nrestarting in 1 s');
  t.same(a.details, { proxyWorker: 2, pid: 4242, code: null, signal: 'SIGKILL', devices: 812, restartInMs: 1000 });

  // An exit with a code, one device, a longer backoff; two workers dying are two alerts (never grouped).
  bus.emit('worker.exited', { worker: 0, pid: 77, code: 1, signal: null, devices: 1, restartInMs: 30_000, at: clock.now() });
  bus.emit('worker.exited', { worker: 1, pid: 78, code: 134, signal: null, devices: 0, restartInMs: 0, at: clock.now() });
  t.same(alerts.slice(1).map((x) => [x.title, ...x.lines]), [
    ['Proxy worker 0 (pid 77) died (exit code 1)', 'its 1 device reconnects to the other workers', 'restarting in 30 s'],
    ['Proxy worker 1 (pid 78) died (exit code 134)', 'its 0 devices reconnect to the other workers', 'restarting now'],
  ]);

  // Shutdown: workers exit with no restart planned; nobody is told.
  bus.emit('worker.exited', { worker: 0, pid: 79, code: 0, signal: null, devices: 0, restartInMs: null, at: clock.now() });
  bus.emit('worker.exited', { worker: 1, pid: 80, code: null, signal: 'SIGTERM', devices: 3, restartInMs: null, at: clock.now() });
  t.equal(alerts.length, 3, 'no alert for exits at shutdown');
  await step(1000);
  await manager.idle();
  t.same(r.received.map((x) => (x.body.kind === 'digest' ? x.body.alerts.map((y: { kind: string }) => y.kind) : [x.body.kind])).flat(), ['worker.exited', 'worker.exited', 'worker.exited']);
});

t.test('rate limit per webhook: what waits goes out as one digest when the limit allows', async (t) => {
  const r = await Receiver.start(t);
  const { log, lines } = capture();
  const { manager, alerts, clock, connect, disconnect, step } = await setup(t, config([hook(r.url('/a'), { maxPerMinute: 2 })], { groupWindowSeconds: 0, offlineGraceSeconds: 0 }), { log });
  const offline = async (w: string) => {
    disconnect(connect(w), w);
    await step(1000);
  };
  await offline('a1');
  await r.waitFor(1);
  await offline('a2');
  await r.waitFor(2);
  for (const w of ['a3', 'a4', 'a5']) await offline(w);
  await sleep(100);
  t.equal(alerts.length, 5);
  t.equal(r.count(null), 2, 'two messages in the first minute, no more');
  clock.advance(60_000); // the rate-limit wait runs on the same clock
  await r.waitFor(3);
  await manager.idle();
  t.equal(r.received.length, 3);
  const digest = r.received[2]!.body;
  t.equal(digest.kind, 'digest');
  t.equal(digest.title, '3 alerts (3 events)');
  t.same(
    digest.alerts.map((a: { title: string }) => a.title),
    ['Device a3 offline', 'Device a4 offline', 'Device a5 offline'],
  );
  t.notOk(lines.some((l) => l.level === 'error'), 'no error logged');
});

t.test('hashrate drop against the recent average, and recovery', async (t) => {
  const r = await Receiver.start(t);
  const { manager, alerts, stats, step } = await setup(t, config([hook(r.url('/a'))], { checkIntervalSeconds: 30, hashrateDropPercent: 30, hashrateAverageMinutes: 60 }));
  stats.current = summary({ hashrate: 2e12, devicesOnline: 100 });
  for (let k = 0; k < 20; k++) await step(30_000); // 10 minutes at 2 TH/s
  t.same(alerts, []);
  stats.current = summary({ hashrate: 1.5e12, devicesOnline: 75, devicesOffline: 25 });
  await step(30_000);
  t.same(alerts, [], '25% down is within a 30% threshold');
  stats.current = summary({ hashrate: 1.2e12, devicesOnline: 60, devicesOffline: 40 });
  await step(30_000);
  t.equal(alerts.length, 1);
  t.equal(alerts[0]!.kind, 'hashrate.drop');
  // The average holds 20 samples at 2 TH/s and one at 1.5: 1.976 TH/s; 1.2 is 39% below it.
  t.equal(alerts[0]!.title, 'Farm hashrate down 39%: 1.2 TH/s');
  t.match(alerts[0]!.lines.join('\n'), /60 devices online, 40 offline/);
  for (let k = 0; k < 10; k++) await step(30_000);
  t.equal(alerts.length, 1, 'told once while it stays low');
  stats.current = summary({ hashrate: 1.9e12, devicesOnline: 95, devicesOffline: 5 });
  await step(30_000);
  t.equal(alerts.length, 2);
  t.equal(alerts[1]!.kind, 'hashrate.recovered');
  await r.waitFor(2);
  await manager.idle();
  t.same(
    r.received.map((x) => x.body.kind),
    ['hashrate.drop', 'hashrate.recovered'],
  );
});

t.test('hashrate: no alert before enough history (start-up ramp)', async (t) => {
  const { alerts, stats, step } = await setup(t, config([]), { stats: summary({ hashrate: 5e12 }) });
  await step(30_000);
  stats.current = summary({ hashrate: 1e12 });
  for (let k = 0; k < 5; k++) await step(30_000);
  t.same(alerts, [], 'less than 5 minutes of history: no judgement');
});

t.test('reject rate over the window, with a minimum of shares', async (t) => {
  const r = await Receiver.start(t);
  const { manager, alerts, stats, step } = await setup(t, config([hook(r.url('/a'))], { checkIntervalSeconds: 60, rejectRatePercent: 5, rejectRateWindowMinutes: 10, rejectRateMinShares: 100 }));
  let accepted = 0;
  let stale = 0;
  let duplicate = 0;
  const minute = async (a: number, s: number, d: number) => {
    accepted += a;
    stale += s;
    duplicate += d;
    stats.current = summary({ accepted, rejected: stale + duplicate, rejectedByReason: { stale, duplicate } });
    await step(60_000);
  };
  await minute(0, 0, 0);
  await minute(5, 5, 0);
  t.same(alerts, [], '50% of 10 shares: below the minimum count, not judged');
  for (let k = 0; k < 10; k++) await minute(1000, 10, 0);
  t.same(alerts, [], '1% is fine');
  // The window (10 min) now holds 9 minutes of 1000/10 and this one: 590 of 10590 shares = 5.57%.
  await minute(1000, 400, 100);
  t.equal(alerts.length, 1);
  t.equal(alerts[0]!.kind, 'rejects.high');
  t.equal(alerts[0]!.title, 'Reject rate 5.6% over the last 10 min');
  t.equal(alerts[0]!.lines[0], '590 of 10590 shares rejected: 490 stale, 100 duplicate');
  for (let k = 0; k < 3; k++) await minute(1000, 60, 0);
  t.equal(alerts.length, 1, 'told once while high');
  for (let k = 0; k < 10; k++) await minute(1000, 5, 0);
  t.equal(alerts.length, 2);
  t.equal(alerts[1]!.kind, 'rejects.normal');
  await r.waitFor(2);
  await manager.idle();
});

t.test('events filter: a webhook gets only the kinds it asked for', async (t) => {
  const r = await Receiver.start(t);
  const cfg = config([hook(r.url('/blocks'), { name: 'b', events: ['block.candidate'] }), hook(r.url('/all'), { name: 'all' })], { groupWindowSeconds: 0 });
  const { bus, manager, clock, step } = await setup(t, cfg);
  bus.emit('pool.down', { route: 'default', target: 'default', connection: 0, pool: 'main', url: 'u', reason: 'gone', at: clock.now() });
  await step(1000);
  bus.emit('block.candidate', { sessionId: 1, worker: 'rig1', pool: 'main', jobId: 'j', hash: '00ab', shareDifficulty: 2, networkDifficulty: 1, at: clock.now() });
  await r.waitFor(3);
  await manager.idle();
  t.same(r.received.filter((x) => x.path === '/blocks').map((x) => x.body.kind), ['block.candidate']);
  t.same(r.received.filter((x) => x.path === '/all').map((x) => x.body.kind).sort(), ['block.candidate', 'pool.down']);
});

// ---- delivery: retries, timeouts, giving up, the bounded queue -------------------------------------------

function offlineAlert(name: string, at = Date.now()): Alert {
  return { kind: 'device.offline', severity: 'warning', title: `Device ${name} offline`, lines: [], count: 1, at, details: {} };
}

function sender(t: Test, h: WebhookConfig, log: Logger, delivery: Partial<import('../../src/observe/webhooks.js').DeliveryOptions> = {}, timers?: Timers) {
  const s = new WebhookSender(h, { instance: 'proxy-a', log, ...(timers && { timers }), delivery: { backoff: { baseMs: 5, maxMs: 20, jitter: 'none' }, ...delivery } });
  t.teardown(() => s.close());
  return s;
}

t.test('retries on HTTP 500 and 429 (Retry-After), then succeeds', async (t) => {
  const r = await Receiver.start(t);
  r.answer = (_p, n) => (n === 1 ? { status: 500, body: 'boom' } : n === 2 ? { status: 429, headers: { 'retry-after': '0' } } : { status: 200 });
  const { log, lines } = capture();
  const s = sender(t, hook(r.url('/a')), log, { maxAttempts: 5 });
  s.enqueue(offlineAlert('rig1'));
  await r.waitFor(3);
  await s.idle();
  t.equal(r.count('/a'), 3, 'three attempts');
  t.equal(r.received.length, 3);
  t.same(r.received.map((x) => x.body.title), ['Device rig1 offline', 'Device rig1 offline', 'Device rig1 offline'], 'the same body each time');
  t.match(s.stats, { delivered: 1, failed: 0, retries: 2 });
  const retries = lines.filter((l) => l.msg === 'webhook attempt failed: retrying');
  t.match(retries, [
    { webhook: 'test', attempt: 1, of: 5, error: 'HTTP 500' },
    { webhook: 'test', attempt: 2, of: 5, error: 'HTTP 429', delayMs: 0 },
  ]);
});

t.test('a request that hangs times out and is retried', async (t) => {
  const r = await Receiver.start(t);
  r.answer = (_p, n) => (n === 1 ? 'hang' : { status: 204 });
  const { log, lines } = capture();
  const s = sender(t, hook(r.url('/a')), log, { requestTimeoutMs: 300, maxAttempts: 3 });
  s.enqueue(offlineAlert('rig1'));
  await r.waitFor(2, '/a', 20_000);
  await s.idle();
  t.match(s.stats, { delivered: 1, failed: 0, retries: 1 });
  t.match(lines.find((l) => l.msg === 'webhook attempt failed: retrying'), { error: /^UND_ERR_HEADERS_TIMEOUT/ });
});

t.test('gives up after maxAttempts with an error log, and goes on with the next alert', async (t) => {
  const r = await Receiver.start(t);
  r.answer = (_p, n) => (n <= 4 ? { status: 503 } : { status: 200 });
  const { log, lines } = capture();
  const s = sender(t, hook(r.url('/a'), { name: 'ops' }), log, { maxAttempts: 4 });
  s.enqueue(offlineAlert('rig1'));
  await r.waitFor(4);
  await s.idle();
  t.match(s.stats, { delivered: 0, failed: 1, retries: 3 });
  const gaveUp = lines.filter((l) => l.level === 'error');
  t.equal(gaveUp.length, 1);
  t.match(gaveUp[0], { msg: 'webhook failed: alert given up', webhook: 'ops', attempts: 4, error: 'HTTP 503', title: 'Device rig1 offline' });
  t.notOk(JSON.stringify(lines).includes(r.url('/a')), 'the webhook URL is not logged');
  s.enqueue(offlineAlert('rig2'));
  await r.waitFor(5);
  await s.idle();
  t.match(s.stats, { delivered: 1, failed: 1 });
});

t.test('a refusal (4xx) is not retried and is logged with the answer', async (t) => {
  const r = await Receiver.start(t);
  r.answer = () => ({ status: 400, body: '{"ok":false,"description":"Bad Request: chat not found"}' });
  const { log, lines } = capture();
  const s = sender(t, hook(r.url('/a'), { format: 'telegram', chatId: 1 }), log);
  s.enqueue(offlineAlert('rig1'));
  await r.waitFor(1);
  await s.idle();
  t.equal(r.count('/a'), 1, 'one attempt');
  t.match(lines.find((l) => l.level === 'error'), { status: 400, response: /chat not found/ });
});

t.test('connection refused is retried, then given up', async (t) => {
  const r = await Receiver.start(t);
  const url = r.url('/a');
  // A port that was just free: nothing listens there.
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const deadPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const { log, lines } = capture();
  const s = sender(t, hook(url.replace(/:\d+\//, `:${deadPort}/`)), log, { maxAttempts: 3 });
  s.enqueue(offlineAlert('rig1'));
  await s.idle();
  t.match(s.stats, { failed: 1, retries: 2 });
  t.match(lines.find((l) => l.level === 'error'), { attempts: 3, error: /^ECONNREFUSED/ });
});

t.test('bounded queue: the oldest alerts are dropped with a counted warning, never a block candidate', async (t) => {
  const r = await Receiver.start(t);
  const clock = new FakeTimers();
  const { log, lines } = capture();
  const s = sender(t, hook(r.url('/a'), { maxPerMinute: 1 }), log, { queueSize: 3 }, clock);
  s.enqueue(offlineAlert('first'));
  await r.waitFor(1);
  s.enqueue({ ...offlineAlert('block'), kind: 'block.candidate', title: 'Block candidate found by b1' });
  await r.waitFor(2); // the block goes at once
  await s.idle().catch(() => {});
  s.enqueue({ ...offlineAlert('block2'), kind: 'block.candidate', title: 'Block candidate found by b2' });
  await r.waitFor(3);
  // Now rate-limited (1 per minute, 3 messages sent): queue alerts until full, and beyond.
  for (let k = 0; k < 10; k++) s.enqueue(offlineAlert(`q${k}`));
  await sleep(50);
  t.equal(s.pending, 3, 'the queue holds queueSize alerts');
  t.equal(s.stats.dropped, 7);
  const warnings = lines.filter((l) => l.msg === 'alert queue full: dropped the oldest alerts');
  t.equal(warnings.length, 1, 'one warning for the burst, not one per alert');
  t.match(warnings[0], { dropped: 1, queueSize: 3 });
  clock.advance(60_000);
  await r.waitFor(4);
  await s.idle();
  t.same(
    r.received[3]!.body.alerts.map((a: { title: string }) => a.title),
    ['Device q7 offline', 'Device q8 offline', 'Device q9 offline'],
    'the newest alerts survive',
  );
});

t.test('a webhook that hangs holds up neither the events nor shutdown', async (t) => {
  const r = await Receiver.start(t);
  r.answer = () => 'hang';
  const { bus, manager, alerts, clock, connect, disconnect, step } = await setup(t, config([hook(r.url('/a'))], { groupWindowSeconds: 0, offlineGraceSeconds: 0, requestTimeoutSeconds: 60 }));
  bus.emit('block.candidate', { sessionId: 1, worker: 'rig1', pool: 'main', jobId: 'j', hash: '00', shareDifficulty: 2, networkDifficulty: 1, at: clock.now() });
  await r.waitFor(1);
  for (let k = 0; k < 5; k++) {
    disconnect(connect(`rig${k}`), `rig${k}`);
    await step(1000);
  }
  t.equal(alerts.length, 6, 'alerts keep coming while the webhook hangs');
  let timer: NodeJS.Timeout | undefined;
  const stopped = await Promise.race([
    manager.stop(100).then(() => 'stopped'),
    new Promise((resolve) => (timer = setTimeout(() => resolve('still stopping after 10 s'), 10_000))),
  ]);
  clearTimeout(timer);
  t.equal(stopped, 'stopped', 'stop() gives up on the hanging request');
  t.equal(r.count('/a'), 1);
});
