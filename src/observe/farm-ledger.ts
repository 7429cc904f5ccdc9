import { DEFAULT_BOOKS, OwnerMap } from '../books/owners.js';
import { HASHES_PER_DIFF1 } from '../chain/target.js';
import type { RejectReason } from '../stratum/errors.js';
import type { BlockSubmitResult, DeviceSplit, EventBus, NoVerdictCause, ProxyEventMap } from '../core/events.js';
import { DEFAULT_ROUTE, DEFAULT_TARGET } from '../routing/default-route.js';
import type { RouteFallback, RouteSpec } from '../routing/types.js';
import { BUCKETS, BUCKET_SECONDS, Col, DeviceStore, REJECT_REASONS, rejectColumn } from './device-store.js';
import { FoundBlocks, statusText, submittedText } from './found-blocks.js';
import { copyFlow, countForward, countVerdict, newFlow, poolResultOf, sumFlows, type ShareFlow } from './share-flow.js';

export { POOL_RESULTS, poolResultOf, type PoolResult, type ShareFlow } from './share-flow.js';

export { BUCKETS, BUCKET_SECONDS } from './device-store.js';

/**
 * The farm's live numbers, kept once. Fed only by the core's events (src/core/events.ts); /metrics, the
 * JSON API, the websocket feed, alerts and the demo summary all read them here and count nothing
 * themselves. Every count is defined in this table, and the README uses the same words:
 *
 * | count             | what it counts                                                                      |
 * |-------------------|-------------------------------------------------------------------------------------|
 * | accepted          | shares that met the device's target (`share.accepted`)                              |
 * | rejected          | shares refused by the proxy, by reason (`share.rejected`): invalid, stale,          |
 * |                   | duplicate, low_difficulty, unauthorized, not_subscribed                             |
 * | work              | the sum of the difficulties credited for accepted shares (hashrate = work x 2^32/s) |
 * | forwarded         | accepted shares sent toward the pool: they met the pool's or the network's target   |
 * |                   | (`share.forwarded`)                                                                 |
 * | poolAccepted      | forwarded shares the pool accepted                                                  |
 * | poolRejected      | forwarded shares the pool rejected (its own verdict, by its error code)             |
 * | poolUnanswered    | forwarded shares with no verdict from the pool, by cause: timeout (no answer in     |
 * |                   | time), connection-lost (the connection ended with the share in flight), no-pool    |
 * |                   | (no pool connection to send it on)                                                  |
 * | inFlight          | forwarded shares still waiting for the pool's answer                                |
 * | blockCandidates   | accepted shares that met the network's target (`block.candidate`)                   |
 * | blocksSubmitted   | solo: blocks sent to dashd, by its answer (`block.submitted`); the recent blocks and |
 * |                   | their place on the best chain (`block.status`) are kept in `blocks` (found-blocks.ts) |
 *
 * Invariant, per device, per owner, per route, per target, per pool, per connection and farm-wide:
 *   forwarded = poolAccepted + poolRejected + poolUnanswered + inFlight.
 *
 * Kept per device (worker name; a device that reconnects continues its counts, until it has been offline
 * for `retentionSeconds`), per pool (by target and name: each target has its own pool list), per upstream
 * connection (the proxy's index: its route and target, current pool, up, active, version mask), per route,
 * per target, and farm-wide. Farm-wide accepted/rejected/work/blockCandidates are kept
 * apart from the devices' (a forgotten device's shares still count, and a share refused before authorize
 * has no device); the pool-side totals are the sums over the pools.
 *
 * Owners (src/books/owners.ts): every device has the owner the map in force gives its worker name, kept
 * in its row as an index into a small owner table. Each owner's accepted, rejected, work, blockCandidates
 * and forwarded are credited when the share is counted, to the owner the device has at that moment, and
 * stay with that owner: a new map (`setOwners`, on SIGHUP) re-resolves every device from then on and never
 * moves what was credited before. The pool's verdict on a forwarded share goes to the owner its forward
 * was credited to (the share is remembered by its shareId while in flight), so the invariant holds per
 * owner across a map change. An owner's devices and hashrate are those it owns now. The owners' accepted,
 * work, blockCandidates, forwarded and verdicts sum to the farm's; rejected counts only known devices'
 * shares (as a device's rejected does).
 *
 * Routes and targets (src/routing/): each device mines for the route and target of its last `device.route`
 * (its placement after authorizing, then each move: a rebalance, a time slice, a fallback, a reload), kept
 * in its row as indexes into small route and target tables. A route's and a target's forwarded shares and
 * verdicts are counted from the place each share event names (a share goes upstream on the target of the
 * job it was mined on, and its verdict names the same place), so the invariant holds per route and target.
 * Their accepted and work are credited to the route and target `share.accepted` names: those of the job the
 * share was mined on (a share of an old target's job arriving just after a move counts for the old one). A
 * target's devices and hashrate are those placed on it now; a route's, those whose route it is (a device on
 * its fallback counts for its own route and for the target it mines on). Weights and pools come from the routes in force (`routes`, a getter the app builds from the
 * configuration; the ledger never asks the proxy): a target's `workShare` is its part of its route's
 * targets' work, the split achieved, to be read against its `weightShare`. A device's split is its last
 * `device.split` while it is online: most devices are plainly whole and have none (no entry is kept for
 * them); a time-sliced device has its slices and fractions, a device kept whole against the plan the reason.
 */

/** Seconds a worker with no live session is kept before it is forgotten (its series leave /metrics). */
export const DEFAULT_RETENTION_SECONDS = 3600;

/** Forwarded shares remembered at most while they wait for the pool's verdict (see inFlightOwner). */
export const MAX_TRACKED_IN_FLIGHT = 100_000;

/** Hashrate is averaged over this many seconds. */
export const HASHRATE_WINDOW_SECONDS = 300;

export interface PoolRecord extends ShareFlow {
  name: string;
  /** The route and target whose pool list it is in (pool names are unique within a target). */
  route: string;
  target: string;
  url: string;
  /** Some connection is subscribed and authorized on it. */
  up: boolean;
  /** Some connection mines on it. */
  active: boolean;
  lastChange: number;
  lastError: string | null;
  /** Failovers to this pool (a connection's first pool is no failover). */
  switchesTo: number;
}

export interface ConnectionRecord extends ShareFlow {
  /** The proxy's index for this upstream connection (0, 1, ...; unique across targets). */
  index: number;
  /** The route and target it serves (null until an event names them). */
  route: string | null;
  target: string | null;
  /** The pool it mines on (its last switch), or the pool it is connecting to. */
  pool: string | null;
  url: string | null;
  /** Subscribed and authorized on `pool`. */
  up: boolean;
  /** Mining on `pool` (chosen by failover and not down since). */
  active: boolean;
  /** The pool's version-rolling mask on this connection (null: none told). */
  versionMask: number | null;
  lastChange: number;
  lastError: string | null;
}

export interface FarmEvent {
  at: number;
  kind: 'block' | 'pool' | 'device-offline' | 'device-online';
  message: string;
}

/** A worker went from no live session to one (online) or back (offline). */
export interface PresenceChange {
  worker: string;
  online: boolean;
  ip: string;
  /** Why the last session ended (offline only). */
  reason: string | null;
  at: number;
}

export interface DeviceView {
  worker: string;
  /** Its owner under the owners map in force. */
  owner: string;
  /** The route and target it mines for (its last `device.route`); null before its first placement. */
  route: string | null;
  target: string | null;
  /** Whole: it mines on its target only; sliced: on each of `slices` in turn (its last `device.split`). */
  split: 'whole' | 'sliced';
  /** A sliced device's targets with the fraction of its time on each (summing to 1); empty when whole. */
  slices: { target: string; fraction: number }[];
  /** Why a device the split would time-slice is kept whole (e.g. 'pass-through worker mode'); null otherwise. */
  wholeBecause: string | null;
  ip: string;
  online: boolean;
  difficulty: number;
  hashrate: number;
  accepted: number;
  rejected: number;
  rejectedByReason: Partial<Record<RejectReason, number>>;
  rejectRate: number;
  work: number;
  forwarded: number;
  poolAccepted: number;
  poolRejected: number;
  poolUnanswered: number;
  inFlight: number;
  blockCandidates: number;
  lastShareAt: number | null;
  connectedAt: number | null;
  disconnectedAt: number | null;
}

export interface FarmSummary {
  at: number;
  devicesOnline: number;
  devicesOffline: number;
  /** Open device connections, authorized or not. */
  sessionsOpen: number;
  hashrate: number;
  accepted: number;
  rejected: number;
  rejectedByReason: Partial<Record<RejectReason, number>>;
  work: number;
  forwarded: number;
  poolAccepted: number;
  poolRejected: number;
  poolUnanswered: number;
  /** poolUnanswered by cause. */
  poolUnansweredByCause: Record<NoVerdictCause, number>;
  inFlight: number;
  blockCandidates: number;
  /** Solo: blocks sent to dashd with submitblock, by its answer. */
  blocksSubmitted: Record<BlockSubmitResult, number>;
  activePool: string | null;
  poolsUp: number;
  /** Upstream connections the proxy has opened, and how many are up. */
  connections: number;
  connectionsUp: number;
  /** Device connections refused by a limit, by cause. */
  refusedByCause: Record<string, number>;
}

/** One owner's numbers: credited counts (at the time of each share) and the devices it owns now. */
export interface OwnerView extends ShareFlow {
  owner: string;
  /** In the owners map in force (an owner taken out of it keeps what it was credited, with false here). */
  configured: boolean;
  /** The farm owner (books.farmOwner) of the map in force. */
  farm: boolean;
  devicesOnline: number;
  devices: number;
  /** Sum of its devices' hashrates (H/s). */
  hashrate: number;
  accepted: number;
  rejected: number;
  work: number;
  blockCandidates: number;
  /** Its work over the farm's work (0 to 1; 0 while the farm has none). */
  shareOfWork: number;
}

/** Counts credited to one owner (OwnerView's credited part). */
interface OwnerTotals extends ShareFlow {
  name: string;
  accepted: number;
  rejected: number;
  work: number;
  blockCandidates: number;
}

/** One target of a route: its weight and pools in force, and what its devices did (see the class comment). */
export interface TargetView extends ShareFlow {
  name: string;
  /** In the routes in force (false: only seen in events, e.g. taken out by a reload; it keeps its counts). */
  configured: boolean;
  /** Its weight in force, and that weight over the sum of its route's weights (0 to 1); null when not configured. */
  weight: number | null;
  weightShare: number | null;
  /** Its pools' names in failover order (empty when not configured). */
  pools: string[];
  /** Devices placed on it now (known workers), and those of them online. */
  devices: number;
  devicesOnline: number;
  /** Sum of those devices' hashrates (H/s), and its part of its route's targets' hashrate (0 to 1). */
  hashrate: number;
  hashrateShare: number;
  accepted: number;
  work: number;
  /** Its work over its route's targets' work (0 to 1; 0 while they have none): the split achieved. */
  workShare: number;
}

/** One route: its fallback in force, its devices, its counts and its targets. */
export interface RouteView extends ShareFlow {
  name: string;
  configured: boolean;
  /** Where its devices go when none of its targets is available (null when not configured). */
  fallback: RouteFallback | null;
  /** Devices whose route it is (wherever they mine now), and those online. */
  devices: number;
  devicesOnline: number;
  /** Its devices time-sliced among its targets now (each also counts in `devices`). */
  devicesSliced: number;
  hashrate: number;
  accepted: number;
  work: number;
  /** The targets in force in their configured order, then any other seen on this route, by name. */
  targets: TargetView[];
}

/** The routes in force when the app passes none: today's `pools` as route 'default', target 'default', weight 1. */
export const DEFAULT_ROUTES: readonly RouteSpec[] = Object.freeze([{ name: DEFAULT_ROUTE, fallback: 'none', targets: [{ name: DEFAULT_TARGET, weight: 1, pools: [] }] }]);

/** Counts kept per route or target (RouteView's and TargetView's counted part). */
interface PlaceTotals extends ShareFlow {
  name: string;
  /** A target's route as first seen in an event (the routes in force say better); a route's own name. */
  route: string;
  accepted: number;
  work: number;
}

export interface FarmLedgerOptions {
  /** The routes in force, read when a view of them is asked for (default DEFAULT_ROUTES). */
  routes?: () => readonly RouteSpec[];
  /** Who owns each worker (default: no owners, everything the default farm owner's). */
  owners?: OwnerMap;
  /** How many recent farm events (blocks, pool changes, devices offline/online) are kept. */
  eventLog?: number;
  /** Seconds a worker with no live session is kept (default DEFAULT_RETENTION_SECONDS); then it is forgotten. */
  retentionSeconds?: number;
  /** How often expired workers are looked for, in seconds (default: retention / 4, between 1 and 60). */
  sweepIntervalSeconds?: number;
  now?: () => number;
}

export class FarmLedger {
  /** Every device's row (see device-store.ts). Read through the methods below. */
  readonly store = new DeviceStore();
  readonly events: FarmEvent[] = [];
  /** Solo: the blocks found and sent to dashd, their place on the best chain, their counts. */
  readonly blocks = new FoundBlocks();
  readonly retentionSeconds: number;
  private readonly pools = new Map<string, PoolRecord>();
  private readonly connectionList: ConnectionRecord[] = [];
  /** Per pool name, the connections up on it. */
  private readonly upOn = new Map<string, Set<number>>();
  private readonly eventLog: number;
  private readonly now: () => number;
  private readonly farm = { accepted: 0, rejected: 0, work: 0, blockCandidates: 0, sessionsOpen: 0 };
  private readonly rejectedByReason: Partial<Record<RejectReason, number>> = {};
  private readonly refusedByCause: Record<string, number> = {};
  private readonly listeners = new Set<(e: FarmEvent) => void>();
  private readonly presenceListeners = new Set<(c: PresenceChange) => void>();
  private readonly forgetListeners = new Set<(worker: string) => void>();
  private readonly unsubscribe: (() => void)[] = [];
  private sweepTimer: NodeJS.Timeout | null = null;
  private ownerMap: OwnerMap;
  /** Every owner ever credited or configured, by index (a device row holds the index); only grows, by name. */
  private readonly ownerTable: OwnerTotals[] = [];
  private readonly ownerIndex = new Map<string, number>();
  /** Readers walking the store in pieces (a /metrics scrape): the sweep waits, so no slot is reused meanwhile. */
  private pins = 0;
  /**
   * Forwarded shares waiting for the pool's verdict, by shareId: the owner (index) their forward was
   * credited to, so the verdict goes to the same owner even after a new owners map. Bounded: every forward
   * gets exactly one verdict; beyond MAX_TRACKED_IN_FLIGHT the oldest are let go (their verdicts then go
   * to the device's owner at that time).
   */
  private readonly inFlightOwner = new Map<number, number>();
  private readonly routes: () => readonly RouteSpec[];
  /** Every route and target ever seen, by index (a device row holds the indexes); only grows, by name. */
  private readonly routeTable: PlaceTotals[] = [];
  private readonly routeIndex = new Map<string, number>();
  private readonly targetTable: PlaceTotals[] = [];
  private readonly targetIndex = new Map<string, number>();
  /** Online devices whose split is not plainly whole, by worker: the route (index) and split of their last `device.split`. */
  private readonly splits = new Map<string, { route: number; split: DeviceSplit }>();

  constructor(bus: EventBus, opts: FarmLedgerOptions = {}) {
    this.eventLog = opts.eventLog ?? 200;
    this.now = opts.now ?? Date.now;
    this.retentionSeconds = opts.retentionSeconds ?? DEFAULT_RETENTION_SECONDS;
    this.ownerMap = opts.owners ?? OwnerMap.compile({}, DEFAULT_BOOKS);
    this.routes = opts.routes ?? (() => DEFAULT_ROUTES);
    for (const name of this.ownerMap.names) this.ownerSlot(name);
    if (!(this.retentionSeconds >= 0) || !Number.isFinite(this.retentionSeconds)) throw new RangeError(`retentionSeconds must be a finite number >= 0, got ${opts.retentionSeconds}`);
    const sweepSeconds = opts.sweepIntervalSeconds ?? Math.min(60, Math.max(1, this.retentionSeconds / 4));
    if (!(sweepSeconds > 0) || !Number.isFinite(sweepSeconds)) throw new RangeError(`sweepIntervalSeconds must be a positive number, got ${opts.sweepIntervalSeconds}`);
    this.listen(bus);
    this.sweepTimer = setInterval(() => {
      if (this.pins === 0) this.sweep();
    }, sweepSeconds * 1000);
    this.sweepTimer.unref();
  }

  // ---- reading ---------------------------------------------------------------------------------------------

  /** Be told of every new farm event (for the websocket feed and webhooks). */
  onEvent(listener: (e: FarmEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Be told when a worker comes online (first live session) or goes offline (last session ended). */
  onPresence(listener: (c: PresenceChange) => void): () => void {
    this.presenceListeners.add(listener);
    return () => this.presenceListeners.delete(listener);
  }

  /** Be told of each worker forgotten by the retention sweep. */
  onForget(listener: (worker: string) => void): () => void {
    this.forgetListeners.add(listener);
    return () => this.forgetListeners.delete(listener);
  }

  /** Hold the sweep while a reader walks the store in pieces; call the returned function when done. */
  pin(): () => void {
    this.pins++;
    let done = false;
    return () => {
      if (!done) this.pins--;
      done = true;
    };
  }

  get deviceCount(): number {
    return this.store.size;
  }

  /** The slot of a worker in the store, or -1. */
  slotOf(worker: string): number {
    return this.store.slot(worker);
  }

  /** Calls `fn` for every known worker. */
  forEachDevice(fn: (slot: number, worker: string) => void): void {
    this.store.forEach(fn);
  }

  isOnline(slot: number): boolean {
    return this.store.get(slot, Col.sessions) > 0;
  }

  /** Changes whenever the device's numbers change (the feed sends only changed devices). */
  version(slot: number): number {
    return this.store.get(slot, Col.version);
  }

  /** Hashrate (H/s) of one device over the last HASHRATE_WINDOW_SECONDS. */
  hashrate(slot: number, at = this.now()): number {
    const headNow = Math.floor(at / 1000 / BUCKET_SECONDS);
    const span = HASHRATE_WINDOW_SECONDS / BUCKET_SECONDS;
    let work = 0;
    for (let b = headNow - span + 1; b <= headNow; b++) work += this.store.bucketWork(slot, b);
    const lived = Math.max(BUCKET_SECONDS, (at - this.store.get(slot, Col.firstSeenAt)) / 1000);
    return (work * HASHES_PER_DIFF1) / Math.min(HASHRATE_WINDOW_SECONDS, lived);
  }

  /** The device's hashrate per bucket over the last BUCKETS buckets, oldest first (for a sparkline). */
  history(slot: number, at = this.now()): number[] {
    const headNow = Math.floor(at / 1000 / BUCKET_SECONDS);
    const out: number[] = [];
    for (let b = headNow - BUCKETS + 1; b <= headNow; b++) out.push((this.store.bucketWork(slot, b) * HASHES_PER_DIFF1) / BUCKET_SECONDS);
    return out;
  }

  /** One device's numbers, or null for an unknown worker. */
  device(worker: string, at = this.now()): DeviceView | null {
    const s = this.store.slot(worker);
    return s < 0 ? null : this.view(s, at);
  }

  view(slot: number, at = this.now()): DeviceView {
    const st = this.store;
    const byReason: Partial<Record<RejectReason, number>> = {};
    let rejected = 0;
    for (let i = 0; i < REJECT_REASONS.length; i++) {
      const n = st.get(slot, Col.rejected + i);
      if (n > 0) byReason[REJECT_REASONS[i]!] = n;
      rejected += n;
    }
    const accepted = st.get(slot, Col.accepted);
    const total = accepted + rejected;
    const forwarded = st.get(slot, Col.forwarded);
    const poolAccepted = st.get(slot, Col.poolAccepted);
    const poolRejected = st.get(slot, Col.poolRejected);
    const poolUnanswered = st.get(slot, Col.poolUnanswered);
    const route = st.get(slot, Col.route);
    const target = st.get(slot, Col.target);
    const worker = st.worker(slot)!;
    const split = this.splits.get(worker)?.split;
    return {
      worker,
      owner: this.ownerOfSlot(slot),
      route: route < 0 ? null : this.routeTable[route]!.name,
      target: target < 0 ? null : this.targetTable[target]!.name,
      split: split?.kind ?? 'whole',
      slices: split?.kind === 'sliced' ? split.slices.map((x) => ({ ...x })) : [],
      wholeBecause: split?.kind === 'whole' ? (split.wholeBecause ?? null) : null,
      ip: st.ip(slot),
      online: st.get(slot, Col.sessions) > 0,
      difficulty: st.get(slot, Col.difficulty),
      hashrate: this.hashrate(slot, at),
      accepted,
      rejected,
      rejectedByReason: byReason,
      rejectRate: total === 0 ? 0 : rejected / total,
      work: st.get(slot, Col.work),
      forwarded,
      poolAccepted,
      poolRejected,
      poolUnanswered,
      inFlight: forwarded - poolAccepted - poolRejected - poolUnanswered,
      blockCandidates: st.get(slot, Col.blockCandidates),
      lastShareAt: orNull(st.get(slot, Col.lastShareAt)),
      connectedAt: orNull(st.get(slot, Col.connectedAt)),
      disconnectedAt: orNull(st.get(slot, Col.disconnectedAt)),
    };
  }

  /** The pools, in the order first seen. */
  poolList(): PoolRecord[] {
    return [...this.pools.values()].map((p) => ({ ...copyFlow(p), up: this.poolUp(p), active: this.poolActive(p) }));
  }

  /** The upstream connections, by index. */
  connections(): ConnectionRecord[] {
    return this.connectionList.filter((c) => c !== undefined).map(copyFlow);
  }

  summary(at = this.now()): FarmSummary {
    let online = 0;
    let hashrate = 0;
    this.store.forEach((s) => {
      if (this.isOnline(s)) online++;
      hashrate += this.hashrate(s, at);
    });
    const flow = sumFlows(this.pools.values());
    let active: string | null = null;
    let up = 0;
    for (const p of this.pools.values()) {
      if (active === null && this.poolActive(p)) active = p.name;
      if (this.poolUp(p)) up++;
    }
    const connections = this.connections();
    return {
      at,
      devicesOnline: online,
      devicesOffline: this.store.size - online,
      sessionsOpen: this.farm.sessionsOpen,
      hashrate,
      accepted: this.farm.accepted,
      rejected: this.farm.rejected,
      rejectedByReason: { ...this.rejectedByReason },
      work: this.farm.work,
      forwarded: flow.forwarded,
      poolAccepted: flow.poolAccepted,
      poolRejected: flow.poolRejected,
      poolUnanswered: flow.poolUnanswered,
      poolUnansweredByCause: { timeout: flow.results.timeout, 'connection-lost': flow.results.connection_lost, 'no-pool': flow.results.no_pool },
      inFlight: flow.inFlight,
      blockCandidates: this.farm.blockCandidates,
      blocksSubmitted: this.blocks.totals(),
      activePool: active,
      poolsUp: up,
      connections: connections.length,
      connectionsUp: connections.filter((c) => c.up).length,
      refusedByCause: { ...this.refusedByCause },
    };
  }

  /** The owners map in force. */
  get owners(): OwnerMap {
    return this.ownerMap;
  }

  /** The owner of the device in `slot`, under the map in force. */
  ownerOfSlot(slot: number): string {
    return this.ownerTable[this.store.get(slot, Col.owner)]!.name;
  }

  /**
   * Every owner: those of the map in force, then any other that was credited before a map change, by name.
   * One pass over the devices.
   */
  ownerList(at = this.now()): OwnerView[] {
    const live = this.ownerTable.map(() => ({ devicesOnline: 0, devices: 0, hashrate: 0 }));
    this.store.forEach((s) => {
      const o = live[this.store.get(s, Col.owner)]!;
      o.devices++;
      if (this.isOnline(s)) o.devicesOnline++;
      o.hashrate += this.hashrate(s, at);
    });
    const farmWork = this.farm.work;
    const views: OwnerView[] = [];
    this.ownerTable.forEach((t, i) => {
      const configured = this.ownerMap.has(t.name);
      if (!configured && t.accepted === 0 && t.rejected === 0 && t.blockCandidates === 0 && t.forwarded === 0 && live[i]!.devices === 0) return;
      const { name, ...credited } = copyFlow(t);
      views.push({
        owner: name,
        configured,
        farm: name === this.ownerMap.farmOwner,
        ...live[i]!,
        ...credited,
        shareOfWork: farmWork > 0 ? t.work / farmWork : 0,
      });
    });
    return views.sort((a, b) => (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0));
  }

  /**
   * Put a new owners map in force from now on (SIGHUP): every known device is re-resolved; what was
   * credited before stays with the owner it was credited to. Returns how many devices changed owner.
   */
  setOwners(map: OwnerMap): number {
    this.ownerMap = map;
    for (const name of map.names) this.ownerSlot(name);
    let moved = 0;
    this.store.forEach((s, worker) => {
      const owner = this.ownerSlot(map.ownerOf(worker));
      if (owner !== this.store.get(s, Col.owner)) {
        this.store.set(s, Col.owner, owner);
        this.store.add(s, Col.version, 1);
        moved++;
      }
    });
    return moved;
  }

  /** The route and target the device in `slot` mines for (null before its first placement). */
  placeOfSlot(slot: number): { route: string; target: string } | null {
    const r = this.store.get(slot, Col.route);
    const t = this.store.get(slot, Col.target);
    return r < 0 || t < 0 ? null : { route: this.routeTable[r]!.name, target: this.targetTable[t]!.name };
  }

  /**
   * Every route: those in force in the order the routes getter gives (the routing's: the default route
   * last), then any other seen in events, by name; each with its targets (see RouteView). One pass over the
   * devices.
   */
  routeList(at = this.now()): RouteView[] {
    const specs = this.routes();
    for (const r of specs) {
      this.placeSlot(this.routeTable, this.routeIndex, r.name, r.name);
      for (const t of r.targets) this.placeSlot(this.targetTable, this.targetIndex, t.name, r.name);
    }
    const live = (n: number) => Array.from({ length: n }, () => ({ devices: 0, devicesOnline: 0, hashrate: 0 }));
    const byRoute = live(this.routeTable.length).map((x) => ({ ...x, devicesSliced: 0 }));
    const byTarget = live(this.targetTable.length);
    this.store.forEach((s) => {
      const r = this.store.get(s, Col.route);
      const t = this.store.get(s, Col.target);
      if (r < 0 && t < 0) return;
      const online = this.isOnline(s) ? 1 : 0;
      const hashrate = this.hashrate(s, at);
      if (r >= 0) countLive(byRoute[r]!, online, hashrate);
      if (t >= 0) countLive(byTarget[t]!, online, hashrate);
    });
    for (const { route, split } of this.splits.values()) if (split.kind === 'sliced') byRoute[route]!.devicesSliced++;
    const routeOfTarget = new Map<string, string>();
    for (const r of specs) for (const t of r.targets) routeOfTarget.set(t.name, r.name);
    const targetView = (i: number, spec: RouteSpec | undefined): Omit<TargetView, 'hashrateShare' | 'workShare'> => {
      const t = this.targetTable[i]!;
      const ts = spec?.targets.find((x) => x.name === t.name);
      const weights = spec ? spec.targets.reduce((n, x) => n + x.weight, 0) : 0;
      const { name, route: _route, ...counted } = copyFlow(t);
      return { name, configured: ts !== undefined, weight: ts?.weight ?? null, weightShare: ts && weights > 0 ? ts.weight / weights : null, pools: ts?.pools.map((p) => p.name) ?? [], ...byTarget[i]!, ...counted };
    };
    const view = (i: number, spec: RouteSpec | undefined): RouteView => {
      const r = this.routeTable[i]!;
      const targets: Omit<TargetView, 'hashrateShare' | 'workShare'>[] = [];
      for (const t of spec?.targets ?? []) targets.push(targetView(this.targetIndex.get(t.name)!, spec));
      const others = this.targetTable
        .map((t, j) => ({ t, j }))
        .filter(({ t }) => (routeOfTarget.get(t.name) ?? t.route) === r.name && !spec?.targets.some((x) => x.name === t.name))
        .sort((a, b) => byName(a.t.name, b.t.name));
      for (const { j } of others) targets.push(targetView(j, spec));
      const work = targets.reduce((n, t) => n + t.work, 0);
      const hashrate = targets.reduce((n, t) => n + t.hashrate, 0);
      const { name, route: _route, ...counted } = copyFlow(r);
      return {
        name,
        configured: spec !== undefined,
        fallback: spec?.fallback ?? null,
        ...byRoute[i]!,
        ...counted,
        targets: targets.map((t) => ({ ...t, hashrateShare: hashrate > 0 ? t.hashrate / hashrate : 0, workShare: work > 0 ? t.work / work : 0 })),
      };
    };
    const out = specs.map((r) => view(this.routeIndex.get(r.name)!, r));
    const configured = new Set(specs.map((r) => r.name));
    // Routes seen only in events: those with a device, a count, or a target that is no configured route's.
    const seen = new Set(this.routeTable.map((r) => r.name));
    for (const t of this.targetTable) if (!routeOfTarget.has(t.name)) seen.add(t.route);
    for (const name of [...seen].filter((n) => !configured.has(n)).sort(byName)) {
      const i = this.placeSlot(this.routeTable, this.routeIndex, name, name);
      out.push(view(i, undefined));
    }
    return out;
  }

  // ---- retention -------------------------------------------------------------------------------------------

  /** Forget the workers offline for longer than the retention time; returns them. */
  sweep(now = this.now()): string[] {
    const cutoff = now - this.retentionSeconds * 1000;
    const expired: string[] = [];
    this.store.forEach((s, w) => {
      if (this.store.get(s, Col.sessions) === 0 && this.store.get(s, Col.offlineSince) <= cutoff) expired.push(w);
    });
    for (const worker of expired) this.forget(worker);
    return expired;
  }

  /** Forget a worker entirely. */
  forget(worker: string): void {
    if (!this.store.remove(worker)) return;
    this.splits.delete(worker);
    for (const l of this.forgetListeners) {
      try {
        l(worker);
      } catch (err) {
        process.emitWarning(`onForget(${worker}) threw: ${(err as Error).message}`);
      }
    }
  }

  /** Stop listening and stop the sweep timer. */
  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }

  // ---- writing (events only) -------------------------------------------------------------------------------

  private on<K extends keyof ProxyEventMap>(bus: EventBus, name: K, fn: (e: ProxyEventMap[K]) => void): void {
    this.unsubscribe.push(bus.on(name, fn));
  }

  private listen(bus: EventBus): void {
    const st = this.store;
    const touch = (s: number) => st.add(s, Col.version, 1);
    this.on(bus, 'device.connected', () => this.farm.sessionsOpen++);
    this.on(bus, 'device.authorized', (e) => {
      const s = this.deviceSlot(e.worker, e.ip, e.at);
      const wasOffline = st.get(s, Col.sessions) === 0;
      const cameBack = wasOffline && !Number.isNaN(st.get(s, Col.disconnectedAt));
      st.add(s, Col.sessions, 1);
      st.set(s, Col.connectedAt, e.at);
      st.set(s, Col.offlineSince, NaN);
      st.setIp(s, e.ip);
      touch(s);
      if (cameBack) this.log({ at: e.at, kind: 'device-online', message: `${e.worker} is back online` });
      if (wasOffline) this.presence({ worker: e.worker, online: true, ip: e.ip, reason: null, at: e.at });
    });
    this.on(bus, 'device.disconnected', (e) => {
      this.farm.sessionsOpen = Math.max(0, this.farm.sessionsOpen - 1);
      if (e.worker === null) return;
      const s = st.slot(e.worker);
      if (s < 0 || st.get(s, Col.sessions) <= 0) return;
      st.add(s, Col.sessions, -1);
      touch(s);
      if (st.get(s, Col.sessions) === 0) {
        // Its split ended with its last session (a device that comes back starts whole).
        this.splits.delete(e.worker);
        st.set(s, Col.disconnectedAt, e.at);
        st.set(s, Col.offlineSince, e.at);
        this.log({ at: e.at, kind: 'device-offline', message: `${e.worker} went offline (${e.reason})` });
        this.presence({ worker: e.worker, online: false, ip: e.ip, reason: e.reason, at: e.at });
      }
    });
    this.on(bus, 'device.route', (e) => {
      const s = this.deviceSlot(e.worker, '', e.at);
      st.set(s, Col.route, this.placeSlot(this.routeTable, this.routeIndex, e.route, e.route));
      st.set(s, Col.target, this.placeSlot(this.targetTable, this.targetIndex, e.target, e.route));
      touch(s);
    });
    this.on(bus, 'device.split', (e) => {
      const s = this.deviceSlot(e.worker, '', e.at);
      const route = this.placeSlot(this.routeTable, this.routeIndex, e.route, e.route);
      if (e.kind === 'sliced') this.splits.set(e.worker, { route, split: { kind: 'sliced', slices: e.slices.map((x) => ({ target: x.target, fraction: x.fraction })) } });
      else if (e.wholeBecause !== undefined) this.splits.set(e.worker, { route, split: { kind: 'whole', wholeBecause: e.wholeBecause } });
      else this.splits.delete(e.worker);
      touch(s);
    });
    this.on(bus, 'device.difficulty', (e) => {
      const s = this.deviceSlot(e.worker, '', e.at);
      st.set(s, Col.difficulty, e.difficulty);
      touch(s);
    });
    this.on(bus, 'share.accepted', (e) => {
      this.farm.accepted++;
      this.farm.work += e.difficulty;
      const s = this.deviceSlot(e.worker, e.ip, e.at);
      const owner = this.ownerTable[st.get(s, Col.owner)]!;
      owner.accepted++;
      owner.work += e.difficulty;
      const route = this.routeTable[this.placeSlot(this.routeTable, this.routeIndex, e.route, e.route)]!;
      const target = this.targetTable[this.placeSlot(this.targetTable, this.targetIndex, e.target, e.route)]!;
      route.accepted++;
      route.work += e.difficulty;
      target.accepted++;
      target.work += e.difficulty;
      st.add(s, Col.accepted, 1);
      st.add(s, Col.work, e.difficulty);
      st.set(s, Col.lastShareAt, e.at);
      st.addWork(s, e.difficulty, e.at);
      touch(s);
    });
    this.on(bus, 'share.rejected', (e) => {
      this.farm.rejected++;
      this.rejectedByReason[e.reason] = (this.rejectedByReason[e.reason] ?? 0) + 1;
      // Only known workers get a row: a name that never authorized may be anything a client sent.
      const s = e.worker === null ? -1 : st.slot(e.worker);
      if (s >= 0) {
        this.ownerTable[st.get(s, Col.owner)]!.rejected++;
        st.add(s, rejectColumn(e.reason), 1);
        touch(s);
      }
    });
    this.on(bus, 'share.forwarded', (e) => {
      countForward(this.pool(e, null));
      countForward(this.connection(e.connection, e));
      countForward(this.routeTable[this.placeSlot(this.routeTable, this.routeIndex, e.route, e.route)]!);
      countForward(this.targetTable[this.placeSlot(this.targetTable, this.targetIndex, e.target, e.route)]!);
      const s = st.slot(e.worker);
      const owner = this.ownerNow(s, e.worker);
      countForward(this.ownerTable[owner]!);
      this.inFlightOwner.set(e.shareId, owner);
      if (this.inFlightOwner.size > MAX_TRACKED_IN_FLIGHT) this.inFlightOwner.delete(this.inFlightOwner.keys().next().value!);
      if (s >= 0) {
        st.add(s, Col.forwarded, 1);
        touch(s);
      }
    });
    this.on(bus, 'share.upstream', (e) => {
      const result = poolResultOf(e.verdict);
      countVerdict(this.pool(e, null), result);
      countVerdict(this.connection(e.connection, e), result);
      countVerdict(this.routeTable[this.placeSlot(this.routeTable, this.routeIndex, e.route, e.route)]!, result);
      countVerdict(this.targetTable[this.placeSlot(this.targetTable, this.targetIndex, e.target, e.route)]!, result);
      const s = st.slot(e.worker);
      const owner = this.inFlightOwner.get(e.shareId) ?? this.ownerNow(s, e.worker);
      this.inFlightOwner.delete(e.shareId);
      countVerdict(this.ownerTable[owner]!, result);
      if (s >= 0) {
        st.add(s, e.verdict.kind === 'accepted' ? Col.poolAccepted : e.verdict.kind === 'rejected' ? Col.poolRejected : Col.poolUnanswered, 1);
        touch(s);
      }
    });
    this.on(bus, 'block.candidate', (e) => {
      this.farm.blockCandidates++;
      const s = st.slot(e.worker);
      this.ownerTable[this.ownerNow(s, e.worker)]!.blockCandidates++;
      if (s >= 0) {
        st.add(s, Col.blockCandidates, 1);
        touch(s);
      }
      this.log({ at: e.at, kind: 'block', message: `Block candidate from ${e.worker}: ${e.hash} (difficulty ${e.shareDifficulty.toPrecision(4)})` });
    });
    this.on(bus, 'block.submitted', (e) => {
      this.blocks.submitted(e);
      this.log({ at: e.at, kind: 'block', message: submittedText(e) });
    });
    this.on(bus, 'block.status', (e) => {
      this.blocks.status(e);
      this.log({ at: e.at, kind: 'block', message: statusText(e) });
    });
    this.on(bus, 'pool.up', (e) => {
      const p = this.pool(e, e.url);
      p.lastChange = e.at;
      p.lastError = null;
      this.upSet(e).add(e.connection);
      const c = this.connection(e.connection, e);
      if (c.pool === null) c.pool = e.pool;
      if (c.pool === e.pool) {
        c.url = e.url;
        c.up = true;
        c.lastChange = e.at;
        c.lastError = null;
      }
      this.log({ at: e.at, kind: 'pool', message: `Pool ${e.pool} is up` });
    });
    this.on(bus, 'pool.down', (e) => {
      const p = this.pool(e, e.url);
      p.lastChange = e.at;
      p.lastError = e.reason;
      this.upSet(e).delete(e.connection);
      const c = this.connection(e.connection, e);
      if (c.pool === null) c.pool = e.pool;
      if (c.pool === e.pool) {
        c.up = false;
        c.active = false;
        c.lastChange = e.at;
        c.lastError = e.reason;
      }
      this.log({ at: e.at, kind: 'pool', message: `Pool ${e.pool} is down: ${e.reason}` });
    });
    this.on(bus, 'pool.switch', (e) => {
      const to = { route: e.route, target: e.target, pool: e.to };
      const p = this.pool(to, null);
      if (e.from !== null) p.switchesTo++;
      const c = this.connection(e.connection, e);
      c.pool = e.to;
      c.url = p.url;
      c.active = true;
      c.up = this.upSet(to).has(e.connection);
      c.lastChange = e.at;
      this.log({ at: e.at, kind: 'pool', message: e.from ? `Switched from pool ${e.from} to ${e.to}: ${e.reason}` : `Mining on pool ${e.to}` });
    });
    this.on(bus, 'pool.version-mask', (e) => {
      this.connection(e.connection, e).versionMask = e.mask;
    });
    this.on(bus, 'pool.connections', (e) => {
      for (let i = 0; i < e.count; i++) this.connection(i, null);
    });
    this.on(bus, 'limit.refused', (e) => {
      this.refusedByCause[e.cause] = (this.refusedByCause[e.cause] ?? 0) + 1;
    });
  }

  /** The slot of a worker, created with its owner under the map in force when missing. */
  private deviceSlot(worker: string, ip: string, at: number): number {
    const existing = this.store.slot(worker);
    if (existing >= 0) return existing;
    const s = this.store.ensure(worker, ip, at);
    this.store.set(s, Col.owner, this.ownerSlot(this.ownerMap.ownerOf(worker)));
    return s;
  }

  /** The owner (index) of the device in `slot` now; of a forgotten device (-1), its name's owner under the map in force. */
  private ownerNow(slot: number, worker: string): number {
    return slot >= 0 ? this.store.get(slot, Col.owner) : this.ownerSlot(this.ownerMap.ownerOf(worker));
  }

  /** The owner table's index for a name, added (all counts 0) when new. */
  private ownerSlot(name: string): number {
    let i = this.ownerIndex.get(name);
    if (i === undefined) {
      i = this.ownerTable.length;
      this.ownerTable.push({ name, accepted: 0, rejected: 0, work: 0, blockCandidates: 0, ...newFlow() });
      this.ownerIndex.set(name, i);
    }
    return i;
  }

  /** A table's index for a route or target name, added (all counts 0) when new. */
  private placeSlot(table: PlaceTotals[], index: Map<string, number>, name: string, route: string): number {
    let i = index.get(name);
    if (i === undefined) {
      i = table.length;
      table.push({ name, route, accepted: 0, work: 0, ...newFlow() });
      index.set(name, i);
    }
    return i;
  }

  private poolUp(p: PoolRecord): boolean {
    return (this.upOn.get(poolKey(p.target, p.name))?.size ?? 0) > 0;
  }

  private poolActive(p: PoolRecord): boolean {
    return this.connectionList.some((c) => c !== undefined && c.active && c.pool === p.name && c.target === p.target);
  }

  /** The connections up on a pool of a target. */
  private upSet(at: { target: string; pool: string }): Set<number> {
    const key = poolKey(at.target, at.pool);
    let set = this.upOn.get(key);
    if (!set) this.upOn.set(key, (set = new Set()));
    return set;
  }

  private pool(at: { route: string; target: string; pool: string }, url: string | null): PoolRecord {
    const key = poolKey(at.target, at.pool);
    let p = this.pools.get(key);
    if (!p) {
      p = { name: at.pool, route: at.route, target: at.target, url: url ?? '', up: false, active: false, lastChange: 0, lastError: null, switchesTo: 0, ...newFlow() };
      this.pools.set(key, p);
    } else if (url !== null) {
      p.url = url;
    }
    return p;
  }

  /** A connection's record; `place` (when an event names it) is the route and target it serves. */
  private connection(index: number, place: { route: string; target: string } | null): ConnectionRecord {
    let c = this.connectionList[index];
    if (!c) {
      c = { index, route: null, target: null, pool: null, url: null, up: false, active: false, versionMask: null, lastChange: 0, lastError: null, ...newFlow() };
      this.connectionList[index] = c;
    }
    if (place) {
      c.route = place.route;
      c.target = place.target;
    }
    return c;
  }

  private presence(c: PresenceChange): void {
    for (const l of this.presenceListeners) l(c);
  }

  private log(e: FarmEvent): void {
    this.events.push(e);
    if (this.events.length > this.eventLog) this.events.splice(0, this.events.length - this.eventLog);
    for (const l of this.listeners) l(e);
  }
}

/** One device in a route's or target's live part. */
function countLive(x: { devices: number; devicesOnline: number; hashrate: number }, online: number, hashrate: number): void {
  x.devices++;
  x.devicesOnline += online;
  x.hashrate += hashrate;
}

/** Pools are kept by target and name: two targets may each have a pool of the same name. */
function poolKey(target: string, pool: string): string {
  return `${target}\u0000${pool}`;
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function orNull(v: number): number | null {
  return Number.isNaN(v) ? null : v;
}
