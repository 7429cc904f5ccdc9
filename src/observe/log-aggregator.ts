import type { RejectReason } from '../stratum/errors.js';
import type { EventBus, ProxyEventMap } from '../core/events.js';
import { PROXY_WORKER_FIELD, type Logger } from '../core/log.js';
import { realTimers, type Timers } from '../util/timers.js';
import { formatExitCause, formatSpan } from '../util/format.js';
import { statusText, submittedText } from './found-blocks.js';

/**
 * Logs for a farm of thousands of devices: per-device noise (rejected shares, connects and disconnects,
 * refusals by the device server's limits) is counted and written as a few summary lines every `intervalSeconds`:
 *
 *   37 shares rejected in the last 60 s (of 5012): 30 stale (12 devices: rig1, rig2, ...), 7 duplicate (rig3)
 *   120 devices connected, 3 disconnected in the last 60 s (2 idle timeout, 1 closed by peer)
 *   250 refusals in the last 60 s: 200 max_connections_per_ip, 50 handshake_timeout
 *
 *   pool main still down: 5 failed reconnects in the last 60 s (last: connect ECONNREFUSED)
 *
 * while what a person must see at once is logged at once: block candidates, solo blocks (each block sent to
 * dashd with its answer: accepted at info, rejected or unanswered at error; each change of its place on the
 * best chain: orphaned at warn, the others at info), pool changes (down, up again,
 * switch: the changes, not every failed reconnect), a refusal whose cause was not seen before, and worker
 * processes (`start --workers N`) that exit or are started again (a worker's first start is its own log's).
 * A quiet interval logs nothing.
 *
 * The bus listeners only count; the lines are built on the interval's timer.
 */

export interface LogAggregatorOptions {
  /** Summary period (default 60 s). */
  intervalSeconds?: number;
  /** Device names shown per reason (default 5). */
  maxNames?: number;
  /** Log block candidates, solo blocks, pool changes, new refusal causes and worker exits and restarts at once (default true for each). */
  immediate?: { blocks?: boolean; soloBlocks?: boolean; pools?: boolean; refusals?: boolean; workers?: boolean };
  timers?: Timers;
}

/** Distinct devices counted per reason and interval at most (memory bound); beyond it the count is a floor. */
const MAX_TRACKED_DEVICES = 100_000;

interface ReasonTally {
  shares: number;
  devices: Set<string>;
  names: string[];
}

export class LogAggregator {
  private readonly intervalMs: number;
  private readonly maxNames: number;
  private readonly immediate: { blocks: boolean; soloBlocks: boolean; pools: boolean; refusals: boolean; workers: boolean };
  private readonly timers: Timers;
  private readonly subscriptions: (() => void)[] = [];
  private timer: unknown = null;
  private windowStart = 0;

  private accepted = 0;
  private readonly rejected = new Map<RejectReason, ReasonTally>();
  private connections = 0;
  private authorized = 0;
  private disconnected = 0;
  private closedBeforeAuthorize = 0;
  private readonly disconnectReasons = new Map<string, number>();
  private readonly refused = new Map<string, number>();
  private readonly seenCauses = new Set<string>();
  private blocks = 0;
  /** Each placed device's target now (to name a move's from and to), and the moves of the interval. */
  private readonly targetOf = new Map<number, string>();
  private readonly moveReasons = new Map<string, number>();
  private readonly movePaths = new Map<string, number>();
  /** Pools down (since when); failed reconnects while down are counted, not logged one by one. */
  private readonly poolsDown = new Map<string, { since: number; retries: number; lastReason: string }>();
  /**
   * Workers that died and are being started again (their next worker.started is "back"). Kept from their
   * exits, not from their first starts: a host's workers start before the summaries are subscribed.
   */
  private readonly workersRestarting = new Set<number>();

  constructor(
    private readonly bus: EventBus,
    private readonly log: Logger,
    opts: LogAggregatorOptions = {},
  ) {
    const seconds = opts.intervalSeconds ?? 60;
    if (!(seconds > 0) || !Number.isFinite(seconds)) throw new RangeError(`intervalSeconds must be a positive number, got ${seconds}`);
    this.intervalMs = seconds * 1000;
    this.maxNames = opts.maxNames ?? 5;
    this.immediate = { blocks: opts.immediate?.blocks ?? true, soloBlocks: opts.immediate?.soloBlocks ?? true, pools: opts.immediate?.pools ?? true, refusals: opts.immediate?.refusals ?? true, workers: opts.immediate?.workers ?? true };
    this.timers = opts.timers ?? realTimers;
  }

  start(): void {
    if (this.subscriptions.length > 0) return;
    const on = this.subscriptions;
    const bus = this.bus;
    on.push(bus.on('share.accepted', () => void this.accepted++));
    on.push(bus.on('share.rejected', (e) => this.countRejected(e.reason, e.worker ?? e.ip)));
    on.push(bus.on('device.connected', () => void this.connections++));
    on.push(bus.on('device.authorized', () => void this.authorized++));
    on.push(
      bus.on('device.disconnected', (e) => {
        this.targetOf.delete(e.sessionId);
        if (e.worker === null) {
          this.closedBeforeAuthorize++;
          return;
        }
        this.disconnected++;
        this.disconnectReasons.set(e.reason, (this.disconnectReasons.get(e.reason) ?? 0) + 1);
      }),
    );
    on.push(
      bus.on('limit.refused', (e) => {
        this.refused.set(e.cause, (this.refused.get(e.cause) ?? 0) + 1);
        if (this.seenCauses.has(e.cause)) return;
        this.seenCauses.add(e.cause);
        if (this.immediate.refusals) this.log.warn(`refusing devices: ${e.cause} (first time; counted in the summaries from now on)`, { cause: e.cause, ip: e.ip });
      }),
    );
    on.push(
      bus.on('block.candidate', (e) => {
        this.blocks++;
        if (this.immediate.blocks) {
          this.log.warn(`block candidate from ${e.worker}: ${e.hash}`, { worker: e.worker, hash: e.hash, pool: e.pool, jobId: e.jobId, shareDifficulty: e.shareDifficulty, networkDifficulty: e.networkDifficulty });
        }
      }),
    );
    if (this.immediate.soloBlocks) {
      on.push(
        bus.on('block.submitted', (e) => {
          const fields = { pool: e.pool, worker: e.worker, hash: e.hash, height: e.height, result: e.result, reason: e.reason, reward: e.reward, payoutAddress: e.payoutAddress, route: e.route, target: e.target };
          if (e.result === 'accepted' || e.result === 'inconclusive') this.log.info(submittedText(e), fields);
          else this.log.error(submittedText(e), fields);
        }),
      );
      on.push(
        bus.on('block.status', (e) => {
          const fields = { pool: e.pool, hash: e.hash, height: e.height, status: e.status, confirmations: e.confirmations, chainlock: e.chainlock };
          if (e.status === 'orphaned') this.log.warn(statusText(e), fields);
          else this.log.info(statusText(e), fields);
        }),
      );
    }
    on.push(bus.on('device.route', (e) => this.onRoute(e.sessionId, e.target, e.reason)));
    on.push(bus.on('pool.up', (e) => this.onPoolUp(e.pool, e.url)));
    on.push(bus.on('pool.down', (e) => this.onPoolDown(e.pool, e.url, e.reason)));
    if (this.immediate.pools) {
      on.push(
        bus.on('pool.switch', (e) =>
          e.from === null ? this.log.info(`mining on pool ${e.to}`, { pool: e.to }) : this.log.warn(`pool switch ${e.from} → ${e.to}: ${e.reason}`, { from: e.from, to: e.to, reason: e.reason }),
        ),
      );
    }
    if (this.immediate.workers) {
      on.push(bus.on('worker.exited', (e) => this.onWorkerExited(e)));
      on.push(
        bus.on('worker.started', (e) => {
          if (this.workersRestarting.delete(e.worker)) this.log.info(`worker ${e.worker} is back (pid ${e.pid})`, { [PROXY_WORKER_FIELD]: e.worker, pid: e.pid, incarnation: e.incarnation, openFiles: e.openFiles });
        }),
      );
    }
    this.windowStart = this.timers.now();
    this.schedule();
  }

  /** Stop listening; the last (partial) interval is summarized. */
  stop(): void {
    for (const off of this.subscriptions.splice(0)) off();
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    this.flush();
  }

  /** Write the summary of the interval so far (nothing when it was quiet) and start a new one. */
  flush(now = this.timers.now()): void {
    const seconds = Math.max(1, Math.round((now - this.windowStart) / 1000));
    this.windowStart = now;
    this.flushRejected(seconds);
    this.flushDevices(seconds);
    this.flushRefused(seconds);
    this.flushPools(seconds);
    this.flushMoves(seconds);
    this.accepted = 0;
    this.blocks = 0;
  }

  /** A device placed (its first target: nothing to tell) or moved between targets (counted by reason and path). */
  private onRoute(sessionId: number, target: string, reason: string): void {
    const from = this.targetOf.get(sessionId);
    this.targetOf.set(sessionId, target);
    if (from === undefined || from === target) return;
    this.moveReasons.set(reason, (this.moveReasons.get(reason) ?? 0) + 1);
    const path = `${from} → ${target}`;
    this.movePaths.set(path, (this.movePaths.get(path) ?? 0) + 1);
  }

  /** One line for the interval's moves between routing targets: how many, why, from where to where. */
  private flushMoves(seconds: number): void {
    if (this.moveReasons.size === 0) return;
    const total = [...this.moveReasons.values()].reduce((a, b) => a + b, 0);
    const byReason = Object.fromEntries(this.moveReasons);
    const byPath = Object.fromEntries([...this.movePaths.entries()].sort((a, b) => b[1] - a[1]));
    const why = Object.entries(byReason).map(([r, n]) => `${r} ${n}`).join(', ');
    const where = Object.entries(byPath).map(([p, n]) => `${p} ${n}`).join(', ');
    this.log.info(`routing: ${plural(total, 'device move')} in the last ${seconds} s (${why}): ${where}`, { windowSeconds: seconds, moves: total, byReason, byPath });
    this.moveReasons.clear();
    this.movePaths.clear();
  }

  private onWorkerExited(e: ProxyEventMap['worker.exited']): void {
    const fields = { [PROXY_WORKER_FIELD]: e.worker, pid: e.pid, code: e.code, signal: e.signal, devices: e.devices, restartInMs: e.restartInMs };
    const how = formatExitCause(e);
    // No restart planned: the host is stopping, and this is one of its workers done.
    if (e.restartInMs === null) return this.log.info(`worker ${e.worker} (pid ${e.pid}) exited (${how})`, fields);
    this.workersRestarting.add(e.worker);
    const devices = `${plural(e.devices, 'device')} ${e.devices === 1 ? 'reconnects' : 'reconnect'} to the other workers`;
    this.log.warn(`worker ${e.worker} (pid ${e.pid}) died (${how}); ${devices}; restarting in ${formatSpan(e.restartInMs)}`, fields);
  }

  private onPoolDown(pool: string, url: string, reason: string): void {
    const down = this.poolsDown.get(pool);
    if (down) {
      down.retries++;
      down.lastReason = reason;
      return;
    }
    this.poolsDown.set(pool, { since: this.timers.now(), retries: 0, lastReason: reason });
    if (this.immediate.pools) this.log.warn(`pool ${pool} is down: ${reason}`, { pool, url, reason });
  }

  private onPoolUp(pool: string, url: string): void {
    const down = this.poolsDown.get(pool);
    this.poolsDown.delete(pool);
    if (!this.immediate.pools) return;
    if (down) this.log.info(`pool ${pool} is up again after ${Math.round((this.timers.now() - down.since) / 1000)} s`, { pool, url });
    else this.log.info(`pool ${pool} is up`, { pool, url });
  }

  private flushPools(seconds: number): void {
    for (const [pool, down] of this.poolsDown) {
      if (down.retries === 0) continue;
      this.log.warn(`pool ${pool} still down: ${plural(down.retries, 'failed reconnect')} in the last ${seconds} s (last: ${down.lastReason})`, {
        pool,
        windowSeconds: seconds,
        failedReconnects: down.retries,
        lastReason: down.lastReason,
        downSeconds: Math.round((this.timers.now() - down.since) / 1000),
      });
      down.retries = 0;
    }
  }

  private countRejected(reason: RejectReason, name: string): void {
    let r = this.rejected.get(reason);
    if (!r) {
      r = { shares: 0, devices: new Set(), names: [] };
      this.rejected.set(reason, r);
    }
    r.shares++;
    if (!r.devices.has(name) && r.devices.size < MAX_TRACKED_DEVICES) {
      r.devices.add(name);
      if (r.names.length < this.maxNames) r.names.push(name);
    }
  }

  private flushRejected(seconds: number): void {
    if (this.rejected.size === 0) return;
    let total = 0;
    const byReason: Record<string, { shares: number; devices: number; names: string[] }> = {};
    const parts: string[] = [];
    for (const [reason, r] of [...this.rejected.entries()].sort((a, b) => b[1].shares - a[1].shares)) {
      total += r.shares;
      byReason[reason] = { shares: r.shares, devices: r.devices.size, names: r.names };
      const more = r.devices.size > r.names.length ? ', ...' : '';
      const who = r.devices.size === 1 ? r.names[0] : `${r.devices.size} devices: ${r.names.join(', ')}${more}`;
      parts.push(`${r.shares} ${reason.replace('_', ' ')} (${who})`);
    }
    this.rejected.clear();
    const of = this.accepted > 0 ? ` (of ${this.accepted + total})` : '';
    this.log.info(`${plural(total, 'share')} rejected in the last ${seconds} s${of}: ${parts.join(', ')}`, { windowSeconds: seconds, rejected: total, accepted: this.accepted, byReason });
  }

  private flushDevices(seconds: number): void {
    if (this.authorized === 0 && this.disconnected === 0 && this.closedBeforeAuthorize === 0) {
      this.connections = 0;
      return;
    }
    const reasons = [...this.disconnectReasons.entries()].sort((a, b) => b[1] - a[1]);
    const why = reasons.length > 0 ? ` (${reasons.map(([r, n]) => `${n} ${r}`).join(', ')})` : '';
    const early = this.closedBeforeAuthorize > 0 ? `; ${plural(this.closedBeforeAuthorize, 'connection')} closed before authorizing` : '';
    this.log.info(`${plural(this.authorized, 'device')} connected, ${this.disconnected} disconnected in the last ${seconds} s${why}${early}`, {
      windowSeconds: seconds,
      connections: this.connections,
      authorized: this.authorized,
      disconnected: this.disconnected,
      closedBeforeAuthorize: this.closedBeforeAuthorize,
      disconnectReasons: Object.fromEntries(reasons),
    });
    this.connections = 0;
    this.authorized = 0;
    this.disconnected = 0;
    this.closedBeforeAuthorize = 0;
    this.disconnectReasons.clear();
  }

  private flushRefused(seconds: number): void {
    if (this.refused.size === 0) return;
    const causes = [...this.refused.entries()].sort((a, b) => b[1] - a[1]);
    const total = causes.reduce((n, [, c]) => n + c, 0);
    this.log.warn(`${plural(total, 'refusal')} in the last ${seconds} s: ${causes.map(([c, n]) => `${n} ${c}`).join(', ')}`, {
      windowSeconds: seconds,
      refused: total,
      causes: Object.fromEntries(causes),
    });
    this.refused.clear();
  }

  private schedule(): void {
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      this.flush();
      if (this.subscriptions.length > 0) this.schedule();
    }, this.intervalMs);
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
