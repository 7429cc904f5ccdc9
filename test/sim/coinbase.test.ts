import { randomBytes } from 'node:crypto';
import t from 'tap';
import { swapWords32 } from '../../src/chain/bytes.js';
import { merkleRoot, merkleRootFromBranch } from '../../src/chain/merkle.js';
import { sha256d } from '../../src/chain/sha256.js';
import { buildCoinbase, scriptNumPush } from '../../src/sim/dash-coinbase.js';
import { SimJobSource } from '../../src/sim/job-source.js';
import { loadBlocks } from '../helpers/fixtures.js';

/**
 * An independent reader of a serialized Dash transaction (DIP2: version 3 and a non-zero type put a
 * compact-size length and a payload after nLockTime). It is first checked on a real type-5 coinbase from
 * the fixtures, then used to check the simulator's coinbases.
 */
class Reader {
  off = 0;
  constructor(readonly buf: Buffer) {}
  bytes(n: number): Buffer {
    if (this.off + n > this.buf.length) throw new Error(`read past the end at ${this.off} (+${n})`);
    const b = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return b;
  }
  u16(): number {
    return this.bytes(2).readUInt16LE(0);
  }
  u32(): number {
    return this.bytes(4).readUInt32LE(0);
  }
  i64(): bigint {
    return this.bytes(8).readBigInt64LE(0);
  }
  varint(): number {
    const first = this.bytes(1)[0]!;
    if (first < 0xfd) return first;
    if (first === 0xfd) return this.u16();
    if (first === 0xfe) return this.u32();
    return Number(this.bytes(8).readBigUInt64LE(0));
  }
  get done(): boolean {
    return this.off === this.buf.length;
  }
}

interface ParsedTx {
  version: number;
  type: number;
  inputs: { prevHash: Buffer; prevIndex: number; script: Buffer; scriptOffset: number; sequence: number }[];
  outputs: { value: bigint; script: Buffer }[];
  lockTime: number;
  payload: Buffer | null;
  consumedAll: boolean;
}

function parseTx(buf: Buffer): ParsedTx {
  const r = new Reader(buf);
  const v = r.u32();
  const version = v & 0xffff;
  const type = v >>> 16;
  const inputs: ParsedTx['inputs'] = [];
  for (let n = r.varint(); n > 0; n--) {
    const prevHash = r.bytes(32);
    const prevIndex = r.u32();
    const len = r.varint();
    const scriptOffset = r.off;
    inputs.push({ prevHash, prevIndex, script: r.bytes(len), scriptOffset, sequence: r.u32() });
  }
  const outputs: ParsedTx['outputs'] = [];
  for (let n = r.varint(); n > 0; n--) {
    const value = r.i64();
    outputs.push({ value, script: r.bytes(r.varint()) });
  }
  const lockTime = r.u32();
  const payload = version >= 3 && type !== 0 ? r.bytes(r.varint()) : null;
  return { version, type, inputs, outputs, lockTime, payload, consumedAll: r.done };
}

/** The BIP34 height: the first push of the coinbase scriptSig, a little-endian number. */
function bip34Height(script: Buffer): { height: number; pushLength: number } {
  const op = script[0]!;
  if (op >= 0x51 && op <= 0x60) return { height: op - 0x50, pushLength: 1 };
  if (op < 1 || op > 75) throw new Error(`not a direct push: ${op}`);
  return { height: script.subarray(1, 1 + op).readUIntLE(0, op), pushLength: 1 + op };
}

interface CbTx {
  version: number;
  height: number;
  consumedAll: boolean;
}

function parseCbTx(payload: Buffer): CbTx {
  const r = new Reader(payload);
  const version = r.u16();
  const height = r.u32();
  r.bytes(32); // merkleRootMNList
  if (version >= 2) r.bytes(32); // merkleRootQuorums
  if (version >= 3) {
    r.varint(); // bestCLHeightDiff
    r.bytes(96); // bestCLSignature
    r.i64(); // creditPoolBalance
  }
  return { version, height, consumedAll: r.done };
}

t.test('the reader itself reads a real type-5 coinbase (block 2045354) right', async (t) => {
  const block = loadBlocks().find((b) => b.id === 'dash-mainnet-2045354')!;
  const tx = parseTx(Buffer.from(block.coinbase.hex, 'hex'));
  t.equal(tx.version, 3);
  t.equal(tx.type, 5);
  t.equal(tx.consumedAll, true);
  t.equal(bip34Height(tx.inputs[0]!.script).height, 2045354);
  const cb = parseCbTx(tx.payload!);
  t.equal(cb.height, 2045354);
  t.equal(cb.version, 3);
  t.equal(cb.consumedAll, true);
  t.equal(tx.payload!.length, 175);
});

t.test('scriptNumPush gives the same height push as real coinbases', async (t) => {
  for (const block of loadBlocks()) {
    const b = block as typeof block & { height: number; coinbase: { scriptsig_hex: string } };
    if (b.height < 17) continue;
    const push = scriptNumPush(b.height).toString('hex');
    t.ok(b.coinbase.scriptsig_hex.startsWith(push), `${b.id}: ${push}`);
  }
  t.equal(scriptNumPush(0).toString('hex'), '00');
  t.equal(scriptNumPush(16).toString('hex'), '60');
  t.equal(scriptNumPush(128).toString('hex'), '028000', 'sign byte when the top bit is set');
});

for (const txCount of [0, 1, 2, 5, 6]) {
  t.test(`SimJobSource job with ${txCount} other transactions: a well-formed type-5 coinbase and a consistent merkle branch`, async (t) => {
    const en1Size = 4;
    const en2Size = 8;
    const src = new SimJobSource({ extranonce1Size: en1Size, extranonce2Size: en2Size, nbits: 0x1e0fffff, txCount, startHeight: 2_345_678 });
    const sim = src.nextJob(0.001, true);
    const en1 = randomBytes(en1Size).toString('hex');
    const en2 = randomBytes(en2Size).toString('hex');
    const full = Buffer.from(sim.notify.coinb1 + en1 + en2 + sim.notify.coinb2, 'hex');
    t.equal(full.subarray(0, 4).toString('hex'), '03000500', 'bytes 03000500');
    const tx = parseTx(full);
    t.equal(tx.version, 3);
    t.equal(tx.type, 5);
    t.equal(tx.inputs.length, 1);
    const input = tx.inputs[0]!;
    t.equal(input.prevHash.toString('hex'), '00'.repeat(32), 'null prevout');
    t.equal(input.prevIndex, 0xffffffff);
    t.ok(input.script.length >= 2 && input.script.length <= 100, 'scriptSig within consensus size');
    const { height, pushLength } = bip34Height(input.script);
    t.equal(height, 2_345_678, 'BIP34 height push first');
    const enOffset = sim.notify.coinb1.length / 2;
    t.ok(enOffset >= input.scriptOffset + pushLength, 'extranonce after the height push');
    t.ok(enOffset + en1Size + en2Size <= input.scriptOffset + input.script.length, 'extranonce inside the scriptSig');
    t.equal(input.script.subarray(enOffset - input.scriptOffset, enOffset - input.scriptOffset + en1Size + en2Size).toString('hex'), en1 + en2);
    t.ok(tx.outputs.length >= 1);
    for (const o of tx.outputs) {
      t.match(o.script.toString('hex'), /^76a914[0-9a-f]{40}88ac$/, 'P2PKH output');
      t.ok(o.value > 0n);
    }
    t.equal(tx.lockTime, 0);
    t.ok(tx.payload, 'a payload after nLockTime');
    t.equal(tx.consumedAll, true, 'the payload ends the transaction');
    const cb = parseCbTx(tx.payload!);
    t.equal(cb.version, 3);
    t.equal(cb.height, 2_345_678, 'CbTx height = BIP34 height');
    t.equal(cb.consumedAll, true);
    t.same(tx.payload, sim.payload);

    const txid = sha256d(full);
    const fromBranch = merkleRootFromBranch(
      txid,
      sim.notify.merkleBranch.map((h) => Buffer.from(h, 'hex')),
    );
    t.same(fromBranch, merkleRoot([txid, ...sim.txHashes]), 'root from the branch = root of all transactions');
    t.equal(sim.notify.merkleBranch.length, txCount === 0 ? 0 : Math.ceil(Math.log2(txCount + 1)));
  });
}

t.test('blocks: prevhash unique per height, word-swapped in notify, clean jobs make older jobs stale', async (t) => {
  const src = new SimJobSource({ extranonce1Size: 4, extranonce2Size: 4, nbits: 0x1e0fffff, maxJobs: 4 });
  const first = src.nextJob(1, true);
  const second = src.nextJob(1, false);
  t.equal(first.notify.prevhash, second.notify.prevhash, 'same block, same prevhash');
  t.equal(second.notify.cleanJobs, false);
  const h = src.height;
  const third = src.nextBlock(2);
  t.equal(src.height, h + 1);
  t.equal(third.height, h + 1);
  t.equal(third.notify.cleanJobs, true);
  t.not(third.notify.prevhash, first.notify.prevhash);
  t.equal(third.job.poolDifficulty, 2);
  const internal = swapWords32(Buffer.from(third.notify.prevhash, 'hex'));
  t.same(third.job.prevhash, internal);
  t.match(Buffer.from(internal).reverse().toString('hex'), /^00000000/, 'display form starts with zeros like a real block hash');
  t.equal(src.lookup(first.notify.jobId)?.stale, true);
  t.equal(src.lookup(second.notify.jobId)?.stale, true);
  t.equal(src.lookup(third.notify.jobId)?.stale, false);
  const prevhashes = new Set<string>();
  for (let i = 0; i < 5; i++) prevhashes.add(src.nextBlock(1).notify.prevhash);
  t.equal(prevhashes.size, 5);
  t.equal(src.lookup(first.notify.jobId), undefined, 'forgotten beyond maxJobs');
  t.equal(src.size, 4);
  t.equal(JSON.parse(third.notifyLine.toString()).params[0], third.notify.jobId, 'the line is the serialized notify');
});

t.test('bad coinbase and template parameters are refused', async (t) => {
  const payload = { height: 1, merkleRootMNList: Buffer.alloc(32), merkleRootQuorums: Buffer.alloc(32), bestCLHeightDiff: 0, bestCLSignature: Buffer.alloc(96), creditPoolBalance: 0n };
  t.throws(() => buildCoinbase({ height: 100, time: 0, extranonce1Size: 40, extranonce2Size: 40, poolTag: '', outputs: [], payload }), /extranonce1 \+ extranonce2 must be 1 to 75 bytes/);
  t.throws(() => buildCoinbase({ height: 100, time: 0, extranonce1Size: 4, extranonce2Size: 4, poolTag: '', outputs: [{ value: 1n, pubKeyHash: Buffer.alloc(19) }], payload }), /20 bytes/);
  const long = buildCoinbase({ height: 100, time: 0, extranonce1Size: 16, extranonce2Size: 16, poolTag: 'x'.repeat(200), outputs: [], payload });
  const tx = parseTx(Buffer.concat([long.coinb1, Buffer.alloc(32), long.coinb2]));
  t.ok(tx.inputs[0]!.script.length <= 100, 'a long tag is trimmed to keep the scriptSig within 100 bytes');
  t.throws(() => new SimJobSource({ extranonce1Size: 4, extranonce2Size: 4, nbits: 0 }), /zero target/);
});
