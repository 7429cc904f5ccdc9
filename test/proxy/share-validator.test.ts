import { createHash } from 'node:crypto';
import t, { type Test } from 'tap';
import { u32Hex } from '../../src/chain/bytes.js';
import { initialTarget, retarget, type DeviceTarget } from '../../src/proxy/device-target.js';
import type { Job } from '../../src/proxy/job.js';
import { displayHash } from '../../src/chain/bytes.js';
import { formatDifficulty } from '../../src/util/format.js';
import { ShareValidator, type DeviceWork, type ShareOutcome } from '../../src/proxy/share-validator.js';
import { StratumError } from '../../src/stratum/errors.js';
import type { NotifyParams, SubmitParams } from '../../src/stratum/messages.js';
import { cutCoinbase, loadBlocks } from '../helpers/fixtures.js';
import { device, hasher, jobOf, lookupOf, validator } from '../helpers/share-kit.js';

/**
 * Every path of ShareValidator, on a real Dash block (mainnet 2045354: type-5 coinbase, 30 transactions, a
 * merkle branch of 5) cut into coinb1 | extranonce1 (4 B) | extranonce2 (4 B) | coinb2. Expected headers,
 * hashes and difficulties are computed here independently: node:crypto for sha256d, the real X11 backend, and
 * BigInt for the difficulty.
 */
const block = loadBlocks().find((b) => b.id === 'dash-mainnet-2045354')!;
const s = block.stratum;
const cut = cutCoinbase(block, 4, 4);
const EN1 = cut.extranonce1;
const NTIME = parseInt(s.ntime, 16);
const NOW_MS = NTIME * 1000; // the validator's clock: the job's own time
const REAL_NONCE = s.nonce;

const sha256d = (b: Buffer) => createHash('sha256').update(createHash('sha256').update(b).digest()).digest();

function notifyOf(jobId: string, over: Partial<NotifyParams> = {}): NotifyParams {
  return { jobId, prevhash: s.prevhash, coinb1: cut.coinb1, coinb2: cut.coinb2, merkleBranch: s.merkle_branch, version: s.version, nbits: s.nbits, ntime: s.ntime, cleanJobs: true, ...over };
}

/** The 80-byte header, built here without the code under test. */
function expectedHeader(f: { en1?: string; en2?: string; ntime?: number; nonce: string; version?: number; nbits?: string }): Buffer {
  let root = sha256d(Buffer.from(cut.coinb1 + (f.en1 ?? EN1) + (f.en2 ?? cut.extranonce2) + cut.coinb2, 'hex'));
  for (const b of s.merkle_branch) root = sha256d(Buffer.concat([root, Buffer.from(b, 'hex')]));
  const stratumPrev = Buffer.from(s.prevhash, 'hex');
  const h = Buffer.alloc(80);
  h.writeUInt32LE(f.version ?? parseInt(s.version, 16), 0);
  for (let i = 0; i < 8; i++) h.writeUInt32LE(stratumPrev.readUInt32BE(4 * i), 4 + 4 * i);
  root.copy(h, 36);
  h.writeUInt32LE(f.ntime ?? NTIME, 68);
  h.writeUInt32LE(parseInt(f.nbits ?? s.nbits, 16), 72);
  h.writeUInt32LE(parseInt(f.nonce, 16), 76);
  return h;
}

/** diff1 / hash, with the hash read as a little-endian 256-bit number. */
function difficultyOf(hash: Buffer): number {
  return (0xffff * 2 ** 208) / Number(BigInt('0x' + Buffer.from(hash).reverse().toString('hex')));
}

/** X11 of a header: share difficulty and display hash. */
function judge(header: Buffer) {
  const hash = Buffer.from(hasher.hash(header));
  return { hash, display: Buffer.from(hash).reverse().toString('hex'), difficulty: difficultyOf(hash) };
}

const submitOf = (over: Partial<SubmitParams> = {}): SubmitParams => ({ worker: 'rig01', jobId: 'j1', extranonce2: cut.extranonce2, ntime: s.ntime, nonce: REAL_NONCE, ...over });

function rejected(t: Test, out: ShareOutcome, code: number, message: string, reason: string) {
  if (out.ok) return t.fail(`expected ${code} "${message}", the share was accepted`);
  t.ok(out.error instanceof StratumError);
  t.equal(out.error.code, code, `code ${code}`);
  t.equal(out.error.message, message);
  t.equal(out.reason, reason);
}

/** A nonce whose share is no block: the real nonce with its low bit flipped, and its independent figures. */
const OTHER_NONCE = u32Hex(parseInt(REAL_NONCE, 16) ^ 1);
const other = judge(expectedHeader({ nonce: OTHER_NONCE }));
/** The difficulty that nonce achieves (some 1e-10 or so: a random hash). */
const S = other.difficulty;

t.test('the independent header builder reproduces the real block', async (t) => {
  const h = expectedHeader({ nonce: REAL_NONCE });
  t.equal(h.toString('hex'), block.header_hex);
  t.equal(judge(h).display, block.hash);
  t.ok(S > 0 && S < 1, `the other nonce's share difficulty is small (${S})`);
});

t.test('a real block share: accepted, byte-exact, a block candidate', async (t) => {
  const job = jobOf(notifyOf('j1'), EN1, 1000, NOW_MS);
  const out = validator({ now: () => NOW_MS }).validate(submitOf(), device(EN1, 4, 1), lookupOf([job]));
  if (!out.ok) return t.fail(out.error.message);
  t.equal(out.header.toString('hex'), block.header_hex);
  t.equal(displayHash(out.hash), block.hash);
  t.equal(out.meetsPool, true);
  t.equal(out.meetsNetwork, true, 'meets the network target: a block');
  t.equal(out.creditedDifficulty, 1, 'credited with the device difficulty');
  t.ok(Math.abs(out.shareDifficulty - judge(out.header).difficulty) / out.shareDifficulty < 1e-12, 'share difficulty');
  t.ok(out.shareDifficulty >= job.networkDifficulty);
  t.same([out.extranonce2, out.ntime, out.nonce, out.versionBits], [cut.extranonce2, s.ntime, REAL_NONCE, undefined]);
  t.equal(out.job, job);
});

t.test('the rejections come in the documented order', async (t) => {
  const job = jobOf(notifyOf('j1'), EN1, 1000, NOW_MS);
  const v = validator({ now: () => NOW_MS });
  const dev = device(EN1, 4, 1e-12, 0);
  const lookup = lookupOf([job]);
  // Everything wrong at once; fix one field at a time and watch the next check speak.
  let sub = submitOf({ extranonce2: 'zz', jobId: 'nope', ntime: 'xx', nonce: 'yy', versionBits: 'qq' });
  rejected(t, v.validate(sub, dev, lookup), 20, 'Invalid extranonce2: expected 8 hex digits (4 bytes)', 'invalid');
  sub = { ...sub, extranonce2: cut.extranonce2 };
  rejected(t, v.validate(sub, dev, lookup), 21, 'Job not found', 'stale');
  rejected(t, v.validate({ ...sub, jobId: 'j1' }, dev, lookupOf([job], ['j1'])), 21, 'Stale job: superseded by a clean job', 'stale');
  sub = { ...sub, jobId: 'j1' };
  rejected(t, v.validate(sub, dev, lookup), 20, 'Invalid ntime: expected 8 hex digits', 'invalid');
  sub = { ...sub, ntime: s.ntime };
  rejected(t, v.validate(sub, dev, lookup), 20, 'Invalid nonce: expected 8 hex digits', 'invalid');
  sub = { ...sub, nonce: OTHER_NONCE };
  rejected(t, v.validate(sub, dev, lookup), 20, 'Invalid version bits: expected 8 hex digits', 'invalid');
  sub = { ...sub, versionBits: '00002000' };
  rejected(t, v.validate(sub, dev, lookup), 20, 'Version rolling was not negotiated (mining.configure)', 'invalid');
  delete sub.versionBits;
  const first = v.validate(sub, dev, lookup);
  t.equal(first.ok, true, 'now accepted');
  t.equal(v.remembered(job), 1, 'rejected shares were not remembered; the accepted one is');
  rejected(t, v.validate(sub, dev, lookup), 22, 'Duplicate share', 'duplicate');
  // The duplicate check comes before the difficulty: a low share sent twice is a duplicate the second time.
  const hard = device(EN1, 4, 1, 0);
  const low = { ...sub, nonce: u32Hex(parseInt(OTHER_NONCE, 16) ^ 2) };
  t.equal(v.validate(low, hard, lookup).ok, false);
  rejected(t, v.validate(low, hard, lookup), 22, 'Duplicate share', 'duplicate');
});

t.test('extranonce2 of the wrong length or not hex', async (t) => {
  const job = jobOf(notifyOf('j1'), EN1, 1000, NOW_MS);
  const v = validator({ now: () => NOW_MS });
  for (const en2 of ['000000', '0000000000', '0000000', '', 'zzzzzzzz', '0x000000', '0000 000']) {
    rejected(t, v.validate(submitOf({ extranonce2: en2 }), device(EN1, 4, 1e-12), lookupOf([job])), 20, 'Invalid extranonce2: expected 8 hex digits (4 bytes)', 'invalid');
  }
  rejected(t, v.validate(submitOf(), device(EN1, 8, 1e-12), lookupOf([job])), 20, 'Invalid extranonce2: expected 16 hex digits (8 bytes)', 'invalid');
  rejected(t, v.validate(submitOf({ extranonce2: 'ab' }), device(EN1, 1, 1e-12), lookupOf([])), 21, 'Job not found', 'stale');
});

t.test('unknown and stale jobs', async (t) => {
  const job = jobOf(notifyOf('j1'), EN1, 1000, NOW_MS);
  const v = validator({ now: () => NOW_MS });
  rejected(t, v.validate(submitOf({ jobId: 'j2' }), device(EN1, 4, 1e-12), lookupOf([job])), 21, 'Job not found', 'stale');
  rejected(t, v.validate(submitOf({ jobId: 'J1' }), device(EN1, 4, 1e-12), lookupOf([job])), 21, 'Job not found', 'stale');
  // A stale job is reported before anything else about the share (here a bad nonce).
  rejected(t, v.validate(submitOf({ nonce: 'bad' }), device(EN1, 4, 1e-12), lookupOf([job], ['j1'])), 21, 'Stale job: superseded by a clean job', 'stale');
});

t.test('ntime: hex, not before the job, not too far ahead of the clock', async (t) => {
  const job = jobOf(notifyOf('j1'), EN1, 1000, NOW_MS);
  let clock = NOW_MS;
  const v = validator({ now: () => clock });
  const dev = device(EN1, 4, 1e-12);
  for (const ntime of ['zzzzzzzz', '6605a4c', '6605a4cb0', '', '-605a4cb']) {
    rejected(t, v.validate(submitOf({ ntime }), dev, lookupOf([job])), 20, 'Invalid ntime: expected 8 hex digits', 'invalid');
  }
  rejected(t, v.validate(submitOf({ ntime: u32Hex(NTIME - 1) }), dev, lookupOf([job])), 20, "ntime out of range: earlier than the job's ntime", 'invalid');
  rejected(t, v.validate(submitOf({ ntime: u32Hex(NTIME + 7201) }), dev, lookupOf([job])), 20, 'ntime out of range: too far in the future', 'invalid');
  rejected(t, v.validate(submitOf({ ntime: 'ffffffff' }), dev, lookupOf([job])), 20, 'ntime out of range: too far in the future', 'invalid');
  const edge = v.validate(submitOf({ ntime: u32Hex(NTIME + 7200) }), dev, lookupOf([job]));
  t.equal(edge.ok, true, 'exactly two hours ahead is allowed');
  if (edge.ok) t.equal(edge.header.toString('hex'), expectedHeader({ nonce: REAL_NONCE, ntime: NTIME + 7200 }).toString('hex'), 'the rolled ntime is in the header');
  clock = NOW_MS + 600_000;
  t.equal(v.validate(submitOf({ ntime: u32Hex(NTIME + 7201) }), dev, lookupOf([job])).ok, true, 'the limit follows the clock');
  const upper = v.validate(submitOf({ ntime: u32Hex(NTIME + 5).toUpperCase() }), dev, lookupOf([job]));
  t.equal(upper.ok && upper.ntime, u32Hex(NTIME + 5), 'upper-case ntime is accepted and normalised');

  const strict = validator({ now: () => NOW_MS, maxNtimeAheadSeconds: 60 });
  rejected(t, strict.validate(submitOf({ ntime: u32Hex(NTIME + 61) }), dev, lookupOf([job])), 20, 'ntime out of range: too far in the future', 'invalid');
  t.equal(strict.validate(submitOf({ ntime: u32Hex(NTIME + 60) }), dev, lookupOf([job])).ok, true);
});

t.test('nonce must be 8 hex digits', async (t) => {
  const job = jobOf(notifyOf('j1'), EN1, 1000, NOW_MS);
  const v = validator({ now: () => NOW_MS });
  for (const nonce of ['zzzzzzzz', '8f50457', '8f5045780', '', '8f50 578']) {
    rejected(t, v.validate(submitOf({ nonce }), device(EN1, 4, 1e-12), lookupOf([job])), 20, 'Invalid nonce: expected 8 hex digits', 'invalid');
  }
  const up = v.validate(submitOf({ nonce: REAL_NONCE.toUpperCase() }), device(EN1, 4, 1e-12), lookupOf([job]));
  if (!up.ok) return t.fail(up.error.message);
  t.equal(up.nonce, REAL_NONCE, 'normalised to lower case');
  t.equal(up.header.toString('hex'), block.header_hex, 'the same header as the lower-case nonce');
});

t.test('version rolling (BIP 310)', async (t) => {
  const MASK = 0x1fffe000;
  const job = jobOf(notifyOf('j1'), EN1, 1000, NOW_MS);
  const v = validator({ now: () => NOW_MS });
  const rolling = device(EN1, 4, 1e-12, MASK);
  for (const bits of ['xyz12345', '1fffe00', '1fffe0000', '']) {
    rejected(t, v.validate(submitOf({ versionBits: bits }), rolling, lookupOf([job])), 20, 'Invalid version bits: expected 8 hex digits', 'invalid');
  }
  for (const bits of ['00001000', 'e0000000', '20000000', 'ffffffff']) {
    rejected(t, v.validate(submitOf({ versionBits: bits }), rolling, lookupOf([job])), 20, 'Version bits outside the negotiated mask', 'invalid');
  }
  rejected(t, v.validate(submitOf({ versionBits: '00002000' }), device(EN1, 4, 1e-12, 0), lookupOf([job])), 20, 'Version rolling was not negotiated (mining.configure)', 'invalid');

  // Rolled bits inside the mask: accepted, and the header carries (job.version & ~mask) | (bits & mask).
  const bits = 0x0a5a6000;
  const out = v.validate(submitOf({ versionBits: u32Hex(bits).toUpperCase(), nonce: OTHER_NONCE }), rolling, lookupOf([job]));
  if (!out.ok) return t.fail(out.error.message);
  const version = ((job.version & ~MASK) | (bits & MASK)) >>> 0;
  t.equal(version, 0x2a5a6000);
  t.equal(out.header.readUInt32LE(0), version, 'the header version field');
  t.equal(out.header.toString('hex'), expectedHeader({ nonce: OTHER_NONCE, version }).toString('hex'), 'the whole header');
  t.equal(displayHash(out.hash), judge(out.header).display, 'hashed with the rolled version');
  t.equal(out.versionBits, '0a5a6000', 'normalised to lower case');

  // Job bits under the mask are replaced by the device's bits, not or-ed with them.
  const job2 = jobOf(notifyOf('j2', { version: '3fffe000' }), EN1, 1000, NOW_MS);
  const cleared = v.validate(submitOf({ jobId: 'j2', versionBits: '00000000' }), rolling, lookupOf([job2]));
  if (!cleared.ok) return t.fail(cleared.error.message);
  t.equal(cleared.header.readUInt32LE(0), 0x20000000);
  t.equal(cleared.header.toString('hex'), block.header_hex, 'which is the real block again');
  // Zero bits without negotiation are harmless: nothing is rolled.
  t.equal(v.validate(submitOf({ jobId: 'j1', versionBits: '00000000', nonce: u32Hex(7) }), device(EN1, 4, 1e-12, 0), lookupOf([job])).ok, true);
});

t.test('duplicates', async (t) => {
  const job = jobOf(notifyOf('j1'), EN1, 1000, NOW_MS);
  const job2 = jobOf(notifyOf('j2'), EN1, 1000, NOW_MS);
  const v = validator({ now: () => NOW_MS });
  const dev = device(EN1, 4, 1e-12, 0x1fffe000);
  const lookup = lookupOf([job, job2]);
  t.equal(v.validate(submitOf(), dev, lookup).ok, true);
  rejected(t, v.validate(submitOf(), dev, lookup), 22, 'Duplicate share', 'duplicate');
  rejected(t, v.validate(submitOf({ worker: 'other-name' }), dev, lookup), 22, 'Duplicate share', 'duplicate');
  const upper = submitOf({ extranonce2: cut.extranonce2.toUpperCase(), ntime: s.ntime.toUpperCase(), nonce: REAL_NONCE.toUpperCase() });
  t.not(upper.extranonce2 + upper.nonce, cut.extranonce2 + REAL_NONCE, 'the resubmission really differs in case');
  rejected(t, v.validate(upper, dev, lookup), 22, 'Duplicate share', 'duplicate');
  t.equal(v.validate(submitOf({ jobId: 'j2' }), dev, lookup).ok, true, 'the same fields on another job are another share');
  t.equal(v.validate(submitOf(), device('0a0b0c0d', 4, 1e-12), lookup).ok, true, 'the same fields from another device (extranonce1) are another share');
  t.equal(v.validate(submitOf({ versionBits: '00002000' }), dev, lookup).ok, true, 'other version bits are another share');
  rejected(t, v.validate(submitOf({ versionBits: '00002000' }), dev, lookup), 22, 'Duplicate share', 'duplicate');
});

t.test('the duplicate memory is per job and lasts as long as the job', async (t) => {
  const job = jobOf(notifyOf('j1'), EN1, 1000, NOW_MS);
  const v = validator({ now: () => NOW_MS });
  const dev = device(EN1, 4, 1e-12);
  for (const n of [1, 2, 3]) t.equal(v.validate(submitOf({ nonce: u32Hex(n) }), dev, lookupOf([job])).ok, true);
  t.equal(v.remembered(job), 3);
  // Many shares on later jobs (the registry moved on) do not push the first job's shares out.
  for (let k = 2; k < 12; k++) {
    const later = jobOf(notifyOf(`j${k}`), EN1, 1000, NOW_MS);
    for (const n of [1, 2, 3]) t.equal(v.validate(submitOf({ jobId: `j${k}`, nonce: u32Hex(n) }), dev, lookupOf([later])).ok, true);
    t.equal(v.remembered(later), 3, `job j${k} holds its own shares`);
  }
  for (const n of [1, 2, 3]) rejected(t, v.validate(submitOf({ nonce: u32Hex(n) }), dev, lookupOf([job])), 22, 'Duplicate share', 'duplicate');
  t.equal(v.remembered(job), 3, 'duplicates are not remembered twice');
  // A job the registry forgot answers "job not found" before any duplicate check: its shares need no memory.
  rejected(t, v.validate(submitOf({ nonce: u32Hex(1) }), dev, lookupOf([])), 21, 'Job not found', 'stale');
});

t.test('low difficulty: code 23 with the achieved difficulty', async (t) => {
  const job = jobOf(notifyOf('j1'), EN1, 1000, NOW_MS);
  const out = validator({ now: () => NOW_MS }).validate(submitOf({ nonce: OTHER_NONCE }), device(EN1, 4, 1), lookupOf([job]));
  rejected(t, out, 23, `Low difficulty share: ${formatDifficulty(S)} < 1`, 'low_difficulty');
  if (out.ok) return;
  const m = /^Low difficulty share: (\S+) < 1$/.exec(out.error.message);
  t.ok(m && Math.abs(Number(m[1]) - S) / S < 1e-4, `the message states the share's difficulty (${m?.[1]} vs ${S})`);
  t.ok(Math.abs(out.shareDifficulty! - S) / S < 1e-12, 'and the outcome carries it exactly');
  t.equal(out.header?.toString('hex'), expectedHeader({ nonce: OTHER_NONCE }).toString('hex'), 'with the header');
  t.equal(displayHash(out.hash!), other.display, 'and the hash');
  t.equal(out.job, job);
});

t.test('a retarget: the previous difficulty counts for jobs sent before it and within the grace window', async (t) => {
  // The share achieves S: it meets S/2 but not 2S. The pool is far harder, so only the device target decides.
  const T1 = NOW_MS + 100_000; // when the device went from S/2 to 2S
  const target: DeviceTarget = retarget(initialTarget(S / 2, 1, NOW_MS), S * 2, 1, T1);
  const dev: DeviceWork = { extranonce1: EN1, extranonce2Size: 4, versionMask: 0, target };
  const run = (jobReceivedAt: number, now: number, graceMs?: number) => {
    const job: Job = jobOf(notifyOf('j1'), EN1, S * 1000, jobReceivedAt);
    const v = new ShareValidator({ hasher, now: () => now, ...(graceMs === undefined ? {} : { retargetGraceMs: graceMs }) });
    return v.validate(submitOf({ nonce: OTHER_NONCE }), dev, lookupOf([job]));
  };
  const before = run(T1 - 1000, T1 + 3_600_000);
  t.equal(before.ok, true, 'a job from before the retarget: the old difficulty counts, however late');
  if (before.ok) {
    t.equal(before.creditedDifficulty, S / 2, 'credited with the difficulty it met');
    t.equal(before.meetsPool, false);
  }
  t.equal(run(T1, T1 + 3_600_000).ok, true, 'a job received at the very moment of the retarget counts as before');

  const within = run(T1 + 10, T1 + 4_000);
  t.equal(within.ok, true, 'a new job, within the 5 s grace window');
  if (within.ok) t.equal(within.creditedDifficulty, S / 2);
  t.equal(run(T1 + 10, T1 + 5_000).ok, true, 'the window includes its last millisecond');

  rejected(t, run(T1 + 10, T1 + 5_001), 23, `Low difficulty share: ${formatDifficulty(S)} < ${formatDifficulty(S * 2)}`, 'low_difficulty');
  rejected(t, run(T1 + 10, T1 + 200, 100), 23, `Low difficulty share: ${formatDifficulty(S)} < ${formatDifficulty(S * 2)}`, 'low_difficulty');
  t.equal(run(T1 + 10, T1 + 90, 100).ok, true, 'a custom grace window');

  // Below both targets: rejected even for an old job.
  const both: DeviceWork = { ...dev, target: retarget(initialTarget(S * 2, 1, NOW_MS), S * 4, 1, T1) };
  const job = jobOf(notifyOf('j1'), EN1, S * 1000, T1 - 1000);
  rejected(t, new ShareValidator({ hasher, now: () => T1 + 1 }).validate(submitOf({ nonce: OTHER_NONCE }), both, lookupOf([job])), 23, `Low difficulty share: ${formatDifficulty(S)} < ${formatDifficulty(S * 4)}`, 'low_difficulty');

  // A retarget downwards: the share meets the new, lower target and is credited with it.
  const down: DeviceWork = { ...dev, target: retarget(initialTarget(S * 2, 1, NOW_MS), S / 4, 1, T1) };
  const d = new ShareValidator({ hasher, now: () => T1 + 1 }).validate(submitOf({ nonce: OTHER_NONCE }), down, lookupOf([jobOf(notifyOf('j1'), EN1, S * 1000, T1 + 1)]));
  t.equal(d.ok && d.creditedDifficulty, S / 4);
});

t.test('two retargets close together: a share mined at the difficulty of two changes ago still counts', async (t) => {
  // S/2 -> 2S at T1, then 2S -> 4S: the share (S) was mined on a job from before T1, at S/2.
  const T1 = NOW_MS + 100_000;
  const first = retarget(initialTarget(S / 2, 1, NOW_MS), S * 2, 1, T1);
  const job = jobOf(notifyOf('j1'), EN1, S * 1000, T1 - 1000);
  const check = (target: DeviceTarget) =>
    new ShareValidator({ hasher, now: () => target.changedAt + 1 }).validate(submitOf({ nonce: OTHER_NONCE }), { extranonce1: EN1, extranonce2Size: 4, versionMask: 0, target }, lookupOf([job]));

  const soon = retarget(first, S * 4, 1, T1 + 1000);
  t.equal(soon.previous?.difficulty, S / 2, 'within the grace window the easier earlier target is kept');
  const ok = check(soon);
  t.equal(ok.ok && ok.creditedDifficulty, S / 2, 'the in-flight share counts at the difficulty it met');

  const late = retarget(first, S * 4, 1, T1 + 6000);
  t.equal(late.previous?.difficulty, S * 2, 'after the window only the last target is remembered');
  rejected(t, check(late), 23, `Low difficulty share: ${formatDifficulty(S)} < ${formatDifficulty(S * 4)}`, 'low_difficulty');

  const down = retarget(retarget(initialTarget(S * 4, 1, NOW_MS), S * 2, 1, T1), S / 2, 1, T1 + 1000);
  t.equal(down.previous?.difficulty, S * 2, 'going down twice, the previous is simply the one replaced (it is easier than the one before)');
});

t.test('a share that meets the pool target is never rejected, even if the device target is harder', async (t) => {
  // A misconfigured device difficulty (2S) above the pool's (S/2): the share (S) is the pool's, so it counts.
  const job = jobOf(notifyOf('j1'), EN1, S / 2, NOW_MS);
  const out = validator({ now: () => NOW_MS }).validate(submitOf({ nonce: OTHER_NONCE }), device(EN1, 4, S * 2), lookupOf([job]));
  if (!out.ok) return t.fail(out.error.message);
  t.equal(out.meetsPool, true);
  t.equal(out.meetsNetwork, false);
  t.equal(out.creditedDifficulty, S / 2, 'credited with the pool difficulty');
});

t.test('a share that meets the network target is never rejected, even with the pool and the device harder', async (t) => {
  // A testnet or solo setup: the pool's difficulty (1e6) above the network's. The real block's share meets
  // only the network target, and a block is never refused as "low difficulty".
  const job = jobOf(notifyOf('j1'), EN1, 1e12, NOW_MS);
  const out = validator({ now: () => NOW_MS }).validate(submitOf({ nonce: REAL_NONCE }), device(EN1, 4, 1e12), lookupOf([job]));
  if (!out.ok) return t.fail(out.error.message);
  t.equal(out.meetsNetwork, true);
  t.equal(out.meetsPool, false);
  t.equal(out.creditedDifficulty, job.networkDifficulty, 'credited with the network difficulty');
});

t.test('classification: device, pool, network', async (t) => {
  const v = validator({ now: () => NOW_MS });
  const dev = device(EN1, 4, S / 4);
  const go = (jobId: string, poolDiff: number, over: Partial<NotifyParams> = {}, nonce = OTHER_NONCE) => {
    const out = v.validate(submitOf({ jobId, nonce }), dev, lookupOf([jobOf(notifyOf(jobId, over), EN1, poolDiff, NOW_MS)]));
    if (!out.ok) throw new Error(out.error.message);
    return [out.meetsPool, out.meetsNetwork, out.creditedDifficulty];
  };
  t.same(go('a', S * 2), [false, false, S / 4], 'device only');
  t.same(go('b', S / 2), [true, false, S / 4], 'device and pool');
  t.same(go('c', 1e6, {}, REAL_NONCE), [true, true, S / 4], 'the real block: all three');
  // With an easy network target (nbits 207fffff: 0x7fffff * 2^232, about 2^255) about half of all hashes are
  // blocks: find one that is and one that is not (independently), and check the validator says so.
  const easyTarget = 0x7fffffn << 232n;
  const found = new Map<boolean, string>();
  for (let n = 0; n < 64 && found.size < 2; n++) {
    const nonce = u32Hex(n);
    const hash = judge(expectedHeader({ nonce, nbits: '207fffff' })).display;
    found.set(BigInt('0x' + hash) <= easyTarget, nonce);
  }
  t.equal(found.size, 2, 'one of each among 64 nonces');
  for (const [isBlock, nonce] of found) {
    const out = v.validate(submitOf({ jobId: 'e', nonce }), dev, lookupOf([jobOf(notifyOf('e', { nbits: '207fffff' }), EN1, 1e6, NOW_MS)]));
    if (!out.ok) return t.fail(out.error.message);
    t.equal(out.header.readUInt32LE(72), 0x207fffff, 'nbits in the header');
    t.equal(out.meetsNetwork, isBlock, `nonce ${nonce}: meetsNetwork ${isBlock}`);
    t.equal(out.meetsPool, false, 'the pool target (difficulty 1e6) is judged on its own: here far harder than this network');
  }
});

t.test('a difficulty multiplier scales the share difficulty', async (t) => {
  const job = jobOf(notifyOf('j1'), EN1, 1000, NOW_MS);
  const plain = validator({ now: () => NOW_MS }).validate(submitOf({ nonce: OTHER_NONCE }), device(EN1, 4, 1e-12), lookupOf([job]));
  const scaled = validator({ now: () => NOW_MS, difficultyMultiplier: 65536 }).validate(submitOf({ nonce: OTHER_NONCE }), device(EN1, 4, 1e-12), lookupOf([job]));
  if (!plain.ok || !scaled.ok) return t.fail('both accepted');
  t.ok(Math.abs(scaled.shareDifficulty / plain.shareDifficulty - 65536) < 1e-6);
});

t.test('results own their bytes: the next share does not change them', async (t) => {
  const job = jobOf(notifyOf('j1'), EN1, 1000, NOW_MS);
  const v = validator({ now: () => NOW_MS });
  const first = v.validate(submitOf(), device(EN1, 4, 1e-12), lookupOf([job]));
  const firstHeader = first.ok ? first.header.toString('hex') : '';
  const firstHash = first.ok ? first.hash.toString('hex') : '';
  const second = v.validate(submitOf({ nonce: OTHER_NONCE }), device(EN1, 4, 1e-12), lookupOf([job]));
  if (!first.ok || !second.ok) return t.fail('both accepted');
  t.equal(first.header.toString('hex'), firstHeader);
  t.equal(first.hash.toString('hex'), firstHash);
  t.equal(displayHash(first.hash), block.hash);
  t.equal(displayHash(second.hash), other.display);
});

t.test('many shares with distinct extranonce2 match the independent computation', async (t) => {
  // Exercises the reused coinbase / merkle / header buffers over many calls and extranonce2 values.
  const job = jobOf(notifyOf('j1'), EN1, 1000, NOW_MS);
  const v = validator({ now: () => NOW_MS });
  let mismatches = 0;
  for (let i = 0; i < 200; i++) {
    const en2 = u32Hex(Math.imul(i, 2654435761));
    const nonce = u32Hex(i * 7919);
    const out = v.validate(submitOf({ extranonce2: en2, nonce }), device(EN1, 4, 1e-12), lookupOf([job]));
    const expected = expectedHeader({ en2, nonce });
    if (!out.ok || !out.header.equals(expected) || displayHash(out.hash) !== judge(expected).display) mismatches++;
  }
  t.equal(mismatches, 0);
});

t.test('formatDifficulty and displayHash', async (t) => {
  t.equal(formatDifficulty(1), '1');
  t.equal(formatDifficulty(0.0012), '0.0012');
  t.equal(formatDifficulty(123.456789), '123.457');
  t.equal(formatDifficulty(98_000_000), '98000000');
  t.equal(formatDifficulty(1e9), '1.0000e+9');
  t.equal(formatDifficulty(1.23456e-7), '1.2346e-7');
  t.equal(formatDifficulty(Infinity), 'Infinity');
  t.equal(displayHash(Buffer.from('0102', 'hex')), '0201');
});
