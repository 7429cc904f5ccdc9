import { round } from './stats.js';

/**
 * What the soak concludes from its readings (pure: no processes, no sockets): whether the proxy's resident
 * memory stayed flat over the judged window, whether a worker restarted, and whether every share the proxy
 * forwarded was answered by the pool.
 */

/** One reading of the proxy's processes: seconds since the soak began, resident KiB by process. */
export interface RssSample {
  at: number;
  /** By process label (`primary`, `worker 0`, ... or the PID when the API did not name it). */
  kib: Record<string, number>;
}

export interface Flatness {
  /** The judged window: [from, to] in seconds since the soak began, and the samples in it. */
  window: [number, number];
  samples: number;
  /** Mean of the window's first and last tenth (at least one sample each), KiB. */
  startKiB: number;
  endKiB: number;
  /** (end - start) / start. */
  drift: number;
  /** Least-squares slope over the window, as a fraction of the window's mean per hour. */
  slopePerHour: number;
  minKiB: number;
  maxKiB: number;
  flat: boolean;
}

/** The soak's goal: resident memory over the last hour flat within this fraction. */
export const RSS_FLAT_WITHIN = 0.05;
/** The window judged: the last hour, or the second half of a shorter soak. */
export const JUDGED_WINDOW_SECONDS = 3600;

export function judgedWindow(durationSeconds: number): [number, number] {
  return [Math.max(0, durationSeconds - Math.min(JUDGED_WINDOW_SECONDS, durationSeconds / 2)), durationSeconds];
}

/** Flatness of `series` (at, KiB) over [from, to]; null when fewer than 2 samples fall in it. */
export function flatness(series: readonly { at: number; kib: number }[], window: [number, number]): Flatness | null {
  const xs = series.filter((s) => s.at >= window[0] && s.at <= window[1]);
  if (xs.length < 2) return null;
  const tenth = Math.max(1, Math.floor(xs.length / 10));
  const mean = (a: readonly { kib: number }[]) => a.reduce((n, s) => n + s.kib, 0) / a.length;
  const startKiB = mean(xs.slice(0, tenth));
  const endKiB = mean(xs.slice(-tenth));
  const m = mean(xs);
  const mt = xs.reduce((n, s) => n + s.at, 0) / xs.length;
  const cov = xs.reduce((n, s) => n + (s.at - mt) * (s.kib - m), 0);
  const vt = xs.reduce((n, s) => n + (s.at - mt) ** 2, 0);
  const slope = vt > 0 ? cov / vt : 0;
  const drift = (endKiB - startKiB) / startKiB;
  return {
    window,
    samples: xs.length,
    startKiB: Math.round(startKiB),
    endKiB: Math.round(endKiB),
    drift: round(drift, 4)!,
    slopePerHour: round((slope * 3600) / m, 4)!,
    minKiB: Math.min(...xs.map((s) => s.kib)),
    maxKiB: Math.max(...xs.map((s) => s.kib)),
    flat: Math.abs(drift) <= RSS_FLAT_WITHIN,
  };
}

/** The total over every process, and each process on its own, over the judged window. */
export function rssFlatness(samples: readonly RssSample[], window: [number, number]): { total: Flatness | null; byProcess: Record<string, Flatness | null> } {
  const labels = [...new Set(samples.flatMap((s) => Object.keys(s.kib)))];
  const total = flatness(samples.map((s) => ({ at: s.at, kib: Object.values(s.kib).reduce((a, b) => a + b, 0) })), window);
  const byProcess: Record<string, Flatness | null> = {};
  for (const label of labels) byProcess[label] = flatness(samples.filter((s) => label in s.kib).map((s) => ({ at: s.at, kib: s.kib[label]! })), window);
  return { total, byProcess };
}

/** The proxy's processes as seen at one moment: worker index -> pid and restarts. */
export interface WorkerReading {
  worker: number;
  pid: number | null;
  restarts: number;
}

/** Restarts between the first and the last reading: a changed PID or a grown restart count, per worker. */
export function restartsSeen(first: readonly WorkerReading[], last: readonly WorkerReading[]): { worker: number; pids: [number | null, number | null]; restarts: number }[] {
  return last
    .map((w) => {
      const before = first.find((x) => x.worker === w.worker);
      return { worker: w.worker, pids: [before?.pid ?? null, w.pid] as [number | null, number | null], restarts: w.restarts - (before?.restarts ?? 0) };
    })
    .filter((x) => x.restarts > 0 || x.pids[0] !== x.pids[1]);
}

/** The pool's counts against the proxy's (/api/summary) once every device left and nothing is in flight. */
export interface ShareAccount {
  poolReceived: number;
  poolAccepted: number;
  poolRejected: number;
  proxyForwarded: number;
  proxyPoolAccepted: number;
  proxyPoolRejected: number;
  proxyPoolUnanswered: number;
  proxyInFlight: number;
}

/** Every forwarded share answered: the pool got each one, the proxy holds the pool's verdict for each. */
export function everyShareAnswered(a: ShareAccount): { ok: boolean; problems: string[] } {
  const problems: string[] = [];
  if (a.proxyForwarded !== a.poolReceived) problems.push(`the proxy forwarded ${a.proxyForwarded} shares, the pool received ${a.poolReceived}`);
  if (a.proxyPoolAccepted !== a.poolAccepted) problems.push(`the proxy counts ${a.proxyPoolAccepted} accepted by the pool, the pool ${a.poolAccepted}`);
  if (a.proxyPoolRejected !== a.poolRejected) problems.push(`the proxy counts ${a.proxyPoolRejected} rejected by the pool, the pool ${a.poolRejected}`);
  if (a.proxyPoolUnanswered !== 0) problems.push(`${a.proxyPoolUnanswered} forwarded shares got no answer`);
  if (a.proxyInFlight !== 0) problems.push(`${a.proxyInFlight} still waiting for the pool at the end`);
  return { ok: problems.length === 0, problems };
}
