import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { EventBus } from '../observe/events.js';
import { silentLogger, type Logger } from '../observe/log.js';
import { DEFAULT_MAX_LINE_BYTES } from '../stratum/framing.js';
import { normalizeIp, Session, type SessionHost } from './session.js';

/**
 * The device-facing Stratum server (TCP, or TLS when a certificate is given). It accepts connections within
 * the limits, makes one Session per device, and closes devices that never finish the handshake or go silent.
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
  /** Optional check of the remote address (CIDR allow-list): return a reason to refuse, or null. */
  checkAddress?: (ip: string) => string | null;
}

export class DeviceServer {
  readonly sessions = new Set<Session>();
  private readonly server: net.Server;
  private readonly perIp = new Map<string, number>();
  private readonly opts: Required<Omit<DeviceServerOptions, 'tls' | 'checkAddress'>> & Pick<DeviceServerOptions, 'tls' | 'checkAddress'>;
  private sweepTimer: NodeJS.Timeout | null = null;
  private nextId = 1;
  /** Causes already logged, so a flood is logged once per cause and counted in metrics, not logged per packet. */
  private readonly loggedCauses = new Set<string>();
  accepting = true;

  constructor(
    options: DeviceServerOptions,
    private readonly host: SessionHost,
    private readonly bus: EventBus,
    private readonly log: Logger = silentLogger,
  ) {
    this.opts = {
      host: options.host,
      port: options.port,
      tls: options.tls,
      checkAddress: options.checkAddress,
      maxDevices: options.maxDevices ?? 20_000,
      maxConnectionsPerIp: options.maxConnectionsPerIp ?? 20_000,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 30_000,
      idleTimeoutMs: options.idleTimeoutMs ?? 600_000,
      maxLineBytes: options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
      maxWriteBufferBytes: options.maxWriteBufferBytes ?? 256 * 1024,
    };
    const onSocket = (socket: net.Socket) => this.onConnection(socket);
    this.server = this.opts.tls ? tls.createServer({ cert: this.opts.tls.cert, key: this.opts.tls.key }, onSocket) : net.createServer(onSocket);
    this.server.on('error', (err) => this.log.error('device server error', { error: err.message }));
    if (this.opts.tls) {
      this.server.on('tlsClientError', (err: Error) => this.refusedOnce('tls', 'unknown', `TLS handshake failed: ${err.message}`));
    }
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port: this.opts.port, host: this.opts.host, backlog: 4096 }, () => {
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

  /** Stop accepting new devices (shutdown); existing sessions stay. */
  async stopAccepting(): Promise<void> {
    this.accepting = false;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async close(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.accepting = false;
    for (const s of this.sessions) s.close('proxy shutting down');
    await new Promise<void>((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }

  private onConnection(socket: net.Socket): void {
    const ip = normalizeIp(socket.remoteAddress);
    const refuse = (cause: string, message: string) => {
      this.refusedOnce(cause, ip, message);
      socket.destroy();
    };
    if (!this.accepting) return refuse('shutting_down', 'proxy is shutting down');
    const addressRefusal = this.opts.checkAddress?.(ip);
    if (addressRefusal) return refuse('address', addressRefusal);
    if (this.sessions.size >= this.opts.maxDevices) return refuse('max_devices', `device limit reached (${this.opts.maxDevices})`);
    const fromIp = this.perIp.get(ip) ?? 0;
    if (fromIp >= this.opts.maxConnectionsPerIp) return refuse('max_per_ip', `connection limit per address reached (${this.opts.maxConnectionsPerIp})`);
    this.perIp.set(ip, fromIp + 1);

    const id = this.nextId++;
    const host = this.host;
    const session = new Session(
      id,
      socket,
      {
        subscribe: (s) => host.subscribe(s),
        authorize: (s, u, p) => host.authorize(s, u, p),
        submit: (s, p) => host.submit(s, p),
        versionMask: (m) => host.versionMask(m),
        suggestDifficulty: (s, d) => host.suggestDifficulty(s, d),
        ready: (s) => host.ready(s),
        closed: (s, reason) => {
          this.sessions.delete(s);
          const n = (this.perIp.get(s.ip) ?? 1) - 1;
          if (n <= 0) this.perIp.delete(s.ip);
          else this.perIp.set(s.ip, n);
          host.closed(s, reason);
        },
      },
      { maxLineBytes: this.opts.maxLineBytes, maxWriteBufferBytes: this.opts.maxWriteBufferBytes },
    );
    this.sessions.add(session);
    this.bus.emit('device.connected', { sessionId: id, ip, at: Date.now() });
  }

  private refusedOnce(cause: string, ip: string, message: string): void {
    this.bus.emit('limit.refused', { cause, ip, at: Date.now() });
    if (this.loggedCauses.has(cause)) return;
    this.loggedCauses.add(cause);
    this.log.warn('refusing devices', { cause, message, ip, note: 'logged once per cause; see dash_proxy_refused_total' });
  }

  private sweep(): void {
    const now = Date.now();
    for (const s of this.sessions) {
      if (s.state !== 'authorized' && now - s.connectedAt > this.opts.handshakeTimeoutMs) {
        this.refusedOnce('handshake_timeout', s.ip, `no subscribe/authorize within ${this.opts.handshakeTimeoutMs} ms`);
        s.close('handshake timeout');
      } else if (now - s.lastActivity > this.opts.idleTimeoutMs) {
        this.refusedOnce('idle_timeout', s.ip, `silent for ${this.opts.idleTimeoutMs} ms`);
        s.close('idle timeout');
      }
    }
  }
}
