import type { BooksPhaseResult } from './books-phase.js';
import type { FanoutClient, FanoutResult, FanoutTarget } from './fanout.js';
import type { LedgerCommitResult } from './ledger-commit.js';
import type { SharePhaseResult, ShareStep } from './share-phase.js';
import { median, range, ratio, round } from './stats.js';

/**
 * Repeated runs folded into one figure each (the median, with the range beside it), the goals of issue 8
 * read against them, and the extrapolation to 100,000 devices. Pure: no I/O.
 */

/** ckpool 0.9.9 in proxy mode, measured with the same yardstick on this machine (fanout-bench.README.md). */
export const CKPOOL_REFERENCE = [
  { devices: 1000, kibPerDevice: 6.2, p50ms: 11.5, p99ms: 23.4, maxms: 23.7 },
  { devices: 5000, kibPerDevice: 6.0, p50ms: 48.6, p99ms: 83.3, maxms: 87.3 },
  { devices: 10000, kibPerDevice: 5.95, p50ms: 97.8, p99ms: 154.2, maxms: 164.2 },
] as const;

export interface Figure {
  median: number | null;
  range: [number, number] | null;
}

function figure(values: (number | null)[], digits = 2): Figure {
  const r = range(values);
  return { median: round(median(values), digits), range: r ? [round(r[0], digits)!, round(r[1], digits)!] : null };
}

export interface FanoutSummary {
  client: FanoutClient;
  target: FanoutTarget;
  runs: number;
  complete: number;
  connected: Figure;
  kibPerDevice: Figure;
  kibPerDeviceAfterJobs: Figure;
  rssAfterKiB: Figure;
  p50ms: Figure;
  p99ms: Figure;
  maxms: Figure;
  medianJobP99ms: Figure;
  medianJobMaxms: Figure;
  minms: Figure;
  benchBusyMs: Figure;
  proxySecFanoutPerJob: Figure;
  /** Seconds from the first connection to the last device holding a job (own client only). */
  connectSeconds: Figure;
  errors: string[];
}

export function summarizeFanout(client: FanoutClient, target: FanoutTarget, runs: FanoutResult[], jobs: number): FanoutSummary {
  const pick = (f: (r: FanoutResult) => number | null, digits = 2) => figure(runs.map(f), digits);
  return {
    client,
    target,
    runs: runs.length,
    complete: runs.filter((r) => r.complete).length,
    connected: pick((r) => r.connected, 0),
    kibPerDevice: pick((r) => r.kibPerDevice),
    kibPerDeviceAfterJobs: pick((r) => r.kibPerDeviceAfterJobs),
    rssAfterKiB: pick((r) => r.rssAfterKiB, 0),
    p50ms: pick((r) => r.p50ms),
    p99ms: pick((r) => r.p99ms),
    maxms: pick((r) => r.maxms),
    medianJobP99ms: pick((r) => r.medianJobP99ms),
    medianJobMaxms: pick((r) => r.medianJobMaxms),
    minms: pick((r) => r.minms),
    benchBusyMs: pick((r) => r.benchBusyMsMedian),
    proxySecFanoutPerJob: pick((r) => (r.cpu.proxySecFanout === null ? null : r.cpu.proxySecFanout / jobs), 4),
    connectSeconds: pick((r) => r.connectSeconds, 1),
    errors: runs.filter((r) => r.error).map((r) => r.error!),
  };
}

export interface SizeSummary {
  devices: number;
  /** The proxy's worker processes in the own client's runs (the yardstick and the floor: one process). */
  workers: number;
  /** The proxy measured by the benchmark's own client (always there). */
  own: FanoutSummary;
  /** The proxy measured by the shared yardstick, and its relay floor: null when the yardstick was not run. */
  yardstick: FanoutSummary | null;
  floor: FanoutSummary | null;
  /** Median over repeats of (own p99 / yardstick p99 of the same repeat): how far the two clients agree. */
  ownToYardstickP99: Figure;
  /** Median over repeats of (yardstick's proxy p99 / its floor p99, same repeat). */
  p99ToFloor: Figure;
  /** Median over repeats of (own client's p99 / the floor's p99, same repeat): for every worker count. */
  ownP99ToFloor: Figure;
  /** The same for the median over jobs of the last delivery (steadier than the pooled p99). */
  lastDeliveryToFloor: Figure;
  ckpool: (typeof CKPOOL_REFERENCE)[number] | null;
}

/**
 * One size's runs of every repeat with `workers` proxy processes (in repeat order, so that the n-th runs of
 * each kind were side by side). The yardstick measures one process only: its runs join the one-worker
 * summary; the floor (one process by nature) stands beside every worker count.
 */
export function summarizeSize(devices: number, workers: number, runs: FanoutResult[], jobs: number): SizeSummary {
  const of = (client: FanoutClient, target: FanoutTarget) => runs.filter((r) => r.devices === devices && r.client === client && r.target === target);
  const own = of('own', 'proxy').filter((r) => r.workers === workers);
  const yardstick = workers === 1 ? of('yardstick', 'proxy') : [];
  const floor = of('yardstick', 'floor');
  return {
    devices,
    workers,
    own: summarizeFanout('own', 'proxy', own, jobs),
    yardstick: yardstick.length ? summarizeFanout('yardstick', 'proxy', yardstick, jobs) : null,
    floor: floor.length ? summarizeFanout('yardstick', 'floor', floor, jobs) : null,
    ownToYardstickP99: figure(own.map((o, i) => ratio(o.p99ms, yardstick[i]?.p99ms))),
    p99ToFloor: figure(yardstick.map((p, i) => ratio(p.p99ms, floor[i]?.p99ms))),
    ownP99ToFloor: figure(own.map((p, i) => ratio(p.p99ms, floor[i]?.p99ms))),
    lastDeliveryToFloor: figure(yardstick.map((p, i) => ratio(p.medianJobMaxms, floor[i]?.medianJobMaxms))),
    ckpool: CKPOOL_REFERENCE.find((c) => c.devices === devices) ?? null,
  };
}

export interface RateSummary {
  offeredPerSecond: number | null;
  runs: number;
  sentPerSecond: Figure;
  validatedPerSecond: Figure;
  ratioToRawX11: Figure;
  cpuRatioToRawX11: Figure;
  forwardP50ms: Figure;
  forwardP99ms: Figure;
  forwardMaxms: Figure;
  answerP50ms: Figure;
  answerP99ms: Figure;
  proxyCpuPer1000: Figure;
  proxyCpuBusy: Figure;
  loadCpuBusy: Figure;
  loadLoopDelayP99Ms: Figure;
  /** Validated shares per second of proxy CPU time: what one fully available core would sustain. */
  validatedPerCpuSecond: Figure;
  rejected: number;
  unanswered: number;
  notForwarded: number;
}

export interface SharesSummary {
  devices: number;
  merkleBranch: number;
  coinbaseBytes: number;
  rawX11HashesPerSecond: Figure;
  rawX11HashesPerCpuSecond: Figure;
  rates: RateSummary[];
  best: { validatedPerSecond: number | null; ratioToRawX11: number | null; validatedPerCpuSecond: number | null; cpuRatioToRawX11: number | null };
}

export function summarizeShares(phases: SharePhaseResult[]): SharesSummary | null {
  if (phases.length === 0) return null;
  const first = phases[0]!;
  const rates = first.steps.map((s, i): RateSummary => {
    const steps = phases.map((p) => p.steps[i]).filter((x): x is ShareStep => x !== undefined);
    const pick = (f: (s: ShareStep) => number | null, digits = 2) => figure(steps.map(f), digits);
    return {
      offeredPerSecond: s.offeredPerSecond,
      runs: steps.length,
      sentPerSecond: pick((x) => x.sentPerSecond, 0),
      validatedPerSecond: pick((x) => x.validatedPerSecond, 0),
      ratioToRawX11: pick((x) => x.ratioToRawX11, 3),
      cpuRatioToRawX11: pick((x) => x.cpuRatioToRawX11, 3),
      forwardP50ms: pick((x) => x.forwardMs.p50, 3),
      forwardP99ms: pick((x) => x.forwardMs.p99, 3),
      forwardMaxms: pick((x) => x.forwardMs.max, 3),
      answerP50ms: pick((x) => x.answerMs.p50, 3),
      answerP99ms: pick((x) => x.answerMs.p99, 3),
      proxyCpuPer1000: pick((x) => x.proxyCpuPer1000, 4),
      proxyCpuBusy: pick((x) => x.proxyCpuBusy, 3),
      loadCpuBusy: pick((x) => x.loadCpuBusy, 3),
      loadLoopDelayP99Ms: pick((x) => x.loadLoopDelayP99Ms, 2),
      validatedPerCpuSecond: pick((x) => (x.proxyCpuSeconds ? (x.validatedPerSecond * x.seconds) / x.proxyCpuSeconds : null), 0),
      rejected: steps.reduce((a, x) => a + x.rejected, 0),
      unanswered: steps.reduce((a, x) => a + x.unanswered, 0),
      notForwarded: steps.reduce((a, x) => a + x.notForwarded, 0),
    };
  });
  const raw = figure(phases.map((p) => p.rawX11.hashesPerSecond), 0);
  const rawCpu = figure(phases.map((p) => p.rawX11.hashesPerCpuSecond), 0);
  const bestBy = (f: (r: RateSummary) => number | null) => rates.reduce<number | null>((a, r) => (f(r) !== null && (a === null || f(r)! > a) ? f(r) : a), null);
  const bestValidated = bestBy((r) => r.validatedPerSecond.median);
  const bestPerCpu = bestBy((r) => r.validatedPerCpuSecond.median);
  return {
    devices: first.devices,
    merkleBranch: first.merkleBranch,
    coinbaseBytes: first.coinbaseBytes,
    rawX11HashesPerSecond: raw,
    rawX11HashesPerCpuSecond: rawCpu,
    rates,
    best: {
      validatedPerSecond: bestValidated,
      ratioToRawX11: bestBy((r) => r.ratioToRawX11.median),
      validatedPerCpuSecond: bestPerCpu,
      cpuRatioToRawX11: bestBy((r) => r.cpuRatioToRawX11.median),
    },
  };
}

/** The share runs of one worker count, and how they compare with the fewest workers measured. */
export interface ShareScaling {
  workers: number;
  summary: SharesSummary | null;
  /** Best validated shares/s (median over repeats, at whichever offered rate did best). */
  bestValidatedPerSecond: number | null;
  /** bestValidatedPerSecond / that of the fewest workers (1 for the fewest). */
  speedup: number | null;
  /** At the best rate: the proxy's cores busy (all its processes) and the load generator's (pool + devices, one process) on the same cores. */
  proxyCoresBusy: number | null;
  loadGeneratorCoresBusy: number | null;
}

/** The goal of issue 15 for two workers on two cores: at least this many times the validated shares/s of one. */
export const TWO_WORKER_SPEEDUP_GOAL = 1.7;

/** Share phases grouped by worker count (in the order given), each summarized, with the speed-up over the first. */
export function shareScaling(workers: readonly number[], phases: SharePhaseResult[]): ShareScaling[] {
  const rows = workers.map((w) => {
    const summary = summarizeShares(phases.filter((p) => p.workers === w));
    const best = summary?.rates.reduce<RateSummary | null>((a, r) => (r.validatedPerSecond.median !== null && (a === null || r.validatedPerSecond.median > a.validatedPerSecond.median!) ? r : a), null) ?? null;
    return { workers: w, summary, best };
  }).filter((r) => r.summary !== null);
  const base = rows[0]?.best?.validatedPerSecond.median ?? null;
  return rows.map(({ workers: w, summary, best }) => ({
    workers: w,
    summary,
    bestValidatedPerSecond: best?.validatedPerSecond.median ?? null,
    speedup: round(ratio(best?.validatedPerSecond.median, base), 2),
    proxyCoresBusy: best?.proxyCpuBusy.median ?? null,
    loadGeneratorCoresBusy: best?.loadCpuBusy.median ?? null,
  }));
}

/** One offered rate of the books' on/off pairs: forwarding latency with and without the ledger. */
export interface BooksRateSummary {
  offeredPerSecond: number;
  /** Pairs with both runs at this rate (the figures are of those alone). */
  pairs: number;
  validatedOff: Figure;
  validatedOn: Figure;
  /** The lower of the two validated medians: what the proxy took of the offered rate here. */
  reachedPerSecond: number | null;
  /** reachedPerSecond is at least BOOKS_RATE_REACHED of the offered rate (false: the figures are at the proxy's limit, not at this rate). */
  reached: boolean | null;
  forwardP50Off: Figure;
  forwardP50On: Figure;
  forwardP99Off: Figure;
  forwardP99On: Figure;
  /** Median over pairs of (p99 with the ledger / p99 without it, same pair). */
  p99OnToOff: Figure;
  /** The median on p99 over the median off p99 (a second reading of the same runs). */
  p99MediansOnToOff: number | null;
  /**
   * Both readings at most BOOKS_P99_GOAL. On a noisy machine the two disagree (one pair's stall moves a p99
   * tenfold); a goal that one reading meets and the other misses is not met. Null (not judged) when the
   * offered rate was not reached: the runs then compare the proxy at its limit, not at the rate.
   */
  goalMet: boolean | null;
}

/** The books' size per day for a fleet, from the measured bytes per row of one store. */
export interface BooksSizePerDay {
  store: LedgerCommitResult['store'];
  devices: number;
  /** Shares sent to the pool per device per minute (the rows of `shares`). */
  poolSharesPerDeviceMinute: number;
  /** One `worker_minutes` row per device per minute. */
  bytesPerDay: number;
}

export interface BooksSummary {
  /** The commit measurements: SQLite, then PostgreSQL when it was measured. */
  commits: LedgerCommitResult[];
  /** PostgreSQL's server settings, or why it was not measured. */
  postgres: BooksPhaseResult['postgres'];
  pairs: number;
  rates: BooksRateSummary[];
  /** Share rows in each ledger-on run's file (proof the books were written). */
  ledgerShareRows: (number | null)[];
  sizePerDay: BooksSizePerDay[];
  loadavg: BooksPhaseResult['loadavg'];
}

/** Device counts and pool shares per device-minute of the size-per-day figures (12: the vardiff target rate, every device share forwarded). */
export const BOOKS_SIZE_FLEETS = [1_000, 10_000] as const;
export const BOOKS_POOL_SHARES_PER_DEVICE_MINUTE = [12, 1] as const;

/** The issue's goal for the books: they must not move the share path's forwarding p99 by more than 10%. */
export const BOOKS_P99_GOAL = 1.1;

/** An offered rate counts as reached when the proxy validated at least this share of it (with the ledger on and off). */
export const BOOKS_RATE_REACHED = 0.98;

/** Bytes per day: each device's pool shares as rows of `shares`, and one `worker_minutes` row a minute. */
export function booksBytesPerDay(devices: number, poolSharesPerDeviceMinute: number, bytesPerShareRow: number, bytesPerMinuteRow: number): number {
  return Math.round(devices * 1440 * (poolSharesPerDeviceMinute * bytesPerShareRow + bytesPerMinuteRow));
}

export function summarizeBooks(r: BooksPhaseResult): BooksSummary {
  const rates = [...new Set(r.shareRuns.flatMap((x) => x.phase.steps.map((s) => s.offeredPerSecond)))].filter((x): x is number => x !== null);
  const stepOf = (ledger: 'off' | 'on', pair: number, rate: number) =>
    r.shareRuns.find((x) => x.ledger === ledger && x.pair === pair)?.phase.steps.find((s) => s.offeredPerSecond === rate) ?? null;
  const pairNumbers = [...new Set(r.shareRuns.map((x) => x.pair))];
  const within = (x: number | null) => (x === null ? null : x <= BOOKS_P99_GOAL);
  const summaries = rates.map((rate): BooksRateSummary => {
    // Complete pairs only: a run whose partner failed is left out of both sides.
    const pairs = pairNumbers.map((pair) => ({ off: stepOf('off', pair, rate), on: stepOf('on', pair, rate) })).filter((p): p is { off: ShareStep; on: ShareStep } => p.off !== null && p.on !== null);
    const pick = (side: 'off' | 'on', f: (s: ShareStep) => number | null, digits = 3) => figure(pairs.map((p) => f(p[side])), digits);
    const validatedOff = pick('off', (s) => s.validatedPerSecond, 0);
    const validatedOn = pick('on', (s) => s.validatedPerSecond, 0);
    const reachedPerSecond = validatedOff.median === null || validatedOn.median === null ? null : Math.min(validatedOff.median, validatedOn.median);
    const forwardP99Off = pick('off', (s) => s.forwardMs.p99);
    const forwardP99On = pick('on', (s) => s.forwardMs.p99);
    const p99OnToOff = figure(pairs.map((p) => ratio(p.on.forwardMs.p99, p.off.forwardMs.p99)));
    const p99MediansOnToOff = round(ratio(forwardP99On.median, forwardP99Off.median), 2);
    const readings = [within(p99OnToOff.median), within(p99MediansOnToOff)];
    const reached = reachedPerSecond === null ? null : reachedPerSecond >= BOOKS_RATE_REACHED * rate;
    return {
      offeredPerSecond: rate,
      pairs: pairs.length,
      validatedOff,
      validatedOn,
      reachedPerSecond,
      reached,
      forwardP50Off: pick('off', (s) => s.forwardMs.p50),
      forwardP50On: pick('on', (s) => s.forwardMs.p50),
      forwardP99Off,
      forwardP99On,
      p99OnToOff,
      p99MediansOnToOff,
      goalMet: reached !== true || readings.includes(null) ? null : readings.every(Boolean),
    };
  });
  const sizePerDay = r.commits.flatMap((c) => {
    const shareRow = c.tables.shares.bytesPerRow;
    const minuteRow = c.tables.workerMinutes.bytesPerRow;
    if (shareRow === null || minuteRow === null) return [];
    return BOOKS_POOL_SHARES_PER_DEVICE_MINUTE.flatMap((perMinute) =>
      BOOKS_SIZE_FLEETS.map((devices) => ({ store: c.store, devices, poolSharesPerDeviceMinute: perMinute, bytesPerDay: booksBytesPerDay(devices, perMinute, shareRow, minuteRow) })),
    );
  });
  return {
    commits: r.commits,
    postgres: r.postgres,
    pairs: pairNumbers.length,
    rates: summaries,
    ledgerShareRows: r.shareRuns.filter((x) => x.ledger === 'on').map((x) => x.ledgerShareRows),
    sizePerDay,
    loadavg: r.loadavg,
  };
}

export interface Goal {
  goal: string;
  target: string;
  measured: string;
  met: boolean | null;
}

const fmt = (x: number | null | undefined, digits = 2, unit = '') => (x === null || x === undefined ? 'n/a' : `${Number(x.toFixed(digits))}${unit}`);

export function readGoals(sizes: SizeSummary[], shares: SharesSummary | null, books: BooksSummary | null = null, scaling: ShareScaling[] = []): Goal[] {
  const goals: Goal[] = [];
  // Memory per device: the one-process proxy (the issue's goal is set at one worker).
  const measuredSizes = sizes.filter((s) => s.workers === 1 && s.own.kibPerDevice.median !== null);
  if (measuredSizes.length) {
    const worst = Math.max(...measuredSizes.map((s) => Math.max(s.own.kibPerDevice.median ?? 0, s.own.kibPerDeviceAfterJobs.median ?? 0)));
    const largest = measuredSizes[measuredSizes.length - 1]!;
    const perSize = measuredSizes
      .map((s) => `${s.devices / 1000}k ${fmt(s.own.kibPerDevice.median)}/${fmt(s.own.kibPerDeviceAfterJobs.median)}${s.floor ? ` (floor ${fmt(s.floor.kibPerDevice.median)})` : ''}`)
      .join(', ');
    goals.push({
      goal: `proxy memory per device, KiB after connect/after jobs, every size up to ${largest.devices.toLocaleString('en-US')}`,
      target: '<= 6 KiB (ckpool 5.95)',
      measured: `worst ${fmt(worst)}: ${perSize}`,
      met: worst <= 6,
    });
  }
  const tenK = sizes.find((s) => s.devices === 10_000 && s.workers === 1);
  if (tenK) {
    const p99 = tenK.own.p99ms.median;
    const crossCheck = tenK.yardstick ? `; fanout-bench.js ${fmt(tenK.yardstick.p99ms.median, 1, ' ms')}` : '';
    goals.push({ goal: 'fan-out p99 at 10,000 devices', target: '< 154 ms (ckpool)', measured: `${fmt(p99, 1, ' ms')}${crossCheck}`, met: p99 === null ? null : p99 < 154 });
    if (tenK.floor) {
      const r = tenK.p99ToFloor.median;
      goals.push({ goal: 'fan-out p99 at 10,000 devices / relay floor p99 (fanout-bench.js, same repeat)', target: '<= 1.5x (ckpool: 154/75 = 2.05x)', measured: fmt(r, 2, 'x'), met: r === null ? null : r <= 1.5 });
    }
  }
  if (shares) {
    const r = shares.best.ratioToRawX11;
    goals.push({
      goal: 'validated shares/s / raw X11 hashes/s (one core)',
      target: '>= 0.85',
      measured: `${fmt(r, 3)} wall clock; ${fmt(shares.best.cpuRatioToRawX11, 3)} per proxy CPU second`,
      met: r === null ? null : r >= 0.85,
    });
    const at2000 = shares.rates.find((x) => x.offeredPerSecond === 2000);
    if (at2000) {
      const p99 = at2000.forwardP99ms.median;
      goals.push({ goal: 'forwarding p99 at 2,000 shares/s', target: '< 2 ms', measured: fmt(p99, 3, ' ms'), met: p99 === null ? null : p99 < 2 });
    }
  }
  const one = scaling.find((x) => x.workers === 1);
  const two = scaling.find((x) => x.workers === 2);
  if (one && two) {
    goals.push({
      goal: 'validated shares/s with 2 workers / with 1 (2 cores, the load generator on the same cores)',
      target: `>= ${TWO_WORKER_SPEEDUP_GOAL}x`,
      measured: `${fmt(two.speedup, 2, 'x')}: ${fmt(two.bestValidatedPerSecond, 0)} / ${fmt(one.bestValidatedPerSecond, 0)}; load generator ${fmt(two.loadGeneratorCoresBusy, 2)} / ${fmt(one.loadGeneratorCoresBusy, 2)} cores`,
      met: two.speedup === null ? null : two.speedup >= TWO_WORKER_SPEEDUP_GOAL,
    });
  }
  for (const r of books?.rates ?? []) {
    const at = r.reached === false ? ` (offered ${r.offeredPerSecond.toLocaleString('en-US')}/s, reached ${r.reachedPerSecond?.toLocaleString('en-US') ?? 'n/a'}/s)` : '';
    goals.push({
      goal: `forwarding p99 with the ledger on / off at ${r.offeredPerSecond.toLocaleString('en-US')} shares/s${at}, median of ${r.pairs} pair(s)`,
      target: `<= ${BOOKS_P99_GOAL}x`,
      measured: `pair ratios ${fmt(r.p99OnToOff.median, 2, 'x')} at the median; medians ${fmt(r.forwardP99On.median, 2, ' ms')} / ${fmt(r.forwardP99Off.median, 2, ' ms')} = ${fmt(r.p99MediansOnToOff, 2, 'x')}`,
      met: r.goalMet,
    });
  }
  return goals;
}

export interface Extrapolation {
  devices: number;
  basis: string;
  processes: number;
  devicesPerProcess: number;
  memoryMiB: number | null;
  memoryPerProcessMiB: number | null;
  shareRatePerSecond: number;
  shareCores: number | null;
  fanoutCpuSecondsPerJob: number | null;
  openFilesPerProcess: number;
}

/**
 * 100,000 devices on one host, from the per-device figures of the largest measured size: several proxy
 * processes of at most `devicesPerProcess` devices each (this machine's open-files limit), each with its
 * own baseline memory; shares at the vardiff target rate (12 per device per minute by default).
 */
export function extrapolate(sizes: SizeSummary[], shares: SharesSummary | null, devicesPerProcess: number, devices = 100_000, sharesPerMinute = 12): Extrapolation | null {
  const largest = [...sizes].reverse().find((s) => s.own.kibPerDeviceAfterJobs.median !== null || s.own.kibPerDevice.median !== null);
  if (!largest) return null;
  const perDeviceKiB = Math.max(largest.own.kibPerDevice.median ?? 0, largest.own.kibPerDeviceAfterJobs.median ?? 0);
  const baseline = largest.own.rssAfterKiB.median !== null && largest.own.kibPerDevice.median !== null ? largest.own.rssAfterKiB.median - largest.own.kibPerDevice.median * largest.devices : null;
  const processes = Math.ceil(devices / devicesPerProcess);
  const perProcessDevices = Math.ceil(devices / processes);
  const perProcessKiB = baseline === null ? null : baseline + perDeviceKiB * perProcessDevices;
  const shareRate = (devices * sharesPerMinute) / 60;
  const at = shares?.rates.find((r) => r.offeredPerSecond === 2000) ?? shares?.rates[0];
  const cpuPer1000 = at?.proxyCpuPer1000.median ?? null;
  const fanoutPerJob = largest.own.proxySecFanoutPerJob.median;
  return {
    devices,
    basis: `${largest.devices.toLocaleString('en-US')}-device runs (memory), ${at ? `${at.offeredPerSecond ?? 'max'}/s share runs` : 'no share runs'} (CPU)`,
    processes,
    devicesPerProcess: perProcessDevices,
    memoryMiB: perProcessKiB === null ? null : round((perProcessKiB * processes) / 1024, 0),
    memoryPerProcessMiB: perProcessKiB === null ? null : round(perProcessKiB / 1024, 0),
    shareRatePerSecond: round(shareRate, 0)!,
    shareCores: cpuPer1000 === null ? null : round((shareRate / 1000) * cpuPer1000, 2),
    fanoutCpuSecondsPerJob: fanoutPerJob === null ? null : round((fanoutPerJob / largest.devices) * devices, 3),
    openFilesPerProcess: perProcessDevices + 200,
  };
}
