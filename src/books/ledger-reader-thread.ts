import type { Worker } from 'node:worker_threads';
import type { LedgerReader } from './ledger-reader.js';
import { LedgerFaultError } from './ledger-store.js';
import { ledgerErrorFrom, startBooksWorker, type LedgerErrorData } from './worker-thread.js';

/**
 * The SQLite reader in a worker thread, for the proxy's API: a report over a long range or a verify of a
 * large ledger takes its time in SQLite, synchronously; on the proxy's thread that would pause every socket.
 * Here the proxy posts the call and is answered when it is done. The same LedgerReader, the same errors.
 */
type ReaderOp = Exclude<keyof LedgerReader, 'location'>;

export interface ReaderRequest {
  id: number;
  op: ReaderOp;
  args: unknown[];
}

export type ReaderResponse = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: LedgerErrorData };

type Pending = { resolve: (value: unknown) => void; reject: (err: Error) => void };

export class ThreadedLedgerReader implements LedgerReader {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(readonly location: string) {}

  report: LedgerReader['report'] = (...args) => this.call('report', args);
  owners: LedgerReader['owners'] = () => this.call('owners', []);
  acceptedWork: LedgerReader['acceptedWork'] = (...args) => this.call('acceptedWork', args);
  windowStart: LedgerReader['windowStart'] = (...args) => this.call('windowStart', args);
  addPayout: LedgerReader['addPayout'] = (...args) => this.call('addPayout', args);
  payouts: LedgerReader['payouts'] = (...args) => this.call('payouts', args);
  verify: LedgerReader['verify'] = (...args) => this.call('verify', args);

  async close(): Promise<void> {
    if (!this.worker) return;
    await this.call('close', []).catch(() => {});
    const worker = this.worker;
    this.worker = null;
    await worker?.terminate();
  }

  private call<T>(op: ReaderOp, args: unknown[]): Promise<T> {
    const worker = this.worker ?? this.spawn();
    const id = this.nextId++;
    worker.ref();
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ id, op, args } satisfies ReaderRequest);
    });
  }

  private spawn(): Worker {
    const worker = startBooksWorker(import.meta.url, 'ledger-reader-worker', { path: this.location });
    worker.on('message', (res: ReaderResponse) => {
      const p = this.pending.get(res.id);
      if (!p) return;
      this.pending.delete(res.id);
      if (this.pending.size === 0) worker.unref();
      if (res.ok) p.resolve(res.value);
      else p.reject(ledgerErrorFrom(this.location, res.error));
    });
    const failAll = (err: Error) => {
      for (const p of this.pending.values()) p.reject(new LedgerFaultError(this.location, 'other', `the ledger reader thread failed: ${err.message}`));
      this.pending.clear();
      if (this.worker === worker) this.worker = null;
    };
    worker.on('error', failAll);
    worker.on('exit', (code) => failAll(new Error(`exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }
}
