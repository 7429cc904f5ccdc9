import type { FanoutResult } from './fanout.js';
import type { LedgerCommitResult } from './ledger-commit.js';
import { BOOKS_P99_GOAL, type BooksSummary, type Extrapolation, type Figure, type Goal, type SharesSummary, type ShareScaling, type SizeSummary } from './summary.js';

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
  const floored = sizes.some((s) => s.floor !== null);
  const header = ['devices', 'workers', 'held', 'connect s', 'KiB/dev connect', 'KiB/dev after jobs', 'fan-out p50 ms', 'p99 ms', 'max ms', 'job p99 ms', 'last delivery ms', 'proxy CPU s/job'];
  if (floored) header.push('floor p99 ms', 'p99 / floor', 'floor KiB/dev');
  if (crossChecked) header.push('fanout-bench.js p50 ms', 'p99 ms', 'KiB/dev', 'own / fanout-bench.js p99', 'its p99 / floor');
  header.push('ckpool p99 ms', 'ckpool KiB/dev');
  const rows = sizes.map((s) => {
    const row = [
      s.devices.toLocaleString('en-US'),
      String(s.workers),
      fig(s.own.connected, 0),
      fig(s.own.connectSeconds, 1),
      fig(s.own.kibPerDevice, 2),
      fig(s.own.kibPerDeviceAfterJobs, 2),
      fig(s.own.p50ms),
      fig(s.own.p99ms),
      fig(s.own.maxms),
      fig(s.own.medianJobP99ms),
      fig(s.own.medianJobMaxms),
      fig(s.own.proxySecFanoutPerJob, 3),
    ];
    if (floored) row.push(fig(s.floor?.p99ms), fig(s.ownP99ToFloor, 2), fig(s.floor?.kibPerDevice, 2));
    if (crossChecked) row.push(fig(s.yardstick?.p50ms), fig(s.yardstick?.p99ms), fig(s.yardstick?.kibPerDevice, 2), fig(s.ownToYardstickP99, 2), fig(s.p99ToFloor, 2));
    row.push(s.ckpool ? cell(s.ckpool.p99ms) : '-', s.ckpool ? cell(s.ckpool.kibPerDevice, 2) : '-');
    return row;
  });
  return table(header, rows);
}

/** Validated shares per second with each worker count, the speed-up over the fewest, and who used the cores. */
export function shareScalingTable(rows: ShareScaling[]): string {
  return columnsTable(rows, [
    ['proxy workers', (r) => String(r.workers)],
    ['best validated/s', (r) => cell(r.bestValidatedPerSecond, 0)],
    ['x fewest workers', (r) => cell(r.speedup, 2)],
    ['proxy cores busy', (r) => cell(r.proxyCoresBusy, 2)],
    ['load generator cores busy', (r) => cell(r.loadGeneratorCoresBusy, 2)],
  ]);
}

/** Every measured job of our own client's runs: deliveries and latency (ms from the pool's write). */
export function fanoutJobsTable(runs: FanoutResult[]): string {
  const own = runs.filter((r) => r.client === 'own');
  const key = (r: FanoutResult) => r.devices * 1000 + r.workers;
  const repeats = new Map<number, number>();
  const rows: string[][] = [];
  for (const r of own) {
    const rep = (repeats.get(key(r)) ?? 0) + 1;
    repeats.set(key(r), rep);
    for (const j of r.perJob.filter((x) => x.job > 0)) {
      rows.push([r.devices.toLocaleString('en-US'), String(r.workers), String(rep), String(j.job), j.delivered.toLocaleString('en-US'), String(j.missed), cell(j.p50ms), cell(j.p99ms), cell(j.maxms), cell(j.loadBusyMs)]);
    }
  }
  return table(['devices', 'workers', 'repeat', 'job', 'delivered', 'missed', 'p50 ms', 'p99 ms', 'max ms', 'client busy ms'], rows, 0);
}

/** A table from one row per item, each column its header and how it reads an item. */
function columnsTable<T>(items: readonly T[], columns: readonly (readonly [string, (item: T) => string])[]): string {
  return table(
    columns.map(([header]) => header),
    items.map((item) => columns.map(([, read]) => read(item))),
  );
}

const offered = (rate: number | null) => (rate === null ? 'max' : rate.toLocaleString('en-US'));

export function sharesTable(shares: SharesSummary): string {
  return columnsTable(shares.rates, [
    ['offered/s', (r) => offered(r.offeredPerSecond)],
    ['sent/s', (r) => fig(r.sentPerSecond, 0)],
    ['validated/s', (r) => fig(r.validatedPerSecond, 0)],
    ['/ raw X11', (r) => fig(r.ratioToRawX11, 3)],
    ['per CPU s / raw X11', (r) => fig(r.cpuRatioToRawX11, 3)],
    ['forward p50 ms', (r) => fig(r.forwardP50ms, 2)],
    ['forward p99 ms', (r) => fig(r.forwardP99ms, 2)],
    ['answer p99 ms', (r) => fig(r.answerP99ms, 2)],
    ['proxy CPU s / 1,000 shares', (r) => fig(r.proxyCpuPer1000, 3)],
    ['proxy cores busy', (r) => fig(r.proxyCpuBusy, 2)],
    ['load gen cores', (r) => fig(r.loadCpuBusy, 2)],
    ['load gen lag p99 ms', (r) => fig(r.loadLoopDelayP99Ms, 2)],
  ]);
}

const yesNo = (x: boolean | null) => (x === null ? '-' : x ? 'yes' : 'no');

/** The books on and off, side by side per offered rate, the ratio of their p99s and the goal. */
export function booksLatencyTable(books: BooksSummary): string {
  return columnsTable(books.rates, [
    ['offered/s', (r) => offered(r.offeredPerSecond)],
    ['reached', (r) => (r.reached === false ? `no: ${cell(r.reachedPerSecond, 0)}/s` : yesNo(r.reached))],
    ['validated/s on', (r) => fig(r.validatedOn, 0)],
    ['off', (r) => fig(r.validatedOff, 0)],
    ['forward p50 ms on', (r) => fig(r.forwardP50On, 2)],
    ['off', (r) => fig(r.forwardP50Off, 2)],
    ['forward p99 ms on', (r) => fig(r.forwardP99On, 2)],
    ['off', (r) => fig(r.forwardP99Off, 2)],
    ['p99 on / off, median of pairs', (r) => fig(r.p99OnToOff, 2)],
    ['of the medians', (r) => cell(r.p99MediansOnToOff, 2)],
    [`<= ${BOOKS_P99_GOAL}x`, (r) => (r.reached === false ? 'not judged' : yesNo(r.goalMet))],
  ]);
}

const STORE_NAMES: Record<LedgerCommitResult['store'], string> = {
  sqlite: 'SQLite (WAL, synchronous=FULL, worker thread)',
  postgres: 'PostgreSQL (fsync, synchronous_commit on)',
};

/** The ledger's commit rate, commit latency and size, one row per store measured. */
export function booksCommitTable(books: BooksSummary): string {
  const mb = (bytes: number) => cell(bytes / 1e6, 1);
  return columnsTable(books.commits, [
    ['store', (c) => STORE_NAMES[c.store]],
    ['shares written', (c) => c.shares.toLocaleString('en-US')],
    ['records/s committed', (c) => cell(c.recordsPerSecond, 0)],
    ['shares/s', (c) => cell(c.sharesPerSecond, 0)],
    ['commits', (c) => cell(c.commits, 0)],
    ['records / commit', (c) => cell(c.recordsPerCommit, 0)],
    ['commit p50 ms', (c) => cell(c.commitMs.p50, 1)],
    ['commit p99 ms', (c) => cell(c.commitMs.p99, 1)],
    ['MB per million shares', (c) => mb(c.bytesPerMillionShares)],
    ['B / share row', (c) => cell(c.tables.shares.bytesPerRow, 0)],
    ['B / worker-minute row', (c) => cell(c.tables.workerMinutes.bytesPerRow, 0)],
    ['dropped', (c) => cell(c.dropped, 0)],
  ]);
}

/** Size per day for the fleets, from each store's measured bytes per row. */
export function booksSizeTable(books: BooksSummary): string {
  return columnsTable(books.sizePerDay, [
    ['store', (d) => (d.store === 'sqlite' ? 'SQLite' : 'PostgreSQL')],
    ['devices', (d) => d.devices.toLocaleString('en-US')],
    ['pool shares / device / minute', (d) => String(d.poolSharesPerDeviceMinute)],
    ['share rows / day', (d) => (d.devices * d.poolSharesPerDeviceMinute * 1440).toLocaleString('en-US')],
    ['worker-minute rows / day', (d) => (d.devices * 1440).toLocaleString('en-US')],
    ['GB / day', (d) => cell(d.bytesPerDay / 1e9, 2)],
  ]);
}

export function goalsTable(goals: Goal[]): string {
  return table(
    ['goal', 'target', 'measured', 'met'],
    goals.map((g) => [g.goal, g.target, g.measured, yesNo(g.met)]),
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
