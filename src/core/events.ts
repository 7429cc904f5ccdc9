import { EventEmitter } from 'node:events';
import type { RejectReason } from '../stratum/errors.js';
import type { BlockSubmission, PoolVerdict } from '../upstream/types.js';

// The pool's verdict is defined where it is produced (the upstream); observers read it from here.
export { BLOCK_SUBMIT_RESULTS, NO_VERDICT_CAUSES, type BlockSubmission, type BlockSubmitResult, type NoVerdictCause, type PoolVerdict } from '../upstream/types.js';

/**
 * Where a submitted block stands on dashd's best chain, as the block watcher last saw it: `in-chain` (on the
 * best chain, `confirmations` deep), `chainlocked` (a ChainLock covers it: final), `mature` (100
 * confirmations without a ChainLock: final), `orphaned` (no longer on the best chain, or dashd does not know
 * it: final, its reward is lost).
 */
export type BlockStatus = 'in-chain' | 'chainlocked' | 'mature' | 'orphaned';
export const BLOCK_STATUSES: readonly BlockStatus[] = ['in-chain', 'chainlocked', 'mature', 'orphaned'];

/**
 * Which route of the routing (src/routing/) and which of its targets a device, a share or an upstream
 * connection belongs to. A target is one ordered pool list with its own credentials and its own upstream
 * connections; the top-level `pools` list is the target 'default' of the route 'default'.
 */
export interface RoutePlace {
  route: string;
  target: string;
}

/**
 * Where a share went upstream: the route and target, the upstream connection (the proxy's index for it,
 * unique across targets: 0, 1, ...) and the pool that connection was on when the share was sent.
 */
export interface UpstreamPlace extends RoutePlace {
  connection: number;
  pool: string;
}

/**
 * How a device's time is divided among its route's targets: `whole` (it mines on one target, the one its
 * last `device.route` names) or `sliced` (it mines on each target in turn, `fraction` of its time on each;
 * the fractions sum to 1). `wholeBecause` says why a device the split would have time-sliced is kept whole
 * (e.g. 'pass-through worker mode'); absent on a device that is whole because the split puts it whole.
 */
export type DeviceSplit = { kind: 'whole'; wholeBecause?: string } | { kind: 'sliced'; slices: readonly { target: string; fraction: number }[] };

/**
 * The typed event stream: the proxy core emits, observers (the farm ledger, metrics, the websocket feed,
 * webhooks, logs) listen. Observers never call back into the proxy, so data keeps flowing one way.
 *
 * Shares: every submit ends in exactly one of `share.rejected` (refused locally) or `share.accepted` (met
 * the device's target). An accepted share the proxy sends toward the pool is then `share.forwarded`, and
 * every forwarded share later gets exactly one `share.upstream` with the pool's verdict (or why there was
 * none). `block.candidate` follows `share.accepted` for a share meeting the network's target.
 */
export interface ProxyEventMap {
  'device.connected': { sessionId: number; ip: string; at: number };
  'device.authorized': { sessionId: number; worker: string; ip: string; at: number };
  'device.disconnected': { sessionId: number; worker: string | null; ip: string; reason: string; at: number };
  /**
   * The device now mines for `target` of `route`: its first placement after authorizing, or a move
   * (`reason`: a rebalance by measured hashrate, a time slice, a fallback, a reload).
   */
  'device.route': RoutePlace & { sessionId: number; worker: string; reason: string; at: number };
  /**
   * The device's split on its route changed (see DeviceSplit). A device starts whole, so this is emitted only
   * when a plan slices it, keeps it whole against the plan's wish (`wholeBecause`), changes its fractions, or
   * makes it plainly whole again; each switch between its slices is a `device.route` with reason 'slice'.
   */
  'device.split': { sessionId: number; worker: string; route: string; at: number } & DeviceSplit;
  'device.difficulty': { sessionId: number; worker: string; difficulty: number; at: number };
  /**
   * A share that met the device's target, credited to the route and target of the job it was mined on (the
   * channel that job came from: after a move, a share of the old target's job still counts for the old one).
   */
  'share.accepted': RoutePlace & {
    sessionId: number;
    worker: string;
    ip: string;
    /** Difficulty credited to the device (its target). Work = sum of these. */
    difficulty: number;
    /** Difficulty the hash actually achieved. */
    shareDifficulty: number;
    meetsPool: boolean;
    meetsNetwork: boolean;
    at: number;
  };
  'share.rejected': { sessionId: number; worker: string | null; ip: string; reason: RejectReason; code: number; message: string; at: number };
  /**
   * An accepted share sent toward the pool (it met the pool's or the network's target). `shareId` (a
   * per-process counter) ties it to its `share.upstream`; the pool's job, the credited difficulty, the
   * share's own difficulty and, for a block candidate, its hash are what the books record.
   */
  'share.forwarded': UpstreamPlace & {
    sessionId: number;
    worker: string;
    shareId: number;
    jobId: string;
    difficulty: number;
    shareDifficulty: number;
    /** The network's difficulty of the job it was mined on (the books value work by it for PPS). */
    networkDifficulty: number;
    blockHash: string | null;
    at: number;
  };
  /** The pool's verdict on a forwarded share (or why it gave none), on the route it was forwarded on. */
  'share.upstream': UpstreamPlace & { sessionId: number; worker: string; shareId: number; verdict: PoolVerdict; latencyMs: number; at: number };
  'block.candidate': { sessionId: number; worker: string; pool: string; jobId: string; hash: string; shareDifficulty: number; networkDifficulty: number; at: number };
  /**
   * Solo (a dashd upstream): the block candidate share `shareId` was assembled into a block and sent with
   * `submitblock`; dashd's answer. Emitted with that share's `share.upstream`.
   */
  'block.submitted': UpstreamPlace & BlockSubmission & { sessionId: number; worker: string; shareId: number; at: number };
  /** A submitted block's place on dashd's best chain changed (see BlockStatus); `reason` in words. */
  'block.status': { pool: string; hash: string; height: number; status: BlockStatus; confirmations: number; chainlock: boolean; reason: string; at: number };
  /** Upstream connection `connection` (of `target` of `route`) is subscribed and authorized on `pool`. */
  'pool.up': RoutePlace & { connection: number; pool: string; url: string; at: number };
  'pool.down': RoutePlace & { connection: number; pool: string; url: string; reason: string; at: number };
  /** Connection `connection` now mines on `to` (from null: its first pool). */
  'pool.switch': RoutePlace & { connection: number; from: string | null; to: string; reason: string; at: number };
  /** The pool's version-rolling mask on connection `connection`. */
  'pool.version-mask': RoutePlace & { connection: number; pool: string; mask: number; at: number };
  /** The proxy now has `count` upstream connections (indexes 0 .. count-1). */
  'pool.connections': { count: number; at: number };
  'job.fanout': { jobId: string; clean: boolean; devices: number; seconds: number; at: number };
  'limit.refused': { cause: string; ip: string; at: number };
  /**
   * With workers (`start --workers N`), emitted by the primary only: worker `worker` (0 .. N-1) runs as process
   * `pid`, its `incarnation`-th fork host-wide (1, 2, 3, ...; its session and share ids start at
   * incarnation * 2**32 + 1), with this open-files limit (null: unlimited, or not known without /proc).
   */
  'worker.started': { worker: number; pid: number; incarnation: number; openFiles: { soft: number | null; hard: number | null }; at: number };
  /**
   * Worker `worker` (process `pid`) exited with `code` or by `signal`, holding `devices` open device
   * connections (they reconnect to the other workers); it is started again in `restartInMs`, or null when it
   * is not restarted (the host is stopping).
   */
  'worker.exited': { worker: number; pid: number; code: number | null; signal: string | null; devices: number; restartInMs: number | null; at: number };
}

export type ProxyEventName = keyof ProxyEventMap;
export type ProxyEvent<K extends ProxyEventName = ProxyEventName> = ProxyEventMap[K];

/** Each event name once (a name missing here or not in ProxyEventMap does not compile). */
const EVENT_NAME_SET: Record<ProxyEventName, true> = {
  'device.connected': true,
  'device.authorized': true,
  'device.disconnected': true,
  'device.route': true,
  'device.split': true,
  'device.difficulty': true,
  'share.accepted': true,
  'share.rejected': true,
  'share.forwarded': true,
  'share.upstream': true,
  'block.candidate': true,
  'block.submitted': true,
  'block.status': true,
  'pool.up': true,
  'pool.down': true,
  'pool.switch': true,
  'pool.version-mask': true,
  'pool.connections': true,
  'job.fanout': true,
  'limit.refused': true,
  'worker.started': true,
  'worker.exited': true,
};

/** Every event name of ProxyEventMap (for a listener of them all: the relay of a worker's events). */
export const PROXY_EVENT_NAMES: readonly ProxyEventName[] = Object.freeze(Object.keys(EVENT_NAME_SET) as ProxyEventName[]);

export class EventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(100);
  }

  on<K extends ProxyEventName>(name: K, listener: (event: ProxyEventMap[K]) => void): () => void {
    this.emitter.on(name, listener);
    return () => this.emitter.off(name, listener);
  }

  emit<K extends ProxyEventName>(name: K, event: ProxyEventMap[K]): void {
    // A failing observer must never break the share path.
    try {
      this.emitter.emit(name, event);
    } catch (err) {
      process.emitWarning(`observer of ${name} threw: ${(err as Error).message}`);
    }
  }
}
