import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { chromiumPath } from '../../src/bench/chart.js';
import { planFromArgs, runBench, type BenchReport } from '../../src/bench/run.js';
import type { Figure } from '../../src/bench/summary.js';

/**
 * The whole benchmark at a tiny size, through the real pieces: our own fan-out client against the proxy
 * (started by `start --config`), and, where the shared yardstick is found beside the repository, the
 * yardstick against the same proxy and against its relay floor; the share pool + load generator child with
 * the proxy in between, raw X11, the JSON, the table and the chart. Only the presence and consistency of
 * the figures is checked, never their speed (that is what the benchmark itself reports).
 */

const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

t.test('bench at 50 devices: every figure present and consistent', { timeout: 150_000 }, async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'bench-smoke-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const plan = {
    ...planFromArgs(['--sizes', '50', '--repeat', '1', '--jobs', '2', '--interval', '300ms', '--connect-rate', '500', '--share-rate', '300,max', '--seconds', '1', '--share-devices', '20', '--no-books', '--out', out]),
    settleMs: 300,
    x11Ms: 300,
    shareWarmupSeconds: 0.2,
  };
  t.ok(plan.fileLimit.used >= plan.fileLimit.soft, 'children run with at least the soft open-files limit');
  t.ok(plan.maxDevices >= 100, 'the largest size is derived from the hard limit');

  const lines: string[] = [];
  const report = await runBench(plan, (l) => lines.push(l));
  t.ok(lines.some((l) => /ulimit -n \d+/.test(l)), 'says which open-files limit the children got');

  // The JSON on disk is the report.
  const onDisk = JSON.parse(readFileSync(report.files.json, 'utf8')) as BenchReport;
  t.same(onDisk.goals, report.goals, 'the JSON file holds the report');
  const text = readFileSync(report.files.text, 'utf8');
  t.match(text, /\| devices \|/, 'the fan-out table is written');
  t.match(text, /\| offered\/s \|/, 'the share table is written');

  // Fan-out and memory: one size; our own client, and the yardstick's proxy and floor runs where it is found.
  const crossChecked = plan.crossCheck !== null;
  t.same(
    report.fanout.runs.map((r) => `${r.client} ${r.target}`),
    crossChecked ? ['own proxy', 'yardstick proxy', 'yardstick floor'] : ['own proxy'],
    crossChecked ? 'own client, then the yardstick on the proxy and on its floor' : 'no yardstick here: the own client alone',
  );
  for (const r of report.fanout.runs) {
    const name = `${r.client} ${r.target}`;
    t.equal(r.connected, 50, `${name}: all 50 devices held`);
    t.equal(r.complete, true, `${name}: complete run (${r.error ?? 'no error'})`);
    t.equal(r.missed, 0, `${name}: no delivery missed`);
    t.ok(finite(r.p50ms) && finite(r.p99ms) && finite(r.maxms) && r.p50ms > 0 && r.p50ms <= r.p99ms && r.p99ms <= r.maxms, `${name}: 0 < p50 <= p99 <= max (${r.p50ms}, ${r.p99ms}, ${r.maxms})`);
    t.ok(finite(r.kibPerDevice) && finite(r.kibPerDeviceAfterJobs), `${name}: memory per device measured (${r.kibPerDevice}, ${r.kibPerDeviceAfterJobs} KiB)`);
    t.ok(finite(r.rssAfterKiB) && r.rssAfterKiB > 10_000, `${name}: resident memory read from /proc (${r.rssAfterKiB} KiB)`);
    t.same(r.perJob.filter((j) => j.job > 0).map((j) => [j.job, j.delivered, j.missed]), [[1, 50, 0], [2, 50, 0]], `${name}: both measured jobs reached all 50 devices`);
  }
  const size = report.fanout.sizes[0]!;
  t.equal(size.devices, 50);
  t.equal(size.own.connected.median, 50, 'summary: devices held');
  const own = report.fanout.runs.find((r) => r.client === 'own')!;
  t.equal(size.own.p99ms.median, own.p99ms, 'one repeat: the summary is that run');
  t.match(text, /Each job \(own client\)/, 'the per-job table is written');
  if (crossChecked) {
    const proxyP99 = report.fanout.runs.find((r) => r.client === 'yardstick' && r.target === 'proxy')!.p99ms!;
    const floorP99 = report.fanout.runs.find((r) => r.target === 'floor')!.p99ms!;
    t.equal(size.p99ToFloor.median, Math.round((proxyP99 / floorP99) * 100) / 100, 'ratio to the floor is the yardstick proxy p99 / floor p99 of the same repeat');
    t.equal(size.ownToYardstickP99.median, Math.round((own.p99ms! / proxyP99) * 100) / 100, 'own p99 / yardstick p99 of the same repeat');
    t.match(text, /fanout-bench\.js p50 ms/, 'the cross-check columns are in the table');
  } else {
    t.equal(size.yardstick, null);
    t.equal(size.floor, null);
    t.match(text, /no cross-check/, 'the text says there was no cross-check');
  }

  // Shares: two steps, every share validated and forwarded, latencies ordered.
  t.same(report.shares.errors, [], 'no share run failed');
  const phase = report.shares.runs[0]!;
  t.ok(phase.rawX11.hashesPerSecond > 0 && phase.rawX11.hashesPerCpuSecond > 0, 'raw X11 measured in the same run');
  t.equal(phase.merkleBranch, 7, '127 transactions: merkle branch of 7');
  t.equal(phase.steps.length, 2);
  t.same(phase.steps.map((s) => s.offeredPerSecond), [300, null], 'the offered rates in order, max last');
  for (const s of phase.steps) {
    const name = `step ${s.offeredPerSecond ?? 'max'}`;
    t.equal(s.rejected, 0, `${name}: no share refused (${JSON.stringify(s.rejectReasons)})`);
    t.equal(s.unanswered, 0, `${name}: every share answered`);
    t.equal(s.notForwarded, 0, `${name}: every accepted share reached the pool`);
    t.ok(s.validatedPerSecond > 0 && s.forwardedPerSecond > 0, `${name}: shares validated (${s.validatedPerSecond}/s) and forwarded (${s.forwardedPerSecond}/s)`);
    const f = s.forwardMs;
    t.ok(f.count > 0 && finite(f.p50) && finite(f.p99) && finite(f.max) && f.p50 > 0 && f.p50 <= f.p99 && f.p99 <= f.max, `${name}: forward 0 < p50 <= p99 <= max (${f.p50}, ${f.p99}, ${f.max})`);
    t.ok(finite(s.answerMs.p50) && s.answerMs.p50 >= f.p50!, `${name}: the answer comes after the forward (${s.answerMs.p50} >= ${f.p50})`);
    t.ok(finite(s.proxyCpuPer1000) && s.proxyCpuPer1000 > 0, `${name}: proxy CPU per 1,000 shares (${s.proxyCpuPer1000} s)`);
    t.ok(finite(s.ratioToRawX11) && s.ratioToRawX11 > 0, `${name}: ratio to raw X11 (${s.ratioToRawX11})`);
  }
  const summary = report.shares.summary!;
  t.ok(summary.best.validatedPerSecond! > 0, 'best validated shares/s');

  // Goals and the extrapolation.
  t.ok(report.goals.some((g) => /memory per device/.test(g.goal)), 'memory goal read');
  t.ok(report.goals.some((g) => /raw X11/.test(g.goal)), 'X11 goal read');
  const e = report.extrapolation!;
  t.equal(e.devices, 100_000);
  t.ok(e.processes >= 1 && e.processes * e.devicesPerProcess >= 100_000, `${e.processes} processes hold 100,000 devices`);
  t.ok(finite(e.shareCores) && e.shareCores > 0, 'share CPU extrapolated');

  // The chart: always an SVG; a PNG when Chromium is here.
  t.match(readFileSync(report.files.svg!, 'utf8'), /<svg[^>]*>[\s\S]*Job fan-out latency[\s\S]*memory per device/i, 'SVG chart with both panels');
  if (chromiumPath()) {
    t.ok(report.files.png, `PNG rendered (${report.files.chartNote ?? 'ok'})`);
    t.same([...readFileSync(report.files.png!).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG file');
  } else {
    t.equal(report.files.png, null, 'no Chromium: no PNG, and the reason is given');
    t.ok(report.files.chartNote);
  }
});

t.test('without the shared yardstick (--no-cross-check): fan-out figures from the own client alone', { timeout: 90_000 }, async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'bench-own-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const plan = { ...planFromArgs(['--sizes', '30', '--repeat', '1', '--jobs', '3', '--interval', '300ms', '--no-cross-check', '--no-shares', '--no-books', '--no-chart', '--out', out]), settleMs: 200 };
  t.equal(plan.crossCheck, null, 'no yardstick in the plan');
  const lines: string[] = [];
  const report = await runBench(plan, (l) => lines.push(l));
  t.ok(lines.some((l) => /no cross-check/.test(l)), 'the progress says the cross-check is left out');
  t.ok(lines.some((l) => /job 3: 30\/30 delivered, p50 [\d.]+ p99 [\d.]+ max [\d.]+ ms/.test(l)), 'each job is reported as it is delivered');
  t.equal(report.fanout.runs.length, 1);
  const r = report.fanout.runs[0]!;
  t.equal(r.client, 'own');
  t.equal(r.complete, true, `complete (${r.error ?? 'no error'})`);
  t.equal(r.connected, 30);
  t.same(r.perJob.map((j) => j.job), [0, 1, 2, 3], 'one warm-up job, then the three measured');
  for (const j of r.perJob) t.ok(j.delivered === 30 && finite(j.p50ms) && finite(j.p99ms) && j.p50ms <= j.p99ms && j.p99ms <= j.maxms!, `job ${j.job}: 30 deliveries, p50 <= p99 <= max`);
  t.ok(finite(r.kibPerDevice) && finite(r.rssBeforeKiB) && r.rssBeforeKiB > 10_000, `RSS per device (${r.kibPerDevice} KiB over ${r.rssBeforeKiB} KiB)`);
  t.ok(finite(r.cpu.proxySecFanout) && finite(r.cpu.benchSecFanout), 'CPU of the proxy and of the client during the jobs');
  const text = readFileSync(report.files.text, 'utf8');
  t.match(text, /\| devices \| workers \| held \|/, 'the fan-out table is written');
  t.notMatch(text, /fanout-bench\.js p50/, 'without the cross-check columns');
  t.match(text, /\| +30 \| +1 \| +1 \| +3 \| +30 \| +0 \|/, 'the per-job table has the third job of the run (30 devices, 1 worker, repeat 1)');
  t.equal(report.shares.summary, null, 'no share part');
  t.equal(report.books.summary, null, 'no books part');
  t.equal(report.files.svg, null, 'no chart');
});

t.test('two proxy workers, devices from two fleet processes: the proxy measured over its processes', { timeout: 120_000 }, async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'bench-workers-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const plan = {
    ...planFromArgs(['--sizes', '60', '--workers', '2', '--fleet-process-devices', '30', '--repeat', '1', '--jobs', '2', '--interval', '400ms', '--no-cross-check', '--no-books', '--share-rate', 'max', '--seconds', '1', '--share-devices', '20', '--no-chart', '--out', out]),
    settleMs: 300,
    x11Ms: 300,
    shareWarmupSeconds: 0.2,
  };
  const lines: string[] = [];
  const report = await runBench(plan, (l) => lines.push(l));
  t.ok(lines.some((l) => /60 devices from 2 processes \(127\.0\.0\.11, 127\.0\.0\.12\)/.test(l)), 'the fleet in two processes, each from its own address');
  const r = report.fanout.runs[0]!;
  t.same([r.client, r.workers, r.devices, r.connected, r.complete], ['own', 2, 60, 60, true], `two workers held all 60 (${r.error ?? 'no error'})`);
  t.equal(r.proxyProcesses, 3, 'the primary and its two workers measured');
  t.ok(finite(r.rssAfterKiB) && r.rssAfterKiB > 3 * 30_000, `RSS summed over the three processes (${r.rssAfterKiB} KiB)`);
  t.ok(finite(r.connectSeconds) && r.connectSeconds > 0, `connect time (${r.connectSeconds} s)`);
  t.same(r.perJob.filter((j) => j.job > 0).map((j) => [j.delivered, j.missed]), [[60, 0], [60, 0]], 'both jobs reached all 60 (timed across processes)');
  t.ok(finite(r.p50ms) && r.p50ms > 0 && r.p50ms <= r.p99ms! && r.p99ms! <= r.maxms!, `0 < p50 <= p99 <= max (${r.p50ms}, ${r.p99ms}, ${r.maxms})`);
  t.same(report.fanout.sizes.map((s) => [s.devices, s.workers]), [[60, 2]], 'one summary: 60 devices, 2 workers');
  t.same(report.shares.byWorkers.map((x) => x.workers), [2], 'shares measured with 2 workers');
  t.ok((report.shares.byWorkers[0]!.bestValidatedPerSecond ?? 0) > 0, 'and validated');
  t.match(readFileSync(report.files.text, 'utf8'), /\| 60 +\| +2 \| +60 \|/, 'the fan-out table has the workers column');
});

t.test('figures of repeated runs are medians with their range', async (t) => {
  const { summarizeSize } = await import('../../src/bench/summary.js');
  const run = (p99: number, kib: number, client: 'own' | 'yardstick', target: 'proxy' | 'floor') => ({
    client, target, devices: 1000, connected: 1000, complete: true, error: null, rssBeforeKiB: 50_000, rssAfterKiB: 50_000 + kib * 1000, rssEndKiB: 50_000 + kib * 1000,
    kibPerDevice: kib, kibPerDeviceAfterJobs: kib, p50ms: p99 / 2, p99ms: p99, maxms: p99 + 1, minms: 0.5, medianJobP99ms: p99, medianJobMaxms: p99, missed: 0,
    benchBusyMsMedian: 5, cpu: { proxySecConnect: 0.1, proxySecFanout: 0.2, benchSecFanout: 0.1 }, proxyFileLimit: 20_000, connectSeconds: 1, proxyProcesses: 1, perJob: [], elapsedSeconds: 10, workers: 1,
  });
  // Three repeats of: own client, yardstick on the proxy, yardstick on the floor (in that order, as the bench runs them).
  const runs = [
    run(36, 7.5, 'own', 'proxy'), run(30, 7, 'yardstick', 'proxy'), run(10, 5, 'yardstick', 'floor'),
    run(10, 6.5, 'own', 'proxy'), run(10, 6, 'yardstick', 'proxy'), run(10, 5, 'yardstick', 'floor'),
    run(30, 8.5, 'own', 'proxy'), run(20, 8, 'yardstick', 'proxy'), run(40, 5, 'yardstick', 'floor'),
  ];
  const s = summarizeSize(1000, 1, runs, 10);
  const fig = (f: Figure) => [f.median, f.range];
  t.same(fig(s.yardstick!.p99ms), [20, [10, 30]], 'median and range of p99');
  t.same(fig(s.yardstick!.kibPerDevice), [7, [6, 8]], 'median and range of memory per device');
  t.same(fig(s.own.p99ms), [30, [10, 36]], 'the own client summarized apart');
  t.same(fig(s.own.kibPerDevice), [7.5, [6.5, 8.5]]);
  // Ratios pair each proxy run with the floor run of the same repeat: 30/10, 10/10, 20/40.
  t.same(fig(s.p99ToFloor), [1, [0.5, 3]], 'ratio to the floor per repeat, then the median');
  // Own against the yardstick, same repeat: 36/30, 10/10, 30/20.
  t.same(fig(s.ownToYardstickP99), [1.2, [1, 1.5]], 'own / yardstick per repeat, then the median');
  t.equal(s.ckpool?.p99ms, 23.4, 'ckpool reference at 1,000 devices');

  const alone = summarizeSize(1000, 1, runs.filter((r) => r.client === 'own'), 10);
  t.equal(alone.yardstick, null, 'no yardstick runs: no yardstick summary');
  t.equal(alone.floor, null);
  t.same(fig(alone.p99ToFloor), [null, null], 'and no ratio to a floor');
});

t.test('the books part at a small size: commit rate and size per store, the ledger on and off alternating', { timeout: 150_000 }, async (t) => {
  const { booksBytesPerDay } = await import('../../src/bench/summary.js');
  const { findPostgres } = await import('../../src/bench/pg-cluster.js');
  const out = await mkdtemp(join(tmpdir(), 'bench-books-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const plan = {
    ...planFromArgs(['--quick', '--no-fanout', '--no-shares', '--books-rate', '300,600', '--books-pairs', '2', '--ledger-shares', '2000', '--seconds', '1', '--share-devices', '20', '--out', out]),
    x11Ms: 300,
    shareWarmupSeconds: 0.2,
  };
  const lines: string[] = [];
  const report = await runBench(plan, (l) => lines.push(l));
  const result = report.books.result!;
  t.same(result.errors, [], 'no books run failed');
  t.ok(result.loadavg.start.length === 3 && result.loadavg.end.length === 3, 'the load average at the start and end of the part');

  // The commit measurement: SQLite always, PostgreSQL when it is installed (else the reason is given).
  const pgFound = findPostgres();
  t.same(result.commits.map((c) => c.store), 'missing' in pgFound ? ['sqlite'] : ['sqlite', 'postgres'], 'the stores measured');
  if ('missing' in pgFound) {
    t.same(result.postgres, { missing: pgFound.missing }, 'without PostgreSQL: why');
    t.ok(lines.some((l) => l.includes(`PostgreSQL not measured: ${pgFound.missing}`)), 'the progress says PostgreSQL was not measured, and why');
  } else {
    t.same(result.postgres, { settings: ['fsync=on', 'synchronous_commit=on', 'full_page_writes=on'] }, 'PostgreSQL: durable commits');
  }
  for (const c of result.commits) {
    const name = c.store;
    t.equal(c.shares, 2000, `${name}: every share is a row`);
    // 1,000 workers, 12 shares each per minute: the 2,000 shares fall in one minute, one row per worker.
    t.equal(c.tables.workerMinutes.rows, 1000, `${name}: one worker-minute row per worker`);
    t.ok(c.records >= c.shares + c.tables.workerMinutes.rows, `${name}: records committed include the per-minute sums (${c.records})`);
    t.equal(c.dropped, 0, `${name}: nothing dropped`);
    t.ok(c.commits >= 1 && c.recordsPerSecond > 0 && c.sharesPerSecond > 0, `${name}: ${c.commits} commits, ${c.recordsPerSecond} records/s`);
    t.equal(c.commitMs.count, c.commits, `${name}: each commit timed`);
    t.ok(finite(c.commitMs.p50) && finite(c.commitMs.p99) && finite(c.commitMs.max) && c.commitMs.p50 > 0 && c.commitMs.p50 <= c.commitMs.p99 && c.commitMs.p99 <= c.commitMs.max, `${name}: commit 0 < p50 <= p99 <= max`);
    t.ok(c.databaseBytes > 0 && c.tables.shares.bytes + c.tables.workerMinutes.bytes <= c.databaseBytes, `${name}: tables within the database (${c.databaseBytes} B)`);
    t.equal(c.bytesPerMillionShares, Math.round((c.databaseBytes / c.shares) * 1e6), `${name}: bytes per million shares = database / shares, scaled`);
    t.ok(c.tables.shares.bytesPerRow! > 50 && c.tables.workerMinutes.bytesPerRow! > 20, `${name}: bytes per row measured (${c.tables.shares.bytesPerRow}, ${c.tables.workerMinutes.bytesPerRow})`);
  }
  const c = result.commits[0]!;
  t.notMatch(result.commits.map((x) => x.location).join(' '), /:[^/@]*@/, 'no password in a location');

  // The share runs: on then off, twice; each on run's books in a file with a row for every share the pool got.
  t.same(result.shareRuns.map((r) => `${r.pair} ${r.ledger}`), ['1 on', '1 off', '2 on', '2 off'], 'two pairs, alternating on, off, on, off');
  for (const r of result.shareRuns) {
    if (r.ledger === 'off') {
      t.equal(r.ledgerShareRows, null, `pair ${r.pair}: no books with the ledger off`);
    } else {
      const validated = r.phase.steps.reduce((a, s) => a + s.validatedPerSecond * s.seconds, 0);
      t.ok(r.ledgerShareRows! >= Math.floor(validated), `pair ${r.pair}: the ledger holds at least the measured shares (${r.ledgerShareRows} >= ${Math.floor(validated)})`);
    }
    t.same(r.phase.steps.map((s) => s.offeredPerSecond), [300, 600], `pair ${r.pair}, ledger ${r.ledger}: the offered rates`);
    for (const s of r.phase.steps) {
      t.equal(s.rejected + s.unanswered + s.notForwarded, 0, `pair ${r.pair}, ledger ${r.ledger}, ${s.offeredPerSecond}/s: every share validated, answered and forwarded`);
      t.ok(finite(s.forwardMs.p99) && s.forwardMs.p99 > 0, `pair ${r.pair}, ledger ${r.ledger}, ${s.offeredPerSecond}/s: forward p99 ${s.forwardMs.p99} ms`);
    }
  }

  // The summary pairs each rate's on and off runs of the same pair; medians over pairs, the ratio per pair.
  const b = report.books.summary!;
  t.equal(b.pairs, 2);
  t.same(b.rates.map((r) => r.offeredPerSecond), [300, 600]);
  const run = (pair: number, ledger: 'on' | 'off') => result.shareRuns.find((r) => r.pair === pair && r.ledger === ledger)!;
  const mid = (a: number, b: number) => (a + b) / 2;
  const r2 = (x: number) => Math.round(x * 100) / 100;
  for (const r of b.rates) {
    const p99 = (pair: number, ledger: 'on' | 'off') => run(pair, ledger).phase.steps.find((s) => s.offeredPerSecond === r.offeredPerSecond)!.forwardMs.p99!;
    t.equal(r.pairs, 2);
    t.equal(r.forwardP99On.median, Math.round(mid(p99(1, 'on'), p99(2, 'on')) * 1000) / 1000, `${r.offeredPerSecond}/s: on p99 is the median of the pairs`);
    t.equal(r.forwardP99Off.median, Math.round(mid(p99(1, 'off'), p99(2, 'off')) * 1000) / 1000, `${r.offeredPerSecond}/s: off p99 is the median of the pairs`);
    t.equal(r.p99OnToOff.median, r2(mid(p99(1, 'on') / p99(1, 'off'), p99(2, 'on') / p99(2, 'off'))), `${r.offeredPerSecond}/s: the ratio is the median of each pair's on / off`);
    t.equal(r.p99MediansOnToOff, r2(r.forwardP99On.median! / r.forwardP99Off.median!), `${r.offeredPerSecond}/s: and the ratio of the medians beside it`);
    t.equal(r.goalMet, r.reached ? r.p99OnToOff.median! <= 1.1 && r.p99MediansOnToOff! <= 1.1 : null, `${r.offeredPerSecond}/s: met when both readings are at most 1.1, at a rate reached`);
    t.equal(r.reached, r.reachedPerSecond! >= 0.98 * r.offeredPerSecond, `${r.offeredPerSecond}/s: reached when both medians are within 2% of the offer`);
    const goal = report.goals.find((g) => g.goal.includes(`ledger on / off at ${r.offeredPerSecond} shares/s`));
    t.ok(goal, `${r.offeredPerSecond}/s: the 10% goal is read`);
    t.equal(goal!.met, r.goalMet, 'the goal as the summary judged it');
    t.match(goal!.goal, /median of 2 pair\(s\)/, 'the goal names the pairs');
  }
  t.same(b.ledgerShareRows, [run(1, 'on').ledgerShareRows, run(2, 'on').ledgerShareRows]);
  t.same(
    b.sizePerDay.map((d) => [d.store, d.devices, d.poolSharesPerDeviceMinute, d.bytesPerDay]),
    result.commits.flatMap((x) =>
      [12, 1].flatMap((m) => [1000, 10_000].map((n) => [x.store, n, m, booksBytesPerDay(n, m, x.tables.shares.bytesPerRow!, x.tables.workerMinutes.bytesPerRow!)])),
    ),
    'size per day for each store, 1,000 and 10,000 devices, at 12 and 1 pool shares per device-minute',
  );
  t.equal(booksBytesPerDay(1000, 12, 200, 100), 1000 * 1440 * (12 * 200 + 100), 'a day: 1,440 minutes of share rows and one worker-minute row per device');
  t.ok(c.tables.shares.bytesPerRow! > 0);

  const text = readFileSync(report.files.text, 'utf8');
  t.match(text, /\| store +\| shares written \| records\/s committed \|/, 'the commit table is written');
  t.match(text, 'missing' in pgFound ? /PostgreSQL not measured: / : /\| PostgreSQL \(fsync, synchronous_commit on\) +\| +2,000 \|/, 'says whether PostgreSQL was measured');
  // Columns are padded to their widest cell (a rate not reached on a loaded machine widens 'reached').
  t.match(text, /\| offered\/s +\| +reached +\| +validated\/s on +\|/, 'the on/off table is written');
  t.match(text, /p99 on \/ off, median of pairs +\| +of the medians +\| +<= 1\.1x +\|/, 'with both ratios and the goal');
  t.match(text, /load average [\d. ]+ -> [\d. ]+ over this part/, 'the load average beside the figures');
  t.match(text, /\| store +\| devices \| pool shares \/ device \/ minute \|/, 'the size-per-day table is written');
  t.ok(lines.some((l) => /books in .*shares-1\.sqlite/.test(l)), 'the ledger-on proxy was given a books file');
});

t.test('the books part: plan defaults and bad flags', async (t) => {
  const { UsageError } = await import('../../src/commands/command.js');
  const quick = planFromArgs(['--quick']);
  t.same(quick.books.rates, [2000, 10_000], 'the issue\'s rates by default');
  t.equal(quick.books.ledgerShares, 20_000, 'quick: a small ledger run');
  t.equal(planFromArgs([]).books.ledgerShares, 1_000_000, 'full: a million shares');
  t.equal(quick.parts.books, true, 'on by default');
  t.equal(planFromArgs(['--no-books']).parts.books, false);
  t.throws(() => planFromArgs(['--books-rate', 'max']), UsageError, "'max' is no rate for the off/on pairs");
  t.throws(() => planFromArgs(['--books-rate', '2000,abc']), /--books-rate: expected positive integers separated by commas, got 'abc'/);
  t.throws(() => planFromArgs(['--ledger-shares', '10']), /ledger-shares/, 'below the minimum');
  t.equal(quick.books.pairs, 1, 'quick: one on/off pair');
  t.equal(planFromArgs([]).books.pairs, 5, 'full: five pairs');
  t.equal(planFromArgs(['--books-pairs', '3']).books.pairs, 3);
  t.throws(() => planFromArgs(['--books-pairs', '0']), /books-pairs/, 'at least one pair');
  t.equal(quick.books.postgres, true, 'PostgreSQL measured when installed, by default');
  t.equal(planFromArgs(['--no-books-postgres']).books.postgres, false);
});
