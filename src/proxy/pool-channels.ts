import type { EventBus } from '../core/events.js';
import type { Logger } from '../core/log.js';
import type { Session } from '../downstream/session.js';
import type { TargetSpec } from '../routing/types.js';
import { notificationLine } from '../stratum/jsonrpc.js';
import { Method } from '../stratum/messages.js';
import type { ExtranonceInfo, Upstream, UpstreamJob } from '../upstream/types.js';
import { Channel } from './channel.js';
import type { DeviceDifficulty } from './device-difficulty.js';
import { padSize, type ExtranonceLayout } from './device-job.js';
import type { DeviceStates } from './device-state.js';
import { planSplit, SlotAllocator } from './extranonce-allocator.js';
import type { TargetGroup } from './target-group.js';

/**
 * The pool side of the proxy: every upstream connection (a channel per target and lane), what its events do
 * (a pool's jobs derived for devices and fanned out, its extranonce, version mask, outages and failovers),
 * and the proxy-wide cut of the extranonce2 space (the layout and the slots, fixed at the first connection
 * up). Data flows from here to the devices of each channel; the routing decides which channel a device is on.
 */

export interface PoolChannelsOptions {
  /** Makes the upstream for connection `index` (proxy-wide) of `target`, serving lane `lane`. */
  createUpstream: (index: number, target: TargetSpec, lane: number) => Upstream;
  difficultyMultiplier: number;
  expectedDevices: number;
  minDeviceExtranonce2: number;
  /** Lanes of the extranonce space: upstream connections per target at most. */
  maxUpstreamConnections: number;
  /** Devices told to reconnect per second after an extranonce2 size change they cannot follow. */
  reconnectPerSecond: number;
}

/** What the pool side tells the rest of the proxy (it never calls into the routing or the device side). */
export interface PoolChannelsHooks {
  /** A connection started serving or went down: a target's availability may have changed. */
  availabilityChanged(): void;
  /** A connection came up or got a job: whoever waits for one may go on. */
  changed(): void;
}

export class PoolChannels {
  /** Every pool connection opened, by proxy-wide index. */
  readonly channels: Channel[] = [];
  /** The cut of the extranonce2 space, chosen at the first pool connection (null before). */
  private layoutNow: ExtranonceLayout | null = null;
  /** Proxy-wide slots (lane + prefix), made with the layout. */
  private slotsNow: SlotAllocator<Channel> | null = null;
  /** Connections whose pool's extranonce2 is too small to serve devices (logged once each). */
  private readonly tooSmallLogged = new Set<Channel>();
  private readonly reconnectQueue: Session[] = [];
  private reconnectTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly opts: PoolChannelsOptions,
    private readonly devices: DeviceStates,
    private readonly difficulty: DeviceDifficulty,
    private readonly bus: EventBus,
    private readonly log: Logger,
    private readonly hooks: PoolChannelsHooks,
  ) {}

  /** The cut of the extranonce2 space (null before the first pool connection). */
  get layout(): ExtranonceLayout | null {
    return this.layoutNow;
  }

  /** The proxy-wide slots (null before the first pool connection). */
  get slots(): SlotAllocator<Channel> | null {
    return this.slotsNow;
  }

  async stop(): Promise<void> {
    if (this.reconnectTimer) clearInterval(this.reconnectTimer);
    await Promise.all(this.channels.map((c) => c.upstream.stop()));
  }

  /** The target's connection for `lane`, opened now if it has none yet. */
  channelOf(group: TargetGroup, lane: number): Channel {
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
      this.hooks.availabilityChanged();
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

  /** A removed target's connection: closed, its slots' quarantine no longer waits for it. */
  close(channel: Channel): void {
    channel.closed = true;
    this.slotsNow?.forget(channel);
    void channel.upstream.stop();
  }

  /** For a slot of `lane` given back: each channel of that lane (of `groups`) with a job that may still be current, and its generation. */
  laneWaits(groups: Iterable<TargetGroup>, lane: number): [Channel, number][] {
    const waits: [Channel, number][] = [];
    for (const group of groups) {
      const c = group.channels.get(lane);
      if (c && c.registry.current !== null) waits.push([c, c.registry.generation]);
    }
    return waits;
  }

  /** The version bits every pool connection that has been up allows (0 before any was). */
  commonVersionMask(): number {
    let mask = 0xffffffff;
    let any = false;
    for (const c of this.channels) {
      if (c.extranonce === null) continue;
      mask &= c.versionMask;
      any = true;
    }
    return any ? mask >>> 0 : 0;
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
    this.hooks.changed();
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
    if (!channel.serving) this.hooks.availabilityChanged();
    channel.setJob(line, cleanLine, keepWorkLine);
    let devices = 0;
    for (const d of channel.devices) {
      if (d.parked || !d.isMining() || d.session.state !== 'authorized') continue;
      // A device's difficulty must never be above the pool's: lower it before the job it applies to.
      this.difficulty.capAt(d, job.poolDifficulty);
      // Nor may it roll bits this connection's pool does not allow (it joined before the pool granted its mask).
      if ((d.session.versionMask & ~channel.versionMask) !== 0) d.session.allowVersionBits(channel.versionMask);
      d.session.write(line);
      devices++;
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.bus.emit('job.fanout', { jobId: job.id, clean: job.cleanJobs, devices, seconds, at: Date.now() });
    this.hooks.changed();
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
}
