import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { EventBus, type ProxyEventMap } from '../../src/core/events.js';
import { AccessPolicy } from '../../src/downstream/access.js';
import type { DeviceServerOptions } from '../../src/downstream/server.js';
import { recordingLogger } from '../hardening/helpers.js';
import { LineClient } from '../helpers/line-client.js';
import { devicesUnderTest, scriptedHost } from '../helpers/proxy-under-test.js';
import { makeCertificate } from '../helpers/tls-cert.js';
import { until } from '../helpers/wait.js';

/**
 * The device server with the PROXY protocol on, over real loopback sockets with headers written by the test
 * (the same server behind a real HAProxy: test/e2e/haproxy.test.ts). The header's client address is the
 * device's address for the events, the per-address limit and the access list; each refusal is a
 * `limit.refused` cause, logged once, and the connection is closed.
 */
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const host = scriptedHost();

const SUBSCRIBE = JSON.stringify({ id: 1, method: 'mining.subscribe', params: [] }) + '\n';
const v1 = (client: string, port = 40000) => `PROXY TCP4 ${client} 10.9.9.9 ${port} 3333\r\n`;
const SIG = Buffer.from('0D0A0D0A000D0A515549540A', 'hex');
const v2 = (command: 0 | 1, client: [number, number, number, number]) =>
  Buffer.concat([SIG, Buffer.from([0x20 | command, 0x11, 0, 12, ...client, 10, 9, 9, 9, 0x9c, 0x40, 0x0d, 0x05])]);

async function serve(t: Test, options: Partial<DeviceServerOptions>) {
  const bus = new EventBus();
  const log = recordingLogger();
  const refused: ProxyEventMap['limit.refused'][] = [];
  const connected: ProxyEventMap['device.connected'][] = [];
  bus.on('limit.refused', (e) => refused.push(e));
  bus.on('device.connected', (e) => connected.push(e));
  const { server, port, clients } = await devicesUnderTest(t, host, bus, options, log);
  /** A raw connection from `from` that sends `first` in one write, as a LineClient. */
  const send = async (first: string | Buffer, from = '127.0.0.1') => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: from });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const c = LineClient.over(socket);
    clients.push(c);
    if (first.length > 0) socket.write(first);
    return c;
  };
  const causes = () => refused.map((r) => r.cause);
  const warnings = (cause: string) => log.records.filter((r) => r.msg === 'refusing devices' && r.fields.cause === cause);
  return { server, port, bus, log, refused, connected, send, causes, warnings };
}

const trustLoopback = (mode: 'optional' | 'required') => ({ proxyProtocol: { mode, trustedProxies: ['127.0.0.1'] } });

t.test('v1 and v2 headers: the client address is the device\'s, the subscribe in the same packet is answered', async (t) => {
  const s = await serve(t, trustLoopback('required'));
  const a = await s.send(v1('203.0.113.7') + SUBSCRIBE);
  t.match((await a.waitFor((l) => l.id === 1)).result, [Array, 'aabbccdd', 4], 'v1: subscribed');
  const b = await s.send(Buffer.concat([v2(1, [198, 51, 100, 9]), Buffer.from(SUBSCRIBE)]));
  t.ok(Array.isArray((await b.waitFor((l) => l.id === 1)).result), 'v2: subscribed');
  t.same(s.connected.map((e) => e.ip), ['203.0.113.7', '198.51.100.9']);
  t.same([...s.server.sessions].map((x) => x.ip), ['203.0.113.7', '198.51.100.9']);
  t.same(s.refused, []);
});

t.test('the header split over several packets, and the device bytes after it in a later one', async (t) => {
  const s = await serve(t, trustLoopback('required'));
  const c = await s.send('PROXY TCP4 203.0');
  await new Promise((r) => setTimeout(r, 30));
  c.sendRaw('.113.8 10.9.9.9 1 2\r');
  await new Promise((r) => setTimeout(r, 30));
  c.sendRaw('\n');
  await until(() => s.connected.length === 1, 'the device admitted');
  const sub = await c.request('mining.subscribe', []);
  t.ok(Array.isArray(sub.result));
  t.equal(s.connected[0]!.ip, '203.0.113.8');
});

t.test('LOCAL (a health check) and UNKNOWN: the peer\'s own address', async (t) => {
  const s = await serve(t, trustLoopback('required'));
  // 127.0.0.2 is not trusted under `required`: refused, LOCAL or not; from the trusted 127.0.0.1 LOCAL is admitted.
  await (await s.send(Buffer.concat([v2(0, [0, 0, 0, 0]), Buffer.from(SUBSCRIBE)]), '127.0.0.2')).waitClosed();
  const local = await s.send(Buffer.concat([SIG, Buffer.from([0x20, 0x00, 0, 0]), Buffer.from(SUBSCRIBE)]));
  t.ok(Array.isArray((await local.waitFor((l) => l.id === 1)).result));
  const unknown = await s.send('PROXY UNKNOWN\r\n' + SUBSCRIBE);
  t.ok(Array.isArray((await unknown.waitFor((l) => l.id === 1)).result));
  t.same(s.connected.map((e) => e.ip), ['127.0.0.1', '127.0.0.1']);
  t.same(s.causes(), ['proxy_untrusted']);
});

t.test('the real address drives the per-address limit and the CIDR access list', async (t) => {
  const access = new AccessPolicy({ workers: [], password: null, allowCidrs: ['203.0.113.0/24'] });
  const s = await serve(t, { ...trustLoopback('required'), maxConnectionsPerIp: 2, checkAddress: (ip) => access.checkAddress(ip) });
  const kept = [await s.send(v1('203.0.113.1', 1) + SUBSCRIBE), await s.send(v1('203.0.113.1', 2) + SUBSCRIBE)];
  for (const c of kept) await c.waitFor((l) => l.id === 1);
  const third = await s.send(v1('203.0.113.1', 3) + SUBSCRIBE);
  await third.waitClosed();
  const other = await s.send(v1('203.0.113.2', 4) + SUBSCRIBE);
  await other.waitFor((l) => l.id === 1);
  const outside = await s.send(v1('192.0.2.1', 5) + SUBSCRIBE);
  await outside.waitClosed();
  t.same(s.causes(), ['max_per_ip', 'address']);
  t.same(s.refused.map((r) => r.ip), ['203.0.113.1', '192.0.2.1'], 'refusals carry the client address, not the balancer\'s');
  t.equal(s.server.sessions.size, 3);
});

t.test('each refusal cause: counted, logged once, the connection closed', async (t) => {
  const s = await serve(t, { ...trustLoopback('required'), handshakeTimeoutMs: 300 });
  const cases: [string, string | Buffer, string][] = [
    ['proxy_malformed', 'PROXY TCP4 1.2.3.04 10.9.9.9 1 2\r\n' + SUBSCRIBE, '127.0.0.1'],
    ['proxy_malformed', `PROXY UNKNOWN ${'x'.repeat(120)}`, '127.0.0.1'],
    ['proxy_unsupported', Buffer.concat([SIG, Buffer.from([0x22, 0x11, 0, 12])]), '127.0.0.1'],
    ['proxy_unsupported', Buffer.concat([SIG, Buffer.from([0x31, 0x11, 0, 12])]), '127.0.0.1'],
    ['proxy_missing', SUBSCRIBE, '127.0.0.1'],
    ['proxy_untrusted', v1('203.0.113.9') + SUBSCRIBE, '127.0.0.3'],
    ['proxy_truncated', 'PROXY TCP4 203.0.113.9', '127.0.0.1'],
  ];
  for (const [cause, bytes, from] of cases) {
    const c = await s.send(bytes, from);
    await c.waitClosed();
    t.equal(s.causes().at(-1), cause, `${cause}: ${JSON.stringify(bytes.toString('latin1').slice(0, 40))}`);
  }
  // Closed mid-header by the sender.
  const cut = await s.send('PROXY TCP4 203.0.113.9 10.9');
  await new Promise((r) => setTimeout(r, 30));
  cut.close();
  await until(() => s.refused.length === cases.length + 1, 'the cut header counted');
  t.equal(s.causes().at(-1), 'proxy_truncated');
  // Nothing at all within the handshake timeout: a handshake timeout; a probe that closes at once: nothing.
  const silent = await s.send('');
  await silent.waitClosed();
  t.equal(s.causes().at(-1), 'handshake_timeout');
  const probe = await s.send('');
  probe.close();
  await new Promise((r) => setTimeout(r, 100));
  t.equal(s.refused.length, cases.length + 2, 'a probe that sent nothing is not counted');
  for (const cause of ['proxy_malformed', 'proxy_unsupported', 'proxy_missing', 'proxy_untrusted', 'proxy_truncated', 'handshake_timeout']) {
    t.equal(s.warnings(cause).length, 1, `${cause} logged once`);
  }
  t.match(s.warnings('proxy_untrusted')[0]!.fields, { ip: '127.0.0.3', message: /127\.0\.0\.3.*listen\.trustedProxies/ });
  t.equal(s.server.sessions.size, 0);
  t.same(s.connected, [], 'no refused connection became a device');
});

t.test('optional: a header from a trusted proxy, no header from anyone; a header from an untrusted peer is refused', async (t) => {
  const s = await serve(t, trustLoopback('optional'));
  const viaBalancer = await s.send(v1('203.0.113.20') + SUBSCRIBE);
  await viaBalancer.waitFor((l) => l.id === 1);
  const direct = await s.send(SUBSCRIBE, '127.0.0.2');
  await direct.waitFor((l) => l.id === 1);
  const trustedWithout = await s.send(SUBSCRIBE);
  await trustedWithout.waitFor((l) => l.id === 1);
  const spoof = await s.send(v1('203.0.113.66') + SUBSCRIBE, '127.0.0.2');
  await spoof.waitClosed();
  const spoof2 = await s.send(v2(1, [203, 0, 113, 66]), '127.0.0.2');
  await spoof2.waitClosed();
  t.same(s.connected.map((e) => e.ip), ['203.0.113.20', '127.0.0.2', '127.0.0.1']);
  t.same(s.causes(), ['proxy_untrusted', 'proxy_untrusted']);
});

t.test('trusted proxies replaced while running apply to new connections', async (t) => {
  const s = await serve(t, trustLoopback('required'));
  const before = await s.send(v1('203.0.113.30') + SUBSCRIBE);
  await before.waitFor((l) => l.id === 1);
  s.server.setTrustedProxies(['127.0.0.2/32']);
  const now = await s.send(v1('203.0.113.31') + SUBSCRIBE);
  await now.waitClosed();
  const fromNew = await s.send(v1('203.0.113.32') + SUBSCRIBE, '127.0.0.2');
  await fromNew.waitFor((l) => l.id === 1);
  t.same(s.causes(), ['proxy_untrusted']);
  t.same(s.connected.map((e) => e.ip), ['203.0.113.30', '203.0.113.32']);
  t.equal(before.closed, false, 'a device already connected stays');
  t.throws(() => s.server.setTrustedProxies(['10.0.0.0/40']), /prefix length/);
});

const cert = makeCertificate();

t.test('TLS behind PROXY: the header first, then the TLS handshake, in one packet', { skip: cert ? false : 'openssl not available' }, async (t) => {
  const s = await serve(t, { ...trustLoopback('required'), tls: cert! });
  const raw = net.connect({ port: s.port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => raw.once('connect', resolve).once('error', reject));
  raw.cork();
  raw.write(v1('203.0.113.40'));
  const secure = tls.connect({ socket: raw, rejectUnauthorized: false });
  process.nextTick(() => raw.uncork());
  await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
  const c = LineClient.over(secure);
  t.teardown(() => c.close());
  t.ok(Array.isArray((await c.request('mining.subscribe', [])).result), 'subscribed over TLS');
  t.same(s.connected.map((e) => e.ip), ['203.0.113.40']);
  // Plain text after the header where TLS is expected: a TLS refusal.
  const plain = await s.send(v1('203.0.113.41') + SUBSCRIBE);
  await plain.waitClosed();
  t.same(s.causes(), ['tls']);
});

t.test('a trusted-proxy list that is not CIDRs is refused by the server naming the field', async (t) => {
  const bus = new EventBus();
  const { DeviceServer } = await import('../../src/downstream/server.js');
  t.throws(() => new DeviceServer({ host: '127.0.0.1', port: 0, proxyProtocol: { mode: 'optional', trustedProxies: ['nope'] } }, host, bus), /listen\.trustedProxies: 'nope' is not an IPv4 or IPv6 address/);
});
