/** Bounded waiting for tests: a plain delay, and a poll that gives up after a limit, naming what it waited for. */

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** How often `until` looks at its condition. */
const POLL_MS = 10;

/**
 * Poll `cond` every 10 ms until it holds; throws after `timeoutMs`, naming `what` (a function is called at
 * that moment, so the message can say what was seen by then).
 */
export async function until(cond: () => boolean, what: string | (() => string), timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${typeof what === 'string' ? what : what()}`);
    await sleep(POLL_MS);
  }
}
