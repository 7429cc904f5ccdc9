import { performanceToMonotonicMs } from './clock.js';
import { FanoutFleet, type ConnectReport, type FleetOptions } from './fanout-fleet.js';

/**
 * One part of a fan-out fleet spread over child processes (fleet-processes.ts starts them, each under the
 * open-files limit, each from its own source address): a FanoutFleet driven by its parent over the IPC
 * channel (advanced serialization: latencies travel as Float64Array). Its arrival times are its own
 * performance.now(); the job's write time comes from the parent on the host-wide clock (clock.ts) and is
 * turned into this process's clock before subtracting.
 *
 *   {cmd: 'connect', timeoutMs}                -> ConnectReport
 *   {cmd: 'expect', k, prevhash}               -> {}              (before the pool writes job k)
 *   {cmd: 'latencies', k, writtenAtMonotonic}  -> Float64Array    (ms, one per device that got job k)
 *   {cmd: 'close'}                             -> {} and exit
 * and unsolicited {state: {ready, delivered: number[]}}: every STATE_EVERY_MS, and at once when this part
 * holds every device's copy of the newest expected job.
 */

export type FleetChildRequest =
  | { id: number; cmd: 'connect'; timeoutMs: number }
  | { id: number; cmd: 'expect'; k: number; prevhash: string }
  | { id: number; cmd: 'latencies'; k: number; writtenAtMonotonic: number }
  | { id: number; cmd: 'close' };

export type FleetChildMessage =
  | { id: number; ok: true; value: ConnectReport | Float64Array | Record<string, never> }
  | { id: number; ok: false; error: string }
  | { state: FleetChildState };

export interface FleetChildState {
  ready: number;
  /** Deliveries so far of each job expected (index = job number). */
  delivered: number[];
}

const STATE_EVERY_MS = 250;
/** While the newest job is not at every device: how often this part looks. */
const COMPLETE_POLL_MS = 2;

function main(): void {
  const options = JSON.parse(process.argv[2] ?? 'null') as FleetOptions | null;
  if (!options || !process.send) {
    process.stderr.write('fleet-child: started by the benchmark (src/bench/fleet-processes.ts) over IPC with its FleetOptions as one JSON argument\n');
    process.exit(2);
  }
  const fleet = new FanoutFleet(options);
  const offset = performanceToMonotonicMs();
  let expected = -1;
  let reportedComplete = -1;
  // After the parent closed the channel (its teardown), a timer's state report has nowhere to go: dropped,
  // never an uncaught ERR_IPC_CHANNEL_CLOSED (a send with a callback reports its error there, not as 'error').
  const send = (m: FleetChildMessage) => {
    if (process.connected) process.send!(m, undefined, undefined, () => {});
  };
  const state = (): FleetChildState => ({ ready: fleet.ready, delivered: Array.from({ length: expected + 1 }, (_, k) => fleet.delivered(k)) });
  setInterval(() => send({ state: state() }), STATE_EVERY_MS).unref();
  setInterval(() => {
    if (expected > reportedComplete && fleet.allHave(expected)) {
      reportedComplete = expected;
      send({ state: state() });
    }
  }, COMPLETE_POLL_MS).unref();

  process.on('message', (req: FleetChildRequest) => {
    const answer = (value: ConnectReport | Float64Array | Record<string, never>) => send({ id: req.id, ok: true, value });
    switch (req.cmd) {
      case 'connect':
        fleet.connect(req.timeoutMs).then(answer, (err: unknown) => send({ id: req.id, ok: false, error: (err as Error).message }));
        return;
      case 'expect':
        fleet.expect(req.k, req.prevhash);
        expected = Math.max(expected, req.k);
        return answer({});
      case 'latencies':
        return answer(fleet.latencies(req.k, req.writtenAtMonotonic - offset));
      case 'close':
        fleet.close();
        answer({});
        process.disconnect();
        return;
    }
  });
  process.on('disconnect', () => {
    fleet.close();
    setTimeout(() => process.exit(0), 200).unref();
  });
}

if (process.argv[1] && /[\\/]bench[\\/]fleet-child\.(js|ts)$/.test(process.argv[1])) main();
