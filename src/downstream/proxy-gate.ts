import type net from 'node:net';
import { CidrSet } from './access.js';
import { readProxyHeader } from './proxy-protocol.js';

/**
 * The PROXY protocol on the device port: before a device's Session exists, read the header a trusted load
 * balancer puts in front of its bytes and hand the connection on with the client's real address. The parsing
 * is src/downstream/proxy-protocol.ts (pure); this is the socket side: collect the first bytes, judge them,
 * time out, give the bytes after the header back to the socket.
 *
 * Modes: `optional` takes a header from a trusted proxy and a connection without one (from anyone, with its
 * own address); `required` takes only connections from a trusted proxy that start with a header. A header
 * LOCAL (the balancer's own health check), UNKNOWN, UNSPEC or UNIX carries no client address: the
 * balancer's own is used. Refusal causes (`limit.refused`): proxy_untrusted (a header from a peer outside
 * `listen.trustedProxies`, or with `required` any connection from such a peer), proxy_malformed,
 * proxy_unsupported (a version 2 version, command, family or transport we do not know), proxy_truncated
 * (closed or timed out in the middle of a header), proxy_missing (`required`, and the trusted peer's first
 * bytes are not a header). A connection that sends nothing before the timeout is a handshake_timeout; one
 * that closes having sent nothing is simply gone (a port probe: not a device, nothing counted).
 */
export const PROXY_PROTOCOL_MODES = ['off', 'optional', 'required'] as const;
export type ProxyProtocolMode = (typeof PROXY_PROTOCOL_MODES)[number];

export interface ProxyProtocolSettings {
  mode: ProxyProtocolMode;
  /** Addresses or networks of the balancers allowed to send a header. */
  trustedProxies: readonly string[];
}

/** What the gate tells the device server. */
export interface ProxyGateHost {
  /**
   * The connection may go on, from `ip` (the client's when a header said so, else the peer's; as written in
   * the header, an IPv4-mapped IPv6 address included). The socket
   * is paused, with the device's first bytes put back into it: the owner reads it (TLS wraps it, or a
   * Session listens) and then resumes it.
   */
  admitted(socket: net.Socket, ip: string): void;
  /** The connection is refused for `cause`; the owner counts, logs and destroys it. */
  refused(socket: net.Socket, cause: string, ip: string, message: string): void;
  /** How long a connection may take to present its header (the handshake timeout in force). */
  timeoutMs(): number;
}

const NO_BYTES = Buffer.alloc(0);

export class ProxyGate {
  private trusted: CidrSet;
  /** Connections still presenting their header (closed by `closeAll`). */
  private readonly pending = new Set<net.Socket>();

  constructor(
    readonly mode: Exclude<ProxyProtocolMode, 'off'>,
    trustedProxies: readonly string[],
    private readonly host: ProxyGateHost,
  ) {
    this.trusted = CidrSet.parse(trustedProxies);
  }

  /** Replace the trusted proxies (SIGHUP; validated first: a bad entry throws and the old list stays). Applies to new connections. */
  setTrustedProxies(trustedProxies: readonly string[]): void {
    this.trusted = CidrSet.parse(trustedProxies);
  }

  /** Close every connection still presenting its header (the server is closing). */
  closeAll(): void {
    for (const socket of this.pending) socket.destroy();
    this.pending.clear();
  }

  /** Read the header of a new connection from `peer` (its socket address), then admit or refuse it. */
  admit(socket: net.Socket, peer: string): void {
    const trusted = this.trusted.has(peer);
    if (!trusted && this.mode === 'required') {
      return this.host.refused(socket, 'proxy_untrusted', peer, `connection from ${peer}, which is not in listen.trustedProxies (listen.proxyProtocol is required)`);
    }
    let received: Buffer = NO_BYTES;
    let settled = false;
    const settle = () => {
      settled = true;
      this.pending.delete(socket);
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onEnd);
    };
    const refuse = (cause: string, message: string) => {
      settle();
      this.host.refused(socket, cause, peer, message);
    };
    const admit = (ip: string, rest: Buffer) => {
      settle();
      socket.pause();
      if (rest.length > 0) socket.unshift(rest);
      this.host.admitted(socket, ip);
    };
    const untrusted = () => refuse('proxy_untrusted', `a PROXY header from ${peer}, which is not in listen.trustedProxies`);
    const onData = (chunk: Buffer) => {
      if (settled) return;
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const read = readProxyHeader(received);
      switch (read.kind) {
        case 'incomplete':
          if (!trusted && read.version !== null) untrusted();
          return;
        case 'absent':
          if (this.mode === 'required') return refuse('proxy_missing', `a connection from trusted proxy ${peer} without a PROXY header (listen.proxyProtocol is required)`);
          return admit(peer, received);
        case 'invalid':
          if (!trusted) return untrusted();
          return refuse(read.fault === 'malformed' ? 'proxy_malformed' : 'proxy_unsupported', `PROXY header from ${peer}: ${read.reason}`);
        case 'header': {
          if (!trusted) return untrusted();
          const { header } = read;
          const client = header.command === 'proxy' && header.source !== null ? header.source.address : peer;
          return admit(client, received.subarray(header.length));
        }
      }
    };
    const onEnd = () => {
      if (settled) return;
      if (!this.pending.has(socket)) return settle(); // closed by closeAll: the server is closing
      if (received.length > 0) return refuse('proxy_truncated', `connection from ${peer} closed in the middle of a PROXY header (${received.length} bytes)`);
      // Closed having sent nothing: no device, nothing to count.
      settle();
      socket.destroy();
    };
    const timeoutMs = this.host.timeoutMs();
    const timer = setTimeout(() => {
      if (received.length > 0) refuse('proxy_truncated', `no complete PROXY header from ${peer} within ${timeoutMs} ms (${received.length} bytes)`);
      else refuse('handshake_timeout', `nothing received from ${peer} within ${timeoutMs} ms`);
    }, timeoutMs);
    timer.unref();
    this.pending.add(socket);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onEnd);
  }
}
