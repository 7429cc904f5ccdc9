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
