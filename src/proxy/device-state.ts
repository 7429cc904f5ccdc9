import type { Session } from '../downstream/session.js';
import type { Channel } from './channel.js';
import type { DeviceTarget } from './device-target.js';
import type { DeviceWork } from './share-validator.js';
import type { VardiffState } from './vardiff.js';

/**
 * The proxy's mining state for one device: the pool connection (channel) that serves it, its place in that
 * connection's extranonce space, its share target and vardiff. The session speaks the protocol and knows
 * none of this; the proxy keeps one record per subscribed device in `DeviceStates` (as the SRI translator's
 * channel manager owns its mapping), and the device's channel holds the same record for job fan-out.
 *
 * Memory: one plain object per device (fields only, no closures; the getters live on the prototype), plus
 * one Map entry. At 10,000+ devices per process every field counts.
 */
export class DeviceState {
  /** Share target and vardiff: set when the device finished authorizing (`ready`), null before. */
  target: DeviceTarget | null = null;
  vardiff: VardiffState | null = null;
  /** Set while the device has no usable jobs (waiting for it to reconnect after an extranonce change). */
  parked = false;

  constructor(
    readonly session: Session,
    readonly channel: Channel,
    /** The device's prefix in its channel's extranonce space (hex). */
    readonly prefix: string,
    /** The pool's extranonce1 followed by the prefix, as the device was told (lower-case hex). */
    public extranonce1: string,
    public extranonce2Size: number,
  ) {}

  /** The BIP 310 mask the session negotiated (the share path checks version bits against it). */
  get versionMask(): number {
    return this.session.versionMask;
  }

  /** Authorized and given a target: shares can be judged. */
  isMining(): this is MiningDevice {
    return this.target !== null && this.vardiff !== null;
  }
}

/** A device that can submit: its target and vardiff are set (what the share path needs to know of it). */
export type MiningDevice = DeviceState & DeviceWork & { target: DeviceTarget; vardiff: VardiffState };

/** Every subscribed device's state, by session. A device is here from its subscribe until it disconnects. */
export class DeviceStates {
  private readonly bySession = new Map<Session, DeviceState>();

  /** Place a device in a channel: it takes `prefix` of that channel's extranonce space. */
  place(session: Session, channel: Channel, prefix: string): DeviceState {
    const device = new DeviceState(session, channel, prefix, channel.extranonce!.extranonce1 + prefix, channel.plan!.deviceExtranonce2Size);
    this.bySession.set(session, device);
    channel.devices.add(device);
    return device;
  }

  of(session: Session): DeviceState | undefined {
    return this.bySession.get(session);
  }

  /** The device left: its channel forgets it and its prefix goes back to the channel's allocator. */
  remove(session: Session): DeviceState | undefined {
    const device = this.bySession.get(session);
    if (!device) return undefined;
    this.bySession.delete(session);
    device.channel.leave(device);
    return device;
  }

  get size(): number {
    return this.bySession.size;
  }
}
