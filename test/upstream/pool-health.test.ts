import t from 'tap';
import { POOL_HEALTH_DEFAULTS, PoolHealth } from '../../src/upstream/pool-health.js';
import { notifyParams } from '../helpers/scripted-pool.js';

/** The judge of a pool session's jobs, on a hand-driven clock: no sockets, no timers. */

const START_MS = 0x6b0187b1 * 1000;

function judgeAt(options: ConstructorParameters<typeof PoolHealth>[0] = {}) {
  const clock = { ms: START_MS };
  const health = new PoolHealth(options, () => clock.ms);
  return { clock, health };
}

const good = (id = 'g') => notifyParams(id);
const badNbits = (id = 'b') => {
  const p = notifyParams(id);
  p[6] = '00000000';
  return p;
};
const unparsable = ['9'];
const farNtime = () => {
  const p = notifyParams('f');
  p[7] = (START_MS / 1000 + 3 * 3600).toString(16);
  return p;
};

t.test('defaults: 5 unusable jobs in a row, 30 s for the first usable job', async (t) => {
  t.same(POOL_HEALTH_DEFAULTS, { maxBadJobsInARow: 5, firstJobTimeoutMs: 30_000 });
  const { health } = judgeAt();
  for (let i = 1; i <= 4; i++) t.match(health.judge(badNbits(), 1), { usable: false, inARow: i, fault: null });
  t.match(health.judge(badNbits(), 1), { usable: false, inARow: 5, fault: /^5 unusable jobs in a row/ });
  health.sessionReady();
  t.equal(health.firstJobWaitLeftMs(), 30_000);
});

t.test('a usable job: decoded, stamped with the clock', async (t) => {
  const { clock, health } = judgeAt();
  clock.ms += 1234;
  const v = health.judge(good('j7'), 0.5);
  t.ok(v.usable);
  if (!v.usable) return;
  t.equal(v.notify.jobId, 'j7');
  t.equal(v.networkTarget, 0x3fffc0n * 256n ** 26n);
  t.equal(v.receivedAt, START_MS + 1234);
  t.equal(health.refusedJobs, 0);
});

t.test('every reason comes back in words, with the count in a row', async (t) => {
  const { health } = judgeAt({ maxBadJobsInARow: 10 });
  t.same(health.judge(unparsable, 1), { usable: false, reason: 'mining.notify: expected 9 params, got 1', inARow: 1, fault: null });
  t.same(health.judge(badNbits(), 1), { usable: false, reason: 'mining.notify: nbits 00000000 encodes a zero target', inARow: 2, fault: null });
  const far = farNtime();
  t.same(health.judge(far, 1), { usable: false, reason: `mining.notify: ntime ${far[7] as string} is more than 2 h ahead of our clock`, inARow: 3, fault: null });
  t.same(health.judge(good(), 0), { usable: false, reason: 'pool difficulty 0 is not a positive number', inARow: 4, fault: null });
  t.equal(health.refusedJobs, 4);
});

t.test('the ntime check reads the injected clock', async (t) => {
  const { clock, health } = judgeAt();
  const far = farNtime();
  t.match(health.judge(far, 1), { usable: false });
  clock.ms += 2 * 3600 * 1000; // now the job is only 1 h ahead
  t.match(health.judge(far, 1), { usable: true });
});

t.test('unusable jobs in a row make a fault; the count starts again after it', async (t) => {
  const { health } = judgeAt({ maxBadJobsInARow: 3 });
  t.match(health.judge(badNbits(), 1), { inARow: 1, fault: null });
  t.match(health.judge(unparsable, 1), { inARow: 2, fault: null });
  const far = farNtime();
  t.same(health.judge(far, 1), {
    usable: false,
    reason: `mining.notify: ntime ${far[7] as string} is more than 2 h ahead of our clock`,
    inARow: 3,
    fault: `3 unusable jobs in a row (last: mining.notify: ntime ${far[7] as string} is more than 2 h ahead of our clock)`,
  });
  t.match(health.judge(badNbits(), 1), { inARow: 1, fault: null }, 'counted from zero after the fault');
  t.equal(health.refusedJobs, 4, 'the session total keeps counting');
});

t.test('a usable job between resets the count', async (t) => {
  const { health } = judgeAt({ maxBadJobsInARow: 3 });
  health.judge(badNbits(), 1);
  health.judge(badNbits(), 1);
  t.match(health.judge(good(), 1), { usable: true });
  t.match(health.judge(badNbits(), 1), { inARow: 1, fault: null });
  t.match(health.judge(badNbits(), 1), { inARow: 2, fault: null });
  t.match(health.judge(good(), 1), { usable: true });
  t.match(health.judge(badNbits(), 1), { inARow: 1, fault: null }, 'never three in a row: no fault');
});

t.test('first-job timeout: a fault once the session was ready that long without a usable job', async (t) => {
  const { clock, health } = judgeAt({ firstJobTimeoutMs: 1500 });
  t.equal(health.firstJobFault(), null, 'not ready yet: nothing is awaited');
  t.equal(health.firstJobWaitLeftMs(), null);
  health.judge(unparsable, 1);
  health.sessionReady();
  t.equal(health.firstJobWaitLeftMs(), 1500, 'the owner is told when to ask');
  clock.ms += 1499;
  t.equal(health.firstJobFault(), null, 'not yet');
  t.equal(health.firstJobWaitLeftMs(), 1, 'a timer that fired early is told to wait the rest');
  clock.ms += 1;
  t.equal(health.firstJobWaitLeftMs(), 0);
  t.equal(health.firstJobFault(), 'no usable job within 1.5 s of the connection being ready');
  clock.ms += 60_000;
  t.equal(health.firstJobWaitLeftMs(), 0, 'never negative');
  t.equal(health.firstJobFault(), 'no usable job within 1.5 s of the connection being ready');
});

t.test('first-job timeout: a usable job in time ends the wait', async (t) => {
  const { clock, health } = judgeAt({ firstJobTimeoutMs: 1000 });
  health.sessionReady();
  clock.ms += 500;
  t.equal(health.firstJobWaitLeftMs(), 500);
  health.judge(good(), 1);
  t.equal(health.firstJobWaitLeftMs(), null, 'nothing awaited any more');
  clock.ms += 5000;
  t.equal(health.firstJobFault(), null);
  health.judge(badNbits(), 1);
  t.equal(health.firstJobFault(), null, 'later refusals are counted in a row, not as a missing first job');
});

t.test('first-job timeout: a usable job before ready (buffered) means no wait at all', async (t) => {
  const { clock, health } = judgeAt({ firstJobTimeoutMs: 1000 });
  health.judge(good(), 1);
  health.sessionReady();
  t.equal(health.firstJobWaitLeftMs(), null);
  clock.ms += 10_000;
  t.equal(health.firstJobFault(), null);
});

// A reconnect is a new session with a new judge (one per pool connection): see upstream-slot.test.ts, where
// the count starts at 1 again and the first-job wait starts again after each reconnect.
