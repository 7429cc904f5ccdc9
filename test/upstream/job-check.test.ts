import t from 'tap';
import { checkJob, MAX_JOB_NTIME_AHEAD_S, networkTargetOf } from '../../src/upstream/job-check.js';
import { notifyParams } from '../helpers/scripted-pool.js';

/**
 * Every reason a pool's job cannot be mined, as a value (never an exception). Expected targets are written
 * out from the compact-nBits rule (mantissa * 256^(exponent - 3)), not computed with the code under test.
 */

const NOW_MS = 0x6b0187b1 * 1000; // the clock at the ntime of notifyParams()

const withField = (i: number, value: unknown): unknown[] => {
  const p = notifyParams('j1');
  p[i] = value;
  return p;
};

t.test('a usable job: the notify checked and its network target decoded', async (t) => {
  const r = checkJob(notifyParams('j1'), 0.5, NOW_MS);
  t.ok(r.ok);
  if (!r.ok) return;
  t.equal(r.value.notify.jobId, 'j1');
  t.equal(r.value.notify.nbits, '1d3fffc0');
  t.equal(r.value.networkTarget, 0x3fffc0n * 256n ** (0x1dn - 3n), 'nBits 1d3fffc0 decoded');
});

t.test('a notify that does not parse: the parser names the field', async (t) => {
  t.same(checkJob(withField(1, 'abcd'), 1, NOW_MS), { ok: false, reason: 'mining.notify: prevhash (param 2) must be 64 hex digits' });
  t.same(checkJob(['9'], 1, NOW_MS), { ok: false, reason: 'mining.notify: expected 9 params, got 1' });
  t.same(checkJob(withField(8, 'yes'), 1, NOW_MS), { ok: false, reason: 'mining.notify: clean_jobs (param 9) must be true or false' });
});

t.test('an nBits with no valid target: negative, overflowing, zero', async (t) => {
  t.same(checkJob(withField(6, '1d800000'), 1, NOW_MS), { ok: false, reason: 'mining.notify: nbits 1d800000 is negative' });
  t.same(networkTargetOf('22010000'), { ok: false, reason: 'mining.notify: nbits 22010000 overflows 256 bits' });
  t.same(networkTargetOf('00000000'), { ok: false, reason: 'mining.notify: nbits 00000000 encodes a zero target' });
  t.same(networkTargetOf('01003456'), { ok: false, reason: 'mining.notify: nbits 01003456 encodes a zero target' }, 'a mantissa shifted out entirely');
  // Formerly asserted on JobRegistry.add: the same reasons, now a value from the upstream.
  t.match(networkTargetOf('1d800000'), { ok: false, reason: /nbits 1d800000.*negative/ });
  t.match(networkTargetOf('00000000'), { ok: false, reason: /zero target/ });
  t.same(networkTargetOf('1b0404cb'), { ok: true, value: 0x0404cbn * 256n ** 24n });
  t.same(networkTargetOf('03123456'), { ok: true, value: 0x123456n }, 'exponent 3: the mantissa as is');
});

t.test('an ntime more than 2 h ahead of our clock', async (t) => {
  const nowS = NOW_MS / 1000;
  const at = (s: number) => checkJob(withField(7, s.toString(16).padStart(8, '0')), 1, NOW_MS);
  t.equal(MAX_JOB_NTIME_AHEAD_S, 7200);
  t.ok(at(nowS + 7200).ok, 'exactly 2 h ahead is still usable');
  t.ok(at(nowS - 86_400).ok, 'an old ntime is the pool\'s business (shares are checked against it)');
  const ahead = (nowS + 7201).toString(16);
  t.same(at(nowS + 7201), { ok: false, reason: `mining.notify: ntime ${ahead} is more than 2 h ahead of our clock` });
});

t.test('a pool difficulty that is not a positive number', async (t) => {
  for (const d of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.same(checkJob(notifyParams('j1'), d, NOW_MS), { ok: false, reason: `pool difficulty ${d} is not a positive number` }, String(d));
  }
  t.ok(checkJob(notifyParams('j1'), 2 ** -24, NOW_MS).ok, 'a tiny difficulty is fine');
});

t.test('the first reason wins, in the order parse, nBits, ntime, difficulty', async (t) => {
  const p = withField(6, '00000000');
  p[7] = 'ffffffff';
  t.same(checkJob(p, 0, NOW_MS), { ok: false, reason: 'mining.notify: nbits 00000000 encodes a zero target' });
  t.same(checkJob(withField(7, 'ffffffff'), 0, NOW_MS), { ok: false, reason: 'mining.notify: ntime ffffffff is more than 2 h ahead of our clock' });
});
