import type { RoutePlace } from '../core/events.js';
import type { TargetSpec } from '../routing/types.js';
import type { Channel } from './channel.js';

/**
 * One target of one route: its ordered pool list (in `spec`) and its own pool connections, one per lane of
 * the proxy-wide extranonce space it has devices in (opened lazily by the proxy). A device of lane k placed
 * on this target mines on `channels.get(k)`.
 */
export class TargetGroup {
  readonly channels = new Map<number, Channel>();
  readonly place: RoutePlace;

  constructor(
    public spec: TargetSpec,
    readonly route: string,
  ) {
    this.place = { route, target: spec.name };
  }

  get name(): string {
    return this.spec.name;
  }

  /** At least one of its connections is up with a job: devices placed here can mine. */
  get available(): boolean {
    for (const c of this.channels.values()) if (c.serving) return true;
    return false;
  }

  /** Devices mining on this target now. */
  get deviceCount(): number {
    let n = 0;
    for (const c of this.channels.values()) n += c.devices.size;
    return n;
  }
}
