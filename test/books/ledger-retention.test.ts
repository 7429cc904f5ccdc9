import t from 'tap';
import { buildConfig, configFromEnv } from '../../src/config.js';
import { recordPayout } from '../../src/books/ledger-payout.js';
import { PgLedgerReader } from '../../src/books/ledger-pg-reader.js';
import type { LedgerReader } from '../../src/books/ledger-reader.js';
import { LedgerRetention } from '../../src/books/ledger-retention.js';
import { SqliteLedgerReader } from '../../src/books/ledger-sqlite-reader.js';
import { ThreadedSqliteLedgerStore } from '../../src/books/ledger-sqlite-thread.js';
import { LedgerFaultError, MINUTE_MS, minuteOf, type LedgerRecord, type LedgerRun, type LedgerStore, type ShareRecord } from '../../src/books/ledger-store.js';
import { payoutRules } from '../../src/books/open-reader.js';
import { ledgerBackends, sqliteBackend, type LedgerBackend } from './ledger-backends.js';
import { ManualTimers, recordingLogger } from './ledger-kit.js';

const { backends, skipped } = await ledgerBackends(t);
if (skipped) t.test(skipped, { skip: skipped }, () => {});

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);
const MINUTES = 10;
const WORKERS = ['o1.a', 'o1.b', 'farm.c'];
const run: LedgerRun = { runId: 'run-1', startedAt: T0 - 1_000, pid: 1, host: 'h', version: 'test' };

/** Shares over MINUTES minutes from T0 (several per worker and minute, every verdict), local work, a pool switch. */
function records(): LedgerRecord[] {
  const out: LedgerRecord[] = [{ kind: 'pool-switch', seq: 1, at: T0, route: 'default', target: 'default', connection: 1, from: null, to: 'pool-a', reason: 'start' }];
  let id = 0;
  for (let m = 0; m < MINUTES; m++) {
    for (let i = 0; i < 9; i++) {
      const worker = WORKERS[i % WORKERS.length]!;
      const at = T0 + m * MINUTE_MS + i * 6_000 + 17;
      const verdict: ShareRecord['verdict'] = i % 4 === 3 ? 'rejected' : i % 4 === 2 && m % 2 === 0 ? 'unanswered' : 'accepted';
      out.push({
        kind: 'share', shareId: ++id, at, answeredAt: at + 40, worker, owner: worker.split('.')[0]!, route: 'default', target: 'default', pool: 'pool-a', connection: 1, jobId: `j${m}`,
        creditedDifficulty: 0.1 * (1 + i) + m / 3, shareDifficulty: 5, networkDifficulty: 1_000_000, verdict,
        rejectCode: verdict === 'rejected' ? 23 : null, reason: verdict === 'rejected' ? 'low difficulty' : null,
        noAnswerCause: verdict === 'unanswered' ? 'timeout' : null, latencyMs: 40, blockHash: null,
      });
    }
    for (const worker of [...WORKERS, 'o1.local-only']) out.push({ kind: 'local-work', minute: T0 + m * MINUTE_MS, worker, owner: worker.split('.')[0]!, shares: 3, work: 1.5 });
  }
  return out;
}

/** New books of backend `b` holding records(): where, the store that wrote them and a reader, closed at teardown. */
async function writtenBooks(t: { teardown(fn: () => unknown): void }, b: LedgerBackend): Promise<{ location: string; store: LedgerStore; reader: LedgerReader }> {
  const location = await b.fresh(t);
  const store = b.store(location);
  t.teardown(() => store.close());
  await store.write(run, records(), T0 + MINUTES * MINUTE_MS);
  const reader: LedgerReader = b.name === 'SQLite' ? new SqliteLedgerReader(location) : new PgLedgerReader(location);
  t.teardown(() => reader.close());
  return { location, store, reader };
}

const rules = payoutRules(buildConfig({ pools: [{ url: 'stratum+tcp://127.0.0.1:1', user: 'X.w' }], owners: { o1: { workers: ['o1.*'], feePercent: 2 } } }));

for (const b of backends) {
  t.test(`${b.name}: prune removes shares and minutes before the cutoff, in bounded steps, keeping the books consistent`, async (t) => {
    const { location, store, reader } = await writtenBooks(t, b);
    const payout = await recordPayout(reader, { amount: 100_000_000n, method: 'prop', period: { from: T0, to: T0 + MINUTES * MINUTE_MS }, blocks: null, blockReward: null, note: null }, rules, T0 + DAY);
    t.same(await reader.verify(), [], 'the books add up before pruning');
    const before = await b.read(location);

    // A cutoff in the middle of minute 5: pruned up to the start of that minute.
    const cutoff = T0 + 5 * MINUTE_MS + 30_000;
    const aligned = minuteOf(cutoff);
    const maxRows = 7;
    let steps = 0;
    let removed = 0;
    let shares = before.shares.length;
    let minutes = before.minutes.length;
    for (;;) {
      const n = await store.prune(cutoff, maxRows);
      const now = await b.read(location);
      t.ok(shares - now.shares.length <= maxRows, `step ${steps + 1}: ${shares - now.shares.length} share rows removed, at most ${maxRows}`);
      t.ok(minutes - now.minutes.length <= 2 * maxRows, `step ${steps + 1}: ${minutes - now.minutes.length} minute rows removed`);
      t.equal(n, shares - now.shares.length + (minutes - now.minutes.length), 'prune says how many rows it removed');
      t.same(await reader.verify(), [], `step ${steps + 1}: verify passes`);
      shares = now.shares.length;
      minutes = now.minutes.length;
      removed += n;
      steps += 1;
      if (n === 0 || steps > 100) break;
    }
    t.ok(steps > 4, `${steps} steps (the share rows of 5 minutes in steps of ${maxRows})`);

    const after = await b.read(location);
    t.same(after.shares, before.shares.filter((s) => Number(s.at) >= aligned), 'the share rows from the cutoff minute on are kept, unchanged; the older ones are gone');
    t.same(after.minutes, before.minutes.filter((m) => Number(m.minute) >= aligned), 'the minute rows likewise (local-only ones too)');
    t.equal(removed, before.shares.length - after.shares.length + before.minutes.length - after.minutes.length, 'every removed row counted');
    t.same(after.runs, before.runs, 'runs kept');
    t.same(after.switches, before.switches, 'pool switches kept');
    t.same(await reader.payouts(), [payout], 'the payout and its splits kept');
    t.same(await reader.verify(), [], 'verify passes after pruning');
    t.equal(await store.prune(cutoff, maxRows), 0, 'pruning again removes nothing');
  });

  t.test(`${b.name}: a step cutting a minute in two leaves its minute rows equal to its share rows`, async (t) => {
    const { location, store, reader } = await writtenBooks(t, b);
    // 9 shares a minute: 13 rows take minute 0 and 4 shares of minute 1.
    t.equal(await store.prune(T0 + 3 * MINUTE_MS, 13), 13 + 4, '13 share rows and the 4 minute rows of minute 0 (3 workers and local-only)');
    const rows = await b.read(location);
    t.equal(rows.shares.length, MINUTES * 9 - 13);
    t.same(await reader.verify(), [], 'the minute cut in two adds up');
    const minute1 = rows.minutes.filter((m) => Number(m.minute) === T0 + MINUTE_MS);
    t.equal(minute1.length, 4, "minute 1's rows are all there");
    t.equal(minute1.reduce((s, m) => s + Number(m.local_shares), 0), 12, 'with their local work');
  });
}

t.test('the worker-thread SQLite store prunes too', async (t) => {
  const location = await sqliteBackend.fresh(t);
  const store = new ThreadedSqliteLedgerStore({ path: location });
  t.teardown(() => store.close());
  await store.write(run, records(), T0 + MINUTES * MINUTE_MS);
  const retention = new LedgerRetention({ store, retentionDays: 1, maxRows: 10, timers: new ManualTimers(T0 + DAY + 2 * MINUTE_MS) });
  const removed = await retention.runOnce();
  const rows = await sqliteBackend.read(location);
  t.equal(rows.shares.length, (MINUTES - 2) * 9, 'two minutes of share rows gone');
  t.equal(removed, 2 * 9 + 2 * 4, 'their share and minute rows counted');
  const reader = new SqliteLedgerReader(location);
  t.teardown(() => reader.close());
  t.same(await reader.verify(), []);
});

t.test('retention runs on its timer, logs once a run, and keeps everything with 0 days', async (t) => {
  const location = await sqliteBackend.fresh(t);
  const store = sqliteBackend.store(location);
  t.teardown(() => store.close());
  await store.write(run, records(), T0 + MINUTES * MINUTE_MS);

  const keepAll = new LedgerRetention({ store, retentionDays: 0, timers: new ManualTimers(T0 + 100 * DAY) });
  keepAll.start();
  t.equal(await keepAll.runOnce(), 0, 'retention 0: nothing pruned');
  t.equal((await sqliteBackend.read(location)).shares.length, MINUTES * 9, 'every share row kept');
  await keepAll.stop();

  const timers = new ManualTimers(T0 + DAY);
  const log = recordingLogger();
  const retention = new LedgerRetention({ store, retentionDays: 1, timers, log, firstDelayMs: 60_000, intervalMs: 3_600_000, maxRows: 4 });
  retention.start();
  await timers.advance(59_000);
  t.equal(retention.runs, 0, 'not before the first delay');
  await timers.advance(1_000);
  t.equal(retention.runs, 1, 'the first run shortly after start');
  t.equal(retention.pruned, 9 + 4, 'minute 0 pruned (the clock is one day and one minute past it)');
  t.same(log.lines.filter((l) => l.msg === 'ledger retention: pruned').map((l) => l.fields.rows), [13], 'one line for the run, with its count');
  await timers.advance(3 * MINUTE_MS);
  t.equal(retention.runs, 1, 'the next run waits for the interval');
  await timers.advance(3_600_000);
  t.equal(retention.runs, 2);
  t.equal((await sqliteBackend.read(location)).shares.length, 0, 'an hour later every share row is past the retention');
  await retention.stop();
  await timers.advance(10 * 3_600_000);
  t.equal(retention.runs, 2, 'no run after stop');
});

t.test('a fault while pruning is logged once, never thrown, and the next run tries again', async (t) => {
  const location = await sqliteBackend.fresh(t);
  const inner = sqliteBackend.store(location);
  t.teardown(() => inner.close());
  await inner.write(run, records(), T0 + MINUTES * MINUTE_MS);
  let failing = true;
  const store: LedgerStore = {
    location,
    open: () => inner.open(),
    write: (r, recs, at) => inner.write(r, recs, at),
    prune: async (before, max) => {
      if (failing) throw new LedgerFaultError(location, 'locked', 'database is locked');
      return inner.prune(before, max);
    },
    close: () => inner.close(),
  };
  const timers = new ManualTimers(T0 + 20 * DAY);
  const log = recordingLogger();
  const retention = new LedgerRetention({ store, retentionDays: 7, timers, log, firstDelayMs: 1_000, intervalMs: 60_000 });
  retention.start();
  await timers.advance(1_000);
  await timers.advance(60_000);
  t.equal(retention.fault?.fault, 'locked', 'the fault is known');
  t.equal(log.lines.filter((l) => l.level === 'error').length, 1, 'logged once for two failed runs');
  t.equal((await sqliteBackend.read(location)).shares.length, MINUTES * 9, 'nothing removed');
  failing = false;
  await timers.advance(60_000);
  t.equal(retention.fault, null, 'the next run succeeds');
  t.equal((await sqliteBackend.read(location)).shares.length, 0, 'and prunes');
  t.ok(log.lines.some((l) => l.msg === 'ledger retention: pruning again'), 'says it prunes again');
  await retention.stop();
});

t.test('ledger.retentionDays: 0 (keep forever) by default, from the file or the environment, checked', async (t) => {
  const base = { pools: [{ url: 'stratum+tcp://127.0.0.1:1', user: 'X.w' }] };
  t.equal(buildConfig(base).ledger.retentionDays, 0);
  t.equal(buildConfig(base, { ledger: { path: '/var/lib/b.sqlite', retentionDays: 90 } }).ledger.retentionDays, 90);
  t.equal(buildConfig(base, configFromEnv({ DASH_PROXY_LEDGER_RETENTION_DAYS: '30' })).ledger.retentionDays, 30);
  t.throws(() => buildConfig(base, { ledger: { retentionDays: -1 } }), /ledger\.retentionDays/, 'a negative number of days names the field');
  t.throws(() => buildConfig(base, { ledger: { retentionDays: 1.5 } }), /ledger\.retentionDays/, 'so does a fraction');
  t.throws(() => buildConfig(base, { ledger: { retentionDays: 'forever' } } as never), /ledger\.retentionDays/, 'and text');
});
