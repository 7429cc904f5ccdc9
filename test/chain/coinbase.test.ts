import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { parseBlockTemplate, type BlockTemplate } from '../../src/chain/block-template.js';
import { readSubmitBlockAnswer, serializeBlock } from '../../src/chain/block.js';
import { buildCoinbase, MAX_COINBASE_SCRIPTSIG } from '../../src/chain/coinbase.js';
import { compactSizeBytes, heightPush, pushData, scriptProblem } from '../../src/chain/script.js';
import { parseRawBlock, parseRawTransaction } from '../../src/sim/raw-block.js';
import { fixturesDir } from '../helpers/fixtures.js';

/** The builder's pieces and refusals; the byte-for-byte proof on real blocks is in solo-proof.test.ts. */

const docsTemplate = JSON.parse(readFileSync(path.join(fixturesDir, 'dash-gbt-v20-testnet.json'), 'utf8')) as Record<string, unknown>;

function template(change: (raw: Record<string, unknown>) => void = () => {}): BlockTemplate {
  const raw = structuredClone(docsTemplate);
  change(raw);
  const p = parseBlockTemplate(raw);
  if (!p.ok) throw new Error(p.reason);
  return p.template;
}

const payoutScript = Buffer.from('76a914' + '33'.repeat(20) + '88ac', 'hex');

t.test('BIP34 height pushes are minimal script numbers', async (t) => {
  const cases: [number, string][] = [
    [1, '51'],
    [16, '60'],
    [17, '0111'],
    [127, '017f'],
    [128, '028000'],
    [255, '02ff00'],
    [256, '020001'],
    [32767, '02ff7f'],
    [32768, '03008000'],
    [917411, '03a3ff0d'],
    [2045354, '03aa351f'],
    [0x7fffffff, '04ffffff7f'],
  ];
  for (const [height, hex] of cases) t.equal(heightPush(height).toString('hex'), hex, `height ${height}`);
  for (const bad of [0, -1, 1.5, 2 ** 31]) t.throws(() => heightPush(bad), { name: 'RangeError', message: `BIP34 height must be 1 to 2147483647, got ${bad}` });
});

t.test('compact sizes, pushes and script checks', async (t) => {
  t.equal(compactSizeBytes(0xfc).toString('hex'), 'fc');
  t.equal(compactSizeBytes(0xfd).toString('hex'), 'fdfd00');
  t.equal(compactSizeBytes(0xffff).toString('hex'), 'fdffff');
  t.equal(compactSizeBytes(0x10000).toString('hex'), 'fe00000100');
  t.throws(() => compactSizeBytes(-1), RangeError);
  t.equal(pushData(Buffer.alloc(75, 1)).subarray(0, 1).toString('hex'), '4b');
  t.equal(pushData(Buffer.alloc(76, 1)).subarray(0, 2).toString('hex'), '4c4c', 'OP_PUSHDATA1 from 76 bytes');
  t.throws(() => pushData(Buffer.alloc(0)), RangeError);
  t.throws(() => pushData(Buffer.alloc(256)), RangeError);
  t.equal(scriptProblem(Buffer.from('6a', 'hex')), null, 'OP_RETURN alone (the platform output)');
  t.equal(scriptProblem(payoutScript), null);
  t.equal(scriptProblem(Buffer.from('a914' + '00'.repeat(20) + '87', 'hex')), null, 'P2SH');
  t.equal(scriptProblem(Buffer.from('6a4e02000000aa', 'hex')), 'push of 2 bytes at byte 1 runs past the end of the 7-byte script');
  t.equal(scriptProblem(Buffer.from('6a4e010000', 'hex')), 'push length at byte 1 runs past the end of the 5-byte script');
  t.equal(scriptProblem(Buffer.from('6a4e01000000aa', 'hex')), null, 'OP_PUSHDATA4 of 1 byte that fits');
  t.equal(scriptProblem(Buffer.alloc(0)), 'empty script');
});

t.test('scriptSig bounds: the numbers in the refusal', async (t) => {
  const tpl = template();
  const tag = Buffer.from('/dash-farm-proxy/');
  // height push 4 + extranonce + tag push 18 must stay within 100.
  const fits = buildCoinbase(tpl, { payoutScript, extranonceSize: MAX_COINBASE_SCRIPTSIG - 4 - 18, tag });
  t.equal(parseRawTransaction(Buffer.concat([fits.coinb1, Buffer.alloc(78), fits.coinb2])).inputs[0]!.scriptSig.length, 100, 'exactly 100 bytes is fine');
  t.throws(() => buildCoinbase(tpl, { payoutScript, extranonceSize: 79, tag }), {
    name: 'RangeError',
    message: 'coinbase scriptSig of 101 bytes (height push 4 + extranonce 79 + tag push 18) exceeds 100',
  });
  const low = template((r) => {
    r.height = 5;
    delete r.coinbase_payload;
  });
  t.throws(() => buildCoinbase(low, { payoutScript, extranonceSize: 0, tag: Buffer.alloc(0) }), { name: 'RangeError', message: 'coinbase scriptSig of 1 byte is below 2: add extranonce or a tag' });
  const one = buildCoinbase(low, { payoutScript, extranonceSize: 1, tag: Buffer.alloc(0) });
  t.equal(one.coinb1.subarray(-2).toString('hex'), '0255', 'height 5 is OP_5, scriptSig of 2 bytes');
});

t.test('other options no block can carry', async (t) => {
  const tpl = template();
  const tag = Buffer.alloc(0);
  t.throws(() => buildCoinbase(tpl, { payoutScript: Buffer.alloc(0), extranonceSize: 8, tag }), { message: 'payout script: empty script' });
  t.throws(() => buildCoinbase(tpl, { payoutScript: Buffer.from('14aa', 'hex'), extranonceSize: 8, tag }), { message: /^payout script: push of 20 bytes/ });
  t.throws(() => buildCoinbase(tpl, { payoutScript, extranonceSize: -1, tag }), { message: 'extranonce size must be a whole number of bytes, got -1' });
  t.throws(() => buildCoinbase(tpl, { payoutScript, extranonceSize: 8, tag, sequence: 2 ** 32 }), { message: 'coinbase sequence must be a 32-bit unsigned integer, got 4294967296' });
  // A BlockTemplate made by hand (not through parseBlockTemplate) whose payments exceed the value.
  t.throws(() => buildCoinbase({ ...tpl, coinbaseValue: 1000n }, { payoutScript, extranonceSize: 8, tag }), { message: 'payments exceed coinbasevalue 1000 by 1003678457 duffs' });
});

t.test('without a payload: a version-1 coinbase; superblock payments follow the masternode ones', async (t) => {
  const sb = [
    { payee: 'a', script: '76a914' + '44'.repeat(20) + '88ac', amount: 1000 },
    { payee: 'b', script: 'a914' + '55'.repeat(20) + '87', amount: 2000 },
  ];
  const tpl = template((r) => {
    delete r.coinbase_payload;
    r.superblock = sb;
  });
  const built = buildCoinbase(tpl, { payoutScript, extranonceSize: 8, tag: Buffer.from('x'), sequence: 0 });
  t.equal(built.coinb1.subarray(0, 4).toString('hex'), '01000000', 'version 1, no type');
  const tx = parseRawTransaction(Buffer.concat([built.coinb1, Buffer.alloc(8, 7), built.coinb2]));
  t.equal(tx.extraPayload, null);
  t.equal(tx.inputs[0]!.sequence, 0);
  t.same(
    tx.outputs.map((o) => [o.value, o.script.toString('hex')]),
    [
      [1672799096n - 376379796n - 627299661n - 3000n, payoutScript.toString('hex')],
      [376379796n, '6a'],
      [627299661n, '76a914c69a0bda7daaae481be8def95e5f347a1d00a4b488ac'],
      [1000n, sb[0]!.script],
      [2000n, sb[1]!.script],
    ],
  );
  t.equal(built.farmReward, tx.outputs[0]!.value);
  t.same(built.outputs.map((o) => o.value), tx.outputs.map((o) => o.value), 'outputs as returned are the outputs written');
});

t.test('serializeBlock: count as compact size, refusals', async (t) => {
  const header = Buffer.alloc(80, 1);
  const coinbase = Buffer.from('cb', 'hex');
  const txs = Array.from({ length: 252 }, () => Buffer.from('aa', 'hex'));
  t.equal(serializeBlock(header, coinbase, txs).subarray(80, 81).toString('hex'), 'fd', '253 transactions need a 3-byte count');
  t.equal(serializeBlock(header, coinbase, txs.slice(1)).subarray(80, 81).toString('hex'), 'fc');
  t.throws(() => serializeBlock(Buffer.alloc(79), coinbase, []), { message: 'block header must be 80 bytes, got 79' });
  t.throws(() => serializeBlock(header, Buffer.alloc(0), []), { message: 'block needs a coinbase' });

  // A whole block made from the docs template reads back with the independent parser.
  const tpl = template();
  const built = buildCoinbase(tpl, { payoutScript, extranonceSize: 8, tag: Buffer.alloc(0) });
  const cb = Buffer.concat([built.coinb1, Buffer.alloc(8), built.coinb2]);
  const block = parseRawBlock(serializeBlock(header, cb, tpl.transactions.map((tx) => tx.data)));
  t.same(block.txs.map((tx) => tx.txid).slice(1), tpl.transactions.map((tx) => tx.txid));
});

t.test('readSubmitBlockAnswer: BIP22 answers as data', async (t) => {
  t.same(readSubmitBlockAnswer(null, null), { result: 'accepted', reason: null });
  t.same(readSubmitBlockAnswer(undefined, undefined), { result: 'accepted', reason: null });
  t.same(readSubmitBlockAnswer('duplicate', null), { result: 'accepted', reason: 'duplicate' });
  t.same(readSubmitBlockAnswer('inconclusive', null), { result: 'inconclusive', reason: 'inconclusive' });
  t.same(readSubmitBlockAnswer('duplicate-inconclusive', null), { result: 'inconclusive', reason: 'duplicate-inconclusive' });
  t.same(readSubmitBlockAnswer('duplicate-invalid', null), { result: 'rejected', reason: 'duplicate-invalid' });
  t.same(readSubmitBlockAnswer('rejected', null), { result: 'rejected', reason: 'rejected' });
  t.same(readSubmitBlockAnswer('bad-cb-amount', null), { result: 'rejected', reason: 'bad-cb-amount' });
  t.same(readSubmitBlockAnswer('high-hash', null), { result: 'rejected', reason: 'high-hash' });
  t.same(readSubmitBlockAnswer('', null), { result: 'rejected', reason: 'rejected' });
  t.same(readSubmitBlockAnswer(null, { code: -22, message: 'Block decode failed' }), { result: 'rejected', reason: 'Block decode failed (RPC error -22)' });
  t.same(readSubmitBlockAnswer(null, { message: 'odd' }), { result: 'rejected', reason: 'odd' });
  t.same(readSubmitBlockAnswer(null, 'boom'), { result: 'rejected', reason: 'RPC error "boom"' });
  t.same(readSubmitBlockAnswer(true, null), { result: 'unanswered', reason: 'submitblock answered true, not a BIP22 result' });
  t.same(readSubmitBlockAnswer({ a: 1 }, null), { result: 'unanswered', reason: 'submitblock answered {"a":1}, not a BIP22 result' });
});
