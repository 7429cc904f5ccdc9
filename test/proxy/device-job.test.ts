import t from 'tap';
import { sha256d } from '../../src/chain/sha256.js';
import { deviceNotify, padHex, padSize, upstreamExtranonce2 } from '../../src/proxy/device-job.js';
import { blockNotify, jobBlock, jobBlockExtranonces } from '../helpers/block-job.js';

/**
 * The device-facing job: the pool's extranonce1 moved into coinb1, the pad into coinb2, so a device's
 * coinbase (coinb1' | prefix | its extranonce2 | coinb2') is byte for byte the pool's (coinb1 | E | prefix |
 * device extranonce2 | pad | coinb2). Checked on real Dash block 844898, whose coinbase txid is known.
 */

t.test('pad: what the pool\'s extranonce2 holds beyond prefix and device extranonce2, or null when it cannot', async (t) => {
  const layout = { prefixSize: 2, deviceExtranonce2Size: 4 };
  t.equal(padSize(layout, 6), 0);
  t.equal(padSize(layout, 8), 2);
  t.equal(padSize(layout, 5), null, 'a pool giving 5 bytes cannot serve 2 + 4');
  t.equal(padHex(3), '000000');
  t.equal(padHex(0), '');
  t.equal(upstreamExtranonce2('01ab', 'deadbeef', '0000'), '01abdeadbeef0000');
});

t.test('the coinbase a device builds from the derived job is the pool\'s, for any cut of the same extranonce2', async (t) => {
  const pool = blockNotify('p1');
  // The block's 12 bytes after coinb1: pool extranonce1 e155, then 10 bytes of pool extranonce2.
  const poolEn1 = jobBlockExtranonces.slice(0, 4);
  const poolEn2 = jobBlockExtranonces.slice(4);
  const poolCoinbase = pool.coinb1 + poolEn1 + poolEn2 + pool.coinb2;
  t.equal(Buffer.from(sha256d(Buffer.from(poolCoinbase, 'hex'))).reverse().toString('hex'), jobBlock.txids[0], 'the pool\'s coinbase is the block\'s');
  // Only a cut whose pad is the zero tail works; the block's extranonce2 0000 00000000 01000000 has none, so
  // the device takes all of it after its prefix (pad 0) - and with a synthetic zero tail the pad is checked too.
  const cases = [
    { prefixSize: 2, deviceExtranonce2Size: 8, en2: poolEn2 },
    { prefixSize: 1, deviceExtranonce2Size: 9, en2: poolEn2 },
    { prefixSize: 2, deviceExtranonce2Size: 4, en2: '0000' + 'deadbeef' + '00000000' },
    { prefixSize: 3, deviceExtranonce2Size: 3, en2: '000001' + 'abcdef' + '00000000' },
  ];
  for (const layout of cases) {
    const pad = padSize(layout, 10)!;
    const dev = deviceNotify(pool, poolEn1.toUpperCase(), pad);
    const prefix = layout.en2.slice(0, layout.prefixSize * 2);
    const own = layout.en2.slice(layout.prefixSize * 2, (layout.prefixSize + layout.deviceExtranonce2Size) * 2);
    t.equal(dev.coinb1 + prefix + own + dev.coinb2, pool.coinb1 + poolEn1 + layout.en2 + pool.coinb2, `P=${layout.prefixSize} D=${layout.deviceExtranonce2Size} pad=${pad}: the same bytes`);
    t.equal(upstreamExtranonce2(prefix, own, padHex(pad)), layout.en2, 'and the pool receives the extranonce2 it builds it from');
    t.same({ ...dev, coinb1: pool.coinb1, coinb2: pool.coinb2 }, pool, 'every other field as the pool sent it');
  }
});
