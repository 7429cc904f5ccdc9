import type { SqliteLedgerOptions } from './ledger-sqlite.js';
import type { LedgerRecord, LedgerRun, LedgerStore } from './ledger-store.js';
import { BooksThread, type LedgerErrorData } from './worker-thread.js';

/**
 * The SQLite store in a worker thread: better-sqlite3 is synchronous, and a commit with synchronous=FULL
 * waits for the disk (a few ms per hundred records, tens of ms for ten thousand). Run on the proxy's thread,
 * that would pause every socket; here the proxy only posts the batch and is told when it is on disk.
 * Requests are answered in order; errors come back as the same LedgerRefusedError / LedgerFaultError.
 */
export type LedgerRequest =
  | { id: number; op: 'open' }
  | { id: number; op: 'write'; run: LedgerRun; records: readonly LedgerRecord[]; at: number }
  | { id: number; op: 'prune'; beforeMs: number; maxRows: number }
  | { id: number; op: 'max-pages'; pages: number | undefined }
  | { id: number; op: 'close' };

export type LedgerResponse = { id: number; ok: true; value?: number } | { id: number; ok: false; error: LedgerErrorData };

export class ThreadedSqliteLedgerStore implements LedgerStore {
  readonly location: string;
  private readonly thread: BooksThread;

  constructor(opts: SqliteLedgerOptions) {
    this.location = opts.path;
    this.thread = new BooksThread(import.meta.url, 'ledger-sqlite-worker', opts, opts.path, 'the ledger thread');
  }

  async open(): Promise<void> {
    await this.request({ op: 'open' });
  }

  async write(run: LedgerRun, records: readonly LedgerRecord[], at: number): Promise<void> {
    await this.request({ op: 'write', run, records, at });
  }

  async prune(beforeMs: number, maxRows: number): Promise<number> {
    return (await this.request({ op: 'prune', beforeMs, maxRows })) ?? 0;
  }

  /** The size cap in pages (SQLite's max_page_count), as SqliteLedgerStore's. */
  async setMaxPageCount(pages: number | undefined): Promise<void> {
    await this.request({ op: 'max-pages', pages });
  }

  close(): Promise<void> {
    return this.thread.close({ op: 'close' });
  }

  private request(body: LedgerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never): Promise<number | undefined> {
    return this.thread.call(body) as Promise<number | undefined>;
  }
}
