import type { FanoutResult } from './fanout.js';
import type { Extrapolation, Figure, Goal, SharesSummary, SizeSummary } from './summary.js';

/** The benchmark's figures as plain-text tables (Markdown pipes, so they paste into a README as they are). */

function cell(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '-';
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** "median (min-max)" when the runs disagree, else the median. */
function fig(f: Figure | null | undefined, digits = 1): string {
  if (!f || f.median === null) return '-';
  const m = cell(f.median, digits);
  if (!f.range || f.range[0] === f.range[1]) return m;
  return `${m} (${cell(f.range[0], digits)}–${cell(f.range[1], digits)})`;
}

function table(header: string[], rows: string[][], alignLeft = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => '| ' + r.map((c, i) => (i < alignLeft ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ') + ' |';
  const sep = '|' + widths.map((w, i) => (i < alignLeft ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|';
  return [line(header), sep, ...rows.map(line)].join('\n');
}

/**
 * Fan-out and memory, one row per size: our own client's figures, then (when it ran) the shared
 * yardstick's on the same proxy, its relay floor, and ckpool's published figures beside them.
 */
export function fanoutTable(sizes: SizeSummary[]): string {
  const crossChecked = sizes.some((s) => s.yardstick !== null);
  const header = ['devices', 'held', 'KiB/dev connect', 'KiB/dev after jobs', 'fan-out p50 ms', 'p99 ms', 'max ms', 'job p99 ms', 'last delivery ms'];
  if (crossChecked) header.push('fanout-bench.js p50 ms', 'p99 ms', 'KiB/dev', 'own / fanout-bench.js p99', 'floor p99 ms', 'p99 / floor', 'floor KiB/dev');
  header.push('ckpool p99 ms', 'ckpool KiB/dev');
  const rows = sizes.map((s) => {
    const row = [
      s.devices.toLocaleString('en-US'),
      fig(s.own.connected, 0),
      fig(s.own.kibPerDevice, 2),
      fig(s.own.kibPerDeviceAfterJobs, 2),
      fig(s.own.p50ms),
      fig(s.own.p99ms),
      fig(s.own.maxms),
      fig(s.own.medianJobP99ms),
      fig(s.own.medianJobMaxms),
    ];
    if (crossChecked) {
      row.push(fig(s.yardstick?.p50ms), fig(s.yardstick?.p99ms), fig(s.yardstick?.kibPerDevice, 2), fig(s.ownToYardstickP99, 2), fig(s.floor?.p99ms), fig(s.p99ToFloor, 2), fig(s.floor?.kibPerDevice, 2));
    }
    row.push(s.ckpool ? cell(s.ckpool.p99ms) : '-', s.ckpool ? cell(s.ckpool.kibPerDevice, 2) : '-');
    return row;
  });
  return table(header, rows);
}

/** Every measured job of our own client's runs: deliveries and latency (ms from the pool's write). */
export function fanoutJobsTable(runs: FanoutResult[]): string {
  const own = runs.filter((r) => r.client === 'own');
  const repeats = new Map<number, number>();
  const rows: string[][] = [];
  for (const r of own) {
    const rep = (repeats.get(r.devices) ?? 0) + 1;
    repeats.set(r.devices, rep);
    for (const j of r.perJob.filter((x) => x.job > 0)) {
      rows.push([r.devices.toLocaleString('en-US'), String(rep), String(j.job), j.delivered.toLocaleString('en-US'), String(j.missed), cell(j.p50ms), cell(j.p99ms), cell(j.maxms), cell(j.loadBusyMs)]);
    }
  }
  return table(['devices', 'repeat', 'job', 'delivered', 'missed', 'p50 ms', 'p99 ms', 'max ms', 'client busy ms'], rows, 0);
}

export function sharesTable(shares: SharesSummary): string {
  const header = ['offered/s', 'sent/s', 'validated/s', '/ raw X11', 'per CPU s / raw X11', 'forward p50 ms', 'forward p99 ms', 'answer p99 ms', 'proxy CPU s / 1,000 shares', 'proxy cores busy', 'load gen cores', 'load gen lag p99 ms'];
  const rows = shares.rates.map((r) => [
    r.offeredPerSecond === null ? 'max' : r.offeredPerSecond.toLocaleString('en-US'),
    fig(r.sentPerSecond, 0),
    fig(r.validatedPerSecond, 0),
    fig(r.ratioToRawX11, 3),
    fig(r.cpuRatioToRawX11, 3),
    fig(r.forwardP50ms, 2),
    fig(r.forwardP99ms, 2),
    fig(r.answerP99ms, 2),
    fig(r.proxyCpuPer1000, 3),
    fig(r.proxyCpuBusy, 2),
    fig(r.loadCpuBusy, 2),
    fig(r.loadLoopDelayP99Ms, 2),
  ]);
  return table(header, rows);
}

export function goalsTable(goals: Goal[]): string {
  return table(
    ['goal', 'target', 'measured', 'met'],
    goals.map((g) => [g.goal, g.target, g.measured, g.met === null ? '-' : g.met ? 'yes' : 'no']),
    3,
  );
}

export function extrapolationText(e: Extrapolation): string {
  const mem = e.memoryMiB === null ? 'n/a' : `${e.memoryMiB.toLocaleString('en-US')} MiB in all (${e.memoryPerProcessMiB} MiB per process)`;
  return [
    `${e.devices.toLocaleString('en-US')} devices on one host (from the ${e.basis}):`,
    `  ${e.processes} proxy processes of ${e.devicesPerProcess.toLocaleString('en-US')} devices, each with an open-files limit of at least ${e.openFilesPerProcess.toLocaleString('en-US')};`,
    `  resident memory ${mem};`,
    `  shares at 12 per device per minute: ${e.shareRatePerSecond.toLocaleString('en-US')}/s, about ${e.shareCores ?? 'n/a'} cores of share path in all;`,
    `  one job fanned out to every device: about ${e.fanoutCpuSecondsPerJob ?? 'n/a'} CPU seconds in all (spread over the processes).`,
  ].join('\n');
}
