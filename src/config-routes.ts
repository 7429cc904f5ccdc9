import { DEFAULT_BOOKS } from './books/owners.js';
import { DEFAULT_ROUTE, DEFAULT_TARGET } from './routing/default-route.js';
import { DEFAULT_FALLBACK, DEFAULT_TARGET_WEIGHT, type RouteConfig } from './routing/route-table.js';
import { closestName } from './util/json-schema.js';
import { isTree } from './util/path.js';
import { commonMatch, nameMatching, patternProblem } from './util/worker-pattern.js';

/**
 * What the JSON Schema cannot say about `routes`: one default route at most (the route without `match`,
 * named `default`, and then no top-level `pools`), a match that names something, owners that exist, valid
 * worker patterns, route and target names used once (`default` only for the default route and its
 * targets), and routes whose rules overlap: a worker two routes would both take is refused, naming both
 * rules and such a worker. Owners count by the books' rule (src/books/owners.ts): an owner's patterns, the
 * `owner.worker` convention for a configured owner, and the farm owner for every worker no owner takes. The
 * shape (types, unknown fields, weights > 0, targets with pools) is the schema's. Pure.
 */
export interface RouteProblem {
  /** The field, as written in the file: `routes[1].match.workers[0]`. */
  path: string;
  message: string;
}

type Raw = Record<string, unknown>;
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const trees = (v: unknown): [Raw, number][] => list(v).flatMap((x, i) => (isTree(x) ? [[x, i] as [Raw, number]] : []));
const q = (v: unknown) => JSON.stringify(v);

export function routesProblems(routes: unknown, pools: unknown, owners: unknown, books: unknown): RouteProblem[] {
  const problems: RouteProblem[] = [];
  const problem = (path: string, message: string) => problems.push({ path, message });
  const farm = isTree(books) && typeof books.farmOwner === 'string' ? books.farmOwner : DEFAULT_BOOKS.farmOwner;
  const ownerNames = isTree(owners) ? Object.keys(owners) : [];

  const routeNames = new Map<string, string>();
  const targetNames = new Map<string, string>();
  let defaultAt: string | null = null;
  for (const [route, i] of trees(routes)) {
    const at = `routes[${i}]`;
    const name = route.name;
    const isDefault = route.match === undefined;
    if (typeof name === 'string') {
      const twin = routeNames.get(name);
      if (twin !== undefined) problem(`${at}.name`, `${at}.name ${q(name)} is also ${twin}.name: name each route once`);
      else routeNames.set(name, at);
      if (isDefault && name !== DEFAULT_ROUTE) {
        problem(`${at}.name`, `${at}.name: a route without match is the default route, named ${q(DEFAULT_ROUTE)} (got ${q(name)}): rename it, or give it a match`);
      }
      if (!isDefault && name === DEFAULT_ROUTE) {
        problem(`${at}.name`, `${at}.name: ${q(DEFAULT_ROUTE)} is the default route's name (the route without match): a route with match needs another name`);
      }
    }
    if (isDefault) {
      if (defaultAt !== null) problem(at, `${at}: a second route without match (${defaultAt} is the default route): give it a match`);
      else defaultAt = at;
      if (route.fallback !== undefined) problem(`${at}.fallback`, `${at}.fallback: the default route has no fallback (the other routes fall back to it): leave it out`);
      if (Array.isArray(pools) && pools.length > 0) {
        problem('pools', `pools and ${at} both give the default route: ${at} has no match, so its targets replace pools: move pools into ${at}.targets (or leave pools out), or give ${at} a match`);
      }
    } else if (isTree(route.match)) {
      const m = route.match;
      if (list(m.owners).length === 0 && list(m.workers).length === 0) {
        problem(`${at}.match`, `${at}.match must list owners or worker patterns (a route without match is the default route: leave match out for that)`);
      }
      list(m.owners).forEach((owner, j) => {
        if (typeof owner !== 'string' || owner === farm || ownerNames.includes(owner)) return;
        const known = [...ownerNames, farm];
        const near = closestName(owner, known);
        problem(`${at}.match.owners[${j}]`, `${at}.match.owners[${j}]: unknown owner ${q(owner)} (${near ? `did you mean ${near}? ` : ''}owners: ${ownerNames.join(', ') || 'none'}; the farm owner: ${farm})`);
      });
      list(m.workers).forEach((pattern, j) => {
        const bad = patternProblem(pattern);
        if (bad) problem(`${at}.match.workers[${j}]`, `${at}.match.workers[${j}] ${bad}`);
      });
    }
    for (const [target, j] of trees(route.targets)) {
      const tat = `${at}.targets[${j}]`;
      if (typeof target.name !== 'string') continue;
      if (target.name === DEFAULT_TARGET && !isDefault) {
        problem(`${tat}.name`, `${tat}.name: ${q(DEFAULT_TARGET)} is the default route's target (made of pools): name this one otherwise`);
        continue;
      }
      const twin = targetNames.get(target.name);
      if (twin !== undefined) problem(`${tat}.name`, `${tat}.name ${q(target.name)} is also ${twin}.name: a target's name is unique across routes`);
      else targetNames.set(target.name, tat);
    }
  }
  problems.push(...overlaps(routes, owners, farm));
  return problems;
}

/** Each route with what the configuration left out: weight 1, fallback `default`, an empty list of a match. */
export function withRouteDefaults(routes: unknown): unknown {
  if (!Array.isArray(routes)) return routes;
  return routes.map((r) => {
    if (!isTree(r)) return r;
    const match = isTree(r.match) ? { owners: [], workers: [], ...r.match } : r.match;
    const targets = Array.isArray(r.targets) ? r.targets.map((t) => (isTree(t) ? { ...t, weight: t.weight ?? DEFAULT_TARGET_WEIGHT } : t)) : r.targets;
    return { ...r, ...(match !== undefined ? { match } : {}), targets, ...(r.match !== undefined ? { fallback: r.fallback ?? DEFAULT_FALLBACK } : {}) } as RouteConfig;
  });
}

// ---- overlaps -----------------------------------------------------------------------------------------------

/** One way a rule takes a worker: a name every `all` pattern matches and no `none` pattern does. */
interface Way {
  all: string[];
  none: string[];
  /** How, in words, for an owner ("by owners.alice.workers[1] \"rack3.*\""); '' for a worker pattern. */
  by: string;
}

/** One entry of a route's match: an owner or a worker pattern, with the ways it takes a worker. */
interface Rule {
  route: number;
  path: string;
  written: string;
  owner: string | null;
  ways: Way[];
}

/**
 * The ways an owner takes a worker, by the books' rule (OwnerMap.ownerOf): one of its patterns (two owners'
 * patterns never overlap: refused in `owners`); the `owner.worker` convention when no owner's pattern takes
 * the name; for the farm owner, every name no owner's pattern and no configured owner's convention takes.
 */
function ownerWays(owner: string, owners: unknown, farm: string): Way[] {
  const configured = isTree(owners) ? owners : {};
  const patterns = Object.entries(configured).flatMap(([name, o]) =>
    list(isTree(o) ? o.workers : []).flatMap((p, k) => (typeof p === 'string' && patternProblem(p) === null ? [{ name, pattern: p, path: `owners.${name}.workers[${k}]` }] : [])),
  );
  const all = patterns.map((p) => p.pattern);
  const ways: Way[] = patterns.filter((p) => p.name === owner).map((p) => ({ all: [p.pattern], none: [], by: `by ${p.path} ${q(p.pattern)}` }));
  if (owner in configured) ways.push({ all: [`${owner}.*`], none: all, by: `by the owner.worker convention ${q(`${owner}.*`)}` });
  if (owner === farm) ways.push({ all: [], none: [...all, ...Object.keys(configured).map((c) => `${c}.*`)], by: 'as the farm owner (books.farmOwner): the workers no owner takes' });
  return ways;
}

/** A worker both ways take, or null. Patterns of `none` that cannot meet every `all` pattern are left out first. */
function sharedWorker(a: Way, b: Way): string | null {
  const all = [...a.all, ...b.all];
  const none = [...a.none, ...b.none].filter((n) => all.every((p) => commonMatch(p, n) !== null));
  return nameMatching(all, none);
}

function overlaps(routes: unknown, owners: unknown, farm: string): RouteProblem[] {
  const rules: Rule[] = trees(routes).flatMap(([route, i]) => {
    if (!isTree(route.match)) return [];
    const at = `routes[${i}].match`;
    const byOwner = list(route.match.owners).flatMap((o, j): Rule[] =>
      typeof o === 'string' ? [{ route: i, path: `${at}.owners[${j}]`, written: q(o), owner: o, ways: ownerWays(o, owners, farm) }] : [],
    );
    const byPattern = list(route.match.workers).flatMap((p, j): Rule[] =>
      typeof p === 'string' && patternProblem(p) === null ? [{ route: i, path: `${at}.workers[${j}]`, written: q(p), owner: null, ways: [{ all: [p], none: [], by: '' }] }] : [],
    );
    return [...byOwner, ...byPattern];
  });

  // One problem per rule, naming every rule of an earlier route it meets and a worker both would take.
  const problems: RouteProblem[] = [];
  rules.forEach((r, k) => {
    const met = rules.slice(0, k).flatMap((e) => {
      if (e.route === r.route) return [];
      if (e.owner !== null && e.owner === r.owner) return [`${e.path} ${e.written} (the same owner)`];
      for (const x of e.ways) {
        for (const y of r.ways) {
          const worker = sharedWorker(x, y);
          if (worker === null) continue;
          const how = [y.by && `${r.written} ${y.by}`, x.by && `${e.written} ${x.by}`].filter(Boolean).join(', ');
          return [`${e.path} ${e.written}: both take ${q(worker)}${how ? ` (${how})` : ''}`];
        }
      }
      return [];
    });
    if (met.length > 0) problems.push({ path: r.path, message: `${r.path} ${r.written} overlaps ${met.join(' and ')}; a worker mines on one route: narrow one of them` });
  });
  return problems;
}
