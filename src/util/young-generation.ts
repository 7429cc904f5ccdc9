import { setFlagsFromString } from 'node:v8';

/**
 * The proxy keeps V8's young generation at its starting size. V8 doubles the new space (its two semi-spaces)
 * whenever much of it survives a scavenge, up to 16 MiB per semi-space on 64-bit Node 20, and gives the pages
 * back only on memory-reducing collections. A proxy taking thousands of devices at once (a farm coming back after
 * a power cut) survives many scavenges, so the new space grew from 1 MiB to 16 MiB per semi-space and stayed: up
 * to 32 MiB resident that holds nothing live, 3.3 KiB per device at 5,000 devices. With the growth factor at 1 the
 * new space stays at 1 MiB per semi-space, and the proxy's resident memory per device fell by about half at 5,000
 * and 10,000 devices (README, "Memory per device"); a scavenge runs more often (about two per job fanned out to
 * 10,000 devices, under a millisecond each), and fan-out latency and shares per CPU second did not move beyond
 * the shared machine's noise.
 *
 * `--semi-space-growth-factor` is read by V8 each time it would grow the new space, so it works when set at run
 * time; `--max-semi-space-size` would not (it is read once, when the heap is set up), and V8 resets a growth factor
 * below 2 given on the command line. It also resets it, for the whole process, while a worker thread starts (the
 * books' threads, or any library's; shortly after the thread's 'online' event, so hooking thread starts would
 * race it): the flag is therefore set again every second, an unref'd timer costing a microsecond.
 *
 * An operator who sizes the young generation themselves (`--max-semi-space-size` or `--semi-space-growth-factor`
 * on node's command line or in NODE_OPTIONS) is left alone.
 */

/** The V8 flag that keeps the new space from growing. */
export const YOUNG_GENERATION_FLAG = '--semi-space-growth-factor=1';

/** Node flags by which an operator sizes the young generation themselves (V8 reads `-` and `_` alike; NODE_OPTIONS may quote them). */
const OPERATOR_FLAGS = /(^|[\s"'])--((max|min)[-_]semi[-_]space[-_]size|semi[-_]space[-_]growth[-_]factor)(=|[\s"']|$)/;

/** Whether the proxy should hold the young generation at its size: not when the operator sized it on node's command line or in NODE_OPTIONS. */
export function shouldKeepYoungGenerationSmall(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return ![...execArgv, nodeOptions ?? ''].some((arg) => OPERATOR_FLAGS.test(arg));
}

/** How often the flag is set again (a worker thread starting resets it). */
export const REASSERT_MS = 1000;

let reassert: NodeJS.Timeout | null = null;

/**
 * Hold the new space at its present size from now on (unless the operator sized it: see above), for the life of
 * the process. Call it early, before the proxy allocates much. Returns whether the flag is in force.
 */
export function keepYoungGenerationSmall(execArgv: readonly string[] = process.execArgv, nodeOptions: string | undefined = process.env.NODE_OPTIONS): boolean {
  if (!shouldKeepYoungGenerationSmall(execArgv, nodeOptions)) return false;
  setFlagsFromString(YOUNG_GENERATION_FLAG);
  if (reassert === null) {
    reassert = setInterval(() => setFlagsFromString(YOUNG_GENERATION_FLAG), REASSERT_MS);
    reassert.unref();
  }
  return true;
}
