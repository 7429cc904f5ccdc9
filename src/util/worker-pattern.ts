/**
 * Worker patterns of the owners map: globs where `*` is any run of characters (also none) and `?` exactly
 * one; every other character is itself, case as written. Pure.
 */

/**
 * What is wrong with a pattern, as the words after its field's name ("must be ... (got ...)"), or null.
 * Brackets, braces and backslashes are refused: they are not wildcards here, and would match only themselves.
 */
export function patternProblem(pattern: unknown): string | null {
  const got = `(got ${JSON.stringify(pattern) ?? String(pattern)})`;
  if (typeof pattern !== 'string' || pattern === '') return `must be a non-empty worker pattern like "alice.*" ${got}`;
  if (/[\s\u0000-\u001f\u007f]/.test(pattern)) return `must have no spaces or control characters ${got}`;
  const odd = /[[\]{}\\]/.exec(pattern);
  if (odd) return `must use only * and ? as wildcards ('${odd[0]}' is not one) ${got}`;
  return null;
}

export const hasWildcard = (pattern: string): boolean => /[*?]/.test(pattern);

/** An anchored RegExp for a pattern already checked. */
export function patternRegExp(pattern: string): RegExp {
  const body = [...pattern].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^$|()/-]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`, 's');
}

/**
 * A worker name both patterns match, or null when none exists. A search over pairs of positions in the two
 * patterns (the product of their automata): a `*` may match nothing or take one character and stay; `?`
 * and a literal take one character; both sides must accept the same character.
 */
export function commonMatch(a: string, b: string): string | null {
  const A = [...a];
  const B = [...b];
  const key = (i: number, j: number) => i * (B.length + 1) + j;
  const from = new Map<number, { prev: number; char: string }>();
  const start = key(0, 0);
  from.set(start, { prev: -1, char: '' });
  const queue: [number, number][] = [[0, 0]];
  const visit = (i: number, j: number, prev: number, char: string) => {
    const k = key(i, j);
    if (from.has(k)) return;
    from.set(k, { prev, char });
    queue.push([i, j]);
  };
  while (queue.length > 0) {
    const [i, j] = queue.shift()!;
    const here = key(i, j);
    if (i === A.length && j === B.length) {
      let out = '';
      for (let k = here; k !== start; k = from.get(k)!.prev) out = from.get(k)!.char + out;
      return out;
    }
    const x = A[i];
    const y = B[j];
    if (x === '*') visit(i + 1, j, here, '');
    if (y === '*') visit(i, j + 1, here, '');
    if (x === undefined || y === undefined) continue;
    const xLiteral = x !== '*' && x !== '?';
    const yLiteral = y !== '*' && y !== '?';
    if (xLiteral && yLiteral && x !== y) continue;
    const char = xLiteral ? x : yLiteral ? y : 'x';
    visit(x === '*' ? i : i + 1, y === '*' ? j : j + 1, here, char);
  }
  return null;
}

/** Positions a pattern can be at after reading some characters, with every `*` able to match nothing. */
function closure(tokens: readonly string[], at: Iterable<number>): number[] {
  const out = new Set<number>();
  for (let i of at) {
    out.add(i);
    while (tokens[i] === '*') out.add(++i);
  }
  return [...out].sort((x, y) => x - y);
}

function step(tokens: readonly string[], at: readonly number[], char: string): number[] {
  const next: number[] = [];
  for (const i of at) {
    const t = tokens[i];
    if (t === '*') next.push(i);
    else if (t === '?' || t === char) next.push(i + 1);
  }
  return closure(tokens, next);
}

/** States searched at most by `nameMatching` (patterns of a configuration never come near it). */
export const NAME_SEARCH_LIMIT = 20_000;

/**
 * A non-empty worker name that every pattern of `all` matches and no pattern of `none` matches, or null when
 * none exists. A breadth-first search over the patterns read side by side (each as the set of positions it can
 * be at), trying the characters the patterns write and one character none of them writes: the shortest such
 * name. Gives up (null) past NAME_SEARCH_LIMIT states.
 */
export function nameMatching(all: readonly string[], none: readonly string[] = []): string | null {
  const patterns = [...all, ...none].map((p) => [...p]);
  const literals = [...new Set(patterns.flat().filter((c) => c !== '*' && c !== '?'))].sort();
  const other = [...'xyz0123456789abcdefghijklmnopqrstuvw'].find((c) => !literals.includes(c)) ?? '\u00a4';
  const alphabet = [other, ...literals];
  const ends = patterns.map((p) => p.length);
  const accepts = (state: number[][]) =>
    state.every((at, k) => (k < all.length ? at.includes(ends[k]!) : !at.includes(ends[k]!)));
  const start = patterns.map((p) => closure(p, [0]));
  const seen = new Set<string>([JSON.stringify(start)]);
  const queue: { state: number[][]; name: string }[] = [{ state: start, name: '' }];
  for (let head = 0; head < queue.length && seen.size <= NAME_SEARCH_LIMIT; head++) {
    const { state, name } = queue[head]!;
    for (const char of alphabet) {
      const next = state.map((at, k) => step(patterns[k]!, at, char));
      // A pattern of `all` that can no longer match: nothing further down this way.
      if (next.some((at, k) => k < all.length && at.length === 0)) continue;
      if (accepts(next)) return name + char;
      const key = JSON.stringify(next);
      if (seen.has(key)) continue;
      seen.add(key);
      queue.push({ state: next, name: name + char });
    }
  }
  return null;
}
