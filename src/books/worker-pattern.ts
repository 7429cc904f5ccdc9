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
