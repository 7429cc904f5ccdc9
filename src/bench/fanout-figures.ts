import { median, percentile, round } from './stats.js';

/**
 * What one fan-out run measured, whichever client measured it (our own, src/bench/fanout-client.ts, or the
 * shared yardstick fanout-bench.js), and how our client's raw readings become those figures. Pure: no I/O.
 */

export interface JobFigures {
  /** 1, 2, ... for measured jobs; 0, -1, ... for warm-up jobs. */
  job: number;
  delivered: number;
  /** Devices held that never got this job. */
  missed: number;
  p50ms: number | null;
  p99ms: number | null;
  maxms: number | null;
  /** How long the load generator's own event loop was busy while the job was delivered (near maxms: it is the limit). */
  loadBusyMs: number | null;
}

export interface FanoutMeasurement {
  /** Devices that were served a job and stayed connected. */
  connected: number;
  complete: boolean;
  error: string | null;
  rssBeforeKiB: number | null;
  rssAfterKiB: number | null;
  rssEndKiB: number | null;
  /** (rss with the devices connected - rss before) / devices. */
  kibPerDevice: number | null;
  /** (rss after the jobs flowed - rss before) / devices. */
  kibPerDeviceAfterJobs: number | null;
  /** Nearest-rank percentiles over every delivery of every measured job, ms from the pool's write. */
  p50ms: number | null;
  p99ms: number | null;
  maxms: number | null;
  minms: number | null;
  /** Median over measured jobs of each job's p99, and of each job's last delivery. */
  medianJobP99ms: number | null;
  medianJobMaxms: number | null;
  /** (job, device) pairs of measured jobs never delivered. */
  missed: number;
  /** Median over measured jobs of the load generator's busy time while the job was delivered. */
  benchBusyMsMedian: number | null;
  cpu: { proxySecConnect: number | null; proxySecFanout: number | null; benchSecFanout: number | null };
  /** The proxy's soft open-files limit, read from /proc. */
  proxyFileLimit: number | null;
  /** From the first connection to the last device holding a job (s); null when not measured (the yardstick's runs). */
  connectSeconds: number | null;
  /** The proxy's processes measured (its primary and workers; 1 in one-process mode); null when not counted. */
  proxyProcesses: number | null;
  perJob: JobFigures[];
}

/** One job as our client saw it: latencies (ms) of the devices that got it, and the busy time meanwhile. */
export interface JobReading {
  latencies: Float64Array;
  loadBusyMs: number | null;
}

export interface FanoutReadings {
  /** Devices requested. */
  devices: number;
  /** Devices held at the end. */
  connected: number;
  warmupJobs: number;
  /** Warm-up jobs first, then the measured ones. */
  jobs: JobReading[];
  rssBeforeKiB: number | null;
  rssAfterKiB: number | null;
  rssEndKiB: number | null;
  cpu: FanoutMeasurement['cpu'];
  proxyFileLimit: number | null;
  connectSeconds: number | null;
  proxyProcesses: number | null;
  /** Why the run stopped early, if it did. */
  error: string | null;
}

const ms = (x: number | null) => round(x, 2);

function perDevice(rss: number | null, before: number | null, connected: number): number | null {
  return rss !== null && before !== null && connected > 0 ? round((rss - before) / connected) : null;
}

export function fanoutFigures(r: FanoutReadings): FanoutMeasurement {
  const perJob: JobFigures[] = r.jobs.map((j, k) => {
    const sorted = Float64Array.from(j.latencies).sort();
    return {
      job: k - r.warmupJobs + 1,
      delivered: sorted.length,
      missed: Math.max(0, r.connected - sorted.length),
      p50ms: ms(percentile(sorted, 0.5)),
      p99ms: ms(percentile(sorted, 0.99)),
      maxms: ms(sorted.length ? sorted[sorted.length - 1]! : null),
      loadBusyMs: ms(j.loadBusyMs),
    };
  });
  const measured = r.jobs.slice(r.warmupJobs);
  const measuredFigures = perJob.slice(r.warmupJobs);
  const all = new Float64Array(measured.reduce((n, j) => n + j.latencies.length, 0));
  let at = 0;
  for (const j of measured) {
    all.set(j.latencies, at);
    at += j.latencies.length;
  }
  all.sort();
  const missed = measuredFigures.reduce((n, j) => n + j.missed, 0);
  const complete = r.error === null && r.connected === r.devices && measured.length > 0 && missed === 0;
  return {
    connected: r.connected,
    complete,
    error: r.error,
    rssBeforeKiB: r.rssBeforeKiB,
    rssAfterKiB: r.rssAfterKiB,
    rssEndKiB: r.rssEndKiB,
    kibPerDevice: perDevice(r.rssAfterKiB, r.rssBeforeKiB, r.connected),
    kibPerDeviceAfterJobs: perDevice(r.rssEndKiB, r.rssBeforeKiB, r.connected),
    p50ms: ms(percentile(all, 0.5)),
    p99ms: ms(percentile(all, 0.99)),
    maxms: ms(all.length ? all[all.length - 1]! : null),
    minms: ms(all.length ? all[0]! : null),
    medianJobP99ms: ms(median(measuredFigures.map((j) => j.p99ms))),
    medianJobMaxms: ms(median(measuredFigures.map((j) => j.maxms))),
    missed,
    benchBusyMsMedian: ms(median(measuredFigures.map((j) => j.loadBusyMs))),
    cpu: { proxySecConnect: round(r.cpu.proxySecConnect, 3), proxySecFanout: round(r.cpu.proxySecFanout, 3), benchSecFanout: round(r.cpu.benchSecFanout, 3) },
    proxyFileLimit: r.proxyFileLimit,
    connectSeconds: round(r.connectSeconds, 1),
    proxyProcesses: r.proxyProcesses,
    perJob,
  };
}
