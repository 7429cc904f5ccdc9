import type http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { BUCKET_SECONDS, type ConnectionRecord, type DeviceView, type FarmEvent, type FarmLedger, type FarmSummary, type OwnerView, type PoolRecord, type RouteView } from './farm-ledger.js';
import type { FoundBlock } from './found-blocks.js';
import type { HttpServer } from './http-server.js';
import { BOOKS_OFF, type PayoutsView } from './owner-payouts.js';
import type { Logger } from '../core/log.js';

/**
 * The dashboard's live feed: a websocket on the proxy's HTTP port (path `/ws`), JSON text frames.
 *
 *   on connect   {type:'snapshot', at, summary, pools, connections, owners:[OwnerView...], payouts:PayoutsView,
 *                 routes:[RouteView...], blocks:[FoundBlock...], devices:[DeviceView...], events:[FarmEvent...]}
 *   every tick   {type:'delta', at, summary, pools, connections, owners, payouts, routes, [blocks,] devices:[changed DeviceViews],
 *                 removed:[worker...], events:[new FarmEvents]}
 * `blocks`: the FEED_BLOCKS most recent solo blocks (found-blocks.ts), newest first; in a delta only when
 * they changed since the previous tick (a block sent to dashd, or its place on the best chain).
 * (owners and routes are few: every message carries all of them, as it does the pools, and each owner's
 * last payout from the books: `payouts` (owner-payouts.ts), read in the background, `books: false` when
 * none are kept.)
 *
 * A delta is built and serialized once per tick and the same bytes are written to every client. What
 * changed is found from the ledger's device version, compared with what the previous tick saw: one farm-wide
 * table, never per client. A hashrate also drifts without events (its window moves on by whole buckets,
 * a young device's average spans its life so far); those drifts are picked up when the bucket changes,
 * so a quiet device's hashrate is at most one bucket (10 s) behind rather than resent every second.
 *
 * Slow clients cannot grow the proxy's memory: a client whose socket buffer (ws `bufferedAmount`) is above
 * `skipAboveBytes` is sent nothing and marked stale; once it has drained it gets a fresh snapshot instead
 * of the deltas it missed (coalescing). A client whose buffer stays above `closeAboveBytes` for longer
 * than `closeAfterMs` is closed (1013 "try again later") and its socket destroyed shortly after, since a
 * client that does not read will not read the close frame either. So one client holds at most about
 * skipAboveBytes + one frame, and there are at most `maxClients`.
 *
 * Access: the same read-only token as the HTTP routes (`?token=` or `Authorization: Bearer`), and the
 * Origin header must be the page's own host (the Host header) or one of `allowedOrigins`; a request
 * without an Origin header is not from a browser page and is let through (the token still applies).
 *
 * Shutdown: call `close()` before HttpServer.close(): upgraded sockets are no longer HTTP connections,
 * so the HTTP server would otherwise wait for them.
 */

export interface FeedOptions {
  /** Websocket path (default `/ws`). Other paths are refused with 404. */
  path?: string;
  /** Delta period in ms (default 1000). */
  intervalMs?: number;
  /** Origins allowed besides the page's own host, e.g. `https://farm.example.com` (config `http.allowedOrigins`). */
  allowedOrigins?: readonly string[];
  /** Most clients at once (default 64); more are refused with 503. */
  maxClients?: number;
  /** Largest client->server message (default 1024 bytes); the feed expects none. */
  maxPayloadBytes?: number;
  /** A client whose buffer is above this is skipped and will get a snapshot when it drains (default 1 MiB). */
  skipAboveBytes?: number;
  /** A client whose buffer stays above this ... (default: skipAboveBytes) */
  closeAboveBytes?: number;
  /** ... for longer than this is closed (default 10 s). */
  closeAfterMs?: number;
  /** After a close frame, a client that has not closed within this is destroyed (default 2 s). */
  closeGraceMs?: number;
  /** Ping period; a client that did not answer the previous ping is dropped (default 30 s, 0: off). */
  heartbeatMs?: number;
  /** Farm events included in a snapshot (default 100). */
  recentEvents?: number;
  /** Each owner's last payout from the books (owner-payouts.ts); absent: the proxy keeps no books. */
  payouts?: { view(): PayoutsView };
  now?: () => number;
  log?: Logger;
}

export interface FeedStats {
  clients: number;
  ticks: number;
  /** Frames (snapshots and deltas) written to clients. */
  framesSent: number;
  snapshotsSent: number;
  /** Deltas not written to a client because its buffer was full. */
  framesSkipped: number;
  /** Clients closed because they did not keep up. */
  slowClosed: number;
  /** Upgrade requests refused (path, token, origin, capacity). */
  refused: number;
  lastTick: { changed: number; removed: number; events: number; bytes: number; buildMs: number } | null;
}

export interface Feed {
  readonly wss: WebSocketServer;
  stats(): FeedStats;
  /** Per-client socket buffer state (for tests and diagnostics). */
  clientStates(): { bufferedAmount: number; stale: boolean; overLimitForMs: number }[];
  /** Run one tick now (tests, benchmarks). */
  tick(): void;
  close(): Promise<void>;
}

export interface SnapshotMessage {
  type: 'snapshot';
  at: number;
  summary: FarmSummary;
  pools: PoolRecord[];
  connections: ConnectionRecord[];
  owners: OwnerView[];
  payouts: PayoutsView;
  routes: RouteView[];
  blocks: FoundBlock[];
  devices: DeviceView[];
  events: FarmEvent[];
}

export interface DeltaMessage {
  type: 'delta';
  at: number;
  summary: FarmSummary;
  pools: PoolRecord[];
  connections: ConnectionRecord[];
  owners: OwnerView[];
  payouts: PayoutsView;
  routes: RouteView[];
  /** Present when the recent blocks changed since the previous tick. */
  blocks?: FoundBlock[];
  devices: DeviceView[];
  removed: string[];
  events: FarmEvent[];
}

export type FeedMessage = SnapshotMessage | DeltaMessage;

/** WebSocket close codes used (RFC 6455 section 7.4.1 and the IANA registry). */
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_TRY_AGAIN_LATER = 1013;

/** Solo blocks in a snapshot (and a delta that has them), newest first. */
export const FEED_BLOCKS = 20;

/** New farm events held between two ticks at most; older ones are dropped from the delta (the log keeps them). */
const MAX_PENDING_EVENTS = 500;

interface ClientState {
  /** Missed at least one delta: send a snapshot next instead of a delta. */
  stale: boolean;
  /** Since when (performance.now()) the buffer has been above closeAboveBytes (null: it is not). */
  overSince: number | null;
  closing: boolean;
  alive: boolean;
}

/** What the previous tick saw of one worker. */
interface SeenDevice {
  version: number;
  hashrate: number;
  tick: number;
}

export function attachFeed(httpServer: HttpServer, ledger: FarmLedger, opts: FeedOptions = {}): Feed {
  const path = opts.path ?? '/ws';
  const intervalMs = opts.intervalMs ?? 1000;
  const maxClients = opts.maxClients ?? 64;
  const skipAbove = opts.skipAboveBytes ?? 1 << 20;
  const closeAbove = opts.closeAboveBytes ?? skipAbove;
  const closeAfterMs = opts.closeAfterMs ?? 10_000;
  const closeGraceMs = opts.closeGraceMs ?? 2000;
  const heartbeatMs = opts.heartbeatMs ?? 30_000;
  const recentEvents = opts.recentEvents ?? 100;
  const now = opts.now ?? Date.now;
  const log = opts.log;
  const payouts = () => opts.payouts?.view() ?? BOOKS_OFF;
  const allowedOrigins = normalizeOrigins(opts.allowedOrigins ?? []);

  const counters: Omit<FeedStats, 'clients'> = { ticks: 0, framesSent: 0, snapshotsSent: 0, framesSkipped: 0, slowClosed: 0, refused: 0, lastTick: null };
  const clients = new Map<WebSocket, ClientState>();
  const seen = new Map<string, SeenDevice>();
  let pendingEvents: FarmEvent[] = [];
  let tickNo = 0;
  let lastBucket = -1;
  /** The recent blocks' version the previous tick saw (a delta carries them when it moved). */
  let blocksVersion = ledger.blocks.version;
  /** The snapshot built since the last tick, shared by every client that needs one until the next tick. */
  let snapshotCache: Buffer | null = null;
  let closed = false;

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxPayloadBytes ?? 1024,
    perMessageDeflate: false,
    clientTracking: false,
    verifyClient: (info, done) => {
      const refusal = checkUpgrade(info.req);
      if (refusal) {
        counters.refused++;
        done(false, refusal.status, refusal.message);
      } else {
        done(true);
      }
    },
  });

  function checkUpgrade(req: http.IncomingMessage): { status: number; message: string } | null {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return { status: 400, message: 'bad request URL' };
    }
    if (url.pathname !== path) return { status: 404, message: `no websocket at ${url.pathname}` };
    if (!httpServer.authorized(req, url)) return { status: 401, message: 'token required' };
    const origin = req.headers.origin;
    if (origin !== undefined && !originAllowed(origin, req.headers.host, allowedOrigins)) {
      return { status: 403, message: `origin not allowed: ${origin.slice(0, 200)}` };
    }
    if (closed) return { status: 503, message: 'shutting down' };
    if (clients.size >= maxClients) return { status: 503, message: `too many dashboard clients (limit ${maxClients})` };
    return null;
  }

  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws));
  };
  httpServer.server.on('upgrade', onUpgrade);

  const unsubscribe = ledger.onEvent((e) => {
    pendingEvents.push(e);
    if (pendingEvents.length > MAX_PENDING_EVENTS) pendingEvents.splice(0, pendingEvents.length - MAX_PENDING_EVENTS);
  });

  function onConnection(ws: WebSocket): void {
    // Checked again: several upgrades may have passed verifyClient before any completed.
    if (closed || clients.size >= maxClients) {
      ws.close(CLOSE_TRY_AGAIN_LATER, 'too many dashboard clients');
      return;
    }
    const state: ClientState = { stale: false, overSince: null, closing: false, alive: true };
    clients.set(ws, state);
    ws.on('close', () => clients.delete(ws));
    ws.on('error', () => ws.terminate());
    ws.on('pong', () => (state.alive = true));
    // The feed is one-way; anything a client says is ignored (maxPayload bounds it).
    send(ws, snapshot(), true);
  }

  function send(ws: WebSocket, frame: Buffer, isSnapshot: boolean): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    // A Buffer is framed without copying, so every client shares the same bytes.
    ws.send(frame, { binary: false });
    counters.framesSent++;
    if (isSnapshot) counters.snapshotsSent++;
  }

  function snapshot(): Buffer {
    if (snapshotCache) return snapshotCache;
    const at = now();
    const devices: DeviceView[] = [];
    ledger.forEachDevice((slot, worker) => {
      devices.push(ledger.view(slot, at));
      // A worker no tick has seen yet: count it as seen now, so that if it is forgotten before the next
      // tick this client is told (removed); version -1 still puts it in the next delta for the others.
      if (!seen.has(worker)) seen.set(worker, { version: -1, hashrate: -1, tick: tickNo });
    });
    // Events still pending will come in the next delta; leave them out here so none is shown twice.
    const logged = ledger.events.length - Math.min(pendingEvents.length, ledger.events.length);
    const events = ledger.events.slice(Math.max(0, logged - recentEvents), logged);
    const message: SnapshotMessage = { type: 'snapshot', at, summary: ledger.summary(at), pools: poolList(), connections: ledger.connections(), owners: ledger.ownerList(at), payouts: payouts(), routes: ledger.routeList(at), blocks: ledger.blocks.recent(FEED_BLOCKS), devices, events };
    snapshotCache = Buffer.from(JSON.stringify(message));
    return snapshotCache;
  }

  function poolList(): PoolRecord[] {
    return ledger.poolList();
  }

  /** Compare the farm with the previous tick; returns the changed views and forgotten workers. */
  function diff(at: number, wanted: boolean): { devices: DeviceView[]; removed: string[] } {
    tickNo++;
    const bucket = Math.floor(at / 1000 / BUCKET_SECONDS);
    const bucketMoved = bucket !== lastBucket;
    lastBucket = bucket;
    const devices: DeviceView[] = [];
    ledger.forEachDevice((slot, worker) => {
      let prev = seen.get(worker);
      let changed = false;
      const version = ledger.version(slot);
      if (!prev) {
        prev = { version, hashrate: ledger.hashrate(slot, at), tick: tickNo };
        seen.set(worker, prev);
        changed = true;
      } else if (prev.version !== version) {
        prev.version = version;
        prev.hashrate = ledger.hashrate(slot, at);
        changed = true;
      } else if (bucketMoved) {
        // The window moved on: the hashrate may have changed without any event.
        const hashrate = ledger.hashrate(slot, at);
        changed = hashrate !== prev.hashrate;
        prev.hashrate = hashrate;
      }
      prev.tick = tickNo;
      if (changed && wanted) devices.push(ledger.view(slot, at));
    });
    // Every current worker is in `seen` now; any extra entry is a worker the ledger forgot.
    const removed: string[] = [];
    if (seen.size !== ledger.deviceCount) {
      for (const [worker, s] of seen) {
        if (s.tick !== tickNo) {
          seen.delete(worker);
          removed.push(worker);
        }
      }
    }
    return { devices, removed };
  }

  function tick(): void {
    if (closed) return;
    const started = performance.now();
    const at = now();
    counters.ticks++;
    snapshotCache = null;
    const events = pendingEvents;
    pendingEvents = [];
    const wanted = clients.size > 0;
    const { devices, removed } = diff(at, wanted);
    // Seen even with no client: one connecting later gets the blocks in its snapshot.
    const blocksMoved = ledger.blocks.version !== blocksVersion;
    blocksVersion = ledger.blocks.version;
    if (!wanted) {
      counters.lastTick = { changed: devices.length, removed: removed.length, events: events.length, bytes: 0, buildMs: performance.now() - started };
      return;
    }
    const message: DeltaMessage = {
      type: 'delta',
      at,
      summary: ledger.summary(at),
      pools: poolList(),
      connections: ledger.connections(),
      owners: ledger.ownerList(at),
      payouts: payouts(),
      routes: ledger.routeList(at),
      ...(blocksMoved ? { blocks: ledger.blocks.recent(FEED_BLOCKS) } : {}),
      devices,
      removed,
      events,
    };
    const frame = Buffer.from(JSON.stringify(message));
    counters.lastTick = { changed: devices.length, removed: removed.length, events: events.length, bytes: frame.length, buildMs: performance.now() - started };

    for (const [ws, state] of clients) {
      if (state.closing || ws.readyState !== WebSocket.OPEN) continue;
      const buffered = ws.bufferedAmount;
      if (buffered > closeAbove) {
        const since = performance.now();
        state.overSince ??= since;
        if (since - state.overSince >= closeAfterMs) {
          closeSlow(ws, state, buffered);
          continue;
        }
      } else {
        state.overSince = null;
      }
      if (buffered > skipAbove) {
        state.stale = true;
        counters.framesSkipped++;
        continue;
      }
      if (state.stale) {
        state.stale = false;
        send(ws, snapshot(), true);
      } else {
        send(ws, frame, false);
      }
    }
  }

  function closeSlow(ws: WebSocket, state: ClientState, buffered: number): void {
    state.closing = true;
    counters.slowClosed++;
    log?.warn('dashboard client too slow, closing it', { bufferedBytes: buffered, seconds: closeAfterMs / 1000 });
    ws.close(CLOSE_TRY_AGAIN_LATER, 'client too slow: reconnect');
    // It is not reading, so it will not read the close frame either: drop the socket and its buffer.
    setTimeout(() => ws.terminate(), closeGraceMs).unref();
  }

  function heartbeat(): void {
    for (const [ws, state] of clients) {
      if (!state.alive) {
        ws.terminate();
        continue;
      }
      state.alive = false;
      ws.ping();
    }
  }

  // Learn the farm as it is now, so the first delta carries only what changes from here on.
  diff(now(), false);

  const timer = setInterval(() => {
    try {
      tick();
    } catch (err) {
      log?.error('dashboard feed tick failed', { error: (err as Error).message });
    }
  }, intervalMs);
  timer.unref();
  const pingTimer = heartbeatMs > 0 ? setInterval(heartbeat, heartbeatMs) : null;
  pingTimer?.unref();

  return {
    wss,
    stats: () => ({ clients: clients.size, ...counters, lastTick: counters.lastTick && { ...counters.lastTick } }),
    clientStates: () =>
      [...clients].map(([ws, s]) => ({ bufferedAmount: ws.bufferedAmount, stale: s.stale, overLimitForMs: s.overSince === null ? 0 : performance.now() - s.overSince })),
    tick,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      if (pingTimer) clearInterval(pingTimer);
      unsubscribe();
      httpServer.server.off('upgrade', onUpgrade);
      snapshotCache = null;
      const closing = [...clients.keys()].map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (ws.readyState === WebSocket.CLOSED) return resolve();
            ws.once('close', () => resolve());
            ws.close(CLOSE_GOING_AWAY, 'proxy shutting down');
            setTimeout(() => ws.terminate(), closeGraceMs).unref();
          }),
      );
      await Promise.all(closing);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** Origins as `scheme://host[:port]`, lower case, default port dropped (what browsers send). */
function normalizeOrigins(list: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const o of list) {
    let url: URL;
    try {
      url = new URL(o);
    } catch {
      throw new Error(`http.allowedOrigins: "${o}" is not an origin like https://farm.example.com`);
    }
    if (url.origin === 'null') throw new Error(`http.allowedOrigins: "${o}" is not an http(s) origin`);
    out.add(url.origin);
  }
  return out;
}

/**
 * May a page from `origin` open the feed? Yes when it is served by this very host (the Host header the
 * browser sent, as a reverse proxy passes it on) or is listed. Origins are compared after URL
 * normalization (case, default ports).
 */
export function originAllowed(origin: string, host: string | undefined, allowed: ReadonlySet<string>): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  if (allowed.has(url.origin)) return true;
  if (!host) return false;
  try {
    return new URL(`${url.protocol}//${host}`).host === url.host;
  } catch {
    return false;
  }
}
