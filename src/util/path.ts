/**
 * Paths into plain JSON-like trees (`['limits', 'maxDevices']`): read one, write one, list the leaves.
 * A "tree" is a plain object; arrays and everything else are leaves. Pure.
 */
export type Tree = Record<string, unknown>;

export const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The value at `path`, or undefined when a step is missing or not a tree. */
export function getPath(tree: unknown, path: readonly string[]): unknown {
  let cur = tree;
  for (const key of path) cur = isTree(cur) ? cur[key] : undefined;
  return cur;
}

/** Write `value` at `path`, making (or replacing non-tree values with) the trees on the way. */
export function setPath(tree: Tree, path: readonly string[], value: unknown): void {
  let cur = tree;
  for (const key of path.slice(0, -1)) {
    if (!isTree(cur[key])) cur[key] = {};
    cur = cur[key] as Tree;
  }
  cur[path[path.length - 1]!] = value;
}

/** Every leaf path of `tree`, in key order (a tree with no keys is a leaf). */
export function leafPaths(tree: unknown, prefix: readonly string[] = []): string[][] {
  if (!isTree(tree) || Object.keys(tree).length === 0) return [[...prefix]];
  return Object.entries(tree).flatMap(([key, child]) => leafPaths(child, [...prefix, key]));
}
