import type { DeviceSplit, EventBus } from '../core/events.js';
import type { Logger } from '../core/log.js';
import { DEFAULT_ROUTE } from '../routing/default-route.js';
import { medianHashrate, mostUnderweight } from '../routing/split-planner.js';
import { sliceAt } from '../routing/slice-schedule.js';
import type { RoutingSpec, RoutingTiming } from '../routing/types.js';
import type { Channel } from './channel.js';
import type { DeviceDifficulty } from './device-difficulty.js';
import type { DeviceState, DeviceStates, MiningDevice } from './device-state.js';
import type { PoolChannels } from './pool-channels.js';
import { routeDecisions, type MoveReason, type RoutedDevice } from './route-moves.js';
import { RoutesInForce, type RouteState } from './routes-in-force.js';
import type { TargetGroup } from './target-group.js';

/**
 * The routing applied: which target's channel each device mines on. A device is placed at authorize (the
 * target of its route furthest under its weight); every `rebalanceMs` each route is planned again from the
 * devices' measured hashrate (src/routing/, via route-moves.ts) and devices move (reason 'rebalance'); time-
 * sliced devices switch on their schedule ('slice'); a route with no available target goes to the default
 * route's ('fallback'); a reload puts new routes in force ('reload'). It asks the pool side for channels and
 * tells devices their new channel's job; it never touches a pool's jobs. A device's split (whole, or sliced
 * with its fractions) is told as `device.split` when a plan changes it.
 */

/** A removed target's connections stay this long after its last device left: shares of its jobs still in flight reach its pool. */
const RETIRE_GRACE_MS = 30_000;

/** Every device starts whole: no `device.split` is emitted until a plan makes it anything else. */
const PLAIN_WHOLE: DeviceSplit = { kind: 'whole' };

export interface RoutingDriverOptions {
  timing: RoutingTiming;
  /** Pass-through worker mode: a device is authorized on each target it moves to, and is never time-sliced. */
  passthrough: boolean;
}

export class RoutingDriver {
  /** The routing in force: each route's target groups, every group by target name, removed ones retiring. */
  private readonly routes: RoutesInForce;
  /** Devices the split time-slices now (their next switch is checked by the slice tick). */
  private readonly sliced = new Set<DeviceState>();
  /** Each route's load per target (H/s; unmeasured devices at the median), for placing new devices, refreshed each second. */
  private readonly loadCache = new Map<string, { at: number; loads: Map<string, number>; median: number }>();
  /** Pass-through devices waiting for a target's pool to answer their worker's authorization before they move there. */
  private readonly authorizing = new Map<DeviceState, TargetGroup>();
  /** Pass-through devices whose worker a target's pool refused: they do not move there (until a reload). */
  private readonly refused = new Map<DeviceState, Set<TargetGroup>>();
  /** The last `device.split` of each device whose split is not plainly whole (sliced, or kept whole against the plan). */
  private readonly splits = new Map<DeviceState, DeviceSplit>();
  /** Why no device can be time-sliced (its shares go upstream under its own worker name), or null when every one can. */
  private readonly unsliceable: string | null;
  private rebalanceTimer: NodeJS.Timeout | null = null;
  private sliceTimer: NodeJS.Timeout | null = null;
  private soonTimer: NodeJS.Timeout | null = null;
  private started = false;
  private stopped = false;

  constructor(
    spec: RoutingSpec,
    private readonly opts: RoutingDriverOptions,
    private readonly pool: PoolChannels,
    private readonly devices: DeviceStates,
    private readonly difficulty: DeviceDifficulty,
    private readonly bus: EventBus,
    private readonly log: Logger,
  ) {
    this.routes = new RoutesInForce(spec);
    this.unsliceable = opts.passthrough ? 'pass-through worker mode' : null;
  }

  /** Every target group in force (routes in the spec's order, targets in each route's order). */
  get groups(): TargetGroup[] {
    return this.routes.groups;
  }

  start(): void {
    this.started = true;
    const timing = this.opts.timing;
    // Lane 0 of every target at once: the first connection up fixes the layout, and a target's availability is known.
    for (const group of this.groups) this.pool.channelOf(group, 0);
    this.rebalanceTimer = setInterval(() => this.rebalance(Date.now()), timing.rebalanceMs);
    this.rebalanceTimer.unref();
    this.sliceTimer = setInterval(() => this.sliceTick(Date.now()), Math.max(50, Math.min(1000, timing.minSliceMs / 10)));
    this.sliceTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.rebalanceTimer) clearInterval(this.rebalanceTimer);
    if (this.sliceTimer) clearInterval(this.sliceTimer);
    if (this.soonTimer) clearTimeout(this.soonTimer);
  }

  /** See Proxy.setRouting. */
  setRouting(spec: RoutingSpec): void {
    const { kept, changedPools } = this.routes.replace(spec);
    for (const g of changedPools) for (const c of g.channels.values()) c.upstream.setPools?.(g.spec.pools);
    if (this.started) for (const g of this.groups) this.pool.channelOf(g, 0);
    this.loadCache.clear();
    // New credentials may be accepted where the old ones were not.
    this.refused.clear();
    for (const d of this.devices.values()) {
      if (!d.isMining()) continue;
      const was = d.route;
      d.route = this.routes.routeOf(d.session.worker!);
      if (d.route !== was || (d.channel.group !== null && !kept.has(d.channel.group))) d.reloadMove = true;
    }
    this.rebalance(Date.now());
  }

  /** A device that just authorized as `worker`: its route, and the channel of the target it mines on first. */
  place(device: DeviceState, worker: string): Channel {
    device.route = this.routes.routeOf(worker);
    return this.joinChannel(device, this.placementOf(device, Date.now()));
  }

  /** The device left: it is no longer sliced, and its slot goes back (quarantined while its lane's jobs may be current). */
  forget(device: DeviceState): void {
    this.sliced.delete(device);
    this.splits.delete(device);
    this.authorizing.delete(device);
    this.refused.delete(device);
    this.pool.slots?.release(device.place.slot, this.pool.laneWaits(this.routes.allGroups, device.lane));
  }

  /** Plan again shortly (a target's availability changed), once for a burst of changes. */
  rebalanceSoon(): void {
    if (this.soonTimer || this.stopped || !this.started) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = null;
      this.rebalance(Date.now());
    }, 200);
    this.soonTimer.unref();
  }

  /**
   * Where a device that just authorized mines: the target of its route furthest under its weight (by
   * measured hashrate, unmeasured devices at the route's median); when no target of the route is available,
   * the default route's (fallback 'default'), else its route's first target (it mines once that is up).
   */
  private placementOf(device: DeviceState, now: number): TargetGroup {
    const route = this.routes.route(device.route ?? DEFAULT_ROUTE) ?? this.routes.defaultRoute;
    if (route.groups.length === 1 && (route.groups[0]!.available || !this.routes.fallsBack(route))) return route.groups[0]!;
    const pick = (r: RouteState): TargetGroup | null => {
      const { loads, median } = this.routeLoads(r, now);
      const name = mostUnderweight(this.routes.planTargets(r), loads, median);
      if (name === null) return null;
      loads.set(name, (loads.get(name) ?? 0) + median);
      return this.routes.group(name) ?? null;
    };
    const own = pick(route);
    if (own) return own;
    if (this.routes.fallsBack(route)) {
      const fallback = pick(this.routes.defaultRoute);
      if (fallback) return fallback;
    }
    return route.groups[0]!;
  }

  /** The hashrate on each target of the route now (cached for a second; placements add to it meanwhile). */
  private routeLoads(route: RouteState, now: number): { loads: Map<string, number>; median: number } {
    const cached = this.loadCache.get(route.spec.name);
    if (cached && now - cached.at < 1000) return cached;
    const rates: { hashrate: number | null; group: TargetGroup }[] = [];
    for (const g of route.groups) for (const c of g.channels.values()) for (const d of c.devices) rates.push({ hashrate: d.meter?.hashrate(now) ?? null, group: g });
    const median = medianHashrate(rates);
    const loads = new Map<string, number>();
    for (const r of rates) loads.set(r.group.name, (loads.get(r.group.name) ?? 0) + (r.hashrate ?? median));
    const fresh = { at: now, loads, median };
    this.loadCache.set(route.spec.name, fresh);
    return fresh;
  }

  /**
   * Plan every route with more than one target (or with devices away from its targets) from the devices'
   * measured hashrate, and move the devices whose target changes. Reloads and availability changes plan at
   * once; otherwise every `rebalanceMs`.
   */
  private rebalance(now: number): void {
    if (this.stopped) return;
    const byRoute = new Map<string, MiningDevice[]>();
    for (const d of this.devices.values()) {
      if (!d.isMining() || d.parked || d.route === null) continue;
      let list = byRoute.get(d.route);
      if (!list) byRoute.set(d.route, (list = []));
      list.push(d);
    }
    const fallbackRoute = this.routes.defaultRoute;
    for (const [name, devices] of byRoute) {
      const route = this.routes.route(name);
      if (!route) continue;
      const own = new Set(route.groups);
      // One target, every device on it, nowhere else to go: nothing to plan (a proxy with only `pools`).
      const only = route.groups.length === 1 ? route.groups[0]! : null;
      if (only && (only.available || !this.routes.fallsBack(route)) && devices.every((d) => d.channel.group === only || d.channel.group === null)) {
        // Nothing to slice among either (a reload may have left a route one target).
        for (const d of devices) this.unslice(d, name, now);
        continue;
      }
      const routed: RoutedDevice[] = devices.map((d) => ({
        id: String(d.session.id),
        key: d.session.id,
        hashrate: d.meter?.hashrate(now) ?? null,
        current: d.channel.group && (own.has(d.channel.group) || this.routes.group(d.channel.group.name) === d.channel.group) ? d.channel.group.name : null,
        sliceable: this.unsliceable === null,
        sliced: d.schedule !== null,
      }));
      const fallbackLoads = new Map(this.routeLoads(fallbackRoute, now).loads);
      const decisions = routeDecisions(
        { targets: this.routes.planTargets(route), fallback: this.routes.fallsBack(route) ? 'default' : 'none' },
        routed,
        { targets: this.routes.planTargets(fallbackRoute), fallback: 'none' },
        fallbackLoads,
        this.opts.timing,
        now,
      );
      devices.forEach((d, i) => {
        const decision = decisions[i]!;
        d.schedule = decision.schedule;
        d.nextSliceAt = decision.until;
        if (decision.schedule) this.sliced.add(d);
        else this.sliced.delete(d);
        const split: DeviceSplit = decision.slices ? { kind: 'sliced', slices: decision.slices } : decision.unsliced && this.unsliceable !== null ? { kind: 'whole', wholeBecause: this.unsliceable } : PLAIN_WHOLE;
        this.noteSplit(d, name, split, now);
        const group = this.routes.group(decision.target);
        const fallback = decision.reason === 'fallback';
        // A device on a target a reload removed stays there (it still serves) until its route's new targets are up.
        if (fallback && d.channel.group !== null && this.routes.isRetiring(d.channel.group) && d.channel.group.available) return;
        if (group && group !== d.channel.group) this.move(d, group, d.reloadMove ? 'reload' : fallback ? 'fallback' : 'rebalance');
        else if (group === d.channel.group && !fallback) d.reloadMove = false;
      });
    }
    this.loadCache.clear();
    this.closeRetired(now);
  }

  /** The device is no longer time-sliced (and its split is plainly whole). */
  private unslice(device: MiningDevice, route: string, now: number): void {
    device.schedule = null;
    device.nextSliceAt = Infinity;
    this.sliced.delete(device);
    this.noteSplit(device, route, PLAIN_WHOLE, now);
  }

  /** Emits `device.split` when the device's split differs from the last one told (plainly whole before any). */
  private noteSplit(device: MiningDevice, route: string, split: DeviceSplit, now: number): void {
    if (sameSplit(this.splits.get(device) ?? PLAIN_WHOLE, split)) return;
    if (split.kind === 'whole' && split.wholeBecause === undefined) this.splits.delete(device);
    else this.splits.set(device, split);
    this.bus.emit('device.split', { sessionId: device.session.id, worker: device.session.worker!, route, ...split, at: now });
  }

  /** Time-sliced devices whose slice ended go to their next target. */
  private sliceTick(now: number): void {
    for (const d of this.sliced) {
      if (d.schedule === null || d.nextSliceAt > now || !d.isMining()) continue;
      const slice = sliceAt(d.schedule, now);
      d.nextSliceAt = slice.until;
      const group = this.routes.group(slice.target);
      // Its next target's connection is not serving yet: try again at the next tick.
      if (group && group !== d.channel.group && !this.move(d, group, 'slice')) d.nextSliceAt = now;
    }
  }

  /**
   * The device mines on `group` from now on: its lane's connection there, with the pool's difficulty and
   * version mask, and that connection's job at once (clean_jobs on). Shares of the jobs it had still go to
   * the connection they came from (DeviceState.findJob). Not while that connection has no job to give (it is
   * opened if it was not: the move is tried again later): false then. A pass-through device moves once the
   * new pool has authorized its worker (`moveAuthorized`).
   */
  private move(device: MiningDevice, group: TargetGroup, reason: MoveReason): boolean {
    const channel = this.pool.channelOf(group, device.lane);
    if (!channel.serving) return false;
    if (device.password !== null) return this.moveAuthorized(device, group, channel, reason);
    this.switchTo(device, group, reason);
    return true;
  }

  /**
   * Pass-through: the device's shares go upstream under its own worker name, so the new pool must have
   * authorized it before the first of them arrives. The move waits for the answer (one request at a time per
   * device; the pool connection bounds the wait) and happens only if the pool accepted the worker, the device
   * still mines and the target is still in force; a refusal is logged once and the device stays where it is
   * (it is not sent there again until a reload). True when the move is under way.
   */
  private moveAuthorized(device: MiningDevice, group: TargetGroup, channel: Channel, reason: MoveReason): boolean {
    if (this.refused.get(device)?.has(group)) return false;
    if (this.authorizing.has(device)) return this.authorizing.get(device) === group;
    this.authorizing.set(device, group);
    const worker = device.session.worker!;
    const answered = (ok: boolean): void => {
      if (this.authorizing.get(device) !== group) return; // it left, or a reload forgot the request
      this.authorizing.delete(device);
      if (this.stopped || !device.isMining() || device.channel.group === group || this.routes.group(group.name) !== group) return;
      if (!ok) {
        let refused = this.refused.get(device);
        if (!refused) this.refused.set(device, (refused = new Set()));
        refused.add(group);
        this.log.warn('the pool of the target a pass-through device would move to refused its worker: it stays where it is', { worker, target: group.name, route: group.route, pool: channel.pool, reason });
        return;
      }
      // Its pool may have gone meanwhile: the next plan tries again.
      if (channel.serving) this.switchTo(device, group, reason);
    };
    channel.upstream.authorizeWorker(worker, device.password!).then(answered, () => answered(false));
    return true;
  }

  /** The move itself: the device joins the group's channel, is told its difficulty if lower, and gets its job. */
  private switchTo(device: MiningDevice, group: TargetGroup, reason: MoveReason): void {
    const channel = this.joinChannel(device, group);
    const session = device.session;
    device.reloadMove = false;
    const now = Date.now();
    this.bus.emit('device.route', { sessionId: session.id, worker: session.worker!, ...channel.place, reason, at: now });
    const job = channel.registry.current;
    if (!job || device.parked || session.state !== 'authorized') return;
    this.difficulty.capAt(device, job.poolDifficulty);
    const line = channel.joinLine;
    if (line) session.write(line);
  }

  /** Close the connections of removed targets nobody has mined on for RETIRE_GRACE_MS. */
  private closeRetired(now: number): void {
    for (const g of this.routes.takeClosable(now, RETIRE_GRACE_MS)) {
      for (const c of g.channels.values()) this.pool.close(c);
      this.log.info('target removed by the configuration: its pool connections are closed', { target: g.name, route: g.route });
    }
  }

  /** The device mines on `group` from now on: its lane's connection there (opened if needed), with that connection's mask. */
  private joinChannel(device: DeviceState, group: TargetGroup): Channel {
    const channel = this.pool.channelOf(group, device.lane);
    device.moveTo(channel);
    // Granted before placement from every connection's mask; this connection may allow other bits.
    if (channel.extranonce !== null) device.session.allowVersionBits(channel.versionMask);
    return channel;
  }
}

function sameSplit(a: DeviceSplit, b: DeviceSplit): boolean {
  if (a.kind === 'whole') return b.kind === 'whole' && a.wholeBecause === b.wholeBecause;
  return b.kind === 'sliced' && a.slices.length === b.slices.length && a.slices.every((s, i) => s.target === b.slices[i]!.target && s.fraction === b.slices[i]!.fraction);
}
