import type { Worker } from 'node:worker_threads';
import type { SqliteLedgerOptions } from './ledger-sqlite.js';
import { LedgerFaultError, type LedgerRecord, type LedgerRun, type LedgerStore } from './ledger-store.js';
import { ledgerErrorFrom, startBooksWorker, type LedgerErrorData } from './worker-thread.js';

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

type Pending = { resolve: (value: number | undefined) => void; reject: (err: Error) => void };

export class ThreadedSqliteLedgerStore implements LedgerStore {
  readonly location: string;
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly opts: SqliteLedgerOptions) {
    this.location = opts.path;
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

  async close(): Promise<void> {
    if (!this.worker) return;
    await this.request({ op: 'close' }).catch(() => {});
    const worker = this.worker;
    this.worker = null;
    await worker.terminate();
  }

  private request(body: LedgerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never): Promise<number | undefined> {
    const worker = this.worker ?? this.spawn();
    const id = this.nextId++;
    // The thread keeps the process alive only while it has work (a stop still writing must finish).
    worker.ref();
    return new Promise<number | undefined>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, ...body });
    });
  }

  private spawn(): Worker {
    const worker = startBooksWorker(import.meta.url, 'ledger-sqlite-worker', this.opts);
    worker.on('message', (res: LedgerResponse) => {
      const p = this.pending.get(res.id);
      if (!p) return;
      this.pending.delete(res.id);
      if (this.pending.size === 0) worker.unref();
      if (res.ok) p.resolve(res.value);
      else p.reject(ledgerErrorFrom(this.location, res.error));
    });
    const failAll = (err: Error) => {
      for (const p of this.pending.values()) p.reject(new LedgerFaultError(this.location, 'other', `the ledger thread failed: ${err.message}`));
      this.pending.clear();
      this.worker = null;
    };
    worker.on('error', failAll);
    worker.on('exit', (code) => failAll(new Error(`exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }
}
