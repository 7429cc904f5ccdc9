import type { PowHasher } from '../chain/hasher.js';
import type { MiningHost, Session, SubscribeGrant } from '../downstream/session.js';
import type { EventBus } from '../core/events.js';
import { silentLogger, type Logger } from '../core/log.js';
import { StratumError, StratumErrorCode } from '../stratum/errors.js';
import { Method, type SubmitParams } from '../stratum/messages.js';
import type { PoolConfig, PoolVerdict, Upstream } from '../upstream/types.js';
import { DEFAULT_ROUTE, DEFAULT_TARGET } from '../routing/default-route.js';
import { ROUTING_TIMING_DEFAULTS } from '../routing/timing.js';
import type { RoutingSpec, RoutingTiming, TargetSpec } from '../routing/types.js';
import { WorkMeter } from '../routing/work-meter.js';
import type { Channel } from './channel.js';
import { DeviceDifficulty } from './device-difficulty.js';
import { DeviceStates } from './device-state.js';
import { DEFAULT_RETARGET_GRACE_MS, initialTarget } from './device-target.js';
import { upstreamExtranonce2, type ExtranonceLayout } from './device-job.js';
import { DEFAULT_MIN_DEVICE_EXTRANONCE2, type SlotAllocator } from './extranonce-allocator.js';
import { PoolChannels } from './pool-channels.js';
import { RoutingDriver } from './routing-driver.js';
import type { TargetGroup } from './target-group.js';
import { displayHash } from '../chain/bytes.js';
import { ShareValidator } from './share-validator.js';
import { DEFAULT_START_DIFFICULTY, DEFAULT_VARDIFF, clamp, vardiffStart, vardiffUpdate, type VardiffOptions } from './vardiff.js';

/**
 * The manager in the middle. Pool side: channels (one upstream session each, per target and lane) bring jobs
 * in; the proxy derives each job as devices see it (the pool's extranonce1 inside coinb1: device-job.ts),
 * serializes it once and writes the same bytes to every device of the channel (pool-channels.ts). Routing:
 * which target's channel each device mines on, placed at authorize and moved by the split (routing-driver.ts).
 * Device side (here, the MiningHost the sessions talk to): sessions ask to subscribe (a proxy-wide slot: lane
 * and prefix, the device's extranonce1 for good), authorize (placed on a target's channel of its lane) and
 * submit; shares are judged with the job they name and pool-qualifying ones go upstream on the channel that
 * job came from, and the pool's answer comes back to that device. Events report everything.
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
  /**
   * The first forwarded share's id (default 1). A worker process of a cluster starts at its incarnation's own
   * range (src/cluster/), so share ids stay unique across the host's processes without being remapped.
   */
  firstShareId?: number;
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

export class Proxy implements MiningHost {
  /** Each subscribed device's mining state (slot, channel, target, vardiff), by session. */
  private readonly devices = new DeviceStates();
  /** The pool side: every connection, its jobs, the extranonce layout and slots. */
  private readonly pool: PoolChannels;
  /** The routing in force, applied: placement, rebalance, slices, fallback, reloads. */
  private readonly routing: RoutingDriver;
  private readonly difficulty: DeviceDifficulty;
  private readonly opts: Required<Omit<ProxyOptions, 'checkAccess' | 'log' | 'vardiff' | 'routing' | 'routingTiming' | 'firstShareId'>> & { vardiff: VardiffOptions };
  private readonly log: Logger;
  private readonly bus: EventBus;
  private readonly validator: ShareValidator;
  private checkAccess: ProxyOptions['checkAccess'];
  private readonly waiting: { resolve: () => void; timer: NodeJS.Timeout }[] = [];
  private tickTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Pool submits not answered yet (shutdown waits for them, bounded). */
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Per-process number of each forwarded share (its `share.forwarded` and `share.upstream` carry it). */
  private nextShareId: number;

  constructor(options: ProxyOptions) {
    this.nextShareId = options.firstShareId ?? 1;
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
      retargetGraceMs: this.opts.retargetGraceMs,
    });
    this.difficulty = new DeviceDifficulty(this.opts, this.bus);
    this.pool = new PoolChannels(this.opts, this.devices, this.difficulty, this.bus, this.log, {
      availabilityChanged: () => this.routing.rebalanceSoon(),
      changed: () => this.wakeWaiters(),
    });
    const timing = { ...ROUTING_TIMING_DEFAULTS, ...options.routingTiming };
    this.routing = new RoutingDriver(options.routing ?? singleTargetRouting(), { timing, passthrough: this.opts.workerMode === 'passthrough' }, this.pool, this.devices, this.difficulty, this.bus, this.log);
  }

  /** Every pool connection opened, by proxy-wide index. */
  get channels(): readonly Channel[] {
    return this.pool.channels;
  }

  /** Every target group in force (routes in the spec's order, targets in each route's order). */
  get groups(): TargetGroup[] {
    return this.routing.groups;
  }

  start(): void {
    this.routing.start();
    this.tickTimer = setInterval(() => this.vardiffTick(), this.opts.vardiffTickMs);
    this.tickTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.routing.stop();
    for (const w of this.waiting.splice(0)) {
      clearTimeout(w.timer);
      w.resolve();
    }
    await this.pool.stop();
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
    this.routing.setRouting(spec);
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
    return this.pool.channels.some((c) => c.serving);
  }

  /** Devices subscribed and not gone. */
  get deviceCount(): number {
    return this.devices.size;
  }

  /** The cut of the extranonce2 space (null before the first pool connection). */
  get layout(): Readonly<ExtranonceLayout> | null {
    return this.pool.layout;
  }

  /** The proxy-wide slots (null before the first pool connection). */
  get slots(): Pick<SlotAllocator<Channel>, 'used' | 'available' | 'capacity' | 'availableIn'> | null {
    return this.pool.slots;
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
      if (this.pool.layout && this.pool.slots) {
        const place = this.pool.slots.allocate();
        if (!place) throw new StratumError(StratumErrorCode.Other, 'Proxy is full: no extranonce space left');
        const device = this.devices.add(session, place, this.pool.layout.deviceExtranonce2Size);
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
      if (this.opts.workerMode === 'passthrough') device.password = password;
      this.routing.place(device, username);
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
    const allowed = channel ? channel.versionMask : this.pool.commonVersionMask();
    return (requested & allowed) >>> 0;
  }

  suggestDifficulty(session: Session, difficulty: number): void {
    const device = this.devices.of(session);
    if (session.state !== 'authorized' || !device?.isMining()) return;
    const pool = device.channel.registry.current?.poolDifficulty ?? Infinity;
    const d = clamp(difficulty, pool, this.opts.vardiff);
    if (d !== device.target.difficulty) this.difficulty.set(device, d);
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
      ...channel.place,
      ip: session.ip,
      difficulty: outcome.creditedDifficulty,
      shareDifficulty: outcome.shareDifficulty,
      meetsPool: outcome.meetsPool,
      meetsNetwork: outcome.meetsNetwork,
      at: now,
    });
    device.meter?.credit(outcome.creditedDifficulty, now);
    const next = vardiffUpdate(device.vardiff, true, outcome.job.poolDifficulty, this.opts.vardiff, now);
    if (next !== null) this.difficulty.set(device, next);
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
    return pending.then(({ latencyMs, block, ...verdict }) => {
      const at = Date.now();
      this.bus.emit('share.upstream', { sessionId: session.id, worker, shareId, ...place, verdict, latencyMs, at });
      // Solo: the share was a block the upstream (a dashd) assembled and submitted; dashd's answer follows its verdict.
      if (block !== undefined) this.bus.emit('block.submitted', { sessionId: session.id, worker, shareId, ...place, ...block, at });
      const refusal = deviceRefusal(verdict);
      if (refusal !== null) throw refusal;
    });
  }

  disconnected(session: Session, reason: string): void {
    const device = this.devices.remove(session);
    if (device) this.routing.forget(device);
    this.bus.emit('device.disconnected', { sessionId: session.id, worker: session.worker, ip: session.ip, reason, at: Date.now() });
  }

  // ---- internals -------------------------------------------------------------------------------------

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

  private vardiffTick(): void {
    const now = Date.now();
    for (const d of this.devices.values()) {
      if (d.session.state !== 'authorized' || !d.isMining()) continue;
      const pool = d.channel.registry.current?.poolDifficulty ?? Infinity;
      const next = vardiffUpdate(d.vardiff, false, pool, this.opts.vardiff, now);
      if (next !== null) this.difficulty.set(d, next);
    }
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
