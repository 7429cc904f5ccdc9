import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { EventBus } from '../core/events.js';
import { silentLogger, type Logger } from '../core/log.js';
import { numberProblem, type NumberRule } from '../util/number-rule.js';
import { DEFAULT_MAX_LINE_BYTES } from '../stratum/framing.js';
import { ProxyGate, type ProxyProtocolSettings } from './proxy-gate.js';
import { DEFAULT_MAX_PENDING_REPLIES, DEFAULT_MAX_WORKERS_PER_SESSION, END_GRACE_MS, Session, type MiningHost, type SessionHost, type SessionLimits } from './session.js';

/**
 * The device-facing Stratum server (TCP, or TLS when a certificate is given). It accepts connections within
 * the limits, does what is socket-specific (no Nagle delay, keepalive, the remote address), makes one Session
 * per device over its socket, and closes devices that never finish the handshake or go silent. Mining
 * requests go to the mining host (the proxy core); the connection's lifecycle (closed, limited, failed) is
 * handled here, and the mining host hears `disconnected` once a device is gone.
 *
 * Every refusal (a limit, an address not allowed, a slow reader, a flood) emits `limit.refused` {cause, ip}
 * (exported as `dash_proxy_connections_refused_total{cause}`) and is logged once per cause, not per packet.
 * Causes: shutting_down, address, max_devices, max_per_ip, tls, handshake_timeout, idle_timeout, submit_rate,
 * line_too_long, write_buffer, pending_replies, workers_per_connection, authorize_refused (credentials not on
 * the allow-list, a wrong password, or a worker the pool refused), and with the PROXY protocol on
 * (src/downstream/proxy-gate.ts) proxy_untrusted, proxy_malformed, proxy_unsupported, proxy_truncated,
 * proxy_missing.
 *
 * Behind a load balancer (`proxyProtocol` optional or required) the header is read before the Session
 * exists, and the client's address it carries is the device's address for everything after: the CIDR check,
 * the per-address limit, every event's `ip`. With TLS the header comes first, then the TLS handshake.
 *
 * Limits can change while running (`updateLimits`, `setAddressCheck`: SIGHUP); devices already connected
 * are never dropped by a change, the new values apply to what they do next (and, for the line length and
 * the per-address count, to new connections).
 */
export interface DeviceServerOptions {
  host: string;
  port: number;
  tls?: { cert: string | Buffer; key: string | Buffer } | undefined;
  maxDevices?: number;
  maxConnectionsPerIp?: number;
  /** Time a device has to subscribe and authorize. */
  handshakeTimeoutMs?: number;
  /** A device that sends nothing for this long is closed. */
  idleTimeoutMs?: number;
  maxLineBytes?: number;
  maxWriteBufferBytes?: number;
  /** Submits per second per device (average; bursts of twice that pass). */
  submitsPerSecond?: number;
  /** Requests of one device waiting behind an unanswered one before it is dropped. Default 1000. */
  maxPendingReplies?: number;
  /** Distinct worker names one connection may authorize. Default 64. */
  maxWorkersPerSession?: number;
  /** Optional check of the remote address (CIDR allow-list): return a reason to refuse, or null. */
  checkAddress?: ((ip: string) => string | null) | undefined;
  /** The PROXY protocol (behind a load balancer); absent or mode 'off': none. */
  proxyProtocol?: ProxyProtocolSettings | undefined;
  /** The first session's id (default 1): a cluster worker starts at its incarnation's own range (src/cluster/), unique host-wide. */
  firstSessionId?: number;
}

/** The limits that can change at run time. */
export type DeviceLimits = Required<Omit<DeviceServerOptions, 'host' | 'port' | 'tls' | 'checkAddress' | 'proxyProtocol' | 'firstSessionId'>>;

export const DEFAULT_DEVICE_LIMITS: DeviceLimits = {
  maxDevices: 20_000,
  maxConnectionsPerIp: 20_000,
  handshakeTimeoutMs: 30_000,
  idleTimeoutMs: 600_000,
  maxLineBytes: DEFAULT_MAX_LINE_BYTES,
  maxWriteBufferBytes: 256 * 1024,
  submitsPerSecond: 50,
  maxPendingReplies: DEFAULT_MAX_PENDING_REPLIES,
  maxWorkersPerSession: DEFAULT_MAX_WORKERS_PER_SESSION,
};

/**
 * What each limit may be, written once: the server checks its options with these, and the configuration's
 * schema is made from them (times in seconds there). A line shorter than 512 bytes would cut real miners'
 * subscribe and submit lines; a write buffer under 4 KiB would drop a device for one job.
 */
export const DEVICE_LIMIT_RULES: Record<keyof DeviceLimits, NumberRule> = {
  maxDevices: { int: true, min: 1 },
  maxConnectionsPerIp: { int: true, min: 1 },
  handshakeTimeoutMs: { positive: true, max: 3_600_000 },
  idleTimeoutMs: { positive: true },
  maxLineBytes: { int: true, min: 512, max: 16 * 1024 * 1024 },
  maxWriteBufferBytes: { int: true, min: 4096 },
  submitsPerSecond: { positive: true },
  maxPendingReplies: { int: true, min: 1 },
  maxWorkersPerSession: { int: true, min: 1 },
};

/** Check limit values; throws a RangeError naming the field and the value. */
export function checkDeviceLimits(limits: Partial<DeviceLimits>): void {
  for (const [key, value] of Object.entries(limits)) {
    if (value === undefined) continue;
    if (!(key in DEVICE_LIMIT_RULES)) throw new RangeError(`${key}: not a device limit`);
    const problem = numberProblem(key, value, DEVICE_LIMIT_RULES[key as keyof DeviceLimits]);
    if (problem !== null) throw new RangeError(problem);
  }
}

export class DeviceServer {
  readonly sessions = new Set<Session>();
  private readonly server: net.Server;
  private readonly perIp = new Map<string, number>();
  private readonly limitsNow: DeviceLimits;
  /** Shared with every session: updating it changes the limits of live sessions at once. */
  private readonly sessionLimits: SessionLimits;
  private checkAddress: ((ip: string) => string | null) | undefined;
  /** With the PROXY protocol on: reads each connection's header first (null: off). */
  private readonly proxyGate: ProxyGate | null = null;
  /** With the PROXY protocol and TLS: the TLS handshake follows the header, on the raw socket. */
  private readonly secureContext: tls.SecureContext | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private nextId: number;
  /** Causes already logged, so a flood is logged once per cause and counted in metrics, not logged per packet. */
  private readonly loggedCauses = new Set<string>();
  /** Internal errors already logged (bounded), by message. */
  private readonly loggedFailures = new Set<string>();
  accepting = true;
  /** What every session calls back: one object for all of them (per-connection closures cost memory at farm scale). */
  private readonly sessionHost: SessionHost;

  constructor(
    private readonly options: DeviceServerOptions,
    private readonly host: MiningHost,
    private readonly bus: EventBus,
    private readonly log: Logger = silentLogger,
  ) {
    const given = Object.fromEntries(Object.entries(options).filter(([k, v]) => v !== undefined && k in DEFAULT_DEVICE_LIMITS)) as Partial<DeviceLimits>;
    checkDeviceLimits(given);
    this.limitsNow = { ...DEFAULT_DEVICE_LIMITS, ...given };
    this.sessionLimits = {
      maxLineBytes: this.limitsNow.maxLineBytes,
      maxWriteBufferBytes: this.limitsNow.maxWriteBufferBytes,
      submitsPerSecond: this.limitsNow.submitsPerSecond,
      maxPendingReplies: this.limitsNow.maxPendingReplies,
      maxWorkersPerSession: this.limitsNow.maxWorkersPerSession,
    };
    this.checkAddress = options.checkAddress;
    this.nextId = options.firstSessionId ?? 1;
    this.sessionHost = {
      subscribe: (s) => this.host.subscribe(s),
      authorize: (s, u, p) => this.host.authorize(s, u, p),
      submit: (s, p) => this.host.submit(s, p),
      versionMask: (s, m) => this.host.versionMask(s, m),
      suggestDifficulty: (s, d) => this.host.suggestDifficulty(s, d),
      ready: (s) => this.host.ready(s),
      closed: (s, reason) => {
        this.sessions.delete(s);
        const n = (this.perIp.get(s.ip) ?? 1) - 1;
        if (n <= 0) this.perIp.delete(s.ip);
        else this.perIp.set(s.ip, n);
        this.host.disconnected(s, reason);
      },
      limited: (s, cause) => this.refusedOnce(cause, s.ip, `device ${s.worker ?? s.ip} hit the ${cause} limit`),
      failed: (s, error, method) => this.failedOnce(s, error, method),
    };
    const onSocket = (socket: net.Socket) => this.onConnection(socket);
    const proxyProtocol = options.proxyProtocol;
    if (proxyProtocol !== undefined && proxyProtocol.mode !== 'off') {
      try {
        this.proxyGate = new ProxyGate(proxyProtocol.mode, proxyProtocol.trustedProxies, {
          admitted: (socket, ip) => this.afterProxyHeader(socket, normalizeIp(ip)),
          refused: (socket, cause, ip, message) => this.refuse(socket, cause, ip, message),
          timeoutMs: () => this.limitsNow.handshakeTimeoutMs,
        });
      } catch (err) {
        throw new Error(`listen.trustedProxies: ${(err as Error).message}`);
      }
      if (options.tls) {
        try {
          this.secureContext = tls.createSecureContext({ cert: options.tls.cert, key: options.tls.key });
        } catch (err) {
          throw new Error(`listen.tls: the certificate or key cannot be used: ${(err as Error).message}`);
        }
      }
      this.server = net.createServer((socket) => this.beforeProxyHeader(socket));
    } else if (options.tls) {
      try {
        this.server = tls.createServer({ cert: options.tls.cert, key: options.tls.key, handshakeTimeout: Math.min(this.limitsNow.handshakeTimeoutMs, 120_000) }, onSocket);
      } catch (err) {
        throw new Error(`listen.tls: the certificate or key cannot be used: ${(err as Error).message}`);
      }
    } else {
      this.server = net.createServer(onSocket);
    }
    this.server.on('error', (err) => this.log.error('device server error', { error: err.message }));
    if (options.tls) {
      this.server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => this.refusedOnce('tls', normalizeIp(socket?.remoteAddress), `TLS handshake failed: ${err.message}`));
    }
  }

  /** The limits in force. */
  get limits(): Readonly<DeviceLimits> {
    return this.limitsNow;
  }

  /**
   * Change limits while running (validated first; nothing changes when one value is bad). Live sessions
   * follow at once; no device is dropped by the change itself.
   */
  updateLimits(limits: Partial<DeviceLimits>): void {
    checkDeviceLimits(limits);
    for (const [key, value] of Object.entries(limits) as [keyof DeviceLimits, number | undefined][]) {
      if (value === undefined) continue;
      this.limitsNow[key] = value;
      if (key in this.sessionLimits) this.sessionLimits[key as keyof SessionLimits] = value;
    }
  }

  /** Replace the trusted proxies of the PROXY protocol (validated first); applies to new connections. */
  setTrustedProxies(trustedProxies: readonly string[]): void {
    this.proxyGate?.setTrustedProxies(trustedProxies);
  }

  /** Replace the address check (CIDR allow-list); undefined lets every address in. Applies to new connections. */
  setAddressCheck(check: ((ip: string) => string | null) | undefined): void {
    this.checkAddress = check;
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port: this.options.port, host: this.options.host, backlog: 4096 }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.sweepTimer = setInterval(() => this.sweep(), 1000);
    this.sweepTimer.unref();
    return this.server.address() as AddressInfo;
  }

  get address(): AddressInfo | null {
    return (this.server.address() as AddressInfo | null) ?? null;
  }

  /**
   * Stop accepting new devices (shutdown); existing sessions stay. Returns at once: the listening socket
   * is closed now (net.Server's own close callback would wait for every device to leave).
   */
  async stopAccepting(): Promise<void> {
    this.accepting = false;
    if (this.server.listening) this.server.close();
  }

  /** End every session (queued bytes such as client.reconnect still go out, bounded) and close the server. */
  async close(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.accepting = false;
    this.proxyGate?.closeAll();
    const sockets = [...this.sessions].map((s) => s.stream);
    for (const s of [...this.sessions]) s.end('proxy shutting down');
    if (this.server.listening) this.server.close();
    // Every session socket is destroyed at the latest END_GRACE_MS after end(); wait for that, bounded.
    await Promise.race([
      Promise.all(sockets.map((s) => (s.closed ? Promise.resolve() : new Promise<void>((resolve) => s.once('close', () => resolve()))))),
      new Promise<void>((resolve) => setTimeout(resolve, END_GRACE_MS + 500).unref()),
    ]);
  }

  /** PROXY protocol on: a new connection presents its header first (the gate calls back). */
  private beforeProxyHeader(socket: net.Socket): void {
    // Reset before it was accepted (a balancer's probe): no address to judge, nothing to count.
    if (socket.remoteAddress === undefined) {
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    const peer = normalizeIp(socket.remoteAddress);
    if (!this.accepting) return this.refuse(socket, 'shutting_down', peer, 'proxy is shutting down');
    this.proxyGate!.admit(socket, peer);
  }

  /** The header said who the device is: its TLS handshake if any, then the device's checks and Session. */
  private afterProxyHeader(socket: net.Socket, ip: string): void {
    if (this.secureContext === null) {
      this.onConnection(socket, ip);
      socket.resume();
      return;
    }
    const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: this.secureContext });
    const timeoutMs = Math.min(this.limitsNow.handshakeTimeoutMs, 120_000);
    const failed = (message: string) => {
      clearTimeout(timer);
      this.refuse(secure, 'tls', ip, message);
    };
    const timer = setTimeout(() => failed(`TLS handshake not finished within ${timeoutMs} ms`), timeoutMs);
    timer.unref();
    const onError = (err: Error) => failed(`TLS handshake failed: ${err.message}`);
    secure.once('error', onError);
    secure.once('secure', () => {
      clearTimeout(timer);
      secure.off('error', onError);
      this.onConnection(secure, ip);
    });
  }

  /** Count and log a refused connection (once per cause), and close it. */
  private refuse(socket: net.Socket, cause: string, ip: string, message: string): void {
    this.refusedOnce(cause, ip, message);
    socket.on('error', () => {});
    socket.destroy();
  }

  /** A device connected from `ip` (its socket's address, or the client's from a PROXY header). */
  private onConnection(socket: net.Socket, ip = normalizeIp(socket.remoteAddress)): void {
    const refuse = (cause: string, message: string) => this.refuse(socket, cause, ip, message);
    const limits = this.limitsNow;
    if (!this.accepting) return refuse('shutting_down', 'proxy is shutting down');
    const addressRefusal = this.checkAddress?.(ip);
    if (addressRefusal) return refuse('address', addressRefusal);
    if (this.sessions.size >= limits.maxDevices) return refuse('max_devices', `device limit reached (${limits.maxDevices})`);
    const fromIp = this.perIp.get(ip) ?? 0;
    if (fromIp >= limits.maxConnectionsPerIp) return refuse('max_per_ip', `connection limit per address reached (${limits.maxConnectionsPerIp})`);
    this.perIp.set(ip, fromIp + 1);

    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    const id = this.nextId++;
    const session = new Session(id, socket, ip, this.sessionHost, this.sessionLimits);
    this.sessions.add(session);
    this.bus.emit('device.connected', { sessionId: id, ip, at: Date.now() });
  }

  private refusedOnce(cause: string, ip: string, message: string): void {
    this.bus.emit('limit.refused', { cause, ip, at: Date.now() });
    if (this.loggedCauses.has(cause)) return;
    this.loggedCauses.add(cause);
    this.log.warn('refusing devices', { cause, message, ip, note: 'logged once per cause; counted in dash_proxy_connections_refused_total' });
  }

  private failedOnce(session: Session, error: Error, method: string): void {
    const key = `${method}: ${error.message}`;
    if (this.loggedFailures.has(key) || this.loggedFailures.size >= 100) return;
    this.loggedFailures.add(key);
    this.log.error('internal error while handling a device request (the device got error 20; logged once per message)', {
      method: method.slice(0, 64),
      error: error.message,
      stack: error.stack,
      worker: session.worker,
      ip: session.ip,
    });
  }

  private sweep(): void {
    const now = Date.now();
    const { handshakeTimeoutMs, idleTimeoutMs } = this.limitsNow;
    for (const s of this.sessions) {
      if (s.state !== 'authorized' && now - s.connectedAt > handshakeTimeoutMs) {
        this.refusedOnce('handshake_timeout', s.ip, `no subscribe/authorize within ${handshakeTimeoutMs} ms`);
        s.close('handshake timeout');
      } else if (now - s.lastActivity > idleTimeoutMs) {
        this.refusedOnce('idle_timeout', s.ip, `silent for ${idleTimeoutMs} ms`);
        s.close('idle timeout');
      }
    }
  }
}

/** `::ffff:1.2.3.4` -> `1.2.3.4`. */
export function normalizeIp(addr: string | undefined): string {
  if (!addr) return 'unknown';
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}
