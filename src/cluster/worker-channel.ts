/**
 * A worker's side of its IPC channel to the primary (`start --workers N`): sends that never throw and never
 * crash the worker, and a last send that is awaited (bounded) before the worker exits.
 *
 * - node emits 'error' on `process` when a send without a callback fails (the channel closed: the primary
 *   died or is closing it); with no listener that is an uncaught exception. prom-client answers the
 *   primary's metrics requests with `process.send(message)` itself, so the listener is installed here for
 *   every send of the process (`guardChannel`), and the worker then stops gracefully on 'disconnect' as it
 *   should.
 * - `process.send` only queues a message when the pipe is full; `process.exit` drops what is queued. A
 *   worker's last event batches would be lost that way: `sendAndWait` resolves once node has written the
 *   message (its callback; messages are written in order, so every earlier one is written too), or after
 *   `boundMs` (a primary that does not read), or at once without a channel.
 */

/** How long a stopping worker waits for its last message to be written before it exits anyway. */
export const LAST_SEND_BOUND_MS = 5000;

/** The part of `process` this module uses (a forked process's own). */
export type ChannelProcess = Pick<NodeJS.Process, 'connected' | 'send' | 'on'>;

/** Install the listener for failed sends on `proc` (once per process): `onError` hears each (e.g. logs it at debug). */
export function guardChannel(proc: ChannelProcess, onError: (err: Error) => void): void {
  proc.on('error', onError);
}

/** Send `message` to the primary if the channel is open; false when it is not (never throws). */
export function sendToPrimary(proc: ChannelProcess, message: unknown): boolean {
  if (!proc.connected || !proc.send) return false;
  try {
    return proc.send(message);
  } catch {
    return false;
  }
}

/**
 * Send `message` and resolve once it is written (true), or the channel failed or is closed (false), or
 * `boundMs` passed (false). Never rejects.
 */
export function sendAndWait(proc: ChannelProcess, message: unknown, boundMs = LAST_SEND_BOUND_MS): Promise<boolean> {
  if (!proc.connected || !proc.send) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), boundMs);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      resolve(ok);
    };
    try {
      proc.send!(message, undefined, undefined, (err) => done(err === null || err === undefined));
    } catch {
      done(false);
    }
  });
}
