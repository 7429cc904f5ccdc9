import t from 'tap';
import { targetFromDifficulty, targetToLe } from '../../src/chain/target.js';
import { initialTarget, retarget } from '../../src/proxy/device-target.js';

/**
 * Devices of the same difficulty share one target buffer (a memory change made for the benchmark, issue 8):
 * the bytes must stay exactly the target of the difficulty, whatever was asked before.
 */

t.test('the shared target is the exact target of its difficulty and multiplier', async (t) => {
  const difficulties = [1e-12, 0.001, 1, 256, 1000, 65536, 1.5e9];
  for (const m of [1, 256]) {
    for (const d of difficulties) {
      const a = initialTarget(d, m, 0);
      t.same(a.target, targetToLe(targetFromDifficulty(d, m)), `difficulty ${d} x${m}`);
      t.equal(initialTarget(d, m, 5).target, a.target, `difficulty ${d} x${m}: one buffer for every device`);
    }
  }
  t.not(initialTarget(256, 1).target, initialTarget(256, 2).target, 'another multiplier, another target');
});

t.test('retargets keep the previous target; thousands of difficulties stay exact', async (t) => {
  let cur = initialTarget(256, 1, 0);
  let bad = 0;
  for (let i = 1; i <= 3000; i++) {
    const d = 256 + i / 7;
    const next = retarget(cur, d, 1, i * 10_000); // 10 s apart: past the grace window
    if (!next.previous || next.previous.target !== cur.target || next.previous.difficulty !== cur.difficulty) bad++;
    if (!next.target.equals(targetToLe(targetFromDifficulty(d, 1)))) bad++;
    cur = next;
  }
  t.equal(bad, 0, 'every retarget carries the right target and the one before (past the cache bound of 1,024)');
  t.equal(retarget(cur, cur.difficulty, 1, 9999), cur, 'the same difficulty changes nothing');
});
