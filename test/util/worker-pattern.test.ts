import t from 'tap';
import { nameMatching, patternRegExp } from '../../src/util/worker-pattern.js';

/** nameMatching: a worker name every `all` pattern matches and no `none` pattern does (commonMatch is tested with the owners). */
const check = (all: string[], none: string[], name: string | null) => {
  if (name === null) return;
  for (const p of all) t.ok(patternRegExp(p).test(name), `${JSON.stringify(name)} matches ${p}`);
  for (const p of none) t.notOk(patternRegExp(p).test(name), `${JSON.stringify(name)} does not match ${p}`);
};

t.test('the shortest non-empty name, or null', async (t) => {
  const cases: [string[], string[], string | null][] = [
    [['rack3.*', '*.1*'], [], 'rack3.1'],
    [['a*'], ['a?*'], 'a'],
    [['a*'], ['a*'], null],
    [['a?'], ['ab', 'ac'], 'ax'],
    [['*'], [], 'x'],
    [[], ['x*', 'y*', 'z*'], '0'],
    [['alice.*'], ['alice.*', 'bob.*'], null],
    [['alice.*'], ['alice.s*'], 'alice.'],
    [['ab'], ['a?'], null],
    [['a*b'], ['*bb', 'ab'], 'axb'],
  ];
  for (const [all, none, want] of cases) {
    const got = nameMatching(all, none);
    t.equal(got, want, `all ${JSON.stringify(all)}, none ${JSON.stringify(none)}`);
    check(all, none, got);
  }
});

t.test('agrees with brute force over a small alphabet', async (t) => {
  const letters = ['a', 'b', '*', '?'];
  const patterns: string[] = [];
  for (const x of letters) for (const y of ['', ...letters]) patterns.push(x + y);
  const names: string[] = [];
  for (const x of ['a', 'b', 'x']) for (const y of ['', 'a', 'b', 'x']) for (const z of ['', 'a', 'b', 'x']) if (y !== '' || z === '') names.push(x + y + z);
  let pairs = 0;
  for (const p of patterns) {
    for (const n of patterns) {
      const got = nameMatching([p], [n]);
      const brute = names.find((w) => patternRegExp(p).test(w) && !patternRegExp(n).test(w)) ?? null;
      if ((got === null) !== (brute === null)) t.fail(`${p} minus ${n}: ${JSON.stringify(got)} vs brute force ${JSON.stringify(brute)}`);
      if (got !== null && (!patternRegExp(p).test(got) || patternRegExp(n).test(got))) t.fail(`${p} minus ${n}: ${got} is wrong`);
      pairs++;
    }
  }
  t.equal(pairs, patterns.length ** 2);
});
