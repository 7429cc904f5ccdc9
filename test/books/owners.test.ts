import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { buildConfig, ConfigError, configFromEnv, readConfigFile } from '../../src/config.js';
import { feeBasisPoints, OWNER_CACHE_SIZE, OwnerMap, OwnersError, ownersProblems } from '../../src/books/owners.js';
import { commonMatch, patternProblem, patternRegExp } from '../../src/util/worker-pattern.js';
import { mulberry32 } from '../helpers/prng.js';

/**
 * Owners: the rule (patterns, then the owner.worker convention for configured owners, then the farm), the
 * compiled map and its cache, glob overlap, and every bad `owners`/`books` input refused by the config with
 * the field and value named.
 */

const pool = { url: 'stratum+tcp://127.0.0.1:3333', user: 'Xaddr.farm' };
const problemsOf = (layer: Record<string, unknown>): string[] => {
  try {
    buildConfig({ pools: [pool], ...layer } as never);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

t.test('the README rule: patterns first, then owner.worker for a configured owner, then the farm', async (t) => {
  const cfg = buildConfig({ pools: [pool], owners: { alice: { workers: ['alice.*', 'rack3.*'], feePercent: 2 }, bob: { feePercent: 1.5 } } } as never);
  t.same(cfg.owners, { alice: { workers: ['alice.*', 'rack3.*'], feePercent: 2 }, bob: { workers: [], feePercent: 1.5 } }, 'what an owner leaves out is its default');
  t.same(cfg.books, { farmOwner: 'farm', payoutMethod: 'prop', pplnsWindow: null }, 'the books default');
  const map = OwnerMap.compile(cfg.owners, cfg.books);
  const cases: [string | null, string][] = [
    ['alice.rig1', 'alice'],
    ['rack3.s19-07', 'alice'],
    ['bob.s19-01', 'bob'],
    ['bob', 'farm'],
    ['bob.', 'bob'],
    ['Alice.rig1', 'farm'],
    ['alice', 'farm'],
    ['carol.rig1', 'farm'],
    ['rig42', 'farm'],
    ['.bob', 'farm'],
    ['', 'farm'],
    [null, 'farm'],
    ['bob.a.b', 'bob'],
  ];
  for (const [worker, owner] of cases) t.equal(map.ownerOf(worker), owner, `${JSON.stringify(worker)} -> ${owner}`);
  t.same(map.names, ['alice', 'bob', 'farm']);
  t.same([map.feeBasisPoints('alice'), map.feeBasisPoints('bob'), map.feeBasisPoints('farm'), map.feeBasisPoints('carol')], [200, 150, 0, 0]);
  t.equal(map.feePercent('bob'), 1.5);
  t.ok(map.has('farm') && map.has('bob') && !map.has('carol'));
});

t.test('a pattern wins over the convention; exact names and ? work; the farm owner may own patterns', async (t) => {
  const map = OwnerMap.compile({ alice: { workers: ['bob.special', 'rig-??'], feePercent: 0 }, bob: { workers: [], feePercent: 0 }, boss: { workers: ['farm.*'], feePercent: 0 }, farm: { workers: ['spare*'], feePercent: 0 } }, { farmOwner: 'farm' });
  t.equal(map.ownerOf('bob.special'), 'alice', 'an exact pattern before the convention');
  t.equal(map.ownerOf('bob.other'), 'bob');
  t.equal(map.ownerOf('rig-07'), 'alice');
  t.equal(map.ownerOf('rig-7'), 'farm', '? is exactly one character');
  t.equal(map.ownerOf('rig-007'), 'farm');
  t.equal(map.ownerOf('spare12'), 'farm');
  t.equal(map.ownerOf('farm.x'), 'boss');
  t.equal(map.ownerOf('a\nb'), 'farm');
});

t.test('ownerOf is cached, and the cache is bounded', async (t) => {
  const map = OwnerMap.compile({ alice: { workers: ['alice.*'], feePercent: 0 } });
  const cache = (map as unknown as { cache: { size: number; max: number } }).cache;
  for (let i = 0; i < OWNER_CACHE_SIZE + 500; i++) map.ownerOf(`alice.rig${i}`);
  t.equal(cache.max, OWNER_CACHE_SIZE);
  t.equal(cache.size, OWNER_CACHE_SIZE, 'no more names than the bound');
  t.equal(map.ownerOf(`alice.rig${OWNER_CACHE_SIZE + 499}`), 'alice');
  t.equal(map.ownerOf('alice.rig0'), 'alice', 'a name fallen out of the cache is resolved again');
  const started = performance.now();
  let n = 0;
  for (let i = 0; i < 1_000_000; i++) if (map.ownerOf(`alice.rig${i % 5000}`) === 'alice') n++;
  t.equal(n, 1_000_000);
  t.ok(performance.now() - started < 5000, `1,000,000 lookups in ${(performance.now() - started).toFixed(0)} ms`);
});

t.test('every bad owners or books input is refused with the field named', async (t) => {
  const cases: [Record<string, unknown>, string[]][] = [
    [{ owners: { alice: { workers: ['alice.*'], color: 'red' } } }, ['owners.alice.color: unknown field (known: workers, feePercent)']],
    [{ owners: { alice: ['alice.*'] } }, ['owners.alice must be an object (got ["alice.*"])']],
    [{ owners: [] }, ['owners must be an object (got [])']],
    [{ owners: { alice: { workers: 'alice.*' } } }, ['owners.alice.workers must be a list of non-empty strings (got "alice.*")']],
    [{ owners: { alice: { workers: [''] } } }, ['owners.alice.workers[0] must be a non-empty string (got "")']],
    [{ owners: { alice: { workers: ['rack[1-3].*'] } } }, [`owners.alice.workers[0] must use only * and ? as wildcards ('[' is not one) (got "rack[1-3].*")`]],
    [{ owners: { alice: { workers: ['{a,b}.*'] } } }, [`owners.alice.workers[0] must use only * and ? as wildcards ('{' is not one) (got "{a,b}.*")`]],
    [{ owners: { alice: { workers: ['a\\.*'] } } }, [`owners.alice.workers[0] must use only * and ? as wildcards ('\\' is not one) (got "a\\\\.*")`]],
    [{ owners: { alice: { workers: ['alice .*'] } } }, ['owners.alice.workers[0] must have no spaces or control characters (got "alice .*")']],
    [{ owners: { alice: { feePercent: 101 } } }, ['owners.alice.feePercent must be a number from 0 to 100 (got 101)']],
    [{ owners: { alice: { feePercent: -1 } } }, ['owners.alice.feePercent must be a number from 0 to 100 (got -1)']],
    [{ owners: { alice: { feePercent: '2' } } }, ['owners.alice.feePercent must be a number from 0 to 100 (got "2")']],
    [{ owners: { alice: { feePercent: 1.234 } } }, ['owners.alice.feePercent must have at most 2 decimals (got 1.234)']],
    [{ owners: { 'al ice': {} } }, [`owners.al ice: an owner's name is letters, digits, _ and - (1 to 64, no dots) (got "al ice")`]],
    [{ owners: { 'alice.x': {} } }, [`owners.alice.x: an owner's name is letters, digits, _ and - (1 to 64, no dots) (got "alice.x")`]],
    [{ owners: { ['a'.repeat(65)]: {} } }, [`owners.${'a'.repeat(65)}: an owner's name is letters, digits, _ and - (1 to 64, no dots) (got "${'a'.repeat(65)}")`]],
    [{ owners: { Alice: {}, alice: {} } }, ['owners.alice: "alice" and "Alice" differ only in case: name each owner once']],
    [{ owners: { Farm: {} } }, ['owners.Farm: "Farm" and "farm" (books.farmOwner) differ only in case: name each owner once']],
    [{ owners: { farm: { feePercent: 5 } } }, ['owners.farm.feePercent: farm is the farm owner (books.farmOwner), who pays no hosting fee (got 5)']],
    [
      { owners: { alice: { workers: ['alice.*'] }, bob: { workers: ['a*'] } } },
      ['owners.bob.workers[0] "a*" overlaps owners.alice.workers[0] "alice.*": both match "alice.", which has one owner: narrow one of them'],
    ],
    [
      { owners: { alice: { workers: ['rack3.*'] }, bob: { workers: ['*.rig??'] } } },
      ['owners.bob.workers[0] "*.rig??" overlaps owners.alice.workers[0] "rack3.*": both match "rack3.rigxx", which has one owner: narrow one of them'],
    ],
    [{ owners: { alice: { workers: ['x'] }, bob: { workers: ['x'] } } }, ['owners.bob.workers[0] "x" overlaps owners.alice.workers[0] "x": both match "x", which has one owner: narrow one of them']],
    [{ books: { farmOwner: 'the farm' } }, [`books.farmOwner "the farm": an owner's name is letters, digits, _ and - (1 to 64, no dots)`]],
    [{ books: { farmOwner: '' } }, ['books.farmOwner must be a non-empty string (got "")']],
    [{ books: { payoutMethod: 'fifo' } }, ['books.payoutMethod must be one of prop, pplns, pps (got "fifo")']],
    [{ books: { payoutMethod: 'pplns' } }, ['books.pplnsWindow must be set when books.payoutMethod is pplns: the work (difficulty units) counted back from each block']],
    [{ books: { pplnsWindow: 0 } }, ['books.pplnsWindow must be a number > 0 or null (got 0)']],
    [{ books: { pplnsWindow: '1e6' } }, ['books.pplnsWindow must be a number > 0 or null (got "1e6")']],
    [{ books: { window: 5 } }, ['books.window: unknown field (known: farmOwner, payoutMethod, pplnsWindow)']],
  ];
  for (const [layer, expected] of cases) t.same(problemsOf(layer), expected, JSON.stringify(layer));
  // Overlapping patterns of one owner are fine; patterns that can never meet too; each overlapping pair is named.
  const pairs = problemsOf({ owners: { alice: { workers: ['alice.*', 'alice.rig*'] }, bob: { workers: ['b*', 'x*.bob'] }, carol: { workers: ['c*', '*.carol?'] } } });
  t.same(pairs, [
    'owners.carol.workers[1] "*.carol?" overlaps owners.alice.workers[0] "alice.*" (both match "alice.carolx") and owners.alice.workers[1] "alice.rig*" (both match "alice.rig.carolx") and owners.bob.workers[0] "b*" (both match "b.carolx"): a worker has one owner: narrow them',
  ]);
  t.same(problemsOf({ owners: { alice: { workers: ['alice.*'] }, bob: { workers: ['bob.*', 'rig-?'] } }, books: { payoutMethod: 'pplns', pplnsWindow: 5e6 } }), []);
});

t.test('owners from the environment are JSON, checked the same way', async (t) => {
  const env = configFromEnv({ DASH_PROXY_OWNERS: '{"alice":{"workers":["alice.*"],"feePercent":2}}', DASH_PROXY_BOOKS_PAYOUT_METHOD: 'pps', DASH_PROXY_BOOKS_FARM_OWNER: 'acme' });
  const cfg = buildConfig({ pools: [pool] }, env);
  t.same(cfg.owners, { alice: { workers: ['alice.*'], feePercent: 2 } });
  t.equal(cfg.books.payoutMethod, 'pps');
  t.equal(OwnerMap.compile(cfg.owners, cfg.books).ownerOf('x'), 'acme');
  t.match(problemsOf(configFromEnv({ DASH_PROXY_OWNERS: '{"alice":{"feePercent":200}}' })), ['owners.alice.feePercent must be a number from 0 to 100 (got 200)']);
});

t.test('OwnerMap.compile refuses what the config refuses, all at once', async (t) => {
  let problems: string[] = [];
  try {
    OwnerMap.compile({ alice: { workers: ['*'], feePercent: 0 }, bob: { workers: ['b'], feePercent: 200 } });
  } catch (err) {
    t.ok(err instanceof OwnersError, 'an OwnersError');
    problems = (err as OwnersError).problems;
  }
  t.same(problems, [
    'owners.bob.feePercent must be a number from 0 to 100 (got 200)',
    'owners.bob.workers[0] "b" overlaps owners.alice.workers[0] "*": both match "b", which has one owner: narrow one of them',
  ]);
  t.same(ownersProblems(undefined, undefined), [], 'nothing configured: nothing wrong');
});

t.test('fees in percent with at most 2 decimals become basis points', async (t) => {
  t.same([0, 2, 2.5, 1.23, 0.01, 100, 99.99, 0.07, 1.15].map(feeBasisPoints), [0, 200, 250, 123, 1, 10_000, 9999, 7, 115]);
  t.same([1.234, -0.01, 100.01, NaN, Infinity, '2'].map(feeBasisPoints), [null, null, null, null, null, null]);
});

t.test('glob patterns: what they match, and what two of them both match', async (t) => {
  const re = patternRegExp('a.*-?|(x)+$');
  t.ok(re.test('a.bc-1|(x)+$'), 'regex characters are themselves');
  t.notOk(re.test('aXbc-1|(x)+$'), 'a dot is a dot');
  t.ok(patternRegExp('*').test(''), '* matches nothing too');
  t.ok(patternRegExp('a*').test('a\nb'), '* matches any character');
  t.equal(patternProblem('ok*?'), null);
  t.match(patternProblem(5), /^must be a non-empty worker pattern like "alice\.\*" \(got 5\)$/);
  t.match(patternProblem('a\tb'), /no spaces or control characters/);
  const pairs: [string, string, boolean][] = [
    ['alice.*', 'bob.*', false],
    ['a*', 'b*', false],
    ['*a', '*b', false],
    ['a?', 'a', false],
    ['a?', 'a??', false],
    ['a', 'a*b', false],
    ['*x*', '*y*', true],
    ['??', '*', true],
    ['a*b*c', '*bc*', true],
    ['rack?.*', 'rack1.rig*', true],
  ];
  for (const [a, b, meet] of pairs) {
    const both = commonMatch(a, b);
    t.equal(both !== null, meet, `${a} / ${b}: ${JSON.stringify(both)}`);
    if (both !== null) t.ok(patternRegExp(a).test(both) && patternRegExp(b).test(both), `${JSON.stringify(both)} matches both`);
  }
});

t.test('overlap agrees with brute force over short names (seeded random patterns)', async (t) => {
  const rnd = mulberry32(13);
  const alphabet = ['a', 'b', '*', '?'];
  const randomPattern = () => Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
  // Every name of up to 6 letters over {a, b, c}: two patterns of at most 4 symbols that share a name share a short one.
  const names: string[] = [''];
  for (let len = 1, frontier = ['']; len <= 6; len++) {
    frontier = frontier.flatMap((p) => ['a', 'b', 'c'].map((c) => p + c));
    names.push(...frontier);
  }
  let disagreements = 0;
  for (let i = 0; i < 300; i++) {
    const a = randomPattern();
    const b = randomPattern();
    const ra = patternRegExp(a);
    const rb = patternRegExp(b);
    const brute = names.some((n) => ra.test(n) && rb.test(n));
    const both = commonMatch(a, b);
    if (brute !== (both !== null)) {
      disagreements++;
      t.fail(`${a} / ${b}: brute force ${brute}, commonMatch ${JSON.stringify(both)}`);
    }
    if (both !== null && !(ra.test(both) && rb.test(both))) t.fail(`${a} / ${b}: ${JSON.stringify(both)} does not match both`);
  }
  t.equal(disagreements, 0, '300 random pairs agree');
});

t.test('an owner named twice in the config file or the environment is refused (JSON would keep only the last)', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dfp-owners-'));
  const file = path.join(dir, 'proxy.json');
  writeFileSync(file, '{"owners": {"alice": {"workers": ["alice.*"]}, "bob": {}, "alice": {"feePercent": 2}}}');
  const errorOf = (fn: () => unknown): string[] => {
    try {
      fn();
    } catch (err) {
      return (err as ConfigError).problems;
    }
    return [];
  };
  t.same(errorOf(() => readConfigFile(file)), [`config file ${file}: owners.alice is written twice (JSON would keep only the last): write it once`]);
  t.same(errorOf(() => configFromEnv({ DASH_PROXY_OWNERS: '{"alice":{},"alice":{"feePercent":2}}' })), ['DASH_PROXY_OWNERS: alice written twice (JSON would keep only the last)']);
});
