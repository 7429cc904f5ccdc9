import type { Session } from '../downstream/session.js';
import type { SliceSchedule } from '../routing/slice-schedule.js';
import type { WorkMeter } from '../routing/work-meter.js';
import type { Channel } from './channel.js';
import type { DeviceTarget } from './device-target.js';
import type { SlotPlace } from './extranonce-allocator.js';
import type { Job } from './job.js';
import type { DeviceWork } from './share-validator.js';
import type { VardiffState } from './vardiff.js';

/**
 * The proxy's mining state for one device: its slot in the proxy-wide extranonce space (lane and prefix,
 * for the life of the connection), the channel it mines on now and the ones it mined on before whose jobs
 * may still be current, its share target and vardiff. The session speaks the protocol and knows none of
 * this; the proxy keeps one record per subscribed device in `DeviceStates` (as the SRI translator's
 * channel manager owns its mapping), and the device's current channel holds the same record for job fan-out.
 *
 * Memory: one plain object per device (fields only, no closures; the methods live on the prototype), plus
 * one Map entry. At 10,000+ devices per process every field counts.
 */
export class DeviceState {
  /** The channel the device mines on now (null until it is placed, at authorize). */
  channel: Channel | null = null;
  /** Channels it left, with their job generation then: their jobs may still be current (newest first). */
  previous: { channel: Channel; generation: number }[] | null = null;
  /** Share target and vardiff: set when the device finished authorizing (`ready`), null before. */
  target: DeviceTarget | null = null;
  vardiff: VardiffState | null = null;
  /** Set while the device has no usable jobs (waiting for it to reconnect after an extranonce change it cannot follow). */
  parked = false;
  /** The route its worker belongs to (set when it is placed, at authorize). */
  route: string | null = null;
  /** Its measured hashrate for the split planner (from its credited work; set when it starts mining). */
  meter: WorkMeter | null = null;
  /** Set while the split time-slices it: its slice schedule, and when its next slice starts (ms). */
  schedule: SliceSchedule | null = null;
  nextSliceAt = Infinity;
  /** A reload changed its route or removed its target: its next move is reported as one ('reload'). */
  reloadMove = false;
  /** Pass-through worker mode: the password it authorized with (authorized again on a target it moves to). */
  password: string | null = null;
  /** The device's extranonce1: its prefix (lower-case hex). */
  readonly extranonce1: string;

  constructor(
    readonly session: Session,
    readonly place: SlotPlace,
    public extranonce2Size: number,
  ) {
    this.extranonce1 = place.prefix;
  }

  get prefix(): string {
    return this.place.prefix;
  }

  get lane(): number {
    return this.place.lane;
  }

  /** The BIP 310 mask the session negotiated (the share path checks version bits against it). */
  get versionMask(): number {
    return this.session.versionMask;
  }

  /** Authorized and given a target: shares can be judged. */
  isMining(): this is MiningDevice {
    return this.target !== null && this.vardiff !== null && this.channel !== null;
  }

  /**
   * Mine on `channel` from now on. The one it leaves is kept while its jobs may still be current (a share
   * of its job goes back to it); at most `keep` earlier channels are remembered.
   */
  moveTo(channel: Channel, keep = 2): void {
    const from = this.channel;
    if (from === channel) return;
    if (from) {
      from.devices.delete(this);
      const earlier = (this.previous ?? []).filter((p) => p.channel !== channel && p.channel !== from);
      this.previous = [{ channel: from, generation: from.registry.generation }, ...earlier].slice(0, keep);
    }
    this.channel = channel;
    channel.devices.add(this);
  }

  /**
   * The job a share names, with the channel it came from: the current channel first, then the previous ones
   * (job ids are unique in the process, so at most one knows it). Previous channels whose jobs have all gone
   * stale are forgotten on the way.
   */
  findJob(jobId: string): { job: Job; stale: boolean; channel: Channel } | undefined {
    const current = this.channel;
    if (current) {
      const found = current.registry.lookup(jobId);
      if (found) return { ...found, channel: current };
    }
    const previous = this.previous;
    if (!previous) return undefined;
    for (const p of previous) {
      const found = p.channel.registry.lookup(jobId);
      if (found) return { ...found, channel: p.channel };
    }
    const live = previous.filter((p) => p.channel.registry.generation === p.generation && !p.channel.closed);
    this.previous = live.length > 0 ? live : null;
    return undefined;
  }

  /** The device leaves every channel (it disconnected). */
  leave(): void {
    this.channel?.devices.delete(this);
    this.channel = null;
    this.previous = null;
  }
}

/** A device that can submit: placed, with its target and vardiff set (what the share path needs to know of it). */
export type MiningDevice = DeviceState & DeviceWork & { target: DeviceTarget; vardiff: VardiffState; channel: Channel };

/** Every subscribed device's state, by session. A device is here from its subscribe until it disconnects. */
export class DeviceStates {
  private readonly bySession = new Map<Session, DeviceState>();

  /** A device took slot `place` (not on any channel yet: it is placed at authorize). */
  add(session: Session, place: SlotPlace, extranonce2Size: number): DeviceState {
    const device = new DeviceState(session, place, extranonce2Size);
    this.bySession.set(session, device);
    return device;
  }

  of(session: Session): DeviceState | undefined {
    return this.bySession.get(session);
  }

  /** The device left: its channels forget it (the caller gives its slot back). */
  remove(session: Session): DeviceState | undefined {
    const device = this.bySession.get(session);
    if (!device) return undefined;
    this.bySession.delete(session);
    device.leave();
    return device;
  }

  get size(): number {
    return this.bySession.size;
  }

  values(): IterableIterator<DeviceState> {
    return this.bySession.values();
  }
}
