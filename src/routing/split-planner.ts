/**
 * The split planner: which target of a route each of its devices mines on, so that the measured hashrate
 * (not the device count) matches the targets' weights. Pure and deterministic: the same targets, devices and
 * options give the same plan, whatever the order of the devices (they are sorted by id where order matters).
 *
 * The rule (ROUTING.md, "The split planner"), a line cut at the cumulative weights, made sticky:
 * 1. Weights are renormalized over the available targets; each gets a capacity = its share x the route's total
 *    hashrate. Devices with no measurement count as the median of the measured ones (1 when none is measured).
 * 2. Each target keeps its current devices while they fit (in id order, a device sliced by the last plan last,
 *    so the same device stays on the cut); a device that does not fit is skipped and the next one tried.
 * 3. What a target could not keep overflows. One sliceable device of the overflow (the one sliced last time if
 *    any) is cut: the part that fills its target stays there, the rest goes on; it does not count as a move.
 *    Every other overflowing device must move: a device sliced by the last plan moves freely (it switches on
 *    its schedule anyway); of the whole ones at most `maxMoves` do (the largest first, they correct the most),
 *    the rest stay whole where they are until the next plan.
 * 4. What floats (the cut devices' rest, the movers, and devices with no current target or an unavailable one)
 *    fills the targets' remaining room: devices that cannot be sliced go whole, the largest first, where the
 *    most room is left; then the sliceable ones are laid on a line over the room left, in target order, and a
 *    device on a cut between two targets is time-sliced. So at most targets-1 devices are sliced per route, and
 *    when every device can be sliced (and no move is held back) each target gets exactly its weight.
 * A move is a device that was whole (not sliced by the last plan) on an available target and whose placement
 * no longer includes that target.
 */

export interface PlanTarget {
  name: string;
  /** A positive weight; a target with a weight that is not a positive number is treated as unavailable. */
  weight: number;
  /** False when the target has no ready connection: it gets nothing and the others share its weight. */
  available: boolean;
}

export interface PlanDevice {
  /** Unique within the route: the session, not the worker name (several devices may share one worker name). */
  id: string;
  /** Measured hashrate (H/s), or null when not measured yet (counts as the route's median). */
  hashrate: number | null;
  /** The target it mines on now, or null when it has none yet. */
  current: string | null;
  /** False when the device cannot be time-sliced (it goes whole to the target of its larger share). */
  sliceable: boolean;
  /** True when the last plan time-sliced it: it is then the first choice for the cut again, so plans stay stable. */
  sliced?: boolean;
}

export interface PlanOptions {
  /** At most this many devices change target (whole) per plan; the rest wait for the next one. */
  maxMoves: number;
  /** A time slice smaller than this fraction of a device is dropped (given to its largest slice). Default 1e-6. */
  minFraction?: number;
}

export interface Slice {
  target: string;
  /** The share of the device's time on this target, in (0, 1); a device's slices sum to 1. */
  fraction: number;
}

export type Placement = { kind: 'whole'; target: string } | { kind: 'sliced'; slices: Slice[] };

export interface TargetLoad {
  target: string;
  /** The hashrate (H/s) the plan sends to this target: its whole devices plus its part of the sliced ones. */
  hashrate: number;
}

export interface RoutePlan {
  /** One per device, in the order of the devices given; empty when no target is available (the route is down). */
  placements: Placement[];
  /** The expected hashrate per target, in the targets' order (0 for an unavailable target). */
  expected: TargetLoad[];
  /** The route's total hashrate as the plan counts it (unmeasured devices at the median). */
  total: number;
  /** How many whole devices change target (counted as in the module comment): never more than maxMoves. */
  moves: number;
}

const DEFAULT_MIN_FRACTION = 1e-6;
/** Relative slack in the fit tests, so floating-point rounding never overflows a target that fits exactly. */
const FIT_EPSILON = 1e-9;

/**
 * The median of the finite non-negative hashrates, or 1 when there is none: what a device not measured yet
 * counts as (here and in the proxy's placement of a new device).
 */
export function medianHashrate(devices: readonly { hashrate: number | null }[]): number {
  const measured = new Float64Array(devices.length);
  let n = 0;
  for (const d of devices) if (isMeasured(d.hashrate)) measured[n++] = d.hashrate;
  if (n === 0) return 1;
  const sorted = measured.subarray(0, n).sort();
  const mid = n >> 1;
  return n % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const isMeasured = (h: number | null): h is number => h !== null && Number.isFinite(h) && h >= 0;

/** A target can take devices when it is available and its weight is a positive number. */
const canTake = (t: PlanTarget): boolean => t.available && t.weight > 0 && Number.isFinite(t.weight);

/**
 * Each device's rank by id (code unit order; equal ids by position), so later orders compare numbers. Sorting
 * by a numeric key that ends in the rank is then one native sort of a Float64Array.
 */
function rankById(devices: readonly PlanDevice[]): { rank: Int32Array; byRank: Int32Array } {
  const ids = devices.map((d) => d.id);
  const order = ids.map((_, i) => i);
  order.sort((a, b) => {
    const x = ids[a]!;
    const y = ids[b]!;
    return x < y ? -1 : x > y ? 1 : a - b;
  });
  const byRank = Int32Array.from(order);
  const rank = new Int32Array(devices.length);
  byRank.forEach((i, r) => (rank[i] = r));
  return { rank, byRank };
}

/** Sorts device indexes by (key(i), rank): `key` gives a small non-negative integer per device. */
function sortByKeyThenRank(indexes: Iterable<number>, key: (i: number) => number, rank: Int32Array, byRank: Int32Array): number[] {
  const n = rank.length;
  const keys: number[] = [];
  for (const i of indexes) keys.push(key(i) * n + rank[i]!);
  return Array.from(Float64Array.from(keys).sort(), (k) => byRank[k % n]!);
}

/**
 * Where each device's hashrate goes: most devices have one part (one target), so it is kept in typed arrays;
 * the few with more (the sliced ones) get a map.
 */
class Parts {
  readonly home: Int32Array;
  readonly homePart: Float64Array;
  readonly more = new Map<number, Map<number, number>>();

  constructor(n: number) {
    this.home = new Int32Array(n).fill(-1);
    this.homePart = new Float64Array(n);
  }

  add(i: number, target: number, h: number): void {
    if (this.home[i] === -1 || this.home[i] === target) {
      this.home[i] = target;
      this.homePart[i]! += h;
      return;
    }
    let extra = this.more.get(i);
    if (!extra) this.more.set(i, (extra = new Map()));
    extra.set(target, (extra.get(target) ?? 0) + h);
  }

  has(i: number): boolean {
    return this.home[i] !== -1;
  }

  /** The device's parts by target, in target order. */
  of(i: number): [number, number][] {
    const out: [number, number][] = [[this.home[i]!, this.homePart[i]!]];
    const extra = this.more.get(i);
    if (extra) out.push(...extra);
    return out.sort((a, b) => a[0] - b[0]);
  }

  /** The target of the device's largest part (the first in target order on a tie). */
  largest(i: number): number {
    return this.of(i).reduce((a, b) => (b[1] > a[1] ? b : a))[0];
  }
}

/** Plans one route. Never throws on odd input: bad weights make a target unavailable, bad hashrates unmeasured. */
export function planRoute(targets: readonly PlanTarget[], devices: readonly PlanDevice[], opts: PlanOptions): RoutePlan {
  const maxMoves = Number.isFinite(opts.maxMoves) ? Math.max(0, Math.floor(opts.maxMoves)) : opts.maxMoves > 0 ? Infinity : 0;
  const minFraction = opts.minFraction ?? DEFAULT_MIN_FRACTION;
  const n = devices.length;
  const k = targets.length;

  // Available targets (by index into `targets`), their shares and the devices' effective hashrates.
  // A name given twice counts once (the first); the route table refuses duplicates, this only keeps the plan sound.
  const indexOf = new Map<string, number>();
  const usable = targets.map((t, i) => {
    const ok = canTake(t) && !indexOf.has(t.name);
    if (ok) indexOf.set(t.name, i);
    return ok;
  });
  const weightSum = targets.reduce((s, t, i) => (usable[i] ? s + t.weight : s), 0);
  const median = medianHashrate(devices);
  const rate = Float64Array.from(devices, (d) => (isMeasured(d.hashrate) ? d.hashrate : median));
  const total = rate.reduce((s, h) => s + h, 0);
  const expected: TargetLoad[] = targets.map((t) => ({ target: t.name, hashrate: 0 }));
  if (weightSum === 0) return { placements: [], expected, total, moves: 0 };

  const eps = FIT_EPSILON * Math.max(total, Number.MIN_VALUE);
  const capacity = targets.map((t, i) => (usable[i] ? (t.weight / weightSum) * total : 0));
  const currentOf = Int32Array.from(devices, (d) => (d.current === null ? -1 : (indexOf.get(d.current) ?? -1)));
  const wasSliced = Uint8Array.from(devices, (d) => (d.sliced === true ? 1 : 0));
  const { rank, byRank } = rankById(devices);
  const byRateThenRank = (a: number, b: number) => rate[b]! - rate[a]! || rank[a]! - rank[b]!;
  const parts = new Parts(n);

  // Step 2: each target keeps its current devices while they fit, in sticky order (by target, the device
  // sliced last time last, then id).
  const load = new Float64Array(k);
  const overflow: number[][] = targets.map(() => []);
  const floating: number[] = [];
  const sticky = sortByKeyThenRank(devices.keys(), (i) => (currentOf[i]! + 1) * 2 + wasSliced[i]!, rank, byRank);
  for (const i of sticky) {
    const t = currentOf[i]!;
    if (t < 0) floating.push(i);
    else if (load[t]! + rate[i]! <= capacity[t]! + eps) {
      load[t]! += rate[i]!;
      parts.add(i, t, rate[i]!);
    } else overflow[t]!.push(i);
  }

  // Step 3: one cut device per overflowing target, then the moves within the budget.
  const mustMove: number[] = [];
  overflow.forEach((over, t) => {
    if (over.length === 0) return;
    const room = Math.max(0, capacity[t]! - load[t]!);
    const cut = over.find((i) => devices[i]!.sliceable && wasSliced[i] === 1) ?? over.find((i) => devices[i]!.sliceable) ?? over[0]!;
    for (const i of over) {
      if (i !== cut) mustMove.push(i);
      else if (!devices[i]!.sliceable) {
        // Rounded to the larger side: it stays when most of it fits here.
        if (room >= rate[i]! / 2) {
          load[t]! += rate[i]!;
          parts.add(i, t, rate[i]!);
        } else mustMove.push(i);
      } else if (room > eps) {
        load[t]! += room;
        parts.add(i, t, room);
        floating.push(i);
      } else mustMove.push(i);
    }
  });
  // A device sliced by the last plan already switches on its schedule: it floats free of the budget.
  const budgeted: number[] = [];
  for (const i of mustMove) (wasSliced[i] === 1 ? floating : budgeted).push(i);
  budgeted.sort(byRateThenRank);
  budgeted.forEach((i, m) => {
    if (m < maxMoves) floating.push(i);
    else {
      const t = currentOf[i]!;
      load[t]! += rate[i]!;
      parts.add(i, t, rate[i]!);
    }
  });

  // Step 4: fill the room left, devices that cannot be sliced first (whole, the largest into the most room).
  const room = capacity.map((c, t) => (usable[t] ? c - load[t]! : -Infinity));
  const whole = floating.filter((i) => !devices[i]!.sliceable).sort(byRateThenRank);
  for (const i of whole) {
    const best = mostRoom(room, usable);
    room[best]! -= rate[i]!;
    parts.add(i, best, rate[i]!);
  }
  // The sliceable rest on a line over the room left, in target order: the cut devices' rest first (they
  // already hold a part of their own target), then the others in sticky order.
  const line = sortByKeyThenRank(
    floating.filter((i) => devices[i]!.sliceable),
    (i) => (parts.has(i) ? 0 : currentOf[i]! + 2),
    rank,
    byRank,
  );
  let cursor = nextRoom(room, 0, eps);
  let lastFilled = cursor;
  for (const i of line) {
    let left = rate[i]! - (parts.has(i) ? parts.homePart[i]! : 0);
    while (left > eps && cursor < k) {
      const take = Math.min(left, room[cursor]!);
      parts.add(i, cursor, take);
      room[cursor]! -= take;
      left -= take;
      lastFilled = cursor;
      if (room[cursor]! <= eps) cursor = nextRoom(room, cursor + 1, eps);
    }
    if (left > 0 || !parts.has(i)) {
      // Rounding dust or no room left (devices that cannot be sliced took more than their room): to the
      // device's largest part, so no new slice appears; a device with no part yet (say, of no hashrate)
      // goes to the last target filled, else the one with the most room.
      const t = parts.has(i) ? parts.largest(i) : lastFilled < k ? lastFilled : mostRoom(room, usable);
      parts.add(i, t, Math.max(0, left));
    }
  }

  // Placements, expected loads and moves.
  const placements: Placement[] = new Array<Placement>(n);
  let moves = 0;
  for (let i = 0; i < n; i++) {
    const pl: Placement = parts.more.has(i) ? slicedPlacement(parts.of(i), rate[i]!, targets, minFraction) : { kind: 'whole', target: targets[parts.home[i]!]!.name };
    placements[i] = pl;
    if (pl.kind === 'whole') expected[indexOf.get(pl.target)!]!.hashrate += rate[i]!;
    else for (const s of pl.slices) expected[indexOf.get(s.target)!]!.hashrate += rate[i]! * s.fraction;
    if (currentOf[i]! >= 0 && wasSliced[i] === 0 && !placesOn(pl, targets[currentOf[i]!]!.name)) moves++;
  }
  return { placements, expected, total, moves };
}

/** The first target from `from` on with room left, or targets.length when none has. */
function nextRoom(room: number[], from: number, eps: number): number {
  let t = from;
  while (t < room.length && !(room[t]! > eps)) t++;
  return t;
}

function mostRoom(room: number[], usable: boolean[]): number {
  let best = -1;
  for (let t = 0; t < room.length; t++) if (usable[t] && (best < 0 || room[t]! > room[best]!)) best = t;
  return best;
}

/** True when the placement sends the device to `target` (whole or for a slice of its time). */
export function placesOn(placement: Placement, target: string): boolean {
  return placement.kind === 'whole' ? placement.target === target : placement.slices.some((s) => s.target === target);
}

/**
 * A device's placement from its parts (target index, H/s) in target order: slices with fractions that sum to
 * exactly 1, or whole when one part is left after dropping the parts under `minFraction` (they go to the rest).
 */
function slicedPlacement(parts: [number, number][], rate: number, targets: readonly PlanTarget[], minFraction: number): Placement {
  const positive = parts.filter(([, h]) => h > 0);
  if (positive.length === 0) return { kind: 'whole', target: targets[parts[0]![0]]!.name };
  let kept = positive.filter(([, h]) => h / rate >= minFraction);
  if (kept.length === 0) kept = [positive.reduce((a, b) => (b[1] > a[1] ? b : a))];
  if (kept.length === 1) return { kind: 'whole', target: targets[kept[0]![0]]!.name };
  const sum = kept.reduce((s, [, h]) => s + h, 0);
  const slices = kept.map(([t, h]) => ({ target: targets[t]!.name, fraction: h / sum }));
  // The largest absorbs the rounding.
  const largest = slices.reduce((a, b) => (b.fraction > a.fraction ? b : a));
  largest.fraction = 1 - slices.reduce((s, x) => (x === largest ? s : s + x.fraction), 0);
  return { kind: 'sliced', slices };
}

/**
 * The target a new device should join now: the available target furthest under its weight, given the
 * hashrate each target has (`loads`, by target name) and the new device's hashrate. Null when none is available.
 */
export function mostUnderweight(targets: readonly PlanTarget[], loads: ReadonlyMap<string, number>, hashrate = 0): string | null {
  const usable = targets.filter(canTake);
  if (usable.length === 0) return null;
  const weightSum = usable.reduce((s, t) => s + t.weight, 0);
  const total = usable.reduce((s, t) => s + (loads.get(t.name) ?? 0), 0) + hashrate;
  let best: PlanTarget | null = null;
  let bestGap = -Infinity;
  for (const t of usable) {
    const gap = (t.weight / weightSum) * total - (loads.get(t.name) ?? 0);
    if (gap > bestGap) {
      best = t;
      bestGap = gap;
    }
  }
  return best!.name;
}
