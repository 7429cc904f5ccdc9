import t from 'tap';
import { everyShareAnswered, flatness, judgedWindow, restartsSeen, rssFlatness, type ShareAccount } from '../../src/bench/soak-figures.js';

/** The soak's conclusions from its readings (pure): memory flatness, restarts, the share account. */

t.test('the judged window: the last hour of a long soak, the second half of a short one', async (t) => {
  t.same(judgedWindow(7200), [3600, 7200], '2 h: the last hour');
  t.same(judgedWindow(600), [300, 600], '10 min: the second half');
  t.same(judgedWindow(10_800), [7200, 10_800], '3 h: still the last hour');
});

t.test('flatness: drift between the first and last tenth of the window, slope per hour, min and max', async (t) => {
  // 20 readings, 100 s apart, over [1000, 2900]: flat at 100,000 KiB except the last two at 104,000.
  const series = Array.from({ length: 20 }, (_, i) => ({ at: 1000 + i * 100, kib: i >= 18 ? 104_000 : 100_000 }));
  const f = flatness([{ at: 0, kib: 1 }, ...series], [1000, 2900])!;
  t.equal(f.samples, 20, 'readings before the window are left out');
  t.equal(f.startKiB, 100_000, 'first tenth: the first 2 readings');
  t.equal(f.endKiB, 104_000, 'last tenth: the last 2 readings');
  t.equal(f.drift, 0.04, '+4 %');
  t.equal(f.flat, true, 'within 5 %');
  t.equal(f.minKiB, 100_000);
  t.equal(f.maxKiB, 104_000);
  t.ok(f.slopePerHour > 0, 'growing at the end: a positive slope');

  const growing = Array.from({ length: 20 }, (_, i) => ({ at: i * 100, kib: 100_000 + i * 1000 }));
  const g = flatness(growing, [0, 1900])!;
  t.equal(g.drift, 0.1791, 'first tenth 100,500, last tenth 118,500: +17.91 %');
  t.equal(g.flat, false, 'not flat');
  // 1,000 KiB per 100 s = 36,000 KiB per hour over a mean of 109,500.
  t.equal(g.slopePerHour, Math.round((36_000 / 109_500) * 10_000) / 10_000, 'least-squares slope as a fraction of the mean per hour');
  t.equal(flatness(growing, [5000, 6000]), null, 'no readings in the window: no figure');
});

t.test('rssFlatness: the total over every process, and each process', async (t) => {
  const samples = [0, 1, 2, 3].map((i) => ({ at: i * 10, kib: { primary: 50_000, 'worker 0': 60_000 + i * 10_000, ...(i < 3 ? { 'worker 1': 60_000 } : {}) } }));
  const r = rssFlatness(samples, [0, 30]);
  t.same(Object.keys(r.byProcess).sort(), ['primary', 'worker 0', 'worker 1']);
  t.equal(r.byProcess.primary!.drift, 0, 'the primary is flat');
  t.equal(r.byProcess['worker 0']!.drift, 0.5, 'worker 0 grew 60,000 -> 90,000');
  t.equal(r.byProcess['worker 1']!.samples, 3, 'a process missing from a reading is judged on the readings it is in');
  t.equal(r.total!.startKiB, 170_000, 'the total sums every process of a reading');
  t.equal(r.total!.endKiB, 140_000, 'the last reading: worker 1 gone');
});

t.test('restarts: a changed PID or a grown restart count, per worker', async (t) => {
  const first = [{ worker: 0, pid: 10, restarts: 0 }, { worker: 1, pid: 11, restarts: 0 }];
  t.same(restartsSeen(first, first), [], 'the same processes: none');
  t.same(restartsSeen(first, [{ worker: 0, pid: 10, restarts: 0 }, { worker: 1, pid: 12, restarts: 1 }]), [{ worker: 1, pids: [11, 12], restarts: 1 }], 'worker 1 came back with a new PID');
  t.same(restartsSeen(first, [{ worker: 0, pid: 10, restarts: 2 }]), [{ worker: 0, pids: [10, 10], restarts: 2 }], 'restarts counted even when the PID reads the same');
});

t.test('every forwarded share answered: the pool against the proxy', async (t) => {
  const ok: ShareAccount = { poolReceived: 100, poolAccepted: 98, poolRejected: 2, proxyForwarded: 100, proxyPoolAccepted: 98, proxyPoolRejected: 2, proxyPoolUnanswered: 0, proxyInFlight: 0 };
  t.same(everyShareAnswered(ok), { ok: true, problems: [] });
  const lost = everyShareAnswered({ ...ok, poolReceived: 99, poolAccepted: 97, proxyPoolUnanswered: 1 });
  t.equal(lost.ok, false);
  t.same(lost.problems, ['the proxy forwarded 100 shares, the pool received 99', 'the proxy counts 98 accepted by the pool, the pool 97', '1 forwarded shares got no answer']);
  t.same(everyShareAnswered({ ...ok, proxyInFlight: 3 }).problems, ['3 still waiting for the pool at the end']);
});
