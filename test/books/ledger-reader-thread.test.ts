import path from 'node:path';
import t from 'tap';
import { ThreadedLedgerReader } from '../../src/books/ledger-reader-thread.js';
import { SqliteLedgerReader } from '../../src/books/ledger-sqlite-reader.js';
import { SqliteLedgerStore } from '../../src/books/ledger-sqlite.js';
import type { LedgerReader } from '../../src/books/ledger-reader.js';
import type { ShareRecord } from '../../src/books/ledger-store.js';
import { tempDir } from './ledger-kit.js';

/** The reader the API runs, in its thread: the same answers, the same refusals, and the proxy thread keeps running. */
const WORKERS = 200;
const SHARES = 100_000;

t.test('the threaded reader answers as the direct one, and the caller\'s thread runs while it verifies', async (t) => {
  const file = path.join(tempDir(t), 'books.sqlite');
  const store = new SqliteLedgerStore({ path: file });
  const records: ShareRecord[] = Array.from({ length: SHARES }, (_, i) => ({
    kind: 'share', shareId: i, at: 60_000 * Math.floor(i / 1000) + (i % 1000), answeredAt: 0, worker: `rig${i % WORKERS}`, owner: i % 2 ? 'alice' : 'farm', route: 'default', target: 'default', pool: 'main', connection: 0, jobId: 'j',
    creditedDifficulty: 2, shareDifficulty: 3, networkDifficulty: 1e6, verdict: i % 10 ? 'accepted' : 'rejected', rejectCode: null, reason: null, noAnswerCause: null, latencyMs: 1, blockHash: null,
  }));
  await store.write({ runId: 'r', startedAt: 0, pid: 1, host: 'h', version: 'v' }, records, 0);
  await store.close();

  const direct = new SqliteLedgerReader(file);
  const threaded = new ThreadedLedgerReader(file);
  t.teardown(async () => {
    await direct.close();
    await threaded.close();
  });
  const range = { from: 0, to: 60_000 * 100 };
  t.same(await threaded.report(range, 'owner'), await direct.report(range, 'owner'));
  t.same(await threaded.report(range, 'owner'), [
    { key: 'alice', shares: 50_000, accepted: 50_000, rejected: 0, unanswered: 0, acceptedWork: 100_000 },
    { key: 'farm', shares: 50_000, accepted: 40_000, rejected: 10_000, unanswered: 0, acceptedWork: 80_000 },
  ]);

  // Timer ticks on this thread while each reader verifies the whole ledger.
  const ticksDuring = async (reader: LedgerReader) => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const started = performance.now();
    t.same(await reader.verify(), []);
    const ms = performance.now() - started;
    clearInterval(timer);
    return { ticks, ms };
  };
  const d = await ticksDuring(direct);
  const th = await ticksDuring(threaded);
  t.equal(d.ticks, 0, `the direct reader holds the thread for its whole verify (${d.ms.toFixed(0)} ms)`);
  t.ok(th.ticks >= 3, `the threaded reader leaves it running (${th.ticks} ticks in ${th.ms.toFixed(0)} ms)`);

  const missing = new ThreadedLedgerReader(path.join(path.dirname(file), 'none.sqlite'));
  t.teardown(() => missing.close());
  await t.rejects(missing.owners(), { name: 'LedgerRefusedError', message: /none\.sqlite: no such file/ }, 'a refusal crosses the thread as itself');
});
