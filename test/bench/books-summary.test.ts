import t from 'tap';
import type { BooksPhaseResult, BooksShareRun } from '../../src/bench/books-phase.js';
import type { ShareStep } from '../../src/bench/share-phase.js';
import { readGoals, summarizeBooks } from '../../src/bench/summary.js';
import { booksLatencyTable, booksSizeTable } from '../../src/bench/table.js';

/**
 * The books' on/off figures folded over pairs, without running anything: medians over pairs, the goal
 * read as the median of each pair's own ratio and as the ratio of the medians, met only when both are, an
 * offered rate the proxy could not take named as such,
 * and PostgreSQL's absence carried through.
 */

function step(offeredPerSecond: number, validatedPerSecond: number, p50: number, p99: number): ShareStep {
  const latency = { p50, p99, max: p99 * 2, count: validatedPerSecond };
  return {
    mode: 'open', offeredPerSecond, seconds: 1, sentPerSecond: offeredPerSecond, validatedPerSecond, forwardedPerSecond: validatedPerSecond,
    rejected: 0, rejectReasons: {}, unanswered: 0, notForwarded: 0, forwardMs: latency, answerMs: latency, proxyCpuSeconds: 0.5, proxyCpuPer1000: 0.2,
    proxyCpuBusy: 0.5, loadCpuBusy: 0.3, loadElu: 0.3, loadLoopDelayP99Ms: 1, skippedAtCap: 0, proxyRssKiB: 80_000, ratioToRawX11: null, cpuRatioToRawX11: null,
  } as ShareStep;
}

/** [validated/s, forward p50 ms, forward p99 ms] of one step. */
type At = [number, number, number];

/** One share run: its steps at 2,000/s and at 10,000/s. */
function run(pair: number, ledger: 'on' | 'off', at2k: At, at10k: At): BooksShareRun {
  return {
    pair,
    ledger,
    ledgerShareRows: ledger === 'on' ? 12_000 : null,
    phase: { devices: 100, workers: 1, merkleBranch: 7, coinbaseBytes: 100, rawX11: null as never, steps: [step(2000, ...at2k), step(10_000, ...at10k)], bestValidatedPerSecond: 0, bestRatioToRawX11: null },
  };
}

/** The runs of pairs in order, each pair as [on at 2,000/s, off at 2,000/s, on at 10,000/s, off at 10,000/s]. */
function pairRuns(pairs: [At, At, At, At][]): BooksShareRun[] {
  return pairs.flatMap(([on2k, off2k, on10k, off10k], i) => [run(i + 1, 'on', on2k, on10k), run(i + 1, 'off', off2k, off10k)]);
}

const result: BooksPhaseResult = {
  commits: [],
  postgres: { missing: 'no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql)' },
  // p99 at 2,000/s: on 2, 9, 3 against off 2, 3, 1: pair ratios 1, 3, 3; medians 3 and 2.
  // At 10,000/s the proxy validated about 8,000/s: not the rate offered.
  shareRuns: pairRuns([
    [[2000, 0.3, 2], [2000, 0.3, 2], [8000, 30, 100], [8100, 30, 100]],
    [[1999, 0.4, 9], [2001, 0.3, 3], [7900, 40, 110], [8000, 35, 120]],
    [[2000, 0.3, 3], [2000, 0.3, 1], [8050, 30, 90], [8200, 30, 100]],
  ]),
  errors: [],
  loadavg: { start: [1, 2, 3], end: [1.5, 2, 3] },
};

t.test('medians over pairs, the ratio per pair, the rate reached', async (t) => {
  const b = summarizeBooks(result);
  t.equal(b.pairs, 3);
  const [at2k, at10k] = b.rates;
  t.equal(at2k!.offeredPerSecond, 2000);
  t.same([at2k!.forwardP99On.median, at2k!.forwardP99On.range], [3, [2, 9]], 'on p99: median and range over pairs');
  t.same([at2k!.forwardP99Off.median, at2k!.forwardP99Off.range], [2, [1, 3]], 'off p99: median and range over pairs');
  t.same([at2k!.p99OnToOff.median, at2k!.p99OnToOff.range], [3, [1, 3]], 'the median of the pair ratios 1, 3, 3');
  t.equal(at2k!.p99MediansOnToOff, 1.5, 'the ratio of the medians, 3 / 2, beside it');
  t.equal(at2k!.goalMet, false, 'both readings above 1.1: not met');
  t.equal(at2k!.reached, true, '2,000/s: validated within 2% on and off');
  t.equal(at2k!.reachedPerSecond, 2000);

  t.equal(at10k!.reached, false, '10,000/s: the proxy took about 8,000/s');
  t.equal(at10k!.reachedPerSecond, 8000, 'the lower of the on and off medians');
  t.same(at10k!.p99OnToOff.median, 0.92, 'pair ratios 1, 0.92, 0.9: median 0.92');
  t.equal(at10k!.goalMet, null, 'both readings at most 1.1, but at a rate not reached: not judged');
  t.same(b.ledgerShareRows, [12_000, 12_000, 12_000]);
  t.same(b.postgres, result.postgres, 'PostgreSQL missing: the reason is kept');
  t.same(b.sizePerDay, [], 'no commit measurement: no size per day');
  t.same(b.loadavg, result.loadavg);

  const goals = readGoals([], null, b);
  t.same(
    goals.map((g) => [g.goal, g.measured, g.met]),
    [
      ['forwarding p99 with the ledger on / off at 2,000 shares/s, median of 3 pair(s)', 'pair ratios 3x at the median; medians 3 ms / 2 ms = 1.5x', false],
      ['forwarding p99 with the ledger on / off at 10,000 shares/s (offered 10,000/s, reached 8,000/s), median of 3 pair(s)', 'pair ratios 0.92x at the median; medians 100 ms / 100 ms = 1x', null],
    ],
    'a goal per rate, the unreached one saying what was reached',
  );

  const table = booksLatencyTable(b);
  t.match(table, /\| 2,000 +\| +yes \| 2,000 \(1,999–2,000\) \| 2,000 \(2,000–2,001\) \|/, '2,000/s reached: validated on and off, medians with their range');
  t.match(table, /\| 10,000 +\| no: 8,000\/s \|/, '10,000/s: not reached, and what was');
  t.match(table, /\| +3 \(1–3\) \| +1\.5 \| +no \|/, 'the pair ratios with their range, the ratio of the medians, the goal');
  t.match(table, /\| +0\.92 \(0\.9–1\) \| +1 \| not judged \|/, 'not judged where the rate was not reached');
  t.equal(booksSizeTable(b).split('\n').length, 2, 'the size table: its header alone');
});

t.test('the two readings disagree: the goal is not met', async (t) => {
  // At 2,000/s: pair ratios 0.5, 0.5, 10 (median 0.5, met) but medians 4 ms / 2 ms = 2x (not met).
  const at10k: At = [8000, 30, 100];
  const runs = pairRuns([
    [[2000, 0.3, 1], [2000, 0.3, 2], at10k, at10k],
    [[2000, 0.3, 4], [2000, 0.3, 8], at10k, at10k],
    [[2000, 0.3, 10], [2000, 0.3, 1], at10k, at10k],
  ]);
  const at2k = summarizeBooks({ ...result, shareRuns: runs }).rates[0]!;
  t.equal(at2k.p99OnToOff.median, 0.5, 'the median pair ratio alone would meet it');
  t.equal(at2k.p99MediansOnToOff, 2, 'the ratio of the medians does not');
  t.equal(at2k.goalMet, false, 'so it is not met');
});

t.test('both readings within 1.1 at a rate reached: met', async (t) => {
  const runs = pairRuns([
    [[2000, 0.3, 2.2], [2000, 0.3, 2], [10_000, 1, 20], [10_000, 1, 20]],
    [[2000, 0.3, 3], [2000, 0.3, 3], [9900, 1, 30], [9900, 1, 25]],
  ]);
  const [at2k, at10k] = summarizeBooks({ ...result, shareRuns: runs }).rates;
  t.same([at2k!.p99OnToOff.median, at2k!.p99MediansOnToOff, at2k!.goalMet], [1.05, 1.04, true], '2,000/s: pair ratios 1.1 and 1 (median 1.05), medians 2.6 / 2.5 = 1.04: met');
  t.same([at10k!.reached, at10k!.p99OnToOff.median, at10k!.p99MediansOnToOff, at10k!.goalMet], [true, 1.1, 1.11, false], '10,000/s reached; 1.1 and 1.11: not met');
});

t.test('a pair with a run missing is left out of both sides', async (t) => {
  const b = summarizeBooks({ ...result, shareRuns: result.shareRuns.filter((r) => !(r.pair === 2 && r.ledger === 'off')) });
  const at2k = b.rates[0]!;
  t.equal(at2k.pairs, 2, 'two complete pairs');
  t.same(at2k.p99OnToOff.range, [1, 3], 'ratios of pairs 1 and 3 only');
  t.equal(at2k.p99OnToOff.median, 2);
  t.same(at2k.forwardP99On.range, [2, 3], 'the on runs of pairs 1 and 3: the lone one left out');
  t.same(at2k.forwardP99Off.range, [1, 2]);
});
