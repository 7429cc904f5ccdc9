import { parentPort, workerData } from 'node:worker_threads';
import type { ReaderRequest, ReaderResponse } from './ledger-reader-thread.js';
import { SqliteLedgerReader } from './ledger-sqlite-reader.js';
import { ledgerErrorData } from './worker-thread.js';

/** The worker side of ThreadedLedgerReader: the SQLite reader, one call at a time, in order. */
const reader = new SqliteLedgerReader((workerData as { path: string }).path);
const port = parentPort!;

let queue: Promise<void> = Promise.resolve();
port.on('message', (req: ReaderRequest) => {
  queue = queue.then(async () => {
    let res: ReaderResponse;
    try {
      const method = reader[req.op] as (...args: unknown[]) => Promise<unknown>;
      res = { id: req.id, ok: true, value: await method.apply(reader, req.args) };
    } catch (err) {
      res = { id: req.id, ok: false, error: ledgerErrorData(err) };
    }
    port.postMessage(res);
  });
});
