import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { displayHash } from '../../src/chain/bytes.js';
import { merkleBranchOf, serializeBlock } from '../../src/chain/block.js';
import { parseBlockTemplate, type BlockTemplate } from '../../src/chain/block-template.js';
import { buildCoinbase } from '../../src/chain/coinbase.js';
import { writeHeader } from '../../src/chain/header.js';
import { merkleRootFromBranch } from '../../src/chain/merkle.js';
import { heightPush } from '../../src/chain/script.js';
import { sha256d } from '../../src/chain/sha256.js';
import { loadX11Wasm } from '../../src/chain/x11-wasm.js';
import { parseRawBlock, parseRawTransaction, type RawBlock } from '../../src/sim/raw-block.js';
import { fixturesDir } from '../helpers/fixtures.js';

/**
 * The proof: real Dash blocks rebuilt byte for byte by the proxy's own template reader, coinbase
 * builder and block serializer. For each fixture block with its full bytes and a BIP34 height, the template
 * dashd would have returned for it is derived from the block (the raw block is taken apart by
 * src/sim/raw-block.ts, which shares no code with the builder), then the block is built from that template
 * with the block's own scriptSig (after the height push) in the extranonce place and its own nonce.
 */

const hasher = await loadX11Wasm();

interface FixtureBlock {
  id: string;
  height: number;
  hash: string;
  block_hex: string;
  coinbase: { hex: string };
}
const fixtures = (JSON.parse(readFileSync(path.join(fixturesDir, 'dash-blocks.json'), 'utf8')) as { blocks: FixtureBlock[] }).blocks;

/** What dashd's getblocktemplate would have said for the block (the fields the block itself determines). */
function templateOf(block: RawBlock, height: number): Record<string, unknown> {
  const coinbase = block.txs[0]!;
  const bits = block.header.bits.toString(16).padStart(8, '0');
  const raw: Record<string, unknown> = {
    version: block.header.version,
    rules: ['csv', 'dip0001'],
    previousblockhash: block.header.prevhash,
    transactions: block.txs.slice(1).map((tx) => ({ data: tx.raw.toString('hex'), hash: tx.txid, depends: [], fee: 0, sigops: 0 })),
    coinbaseaux: {},
    coinbasevalue: Number(coinbase.outputs.reduce((sum, o) => sum + o.value, 0n)),
    longpollid: block.header.prevhash + '1',
    target: '', // filled in below from bits, the way dashd writes it
    mintime: block.header.time - 600,
    curtime: block.header.time,
    bits,
    height,
    masternode: coinbase.outputs.slice(1).map((o) => ({ payee: '', script: o.script.toString('hex'), amount: Number(o.value) })),
    superblock: [],
  };
  const exponent = parseInt(bits.slice(0, 2), 16);
  raw.target = (BigInt('0x' + bits.slice(2)) << BigInt(8 * (exponent - 3))).toString(16).padStart(64, '0');
  if (coinbase.extraPayload !== null) raw.coinbase_payload = coinbase.extraPayload.toString('hex');
  return raw;
}

function parsed(raw: unknown): BlockTemplate {
  const p = parseBlockTemplate(raw);
  if (!p.ok) throw new Error(`template refused: ${p.reason}`);
  return p.template;
}

const withHeight = fixtures.filter((f) => f.height > 0);

t.test('the proof covers every fixture block with full bytes and a BIP34 height', async (t) => {
  t.same(
    withHeight.map((f) => f.id),
    ['dash-mainnet-844898', 'dash-mainnet-2045354', 'dash-testnet-19976'],
  );
  const genesis = fixtures.find((f) => f.height === 0)!;
  // The genesis block has no BIP34 height (its scriptSig is 04ffff001d...) and no template: height 0 is refused.
  const g = parseRawBlock(genesis.block_hex);
  t.equal(g.txs[0]!.inputs[0]!.scriptSig.subarray(0, 5).toString('hex'), '04ffff001d', 'the genesis scriptSig starts with a push of nBits, not a height');
  const refused = parseBlockTemplate(templateOf(g, 0));
  t.same(refused, { ok: false, reason: 'height: not a block height of 1 or more (0)' }, 'no template exists for the genesis');
});

for (const f of withHeight) {
  t.test(`${f.id}: coinbase, header and block rebuilt byte for byte from its template`, async (t) => {
    const block = parseRawBlock(f.block_hex);
    const realCoinbase = block.txs[0]!;
    const template = parsed(templateOf(block, f.height));
    t.equal(template.height, f.height);
    t.equal(template.transactions.length, block.txs.length - 1);

    const scriptSig = realCoinbase.inputs[0]!.scriptSig;
    const push = heightPush(f.height);
    t.equal(scriptSig.subarray(0, push.length).toString('hex'), push.toString('hex'), 'the block starts its scriptSig with our BIP34 height push');
    const extranonce = scriptSig.subarray(push.length);

    const built = buildCoinbase(template, {
      payoutScript: realCoinbase.outputs[0]!.script,
      extranonceSize: extranonce.length,
      tag: Buffer.alloc(0),
      sequence: realCoinbase.inputs[0]!.sequence,
    });
    const coinbase = Buffer.concat([built.coinb1, extranonce, built.coinb2]);
    t.equal(coinbase.toString('hex'), f.coinbase.hex, 'the coinbase is byte-identical to the real one');
    t.equal(built.farmReward, realCoinbase.outputs[0]!.value, "the farm's output is the miner's output of the real block");
    t.same(
      built.outputs.map((o) => [o.value, o.script.toString('hex')]),
      realCoinbase.outputs.map((o) => [o.value, o.script.toString('hex')]),
    );

    const root = merkleRootFromBranch(sha256d(coinbase), merkleBranchOf(template));
    const header = writeHeader({ version: template.version, prevhash: template.prevhash, merkleRoot: root, ntime: template.curTime, nbits: template.bits, nonce: block.header.nonce });
    t.equal(header.toString('hex'), block.header.raw.toString('hex'), 'the header from the share fields is the real header');
    t.equal(displayHash(hasher.hash(header)), f.hash, 'X11 of the header is the real block hash');

    const bytes = serializeBlock(header, coinbase, template.transactions.map((tx) => tx.data));
    t.equal(bytes.toString('hex'), f.block_hex, 'serializeBlock gives the real block byte for byte');
  });
}

t.test('Dash Core 20 testnet template from the docs (platform 6a output first)', async (t) => {
  const raw = JSON.parse(readFileSync(path.join(fixturesDir, 'dash-gbt-v20-testnet.json'), 'utf8')) as Record<string, unknown>;
  const template = parsed(raw);
  t.equal(template.height, 917411);
  t.same(template.rules, ['v20', 'mn_rr']);
  t.equal(template.transactions.length, 3);
  for (const [i, tx] of template.transactions.entries()) {
    t.equal(parseRawTransaction(tx.data).txid, tx.txid, `transaction ${i}: its hash checks (an independent reader agrees)`);
  }
  t.equal(template.coinbaseValue, 1672799096n);
  t.same(
    template.masternode.map((p) => [p.payee, p.script.toString('hex'), p.amount]),
    [
      ['', '6a', 376379796n],
      ['yeRZBWYfeNE4yVUHV4ZLs83Ppn9aMRH57A', '76a914c69a0bda7daaae481be8def95e5f347a1d00a4b488ac', 627299661n],
    ],
  );

  const payoutScript = Buffer.from('76a914' + '11'.repeat(20) + '88ac', 'hex');
  const tag = Buffer.from('/dash-farm-proxy/', 'ascii');
  const built = buildCoinbase(template, { payoutScript, extranonceSize: 16, tag });
  t.equal(built.farmReward, 1672799096n - 376379796n - 627299661n, 'the farm gets coinbasevalue less both payments');
  const coinbase = parseRawTransaction(Buffer.concat([built.coinb1, Buffer.alloc(16, 0xee), built.coinb2]));
  t.equal(coinbase.version, 3);
  t.equal(coinbase.type, 5);
  t.equal(coinbase.extraPayload!.toString('hex'), raw.coinbase_payload, 'the payload is copied as given');
  t.equal(coinbase.lockTime, 0);
  t.equal(coinbase.inputs[0]!.sequence, 0xffffffff, 'default sequence');
  t.same(
    coinbase.outputs.map((o) => [o.value, o.script.toString('hex')]),
    [
      [1672799096n - 376379796n - 627299661n, payoutScript.toString('hex')],
      [376379796n, '6a'],
      [627299661n, '76a914c69a0bda7daaae481be8def95e5f347a1d00a4b488ac'],
    ],
    "farm first, then the platform's 6a output with its amount, then the masternode",
  );
  const scriptSig = coinbase.inputs[0]!.scriptSig;
  t.equal(scriptSig.toString('hex'), heightPush(917411).toString('hex') + 'ee'.repeat(16) + '11' + tag.toString('hex'), 'height push, extranonce, tag push');
  t.equal(scriptSig.subarray(0, 4).toString('hex'), '03a3ff0d', 'BIP34: 917411 as a 3-byte push');

  const branch = merkleBranchOf(template);
  t.equal(branch.length, 2, '4 transactions with the coinbase: 2 levels');
  t.equal(branch[0]!.toString('hex'), template.transactions[0]!.hash.toString('hex'), 'the first sibling is the first transaction');
});
