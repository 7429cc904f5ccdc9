import t from 'tap';
import { getPath, leafPaths, setPath } from '../../src/util/path.js';

t.test('getPath, setPath and leafPaths over plain trees; arrays are leaves', async (t) => {
  const tree = { a: { b: 1, c: [1, 2], d: { e: null } }, f: 'x' };
  t.equal(getPath(tree, ['a', 'b']), 1);
  t.same(getPath(tree, ['a', 'c']), [1, 2]);
  t.equal(getPath(tree, ['a', 'c', '0']), undefined, 'no stepping into a list');
  t.equal(getPath(tree, ['f', 'g']), undefined);
  t.same(leafPaths(tree), [['a', 'b'], ['a', 'c'], ['a', 'd', 'e'], ['f']]);
  t.same(leafPaths({ a: {} }), [['a']], 'an empty tree is a leaf');
  const out: Record<string, unknown> = { f: 'x' };
  setPath(out, ['f', 'g'], 2);
  setPath(out, ['h', 'i', 'j'], [3]);
  t.same(out, { f: { g: 2 }, h: { i: { j: [3] } } }, 'trees made (or a scalar replaced) on the way');
});
