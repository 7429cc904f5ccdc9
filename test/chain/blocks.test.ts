import t from 'tap';
import { reversed } from '../../src/chain/bytes.js';
import { writeHeader } from '../../src/chain/header.js';
import { coinbaseMerkleBranch, merkleRoot, merkleRootFromBranch } from '../../src/chain/merkle.js';
import { sha256d } from '../../src/chain/sha256.js';
import { targetFromBits } from '../../src/chain/target.js';
import { swapWords32 } from '../../src/chain/bytes.js';
import { displayHash } from '../../src/chain/bytes.js';
import { cutCoinbase, loadBlocks } from '../helpers/fixtures.js';
import { device, hasher, jobOf, lookupOf, validator } from '../helpers/share-kit.js';

const blocks = loadBlocks();

t.test('the fixture set is what its README says', async (t) => {
  t.equal(blocks.length, 4);
  t.ok(blocks.some((b) => b.coinbase.tx_type === 5), 'one block has a type-5 (CbTx) coinbase');
});

for (const block of blocks) {
  t.test(`${block.id}: chain facts`, async (t) => {
    const txHashes = block.txids.map((id) => reversed(Buffer.from(id, 'hex')));
    const root = merkleRoot(txHashes);
    t.equal(displayHash(root), displayHash(Buffer.from(block.header_hex, 'hex').subarray(36, 68)), 'merkle root of all txids matches the header');
    const branch = coinbaseMerkleBranch(txHashes.slice(1)).map((b) => b.toString('hex'));
    t.same(branch, block.stratum.merkle_branch, 'the stratum branch we compute equals the fixture branch');
    t.equal(displayHash(sha256d(Buffer.from(block.stratum.coinb_full, 'hex'))), block.txids[0], 'coinbase txid (sha256d) matches');

    const header = writeHeader({
      version: parseInt(block.stratum.version, 16),
      prevhash: swapWords32(Buffer.from(block.stratum.prevhash, 'hex')),
      merkleRoot: merkleRootFromBranch(sha256d(Buffer.from(block.stratum.coinb_full, 'hex')), block.stratum.merkle_branch.map((h) => Buffer.from(h, 'hex'))),
      ntime: parseInt(block.stratum.ntime, 16),
      nbits: parseInt(block.stratum.nbits, 16),
      nonce: parseInt(block.stratum.nonce, 16),
    });
    t.equal(header.toString('hex'), block.header_hex, 'header rebuilt from stratum fields is byte-identical');
    t.equal(displayHash(hasher.hash(header)), block.hash, 'X11 of the header is the block hash');
    t.equal(targetFromBits(parseInt(block.bits, 16)).toString(16).padStart(64, '0'), block.target, 'nBits expands to the block target');
  });

  const cuts = block.coinbase.scriptsig_length >= 16 ? [[4, 4], [8, 4], [2, 8]] : [[1, 1], [2, 1]];
  for (const [en1Bytes, en2Bytes] of cuts) {
    t.test(`${block.id}: share pipeline with extranonce1 ${en1Bytes} B / extranonce2 ${en2Bytes} B`, async (t) => {
      const cut = cutCoinbase(block, en1Bytes!, en2Bytes!);
      const s = block.stratum;
      const job = jobOf(
        { jobId: 'b', prevhash: s.prevhash, coinb1: cut.coinb1, coinb2: cut.coinb2, merkleBranch: s.merkle_branch, version: s.version, nbits: s.nbits, ntime: s.ntime, cleanJobs: true },
        cut.extranonce1,
        1e-6,
      );
      const v = validator();
      const dev = device(cut.extranonce1, en2Bytes!, 1e-6);
      const out = v.validate({ worker: 'w', jobId: 'b', extranonce2: cut.extranonce2, ntime: s.ntime, nonce: s.nonce }, dev, lookupOf([job]));
      if (!out.ok) return t.fail(`rejected: ${out.error.message}`);
      t.equal(out.header.toString('hex'), block.header_hex, 'header');
      t.equal(displayHash(out.hash), block.hash, 'hash');
      t.equal(out.meetsNetwork, true, 'classified as a block candidate at its own nBits');
      t.equal(out.meetsPool, true, 'meets the pool target');
      t.ok(out.shareDifficulty >= job.networkDifficulty, `share difficulty ${out.shareDifficulty} >= network difficulty ${job.networkDifficulty}`);

      // One byte of the nonce changed: a different header and no block.
      const nonce = ((parseInt(s.nonce, 16) ^ 0x01) >>> 0).toString(16).padStart(8, '0');
      const changed = v.validate({ worker: 'w', jobId: 'b', extranonce2: cut.extranonce2, ntime: s.ntime, nonce }, device(cut.extranonce1, en2Bytes!, 1e-12), lookupOf([job]));
      if (!changed.ok) return t.fail(`rejected: ${changed.error.message}`);
      t.not(displayHash(changed.hash), block.hash);
      t.equal(changed.meetsNetwork, false, 'with one nonce byte changed it is no block');
    });
  }
}
