import { createHash } from 'node:crypto';
import t from 'tap';
import { foldMerkleBranch, merkleRootFromBranch } from '../../src/chain/merkle.js';
import { sha256d, sha256dInto } from '../../src/chain/sha256.js';
import { loadBlocks } from '../helpers/fixtures.js';

/**
 * sha256d and the merkle fold write digests through latin1 strings into reused buffers (see sha256.ts).
 * Checked here against node:crypto's plain Buffer API, byte for byte, including every byte value.
 */
const reference = (data: Uint8Array) => createHash('sha256').update(createHash('sha256').update(data).digest()).digest();

/** Deterministic bytes: a sha256 counter stream. */
function bytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  for (let off = 0, i = 0; off < length; off += 32, i++) createHash('sha256').update(`${seed}:${i}`).digest().copy(out, off);
  return out;
}

t.test('sha256d equals the reference for every input length up to 600 bytes', async (t) => {
  let bad = 0;
  for (let len = 0; len <= 600; len++) if (!sha256d(bytes(len, len)).equals(reference(bytes(len, len)))) bad++;
  t.equal(bad, 0);
  // Known vector: sha256d("") = 5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456.
  t.equal(sha256d(Buffer.alloc(0)).toString('hex'), '5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456');
});

t.test('digests with every byte value survive the string round trip', async (t) => {
  const seen = new Set<number>();
  let bad = 0;
  for (let i = 0; i < 2000; i++) {
    const d = sha256d(bytes(64, 1e6 + i));
    if (!d.equals(reference(bytes(64, 1e6 + i)))) bad++;
    for (const b of d) seen.add(b);
  }
  t.equal(bad, 0);
  t.equal(seen.size, 256, 'all 256 byte values occurred in the digests');
});

t.test('sha256dInto writes at an offset, may overwrite its own input, and leaves the rest alone', async (t) => {
  const out = Buffer.alloc(70, 0xee);
  const data = bytes(100, 7);
  sha256dInto(data, out, 19);
  t.equal(out.subarray(19, 51).toString('hex'), reference(data).toString('hex'));
  t.ok(out.subarray(0, 19).every((b) => b === 0xee) && out.subarray(51).every((b) => b === 0xee), 'bytes around the digest untouched');

  const pair = bytes(64, 8);
  const expected = reference(pair);
  const tail = Buffer.from(pair.subarray(32));
  sha256dInto(pair, pair, 0);
  t.ok(pair.subarray(0, 32).equals(expected), 'in place over its own input');
  t.ok(pair.subarray(32).equals(tail), 'the second half is kept');
});

t.test('sha256d returns a buffer of its own', async (t) => {
  const a = sha256d(Buffer.from('a'));
  const copy = Buffer.from(a);
  const b = sha256d(Buffer.from('b'));
  t.ok(a.equals(copy), 'the first digest is unchanged by the second call');
  t.notOk(a.equals(b));
  t.equal(a.length, 32);
});

t.test('the merkle fold equals the reference fold for branches of 0 to 16', async (t) => {
  let bad = 0;
  for (let len = 0; len <= 16; len++) {
    const leaf = bytes(32, 500 + len);
    const branch = Array.from({ length: len }, (_, i) => bytes(32, 1000 * len + i));
    let root = Buffer.from(leaf);
    for (const step of branch) root = reference(Buffer.concat([root, step]));

    const leafCopy = Buffer.from(leaf);
    const got = merkleRootFromBranch(leaf, branch);
    if (!got.equals(root) || got.length !== 32 || !leaf.equals(leafCopy)) bad++;
    if (got === leaf || got.buffer === leaf.buffer) bad++; // a copy, even for an empty branch

    const pair = Buffer.alloc(64);
    leaf.copy(pair, 0);
    foldMerkleBranch(pair, branch);
    if (!pair.subarray(0, 32).equals(root)) bad++;
  }
  t.equal(bad, 0);
});

t.test('the real blocks: coinbase hash and branch fold to the header merkle root', async (t) => {
  for (const b of loadBlocks()) {
    const root = merkleRootFromBranch(sha256d(Buffer.from(b.stratum.coinb_full, 'hex')), b.stratum.merkle_branch.map((h) => Buffer.from(h, 'hex')));
    t.equal(root.toString('hex'), b.header_hex.slice(72, 136), `${b.id}: branch of ${b.stratum.merkle_branch.length}`);
  }
});
