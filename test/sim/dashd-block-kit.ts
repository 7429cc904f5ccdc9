import { request } from 'undici';
import { writeHeader } from '../../src/chain/header.js';
import { targetFromBits } from '../../src/chain/target.js';
import { compactSize, i64le, scriptNumPush, u32le } from '../../src/sim/dash-coinbase.js';
import { blockMerkleRoot, doubleSha256, hashFromHex, hashHex } from '../../src/sim/dashd-hashes.js';
import { hasher } from '../helpers/share-kit.js';

/**
 * A test miner for the simulated dashd: a block assembled from a `getblocktemplate` answer the way a solo
 * miner builds it (coinbase paying every required payment, the template's transactions, merkle root, header,
 * a nonce whose X11 meets or misses nBits), with knobs that break one rule at a time.
 */

export interface GbtPayment {
  payee: string;
  script: string;
  amount: number;
}

export interface Gbt {
  version: number;
  rules: string[];
  previousblockhash: string;
  transactions: { data: string; hash: string; txid: string; depends: number[]; fee: number; sigops: number }[];
  coinbasevalue: number;
  longpollid: string;
  target: string;
  mintime: number;
  curtime: number;
  bits: string;
  previousbits: string;
  height: number;
  masternode: GbtPayment[];
  superblock: GbtPayment[];
  coinbase_payload: string;
}

export interface Output {
  value: bigint;
  script: Buffer;
}

export interface BlockEdit {
  /** The coinbase's outputs (default: the farm's output first, then every masternode and superblock payment). */
  outputs?: (outputs: Output[]) => Output[];
  /** The BIP34 height pushed first in the scriptSig (default the template's). */
  height?: number;
  /** The whole scriptSig instead of height push + 8 extranonce bytes. */
  scriptSig?: Buffer;
  /** The coinbase's DIP2 payload (default the template's); null: a version-1 coinbase without one. */
  payload?: Buffer | null;
  /** The transactions after the coinbase (default the template's, in order). */
  txs?: (txs: Buffer[]) => Buffer[];
  bits?: number;
  /** Display hex of the prevhash (default the template's). */
  prevhash?: string;
  time?: number;
  /** A merkle root instead of the right one. */
  merkleRoot?: Buffer;
  /** Find a nonce whose hash meets nBits (default) or one whose hash does not. */
  pow?: 'meet' | 'miss';
}

export interface MinedBlock {
  hex: string;
  /** Display hex. */
  hash: string;
  coinbase: Buffer;
}

export const FARM_SCRIPT = Buffer.from('76a914' + '11'.repeat(20) + '88ac', 'hex');

/** Every required payment of a template, in its order. */
export function requiredOutputs(t: Gbt): Output[] {
  return [...t.masternode, ...t.superblock].map((p) => ({ value: BigInt(p.amount), script: Buffer.from(p.script, 'hex') }));
}

export function farmReward(t: Gbt): bigint {
  return requiredOutputs(t).reduce((left, o) => left - o.value, BigInt(t.coinbasevalue));
}

function coinbaseTx(t: Gbt, e: BlockEdit, extranonce: Buffer, payoutScript: Buffer): Buffer {
  const defaults: Output[] = [{ value: farmReward(t), script: payoutScript }, ...requiredOutputs(t)];
  const outputs = e.outputs ? e.outputs(defaults) : defaults;
  const scriptSig = e.scriptSig ?? Buffer.concat([scriptNumPush(e.height ?? t.height), extranonce]);
  const payload = e.payload === undefined ? Buffer.from(t.coinbase_payload, 'hex') : e.payload;
  return Buffer.concat([
    payload === null ? u32le(1) : Buffer.from('03000500', 'hex'),
    compactSize(1),
    Buffer.alloc(32),
    u32le(0xffffffff),
    compactSize(scriptSig.length),
    scriptSig,
    u32le(0xffffffff),
    compactSize(outputs.length),
    ...outputs.map((o) => Buffer.concat([i64le(o.value), compactSize(o.script.length), o.script])),
    u32le(0),
    ...(payload === null ? [] : [compactSize(payload.length), payload]),
  ]);
}

let extranonceCounter = 0;

/** Assemble and mine a block on template `t` (each call a different extranonce, so a different block). */
export function mineBlock(t: Gbt, e: BlockEdit = {}, payoutScript: Buffer = FARM_SCRIPT): MinedBlock {
  const extranonce = Buffer.alloc(8);
  extranonce.writeUInt32LE(++extranonceCounter, 0);
  const coinbase = coinbaseTx(t, e, extranonce, payoutScript);
  const others = t.transactions.map((tx) => Buffer.from(tx.data, 'hex'));
  const txs = [coinbase, ...(e.txs ? e.txs(others) : others)];
  const bits = e.bits ?? parseInt(t.bits, 16);
  const target = targetFromBits(bits);
  const header = writeHeader({
    version: t.version,
    prevhash: hashFromHex(e.prevhash ?? t.previousblockhash),
    merkleRoot: e.merkleRoot ?? blockMerkleRoot(txs.map(doubleSha256)),
    ntime: e.time ?? t.curtime,
    nbits: bits,
    nonce: 0,
  });
  const wantMeet = (e.pow ?? 'meet') === 'meet';
  for (let nonce = 0; nonce < 1_000_000; nonce++) {
    header.writeUInt32LE(nonce, 76);
    const hash = hashHex(hasher.hash(header));
    if ((BigInt('0x' + hash) <= target) === wantMeet) {
      return { hex: Buffer.concat([header, compactSize(txs.length), ...txs]).toString('hex'), hash, coinbase };
    }
  }
  throw new Error(`no nonce ${wantMeet ? 'meets' : 'misses'} bits ${bits.toString(16)}`);
}

export interface RpcAnswer {
  status: number;
  body: { result: unknown; error: { code: number; message: string } | null; id: unknown } | null;
  text: string;
}

/** One JSON-RPC 1.0 call over plain HTTP (undici), as a client of dashd makes it. */
export async function rpc(url: string, method: string, params: unknown[] = [], auth: { user: string; password: string } | null = null, signal?: AbortSignal): Promise<RpcAnswer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (auth) headers.authorization = 'Basic ' + Buffer.from(`${auth.user}:${auth.password}`).toString('base64');
  const res = await request(url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '1.0', id: 'test', method, params }), ...(signal && { signal }) });
  const text = await res.body.text();
  return { status: res.statusCode, body: text === '' ? null : (JSON.parse(text) as RpcAnswer['body']), text };
}

/** The result of a call that must succeed. */
export async function call<T = unknown>(url: string, method: string, params: unknown[] = [], auth: { user: string; password: string } | null = null): Promise<T> {
  const a = await rpc(url, method, params, auth);
  if (a.status !== 200 || !a.body || a.body.error) throw new Error(`${method}: HTTP ${a.status} ${a.text}`);
  return a.body.result as T;
}
