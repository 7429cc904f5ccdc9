import t from 'tap';
import { AmountError, duffsFromInteger, DUFFS_PER_DASH, formatDash, parseDash } from '../../src/books/duffs.js';

t.test('DASH text is read as duffs exactly, up to 8 decimals', async (t) => {
  t.equal(parseDash('1.23456789'), 123_456_789n);
  t.equal(parseDash('1'), DUFFS_PER_DASH);
  t.equal(parseDash('0.00000001'), 1n, 'one duff');
  t.equal(parseDash('0.1'), 10_000_000n, 'no binary rounding: 0.1 DASH is 10,000,000 duffs');
  t.equal(parseDash('.5'), 50_000_000n);
  t.equal(parseDash('2.'), 200_000_000n);
  t.equal(parseDash(' 3.5 '), 350_000_000n, 'spaces around are trimmed');
  t.equal(parseDash('0'), 0n);
  t.equal(parseDash('21000000.00000000'), 2_100_000_000_000_000n);
  t.equal(parseDash('123456789012345678901234567890.12345678'), 12345678901234567890123456789012345678n, 'no upper bound loses a digit');
});

t.test('bad amounts are refused with the value named', async (t) => {
  const cases: [unknown, RegExp][] = [
    ['1.234567891', /^amount "1\.234567891" has 9 decimals: DASH has 8/],
    ['-1', /^amount "-1" is negative/],
    ['-0', /^amount "-0" is negative/],
    ['abc', /^amount "abc" is not a number of DASH/],
    ['', /^amount "" is not a number of DASH/],
    ['.', /^amount "\." is not a number of DASH/],
    ['1e3', /^amount "1e3" is not a number/],
    ['+1', /^amount "\+1" is not a number/],
    ['1,5', /^amount "1,5" is not a number/],
    ['1 5', /^amount "1 5" is not a number/],
    ['0x10', /^amount "0x10" is not a number/],
    ['NaN', /^amount "NaN" is not a number/],
    [1.5, /^amount must be text like "1\.23456789" \(got 1\.5\)/],
  ];
  for (const [input, re] of cases) t.throws(() => parseDash(input as string), { name: 'AmountError', message: re }, JSON.stringify(input));
});

t.test('duffs are written back as DASH with 8 decimals, and round-trip', async (t) => {
  t.equal(formatDash(123_456_789n), '1.23456789');
  t.equal(formatDash(1n), '0.00000001');
  t.equal(formatDash(0n), '0.00000000');
  t.equal(formatDash(-5n), '-0.00000005');
  t.equal(formatDash(2_100_000_000_000_000n), '21000000.00000000');
  for (const d of [0n, 1n, 99_999_999n, 100_000_000n, 123_456_789_012n]) t.equal(parseDash(formatDash(d)), d, `${d}`);
});

t.test('duffs from a database number must be a safe, non-negative integer', async (t) => {
  t.equal(duffsFromInteger(42), 42n);
  t.equal(duffsFromInteger(Number.MAX_SAFE_INTEGER), 9007199254740991n);
  for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 53]) t.throws(() => duffsFromInteger(bad), AmountError, String(bad));
});
