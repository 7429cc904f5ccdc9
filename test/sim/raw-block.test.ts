import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { MAX_COMPACT_SIZE, parseRawBlock, parseRawTransaction, RawBlockError } from '../../src/sim/raw-block.js';
import { fixturesDir } from '../helpers/fixtures.js';

/** The fixture fields this test reads (the whole description is in test/fixtures/dash-blocks.README.md). */
interface Fixture {
  id: string;
  version: number;
  prevhash: string;
  merkleroot: string;
  time: number;
  bits: string;
  nonce: number;
  header_hex: string;
  tx_count: number;
  txids: string[];
  coinbase: { hex: string; tx_version: number; tx_type: number; scriptsig_hex: string; extra_payload_hex: string | null };
  block_hex?: string;
}

const fixtures = (JSON.parse(readFileSync(path.join(fixturesDir, 'dash-blocks.json'), 'utf8')) as { blocks: Fixture[] }).blocks;
const withBytes = fixtures.filter((b): b is Fixture & { block_hex: string } => typeof b.block_hex === 'string');

t.test('the fixture set has full bytes for all four blocks', async (t) => {
  t.equal(withBytes.length, 4);
});

for (const f of withBytes) {
  t.test(`${f.id}: parses, header fields and txids match the fixture`, async (t) => {
    const block = parseRawBlock(f.block_hex);
    t.equal(block.header.raw.toString('hex'), f.header_hex);
    t.equal(block.header.version, f.version);
    t.equal(block.header.prevhash, f.prevhash);
    t.equal(block.header.merkleRoot, f.merkleroot);
    t.equal(block.header.time, f.time);
    t.equal(block.header.bits.toString(16).padStart(8, '0'), f.bits);
    t.equal(block.header.nonce, f.nonce);
    t.equal(block.txs.length, f.tx_count);
    t.same(block.txs.map((tx) => tx.txid), f.txids, 'every txid (sha256d of the parsed bytes) is the fixture txid');
    t.ok(f.tx_count < 0xfd, 'a one-byte transaction count');
    t.equal(80 + 1 + block.txs.reduce((n, tx) => n + tx.raw.length, 0), f.block_hex.length / 2, 'header, count and transactions cover every byte');

    const cb = block.txs[0]!;
    t.equal(cb.raw.toString('hex'), f.coinbase.hex, 'the first transaction is the coinbase');
    t.equal(cb.version, f.coinbase.tx_version);
    t.equal(cb.type, f.coinbase.tx_type);
    t.equal(cb.inputs.length, 1);
    t.equal(cb.inputs[0]!.prevTxid, '0'.repeat(64), 'a coinbase spends the null prevout');
    t.equal(cb.inputs[0]!.prevIndex, 0xffffffff);
    t.equal(cb.inputs[0]!.scriptSig.toString('hex'), f.coinbase.scriptsig_hex);
    t.equal(cb.extraPayload === null ? null : cb.extraPayload.toString('hex'), f.coinbase.extra_payload_hex);
    t.ok(cb.outputs.every((o) => o.value >= 0n), 'output values read as duffs');

    for (const tx of block.txs) {
      const again = parseRawTransaction(tx.raw);
      t.equal(again.txid, tx.txid, `${tx.txid.slice(0, 12)}: the transaction alone parses to the same txid`);
    }
  });
}

t.test('block 2045354 carries special transactions with payloads, and values as bigint', async (t) => {
  const f = withBytes.find((b) => b.id === 'dash-mainnet-2045354')!;
  const block = parseRawBlock(Buffer.from(f.block_hex, 'hex'));
  const special = block.txs.filter((tx) => tx.extraPayload !== null);
  t.ok(special.length >= 2, `${special.length} transactions with a DIP2 payload (the CbTx and the ProRegTx at least)`);
  t.ok(special.every((tx) => tx.version >= 3 && tx.type !== 0));
  t.ok(block.txs.slice(1).some((tx) => tx.type === 1), 'a ProRegTx (type 1), as the source repository names the file');
  const cb = block.txs[0]!;
  t.equal(cb.extraPayload!.readUInt16LE(0), 3, 'CbTx version 3');
  t.equal(cb.extraPayload!.readUInt32LE(2), 2045354, 'CbTx height');
  const total = cb.outputs.reduce((s, o) => s + o.value, 0n);
  t.equal(typeof total, 'bigint');
  t.ok(total > 0n);
});

t.test('truncated bytes give an error naming what was being read and where', async (t) => {
  const f = withBytes.find((b) => b.id === 'dash-mainnet-2045354')!;
  const bytes = Buffer.from(f.block_hex, 'hex');
  t.throws(() => parseRawBlock(bytes.subarray(0, 79)), { name: 'RawBlockError', message: /^truncated: block header needs 80 bytes at offset 0, only 79 left$/ });
  t.throws(() => parseRawBlock(bytes.subarray(0, 80)), { message: /^truncated: transaction count needs 1 bytes at offset 80, only 0 left$/ });
  t.throws(() => parseRawBlock(bytes.subarray(0, 85)), { message: /^truncated: tx 0 of 30 input count needs 1 bytes at offset 85, only 0 left$/ });
  // Every cut inside the block fails, and always with a RawBlockError that says "truncated".
  let cuts = 0;
  for (let end = 0; end < bytes.length; end += 53) {
    let message = 'no error';
    try {
      parseRawBlock(bytes.subarray(0, end));
    } catch (err) {
      message = err instanceof RawBlockError ? err.message : `not a RawBlockError: ${String(err)}`;
    }
    if (!/^truncated: /.test(message)) t.fail(`cut at ${end}: ${message}`);
    cuts++;
  }
  t.equal(cuts, Math.ceil(bytes.length / 53), `${cuts} cuts, each one refused as truncated`);
  t.throws(() => parseRawBlock(bytes.subarray(0, bytes.length - 1)), { message: /^truncated: tx 29 of 30 / }, 'one byte short: the last transaction is cut');
  const coinbase = Buffer.from(f.coinbase.hex, 'hex');
  t.throws(() => parseRawTransaction(coinbase.subarray(0, coinbase.length - 1)), { message: /^truncated: tx extra payload \(type 5\) needs \d+ bytes/ }, 'a CbTx payload one byte short');
});

t.test('trailing bytes give an error with their count', async (t) => {
  for (const f of withBytes) {
    t.throws(() => parseRawBlock(f.block_hex + '00'), { name: 'RawBlockError', message: `trailing bytes: 1 after the last of ${f.tx_count} transactions (offset ${f.block_hex.length / 2})` }, f.id);
  }
  const coinbase = withBytes[1]!.coinbase.hex;
  t.throws(() => parseRawTransaction(coinbase + 'abcd'), { message: `trailing bytes: 2 after the transaction (it ends at offset ${coinbase.length / 2})` });
});

t.test('other bad input: not hex, no transactions, non-canonical or huge compact sizes', async (t) => {
  const header = withBytes[1]!.header_hex;
  t.throws(() => parseRawBlock('abc'), { message: 'block: not hex (3 characters)' });
  t.throws(() => parseRawBlock('zz'), { message: 'block: not hex (2 characters)' });
  t.throws(() => parseRawBlock(header + '00'), { message: /^block has no transactions/ });
  t.throws(() => parseRawBlock(header + 'fd0100'), { message: 'transaction count: non-canonical compact size 1 at offset 80' });
  t.throws(() => parseRawBlock(header + 'fe00000010'), { message: `transaction count: compact size ${0x10000000} at offset 80 exceeds ${MAX_COMPACT_SIZE}` });
  t.throws(() => parseRawBlock(header + 'ff0000000000000001'), { message: /^transaction count: compact size \d+ at offset 80 exceeds/ });
  // A script length that claims more bytes than are left.
  const tx = '01000000' + '01' + '00'.repeat(32) + 'ffffffff' + 'fd0001';
  t.throws(() => parseRawTransaction(tx), { message: /^truncated: tx input 0 scriptSig needs 256 bytes at offset 44, only 0 left$/ });
});

t.test('a version-3 transaction of type 0 has no payload, a version-2 one ignores the type bits', async (t) => {
  const body = '01' + '11'.repeat(32) + '01000000' + '00' + 'feffffff' + '01' + '0100000000000000' + '01' + '6a' + '00000000';
  const v3 = parseRawTransaction('03000000' + body);
  t.equal(v3.extraPayload, null);
  t.equal(v3.inputs[0]!.prevIndex, 1);
  t.equal(v3.inputs[0]!.sequence, 0xfffffffe);
  t.equal(v3.outputs[0]!.value, 1n);
  t.equal(v3.outputs[0]!.script.toString('hex'), '6a');
  const v2typed = parseRawTransaction('02000600' + body);
  t.equal(v2typed.type, 6);
  t.equal(v2typed.extraPayload, null, 'DIP2 payloads exist only from version 3');
  const v3typed = parseRawTransaction('03000600' + body + '02abcd');
  t.equal(v3typed.extraPayload!.toString('hex'), 'abcd');
});
