import { writeSync } from 'node:fs';
import { EventBus } from '../../src/core/events.js';
import { ThreadedSqliteLedgerStore } from '../../src/books/ledger-sqlite-thread.js';
import type { LedgerRecord, LedgerRun, LedgerStore } from '../../src/books/ledger-store.js';
import { LedgerWriter } from '../../src/books/ledger-writer.js';
import { ACCEPTED, ShareFeeder } from './ledger-kit.js';

/**
 * A process writing the books at a high rate, for the kill -9 test (ledger-crash.test.ts): it emits
 * `perTick` shares every `tickMs` and prints, synchronously, "emitted <last share id>" after each tick and
 * "commit <highest share id committed>" after each commit, until it is killed.
 */
const [file, perTickArg = '10', tickMsArg = '5'] = process.argv.slice(2);
if (!file) throw new Error('usage: ledger-crash-child.ts <file> [perTick] [tickMs]');
const perTick = Number(perTickArg);
const tickMs = Number(tickMsArg);

/** The store the app runs (a worker thread), reporting what each commit put on disk. */
class ReportingStore implements LedgerStore {
  private readonly inner = new ThreadedSqliteLedgerStore({ path: file! });
  readonly location = file!;
  open() {
    return this.inner.open();
  }
  async write(run: LedgerRun, records: readonly LedgerRecord[], at: number): Promise<void> {
    await this.inner.write(run, records, at);
    let max = 0;
    for (const r of records) if (r.kind === 'share' && r.shareId > max) max = r.shareId;
    if (max > 0) writeSync(1, `commit ${max}\n`);
  }
  prune(beforeMs: number, maxRows: number): Promise<number> {
    return this.inner.prune(beforeMs, maxRows);
  }
  close() {
    return this.inner.close();
  }
}

const bus = new EventBus();
const writer = new LedgerWriter({ store: new ReportingStore(), bus });
await writer.start();
const feed = new ShareFeeder(bus);
let last = 0;
setInterval(() => {
  for (let i = 0; i < perTick; i++) last = feed.share({ worker: `rig${i % 50}`, at: Date.now(), difficulty: 64, verdict: ACCEPTED }) ?? last;
  writeSync(1, `emitted ${last}\n`);
}, tickMs);
writeSync(1, 'ready\n');
