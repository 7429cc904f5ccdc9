import t from 'tap';
import { fanoutFigures, type FanoutReadings } from '../../src/bench/fanout-figures.js';

/** How the own client's raw readings become the fan-out figures (pure: latencies in, figures out). */

const readings = (over: Partial<FanoutReadings> = {}): FanoutReadings => ({
  devices: 4,
  connected: 4,
  warmupJobs: 1,
  jobs: [
    { latencies: Float64Array.from([90, 91, 92, 93]), loadBusyMs: 50 },
    { latencies: Float64Array.from([4, 1, 3, 2]), loadBusyMs: 2 },
    { latencies: Float64Array.from([8, 5, 7, 6]), loadBusyMs: 4 },
  ],
  rssBeforeKiB: 50_000,
  rssAfterKiB: 50_040,
  rssEndKiB: 50_100,
  cpu: { proxySecConnect: 0.12345, proxySecFanout: 0.5, benchSecFanout: null },
  proxyFileLimit: 1024,
  connectSeconds: 1.234,
  proxyProcesses: 3,
  error: null,
  ...over,
});

t.test('percentiles over every delivery of the measured jobs; the warm-up job apart', async (t) => {
  const f = fanoutFigures(readings());
  // Measured deliveries: 1..8. Nearest rank: p50 = the 4th, p99 = the 8th.
  t.same([f.p50ms, f.p99ms, f.maxms, f.minms], [4, 8, 8, 1]);
  t.same(f.perJob.map((j) => j.job), [0, 1, 2], 'warm-up job 0, then jobs 1 and 2');
  t.same(f.perJob[0], { job: 0, delivered: 4, missed: 0, p50ms: 91, p99ms: 93, maxms: 93, loadBusyMs: 50 }, 'the warm-up job is reported, not counted');
  t.same([f.perJob[1]!.p50ms, f.perJob[1]!.p99ms, f.perJob[2]!.p50ms, f.perJob[2]!.p99ms], [2, 4, 6, 8]);
  t.equal(f.medianJobP99ms, 6, 'median over jobs of each p99: (4 + 8) / 2');
  t.equal(f.medianJobMaxms, 6);
  t.equal(f.benchBusyMsMedian, 3, 'median busy time of the measured jobs');
  t.equal(f.complete, true);
  t.equal(f.missed, 0);
});

t.test('memory per device: the growth over the devices held', async (t) => {
  const f = fanoutFigures(readings());
  t.equal(f.kibPerDevice, 10, '(50,040 - 50,000) / 4');
  t.equal(f.kibPerDeviceAfterJobs, 25, '(50,100 - 50,000) / 4');
  t.same(f.cpu, { proxySecConnect: 0.123, proxySecFanout: 0.5, benchSecFanout: null }, 'CPU seconds to the millisecond');
  const none = fanoutFigures(readings({ rssBeforeKiB: null }));
  t.equal(none.kibPerDevice, null, 'no reading before: no figure');
});

t.test('a missed delivery, a device not held or an error makes the run incomplete', async (t) => {
  const missed = fanoutFigures(readings({ jobs: [readings().jobs[0]!, { latencies: Float64Array.from([1, 2, 3]), loadBusyMs: 1 }, readings().jobs[2]!] }));
  t.equal(missed.missed, 1, 'one device never got job 1');
  t.equal(missed.perJob[1]!.missed, 1);
  t.equal(missed.complete, false);
  const short = fanoutFigures(readings({ devices: 5 }));
  t.equal(short.complete, false, '4 of 5 devices held');
  const failed = fanoutFigures(readings({ error: 'the proxy exited (1)' }));
  t.equal(failed.complete, false);
  t.equal(failed.error, 'the proxy exited (1)');
  const nothing = fanoutFigures(readings({ connected: 0, jobs: [], rssAfterKiB: null, rssEndKiB: null }));
  t.same([nothing.p50ms, nothing.p99ms, nothing.medianJobP99ms, nothing.complete], [null, null, null, false], 'no job measured: no figures, not complete');
});
