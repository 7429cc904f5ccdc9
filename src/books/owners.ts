import { LRUCache } from 'lru-cache';
import { BASIS_POINTS, type HostingFees, type PayoutMethod } from './payouts.js';
import { commonMatch, hasWildcard, patternProblem, patternRegExp } from '../util/worker-pattern.js';

/**
 * Who owns a worker, for a farm that hosts its customers' machines. The rule, in order:
 *   1. a pattern of an owner matches the worker's name (`"alice": {"workers": ["alice.*", "rack3.*"]}`;
 *      `*` any run of characters, `?` one, case as written). Two owners' patterns may not both match one
 *      name: that is refused when the configuration is read, naming both patterns and a name they share;
 *   2. the pool convention `owner.worker`: the part before the first dot, when it is a configured owner's
 *      name exactly (so `"alice": {"feePercent": 2}` alone already owns alice.rig1, alice.s19);
 *   3. the farm owner (`books.farmOwner`) owns everything else, and a worker with no name.
 * A map is compiled once from a validated configuration and never changes; a reload compiles a new one,
 * which applies from then on (the ledger keeps the owner each share had).
 */
export interface OwnerConfig {
  /** Worker patterns this owner owns. */
  workers: string[];
  /** Hosting fee, in percent of the owner's gross (0 to 100, at most 2 decimals). */
  feePercent: number;
}

export type OwnersConfig = Record<string, OwnerConfig>;

export interface BooksConfig {
  /** The farm itself: owns unmatched workers and receives the hosting fees. */
  farmOwner: string;
  payoutMethod: PayoutMethod;
  /** PPLNS: the window, in difficulty units of the farm's pool-accepted work (needed when the method is pplns). */
  pplnsWindow: number | null;
}

export const DEFAULT_OWNER: OwnerConfig = { workers: [], feePercent: 0 };
export const DEFAULT_BOOKS: BooksConfig = { farmOwner: 'farm', payoutMethod: 'prop', pplnsWindow: null };

/** An owner's name: a label in metrics, a column in reports, the part before the dot of `owner.worker`. */
export const OWNER_NAME = { pattern: '^[A-Za-z0-9_-]{1,64}$', words: 'letters, digits, _ and - (1 to 64, no dots)' };
const OWNER_NAME_RE = new RegExp(OWNER_NAME.pattern);

/** Workers whose owner is kept in the map's cache (a bounded LRU: a farm's devices fit many times over). */
export const OWNER_CACHE_SIZE = 100_000;

export interface OwnerProblem {
  /** The field, as written in the file: `owners.alice.workers[1]`. */
  path: string;
  message: string;
}

export class OwnersError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid owners:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'OwnersError';
  }
}

/** A fee in percent as basis points (2.5 -> 250), or null when it is not 0..100 with at most 2 decimals. */
export function feeBasisPoints(percent: unknown): number | null {
  if (typeof percent !== 'number' || !Number.isFinite(percent) || percent < 0 || percent > 100) return null;
  const bp = Math.round(percent * 100);
  return Math.abs(percent * 100 - bp) < 1e-6 ? bp : null;
}

/**
 * What the JSON Schema cannot say about `owners` and `books`: names, patterns, fees with at most two
 * decimals, owners named twice (names that differ only in case), patterns of two owners that overlap, the
 * farm owner's fee, a PPLNS window when the method is PPLNS. The shape (unknown fields, types, bounds) is
 * the schema's. Pure.
 */
export function ownersProblems(owners: unknown, books: unknown): OwnerProblem[] {
  const problems: OwnerProblem[] = [];
  const b = (typeof books === 'object' && books !== null ? books : {}) as Partial<BooksConfig>;
  const farm = typeof b.farmOwner === 'string' ? b.farmOwner : DEFAULT_BOOKS.farmOwner;
  if (!OWNER_NAME_RE.test(farm)) problems.push({ path: 'books.farmOwner', message: `books.farmOwner ${JSON.stringify(farm)}: an owner's name is ${OWNER_NAME.words}` });
  if (b.payoutMethod === 'pplns' && (b.pplnsWindow === null || b.pplnsWindow === undefined)) {
    problems.push({ path: 'books.pplnsWindow', message: 'books.pplnsWindow must be set when books.payoutMethod is pplns: the work (difficulty units) counted back from each block' });
  }
  if (typeof owners !== 'object' || owners === null || Array.isArray(owners)) return problems;

  const byFolded = new Map<string, string>([[farm.toLowerCase(), farm]]);
  const patterns: { owner: string; path: string; pattern: string }[] = [];
  for (const [name, raw] of Object.entries(owners as Record<string, unknown>)) {
    const at = `owners.${name}`;
    if (!OWNER_NAME_RE.test(name)) problems.push({ path: at, message: `${at}: an owner's name is ${OWNER_NAME.words} (got ${JSON.stringify(name)})` });
    const twin = byFolded.get(name.toLowerCase());
    if (twin !== undefined && twin !== name) {
      problems.push({ path: at, message: `${at}: ${JSON.stringify(name)} and ${JSON.stringify(twin)}${twin === farm ? ' (books.farmOwner)' : ''} differ only in case: name each owner once` });
    }
    byFolded.set(name.toLowerCase(), name);
    const o = (typeof raw === 'object' && raw !== null ? raw : {}) as Partial<OwnerConfig>;
    if (o.feePercent !== undefined && typeof o.feePercent === 'number' && o.feePercent >= 0 && o.feePercent <= 100) {
      if (feeBasisPoints(o.feePercent) === null) problems.push({ path: `${at}.feePercent`, message: `${at}.feePercent must have at most 2 decimals (got ${o.feePercent})` });
      else if (name === farm && o.feePercent !== 0) problems.push({ path: `${at}.feePercent`, message: `${at}.feePercent: ${name} is the farm owner (books.farmOwner), who pays no hosting fee (got ${o.feePercent})` });
    }
    if (!Array.isArray(o.workers)) continue;
    o.workers.forEach((pattern, i) => {
      const path = `${at}.workers[${i}]`;
      const problem = patternProblem(pattern);
      if (problem) problems.push({ path, message: `${path} ${problem}` });
      else patterns.push({ owner: name, path, pattern });
    });
  }

  // Overlaps between two owners' patterns (one owner's own patterns may overlap: the owner is the same).
  // One problem per pattern, naming every earlier pattern of another owner it meets and a name both match.
  patterns.forEach((q, j) => {
    const met = patterns.slice(0, j).flatMap((p) => {
      const both = p.owner === q.owner ? null : commonMatch(p.pattern, q.pattern);
      return both === null ? [] : [{ p, both }];
    });
    if (met.length === 0) return;
    const head = `${q.path} ${JSON.stringify(q.pattern)} overlaps`;
    const message =
      met.length === 1
        ? `${head} ${met[0]!.p.path} ${JSON.stringify(met[0]!.p.pattern)}: both match ${JSON.stringify(met[0]!.both)}, which has one owner: narrow one of them`
        : `${head} ${met.map(({ p, both }) => `${p.path} ${JSON.stringify(p.pattern)} (both match ${JSON.stringify(both)})`).join(' and ')}: a worker has one owner: narrow them`;
    problems.push({ path: q.path, message });
  });
  return problems;
}

/** Each owner with the defaults of what it left out (no workers of its own, no fee); anything else as given. */
export function withOwnerDefaults(owners: unknown): unknown {
  if (typeof owners !== 'object' || owners === null || Array.isArray(owners)) return owners;
  return Object.fromEntries(
    Object.entries(owners).map(([name, o]) => [name, typeof o === 'object' && o !== null && !Array.isArray(o) ? { ...DEFAULT_OWNER, workers: [...DEFAULT_OWNER.workers], ...o } : o]),
  );
}

/** The compiled owners map: which owner a worker is, and each owner's fee. Immutable. */
export class OwnerMap implements HostingFees {
  readonly farmOwner: string;
  /** Every owner's name (the configured ones and the farm owner), sorted. */
  readonly names: readonly string[];
  private readonly fees: ReadonlyMap<string, number>;
  private readonly exact = new Map<string, string>();
  private readonly globs: { owner: string; re: RegExp }[] = [];
  private readonly cache = new LRUCache<string, string>({ max: OWNER_CACHE_SIZE });

  /** Compile a map; throws OwnersError listing every problem (a validated configuration has none). */
  static compile(owners: OwnersConfig, books: Pick<BooksConfig, 'farmOwner'> = DEFAULT_BOOKS): OwnerMap {
    const problems = ownersProblems(owners, { ...DEFAULT_BOOKS, ...books });
    const shape = Object.entries(owners).flatMap(([name, o]) =>
      feeBasisPoints(o.feePercent ?? 0) === null ? [`owners.${name}.feePercent must be a number from 0 to 100 (got ${String(o.feePercent)})`] : [],
    );
    const all = [...shape, ...problems.map((p) => p.message)];
    if (all.length > 0) throw new OwnersError(all);
    return new OwnerMap(owners, books.farmOwner);
  }

  private constructor(owners: OwnersConfig, farmOwner: string) {
    this.farmOwner = farmOwner;
    this.fees = new Map(Object.entries(owners).map(([name, o]) => [name, feeBasisPoints(o.feePercent ?? 0)!]));
    this.names = [...new Set([...Object.keys(owners), farmOwner])].sort();
    for (const [name, o] of Object.entries(owners)) {
      for (const pattern of o.workers ?? []) {
        if (hasWildcard(pattern)) this.globs.push({ owner: name, re: patternRegExp(pattern) });
        else this.exact.set(pattern, name);
      }
    }
  }

  /** The owner of a worker name, by the rule above (null or '' is the farm's). */
  ownerOf(worker: string | null | undefined): string {
    if (!worker) return this.farmOwner;
    const cached = this.cache.get(worker);
    if (cached !== undefined) return cached;
    const owner = this.resolve(worker);
    this.cache.set(worker, owner);
    return owner;
  }

  /** Hosting fee in basis points (0 for the farm owner and for a name not configured). */
  feeBasisPoints(owner: string): number {
    return owner === this.farmOwner ? 0 : (this.fees.get(owner) ?? 0);
  }

  /** Hosting fee in percent, as configured. */
  feePercent(owner: string): number {
    return this.feeBasisPoints(owner) / (BASIS_POINTS / 100);
  }

  has(owner: string): boolean {
    return owner === this.farmOwner || this.fees.has(owner);
  }

  private resolve(worker: string): string {
    const exact = this.exact.get(worker);
    if (exact !== undefined) return exact;
    for (const g of this.globs) if (g.re.test(worker)) return g.owner;
    const dot = worker.indexOf('.');
    if (dot > 0) {
      const prefix = worker.slice(0, dot);
      if (this.fees.has(prefix)) return prefix;
    }
    return this.farmOwner;
  }
}
