import { Worker } from 'node:worker_threads';
import { LedgerFaultError, LedgerRefusedError, type LedgerFaultCause } from './ledger-store.js';

/**
 * What the books' worker threads share (the SQLite store's and the reader's): starting a worker module that
 * sits beside the caller, and carrying the books' errors across the thread as the same classes.
 */

/**
 * Start `./<name>` beside the module `callerUrl` (its import.meta.url). From dist/ the worker is the
 * compiled .js; from sources (tests run .ts through tsx) the worker registers tsx itself, since a worker's
 * entry does not go through the parent's loader. The worker starts unref'd: the caller refs it while it waits.
 */
export function startBooksWorker(callerUrl: string, name: string, workerData: unknown): Worker {
  const fromSources = callerUrl.endsWith('.ts');
  const file = new URL(`./${name}${fromSources ? '.ts' : '.js'}`, callerUrl);
  const worker = fromSources
    ? new Worker(`import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(file.href)}); })`, { eval: true, workerData })
    : new Worker(file, { workerData, execArgv: [] });
  worker.unref();
  return worker;
}

export type LedgerErrorData = { kind: 'refused'; why: string } | { kind: 'fault'; fault: LedgerFaultCause; detail: string } | { kind: 'other'; message: string };

/** An error thrown in the worker, as data that crosses the thread. */
export function ledgerErrorData(err: unknown): LedgerErrorData {
  if (err instanceof LedgerRefusedError) return { kind: 'refused', why: err.why };
  if (err instanceof LedgerFaultError) return { kind: 'fault', fault: err.fault, detail: err.detail };
  return { kind: 'other', message: (err as Error).message ?? String(err) };
}

/** The same error again on the caller's side (anything else is a fault of the books at `location`). */
export function ledgerErrorFrom(location: string, e: LedgerErrorData): Error {
  if (e.kind === 'refused') return new LedgerRefusedError(location, e.why);
  if (e.kind === 'fault') return new LedgerFaultError(location, e.fault, e.detail);
  return new LedgerFaultError(location, 'other', e.message);
}

/** A response from a books worker: the value of request `id`, or its error as data. */
export type BooksThreadResponse = { id: number; ok: true; value?: unknown } | { id: number; ok: false; error: LedgerErrorData };

type Pending = { resolve: (value: unknown) => void; reject: (err: Error) => void };

/**
 * The caller's side of a books worker (the SQLite store's, the reader's): started on the first request,
 * each request posted with its number and answered by it, the thread holding the process only while a
 * request waits. A thread that fails or exits fails every waiting request as a fault of the books.
 */
export class BooksThread {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(
    private readonly callerUrl: string,
    private readonly name: string,
    private readonly workerData: unknown,
    private readonly location: string,
    /** How a failed thread is named in the error ("the ledger thread"). */
    private readonly what: string,
  ) {}

  /** Post `body` (with its request number) and wait for its answer. */
  call(body: object): Promise<unknown> {
    const worker = this.worker ?? this.spawn();
    const id = this.nextId++;
    // The thread keeps the process alive only while it has work (a stop still writing must finish).
    worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, ...body });
    });
  }

  /** Send the closing request `body` (its failure ignored), then end the thread. Nothing when it never started. */
  async close(body: object): Promise<void> {
    if (!this.worker) return;
    await this.call(body).catch(() => {});
    const worker = this.worker;
    this.worker = null;
    await worker?.terminate();
  }

  private spawn(): Worker {
    const worker = startBooksWorker(this.callerUrl, this.name, this.workerData);
    worker.on('message', (res: BooksThreadResponse) => {
      const p = this.pending.get(res.id);
      if (!p) return;
      this.pending.delete(res.id);
      if (this.pending.size === 0) worker.unref();
      if (res.ok) p.resolve(res.value);
      else p.reject(ledgerErrorFrom(this.location, res.error));
    });
    const failAll = (err: Error) => {
      for (const p of this.pending.values()) p.reject(new LedgerFaultError(this.location, 'other', `${this.what} failed: ${err.message}`));
      this.pending.clear();
      if (this.worker === worker) this.worker = null;
    };
    worker.on('error', failAll);
    worker.on('exit', (code) => failAll(new Error(`exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }
}
