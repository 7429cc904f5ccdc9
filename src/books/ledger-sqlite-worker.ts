import { parentPort, workerData } from 'node:worker_threads';
import { SqliteLedgerStore, type SqliteLedgerOptions } from './ledger-sqlite.js';
import { LedgerFaultError, LedgerRefusedError } from './ledger-store.js';
import type { LedgerErrorData, LedgerRequest, LedgerResponse } from './ledger-sqlite-thread.js';

/** The worker side of ThreadedSqliteLedgerStore: the SQLite store, one request at a time, in order. */
const store = new SqliteLedgerStore(workerData as SqliteLedgerOptions);
const port = parentPort!;

port.on('message', (req: LedgerRequest) => {
  let res: LedgerResponse;
  try {
    if (req.op === 'open') store.openSync();
    else if (req.op === 'write') store.writeSync(req.run, req.records, req.at);
    else if (req.op === 'max-pages') store.setMaxPageCount(req.pages);
    else store.closeSync();
    res = { id: req.id, ok: true };
  } catch (err) {
    res = { id: req.id, ok: false, error: describe(err) };
  }
  port.postMessage(res);
});

function describe(err: unknown): LedgerErrorData {
  if (err instanceof LedgerRefusedError) return { kind: 'refused', why: err.why };
  if (err instanceof LedgerFaultError) return { kind: 'fault', fault: err.fault, detail: err.detail };
  return { kind: 'other', message: (err as Error).message ?? String(err) };
}
