import { displayHash, isHex, reversed } from './bytes.js';
import { scriptProblem } from './script.js';
import { sha256d } from './sha256.js';
import { miningTargetFromBits } from './target.js';
import { formatDash } from '../util/format.js';

/**
 * dashd's `getblocktemplate` answer, checked before any work is made from it. Nothing is ever mined on a
 * template the proxy could not check: `parseBlockTemplate` returns a reason that names the field instead.
 *
 * Fields (Dash Core's getblocktemplate, dashpay/docs `docs/core/api/remote-procedure-calls-mining.md`): the
 * ones the proxy uses are checked (types, hex, lengths, consistency); the others (`capabilities`,
 * `vbavailable`, `mutable`, `noncerange`, `sigoplimit`, `sizelimit`, `previousbits`, `coinbaseaux`, the
 * `*_started`/`*_enabled` flags) are not needed to build a valid block and are ignored.
 */

/**
 * The consensus rules (BIP9 deployment names) Dash Core announces in `rules`, all of which the proxy's
 * coinbase and block handle (a rule only changes what the template already carries: version, payments,
 * coinbase_payload). A rule written `!name` must be understood by the miner: one not listed here refuses the
 * template. A plain unknown name is informational (BIP9/BIP145) and is accepted.
 */
export const KNOWN_DASH_RULES: readonly string[] = [
  'csv',
  'dip0001',
  'bip147',
  'dip0003',
  'dip0008',
  'realloc',
  'dip0020',
  'dip0024',
  'brr',
  'v19',
  'v20',
  'mn_rr',
  'testdummy',
];

/** A transaction the block must carry after the coinbase, in template order. */
export interface TemplateTransaction {
  /** The serialized transaction. */
  data: Buffer;
  /** sha256d(data), internal order (the merkle tree's). */
  hash: Buffer;
  /** Display hex of `hash` (the template's `hash`). */
  txid: string;
}

/** A payment the coinbase must make (`masternode` or `superblock` entry). */
export interface TemplatePayment {
  /** The payee's address; '' for a payee without one (Platform's `6a` output). Informational. */
  payee: string;
  /** The output script, exactly as the template gives it. */
  script: Buffer;
  /** Duffs. */
  amount: bigint;
}

export interface BlockTemplate {
  version: number;
  rules: string[];
  /** Display hex (the template's `previousblockhash`). */
  previousBlockHash: string;
  /** The same, internal order: header bytes 4..36. */
  prevhash: Buffer;
  transactions: TemplateTransaction[];
  /** Duffs: subsidy plus fees, including the masternode and superblock payments. */
  coinbaseValue: bigint;
  longpollId: string | null;
  /** The network target (from `bits`, equal to the template's `target`). */
  target: bigint;
  /** nBits as a number. */
  bits: number;
  curTime: number;
  minTime: number | null;
  height: number;
  /** In template order: the coinbase pays them in this order, after the miner's output. */
  masternode: TemplatePayment[];
  superblock: TemplatePayment[];
  /** The CbTx payload (DIP4) the coinbase carries as a version-3 type-5 transaction; null: a version-1 coinbase. */
  coinbasePayload: Buffer | null;
}

export type ParsedBlockTemplate = { ok: true; template: BlockTemplate } | { ok: false; reason: string };

/** A refusal of the template: the message names the field. */
class TemplateError extends Error {}

function refuse(field: string, problem: string): never {
  throw new TemplateError(`${field}: ${problem}`);
}

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function uint32(o: Record<string, unknown>, field: string): number {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) refuse(field, `not a 32-bit unsigned integer (${describe(v)})`);
  return v;
}

function duffs(v: unknown, field: string): bigint {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) refuse(field, `not a whole number of duffs, 0 or more (${describe(v)})`);
  return BigInt(v);
}

function hexBytes(v: unknown, field: string, bytes?: number): Buffer {
  if (typeof v !== 'string') refuse(field, `not a hex string (${describe(v)})`);
  if (!isHex(v)) refuse(field, `not hex (${describe(v)})`);
  if (bytes !== undefined && v.length !== bytes * 2) refuse(field, `${v.length / 2} bytes, expected ${bytes}`);
  return Buffer.from(v, 'hex');
}

function object(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) refuse(field, `not an object (${describe(v)})`);
  return v as Record<string, unknown>;
}

function array(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) refuse(field, `not an array (${describe(v)})`);
  return v;
}

function readRules(v: unknown): string[] {
  const rules = array(v, 'rules');
  return rules.map((rule, i) => {
    if (typeof rule !== 'string') refuse(`rules[${i}]`, `not a string (${describe(rule)})`);
    if (rule.startsWith('!') && !KNOWN_DASH_RULES.includes(rule.slice(1))) {
      refuse(`rules[${i}]`, `"${rule}" is a rule the miner must understand and the proxy does not know (known: ${KNOWN_DASH_RULES.join(', ')})`);
    }
    return rule;
  });
}

/** A transaction's `hash` (or `txid`) must be the txid of its data. */
function checkTxid(v: unknown, field: string, txid: string): void {
  const given = hexBytes(v, field, 32).toString('hex');
  if (given !== txid) refuse(field, `${given} is not the txid of its data (${txid})`);
}

function readTransaction(v: unknown, i: number): TemplateTransaction {
  const field = `transactions[${i}]`;
  const o = object(v, field);
  const data = hexBytes(o.data, `${field}.data`);
  if (data.length === 0) refuse(`${field}.data`, 'empty');
  const hash = sha256d(data);
  const txid = displayHash(hash);
  checkTxid(o.hash, `${field}.hash`, txid);
  if (o.txid !== undefined) checkTxid(o.txid, `${field}.txid`, txid);
  return { data, hash, txid };
}

function readPayment(v: unknown, field: string): TemplatePayment {
  const o = object(v, field);
  if (typeof o.payee !== 'string') refuse(`${field}.payee`, `not a string (${describe(o.payee)})`);
  const script = hexBytes(o.script, `${field}.script`);
  const problem = scriptProblem(script);
  if (problem !== null) refuse(`${field}.script`, problem);
  return { payee: o.payee, script, amount: duffs(o.amount, `${field}.amount`) };
}

/** `masternode`: an array of payments; old nodes sent one object (and `{}` for none). */
function readMasternode(v: unknown): TemplatePayment[] {
  if (Array.isArray(v)) return v.map((p, i) => readPayment(p, `masternode[${i}]`));
  const o = object(v, 'masternode');
  if (Object.keys(o).length === 0) return [];
  return [readPayment(o, 'masternode')];
}

/**
 * The size a CbTx payload of a known version must have (DIP4 and its updates), or null for a later version:
 *   v1: version u16 | height u32 | merkleRootMNList (32)                               = 38 bytes
 *   v2: v1 | merkleRootQuorums (32)                                                     = 70 bytes
 *   v3: v2 | bestCLHeightDiff (compact size) | bestCLSignature (96) | creditPoolBalance (int64) = 175+ bytes
 */
function cbTxSize(payload: Buffer, version: number): number | null {
  if (version === 1) return 38;
  if (version === 2) return 70;
  if (version !== 3) return null;
  if (payload.length <= 70) return 71 + 96 + 8;
  const first = payload[70]!;
  const diffSize = first < 0xfd ? 1 : first === 0xfd ? 3 : first === 0xfe ? 5 : 9;
  return 70 + diffSize + 96 + 8;
}

/**
 * The CbTx payload (DIP4): u16 version, u32 height, then the version's fields. It is copied into the coinbase
 * as given; checked here: its height is the template's, and a known version (1 to 3) has exactly its size.
 * A later version is taken on its version and height alone (dashd made it; the proxy only carries it).
 */
function readCoinbasePayload(v: unknown, height: number): Buffer | null {
  if (v === undefined) return null;
  const payload = hexBytes(v, 'coinbase_payload');
  if (payload.length < 6) refuse('coinbase_payload', `${payload.length} bytes, too short for a CbTx (version and height take 6)`);
  const version = payload.readUInt16LE(0);
  if (version === 0) refuse('coinbase_payload', 'CbTx version 0');
  const payloadHeight = payload.readUInt32LE(2);
  if (payloadHeight !== height) refuse('coinbase_payload', `CbTx height ${payloadHeight} is not the template's height ${height}`);
  const size = cbTxSize(payload, version);
  if (size !== null && payload.length !== size) refuse('coinbase_payload', `${payload.length} bytes, a CbTx version ${version} has ${size}`);
  return payload;
}

function readTemplate(raw: unknown): BlockTemplate {
  const o = object(raw, 'template');
  const version = uint32(o, 'version');
  const rules = readRules(o.rules);
  const prevhashDisplay = hexBytes(o.previousblockhash, 'previousblockhash', 32);
  const transactions = array(o.transactions, 'transactions').map(readTransaction);
  const coinbaseValue = duffs(o.coinbasevalue, 'coinbasevalue');

  const longpollId = o.longpollid === undefined ? null : o.longpollid;
  if (longpollId !== null && typeof longpollId !== 'string') refuse('longpollid', `not a string (${describe(longpollId)})`);

  const bitsBytes = hexBytes(o.bits, 'bits', 4);
  const bits = bitsBytes.readUInt32BE(0);
  const decoded = miningTargetFromBits(bits);
  if (!decoded.ok) refuse('bits', decoded.reason);
  const target = hexBytes(o.target, 'target', 32);
  const targetValue = BigInt('0x' + target.toString('hex'));
  if (targetValue !== decoded.value) refuse('target', `${target.toString('hex')} is not the target of bits ${bitsBytes.toString('hex')} (${decoded.value.toString(16).padStart(64, '0')})`);

  const curTime = uint32(o, 'curtime');
  const minTime = o.mintime === undefined ? null : uint32(o, 'mintime');
  const height = o.height;
  if (typeof height !== 'number' || !Number.isInteger(height) || height < 1 || height > 0x7fffffff) refuse('height', `not a block height of 1 or more (${describe(height)})`);

  const masternode = readMasternode(o.masternode);
  const superblock = array(o.superblock, 'superblock').map((p, i) => readPayment(p, `superblock[${i}]`));
  const payments = requiredPayments({ masternode, superblock }).reduce((sum, p) => sum + p.amount, 0n);
  if (payments > coinbaseValue) refuse('coinbasevalue', `payments ${formatDash(payments)} DASH exceed coinbasevalue ${formatDash(coinbaseValue)} DASH`);

  const coinbasePayload = readCoinbasePayload(o.coinbase_payload, height);
  return {
    version,
    rules,
    previousBlockHash: prevhashDisplay.toString('hex'),
    prevhash: reversed(prevhashDisplay),
    transactions,
    coinbaseValue,
    longpollId,
    target: decoded.value,
    bits,
    curTime,
    minTime,
    height,
    masternode,
    superblock,
    coinbasePayload,
  };
}

/** A `getblocktemplate` result checked and decoded, or the reason it is refused (naming the field). */
export function parseBlockTemplate(raw: unknown): ParsedBlockTemplate {
  try {
    return { ok: true, template: readTemplate(raw) };
  } catch (err) {
    if (err instanceof TemplateError) return { ok: false, reason: err.message };
    throw err;
  }
}

/** The payments the coinbase must make besides the miner's, in output order (masternode, then superblock). */
export function requiredPayments(t: Pick<BlockTemplate, 'masternode' | 'superblock'>): TemplatePayment[] {
  return [...t.masternode, ...t.superblock];
}
