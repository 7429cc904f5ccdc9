import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Registry } from 'prom-client';
import t, { type Test } from 'tap';
import { request } from 'undici';
import { createProxyApp } from '../../src/app.js';
import { buildConfig } from '../../src/config.js';
import { silentLogger } from '../../src/core/log.js';
import { EventBus } from '../../src/core/events.js';
import { ThreadedSqliteLedgerStore } from '../../src/books/ledger-sqlite-thread.js';
import { LedgerWriter } from '../../src/books/ledger-writer.js';
import { AlertManager, DEFAULT_ALERTS_CONFIG } from '../../src/observe/alerts.js';
import { FarmLedger } from '../../src/observe/farm-ledger.js';
import { registerBooksMetrics } from '../../src/observe/metrics.js';
import { ALERT_KINDS, type Alert } from '../../src/observe/webhooks.js';
import { familyLines, labelsOf, seriesValue } from '../helpers/metrics-sut.js';
import { Receiver } from '../helpers/webhook-receiver.js';
import { hasher } from '../helpers/share-kit.js';
import { ACCEPTED, ManualTimers, readLedger, recordingLogger, ShareFeeder, tempDir } from './ledger-kit.js';

/**
 * The books' health made visible and loud, with real faults on a real file: the dash_proxy_ledger_* metrics
 * read from the writer when scraped, and the ledger.down / ledger.up alerts delivered to a webhook on
 * 127.0.0.1. The writer commits from a worker thread, as the app runs it.
 */

function setup(t: Test, file: string, opts: { maxQueued?: number } = {}) {
  const timers = new ManualTimers();
  const bus = new EventBus();
  const writer = new LedgerWriter({ store: new ThreadedSqliteLedgerStore({ path: file }), bus, timers, log: recordingLogger(), retryMs: 1_000, ...(opts.maxQueued !== undefined ? { maxQueued: opts.maxQueued } : {}) });
  timers.afterEach = () => writer.idle();
  t.teardown(() => writer.stop());
  const feed = new ShareFeeder(bus);
  const shares = (n: number) => {
    for (let i = 0; i < n; i++) feed.share({ worker: `rig${i % 4}`, at: timers.now(), difficulty: 16, jobId: `job-${i}`, verdict: ACCEPTED });
  };
  return { timers, bus, writer, shares };
}

async function scrape(registry: Registry) {
  const text = await registry.metrics();
  const value = (series: string) => seriesValue(text, series);
  const byCause = (name: string) => Object.fromEntries(familyLines(text, name).map((l) => [labelsOf(l).cause, Number(l.slice(l.lastIndexOf(' ') + 1))]));
  return { text, value, byCause };
}

/** Books made by a first run, then made unwritable for real; a second writer on them (not started). */
async function readOnlyBooks(t: Test) {
  const file = path.join(tempDir(t), 'books.sqlite');
  const first = setup(t, file);
  await first.writer.start();
  await first.writer.stop();
  const unlock = readOnly(t, file);
  return { file, unlock, s: setup(t, file) };
}

/** Make `file` unwritable for real: immutable as root (root ignores permissions), 0444 otherwise. */
function readOnly(t: Test, file: string): () => void {
  const root = process.getuid?.() === 0;
  const unlock = () => (root ? execFileSync('chattr', ['-i', file]) : chmodSync(file, 0o644));
  if (root) execFileSync('chattr', ['+i', file]);
  else chmodSync(file, 0o444);
  t.teardown(() => {
    try {
      unlock();
    } catch {
      // already writable
    }
  });
  return unlock;
}

t.test('metrics: a locked database, records waiting then dropped past the bound, caught up; every value is the writer\'s', async (t) => {
  const file = path.join(tempDir(t), 'books.sqlite');
  const s = setup(t, file, { maxQueued: 200 });
  const registry = new Registry();
  registerBooksMetrics(registry, s.writer);
  await s.writer.start();
  await s.timers.advance(0);

  let m = await scrape(registry);
  t.equal(m.value('dash_proxy_ledger_up'), 1, 'writable');
  t.equal(familyLines(m.text, 'dash_proxy_ledger_fault').length, 0, 'no fault series while writable');
  t.equal(m.value('dash_proxy_ledger_fault_since_timestamp_seconds'), undefined);
  t.equal(m.value('dash_proxy_ledger_records_pending'), 0);
  t.equal(m.value('dash_proxy_ledger_commits_total'), 1, 'the run row, committed at start');
  t.same(m.byCause('dash_proxy_ledger_records_dropped_total'), { 'queue-full': 0, 'in-flight-full': 0, 'unwritten-at-stop': 0, 'bad-event': 0 }, 'every drop cause, at 0');

  s.shares(20);
  await s.timers.advance(100);
  m = await scrape(registry);
  t.equal(m.value('dash_proxy_ledger_records_committed_total'), 24, '20 shares and 4 per-minute sums written');
  t.equal(m.value('dash_proxy_ledger_commits_total'), 2);

  const other = new Database(file);
  t.teardown(() => other.close());
  other.exec('BEGIN IMMEDIATE');
  const lockedAt = s.timers.now();
  s.shares(100);
  await s.timers.advance(100);
  t.equal(s.writer.fault, 'locked');
  m = await scrape(registry);
  t.equal(m.value('dash_proxy_ledger_up'), 0, 'down during the fault');
  t.same(m.byCause('dash_proxy_ledger_fault'), { locked: 1 }, 'the cause');
  t.equal(m.value('dash_proxy_ledger_fault_since_timestamp_seconds'), (lockedAt + 100) / 1000, 'since the first failed commit');
  t.equal(m.value('dash_proxy_ledger_records_pending'), 104, '100 shares and 4 per-minute sums wait');
  t.equal(m.value('dash_proxy_ledger_records_committed_total'), 24, 'nothing more written');
  t.same(m.byCause('dash_proxy_ledger_commit_failures_total'), { locked: 1 });

  // Past the bound (200 records). The failed commit took the 4 minute sums into the queue, so the next shares
  // start new ones: 92 shares and 4 sums kept, 108 shares dropped and counted.
  s.shares(200);
  await s.timers.advance(3_000);
  m = await scrape(registry);
  t.equal(m.value('dash_proxy_ledger_records_pending'), 200, 'the bound');
  t.equal(m.byCause('dash_proxy_ledger_records_dropped_total')['queue-full'], 108, 'dropped past the bound');
  t.equal(m.byCause('dash_proxy_ledger_records_dropped_total')['queue-full'], s.writer.droppedBy['queue-full'], "the writer's count");
  t.equal(m.byCause('dash_proxy_ledger_commit_failures_total').locked, s.writer.failuresBy.locked, 'retried each second, each failure counted');
  t.ok((s.writer.failuresBy.locked ?? 0) >= 4);

  other.exec('COMMIT');
  await s.timers.advance(1_000);
  m = await scrape(registry);
  t.equal(m.value('dash_proxy_ledger_up'), 1, 'up again');
  t.equal(familyLines(m.text, 'dash_proxy_ledger_fault').length, 0, 'the fault series is gone');
  t.equal(m.value('dash_proxy_ledger_fault_since_timestamp_seconds'), undefined);
  t.equal(m.value('dash_proxy_ledger_records_pending'), 0, 'caught up');
  t.equal(m.value('dash_proxy_ledger_records_committed_total'), 224, 'the 200 kept records written');
  t.equal(m.value('dash_proxy_ledger_records_committed_total'), s.writer.committed);
  t.equal(m.value('dash_proxy_ledger_commits_total'), s.writer.commits);
  t.equal(readLedger(file).shares.length, 20 + 100 + 92, 'the books hold the shares kept');
});

t.test('metrics: the cause of a read-only file (chattr +i as root)', async (t) => {
  const { unlock, s } = await readOnlyBooks(t);
  const registry = new Registry();
  registerBooksMetrics(registry, s.writer);
  await s.writer.start();
  s.shares(9);
  await s.timers.advance(2_000);
  let m = await scrape(registry);
  t.equal(m.value('dash_proxy_ledger_up'), 0);
  t.same(m.byCause('dash_proxy_ledger_fault'), { 'read-only': 1 });
  t.equal(m.value('dash_proxy_ledger_records_pending'), 13);
  unlock();
  await s.timers.advance(1_000);
  m = await scrape(registry);
  t.equal(m.value('dash_proxy_ledger_up'), 1);
  t.equal(m.value('dash_proxy_ledger_records_pending'), 0);
});

/** An alert manager watching the writer's books, sending every kind as JSON to a webhook on 127.0.0.1. */
async function alerting(t: Test, s: ReturnType<typeof setup>) {
  const r = await Receiver.start(t);
  const farm = new FarmLedger(s.bus);
  t.teardown(() => farm.close());
  const config = {
    ...DEFAULT_ALERTS_CONFIG,
    instance: 'proxy-a',
    webhooks: [{ name: 'noc', url: r.url('/hook'), format: 'json' as const, headers: {}, events: [...ALERT_KINDS], chatId: null, maxPerMinute: 10 }],
  };
  const manager = new AlertManager(s.bus, farm, config, { timers: s.timers });
  const alerts: Alert[] = [];
  manager.onAlert((a) => alerts.push(a));
  manager.watchBooks(s.writer);
  manager.start({ tick: false });
  t.teardown(() => manager.stop(0));
  const tick = async () => {
    manager.tick();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { r, manager, alerts, tick };
}

t.test('alert: books not written (read-only file) reaches the webhook once per episode, then "caught up"', async (t) => {
  const { file, unlock, s } = await readOnlyBooks(t);
  const a = await alerting(t, s);
  await s.writer.start();
  await a.tick();
  t.equal(a.alerts.length, 0, 'nothing before the first failed commit');

  s.shares(9);
  await s.timers.advance(100);
  const since = s.writer.faultSince!;
  t.equal(s.writer.fault, 'read-only');
  await a.tick();
  await a.r.waitFor(1, '/hook');
  await a.manager.idle();
  const down = a.r.received[0]!.body;
  t.match(down, {
    source: 'dash-farm-proxy',
    instance: 'proxy-a',
    kind: 'ledger.down',
    severity: 'critical',
    title: `Books not being written: read-only since ${new Date(since).toISOString()}, 13 records waiting`,
    count: 1,
    details: { ledger: file, cause: 'read-only', since, pending: 13, dropped: 0 },
  });
  t.match(down.text, new RegExp(`ledger ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), 'names the books');

  for (let i = 0; i < 5; i++) {
    s.shares(2);
    await s.timers.advance(1_000);
    await a.tick();
  }
  await a.manager.idle();
  t.equal(a.r.count('/hook'), 1, 'told once for the whole episode');

  unlock();
  await s.timers.advance(1_000);
  t.equal(s.writer.fault, null);
  await a.tick();
  await a.r.waitFor(2, '/hook');
  const up = a.r.received[1]!.body;
  t.match(up, {
    kind: 'ledger.up',
    severity: 'info',
    // 19 shares, and 14 per-minute sums: 4 at first, then 2 a second (each failed commit queues the sums so far).
    title: 'Books caught up: 33 records written, 0 dropped',
    details: { cause: 'read-only', since, written: 33, dropped: 0, pending: 0 },
  });
  await s.writer.stop();
  t.equal(readLedger(file).shares.length, 19, 'the 19 shares are in the books');
  await a.tick();
  t.equal(a.alerts.length, 2, 'nothing more');
});

t.test('alert: records dropped during a fault (a locked database past the bound) are in "caught up", as a warning', async (t) => {
  const file = path.join(tempDir(t), 'books.sqlite');
  const s = setup(t, file, { maxQueued: 50 });
  const a = await alerting(t, s);
  await s.writer.start();
  await s.timers.advance(0);
  const other = new Database(file);
  t.teardown(() => other.close());
  await a.tick(); // writable: nothing dropped so far
  other.exec('BEGIN IMMEDIATE');
  // A burst before the fault is seen: 50 records kept (46 shares, 4 minute sums), 54 shares dropped at once.
  s.shares(100);
  await s.timers.advance(100);
  await a.tick();
  t.match(a.alerts, [{ kind: 'ledger.down', title: /^Books not being written: locked since .*, 50 records waiting$/, lines: [/^ledger /, /mining goes on/, '54 records dropped already'], details: { dropped: 54 } }]);
  // Still locked: each failed commit took the minute sums into the queue, so none is open to add to; the
  // queue is full: each of the next 10 shares drops its row and its minute-sum record (20).
  s.shares(10);
  await s.timers.advance(1_000);
  t.equal(s.writer.droppedBy['queue-full'], 54 + 20);
  other.exec('COMMIT');
  await s.timers.advance(1_000);
  await a.tick();
  await a.r.waitFor(2, '/hook');
  t.match(a.r.received[1]!.body, { kind: 'ledger.up', severity: 'warning', title: 'Books caught up: 50 records written, 74 dropped', details: { dropped: 74, droppedBy: { 'queue-full': 74 } } });
  t.equal(a.r.count('/hook'), 2);
});

t.test('the app: a read-only books file is loud on /metrics and at the webhook, and quiet again once writable', async (t) => {
  const { file, unlock } = await readOnlyBooks(t);
  const r = await Receiver.start(t);
  const config = buildConfig({
    pools: [{ url: 'stratum+tcp://127.0.0.1:1', user: 'X.w' }],
    listen: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    ledger: { path: file },
    alerts: { instance: 'proxy-a', webhooks: [{ name: 'noc', url: r.url('/hook'), format: 'json', events: ['ledger.down', 'ledger.up'] }] },
  });
  const app = await createProxyApp(config, { hasher, log: silentLogger });
  const { http } = await app.start();
  t.teardown(() => app.stop());
  const metrics = async () => (await (await request(`http://127.0.0.1:${http.port}/metrics`)).body.text());

  await r.waitFor(1, '/hook', 15_000);
  t.match(r.received[0]!.body, { instance: 'proxy-a', kind: 'ledger.down', severity: 'critical', title: /^Books not being written: read-only since /, details: { ledger: file, cause: 'read-only' } });
  let text = await metrics();
  t.equal(seriesValue(text, 'dash_proxy_ledger_up'), 0);
  t.equal(seriesValue(text, 'dash_proxy_ledger_fault{cause="read-only"}'), 1);

  unlock();
  await r.waitFor(2, '/hook', 15_000);
  t.match(r.received[1]!.body, { kind: 'ledger.up', severity: 'info', title: /^Books caught up: \d+ records written, 0 dropped$/ });
  text = await metrics();
  t.equal(seriesValue(text, 'dash_proxy_ledger_up'), 1);
  t.equal(familyLines(text, 'dash_proxy_ledger_fault').length, 0);
  await app.stop();
  t.match(readLedger(file).runs, [{}, { run_id: app.books!.run.runId, stop_reason: 'stopped' }], 'the run is in the books');
});
