import type { Test } from 'tap';
import { Session, type SessionHost } from '../../src/downstream/session.js';
import type { Proxy } from '../../src/proxy/proxy.js';
import { duplexPair } from './duplex-pair.js';
import { LineClient } from './line-client.js';

/**
 * Devices for a Proxy with no server and no socket: each is a real Session over an in-memory duplex pair,
 * with a LineClient at the device's end. The proxy is started here; sessions, then the proxy, are closed at
 * teardown. Handling failures (a bug, not the device's fault) are collected in `failures`.
 */
export const SESSION_LIMITS = { maxLineBytes: 16 * 1024, maxWriteBufferBytes: 256 * 1024, submitsPerSecond: 1000, maxPendingReplies: 1000, maxWorkersPerSession: 64 };

export function proxySessions(t: Test, proxy: Proxy) {
  const failures: string[] = [];
  const host: SessionHost = {
    subscribe: (s) => proxy.subscribe(s),
    authorize: (s, u, p) => proxy.authorize(s, u, p),
    submit: (s, p) => proxy.submit(s, p),
    versionMask: (s, m) => proxy.versionMask(s, m),
    suggestDifficulty: (s, d) => proxy.suggestDifficulty(s, d),
    ready: (s) => proxy.ready(s),
    closed: (s, reason) => proxy.disconnected(s, reason),
    limited: () => {},
    failed: (_s, e, method) => void failures.push(`${method}: ${e.message}`),
  };
  let nextId = 1;
  const sessions: Session[] = [];
  const device = () => {
    const [deviceEnd, proxyEnd] = duplexPair();
    const session = new Session(nextId++, proxyEnd, '192.0.2.1', host, SESSION_LIMITS);
    sessions.push(session);
    return { session, client: LineClient.over(deviceEnd) };
  };
  t.teardown(async () => {
    for (const s of sessions) s.close('test over');
    await proxy.stop();
  });
  proxy.start();
  return { device, failures, sessions };
}
