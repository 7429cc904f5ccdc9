import t from 'tap';
import { workerLogger } from '../../src/cluster/worker.js';

/**
 * A worker process's log lines name the process (`proxyWorker`) and, when the line is about a device, the
 * device (`worker`): neither overwrites the other. The block-candidate line as the proxy core logs it (through
 * its component's child logger, as src/app-core.ts wires it), in both log formats.
 */
t.test("a worker process's line naming a device keeps both: proxyWorker (the process) and worker (the device)", async (t) => {
  const lines: string[] = [];
  const log = workerLogger(3, { level: 'info', format: 'json', write: (l) => lines.push(l) }).child({ component: 'proxy' });
  log.warn('*** BLOCK CANDIDATE ***', { worker: 'sim.13', hash: '00ab', shareDifficulty: 2, networkDifficulty: 1, pool: 'main' });
  log.info('proxy worker listening', { pid: 4242 });
  const [block, plain] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.match(block, { level: 'warn', msg: '*** BLOCK CANDIDATE ***', proxyWorker: 3, worker: 'sim.13', component: 'proxy', hash: '00ab' }, 'the process and the device, each in its own field');
  t.match(plain, { msg: 'proxy worker listening', proxyWorker: 3, pid: 4242 });
  t.notOk('worker' in plain!, 'a line about no device has no worker field');

  const pretty: string[] = [];
  workerLogger(0, { format: 'pretty', write: (l) => pretty.push(l) }).warn('*** BLOCK CANDIDATE ***', { worker: 'sim.13', pool: 'main' });
  t.match(pretty[0], / WARN  \*\*\* BLOCK CANDIDATE \*\*\* proxyWorker=0 worker=sim\.13 pool=main$/, 'the pretty line shows both');
});
