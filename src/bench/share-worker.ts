import { ShareLoad, type StepOptions } from './share-load.js';
import { BenchPool } from './bench-pool.js';
import { ShareTimeline } from './share-timeline.js';

/**
 * The child process of the share benchmark: the scripted pool and the load generator in one process, so
 * that "sent by the device" and "received by the pool" are read on one clock, while the proxy runs in a
 * process of its own. Driven by its parent over the IPC channel: one request, one answer.
 *
 *   {cmd: 'pool', difficulty, txCount}       -> {port, merkleBranch, coinbaseBytes}
 *   {cmd: 'connect', port, devices, timeoutMs} -> {}
 *   {cmd: 'step', step: StepOptions}          -> {result: StepResult}
 *   {cmd: 'close'}                            -> {} and exit
 */

export type WorkerRequest =
  | { id: number; cmd: 'pool'; difficulty: number; txCount: number }
  | { id: number; cmd: 'connect'; port: number; devices: number; timeoutMs: number }
  | { id: number; cmd: 'step'; step: StepOptions }
  | { id: number; cmd: 'close' };

export interface WorkerAnswer {
  id: number;
  ok: boolean;
  error?: string;
  value?: unknown;
}

const timeline = new ShareTimeline();
let pool: BenchPool | null = null;
let load: ShareLoad | null = null;

async function handle(req: WorkerRequest): Promise<unknown> {
  switch (req.cmd) {
    case 'pool':
      pool = new BenchPool({ difficulty: req.difficulty, txCount: req.txCount, timeline });
      return { port: await pool.listen(), merkleBranch: pool.merkleBranchLength, coinbaseBytes: pool.coinbaseBytes };
    case 'connect':
      load = new ShareLoad({ port: req.port, devices: req.devices, timeline });
      await load.connect(req.timeoutMs);
      return {};
    case 'step': {
      if (!load) throw new Error('step before connect');
      const result = await load.step(req.step);
      const failures = load.failures();
      if (failures.length > 0) throw new Error(`the proxy dropped ${failures.length} device(s): ${failures.slice(0, 3).join('; ')}`);
      return { result, poolSubmits: pool?.submits ?? null };
    }
    case 'close':
      load?.close();
      await pool?.close();
      return {};
  }
}

if (!process.send) {
  process.stderr.write('share-worker: run by the benchmark (src/bench/share-phase.ts) over IPC, not by hand\n');
  process.exit(2);
}

process.on('message', (req: WorkerRequest) => {
  handle(req).then(
    (value) => {
      process.send!({ id: req.id, ok: true, value } satisfies WorkerAnswer);
      if (req.cmd === 'close') process.disconnect();
    },
    (err: unknown) => process.send!({ id: req.id, ok: false, error: (err as Error).message } satisfies WorkerAnswer),
  );
});
process.on('disconnect', () => {
  load?.close();
  void pool?.close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
});
