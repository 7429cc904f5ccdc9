import { isHex, leLessOrEqual } from '../chain/bytes.js';
import type { PowHasher } from '../chain/hasher.js';
import { difficultyFromTarget, miningTargetFromBits, targetFromDifficulty, targetToLe } from '../chain/target.js';
import { initialTarget } from '../proxy/device-target.js';
import { createJob, type Job } from '../proxy/job.js';
import { displayHash } from '../chain/bytes.js';
import { ShareValidator } from '../proxy/share-validator.js';
import { StratumError } from '../stratum/errors.js';
import { MAX_EXTRANONCE2_SIZE, parseNotify, parseSubmit, type NotifyParams, type SubmitParams } from '../stratum/messages.js';

/**
 * `check-share` without the process around it: the input (a job, an extranonce1, a submit, difficulties)
 * in, a report out. The share goes through the proxy's own ShareValidator, so the verdict is the one the
 * proxy would give; the clock is the notify's ntime (the tool judges a share after the fact).
 */

/** Malformed input: the message names the field (`notify[6] (nbits): must be 8 hex digits`). */
export class CheckShareInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckShareInputError';
  }
}

const FIELDS = ['notify', 'extranonce1', 'submit', 'deviceDifficulty', 'poolDifficulty', 'versionMask', 'difficultyMultiplier', 'extranonce2Size'] as const;

export interface Verdict {
  difficulty: number;
  meets: boolean;
}

export interface ShareReport {
  valid: boolean;
  /** Present when the proxy would refuse the share: the Stratum error it would send. */
  rejection?: { code: number; reason: string; message: string };
  /** A likely cause of a rejection, when one is plain from the input. */
  hint?: string;
  jobId: string;
  extranonce1: string;
  extranonce2Size: number;
  /** The validator's clock: the notify's ntime (big-endian hex, as in stratum). */
  judgedAtNtime: string;
  /** The 80-byte header as hashed (hex), once the share got that far. */
  header?: string;
  /** X11 of the header, display (explorer) order. */
  hash?: string;
  shareDifficulty?: number;
  networkDifficulty: number;
  /** null when no difficulty was given for it. */
  device: Verdict | null;
  pool: Verdict | null;
  network: Verdict | null;
  /** The share meets the network target: a block. */
  block: boolean;
  /** The difficulty the proxy credits the device with (accepted shares). */
  creditedDifficulty?: number;
}

/** Parse the input text (JSON). */
export function parseCheckShareInput(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new CheckShareInputError(`input: not valid JSON (${(err as Error).message})`);
  }
}

function bad(message: string): never {
  throw new CheckShareInputError(message);
}

/**
 * `mining.notify: nbits (param 7) must be 8 hex digits` -> `notify[6] (nbits): must be 8 hex digits`: the
 * codec's messages, re-addressed to the input's field. Anything else keeps its text under the field name.
 */
function readdress(field: 'notify' | 'submit', method: string, message: string): string {
  const text = message.startsWith(`${method}: `) ? message.slice(method.length + 2) : message;
  let m = /^missing (\w+) \(param (\d+)\)$/.exec(text);
  if (m) return `${field}[${Number(m[2]) - 1}] (${m[1]}): missing`;
  m = /^(\w+) \(param (\d+)\) (.+)$/.exec(text);
  if (m) return `${field}[${Number(m[2]) - 1}] (${m[1]}): ${m[3]}`;
  m = /^merkle_branch\[(\d+)\] (.+)$/.exec(text);
  if (m) return `${field}[4] (merkle_branch[${m[1]}]): ${m[2]}`;
  return `${field}: ${text}`;
}

/** The codec's reading of a field's params, its StratumError re-addressed to the field (see `readdress`). */
function parsedField<T>(field: 'notify' | 'submit', method: string, parse: (params: unknown[]) => T, params: unknown[]): T {
  try {
    return parse(params);
  } catch (err) {
    if (err instanceof StratumError) bad(readdress(field, method, err.message));
    throw err;
  }
}

function optionalPositive(obj: Record<string, unknown>, field: string): number | undefined {
  const v = obj[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) bad(`${field}: must be a positive number`);
  return v;
}

interface CheckedInput {
  notify: NotifyParams;
  extranonce1: string;
  submit: SubmitParams;
  deviceDifficulty: number | undefined;
  poolDifficulty: number | undefined;
  versionMask: number;
  multiplier: number;
  extranonce2Size: number;
  extranonce2SizeGiven: boolean;
}

function checkInput(input: unknown): CheckedInput {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) bad(`input: must be a JSON object with the fields ${FIELDS.join(', ')}`);
  const obj = input as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!(FIELDS as readonly string[]).includes(key)) bad(`${key}: unknown field (known: ${FIELDS.join(', ')})`);
  }

  if (!Array.isArray(obj.notify)) bad('notify: expected an array of the 9 mining.notify params');
  const notify = parsedField('notify', 'mining.notify', parseNotify, obj.notify);

  if (obj.extranonce1 === undefined || obj.extranonce1 === null) bad('extranonce1: missing (the hex extranonce1 of the device or session)');
  if (!isHex(obj.extranonce1)) bad('extranonce1: must be hex');

  if (!Array.isArray(obj.submit)) bad('submit: expected an array of the mining.submit params (worker, job_id, extranonce2, ntime, nonce[, version_bits])');
  const submit = parsedField('submit', 'mining.submit', parseSubmit, obj.submit);

  let versionMask = 0;
  if (obj.versionMask !== undefined && obj.versionMask !== null) {
    if (!isHex(obj.versionMask, 4)) bad('versionMask: must be 8 hex digits (the BIP 310 mask negotiated with mining.configure)');
    versionMask = parseInt(obj.versionMask, 16) >>> 0;
  }

  let extranonce2Size: number;
  if (obj.extranonce2Size !== undefined && obj.extranonce2Size !== null) {
    const n = obj.extranonce2Size;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_EXTRANONCE2_SIZE) bad(`extranonce2Size: must be an integer from 1 to ${MAX_EXTRANONCE2_SIZE}`);
    extranonce2Size = n;
  } else {
    // Derived from the submit: a wrong-looking extranonce2 is then judged (and refused) by the validator.
    extranonce2Size = Math.max(1, Math.ceil(submit.extranonce2.length / 2));
  }

  return {
    notify,
    extranonce1: obj.extranonce1.toLowerCase(),
    submit,
    deviceDifficulty: optionalPositive(obj, 'deviceDifficulty'),
    poolDifficulty: optionalPositive(obj, 'poolDifficulty'),
    versionMask,
    multiplier: optionalPositive(obj, 'difficultyMultiplier') ?? 1,
    extranonce2Size,
    extranonce2SizeGiven: obj.extranonce2Size !== undefined && obj.extranonce2Size !== null,
  };
}

/** Judge one share. Throws CheckShareInputError for malformed input; a refused share is a report with `valid: false`. */
export function checkShare(input: unknown, hasher: PowHasher): ShareReport {
  const inp = checkInput(input);
  const { notify, submit, multiplier } = inp;
  const clockMs = parseInt(notify.ntime, 16) * 1000;

  const bits = miningTargetFromBits(parseInt(notify.nbits, 16) >>> 0);
  if (!bits.ok) bad(`notify[6] (nbits): ${bits.reason}`);
  const networkTarget = bits.value;
  const networkDifficulty = difficultyFromTarget(networkTarget, multiplier);

  // Without a pool difficulty the job's pool target is the network's (a block is never refused); it is not reported.
  let job: Job;
  try {
    job = createJob(notify, { poolExtranonce1: inp.extranonce1, poolDifficulty: inp.poolDifficulty ?? networkDifficulty, difficultyMultiplier: multiplier, receivedAt: clockMs });
  } catch (err) {
    bad(readdress('notify', 'mining.notify', (err as Error).message));
  }
  // The device's difficulty: as given, else the pool's (the proxy never sets a device above it), else none.
  const deviceDifficulty = inp.deviceDifficulty ?? inp.poolDifficulty;
  const device = {
    extranonce1: inp.extranonce1,
    extranonce2Size: inp.extranonce2Size,
    versionMask: inp.versionMask,
    target: initialTarget(deviceDifficulty ?? Number.MIN_VALUE, multiplier, clockMs),
  };

  const validator = new ShareValidator({ hasher, difficultyMultiplier: multiplier, now: () => clockMs });
  const out = validator.validate(submit, device, (id) => (id === job.id ? { job, stale: false } : undefined));

  let rejection: ShareReport['rejection'];
  let hint: string | undefined;
  if (!out.ok) {
    rejection = { code: out.error.code, reason: out.reason, message: out.error.message };
    if (out.error.code === 21 && submit.jobId !== notify.jobId) hint = `the submit's job_id '${submit.jobId}' is not the notify's job_id '${notify.jobId}'`;
    else if (inp.extranonce2SizeGiven && submit.extranonce2.length !== inp.extranonce2Size * 2) {
      hint = `extranonce2Size is ${inp.extranonce2Size} (given): the submit's extranonce2 has ${submit.extranonce2.length} hex digits, not ${inp.extranonce2Size * 2}`;
    }
  }
  // Key order is the order a reader wants: the verdict first, then the evidence.
  const { header, hash, shareDifficulty } = out;
  const hashed = header !== undefined && hash !== undefined;
  const meets = (h: Buffer, difficulty: number) => leLessOrEqual(h, targetToLe(targetFromDifficulty(difficulty, multiplier)));
  const block = hashed && leLessOrEqual(hash, job.networkTarget);
  const report: ShareReport = {
    valid: out.ok,
    ...(rejection ? { rejection } : {}),
    ...(hint ? { hint } : {}),
    jobId: notify.jobId,
    extranonce1: inp.extranonce1,
    extranonce2Size: inp.extranonce2Size,
    judgedAtNtime: notify.ntime,
    ...(hashed ? { header: header.toString('hex'), hash: displayHash(hash), shareDifficulty } : {}),
    networkDifficulty,
    ...(out.ok ? { creditedDifficulty: out.creditedDifficulty } : {}),
    device: hashed && deviceDifficulty !== undefined ? { difficulty: deviceDifficulty, meets: meets(hash, deviceDifficulty) } : null,
    pool: hashed && inp.poolDifficulty !== undefined ? { difficulty: inp.poolDifficulty, meets: leLessOrEqual(hash, job.poolTarget) } : null,
    network: hashed ? { difficulty: networkDifficulty, meets: block } : null,
    block,
  };
  return report;
}
