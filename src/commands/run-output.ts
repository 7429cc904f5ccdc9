import { stopSignal, untilAborted } from '../sim/stop-signal.js';

/** Where a command that runs until stopped writes its lines (tests pass their own). */
export interface RunOutput {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** The process's stdout and stderr, a line each. */
export const processOutput: RunOutput = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};

/**
 * Runs `run` with a signal that fires on SIGINT or SIGTERM (or after `durationMs` when > 0) and the
 * process's output; the signal handlers are removed when it ends. Resolves with its exit code.
 */
export async function runUntilStopped(run: (signal: AbortSignal, io: RunOutput) => Promise<number>, durationMs = 0): Promise<number> {
  const stop = stopSignal(durationMs);
  try {
    return await run(stop.signal, processOutput);
  } finally {
    stop.dispose();
  }
}

/** Call `report` every `everyMs` (0: never) until `signal` fires, then once more (the final stats). */
export async function reportUntilAborted(signal: AbortSignal, everyMs: number, report: () => void): Promise<void> {
  const timer = everyMs > 0 ? setInterval(report, everyMs) : undefined;
  await untilAborted(signal);
  if (timer) clearInterval(timer);
  report();
}
