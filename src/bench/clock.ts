import { performance } from 'node:perf_hooks';

/**
 * One clock for the benchmark's processes. `performance.now()` counts from each process's own start, so two
 * processes' readings cannot be compared; `process.hrtime` is CLOCK_MONOTONIC, the same in every process on
 * the host. Both come from libuv's hrtime, so within a process they differ by a constant: a process reads it
 * once and turns its `performance.now()` readings into host-wide ones by adding it.
 */

/** CLOCK_MONOTONIC in milliseconds: comparable across the processes of this host. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** monotonicMs() - performance.now() in this process, from the tightest of a few bracketed readings. */
export function performanceToMonotonicMs(): number {
  let width = Infinity;
  let offset = 0;
  for (let i = 0; i < 5; i++) {
    const before = performance.now();
    const m = monotonicMs();
    const after = performance.now();
    if (after - before < width) {
      width = after - before;
      offset = m - (before + after) / 2;
    }
  }
  return offset;
}
