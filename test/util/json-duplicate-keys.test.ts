import t from 'tap';
import { duplicateKeys } from '../../src/util/json-duplicate-keys.js';

t.test('keys written twice in one object are found, with their field path', async (t) => {
  t.same(duplicateKeys('{"a": 1, "b": 2}'), []);
  t.same(duplicateKeys('{"a": 1, "a": 2}'), ['a']);
  t.same(duplicateKeys('{"owners": {"alice": {"feePercent": 1}, "bob": {}, "alice": {"workers": ["x"]}}}'), ['owners.alice']);
  t.same(duplicateKeys('{"pools": [{"url": "u", "user": "x"}, {"url": "u", "url": "v"}]}'), ['pools[1].url']);
  t.same(duplicateKeys('{"a": {"x": 1}, "b": {"x": 1}}'), [], 'the same key in two objects is fine');
  t.same(duplicateKeys('[{"x": 1}, {"x": 2}]'), [], 'nor in two objects of a list');
  t.same(duplicateKeys('{"s": "a \\" , { [ \\\\", "s": 1}'), ['s'], 'quotes, escapes and brackets inside strings are text');
  t.same(duplicateKeys('{"k": ["a", "k"], "k": {"k": 1, "k": 2}}'), ['k', 'k.k'], 'values that look like keys are values');
  t.same(duplicateKeys('{"\\u0061": 1, "a": 2}'), ['a'], 'keys compare after unescaping, as JSON.parse does');
  t.same(duplicateKeys('"just text"'), []);
});
