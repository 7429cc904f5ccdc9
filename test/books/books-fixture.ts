import path from 'node:path';
import { EventBus } from '../../src/core/events.js';
import { SqliteLedgerStore } from '../../src/books/ledger-sqlite.js';
import { LedgerWriter } from '../../src/books/ledger-writer.js';
import { OwnerMap, type OwnersConfig } from '../../src/books/owners.js';
import { ACCEPTED, ManualTimers, ShareFeeder, tempDir } from './ledger-kit.js';

/**
 * Books written by the real writer from synthetic share events, with numbers the report and payout tests
 * know by heart. Owners: alice (alice.*, 2% fee), bob (bob.* by the owner.worker rule), the farm (rig9).
 *
 *   #  worker      time (UTC)                 credited  pool         verdict
 *   1  alice.rig1  2026-12-05 10:00:01        3000      main         accepted
 *   2  bob.s19     2026-12-05 10:00:02        2000      main         accepted
 *   3  rig9        2026-12-05 10:00:03        1000      backup (1)   accepted
 *   4  bob.s19     2026-12-05 10:00:04         500      main         rejected (23)
 *   -  rig9        2026-12-05 10:00:05          64      -            accepted by the proxy only
 *   5  alice.rig1  2026-12-05 10:01:10         100      main         unanswered (timeout)
 *   6  alice.rig2  2026-12-06 01:00:00        1000      main         accepted, network difficulty 2,000,000
 * Every other share's network difficulty is 1,000,000 (NETWORK_DIFFICULTY).
 */
export const D1 = Date.UTC(2026, 11, 5, 10, 0, 0);
export const D2 = Date.UTC(2026, 11, 6, 1, 0, 0);

export const OWNERS: OwnersConfig = { alice: { workers: ['alice.*'], feePercent: 2 }, bob: { workers: [], feePercent: 0 } };
export const BOOKS = { farmOwner: 'farm', payoutMethod: 'prop' as const, pplnsWindow: 5500 };

export async function filledBooks(t: { teardown(fn: () => void): void }): Promise<{ dir: string; file: string }> {
  const dir = tempDir(t);
  const file = path.join(dir, 'books.sqlite');
  const timers = new ManualTimers(D1 - 1000);
  const bus = new EventBus();
  const owners = OwnerMap.compile(OWNERS, BOOKS);
  const writer = new LedgerWriter({ store: new SqliteLedgerStore({ path: file }), bus, timers, ownerOf: (w) => owners.ownerOf(w) });
  await writer.start();
  const feed = new ShareFeeder(bus);
  feed.share({ worker: 'alice.rig1', at: D1 + 1000, difficulty: 3000, verdict: ACCEPTED });
  feed.share({ worker: 'bob.s19', at: D1 + 2000, difficulty: 2000, verdict: ACCEPTED });
  feed.share({ worker: 'rig9', at: D1 + 3000, difficulty: 1000, pool: 'backup', connection: 1, verdict: ACCEPTED });
  feed.share({ worker: 'bob.s19', at: D1 + 4000, difficulty: 500, verdict: { kind: 'rejected', code: 23, reason: 'Low difficulty share' } });
  feed.share({ worker: 'rig9', at: D1 + 5000, difficulty: 64, verdict: null });
  feed.share({ worker: 'alice.rig1', at: D1 + 70_000, difficulty: 100, verdict: { kind: 'unanswered', cause: 'timeout', reason: 'no answer in 10 s' } });
  feed.share({ worker: 'alice.rig2', at: D2, difficulty: 1000, networkDifficulty: 2_000_000, verdict: ACCEPTED });
  await timers.advance(200);
  await writer.stop('test over');
  if (writer.dropped !== 0 || writer.committed === 0) throw new Error('the fixture books were not written');
  return { dir, file };
}
