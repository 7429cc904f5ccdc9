import type { PowHasher } from '../chain/hasher.js';
import type { MiningHost, Session, SubscribeGrant } from '../downstream/session.js';
import type { EventBus } from '../core/events.js';
import { silentLogger, type Logger } from '../core/log.js';
import { StratumError, StratumErrorCode } from '../stratum/errors.js';
import { notificationLine } from '../stratum/jsonrpc.js';
import { Method, type SubmitParams } from '../stratum/messages.js';
import type { ExtranonceInfo, PoolConfig, PoolVerdict, Upstream, UpstreamJob } from '../upstream/types.js';
import { DEFAULT_ROUTE, DEFAULT_TARGET } from '../routing/default-route.js';
import { mostUnderweight } from '../routing/split-planner.js';
import { sliceAt } from '../routing/slice-schedule.js';
import { ROUTING_TIMING_DEFAULTS } from '../routing/timing.js';
import type { RoutingSpec, RoutingTiming, TargetSpec } from '../routing/types.js';
import { WorkMeter } from '../routing/work-meter.js';
import { Channel } from './channel.js';
import { DeviceStates, type DeviceState, type MiningDevice } from './device-state.js';
import { DEFAULT_RETARGET_GRACE_MS, initialTarget, retarget } from './device-target.js';
import { padSize, upstreamExtranonce2, type ExtranonceLayout } from './device-job.js';
import { DEFAULT_MIN_DEVICE_EXTRANONCE2, planSplit, SlotAllocator } from './extranonce-allocator.js';
import { medianHashrate, routeDecisions, type MoveReason, type RoutedDevice } from './route-moves.js';
import { RoutesInForce, type RouteState } from './routes-in-force.js';
import type { TargetGroup } from './target-group.js';
import { displayHash } from '../chain/bytes.js';
import { ShareValidator } from './share-validator.js';
import { DEFAULT_START_DIFFICULTY, DEFAULT_VARDIFF, clamp, vardiffStart, vardiffUpdate, type VardiffOptions } from './vardiff.js';

/**
 * The manager in the middle. Pool side: channels (one upstream session each, per target and lane) bring jobs
 * in; the proxy derives each job as devices see it (the pool's extranonce1 inside coinb1: device-job.ts),
 * serializes it once and writes the same bytes to every device of the channel. Device side: sessions ask to
 * subscribe (a proxy-wide slot: lane and prefix, the device's extranonce1 for good), authorize (placed on a
 * target's channel of its lane) and submit; shares are judged with the job they name and pool-qualifying
 * ones go upstream on the channel that job came from, and the pool's answer comes back to that device.
 * Events report everything.
 */
export type WorkerMode = 'farm' | 'passthrough';

export interface ProxyOptions {
  hasher: PowHasher;
  /**
   * Makes the upstream for pool connection `index` (proxy-wide), which mines for `target` (its ordered pool
   * list and credentials) and serves lane `lane` of the extranonce space.
   */
  createUpstream: (index: number, target: TargetSpec, lane: number) => Upstream;
  bus: EventBus;
  log?: Logger;
  /** Devices expected on the farm: sizes the extranonce prefix. */
  expectedDevices?: number;
  minDeviceExtranonce2?: number;
  /**
   * Lanes of the extranonce space (each holds 256^prefix bytes devices): each target opens at most this many
   * upstream sessions, one per lane it has devices in.
   */
  maxUpstreamConnections?: number;
  /** 'farm': every share goes upstream under the pool's user; 'passthrough': under the device's own name. */
  workerMode?: WorkerMode;
  startDifficulty?: number;
  vardiff?: Partial<VardiffOptions>;
  difficultyMultiplier?: number;
  duplicateCacheSize?: number;
  retargetGraceMs?: number;
  /** How long a subscribe may wait for a pool connection before it is refused. */
  subscribeWaitMs?: number;
  /** Devices told to reconnect per second after an extranonce2 size change they cannot follow. */
  reconnectPerSecond?: number;
  /** Access check for a device's credentials: return a reason to refuse, or null. */
  checkAccess?: (username: string, password: string, ip: string) => string | null;
  /** How often quiet devices are looked at by vardiff (ms). */
  vardiffTickMs?: number;
  /**
   * The routes and their targets, and which route a worker takes. Default: one route 'default' with one
   * target 'default' (whose pools `createUpstream` knows), as a proxy with only `pools` runs.
   */
  routing?: RoutingSpec;
  /** How often the split is planned again, how many devices move per plan, how a device's time is sliced. */
  routingTiming?: Partial<RoutingTiming>;
}

/** The routing of a proxy with one pool list: every worker on target 'default' of route 'default'. */
export function singleTargetRouting(pools: PoolConfig[] = []): RoutingSpec {
  return {
    routes: [{ name: DEFAULT_ROUTE, targets: [{ name: DEFAULT_TARGET, weight: 1, pools }], fallback: 'none' }],
    routeOf: () => DEFAULT_ROUTE,
  };
}


/** The defaults of the options the configuration sets (its defaults are these: see src/config-schema.ts). */
export const PROXY_DEFAULTS = {
  expectedDevices: 1000,
  minDeviceExtranonce2: DEFAULT_MIN_DEVICE_EXTRANONCE2,
  maxUpstreamConnections: 16,
  workerMode: 'farm' as WorkerMode,
  startDifficulty: DEFAULT_START_DIFFICULTY,
  difficultyMultiplier: 1,
};

/** [hardening] The live-changeable part of the options (SIGHUP reload). */
export type ProxyLiveOptions = Pick<ProxyOptions, 'startDifficulty' | 'checkAccess'> & { vardiff?: Partial<VardiffOptions> };

const UPSTREAM_FARM_WORKER = '';
/** A removed target's connections stay this long after its last device left: shares of its jobs still in flight reach its pool. */
const RETIRE_GRACE_MS = 30_000;

export class Proxy implements MiningHost {
  /** Every pool connection opened, by proxy-wide index. */
  readonly channels: Channel[] = [];
  /** The routing in force: each route's target groups, every group by target name, removed ones retiring. */
  private readonly routes: RoutesInForce;
  private readonly timing: RoutingTiming;
  /** Devices the split time-slices now (their next switch is checked by the slice tick). */
  private readonly sliced = new Set<DeviceState>();
  /** Each route's load per target (H/s; unmeasured devices at the median), for placing new devices, refreshed each second. */
  private readonly loadCache = new Map<string, { at: number; loads: Map<string, number>; median: number }>();
  private rebalanceTimer: NodeJS.Timeout | null = null;
  private sliceTimer: NodeJS.Timeout | null = null;
  private soonTimer: NodeJS.Timeout | null = null;
  private started = false;
  /** Each subscribed device's mining state (slot, channel, target, vardiff), by session. */
  private readonly devices = new DeviceStates();
  /** The cut of the extranonce2 space, chosen at the first pool connection (null before). */
  private layoutNow: ExtranonceLayout | null = null;
  /** Proxy-wide slots (lane + prefix), made with the layout. */
  private slotsNow: SlotAllocator<Channel> | null = null;
  private readonly opts: Required<Omit<ProxyOptions, 'checkAccess' | 'log' | 'vardiff' | 'routing' | 'routingTiming'>> & { vardiff: VardiffOptions };
  private readonly log: Logger;
  private readonly bus: EventBus;
  private readonly validator: ShareValidator;
  private checkAccess: ProxyOptions['checkAccess'];
  private readonly waiting: { resolve: () => void; timer: NodeJS.Timeout }[] = [];
  private readonly reconnectQueue: Session[] = [];
  private reconnectTimer: NodeJS.Timeout | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Pool submits not answered yet (shutdown waits for them, bounded). */
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Per-process number of each forwarded share (its `share.forwarded` and `share.upstream` carry it). */
  private nextShareId = 1;
  /** Connections whose pool's extranonce2 is too small to serve devices (logged once each). */
  private readonly tooSmallLogged = new Set<Channel>();

  constructor(options: ProxyOptions) {
    this.opts = {
      hasher: options.hasher,
      createUpstream: options.createUpstream,
      bus: options.bus,
      expectedDevices: options.expectedDevices ?? PROXY_DEFAULTS.expectedDevices,
      minDeviceExtranonce2: options.minDeviceExtranonce2 ?? PROXY_DEFAULTS.minDeviceExtranonce2,
      maxUpstreamConnections: options.maxUpstreamConnections ?? PROXY_DEFAULTS.maxUpstreamConnections,
      workerMode: options.workerMode ?? PROXY_DEFAULTS.workerMode,
      startDifficulty: options.startDifficulty ?? PROXY_DEFAULTS.startDifficulty,
      vardiff: { ...DEFAULT_VARDIFF, ...options.vardiff },
      difficultyMultiplier: options.difficultyMultiplier ?? PROXY_DEFAULTS.difficultyMultiplier,
      duplicateCacheSize: options.duplicateCacheSize ?? 250_000,
      retargetGraceMs: options.retargetGraceMs ?? DEFAULT_RETARGET_GRACE_MS,
      subscribeWaitMs: options.subscribeWaitMs ?? 20_000,
      reconnectPerSecond: options.reconnectPerSecond ?? 50,
      vardiffTickMs: options.vardiffTickMs ?? 5000,
    };
    this.log = options.log ?? silentLogger;
    this.bus = options.bus;
    this.checkAccess = options.checkAccess;
    this.validator = new ShareValidator({
      hasher: options.hasher,
      difficultyMultiplier: this.opts.difficultyMultiplier,
      duplicateCacheSize: this.opts.duplicateCacheSize,
      retargetGraceMs: this.opts.retargetGraceMs,
    });
    this.timing = { ...ROUTING_TIMING_DEFAULTS, ...options.routingTiming };
    this.routes = new RoutesInForce(options.routing ?? singleTargetRouting());
  }

  /** Every target group in force (routes in the spec's order, targets in each route's order). */
  get groups(): TargetGroup[] {
    return this.routes.groups;
  }

  start(): void {
    this.started = true;
    // Lane 0 of every target at once: the first connection up fixes the layout, and a target's availability is known.
    for (const group of this.groups) this.channelOf(group, 0);
    this.tickTimer = setInterval(() => this.vardiffTick(), this.opts.vardiffTickMs);
    this.tickTimer.unref();
    this.rebalanceTimer = setInterval(() => this.rebalance(Date.now()), this.timing.rebalanceMs);
    this.rebalanceTimer.unref();
    this.sliceTimer = setInterval(() => this.sliceTick(Date.now()), Math.max(50, Math.min(1000, this.timing.minSliceMs / 10)));
    this.sliceTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.reconnectTimer) clearInterval(this.reconnectTimer);
    if (this.rebalanceTimer) clearInterval(this.rebalanceTimer);
    if (this.sliceTimer) clearInterval(this.sliceTimer);
    if (this.soonTimer) clearTimeout(this.soonTimer);
    for (const w of this.waiting.splice(0)) {
      clearTimeout(w.timer);
      w.resolve();
    }
    await Promise.all(this.channels.map((c) => c.upstream.stop()));
  }

  /**
   * [hardening] Change options while running (SIGHUP). The start difficulty applies to devices that
   * authorize from now on; vardiff settings to every device at its next retarget; the access check at once.
   */
  updateOptions(next: ProxyLiveOptions): void {
    if (next.startDifficulty !== undefined) this.opts.startDifficulty = next.startDifficulty;
    if (next.vardiff) this.opts.vardiff = { ...this.opts.vardiff, ...next.vardiff };
    if ('checkAccess' in next) this.checkAccess = next.checkAccess;
  }

  /**
   * New routes, targets and weights (SIGHUP), without dropping a device: a target whose route and pools are
   * unchanged keeps its connections (its weight follows); one whose pools changed takes the new list on its
   * connections; new targets open their connections; devices are placed again by the new rules (moves with
   * reason 'reload', at most `maxMovesPerRebalance` whole devices per route at once, the rest at the next
   * rebalances), and a removed target's connections close once no device mines on them. Throws (nothing
   * changed) when a target's pool list is invalid.
   */
  setRouting(spec: RoutingSpec): void {
    const { kept, changedPools } = this.routes.replace(spec);
    for (const g of changedPools) for (const c of g.channels.values()) c.upstream.setPools?.(g.spec.pools);
    if (this.started) for (const g of this.groups) this.channelOf(g, 0);
    this.loadCache.clear();
    for (const d of this.devices.values()) {
      if (!d.isMining()) continue;
      const was = d.route;
      d.route = this.routes.routeOf(d.session.worker!);
      if (d.route !== was || (d.channel.group !== null && !kept.has(d.channel.group))) d.reloadMove = true;
    }
    this.rebalance(Date.now());
  }

  /** Wait for pool answers still pending (including shares forwarded meanwhile), at most `ms`. */
  async drain(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.inFlight.size > 0) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...this.inFlight]), new Promise<void>((resolve) => (timer = setTimeout(resolve, left)))]);
      clearTimeout(timer);
    }
  }

  /** True when at least one channel has a pool connection and a job. */
  get isReady(): boolean {
    return this.channels.some((c) => c.serving);
  }

  /** Devices subscribed and not gone. */
  get deviceCount(): number {
    return this.devices.size;
  }

  /** The cut of the extranonce2 space (null before the first pool connection). */
  get layout(): Readonly<ExtranonceLayout> | null {
    return this.layoutNow;
  }

  /** The proxy-wide slots (null before the first pool connection). */
  get slots(): Pick<SlotAllocator<Channel>, 'used' | 'available' | 'capacity' | 'availableIn'> | null {
    return this.slotsNow;
  }

  // ---- pool side -------------------------------------------------------------------------------------

  /** The target's connection for `lane`, opened now if it has none yet. */
  private channelOf(group: TargetGroup, lane: number): Channel {
    const existing = group.channels.get(lane);
    if (existing) return existing;
    const index = this.channels.length;
    const upstream = this.opts.createUpstream(index, group.spec, lane);
    const channel = new Channel(index, lane, upstream, { difficultyMultiplier: this.opts.difficultyMultiplier }, group.place, group);
    this.channels.push(channel);
    group.channels.set(lane, channel);
    const where = { channel: index, target: group.name, lane };
    upstream.on('ready', (info) => this.onUpstreamReady(channel, info));
    upstream.on('job', (job) => this.onJob(channel, job));
    // [hardening] The upstream judges its pool's jobs (upstream/pool-health.ts): only usable ones reach onJob;
    // devices keep the last usable job while refused ones are logged here, and a pool judged faulty fails over.
    upstream.on('jobRefused', (info) => this.log.warn('job from pool refused', { ...where, pool: info.pool, reason: info.reason, inARow: info.inARow }));
    upstream.on('fault', (info) => this.log.error('pool fault', { ...where, pool: info.pool, reason: info.reason, action: 'failing over' }));
    upstream.on('extranonce', (info) => this.onExtranonce(channel, info));
    upstream.on('versionMask', (info) => {
      this.onVersionMask(channel, info.mask);
      this.bus.emit('pool.version-mask', { ...channel.place, connection: index, pool: info.pool, mask: info.mask, at: Date.now() });
    });
    upstream.on('down', (info) => {
      this.voidJobs(channel);
      // Logged once per outage (the first failure); retries while it stays down are counted by the log summary.
      if (!channel.downLogged) this.log.warn('pool connection down', { ...where, pool: info.pool, reason: info.reason });
      else this.log.debug('pool connection still down', { ...where, pool: info.pool, reason: info.reason });
      channel.downLogged = true;
      this.bus.emit('pool.down', { ...channel.place, connection: index, pool: info.pool, url: info.url, reason: info.reason, at: Date.now() });
      this.rebalanceSoon();
    });
    upstream.on('switch', (info) => {
      this.log.warn('pool switch', { ...where, ...info });
      this.bus.emit('pool.switch', { ...channel.place, connection: index, from: info.from, to: info.to, reason: info.reason, at: Date.now() });
    });
    upstream.on('message', (info) => this.log.info('message from pool', { pool: info.pool, text: info.text }));
    this.bus.emit('pool.connections', { count: this.channels.length, at: Date.now() });
    if (lane > 0) this.log.info('opening a pool connection for another lane of the extranonce space', where);
    upstream.start();
    return channel;
  }

  /** Every job of the channel is void (lost connection, new session, new extranonce): quarantined slots may free up. */
  private voidJobs(channel: Channel): void {
    channel.registry.invalidateAll();
    channel.clearJob();
    channel.lastPoolJob = null;
    this.slotsNow?.advance(channel, channel.registry.generation);
  }

  private onUpstreamReady(channel: Channel, info: ExtranonceInfo & { pool: string; url: string }): void {
    const first = channel.extranonce === null;
    if (!first) this.voidJobs(channel);
    channel.extranonce = { extranonce1: info.extranonce1, extranonce2Size: info.extranonce2Size };
    channel.pool = info.pool;
    channel.poolUrl = info.url;
    channel.downLogged = false;
    this.log.info('pool connection ready', { channel: channel.index, target: channel.place.target, lane: channel.lane, pool: info.pool, extranonce1: info.extranonce1, extranonce2Size: info.extranonce2Size });
    this.bus.emit('pool.up', { ...channel.place, connection: channel.index, pool: info.pool, url: info.url, at: Date.now() });
    if (first) {
      // The first pool mined on: observers learn which pool is active (failovers come as 'switch').
      this.bus.emit('pool.switch', { ...channel.place, connection: channel.index, from: null, to: info.pool, reason: 'first pool connection', at: Date.now() });
    }
    if (this.layoutNow === null) {
      const plan = planSplit(info.extranonce2Size, this.opts.expectedDevices, this.opts.minDeviceExtranonce2);
      this.layoutNow = { prefixSize: plan.prefixSize, deviceExtranonce2Size: plan.deviceExtranonce2Size };
      this.slotsNow = new SlotAllocator<Channel>(plan, this.opts.maxUpstreamConnections);
      this.log.info('extranonce split', { prefixBytes: plan.prefixSize, deviceExtranonce2Size: plan.deviceExtranonce2Size, devicesPerLane: plan.capacity, lanes: this.opts.maxUpstreamConnections });
    }
    this.fitLayout(channel);
    this.wakeWaiters();
  }

  /**
   * The pool changed the session's extranonce: its old jobs are void, and its next jobs carry the new
   * extranonce1 inside coinb1. Devices keep theirs: nothing is sent to them (unless the pool's extranonce2
   * became too small for the layout: `fitLayout`).
   */
  private onExtranonce(channel: Channel, info: ExtranonceInfo): void {
    this.voidJobs(channel);
    channel.extranonce = { extranonce1: info.extranonce1, extranonce2Size: info.extranonce2Size };
    this.log.info('pool extranonce changed: devices keep theirs, the next job carries it', { channel: channel.index, extranonce1: info.extranonce1, extranonce2Size: info.extranonce2Size });
    this.fitLayout(channel);
  }

  /**
   * Make the channel's pool space serve the layout: pad = n2 - P - D. A pool giving fewer bytes than P + D
   * shrinks D for every device (set_extranonce to the devices that follow it, client.reconnect to the rest,
   * every channel's current job derived again); a pool giving fewer than P + 1 cannot serve at all.
   */
  private fitLayout(channel: Channel): void {
    const layout = this.layoutNow!;
    const n2 = channel.extranonce!.extranonce2Size;
    const pad = padSize(layout, n2);
    if (pad !== null) {
      channel.pad = pad;
      this.tooSmallLogged.delete(channel);
      return;
    }
    const shrunk = n2 - layout.prefixSize;
    if (shrunk < 1) {
      channel.pad = null;
      if (!this.tooSmallLogged.has(channel)) {
        this.tooSmallLogged.add(channel);
        this.log.error('pool extranonce2 too small to serve devices: this connection gets no devices\' work', { channel: channel.index, pool: channel.pool, extranonce2Size: n2, prefixBytes: layout.prefixSize });
      }
      return;
    }
    this.shrinkDeviceExtranonce2(shrunk, channel);
  }

  private shrinkDeviceExtranonce2(size: number, cause: Channel): void {
    const layout = this.layoutNow!;
    this.log.warn('a pool gives less extranonce2 space: every device\'s extranonce2 shrinks', { channel: cause.index, pool: cause.pool, from: layout.deviceExtranonce2Size, to: size });
    layout.deviceExtranonce2Size = size;
    for (const c of this.channels) if (c.extranonce) c.pad = padSize(layout, c.extranonce.extranonce2Size);
    for (const d of this.devices.values()) {
      // A device whose subscribe answer has not gone out yet would get the new size before the old one.
      if (d.session.extranonceSubscribed && d.session.state !== 'connected') {
        d.extranonce2Size = size;
        d.session.notify(Method.SetExtranonce, [d.extranonce1, size]);
      } else {
        d.parked = true;
        this.reconnectQueue.push(d.session);
      }
    }
    // Jobs cut for the old size are void; each connection's last job is derived again for the new one.
    for (const c of this.channels) {
      const last = c.lastPoolJob;
      this.voidJobs(c);
      if (c.ready && last) this.onJob(c, { ...last, notify: { ...last.notify, cleanJobs: true } });
    }
    this.drainReconnects();
  }

  private onJob(channel: Channel, upstreamJob: UpstreamJob): void {
    const started = process.hrtime.bigint();
    const pad = this.layoutNow && !channel.closed ? padSize(this.layoutNow, upstreamJob.extranonce.extranonce2Size) : null;
    if (pad === null) return; // the connection cannot serve the layout (logged once by fitLayout)
    channel.lastPoolJob = upstreamJob;
    const job = channel.registry.add(upstreamJob, pad);
    this.slotsNow?.advance(channel, channel.registry.generation);
    const n = job.notify;
    const params = [job.id, n.prevhash, n.coinb1, n.coinb2, n.merkleBranch, n.version, n.nbits, n.ntime];
    const line = Buffer.from(notificationLine(Method.Notify, [...params, n.cleanJobs]));
    const cleanLine = n.cleanJobs ? line : Buffer.from(notificationLine(Method.Notify, [...params, true]));
    const keepWorkLine = n.cleanJobs ? Buffer.from(notificationLine(Method.Notify, [...params, false])) : line;
    // A connection that starts serving may make its target available again: plan at once.
    if (!channel.serving) this.rebalanceSoon();
    channel.setJob(line, cleanLine, keepWorkLine);
    let devices = 0;
    for (const d of channel.devices) {
      if (d.parked || !d.isMining() || d.session.state !== 'authorized') continue;
      // A device's difficulty must never be above the pool's: lower it before the job it applies to.
      if (d.target.difficulty > job.poolDifficulty) this.retargetSession(d, clamp(d.target.difficulty, job.poolDifficulty, this.opts.vardiff), false);
      // Nor may it roll bits this connection's pool does not allow (it joined before the pool granted its mask).
      if ((d.session.versionMask & ~channel.versionMask) !== 0) d.session.allowVersionBits(channel.versionMask);
      d.session.write(line);
      devices++;
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.bus.emit('job.fanout', { jobId: job.id, clean: job.cleanJobs, devices, seconds, at: Date.now() });
    this.wakeWaiters();
  }

  /**
   * The pool (re)granted a version-rolling mask on this connection (a reconnect, a failover to a pool with
   * another mask): its devices roll what they asked for within it, told with mining.set_version_mask when
   * that changes, so no share carries bits the pool now refuses.
   */
  private onVersionMask(channel: Channel, mask: number): void {
    channel.versionMask = mask >>> 0;
    for (const d of channel.devices) d.session.allowVersionBits(channel.versionMask);
  }

  private drainReconnects(): void {
    if (this.reconnectTimer || this.reconnectQueue.length === 0) return;
    const perTick = Math.max(1, Math.ceil(this.opts.reconnectPerSecond / 10));
    this.reconnectTimer = setInterval(() => {
      for (let i = 0; i < perTick && this.reconnectQueue.length > 0; i++) {
        const s = this.reconnectQueue.shift()!;
        if (s.state === 'closed') continue;
        s.notify(Method.Reconnect, []);
        s.end('asked to reconnect (a pool gives less extranonce2 space)');
      }
      if (this.reconnectQueue.length === 0 && this.reconnectTimer) {
        clearInterval(this.reconnectTimer);
        this.reconnectTimer = null;
      }
    }, 100);
    this.reconnectTimer.unref();
  }

  // ---- device side (MiningHost) ----------------------------------------------------------------------

  /**
   * A slot for the device: its extranonce1 is the slot's prefix and stays so whatever pool connection serves
   * it. Only the first pool connection ever made must be up (it fixes the layout).
   */
  async subscribe(session: Session): Promise<SubscribeGrant> {
    const deadline = Date.now() + this.opts.subscribeWaitMs;
    for (;;) {
      if (this.stopped) throw new StratumError(StratumErrorCode.Other, 'Proxy is shutting down');
      if (session.state === 'closed') throw new StratumError(StratumErrorCode.Other, 'Connection closed');
      if (this.layoutNow && this.slotsNow) {
        const place = this.slotsNow.allocate();
        if (!place) throw new StratumError(StratumErrorCode.Other, 'Proxy is full: no extranonce space left');
        const device = this.devices.add(session, place, this.layoutNow.deviceExtranonce2Size);
        return { extranonce1: device.extranonce1, extranonce2Size: device.extranonce2Size };
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new StratumError(StratumErrorCode.Other, 'No pool connection yet, try again');
      await this.waitForChange(left);
    }
  }

  async authorize(session: Session, username: string, password: string): Promise<void> {
    const refusal = this.checkAccess?.(username, password, session.ip);
    if (refusal) throw new StratumError(StratumErrorCode.Unauthorized, refusal);
    const device = this.devices.of(session);
    if (device && !device.channel) {
      device.route = this.routes.routeOf(username);
      if (this.opts.workerMode === 'passthrough') device.password = password;
      this.joinChannel(device, this.placementOf(device, Date.now()));
    }
    if (this.opts.workerMode === 'passthrough') {
      if (!device?.channel) throw new StratumError(StratumErrorCode.NotSubscribed, 'Not subscribed');
      const channel = await this.readyChannel(device.channel);
      const ok = await channel.upstream.authorizeWorker(username, password);
      if (!ok) throw new StratumError(StratumErrorCode.Unauthorized, `The pool refused worker ${username.slice(0, 64)}`);
    }
  }

  ready(session: Session): void {
    const device = this.devices.of(session);
    if (!device?.channel) throw new Error('a device finished authorizing without being subscribed');
    const channel = device.channel;
    const now = Date.now();
    const poolDifficulty = channel.registry.current?.poolDifficulty ?? Infinity;
    device.vardiff = vardiffStart(session.suggestedDifficulty ?? this.opts.startDifficulty, poolDifficulty, this.opts.vardiff, now);
    device.target = initialTarget(device.vardiff.difficulty, this.opts.difficultyMultiplier, now);
    device.meter = new WorkMeter(now);
    this.bus.emit('device.authorized', { sessionId: session.id, worker: session.worker!, ip: session.ip, at: now });
    this.bus.emit('device.route', { sessionId: session.id, worker: session.worker!, ...channel.place, reason: 'placed', at: now });
    this.bus.emit('device.difficulty', { sessionId: session.id, worker: session.worker!, difficulty: device.target.difficulty, at: now });
    session.notify(Method.SetDifficulty, [device.target.difficulty]);
    const join = channel.joinLine;
    if (join && !device.parked) session.write(join);
  }

  /**
   * Only bits the pool allows can be rolled, and each pool connection has its own mask. A placed device gets
   * what its own connection allows. Real miners send mining.configure before mining.subscribe, when the
   * connection that will serve them is not chosen yet: they get the bits every connection that has been up
   * allows (the intersection); when the device joins a connection that allows fewer, or its connection's mask
   * changes later (reconnect, failover), it is told with mining.set_version_mask (`onVersionMask`).
   */
  versionMask(session: Session, requested: number): number {
    const channel = this.devices.of(session)?.channel;
    const allowed = channel ? channel.versionMask : this.commonVersionMask();
    return (requested & allowed) >>> 0;
  }

  suggestDifficulty(session: Session, difficulty: number): void {
    const device = this.devices.of(session);
    if (session.state !== 'authorized' || !device?.isMining()) return;
    const pool = device.channel.registry.current?.poolDifficulty ?? Infinity;
    const d = clamp(difficulty, pool, this.opts.vardiff);
    if (d !== device.target.difficulty) this.retargetSession(device, d);
  }

  submit(session: Session, params: SubmitParams): Promise<void> | void {
    const device = this.devices.of(session);
    const now = Date.now();
    if (!device?.isMining()) throw new StratumError(StratumErrorCode.Unauthorized, 'Unauthorized worker');
    // The share is judged with the job it names and goes to the channel that job came from (the device may
    // have moved since).
    let channel = device.channel;
    const outcome = this.validator.validate(params, device, (id) => {
      const found = device.findJob(id);
      if (found) channel = found.channel;
      return found;
    });
    const worker = session.worker!;
    if (!outcome.ok) {
      this.bus.emit('share.rejected', { sessionId: session.id, worker, ip: session.ip, reason: outcome.reason, code: outcome.error.code, message: outcome.error.message, at: now });
      throw outcome.error;
    }
    this.bus.emit('share.accepted', {
      sessionId: session.id,
      worker,
      ip: session.ip,
      difficulty: outcome.creditedDifficulty,
      shareDifficulty: outcome.shareDifficulty,
      meetsPool: outcome.meetsPool,
      meetsNetwork: outcome.meetsNetwork,
      at: now,
    });
    device.meter?.credit(outcome.creditedDifficulty, now);
    const next = vardiffUpdate(device.vardiff, true, outcome.job.poolDifficulty, this.opts.vardiff, now);
    if (next !== null) this.retargetSession(device, next);
    const pool = channel.pool ?? 'unknown';
    const blockHash = outcome.meetsNetwork ? displayHash(outcome.hash) : null;
    if (blockHash !== null) {
      const hash = blockHash;
      this.log.warn('*** BLOCK CANDIDATE ***', { worker, hash, shareDifficulty: outcome.shareDifficulty, networkDifficulty: outcome.job.networkDifficulty, pool });
      this.bus.emit('block.candidate', { sessionId: session.id, worker, pool, jobId: outcome.job.poolJobId, hash, shareDifficulty: outcome.shareDifficulty, networkDifficulty: outcome.job.networkDifficulty, at: now });
    }
    // [hardening] A block candidate always goes upstream, even below the pool's share target (only possible
    // when the pool's difficulty is above the network's): the pool submits the block, nothing is lost.
    if (!outcome.meetsPool && !outcome.meetsNetwork) return;

    const shareId = this.nextShareId++;
    const upstream = channel.upstream;
    const place = { ...channel.place, connection: channel.index, pool };
    this.bus.emit('share.forwarded', {
      sessionId: session.id,
      worker,
      ...place,
      shareId,
      jobId: outcome.job.poolJobId,
      difficulty: outcome.creditedDifficulty,
      shareDifficulty: outcome.shareDifficulty,
      networkDifficulty: outcome.job.networkDifficulty,
      blockHash,
      at: now,
    });
    const share = {
      worker: this.opts.workerMode === 'passthrough' ? params.worker : UPSTREAM_FARM_WORKER,
      jobId: outcome.job.poolJobId,
      extranonce2: upstreamExtranonce2(device.prefix, outcome.extranonce2, outcome.job.pad),
      ntime: outcome.ntime,
      nonce: outcome.nonce,
      ...(outcome.versionBits !== undefined ? { versionBits: outcome.versionBits } : {}),
    };
    const pending = upstream.submit(share);
    this.inFlight.add(pending);
    void pending.finally(() => this.inFlight.delete(pending));
    return pending.then(({ latencyMs, ...verdict }) => {
      this.bus.emit('share.upstream', { sessionId: session.id, worker, shareId, ...place, verdict, latencyMs, at: Date.now() });
      const refusal = deviceRefusal(verdict);
      if (refusal !== null) throw refusal;
    });
  }

  disconnected(session: Session, reason: string): void {
    const device = this.devices.remove(session);
    if (device) {
      this.sliced.delete(device);
      this.slotsNow?.release(device.place.slot, this.laneWaits(device.lane));
    }
    this.bus.emit('device.disconnected', { sessionId: session.id, worker: session.worker, ip: session.ip, reason, at: Date.now() });
  }

  // ---- internals -------------------------------------------------------------------------------------

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
      if (only && (only.available || !this.routes.fallsBack(route)) && devices.every((d) => d.channel.group === only || d.channel.group === null)) continue;
      const routed: RoutedDevice[] = devices.map((d) => ({
        id: String(d.session.id),
        key: d.session.id,
        hashrate: d.meter?.hashrate(now) ?? null,
        current: d.channel.group && (own.has(d.channel.group) || this.routes.group(d.channel.group.name) === d.channel.group) ? d.channel.group.name : null,
        sliceable: this.opts.workerMode !== 'passthrough',
        sliced: d.schedule !== null,
      }));
      const fallbackLoads = new Map(this.routeLoads(fallbackRoute, now).loads);
      const decisions = routeDecisions(
        { targets: this.routes.planTargets(route), fallback: this.routes.fallsBack(route) ? 'default' : 'none' },
        routed,
        { targets: this.routes.planTargets(fallbackRoute), fallback: 'none' },
        fallbackLoads,
        this.timing,
        now,
      );
      devices.forEach((d, i) => {
        const decision = decisions[i]!;
        d.schedule = decision.schedule;
        d.nextSliceAt = decision.until;
        if (decision.schedule) this.sliced.add(d);
        else this.sliced.delete(d);
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

  /** Plan again shortly (a target's availability changed), once for a burst of changes. */
  private rebalanceSoon(): void {
    if (this.soonTimer || this.stopped || !this.started) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = null;
      this.rebalance(Date.now());
    }, 200);
    this.soonTimer.unref();
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
   * opened if it was not: the move is tried again later): false then.
   */
  private move(device: MiningDevice, group: TargetGroup, reason: MoveReason): boolean {
    if (!this.channelOf(group, device.lane).serving) return false;
    const channel = this.joinChannel(device, group);
    const session = device.session;
    device.reloadMove = false;
    if (device.password !== null) {
      void channel.upstream.authorizeWorker(session.worker!, device.password).then((ok) => {
        if (!ok) this.log.warn('worker not authorized on the target it moved to', { worker: session.worker, target: group.name });
      });
    }
    const now = Date.now();
    this.bus.emit('device.route', { sessionId: session.id, worker: session.worker!, ...channel.place, reason, at: now });
    const job = channel.registry.current;
    if (!job || device.parked || session.state !== 'authorized') return true;
    if (device.target.difficulty > job.poolDifficulty) this.retargetSession(device, clamp(device.target.difficulty, job.poolDifficulty, this.opts.vardiff), false);
    const line = channel.joinLine;
    if (line) session.write(line);
    return true;
  }

  /** Close the connections of removed targets nobody has mined on for RETIRE_GRACE_MS. */
  private closeRetired(now: number): void {
    for (const g of this.routes.takeClosable(now, RETIRE_GRACE_MS)) {
      for (const c of g.channels.values()) {
        c.closed = true;
        this.slotsNow?.forget(c);
        void c.upstream.stop();
      }
      this.log.info('target removed by the configuration: its pool connections are closed', { target: g.name, route: g.route });
    }
  }

  /** The device mines on `group` from now on: its lane's connection there (opened if needed), with that connection's mask. */
  private joinChannel(device: DeviceState, group: TargetGroup): Channel {
    const channel = this.channelOf(group, device.lane);
    device.moveTo(channel);
    // Granted before placement from every connection's mask; this connection may allow other bits.
    if (channel.extranonce !== null) device.session.allowVersionBits(channel.versionMask);
    return channel;
  }

  /** `channel` once it is up (bounded by the subscribe wait): pass-through authorizes there. */
  private async readyChannel(channel: Channel): Promise<Channel> {
    const deadline = Date.now() + this.opts.subscribeWaitMs;
    while (!channel.ready && !this.stopped) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await this.waitForChange(left);
    }
    return channel;
  }

  /** For a slot of `lane` given back: each channel of that lane with a job that may still be current, and its generation. */
  private laneWaits(lane: number): [Channel, number][] {
    const waits: [Channel, number][] = [];
    for (const group of this.routes.allGroups) {
      const c = group.channels.get(lane);
      if (c && c.registry.current !== null) waits.push([c, c.registry.generation]);
    }
    return waits;
  }

  /**
   * New difficulty for one device. Miners apply mining.set_difficulty from the next job on, so the current
   * job follows at once (clean_jobs false: work in hand stays valid) unless the caller is about to send one.
   */
  private retargetSession(device: MiningDevice, difficulty: number, resendJob = true): void {
    const now = Date.now();
    const session = device.session;
    device.target = retarget(device.target, difficulty, this.opts.difficultyMultiplier, now, this.opts.retargetGraceMs);
    device.vardiff.difficulty = difficulty;
    session.notify(Method.SetDifficulty, [difficulty]);
    const job = resendJob && !device.parked ? device.channel.resendLine : null;
    if (job) session.write(job);
    this.bus.emit('device.difficulty', { sessionId: session.id, worker: session.worker!, difficulty, at: now });
  }

  private vardiffTick(): void {
    const now = Date.now();
    for (const d of this.devices.values()) {
      if (d.session.state !== 'authorized' || !d.isMining()) continue;
      const pool = d.channel.registry.current?.poolDifficulty ?? Infinity;
      const next = vardiffUpdate(d.vardiff, false, pool, this.opts.vardiff, now);
      if (next !== null) this.retargetSession(d, next);
    }
  }

  /** The version bits every pool connection that has been up allows (0 before any was). */
  private commonVersionMask(): number {
    let mask = 0xffffffff;
    let any = false;
    for (const c of this.channels) {
      if (c.extranonce === null) continue;
      mask &= c.versionMask;
      any = true;
    }
    return any ? mask >>> 0 : 0;
  }

  private waitForChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        resolve: () => {
          clearTimeout(entry.timer);
          const i = this.waiting.indexOf(entry);
          if (i >= 0) this.waiting.splice(i, 1);
          resolve();
        },
        timer: setTimeout(() => entry.resolve(), Math.min(ms, 1000)),
      };
      this.waiting.push(entry);
    });
  }

  private wakeWaiters(): void {
    for (const w of [...this.waiting]) w.resolve();
  }
}

/** What a device hears when the pool's verdict on its forwarded share was not an acceptance (null when it was). */
function deviceRefusal(verdict: PoolVerdict): StratumError | null {
  switch (verdict.kind) {
    case 'accepted':
      return null;
    case 'rejected': {
      const code = verdict.code >= 20 && verdict.code <= 25 ? (verdict.code as StratumErrorCode) : StratumErrorCode.Other;
      return new StratumError(code, `Rejected by the pool: ${verdict.reason}`);
    }
    case 'unanswered':
      // No verdict from the pool: it did not answer in time, or the connection went away (the job is void: stale).
      if (verdict.cause === 'timeout') return new StratumError(StratumErrorCode.Other, `The pool did not answer in time: ${verdict.reason}`);
      return new StratumError(StratumErrorCode.JobNotFound, `Stale: ${verdict.reason}`);
  }
}
