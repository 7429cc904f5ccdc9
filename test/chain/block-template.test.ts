import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { KNOWN_DASH_RULES, parseBlockTemplate } from '../../src/chain/block-template.js';
import { fixturesDir } from '../helpers/fixtures.js';

/** Every refusal of parseBlockTemplate, each on the Dash Core 20 docs template with one field made wrong. */

const base = JSON.parse(readFileSync(path.join(fixturesDir, 'dash-gbt-v20-testnet.json'), 'utf8')) as Record<string, unknown>;

/** JSON test data, changed freely. */
type Raw = Record<string, any>;

function variant(change: (raw: Raw) => void): Raw {
  const raw = structuredClone(base) as Raw;
  change(raw);
  return raw;
}

function reasonOf(raw: unknown): string {
  const p = parseBlockTemplate(raw);
  return p.ok ? 'accepted' : p.reason;
}

t.test('the docs template parses', async (t) => {
  const p = parseBlockTemplate(base);
  if (!p.ok) return t.fail(p.reason);
  t.equal(p.template.previousBlockHash, '000000487e77ca7d979fcb607e8967295f2b1dd8ddb2785d813b0ed6344f149a');
  t.equal(p.template.prevhash.toString('hex'), '9a144f34d60e3b815d78b2ddd81d2b5f2967897e60cb9f977dca777e48000000', 'internal order for the header');
  t.equal(p.template.bits, 0x1e012a59);
  t.equal(p.template.target, 0x12a59n << 216n);
  t.equal(p.template.curTime, 1696364934);
  t.equal(p.template.minTime, 1696363840);
  t.equal(p.template.longpollId, '000000487e77ca7d979fcb607e8967295f2b1dd8ddb2785d813b0ed6344f149a156');
  t.equal(p.template.version, 0x20000000);
  t.same(p.template.superblock, []);
  t.equal(p.template.coinbasePayload!.length, 175);
});

const refusals: [string, (raw: Raw) => void, string | RegExp][] = [
  ['version missing', (r) => delete r.version, 'version: not a 32-bit unsigned integer (missing)'],
  ['version negative', (r) => (r.version = -1), 'version: not a 32-bit unsigned integer (-1)'],
  ['version fractional', (r) => (r.version = 1.5), 'version: not a 32-bit unsigned integer (1.5)'],
  ['version as text', (r) => (r.version = '20000000'), 'version: not a 32-bit unsigned integer ("20000000")'],
  ['rules missing', (r) => delete r.rules, 'rules: not an array (missing)'],
  ['a rule that is no string', (r) => (r.rules = ['v20', 7]), 'rules[1]: not a string (7)'],
  ['an unknown rule the miner must understand', (r) => (r.rules = ['v20', '!segwit']), `rules[1]: "!segwit" is a rule the miner must understand and the proxy does not know (known: ${KNOWN_DASH_RULES.join(', ')})`],
  ['previousblockhash missing', (r) => delete r.previousblockhash, 'previousblockhash: not a hex string (missing)'],
  ['previousblockhash not hex', (r) => (r.previousblockhash = 'x'.repeat(64)), /^previousblockhash: not hex \("xxxx/],
  ['previousblockhash short', (r) => (r.previousblockhash = '00'.repeat(31)), 'previousblockhash: 31 bytes, expected 32'],
  ['transactions missing', (r) => delete r.transactions, 'transactions: not an array (missing)'],
  ['a transaction that is no object', (r) => (r.transactions[1] = 'abcd'), 'transactions[1]: not an object ("abcd")'],
  ['transaction data not hex', (r) => (r.transactions[0].data = 'abc'), 'transactions[0].data: not hex ("abc")'],
  ['transaction data empty', (r) => (r.transactions[2].data = ''), 'transactions[2].data: empty'],
  ['transaction hash missing', (r) => delete r.transactions[0].hash, 'transactions[0].hash: not a hex string (missing)'],
  ['transaction hash short', (r) => (r.transactions[0].hash = 'ab'), 'transactions[0].hash: 1 bytes, expected 32'],
  [
    'transaction hash of other data',
    (r) => (r.transactions[0].hash = r.transactions[1].hash),
    'transactions[0].hash: 3409f455c1584155833227b171d83840de662dd33e216ede9b82d933bfcc2151 is not the txid of its data (9b9f02cb05d3d323b503561608c9ca383a45ef57fb6ebd84ae0d81a653e30003)',
  ],
  ['transaction data changed', (r) => (r.transactions[2].data = r.transactions[2].data.slice(0, -2) + '00'), /^transactions\[2\]\.hash: 5715b73c\w+ is not the txid of its data \(\w{64}\)$/],
  ['a txid field that disagrees', (r) => (r.transactions[1].txid = '00'.repeat(32)), /^transactions\[1\]\.txid: 0{64} is not the txid of its data \(3409f455/],
  ['coinbasevalue missing', (r) => delete r.coinbasevalue, 'coinbasevalue: not a whole number of duffs, 0 or more (missing)'],
  ['coinbasevalue negative', (r) => (r.coinbasevalue = -1), 'coinbasevalue: not a whole number of duffs, 0 or more (-1)'],
  ['coinbasevalue in DASH', (r) => (r.coinbasevalue = 16.72799096), 'coinbasevalue: not a whole number of duffs, 0 or more (16.72799096)'],
  ['coinbasevalue beyond 2^53', (r) => (r.coinbasevalue = 2 ** 53), 'coinbasevalue: not a whole number of duffs, 0 or more (9007199254740992)'],
  ['longpollid not text', (r) => (r.longpollid = 5), 'longpollid: not a string (5)'],
  ['bits missing', (r) => delete r.bits, 'bits: not a hex string (missing)'],
  ['bits of 3 bytes', (r) => (r.bits = '1e012a'), 'bits: 3 bytes, expected 4'],
  ['bits negative', (r) => (r.bits = '1e812a59'), 'bits: nbits 1e812a59 is negative'],
  ['bits overflowing', (r) => (r.bits = '2300ffff'), 'bits: nbits 2300ffff overflows 256 bits'],
  ['bits of a zero target', (r) => (r.bits = '1e000000'), 'bits: nbits 1e000000 encodes a zero target'],
  ['target missing', (r) => delete r.target, 'target: not a hex string (missing)'],
  [
    'target not the one of bits',
    (r) => (r.target = '0000012a5a' + '0'.repeat(54)),
    'target: 0000012a5a000000000000000000000000000000000000000000000000000000 is not the target of bits 1e012a59 (0000012a59000000000000000000000000000000000000000000000000000000)',
  ],
  ['curtime missing', (r) => delete r.curtime, 'curtime: not a 32-bit unsigned integer (missing)'],
  ['curtime in milliseconds', (r) => (r.curtime = 1696364934000), 'curtime: not a 32-bit unsigned integer (1696364934000)'],
  ['mintime as text', (r) => (r.mintime = '1696363840'), 'mintime: not a 32-bit unsigned integer ("1696363840")'],
  ['height missing', (r) => delete r.height, 'height: not a block height of 1 or more (missing)'],
  ['height 0', (r) => (r.height = 0), 'height: not a block height of 1 or more (0)'],
  ['height fractional', (r) => (r.height = 917411.5), 'height: not a block height of 1 or more (917411.5)'],
  ['height beyond a script number', (r) => (r.height = 2 ** 31), 'height: not a block height of 1 or more (2147483648)'],
  ['masternode missing', (r) => delete r.masternode, 'masternode: not an object (missing)'],
  ['masternode as text', (r) => (r.masternode = 'yeRZ'), 'masternode: not an object ("yeRZ")'],
  ['a masternode entry that is no object', (r) => (r.masternode[1] = null), 'masternode[1]: not an object (null)'],
  ['a masternode payee that is no string', (r) => (r.masternode[0].payee = null), 'masternode[0].payee: not a string (null)'],
  ['a masternode script missing', (r) => delete r.masternode[1].script, 'masternode[1].script: not a hex string (missing)'],
  ['a masternode script not hex', (r) => (r.masternode[1].script = '76a9zz'), 'masternode[1].script: not hex ("76a9zz")'],
  ['a masternode script empty', (r) => (r.masternode[0].script = ''), 'masternode[0].script: empty script'],
  ['a masternode script whose push runs past its end', (r) => (r.masternode[1].script = '76a914c69a0bda7d88ac'), 'masternode[1].script: push of 20 bytes at byte 2 runs past the end of the 10-byte script'],
  ['a PUSHDATA2 whose length runs past the end', (r) => (r.masternode[1].script = '6a4d01'), 'masternode[1].script: push length at byte 1 runs past the end of the 3-byte script'],
  ['a masternode amount as text', (r) => (r.masternode[1].amount = '627299661'), 'masternode[1].amount: not a whole number of duffs, 0 or more ("627299661")'],
  ['a masternode amount negative', (r) => (r.masternode[0].amount = -376379796), 'masternode[0].amount: not a whole number of duffs, 0 or more (-376379796)'],
  ['a legacy masternode object with a bad script', (r) => (r.masternode = { payee: 'y', script: '4c05aa', amount: 1 }), 'masternode.script: push of 5 bytes at byte 0 runs past the end of the 3-byte script'],
  ['superblock missing', (r) => delete r.superblock, 'superblock: not an array (missing)'],
  ['a superblock script malformed', (r) => (r.superblock = [{ payee: 'y', script: '14aabb', amount: 5 }]), 'superblock[0].script: push of 20 bytes at byte 0 runs past the end of the 3-byte script'],
  [
    'payments exceeding the value',
    (r) => (r.coinbasevalue = 376379796 + 627299661 - 1),
    'coinbasevalue: payments 10.03679457 DASH exceed coinbasevalue 10.03679456 DASH',
  ],
  [
    'payments with a superblock exceeding the value',
    (r) => (r.superblock = [{ payee: 'y', script: '6a', amount: 1672799096 - 376379796 - 627299661 + 1 }]),
    'coinbasevalue: payments 16.72799097 DASH exceed coinbasevalue 16.72799096 DASH',
  ],
  ['coinbase_payload not hex', (r) => (r.coinbase_payload = 'zz'), 'coinbase_payload: not hex ("zz")'],
  ['coinbase_payload empty', (r) => (r.coinbase_payload = ''), 'coinbase_payload: 0 bytes, too short for a CbTx (version and height take 6)'],
  ['coinbase_payload short', (r) => (r.coinbase_payload = '0300a3ff0d'), 'coinbase_payload: 5 bytes, too short for a CbTx (version and height take 6)'],
  ['coinbase_payload version 0', (r) => (r.coinbase_payload = '0000' + r.coinbase_payload.slice(4)), 'coinbase_payload: CbTx version 0'],
  ['coinbase_payload v3 one byte short', (r) => (r.coinbase_payload = r.coinbase_payload.slice(0, -2)), 'coinbase_payload: 174 bytes, a CbTx version 3 has 175'],
  ['coinbase_payload v3 with a byte too many', (r) => (r.coinbase_payload += '00'), 'coinbase_payload: 176 bytes, a CbTx version 3 has 175'],
  ['coinbase_payload v3 cut after the quorum root', (r) => (r.coinbase_payload = r.coinbase_payload.slice(0, 140)), 'coinbase_payload: 70 bytes, a CbTx version 3 has 175'],
  ['coinbase_payload v3 with a 3-byte height diff and the old size', (r) => (r.coinbase_payload = r.coinbase_payload.slice(0, 140) + 'fd0001' + r.coinbase_payload.slice(142, -4)), 'coinbase_payload: 175 bytes, a CbTx version 3 has 177'],
  ['coinbase_payload v2 of v3 size', (r) => (r.coinbase_payload = '0200' + r.coinbase_payload.slice(4)), 'coinbase_payload: 175 bytes, a CbTx version 2 has 70'],
  ['coinbase_payload v1 of v3 size', (r) => (r.coinbase_payload = '0100' + r.coinbase_payload.slice(4)), 'coinbase_payload: 175 bytes, a CbTx version 1 has 38'],
  ['coinbase_payload of another height', (r) => (r.height = 917412), "coinbase_payload: CbTx height 917411 is not the template's height 917412"],
];

for (const [name, change, expected] of refusals) {
  t.test(`refused: ${name}`, async (t) => {
    const reason = reasonOf(variant(change));
    if (typeof expected === 'string') t.equal(reason, expected);
    else t.match(reason, expected);
  });
}

t.test('other things that are not a template object', async (t) => {
  t.equal(reasonOf(null), 'template: not an object (null)');
  t.equal(reasonOf(undefined), 'template: not an object (missing)');
  t.equal(reasonOf('template'), 'template: not an object ("template")');
  t.match(reasonOf([base]), /^template: not an object \(\[\{"capabilities/, 'an array holding a template is no template');
});

t.test('accepted variants', async (t) => {
  t.equal(reasonOf(variant((r) => (r.rules = ['v20', '!mn_rr', 'someday']))), 'accepted', 'a known rule with ! and an unknown rule without ! are fine');
  t.equal(reasonOf(variant((r) => delete r.coinbase_payload)), 'accepted', 'no payload: a version-1 coinbase');
  t.equal(reasonOf(variant((r) => delete r.longpollid)), 'accepted', 'no longpollid: polling only');
  t.equal(reasonOf(variant((r) => delete r.mintime)), 'accepted');
  t.equal(reasonOf(variant((r) => (r.coinbase_payload = '0200' + r.coinbase_payload.slice(4, 140)))), 'accepted', 'a CbTx v2 (70 bytes)');
  t.equal(reasonOf(variant((r) => (r.coinbase_payload = '0100' + r.coinbase_payload.slice(4, 76)))), 'accepted', 'a CbTx v1 (38 bytes)');
  t.equal(reasonOf(variant((r) => (r.coinbase_payload = r.coinbase_payload.slice(0, 140) + 'fd0001' + r.coinbase_payload.slice(142)))), 'accepted', 'a CbTx v3 with a 3-byte height diff (177 bytes)');
  t.equal(reasonOf(variant((r) => (r.coinbase_payload = '0400' + r.coinbase_payload.slice(4) + 'abcd'))), 'accepted', 'a later CbTx version: its height checked, carried as given');

  t.equal(reasonOf(variant((r) => (r.transactions = []))), 'accepted', 'an empty block');
  t.equal(reasonOf(variant((r) => (r.transactions[0].txid = r.transactions[0].hash))), 'accepted', 'a txid field that agrees');
  t.equal(reasonOf(variant((r) => (r.transactions[0].hash = r.transactions[0].hash.toUpperCase()))), 'accepted', 'upper-case hex');
  t.equal(reasonOf(variant((r) => (r.coinbasevalue = 376379796 + 627299661))), 'accepted', 'payments equal to the value: the farm gets 0');

  const legacy = parseBlockTemplate(variant((r) => (r.masternode = { payee: 'XyZ', script: '76a914' + '22'.repeat(20) + '88ac', amount: 100 })));
  if (!legacy.ok) return t.fail(legacy.reason);
  t.same(
    legacy.template.masternode.map((p) => [p.payee, p.amount]),
    [['XyZ', 100n]],
    'an old node sent one masternode object',
  );
  const none = parseBlockTemplate(variant((r) => (r.masternode = {})));
  if (!none.ok) return t.fail(none.reason);
  t.same(none.template.masternode, [], 'an old node with no payee sent {}');

  const withSuperblock = parseBlockTemplate(
    variant((r) => (r.superblock = [{ payee: 'a', script: '6a04deadbeef', amount: 7 }, { payee: 'b', script: '6a4c0100', amount: 8 }])),
  );
  if (!withSuperblock.ok) return t.fail(withSuperblock.reason);
  t.same(
    withSuperblock.template.superblock.map((p) => [p.script.toString('hex'), p.amount]),
    [
      ['6a04deadbeef', 7n],
      ['6a4c0100', 8n],
    ],
  );
});
