import t from 'tap';
import { base58Decode, base58Encode, encodeAddress, p2pkhAddress, readAddress } from '../../src/sim/dash-address.js';

// A mainnet address from dashcore-lib's documentation (docs/core-concepts/address.md).
const REAL_MAINNET = 'XuUGDZHrKLo841CyamDbG5W7n59epA71h2';

t.test('a real mainnet P2PKH address reads as valid on main only, with its P2PKH script', async (t) => {
  const main = readAddress(REAL_MAINNET, 'main');
  t.ok(main.isvalid);
  if (main.isvalid) {
    t.equal(main.isscript, false);
    t.match(main.scriptPubKey.toString('hex'), /^76a914[0-9a-f]{40}88ac$/);
    t.equal(encodeAddress(0x4c, main.scriptPubKey.subarray(3, 23)), REAL_MAINNET, 'encoding its hash gives the address back');
  }
  t.same(readAddress(REAL_MAINNET, 'test'), { isvalid: false, error: 'Invalid prefix for test address' });
});

t.test('version bytes and their first characters per network', async (t) => {
  const hash = Buffer.alloc(20, 0x42);
  t.match(p2pkhAddress('main', hash), /^X/);
  t.match(p2pkhAddress('test', hash), /^y/);
  t.match(encodeAddress(0x10, hash), /^7/);
  t.match(encodeAddress(0x13, hash), /^[89]/);
  const p2sh = readAddress(encodeAddress(0x10, hash), 'main');
  t.same(p2sh.isvalid && { isscript: p2sh.isscript, script: p2sh.scriptPubKey.toString('hex') }, { isscript: true, script: 'a914' + '42'.repeat(20) + '87' });
  const testnet = readAddress(encodeAddress(0x13, hash), 'regtest');
  t.ok(testnet.isvalid && testnet.isscript, 'testnet P2SH on regtest');
  t.same(readAddress(p2pkhAddress('test', hash), 'main'), { isvalid: false, error: 'Invalid prefix for mainnet address' });
});

t.test('refusals: checksum, alphabet, length', async (t) => {
  const last = REAL_MAINNET.at(-1) === '2' ? '3' : '2';
  t.same(readAddress(REAL_MAINNET.slice(0, -1) + last, 'main'), { isvalid: false, error: 'Invalid checksum' });
  t.same(readAddress('X0OIl', 'main'), { isvalid: false, error: 'Invalid address format' }, '0, O, I and l are not base58');
  t.same(readAddress('', 'main'), { isvalid: false, error: 'Invalid address format' });
  t.same(readAddress(base58Encode(Buffer.alloc(30, 1)), 'main'), { isvalid: false, error: 'Invalid address format' });
});

t.test('base58 keeps leading zero bytes', async (t) => {
  const bytes = Buffer.from([0, 0, 1, 2, 255]);
  t.match(base58Encode(bytes), /^11/);
  t.same(base58Decode(base58Encode(bytes)), bytes);
  t.equal(base58Decode('!'), null);
});
