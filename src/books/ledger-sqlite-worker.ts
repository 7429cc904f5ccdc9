import { parentPort, workerData } from 'node:worker_threads';
import { SqliteLedgerStore, type SqliteLedgerOptions } from './ledger-sqlite.js';
import type { LedgerRequest, LedgerResponse } from './ledger-sqlite-thread.js';
import { ledgerErrorData } from './worker-thread.js';

/** The worker side of ThreadedSqliteLedgerStore: the SQLite store, one request at a time, in order. */
const store = new SqliteLedgerStore(workerData as SqliteLedgerOptions);
const port = parentPort!;

port.on('message', (req: LedgerRequest) => {
  let res: LedgerResponse;
  try {
    let value: number | undefined;
    if (req.op === 'open') store.openSync();
    else if (req.op === 'write') store.writeSync(req.run, req.records, req.at);
    else if (req.op === 'prune') value = store.pruneSync(req.beforeMs, req.maxRows);
    else if (req.op === 'max-pages') store.setMaxPageCount(req.pages);
    else store.closeSync();
    res = value === undefined ? { id: req.id, ok: true } : { id: req.id, ok: true, value };
  } catch (err) {
    res = { id: req.id, ok: false, error: ledgerErrorData(err) };
  }
  port.postMessage(res);
});
