import type { LedgerReader } from './ledger-reader.js';
import { BooksThread, type LedgerErrorData } from './worker-thread.js';

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

export class ThreadedLedgerReader implements LedgerReader {
  private readonly thread: BooksThread;

  constructor(readonly location: string) {
    this.thread = new BooksThread(import.meta.url, 'ledger-reader-worker', { path: location }, location, 'the ledger reader thread');
  }

  report: LedgerReader['report'] = (...args) => this.call('report', args);
  owners: LedgerReader['owners'] = () => this.call('owners', []);
  acceptedWork: LedgerReader['acceptedWork'] = (...args) => this.call('acceptedWork', args);
  windowStart: LedgerReader['windowStart'] = (...args) => this.call('windowStart', args);
  firstShareAt: LedgerReader['firstShareAt'] = () => this.call('firstShareAt', []);
  blocks: LedgerReader['blocks'] = (...args) => this.call('blocks', args);
  addPayout: LedgerReader['addPayout'] = (...args) => this.call('addPayout', args);
  addBlockPayout: LedgerReader['addBlockPayout'] = (...args) => this.call('addBlockPayout', args);
  payouts: LedgerReader['payouts'] = (...args) => this.call('payouts', args);
  verify: LedgerReader['verify'] = (...args) => this.call('verify', args);

  close(): Promise<void> {
    return this.thread.close({ op: 'close', args: [] });
  }

  private call<T>(op: ReaderOp, args: unknown[]): Promise<T> {
    return this.thread.call({ op, args }) as Promise<T>;
  }
}
