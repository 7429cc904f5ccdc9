import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { u32Hex } from '../../src/chain/bytes.js';
import { checkShare, CheckShareInputError, parseCheckShareInput, type ShareReport } from '../../src/commands/check-share-report.js';
import { formatDifficulty } from '../../src/util/format.js';
import { parseLine } from '../../src/stratum/jsonrpc.js';
import { cutCoinbase, loadBlocks, loadTranscript, type FixtureBlock } from '../helpers/fixtures.js';
import { hasher } from '../helpers/share-kit.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The check-share input for a real block, its coinbase cut as a pool would have. */
function blockInput(b: FixtureBlock, en1 = 4, en2 = 4) {
  const c = cutCoinbase(b, en1, en2);
  const s = b.stratum;
  return {
    notify: [b.id, s.prevhash, c.coinb1, c.coinb2, s.merkle_branch, s.version, s.nbits, s.ntime, true] as unknown[],
    extranonce1: c.extranonce1,
    submit: ['rig01', b.id, c.extranonce2, s.ntime, s.nonce] as unknown[],
    poolDifficulty: 1000,
    deviceDifficulty: 1,
  };
}

/** The real session: job 1's notify and the submits on it, with the difficulty in force (0.0001). */
function transcriptJob1() {
  let notify: unknown[] | undefined;
  const submits: unknown[][] = [];
  for (const rec of loadTranscript()) {
    const p = parseLine(rec.line);
    if (!p.ok || p.message.kind !== 'request') continue;
    if (p.message.method === 'mining.notify' && !notify) notify = p.message.params;
    if (p.message.method === 'mining.submit' && p.message.params[1] === '1') submits.push(p.message.params);
  }
  if (!notify) throw new Error('no notify');
  return { notify, submits };
}

const block = loadBlocks().find((b) => b.id === 'dash-mainnet-2045354')!;

t.test('a real block: valid, byte-exact header and hash, a block', async (t) => {
  for (const b of loadBlocks()) {
    // No difficulties: the genesis and testnet blocks are far easier than difficulty 1.
    const { poolDifficulty: _p, deviceDifficulty: _d, ...input } = b.coinbase.scriptsig_length >= 16 ? blockInput(b) : blockInput(b, 2, 1);
    const r = checkShare(input, hasher);
    t.equal(r.valid, true, `${b.id}: valid`);
    t.equal(r.header, b.header_hex, `${b.id}: header`);
    t.equal(r.hash, b.hash, `${b.id}: hash`);
    t.equal(r.block, true, `${b.id}: block`);
    t.same(r.network, { difficulty: r.networkDifficulty, meets: true });
    t.ok(r.shareDifficulty! >= r.networkDifficulty, `${b.id}: share difficulty ${r.shareDifficulty} >= network ${r.networkDifficulty}`);
    t.equal(r.judgedAtNtime, b.stratum.ntime, 'judged at the notify ntime, however old the block');
  }
  const r = checkShare(blockInput(block), hasher);
  t.same(r.device, { difficulty: 1, meets: true });
  t.same(r.pool, { difficulty: 1000, meets: true });
  t.equal(r.creditedDifficulty, 1);
  t.equal(r.extranonce2Size, 4, 'derived from the submitted extranonce2');
  t.equal(r.rejection, undefined);
  t.ok(r.networkDifficulty > 9.7e7 && r.networkDifficulty < 9.9e7, 'the README says about 9.8e7');
});

t.test('a share from the real transcript: valid, not a block; exactly one of job 1 is a block', async (t) => {
  const { notify, submits } = transcriptJob1();
  const reports: ShareReport[] = submits.map((submit) => checkShare({ notify, extranonce1: '68000000', submit, poolDifficulty: 0.0001 }, hasher));
  const first = reports[0]!;
  t.equal(first.valid, true);
  t.equal(first.block, false);
  t.same(first.pool, { difficulty: 0.0001, meets: true });
  t.same(first.device, { difficulty: 0.0001, meets: true }, 'the device difficulty defaults to the pool difficulty');
  t.equal(first.network?.meets, false);
  t.equal(first.networkDifficulty, 1 / 64, 'nbits 1d3fffc0');
  t.ok(first.shareDifficulty! >= 0.0001 && first.shareDifficulty! < 1 / 64);
  t.match(first.header, /^00000020/, 'version 0x20000000 little-endian');
  t.ok(reports.every((r) => r.valid), `all ${reports.length} shares on job 1 are valid`);
  t.equal(reports.filter((r) => r.block).length, 1, 'one of them meets the network target (see test/chain/transcript-shares.test.ts)');
});

t.test('a tampered nonce: refused with code 23 and the difficulty it reached', async (t) => {
  const input = blockInput(block);
  input.submit[4] = u32Hex(parseInt(block.stratum.nonce, 16) ^ 0x100);
  const r = checkShare(input, hasher);
  t.equal(r.valid, false);
  t.equal(r.rejection?.code, 23);
  t.equal(r.rejection?.reason, 'low_difficulty');
  t.equal(r.rejection?.message, `Low difficulty share: ${formatDifficulty(r.shareDifficulty!)} < 1`);
  t.ok(r.shareDifficulty! > 0 && r.shareDifficulty! < 1);
  t.equal(r.block, false);
  t.same(r.device, { difficulty: 1, meets: false });
  t.same(r.pool, { difficulty: 1000, meets: false });
  t.equal(r.header?.length, 160, 'the header it hashed is shown');
  t.not(r.hash, block.hash);
  t.equal(r.creditedDifficulty, undefined);
});

t.test('refusals before hashing: job id, extranonce2 size, ntime', async (t) => {
  const wrongJob = blockInput(block);
  wrongJob.submit[1] = 'other';
  const r = checkShare(wrongJob, hasher);
  t.same(r.rejection, { code: 21, reason: 'stale', message: 'Job not found' });
  t.equal(r.hint, `the submit's job_id 'other' is not the notify's job_id '${block.id}'`);
  t.equal(r.header, undefined);
  t.same([r.device, r.pool, r.network, r.block], [null, null, null, false]);

  const size = { ...blockInput(block), extranonce2Size: 8 };
  const rs = checkShare(size, hasher);
  t.same(rs.rejection, { code: 20, reason: 'invalid', message: 'Invalid extranonce2: expected 16 hex digits (8 bytes)' });
  t.equal(rs.hint, "extranonce2Size is 8 (given): the submit's extranonce2 has 8 hex digits, not 16");

  const late = blockInput(block);
  late.submit[3] = u32Hex(parseInt(block.stratum.ntime, 16) + 7201);
  t.same(checkShare(late, hasher).rejection, { code: 20, reason: 'invalid', message: 'ntime out of range: too far in the future' }, 'two hours after the notify ntime at most');
  const early = blockInput(block);
  early.submit[3] = u32Hex(parseInt(block.stratum.ntime, 16) - 1);
  t.same(checkShare(early, hasher).rejection, { code: 20, reason: 'invalid', message: "ntime out of range: earlier than the job's ntime" });
});

t.test('no difficulties given: judged structurally, verdicts for the network only', async (t) => {
  const { notify, submits } = transcriptJob1();
  const r = checkShare({ notify, extranonce1: '68000000', submit: submits[0] }, hasher);
  t.equal(r.valid, true);
  t.equal(r.device, null);
  t.equal(r.pool, null);
  t.same(r.network, { difficulty: 1 / 64, meets: false });
});

t.test('version rolling and a difficulty multiplier', async (t) => {
  const { notify, submits } = transcriptJob1();
  const submit = [...submits[0]!, '1fffe000'];
  const refused = checkShare({ notify, extranonce1: '68000000', submit }, hasher);
  t.same(refused.rejection, { code: 20, reason: 'invalid', message: 'Version rolling was not negotiated (mining.configure)' });
  const rolled = checkShare({ notify, extranonce1: '68000000', submit, versionMask: '1fffe000' }, hasher);
  t.equal(rolled.valid, true);
  t.equal(Buffer.from(rolled.header!, 'hex').readUInt32LE(0), 0x3fffe000, '(0x20000000 & ~mask) | (bits & mask)');

  const plain = checkShare({ notify, extranonce1: '68000000', submit: submits[0] }, hasher);
  const scaled = checkShare({ notify, extranonce1: '68000000', submit: submits[0], difficultyMultiplier: 256 }, hasher);
  t.ok(Math.abs(scaled.shareDifficulty! / plain.shareDifficulty! - 256) < 1e-9, 'share difficulty in the pool\'s units');
  t.ok(Math.abs(scaled.networkDifficulty / plain.networkDifficulty - 256) < 1e-9, 'network difficulty in the same units');
  t.equal(scaled.hash, plain.hash);
});

t.test('malformed input: the message names the field', async (t) => {
  // Loosely typed on purpose: each case breaks the input in its own way.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const base = (): Record<string, any> => blockInput(block);
  const cases: [string, (i: ReturnType<typeof base>) => unknown, string][] = [
    ['nbits not hex', (i) => ((i.notify[6] = 'zz'), i), 'notify[6] (nbits): must be 8 hex digits'],
    ['nbits negative', (i) => ((i.notify[6] = '1d800001'), i), 'notify[6] (nbits): nbits 1d800001 is negative'],
    ['nbits zero', (i) => ((i.notify[6] = '1d000000'), i), 'notify[6] (nbits): nbits 1d000000 encodes a zero target'],
    ['prevhash short', (i) => ((i.notify[1] = 'abcd'), i), 'notify[1] (prevhash): must be 64 hex digits'],
    ['coinb1 missing', (i) => ((i.notify[2] = null), i), 'notify[2] (coinb1): missing'],
    ['branch entry', (i) => ((i.notify[4] = ['00']), i), 'notify[4] (merkle_branch[0]): must be 64 hex digits'],
    ['clean_jobs', (i) => ((i.notify[8] = 'yes'), i), 'notify[8] (clean_jobs): must be true or false'],
    ['notify short', (i) => ((i.notify = i.notify.slice(0, 8)), i), 'notify: expected 9 params, got 8'],
    ['notify absent', (i) => (delete i.notify, i), 'notify: expected an array of the 9 mining.notify params'],
    ['notify object', (i) => ((i.notify = { job_id: '1' }), i), 'notify: expected an array of the 9 mining.notify params'],
    ['submit short', (i) => ((i.submit = i.submit.slice(0, 4)), i), 'submit: expected 5 or 6 params (worker, job_id, extranonce2, ntime, nonce[, version_bits]), got 4'],
    ['submit nonce number', (i) => ((i.submit[4] = 12345), i), 'submit[4] (nonce): must be a string'],
    ['submit worker null', (i) => ((i.submit[0] = null), i), 'submit[0] (worker): missing'],
    ['submit absent', (i) => (delete i.submit, i), 'submit: expected an array of the mining.submit params (worker, job_id, extranonce2, ntime, nonce[, version_bits])'],
    ['extranonce1 not hex', (i) => ((i.extranonce1 = 'xyz'), i), 'extranonce1: must be hex'],
    ['extranonce1 odd', (i) => ((i.extranonce1 = '680'), i), 'extranonce1: must be hex'],
    ['extranonce1 absent', (i) => (delete i.extranonce1, i), 'extranonce1: missing (the hex extranonce1 of the device or session)'],
    ['deviceDifficulty', (i) => ((i.deviceDifficulty = -1), i), 'deviceDifficulty: must be a positive number'],
    ['deviceDifficulty string', (i) => ((i.deviceDifficulty = '1'), i), 'deviceDifficulty: must be a positive number'],
    ['poolDifficulty', (i) => ((i.poolDifficulty = 0), i), 'poolDifficulty: must be a positive number'],
    ['difficultyMultiplier', (i) => ((i.difficultyMultiplier = 'x'), i), 'difficultyMultiplier: must be a positive number'],
    ['versionMask', (i) => ((i.versionMask = '1fffe00'), i), 'versionMask: must be 8 hex digits (the BIP 310 mask negotiated with mining.configure)'],
    ['extranonce2Size', (i) => ((i.extranonce2Size = 0), i), 'extranonce2Size: must be an integer from 1 to 16'],
    ['extranonce2Size fraction', (i) => ((i.extranonce2Size = 4.5), i), 'extranonce2Size: must be an integer from 1 to 16'],
    ['unknown field', (i) => ((i.devicedifficulty = 2), i), 'devicedifficulty: unknown field (known: notify, extranonce1, submit, deviceDifficulty, poolDifficulty, versionMask, difficultyMultiplier, extranonce2Size)'],
    ['an array', () => [], 'input: must be a JSON object with the fields notify, extranonce1, submit, deviceDifficulty, poolDifficulty, versionMask, difficultyMultiplier, extranonce2Size'],
    ['null', () => null, 'input: must be a JSON object with the fields notify, extranonce1, submit, deviceDifficulty, poolDifficulty, versionMask, difficultyMultiplier, extranonce2Size'],
  ];
  for (const [name, make, message] of cases) {
    t.throws(() => checkShare(make(base()), hasher), { name: 'CheckShareInputError', message }, name);
  }
  t.throws(() => parseCheckShareInput('{"notify": ['), CheckShareInputError);
  t.match(String((() => { try { parseCheckShareInput('{'); } catch (e) { return (e as Error).message; } })()), /^input: not valid JSON \(.+\)$/);
  t.same(parseCheckShareInput(' {"a": 1} '), { a: 1 });
});

/** Run the real CLI with stdin; a watchdog kills it if it hangs. */
function runCli(t: Test, args: string[], stdin: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    const watchdog = setTimeout(() => child.kill('SIGKILL'), 60_000);
    t.teardown(() => {
      clearTimeout(watchdog);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(watchdog);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}

t.test('the real command as a child process, input on stdin', async (t) => {
  const { notify, submits } = transcriptJob1();
  const valid = JSON.stringify({ notify, extranonce1: '68000000', submit: submits[0], poolDifficulty: 0.0001 });
  const tampered = blockInput(block);
  tampered.submit[4] = '00000000';
  const [ok, refused, malformed, missing] = await Promise.all([
    runCli(t, ['check-share', '--input', '-'], valid),
    runCli(t, ['check-share', '--input', '-', '--compact'], JSON.stringify(tampered)),
    runCli(t, ['check-share', '--input', '-'], JSON.stringify({ ...blockInput(block), notify: blockInput(block).notify.map((v, i) => (i === 6 ? 'nbits!!' : v)) })),
    runCli(t, ['check-share', '--input', path.join(repoRoot, 'no-such-share.json')], ''),
  ]);

  t.equal(ok.code, 0, 'exit 0 for a valid share');
  const report = JSON.parse(ok.stdout) as ShareReport;
  t.equal(report.valid, true);
  t.equal(report.block, false);
  t.same(report.pool, { difficulty: 0.0001, meets: true });
  t.equal(report.hash, checkShare(JSON.parse(valid), hasher).hash, 'the same report as the module gives');

  t.equal(refused.code, 1, 'exit 1 for a refused share');
  t.equal(refused.stdout.trimEnd().split('\n').length, 1, '--compact: one line');
  const r = JSON.parse(refused.stdout) as ShareReport;
  t.equal(r.valid, false);
  t.equal(r.rejection?.code, 23);

  t.equal(malformed.code, 2, 'exit 2 for malformed input');
  t.equal(malformed.stdout, '');
  t.match(malformed.stderr, /check-share: notify\[6\] \(nbits\): must be 8 hex digits/);

  t.equal(missing.code, 2, 'exit 2 for a missing file');
  t.match(missing.stderr, /input: cannot read .*no-such-share\.json \(ENOENT: no such file or directory\)/);
});
