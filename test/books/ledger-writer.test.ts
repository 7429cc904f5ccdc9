import t from 'tap';
import { EventBus } from '../../src/core/events.js';
import type { LedgerRecord, LedgerRun, LedgerStore } from '../../src/books/ledger-store.js';
import { LedgerWriter } from '../../src/books/ledger-writer.js';
import { DEFAULT_BOOKS } from '../../src/books/owners.js';
import { version } from '../../src/version.js';
import { MIGRATIONS } from '../../src/books/ledger-schema.js';
import { ledgerBackends, type LedgerBackend } from './ledger-backends.js';
import { ACCEPTED, ManualTimers, NETWORK_DIFFICULTY, ShareFeeder } from './ledger-kit.js';

/** The store, counting its transactions (one write() = one transaction) and when each came. */
class CountingStore implements LedgerStore {
  readonly writes: { at: number; records: number }[] = [];
  constructor(readonly inner: LedgerStore) {}
  get location() {
    return this.inner.location;
  }
  open() {
    return this.inner.open();
  }
  async write(run: LedgerRun, records: readonly LedgerRecord[], at: number) {
    await this.inner.write(run, records, at);
    this.writes.push({ at, records: records.length });
  }
  prune(beforeMs: number, maxRows: number): Promise<number> {
    return this.inner.prune(beforeMs, maxRows);
  }
  close() {
    return this.inner.close();
  }
}

// Every test here holds for each store: an SQLite file, and a PostgreSQL database (when the server is installed).
const { backends, skipped } = await ledgerBackends(t);
if (skipped) t.test(skipped, { skip: skipped }, () => {});

/** A writer on a new ledger of backend `b` (or on `opts.file`, a ledger of b's made before). */
async function setup(t: { teardown(fn: () => void): void }, b: LedgerBackend, opts: { ownerOf?: (w: string) => string; file?: string; timers?: ManualTimers } = {}) {
  const file = opts.file ?? (await b.fresh(t));
  const timers = opts.timers ?? new ManualTimers();
  const bus = new EventBus();
  const store = new CountingStore(b.store(file));
  const writer = new LedgerWriter({ store, bus, timers, ...(opts.ownerOf ? { ownerOf: opts.ownerOf } : {}) });
  // A store that answers asynchronously (PostgreSQL) commits after the timer's callback: the clock waits for it.
  const before = timers.afterEach;
  timers.afterEach = async () => {
    await before();
    await writer.idle();
  };
  return { file, timers, bus, store, writer, feed: new ShareFeeder(bus) };
}

for (const b of backends) writerTests(b);

function writerTests(b: LedgerBackend) {
  t.test(`${b.name}: every share sent to the pool is one row, exactly as the events said`, async (t) => {
    const s = await setup(t, b, { ownerOf: (w) => (w.startsWith('alice.') ? 'alice' : DEFAULT_BOOKS.farmOwner) });
    await s.writer.start();
    const T = s.timers.now();
    s.feed.share({ worker: 'alice.rig1', at: T + 1, difficulty: 512, shareDifficulty: 700, jobId: '1a', verdict: ACCEPTED, latencyMs: 30 });
    s.feed.share({ worker: 'rig2', at: T + 2, difficulty: 256, shareDifficulty: 300, pool: 'backup', route: 'fee', target: 'hosting-fee', connection: 1, jobId: '1b', verdict: { kind: 'rejected', code: 23, reason: 'Low difficulty share' }, latencyMs: 40 });
    s.feed.share({ worker: 'rig2', at: T + 3, difficulty: 256, shareDifficulty: 260, jobId: '1c', verdict: { kind: 'unanswered', cause: 'timeout', reason: 'no answer in 10 s' }, latencyMs: 10_000 });
    s.feed.share({ worker: 'alice.rig1', at: T + 4, difficulty: 512, shareDifficulty: 9e9, networkDifficulty: 2_500_000, jobId: '1d', blockHash: '00000000000000abcdef', verdict: ACCEPTED, latencyMs: 25 });
    s.feed.share({ worker: 'rig2', at: T + 5, difficulty: 64, verdict: null }); // accepted locally, not forwarded
    s.bus.emit('pool.switch', { route: 'default', target: 'default', connection: 0, from: 'main', to: 'backup', reason: 'main down', at: T + 6 });
    s.bus.emit('pool.switch', { route: 'fee', target: 'hosting-fee', connection: 1, from: null, to: 'fee-pool', reason: 'connected', at: T + 7 });
    await s.timers.advance(100);
    await s.writer.stop('test over');

    const rows = await b.read(s.file);
    const runId = s.writer.run.runId;
    const base = { run_id: runId, job_id: '', network_difficulty: NETWORK_DIFFICULTY, reject_code: null, reason: null, no_answer_cause: null, block_candidate: 0, block_hash: null, route: 'default', target: 'default' };
    t.same(rows.shares, [
      { ...base, share_id: 1, at: T + 1, answered_at: T + 31, worker: 'alice.rig1', owner: 'alice', pool: 'main', connection: 0, job_id: '1a', credited_difficulty: 512, share_difficulty: 700, verdict: 'accepted', latency_ms: 30 },
      { ...base, share_id: 2, at: T + 2, answered_at: T + 42, worker: 'rig2', owner: 'farm', pool: 'backup', route: 'fee', target: 'hosting-fee', connection: 1, job_id: '1b', credited_difficulty: 256, share_difficulty: 300, verdict: 'rejected', reject_code: 23, reason: 'Low difficulty share', latency_ms: 40 },
      { ...base, share_id: 3, at: T + 3, answered_at: T + 10_003, worker: 'rig2', owner: 'farm', pool: 'main', connection: 0, job_id: '1c', credited_difficulty: 256, share_difficulty: 260, verdict: 'unanswered', reason: 'no answer in 10 s', no_answer_cause: 'timeout', latency_ms: 10_000 },
      { ...base, share_id: 4, at: T + 4, answered_at: T + 29, worker: 'alice.rig1', owner: 'alice', pool: 'main', connection: 0, job_id: '1d', credited_difficulty: 512, share_difficulty: 9e9, network_difficulty: 2_500_000, verdict: 'accepted', latency_ms: 25, block_candidate: 1, block_hash: '00000000000000abcdef' },
    ]);
    const minute = Math.floor(T / 60_000) * 60_000;
    t.same(rows.minutes, [
      { minute, worker: 'alice.rig1', owner: 'alice', local_shares: 2, local_work: 1024, accepted: 2, rejected: 0, unanswered: 0, accepted_work: 1024 },
      { minute, worker: 'rig2', owner: 'farm', local_shares: 3, local_work: 576, accepted: 0, rejected: 1, unanswered: 1, accepted_work: 0 },
    ]);
    t.same(rows.switches, [
      { run_id: runId, seq: 1, at: T + 6, connection: 0, from_pool: 'main', to_pool: 'backup', reason: 'main down', route: 'default', target: 'default' },
      { run_id: runId, seq: 2, at: T + 7, connection: 1, from_pool: null, to_pool: 'fee-pool', reason: 'connected', route: 'fee', target: 'hosting-fee' },
    ]);
    t.equal(rows.runs.length, 1);
    t.match(rows.runs[0], { run_id: runId, started_at: T, stopped_at: T + 100, stop_reason: 'test over', pid: process.pid, version });
    t.same(rows.versions.map((v) => v.version), MIGRATIONS.map((m) => m.version));
    t.equal(s.writer.dropped, 0);
    t.equal(s.writer.pending, 0);
  });

  t.test(`${b.name}: per-minute totals equal the share rows (counts by verdict, accepted work), over many minutes and workers`, async (t) => {
    const s = await setup(t, b, { ownerOf: (w) => w.split('.')[0]! });
    await s.writer.start();
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const T = s.timers.now();
    let forwarded = 0;
    for (let i = 0; i < 2_000; i++) {
      const r = rand();
      const verdict = r < 0.7 ? ACCEPTED : r < 0.8 ? { kind: 'rejected' as const, code: 21, reason: 'Stale' } : r < 0.85 ? { kind: 'unanswered' as const, cause: 'connection-lost' as const, reason: 'gone' } : null;
      if (verdict) forwarded++;
      s.feed.share({ worker: `o${Math.floor(rand() * 3)}.rig${Math.floor(rand() * 4)}`, at: T + i * 150, difficulty: 2 ** Math.floor(rand() * 12), verdict });
      if (i % 50 === 0) await s.timers.advance(100);
    }
    await s.timers.advance(100);
    await s.writer.stop();
    const rows = await b.read(s.file);
    t.equal(rows.shares.length, forwarded, 'one row per forwarded share');
    type Sums = { accepted: number; rejected: number; unanswered: number; accepted_work: number };
    const fromShares = new Map<string, Sums>();
    for (const r of rows.shares) {
      const key = `${Math.floor((r.at as number) / 60_000) * 60_000}|${r.worker}|${r.owner}`;
      const m = fromShares.get(key) ?? { accepted: 0, rejected: 0, unanswered: 0, accepted_work: 0 };
      m[r.verdict as 'accepted' | 'rejected' | 'unanswered'] += 1;
      if (r.verdict === 'accepted') m.accepted_work += r.credited_difficulty as number;
      fromShares.set(key, m);
    }
    const fromMinutes = new Map<string, Sums>();
    for (const m of rows.minutes) {
      if ((m.accepted as number) + (m.rejected as number) + (m.unanswered as number) === 0) continue;
      fromMinutes.set(`${m.minute}|${m.worker}|${m.owner}`, { accepted: m.accepted as number, rejected: m.rejected as number, unanswered: m.unanswered as number, accepted_work: m.accepted_work as number });
    }
    t.same(Object.fromEntries([...fromMinutes].sort()), Object.fromEntries([...fromShares].sort()));
    t.equal(rows.minutes.length, 5 * 12, 'a row for each of the 5 minutes and 12 workers');
    t.equal(rows.minutes.reduce((n, m) => n + (m.local_shares as number), 0), 2_000, 'every locally accepted share is in the local counts');
  });

  t.test(`${b.name}: group commit: one transaction per window, never more often than every 100 ms, a record waits at most 100 ms`, async (t) => {
    const s = await setup(t, b);
    await s.writer.start();
    await s.timers.advance(0); // the start's own commit (the run row)
    t.equal(s.store.writes.length, 1, 'the start is written at once');
    const T = s.timers.now();
    for (let i = 0; i < 1_000; i++) s.feed.share({ worker: `rig${i % 10}`, at: T, difficulty: 1, verdict: ACCEPTED });
    await s.timers.advance(99);
    t.equal(s.store.writes.length, 1, 'nothing before the window closes');
    await s.timers.advance(1);
    t.equal(s.store.writes.length, 2, 'one transaction for the burst');
    t.equal(s.store.writes[1]!.records, 1_000 + 10, '1,000 share rows and 10 per-minute sums in it');
    // A steady stream: a share every 5 ms for 1 s.
    for (let i = 0; i < 200; i++) {
      s.feed.share({ worker: 'rig0', at: s.timers.now(), difficulty: 1, verdict: ACCEPTED });
      await s.timers.advance(5);
    }
    await s.timers.advance(100);
    const stream = s.store.writes.slice(2);
    t.ok(stream.length >= 9 && stream.length <= 11, `about 10 transactions for 1 s of shares (${stream.length})`);
    for (let i = 1; i < s.store.writes.length; i++) t.ok(s.store.writes[i]!.at - s.store.writes[i - 1]!.at >= 100, `commit ${i} at least 100 ms after the previous`);
    t.equal(stream.reduce((n, w) => n + w.records, 0), 200 + stream.length, 'every share once (and one per-minute sum per commit)');
    await s.writer.stop();
    t.equal((await b.read(s.file)).shares.length, 1_200);
  });

  t.test(`${b.name}: a restart keeps everything and the gap is visible; an unclean stop is a start without a stop`, async (t) => {
    const file = await b.fresh(t);
    const timers = new ManualTimers();
    const a = await setup(t, b, { file, timers });
    await a.writer.start();
    a.feed.share({ worker: 'rig1', at: timers.now(), difficulty: 8, verdict: ACCEPTED });
    await timers.advance(100);
    await a.writer.stop('SIGTERM');
    const stoppedAt = timers.now();
    await timers.advance(60_000);

    const bb = await setup(t, b, { file, timers });
    await bb.writer.start();
    bb.feed.share({ worker: 'rig1', at: timers.now(), difficulty: 8, verdict: ACCEPTED });
    await timers.advance(100);
    const lastCommit = bb.store.writes[bb.store.writes.length - 1]!.at;
    const killedAt = timers.now();
    // bb "dies": its store goes away without a stop record.
    await bb.store.close();
    await timers.advance(5_000);

    const c = await setup(t, b, { file, timers });
    await c.writer.start();
    await timers.advance(0);
    await c.writer.stop();

    const rows = await b.read(file);
    t.equal(rows.shares.length, 2, 'both runs\' shares are kept');
    t.same(rows.runs.map((r) => [r.run_id, r.stopped_at, r.stop_reason]), [
      [a.writer.run.runId, stoppedAt, 'SIGTERM'],
      [bb.writer.run.runId, null, null],
      [c.writer.run.runId, timers.now(), 'stopped'],
    ]);
    t.equal(rows.runs[1]!.started_at, stoppedAt + 60_000, 'the gap between a clean stop and the next start');
    t.equal(rows.runs[1]!.last_seen_at, lastCommit, 'an unclean stop: its last commit dates it');
    t.equal(rows.runs[2]!.started_at, killedAt + 5_000, 'the gap after an unclean stop');
  });

  t.test(`${b.name}: an idle proxy still dates its run (heartbeat commit)`, async (t) => {
    const s = await setup(t, b);
    await s.writer.start();
    await s.timers.advance(95_000);
    const rows = await b.read(s.file);
    t.equal(rows.runs[0]!.last_seen_at, s.timers.now() - (95_000 % 30_000), 'a commit every 30 s while idle');
    await s.writer.stop();
  });

  t.test(`${b.name}: the writer never throws into the bus: a failing ownerOf or an unknown verdict is counted`, async (t) => {
    const s = await setup(t, b, {
      ownerOf: (w) => {
        if (w === 'boom') throw new Error('owner map broken');
        return DEFAULT_BOOKS.farmOwner;
      },
    });
    await s.writer.start();
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    t.teardown(() => process.off('warning', onWarning));
    s.feed.share({ worker: 'boom', at: s.timers.now(), difficulty: 1, verdict: ACCEPTED });
    s.bus.emit('share.upstream', { sessionId: 1, worker: 'x', route: 'default', target: 'default', connection: 0, pool: 'main', shareId: 999, verdict: ACCEPTED, latencyMs: 1, at: s.timers.now() });
    await settle2();
    t.same(warnings, [], 'nothing reached the bus');
    t.ok(s.writer.droppedBy['bad-event'] >= 2, `counted (${s.writer.droppedBy['bad-event']})`);
    await s.writer.stop();
  });
}

function settle2(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
