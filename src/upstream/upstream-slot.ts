import { EventEmitter } from 'node:events';
import { Backoff, checkBackoffOptions, type BackoffOptions } from '../util/backoff.js';
import type { PowHasher } from '../chain/hasher.js';
import { DashdConnection, type DashdConnectionOptions } from './dashd-connection.js';
import { dashdEntryProblems, isDashdEntry, sameDashdSettings } from './dashd-settings.js';
import { PoolConnection, type PoolConnectionOptions } from './pool-connection.js';
import type { PoolDownInfo, PoolSession, UpstreamLog } from './pool-session.js';
import { parsePoolUrl, type PoolEndpoint } from './pool-url.js';
import type { ExtranonceInfo, PoolConfig, SubmitResult, Upstream, UpstreamEvents, UpstreamSubmit } from './types.js';

/**
 * One logical upstream connection over an ORDERED list of pools. It connects to the first; when a session
 * fails it reconnects with backoff and, after `failoverAfter` failed attempts in a row (or at once when the
 * pool refuses the authorization), moves to the next pool. While on a lower-priority pool it probes the
 * higher-priority ones every `probeIntervalMs` with a separate connection, and switches back as soon as
 * one of them is healthy (subscribed and authorized): that probe session simply becomes the active one.
 *
 * Only the active connection's events come out. Nothing is left running after `stop()`.
 */

export interface SlotEvents extends UpstreamEvents {
  /**
   * A connection attempt is scheduled in `delayMs` (the backoff in action). `failures`: failed attempts in a
   * row on this pool so far (0 right after a failover or a pool's client.reconnect).
   */
  retry: [info: { pool: string; url: string; failures: number; delayMs: number; reason: string }];
}

export interface UpstreamSlotOptions {
  pools: PoolConfig[];
  /** Failed attempts in a row on one pool before moving to the next. Default 3. */
  failoverAfter?: number;
  /** How often a higher-priority pool is probed while on a lower one, milliseconds. Default 30000. */
  probeIntervalMs?: number;
  /** Time given to a pool we leave to answer the submits in flight, milliseconds. Default 5000. */
  switchGraceMs?: number;
  /** Reconnect delays. Default: base 1 s, max 60 s, factor 2, full jitter. */
  backoff?: BackoffOptions;
  /** Options for every pool session (timeouts, version rolling, line limit...). */
  connection?: Omit<PoolConnectionOptions, 'endpoint' | 'log'>;
  /** Worker names remembered for re-authorization after a reconnect (pass-through mode). Default 100000. */
  maxRememberedWorkers?: number;
  /** X11, for the dashd entries of the list (a dashd session judges shares itself): required when there is one. */
  hasher?: PowHasher;
  /** Options for every dashd session (RPC wait, block submit tries...). */
  dashd?: Omit<DashdConnectionOptions, 'hasher' | 'log'>;
  log?: UpstreamLog;
}

const NO_POOL: SubmitResult = { kind: 'unanswered', cause: 'no-pool', reason: 'no pool connection', latencyMs: 0 };

/** Defaults of the slot's options (the configuration's `upstream.*` defaults are these). */
export const SLOT_DEFAULTS = { failoverAfter: 3, probeIntervalMs: 30_000 };

/**
 * The rules of an ordered pool list, each problem naming its field (`pools[1].url: ...`), all at once: the
 * configuration reports them with its other problems, `checkPools` throws the first.
 */
export function poolListProblems(pools: unknown): { path: string; message: string }[] {
  if (!Array.isArray(pools) || pools.length === 0) return [{ path: 'pools', message: 'pools: at least one pool is required' }];
  const out: { path: string; message: string }[] = [];
  const problem = (path: string, what: string) => out.push({ path, message: `${path}: ${what}` });
  const names = new Set<string>();
  pools.forEach((p: unknown, i) => {
    const at = `pools[${i}]`;
    if (typeof p !== 'object' || p === null) return problem(at, 'must be an object with name, url, user and password');
    const pool = p as Record<string, unknown>;
    if (typeof pool.name !== 'string' || pool.name.trim() === '') problem(`${at}.name`, 'must be a non-empty string');
    else if (names.has(pool.name)) problem(`${at}.name`, `'${pool.name}' is used by another pool`);
    else names.add(pool.name);
    // The farm's own dashd: an RPC address and login, and its own settings (dashd-settings.ts).
    if (pool.dashd !== undefined) return out.push(...dashdEntryProblems(pool, at));
    if (typeof pool.url !== 'string') problem(`${at}.url`, 'must be a string');
    else {
      try {
        parsePoolUrl(pool.url);
      } catch (e) {
        const rpc = /^https?:\/\//i.test(pool.url) ? `; an http:// address is a dashd's: give the entry a "dashd" object (solo)` : '';
        problem(`${at}.url`, (e as Error).message + rpc);
      }
    }
    if (typeof pool.user !== 'string' || pool.user === '') problem(`${at}.user`, 'must be a non-empty string');
    if (typeof pool.password !== 'string') problem(`${at}.password`, 'must be a string');
    if (pool.tlsVerify !== undefined && typeof pool.tlsVerify !== 'boolean') problem(`${at}.tlsVerify`, 'must be true or false');
    if (pool.tlsCa !== undefined && typeof pool.tlsCa !== 'string') problem(`${at}.tlsCa`, 'must be PEM text');
  });
  return out;
}

/** Check the ordered pool list; throws an Error with its first problem (`pools[1].url: ...`). */
export function checkPools(pools: unknown): asserts pools is PoolConfig[] {
  const problems = poolListProblems(pools);
  if (problems.length > 0) throw new Error(problems[0]!.message);
}

export class UpstreamSlot extends EventEmitter<SlotEvents> implements Upstream {
  /** The ordered pool list in force (replaced by `setPools`). */
  get pools(): readonly PoolConfig[] {
    return this.poolList;
  }
  private poolList: PoolConfig[];
  private readonly failoverAfter: number;
  private readonly probeIntervalMs: number;
  private readonly switchGraceMs: number;
  private readonly maxRememberedWorkers: number;
  private readonly connectionOptions: Omit<PoolConnectionOptions, 'endpoint' | 'log'>;
  private readonly dashdOptions: Omit<DashdConnectionOptions, 'hasher' | 'log'>;
  private readonly hasher: PowHasher | null;
  private readonly log: UpstreamLog;
  private readonly backoff: Backoff;

  /** Index of the pool the slot is on (connected or trying). */
  private index = 0;
  /** Failed attempts in a row on the current pool. */
  private failures = 0;
  private active: PoolSession | null = null;
  private probe: PoolSession | null = null;
  private probeIndex = -1;
  private redirect: { index: number; endpoint: PoolEndpoint; waitMs: number } | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private probeTimer: NodeJS.Timeout | null = null;
  private started = false;
  private stopped = false;
  private readonly workers = new Map<string, string>();
  /** Every connection not yet down: active, probe, and ones being let go after a switch. */
  private readonly allConnections = new Set<PoolSession>();

  constructor(options: UpstreamSlotOptions) {
    super();
    checkPools(options.pools);
    this.hasher = options.hasher ?? null;
    this.checkHasher(options.pools);
    const positiveInt = (v: number | undefined, name: string, dflt: number): number => {
      if (v === undefined) return dflt;
      if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${String(v)}`);
      return v;
    };
    const positive = (v: number | undefined, name: string, dflt: number): number => {
      if (v === undefined) return dflt;
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number of milliseconds, got ${String(v)}`);
      return v;
    };
    this.poolList = options.pools.map((p) => ({ ...p }));
    this.failoverAfter = positiveInt(options.failoverAfter, 'failoverAfter', SLOT_DEFAULTS.failoverAfter);
    this.probeIntervalMs = positive(options.probeIntervalMs, 'probeIntervalMs', SLOT_DEFAULTS.probeIntervalMs);
    this.switchGraceMs = positive(options.switchGraceMs, 'switchGraceMs', 5_000);
    this.maxRememberedWorkers = positiveInt(options.maxRememberedWorkers, 'maxRememberedWorkers', 100_000);
    if (options.backoff) checkBackoffOptions(options.backoff);
    this.backoff = new Backoff(options.backoff);
    this.connectionOptions = { ...options.connection };
    this.dashdOptions = { ...options.dashd };
    this.log = options.log ?? (() => {});
  }

  // ---- public surface -------------------------------------------------------------------------------------

  // Plain generic signatures (Node's typed EventEmitter uses conditional types that do not line up with the
  // `Upstream` interface); same behaviour.
  override on<K extends keyof SlotEvents>(event: K, listener: (...args: SlotEvents[K]) => void): this {
    return super.on(event as never, listener as never);
  }
  override once<K extends keyof SlotEvents>(event: K, listener: (...args: SlotEvents[K]) => void): this {
    return super.once(event as never, listener as never);
  }
  override off<K extends keyof SlotEvents>(event: K, listener: (...args: SlotEvents[K]) => void): this {
    return super.off(event as never, listener as never);
  }

  get isReady(): boolean {
    return this.active?.isReady === true;
  }

  /** The pool serving now (null when none is up). */
  get current(): { name: string; url: string } | null {
    const c = this.active;
    return c?.isReady ? { name: c.pool.name, url: c.url } : null;
  }

  get extranonce(): ExtranonceInfo | null {
    return this.active?.isReady ? this.active.extranonce : null;
  }

  get versionMask(): number | null {
    return this.active?.isReady ? this.active.versionMask : null;
  }

  start(): void {
    if (this.stopped) throw new Error('upstream slot: start() after stop()');
    if (this.started) return;
    this.started = true;
    this.connect();
  }

  /** Close every connection and timer; pending submits resolve as lost. No events after this. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.clearReconnectTimer();
    this.clearProbeTimer();
    const all = [...this.allConnections];
    this.active = null;
    this.probe = null;
    for (const c of all) c.close('upstream stopped');
    await Promise.all(all.map((c) => c.closed));
    this.allConnections.clear();
  }

  /** Forward a share on the active connection; resolves at once with 'no pool connection' when none is up. */
  submit(share: UpstreamSubmit): Promise<SubmitResult> {
    const c = this.active;
    if (!c?.isReady) return Promise.resolve({ ...NO_POOL });
    return c.submit(share);
  }

  /**
   * Pass-through worker naming: authorize `name` on the current pool session. The name is remembered and
   * authorized again on every new session (reconnect, failover). Resolves false when no pool is up.
   */
  authorizeWorker(name: string, password: string): Promise<boolean> {
    if (this.workers.has(name) || this.workers.size < this.maxRememberedWorkers) this.workers.set(name, password);
    else this.log('warn', `upstream: more than ${this.maxRememberedWorkers} worker names; '${name}' will not be re-authorized after a reconnect`);
    const c = this.active;
    if (!c?.isReady) return Promise.resolve(false);
    return c.authorizeWorker(name, password);
  }

  /** Stop re-authorizing a worker name on new sessions. */
  forgetWorker(name: string): void {
    this.workers.delete(name);
  }

  /**
   * [hardening] Replace the ordered pool list while running (SIGHUP). The session in use is kept when its
   * pool is still in the list with the same settings (url, user, password, TLS): if it is still first,
   * nothing changes; if it moved down, a higher-priority pool is probed right away and takes over as soon
   * as it is healthy (no gap). When the pool in use was removed or its settings changed, its session is
   * retired (submits in flight get their answer within the switch grace) and the new first pool is
   * connected at once. Throws (nothing changed) when the list is invalid.
   */
  setPools(pools: PoolConfig[]): void {
    checkPools(pools);
    this.checkHasher(pools);
    const next = pools.map((p) => ({ ...p }));
    const old = this.poolList[this.index];
    this.poolList = next;
    this.redirect = null;
    if (!this.started || this.stopped) {
      this.index = 0;
      this.failures = 0;
      return;
    }
    // A probe belongs to the old order: drop it; probing restarts below.
    this.clearProbeTimer();
    if (this.probe) {
      const p = this.probe;
      this.probe = null;
      p.close('pool list changed');
    }
    const kept = old ? next.findIndex((p) => samePool(p, old)) : -1;
    if (kept >= 0) {
      const moved = kept !== this.index;
      this.index = kept;
      if (kept > 0 && moved) return this.runProbe(0);
      return this.updateProbing();
    }
    // The pool in use is gone (or changed): leave it now for the new first pool.
    const from = old?.name ?? null;
    const conn = this.active;
    this.active = null;
    this.index = 0;
    this.failures = 0;
    this.backoff.reset();
    this.clearReconnectTimer();
    const why = `pool ${from ?? '?'} is no longer in the configuration`;
    if (conn) {
      if (conn.isReady) this.emit('down', { pool: conn.pool.name, url: conn.url, reason: why });
      conn.retire(why, this.switchGraceMs);
    }
    if (this.stopped) return;
    const to = next[0]!.name;
    this.log('warn', `upstream: ${why}; switching to ${to}`);
    this.emit('switch', { from, to, reason: why });
    if (this.stopped) return;
    this.connect();
  }

  // ---- connections ------------------------------------------------------------------------------------------

  /** A dashd entry needs the hasher (its session judges shares itself). */
  private checkHasher(pools: PoolConfig[]): void {
    const i = pools.findIndex((p) => isDashdEntry(p));
    if (i >= 0 && this.hasher === null) throw new Error(`pools[${i}] (${pools[i]!.name}) is a dashd entry: the upstream slot needs the X11 hasher (options.hasher)`);
  }

  /** A session on the pool at `index`: a Stratum pool, or the farm's own dashd. */
  private newConnection(index: number, endpoint?: PoolEndpoint): PoolSession {
    const pool = this.pools[index]!;
    const conn: PoolSession = isDashdEntry(pool)
      ? new DashdConnection(pool, { ...this.dashdOptions, hasher: this.hasher!, log: this.log })
      : new PoolConnection(pool, { ...this.connectionOptions, ...(endpoint ? { endpoint } : {}), log: this.log });
    this.allConnections.add(conn);
    conn.on('ready', (info) => {
      if (this.stopped) return;
      if (conn === this.probe) return this.promote(conn, info);
      if (conn !== this.active) return;
      this.failures = 0;
      this.backoff.reset();
      this.emit('ready', info);
      this.reauthorizeWorkers(conn);
      this.updateProbing();
    });
    conn.on('job', (job) => {
      if (conn === this.active && !this.stopped) this.emit('job', job);
    });
    conn.on('jobRefused', (info) => {
      if (conn === this.active && !this.stopped) this.emit('jobRefused', info);
    });
    conn.on('fault', (info) => {
      if (conn === this.active && !this.stopped) this.emit('fault', info);
    });
    conn.on('extranonce', (info) => {
      if (conn === this.active && !this.stopped) this.emit('extranonce', info);
    });
    conn.on('versionMask', (mask) => {
      if (conn === this.active && !this.stopped) this.emit('versionMask', mask);
    });
    conn.on('message', (info) => {
      if (conn === this.active && !this.stopped) this.emit('message', info);
    });
    conn.on('reconnectRequested', (req) => {
      if (conn === this.active && !this.stopped) this.redirect = { index: this.index, endpoint: req.endpoint, waitMs: req.waitMs };
    });
    conn.on('down', (info) => {
      this.allConnections.delete(conn);
      if (this.stopped) return;
      if (conn === this.probe) return this.onProbeDown(info);
      if (conn === this.active) return this.onActiveDown(conn, info);
    });
    return conn;
  }

  private connect(): void {
    if (this.stopped) return;
    const redirect = this.redirect?.index === this.index ? this.redirect : null;
    this.redirect = null;
    const conn = this.newConnection(this.index, redirect?.endpoint);
    this.active = conn;
    conn.start();
  }

  private onActiveDown(conn: PoolSession, info: PoolDownInfo): void {
    this.active = null;
    this.emit('down', info);
    if (this.stopped) return;
    const pool = this.pools[this.index]!;

    if (info.cause === 'reconnect' && this.redirect) {
      // The pool asked for it: not a failure; wait what it said (bounded by the connection options). A pool
      // that sends us away before the session was even up gets the backoff too, so it cannot make us spin.
      this.failures = 0;
      const delay = conn.wasReady ? this.redirect.waitMs : Math.max(this.redirect.waitMs, this.backoff.next());
      this.scheduleConnect(delay, info.reason);
      return this.updateProbing();
    }

    this.failures = conn.wasReady ? 1 : this.failures + 1;
    // [hardening] A pool fault fails over at once, like a refused authorization: the pool refused us, or
    // after the session was up it stopped answering submits / went silent / sent no usable job in time
    // ('timeout'), or sent unreadable lines or only unusable jobs ('protocol'; the session's judge of its jobs
    // is pool-health.ts). A dropped connection or a failed connect is retried on the same pool first (network
    // trouble passes). With one pool: backoff only.
    // A dashd that is still syncing (or whose payout address or login is refused) fails over at once too, and
    // one whose template fails our checks even before its session was up: there is no work to wait for.
    const fault =
      info.cause === 'auth' ||
      info.cause === 'syncing' ||
      ((conn.wasReady || isDashdEntry(conn.pool)) && (info.cause === 'timeout' || info.cause === 'protocol'));
    if (this.pools.length > 1 && (fault || this.failures >= this.failoverAfter)) {
      const from = pool.name;
      this.index = (this.index + 1) % this.pools.length;
      this.failures = 0;
      const why = fault ? info.reason : `${this.failoverAfter} failed attempt${this.failoverAfter === 1 ? '' : 's'} in a row (last: ${info.reason})`;
      const to = this.pools[this.index]!.name;
      this.log('warn', `upstream: failing over from ${from} to ${to}: ${why}`);
      this.emit('switch', { from, to, reason: `pool ${from}: ${why}` });
      // Another pool: no reason to wait (the backoff keeps growing until a session succeeds, so a full
      // round of dead pools still slows down).
      this.scheduleConnect(0, why);
    } else {
      this.scheduleConnect(this.backoff.next(), info.reason);
    }
    this.updateProbing();
  }

  private scheduleConnect(delayMs: number, reason: string): void {
    this.clearReconnectTimer();
    const pool = this.pools[this.index]!;
    this.emit('retry', { pool: pool.name, url: pool.url, failures: this.failures, delayMs, reason });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delayMs);
  }

  // ---- probing higher-priority pools ----------------------------------------------------------------------

  /** Keep exactly one probe schedule while on a lower-priority pool, none otherwise. */
  private updateProbing(): void {
    if (this.stopped) return;
    if (this.probe && this.probeIndex >= this.index) {
      const p = this.probe;
      this.probe = null;
      p.close('probe no longer needed');
    }
    if (this.index === 0) {
      this.clearProbeTimer();
      return;
    }
    if (this.probe || this.probeTimer) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = null;
      this.runProbe(0);
    }, this.probeIntervalMs);
  }

  private runProbe(candidate: number): void {
    if (this.stopped || candidate >= this.index) return this.updateProbing();
    this.probeIndex = candidate;
    const conn = this.newConnection(candidate);
    this.probe = conn;
    this.log('debug', `upstream: probing ${this.pools[candidate]!.name}`);
    conn.start();
  }

  private onProbeDown(info: PoolDownInfo): void {
    const tried = this.probeIndex;
    this.probe = null;
    this.log('debug', `upstream: probe of ${info.pool} failed: ${info.reason}`);
    if (tried + 1 < this.index) {
      // Next candidate in priority order, outside this call stack.
      this.probeTimer = setTimeout(() => {
        this.probeTimer = null;
        this.runProbe(tried + 1);
      }, 0);
      return;
    }
    this.updateProbing();
  }

  /** A probe to a higher-priority pool is subscribed and authorized: it becomes the active session. */
  private promote(conn: PoolSession, info: SlotEvents['ready'][0]): void {
    const from = this.pools[this.index]!.name;
    const old = this.active;
    this.probe = null;
    this.index = this.probeIndex;
    this.failures = 0;
    this.backoff.reset();
    this.redirect = null;
    this.clearReconnectTimer();
    this.active = conn;
    if (old) {
      old.retire(`switched back to ${conn.pool.name}`, this.switchGraceMs);
    }
    const to = conn.pool.name;
    this.log('info', `upstream: switching back from ${from} to ${to}`);
    this.emit('switch', { from, to, reason: `higher-priority pool ${to} is healthy again` });
    if (conn !== this.active || this.stopped) return; // a listener stopped us
    this.emit('ready', info);
    this.reauthorizeWorkers(conn);
    this.updateProbing();
  }

  private reauthorizeWorkers(conn: PoolSession): void {
    for (const [name, password] of this.workers) {
      void conn.authorizeWorker(name, password).then((ok) => {
        if (!ok && conn.isReady) this.log('warn', `upstream: worker '${name}' not authorized on ${conn.pool.name}`);
      });
    }
  }

  private clearReconnectTimer(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  private clearProbeTimer(): void {
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = null;
  }
}

/** The same pool with the same settings (a changed url, login, TLS or dashd setting makes it another pool). */
function samePool(a: PoolConfig, b: PoolConfig): boolean {
  return (
    a.name === b.name &&
    a.url === b.url &&
    a.user === b.user &&
    a.password === b.password &&
    (a.tlsVerify ?? true) === (b.tlsVerify ?? true) &&
    (a.tlsCa ?? '') === (b.tlsCa ?? '') &&
    sameDashdSettings(a.dashd, b.dashd)
  );
}
