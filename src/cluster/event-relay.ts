import { PROXY_EVENT_NAMES, type EventBus, type ProxyEventMap, type ProxyEventName } from '../core/events.js';

/**
 * The relay of a worker's events to the primary (`start --workers N`), pure: no process, no socket. The
 * worker's EventForwarder turns its bus into batches handed to `send` (process.send in the worker); the
 * primary's EventIntake re-emits each batch on the primary's bus, where the observers (farm ledger,
 * metrics, API, feed, alerts, logs, books) see one host as they see one proxy today.
 *
 * One batch per event-loop turn: the first event of a turn schedules a flush with setImmediate, which runs
 * after the turn's I/O callbacks, so the IPC cost is per turn, not per share, and a worker that is killed
 * loses at most the events of its last turn.
 *
 * The batch's shape (EventBatch) and the IPC serialization were chosen by measuring (src/bench/relay-ipc.ts:
 * a forked worker emits 1,000 share events a turn, a third each share.accepted, share.forwarded,
 * share.upstream, and sends them; the primary re-emits them through an EventIntake; two runs of 4
 * alternating rounds of 500 batches, node 20 on this 2-core host shared with other work). CPU milliseconds
 * per batch; the primary's side is the one that counts (it takes every worker's events), the worker's
 * includes emitting the events on its own bus:
 *
 *   serialization  shape                          worker      primary     JSON bytes
 *   'json'         EventBatch (below)             8.3-9.0     1.00-1.25   104,672
 *   'advanced'     EventBatch                     7.9-9.4     0.85-1.05   104,672
 *   'json'         [name, event] pairs            9.5-10.7    1.45-1.79   238,548
 *   'advanced'     [name, event] pairs            9.0-10.2    1.65-1.93   238,548
 *
 * So the shape matters most: each distinct key list once per batch, then every event as its shape's index
 * and its values (no key repeated per event: less than half the bytes, a third less work in the primary).
 * With it, 'advanced' (V8's serializer) cost the primary about a tenth less than 'json' in each of the 8
 * rounds (and keeps a NaN a NaN); for plain objects it is no better. The primary should pass
 * `serialization: 'advanced'` to cluster.setupPrimary (round-robin handle passing works with it).
 */

/** One IPC message from a worker: the events of one event-loop turn of one worker incarnation, in order. */
export interface EventBatch {
  relay: 'events';
  /** The sending worker's incarnation (see EventIntake: late batches of a dead incarnation are dropped). */
  incarnation: number;
  /** Each distinct event shape in the batch: its name, then its keys in order. */
  shapes: [ProxyEventName, ...string[]][];
  /** Per event: its shape's index, then its values in the order of the shape's keys. */
  values: unknown[];
}

/** An IPC message that is an EventBatch (the primary gets other messages from its workers too). */
export function isEventBatch(message: unknown): message is EventBatch {
  const m = message as Partial<EventBatch> | null;
  return typeof m === 'object' && m !== null && m.relay === 'events' && typeof m.incarnation === 'number' && Array.isArray(m.shapes) && Array.isArray(m.values);
}

type AnyEvent = ProxyEventMap[ProxyEventName];

/** Builds one EventBatch; an event's keys with the value undefined are left out (as JSON would). */
class BatchBuilder {
  readonly shapes: [ProxyEventName, ...string[]][] = [];
  readonly values: unknown[] = [];
  events = 0;
  /** Per event name, the shapes of this batch (index and keys): most names have one. */
  private readonly byName = new Map<ProxyEventName, { index: number; keys: string[] }[]>();

  add(name: ProxyEventName, event: AnyEvent): void {
    const e = event as unknown as Record<string, unknown>;
    const keys: string[] = [];
    for (const k in e) if (e[k] !== undefined) keys.push(k);
    const index = this.shapeIndex(name, keys);
    this.values.push(index);
    for (const k of keys) this.values.push(e[k]);
    this.events++;
  }

  batch(incarnation: number): EventBatch {
    return { relay: 'events', incarnation, shapes: this.shapes, values: this.values };
  }

  private shapeIndex(name: ProxyEventName, keys: string[]): number {
    let known = this.byName.get(name);
    if (!known) this.byName.set(name, (known = []));
    for (const s of known) if (sameKeys(s.keys, keys)) return s.index;
    const index = this.shapes.length;
    this.shapes.push([name, ...keys]);
    known.push({ index, keys });
    return index;
  }
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Calls `fn` with each event of a batch, in order; returns how many (a malformed batch: RangeError). */
export function forEachEvent(batch: EventBatch, fn: (name: ProxyEventName, event: AnyEvent) => void): number {
  const { shapes, values } = batch;
  let p = 0;
  let n = 0;
  while (p < values.length) {
    const shape = shapes[values[p++] as number];
    if (!Array.isArray(shape) || p + shape.length - 1 > values.length) throw new RangeError(`malformed event batch at value ${p - 1}`);
    const e: Record<string, unknown> = {};
    for (let i = 1; i < shape.length; i++) e[shape[i]!] = values[p++];
    fn(shape[0], e as unknown as AnyEvent);
    n++;
  }
  return n;
}

// ---- the worker's side ------------------------------------------------------------------------------------

export interface EventForwarderOptions {
  /** The worker's bus: every event of PROXY_EVENT_NAMES is forwarded. */
  bus: EventBus;
  /** This worker's incarnation (the number the primary gave its fork). */
  incarnation: number;
  /** Hands one batch to the primary (process.send in a worker). */
  send: (batch: EventBatch) => void;
  /** A send that threw (the IPC channel is closed): its events are lost (default: only counted in `lost`). */
  onSendError?: (err: Error, events: number) => void;
  /** Runs the flush after the current turn (default setImmediate). */
  defer?: (fn: () => void) => void;
}

/** In a worker: its bus's events to the primary, one batch per event-loop turn, in order. */
export class EventForwarder {
  /** Events handed to `send`, and batches. */
  sent = 0;
  batches = 0;
  /** Events whose send threw. */
  lost = 0;
  private readonly opts: EventForwarderOptions;
  private readonly defer: (fn: () => void) => void;
  private readonly unsubscribe: (() => void)[] = [];
  private pending: BatchBuilder | null = null;

  constructor(opts: EventForwarderOptions) {
    this.opts = opts;
    this.defer = opts.defer ?? ((fn) => void setImmediate(fn));
    for (const name of PROXY_EVENT_NAMES) this.unsubscribe.push(opts.bus.on(name, (e) => this.add(name, e)));
  }

  /** Events waiting for this turn's flush. */
  get waiting(): number {
    return this.pending?.events ?? 0;
  }

  /** Send what this turn gathered now (at shutdown, before the worker exits). */
  flush(): void {
    const b = this.pending;
    if (b === null) return;
    this.pending = null;
    try {
      this.opts.send(b.batch(this.opts.incarnation));
      this.sent += b.events;
      this.batches++;
    } catch (err) {
      this.lost += b.events;
      this.opts.onSendError?.(err as Error, b.events);
    }
  }

  /** Stop listening; what was gathered is sent first. */
  stop(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    this.flush();
  }

  private add(name: ProxyEventName, event: AnyEvent): void {
    if (this.pending === null) {
      const b = (this.pending = new BatchBuilder());
      // A flush already done (flush() at shutdown) leaves this one nothing to send.
      this.defer(() => this.pending === b && this.flush());
    }
    this.pending.add(name, event);
  }
}

// ---- the primary's side -----------------------------------------------------------------------------------

/** What the intake keeps of one worker: exactly what `workerGone` must end, and its connection indexes. */
interface WorkerTrack {
  /** The incarnation its batches come from (null before the first). */
  incarnation: number | null;
  /** Batches of incarnations up to this one are late (their worker is gone) and dropped. */
  goneUpTo: number;
  /** Open sessions: the last of device.connected / device.authorized of each (its ip, and its worker name once authorized). */
  sessions: Map<number, ProxyEventMap['device.connected'] | ProxyEventMap['device.authorized']>;
  /** Forwarded shares waiting for the pool's verdict (connection already host-wide). */
  inFlight: Map<number, ProxyEventMap['share.forwarded']>;
  /** Connections up, per (host-wide connection, target, pool): their pool.up. */
  up: Map<string, ProxyEventMap['pool.up']>;
  /** Its local connection index -> the host-wide one. */
  connections: number[];
}

/** The cause of the verdicts `workerGone` gives the shares a dead worker left in flight. */
export const WORKER_GONE_CAUSE = 'connection-lost' as const;
/** The reason of the device.disconnected `workerGone` gives each session a dead worker left open. */
export const WORKER_EXITED_REASON = 'worker exited';

/**
 * In the primary: the workers' batches re-emitted on the primary's bus, in order, as one proxy's events.
 *
 * Ids: session and share ids are unique host-wide already (each incarnation starts them at
 * incarnation * 2**32 + 1), so they pass as they are. Upstream connection indexes are per worker (0, 1,
 * ...): each (worker, local index) gets a dense host-wide index when first seen, kept for good, so a
 * restarted worker's connection k continues the record of its predecessor's connection k. A worker's
 * `pool.connections {count}` is re-emitted with the host-wide count (every host-wide index given so far).
 *
 * Call `workerGone` when a worker died, before forking its replacement, best once its IPC channel is closed
 * (cluster's 'exit' and 'disconnect' both seen: then no batch of it is still on the way). A batch of a gone
 * incarnation arriving anyway is dropped and counted in `late`, never re-opening what workerGone ended (pass
 * the dead incarnation to workerGone: a fork that dies before the intake saw any batch of it is then known too).
 */
export class EventIntake {
  /** Events re-emitted, and events of a gone incarnation dropped. */
  taken = 0;
  late = 0;
  /** Batches that could not be read (counted; the events before the fault were re-emitted). */
  malformed = 0;
  private readonly workers = new Map<number, WorkerTrack>();
  private hostConnections = 0;

  constructor(private readonly bus: EventBus) {}

  /** Re-emit one batch of worker `workerIndex` (0 .. N-1). */
  take(workerIndex: number, batch: EventBatch): void {
    const w = this.track(workerIndex);
    if (batch.incarnation <= w.goneUpTo || (w.incarnation !== null && batch.incarnation < w.incarnation)) {
      this.late += countEvents(batch);
      return;
    }
    w.incarnation = batch.incarnation;
    try {
      forEachEvent(batch, (name, e) => this.relay(w, name, e));
    } catch {
      this.malformed++;
    }
  }

  /**
   * Worker `workerIndex` is gone (`reason`: e.g. 'SIGKILL', 'exit code 1'): end what it left open, at `at`, so
   * every count stays true: each forwarded share without a verdict gets share.upstream with no verdict
   * (cause connection-lost), each open session device.disconnected (reason 'worker exited'), each connection
   * up pool.down. Its host-wide connection indexes stay its own (its restart continues them).
   * `incarnation`: the one that is gone (default: the last one whose batches came; pass it, so a fork that
   * died before any batch of it was read is known too). `stoppedAtShutdown`: its graceful stop finished at
   * the host's shutdown: its pool connections closed as a one-process proxy closes them at stop, their
   * records end without pool.down (no pool went down); anything else it left open is ended as above.
   */
  workerGone(workerIndex: number, reason: string, at: number, opts: { incarnation?: number; stoppedAtShutdown?: boolean } = {}): void {
    const w = this.track(workerIndex);
    w.goneUpTo = Math.max(w.goneUpTo, w.incarnation ?? 0, opts.incarnation ?? 0);
    const why = `worker ${workerIndex} exited (${reason})`;
    for (const f of w.inFlight.values()) {
      this.bus.emit('share.upstream', {
        route: f.route,
        target: f.target,
        connection: f.connection,
        pool: f.pool,
        sessionId: f.sessionId,
        worker: f.worker,
        shareId: f.shareId,
        verdict: { kind: 'unanswered', cause: WORKER_GONE_CAUSE, reason: why },
        latencyMs: Math.max(0, at - f.at),
        at,
      });
    }
    for (const s of w.sessions.values()) {
      this.bus.emit('device.disconnected', { sessionId: s.sessionId, worker: 'worker' in s ? s.worker : null, ip: s.ip, reason: WORKER_EXITED_REASON, at });
    }
    if (!opts.stoppedAtShutdown) {
      for (const u of w.up.values()) {
        this.bus.emit('pool.down', { route: u.route, target: u.target, connection: u.connection, pool: u.pool, url: u.url, reason: why, at });
      }
    }
    w.inFlight.clear();
    w.sessions.clear();
    w.up.clear();
  }

  /** Worker `workerIndex`'s open device connections (authorized or not). */
  devicesOf(workerIndex: number): number {
    return this.workers.get(workerIndex)?.sessions.size ?? 0;
  }

  /** Upstream connections host-wide (the count re-emitted in pool.connections). */
  get connections(): number {
    return this.hostConnections;
  }

  private track(workerIndex: number): WorkerTrack {
    let w = this.workers.get(workerIndex);
    if (!w) {
      w = { incarnation: null, goneUpTo: 0, sessions: new Map(), inFlight: new Map(), up: new Map(), connections: [] };
      this.workers.set(workerIndex, w);
    }
    return w;
  }

  private hostConnection(w: WorkerTrack, local: number): number {
    let host = w.connections[local];
    if (host === undefined) {
      // Dense: a worker's indexes 0 .. local all get one, in order (pool.connections names them all anyway).
      for (let i = w.connections.length; i <= local; i++) w.connections[i] = this.hostConnections++;
      host = w.connections[local]!;
    }
    return host;
  }

  private relay(w: WorkerTrack, name: ProxyEventName, event: AnyEvent): void {
    switch (name) {
      case 'device.connected': {
        const e = event as ProxyEventMap['device.connected'];
        w.sessions.set(e.sessionId, e);
        break;
      }
      case 'device.authorized': {
        const e = event as ProxyEventMap['device.authorized'];
        w.sessions.set(e.sessionId, e);
        break;
      }
      case 'device.disconnected':
        w.sessions.delete((event as ProxyEventMap['device.disconnected']).sessionId);
        break;
      case 'share.forwarded': {
        const e = event as ProxyEventMap['share.forwarded'];
        e.connection = this.hostConnection(w, e.connection);
        w.inFlight.set(e.shareId, e);
        break;
      }
      case 'share.upstream': {
        const e = event as ProxyEventMap['share.upstream'];
        e.connection = this.hostConnection(w, e.connection);
        w.inFlight.delete(e.shareId);
        break;
      }
      case 'pool.up': {
        const e = event as ProxyEventMap['pool.up'];
        e.connection = this.hostConnection(w, e.connection);
        w.up.set(upKey(e), e);
        break;
      }
      case 'pool.down': {
        const e = event as ProxyEventMap['pool.down'];
        e.connection = this.hostConnection(w, e.connection);
        w.up.delete(upKey(e));
        break;
      }
      case 'pool.switch':
      case 'pool.version-mask':
      case 'block.submitted': {
        // A submitted block (solo) names the connection its share went up on, as share.upstream does.
        const e = event as ProxyEventMap['pool.switch' | 'pool.version-mask' | 'block.submitted'];
        e.connection = this.hostConnection(w, e.connection);
        break;
      }
      case 'pool.connections': {
        const e = event as ProxyEventMap['pool.connections'];
        if (e.count > 0) this.hostConnection(w, e.count - 1);
        e.count = this.hostConnections;
        break;
      }
      default:
        break;
    }
    this.taken++;
    this.bus.emit(name, event as never);
  }
}

function upKey(e: { connection: number; target: string; pool: string }): string {
  return `${e.connection}\u0000${e.target}\u0000${e.pool}`;
}

function countEvents(batch: EventBatch): number {
  try {
    return forEachEvent(batch, () => {});
  } catch {
    return 0;
  }
}
