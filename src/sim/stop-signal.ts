/**
 * An AbortSignal that fires on SIGINT or SIGTERM (or after `durationMs` when > 0), for commands that run
 * until stopped. `dispose()` removes the handlers.
 */
export function stopSignal(durationMs = 0): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => controller.abort(name);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const timer = durationMs > 0 ? setTimeout(() => controller.abort('duration'), durationMs) : undefined;
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (timer) clearTimeout(timer);
    },
  };
}

/** Resolve when the signal fires. */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
