import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { chromiumPath } from '../../src/bench/chart.js';
import { fanoutToolPath } from '../../src/bench/processes.js';
import { planFromArgs, runBench, type BenchReport } from '../../src/bench/run.js';
import type { Figure } from '../../src/bench/summary.js';

/**
 * The whole benchmark at a tiny size, through the real pieces: the shared yardstick against the proxy
 * (started by `start --config`) and against its relay floor, the share pool + load generator child with
 * the proxy in between, raw X11, the JSON, the table and the chart. Only the presence and consistency of
 * the figures is checked, never their speed (that is what the benchmark itself reports).
 */

const toolMissing = existsSync(fanoutToolPath()) ? false : `the shared yardstick ${fanoutToolPath()} is missing (set SHARED_DIR)`;

const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

t.test('bench at 50 devices: every figure present and consistent', { skip: toolMissing, timeout: 150_000 }, async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'bench-smoke-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const plan = {
    ...planFromArgs(['--sizes', '50', '--repeat', '1', '--jobs', '2', '--interval', '300ms', '--connect-rate', '500', '--share-rate', '300,max', '--seconds', '1', '--share-devices', '20', '--out', out]),
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

  // Fan-out and memory: one size, proxy and floor, every device held, every job delivered.
  t.equal(report.fanout.runs.length, 2, 'one proxy run and one floor run');
  for (const r of report.fanout.runs) {
    t.equal(r.connected, 50, `${r.target}: all 50 devices held`);
    t.equal(r.complete, true, `${r.target}: complete run (${r.error ?? 'no error'})`);
    t.equal(r.missed, 0, `${r.target}: no delivery missed`);
    t.ok(finite(r.p50ms) && finite(r.p99ms) && finite(r.maxms) && r.p50ms > 0 && r.p50ms <= r.p99ms && r.p99ms <= r.maxms, `${r.target}: 0 < p50 <= p99 <= max (${r.p50ms}, ${r.p99ms}, ${r.maxms})`);
    t.ok(finite(r.kibPerDevice) && finite(r.kibPerDeviceAfterJobs), `${r.target}: memory per device measured (${r.kibPerDevice}, ${r.kibPerDeviceAfterJobs} KiB)`);
    t.ok(finite(r.rssAfterKiB) && r.rssAfterKiB > 10_000, `${r.target}: resident memory read from /proc (${r.rssAfterKiB} KiB)`);
  }
  const size = report.fanout.sizes[0]!;
  t.equal(size.devices, 50);
  t.equal(size.proxy.connected.median, 50, 'summary: devices held');
  const proxyP99 = report.fanout.runs.find((r) => r.target === 'proxy')!.p99ms!;
  const floorP99 = report.fanout.runs.find((r) => r.target === 'floor')!.p99ms!;
  t.equal(size.p99ToFloor.median, Math.round((proxyP99 / floorP99) * 100) / 100, 'ratio to the floor is proxy p99 / floor p99 of the same repeat');

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

t.test('figures of repeated runs are medians with their range', async (t) => {
  const { summarizeSize } = await import('../../src/bench/summary.js');
  const run = (p99: number, kib: number, target: 'proxy' | 'floor') => ({
    target, devices: 1000, connected: 1000, complete: true, error: null, rssBeforeKiB: 50_000, rssAfterKiB: 50_000 + kib * 1000, rssEndKiB: 50_000 + kib * 1000,
    kibPerDevice: kib, kibPerDeviceAfterJobs: kib, p50ms: p99 / 2, p99ms: p99, maxms: p99 + 1, minms: 0.5, medianJobP99ms: p99, medianJobMaxms: p99, missed: 0,
    benchBusyMsMedian: 5, cpu: { proxySecConnect: 0.1, proxySecFanout: 0.2, benchSecFanout: 0.1 }, proxyFileLimit: 20_000, elapsedSeconds: 10,
  });
  const s = summarizeSize(1000, [run(30, 7, 'proxy'), run(10, 6, 'proxy'), run(20, 8, 'proxy')], [run(10, 5, 'floor'), run(10, 5, 'floor'), run(40, 5, 'floor')], 10);
  const fig = (f: Figure) => [f.median, f.range];
  t.same(fig(s.proxy.p99ms), [20, [10, 30]], 'median and range of p99');
  t.same(fig(s.proxy.kibPerDevice), [7, [6, 8]], 'median and range of memory per device');
  // Ratios pair each proxy run with the floor run of the same repeat: 30/10, 10/10, 20/40.
  t.same(fig(s.p99ToFloor), [1, [0.5, 3]], 'ratio to the floor per repeat, then the median');
  t.equal(s.ckpool?.p99ms, 23.4, 'ckpool reference at 1,000 devices');
});
