import tls from 'node:tls';
import t from 'tap';
import { buildConfig, ConfigError } from '../../src/config.js';
import { AccessPolicy, parseCidr } from '../../src/downstream/access.js';
import { checkDeviceLimits, DeviceServer, type DeviceServerOptions } from '../../src/downstream/server.js';
import type { MiningHost, Session, SubscribeGrant } from '../../src/downstream/session.js';
import { EventBus, type ProxyEventMap } from '../../src/core/events.js';
import { StratumError } from '../../src/stratum/errors.js';
import { errorOf, LineClient } from '../helpers/line-client.js';
import { devicesUnderTest, scriptedHost } from '../helpers/proxy-under-test.js';
import { makeCertificate } from '../helpers/tls-cert.js';
import { sleep, until } from '../helpers/wait.js';
import { recordingLogger } from './helpers.js';

/**
 * The device server's limits and the session's defences, one at a time, against a scripted host (no proxy
 * core: what is tested is the socket side). Every refusal answers with a standard error or closes, and is
 * counted as `limit.refused` with its cause.
 */
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

async function serve(t: Test, host: MiningHost, options: Partial<DeviceServerOptions> = {}) {
  const bus = new EventBus();
  const log = recordingLogger();
  const refused: ProxyEventMap['limit.refused'][] = [];
  bus.on('limit.refused', (e) => refused.push(e));
  const { server, port, connect } = await devicesUnderTest(t, host, bus, options, log);
  const authorized = async (from = '127.0.0.1', worker = 'rig') => {
    const c = await connect(from);
    await c.request('mining.subscribe', []);
    const a = await c.request('mining.authorize', [worker, 'x']);
    if (a.result !== true) throw new Error(`not authorized: ${JSON.stringify(a)}`);
    return c;
  };
  return { server, port, bus, log, refused, connect, authorized };
}

t.test('a bug in the host (a non-Stratum exception) answers error 20, keeps the connection, is logged once', async (t) => {
  const s = await serve(
    t,
    scriptedHost({
      suggestDifficulty: () => {
        throw new TypeError('boom');
      },
      ready: () => {
        throw new TypeError('ready failed');
      },
    }),
  );
  const c = await s.authorized();
  for (let i = 0; i < 3; i++) {
    const a = await c.request('mining.suggest_difficulty', [2]);
    t.same(errorOf(a), [20, 'Internal error while handling mining.suggest_difficulty', null]);
  }
  t.equal((await c.request('mining.ping', [])).result, 'pong', 'still served');
  const logged = s.log.records.filter((r) => r.msg.startsWith('internal error'));
  t.same(logged.map((r) => r.fields.error), ['ready failed', 'boom'], 'each distinct error logged once, with its method');
  t.same(logged.map((r) => r.fields.method), ['ready', 'mining.suggest_difficulty']);
});

t.test('requests piling up behind an unanswered one: the device is dropped past maxPendingReplies', async (t) => {
  const s = await serve(t, scriptedHost({ authorize: () => new Promise(() => {}) }), { maxPendingReplies: 50 });
  const c = await s.connect();
  await c.request('mining.subscribe', []);
  c.sendRaw(JSON.stringify({ id: 'auth', method: 'mining.authorize', params: ['rig', 'x'] }) + '\n');
  c.sendRaw(Array.from({ length: 60 }, (_, i) => JSON.stringify({ id: i, method: 'mining.ping', params: [] })).join('\n') + '\n');
  await c.waitClosed();
  t.equal(c.lines.filter((l) => l.result === 'pong').length, 0, 'nothing answered out of order');
  t.same(s.refused.map((r) => r.cause), ['pending_replies']);
});

t.test('worker names per connection are capped', async (t) => {
  const s = await serve(t, scriptedHost(), { maxWorkersPerSession: 3 });
  const c = await s.authorized('127.0.0.1', 'w0');
  for (const w of ['w1', 'w2', 'w0']) t.equal((await c.request('mining.authorize', [w, 'x'])).result, true, `${w} accepted`);
  const fourth = await c.request('mining.authorize', ['w3', 'x']);
  t.same(errorOf(fourth), [24, 'Too many worker names on one connection (limit 3)', null]);
  t.same(s.refused.map((r) => r.cause), ['workers_per_connection']);
  t.notOk(c.closed);
});

t.test('authorize sent right behind subscribe (not waiting for its answer) is answered after it, in order', async (t) => {
  let release: (g: SubscribeGrant) => void = () => {};
  const s = await serve(t, scriptedHost({ subscribe: () => new Promise((r) => (release = r)) }));
  const c = await s.connect();
  c.sendRaw('{"id":1,"method":"mining.subscribe","params":[]}\n{"id":2,"method":"mining.authorize","params":["rig","x"]}\n');
  await sleep(100);
  t.equal(c.lines.length, 0, 'nothing answered while the subscribe waits');
  release({ extranonce1: 'aabbccdd', extranonce2Size: 4 });
  const auth = await c.waitFor((l) => l.id === 2, 5000, true);
  t.same(c.lines.map((l) => l.id), [1, 2]);
  t.equal(auth.result, true);

  // A failed subscribe makes the pipelined authorize fail with 25.
  const s2 = await serve(t, scriptedHost({ subscribe: async () => Promise.reject(new StratumError(20, 'No pool connection yet, try again')) }));
  const d = await s2.connect();
  d.sendRaw('{"id":1,"method":"mining.subscribe","params":[]}\n{"id":2,"method":"mining.authorize","params":["rig","x"]}\n');
  await d.waitFor((l) => l.id === 2, 5000, true);
  t.same(d.lines.map(errorOf), [
    [20, 'No pool connection yet, try again', null],
    [25, 'Not subscribed', null],
  ]);
});

t.test('limits change live: existing devices follow, nobody is dropped by the change', async (t) => {
  const s = await serve(t, scriptedHost(), { submitsPerSecond: 1000, maxConnectionsPerIp: 5 });
  const a = await s.authorized('127.0.0.2');
  const b = await s.authorized('127.0.0.2');
  s.server.updateLimits({ submitsPerSecond: 1, maxConnectionsPerIp: 1 });
  t.equal(s.server.limits.submitsPerSecond, 1);
  const submit = (i: number) => JSON.stringify({ id: i, method: 'mining.submit', params: ['rig', '1', '00000000', '00000000', '00000000'] });
  a.sendRaw(Array.from({ length: 5 }, (_, i) => submit(100 + i)).join('\n') + '\n');
  await until(() => a.lines.filter((l) => typeof l.id === 'number' && l.id >= 100).length === 5, 'five answers');
  const limited = a.lines.filter((l) => errorOf(l)?.[1] === 'Too many submits: the limit is 1 per second');
  t.ok(limited.length >= 2, `the new rate applies to a device already connected (${limited.length} of 5 refused)`);
  t.notOk(a.closed || b.closed, 'both connections stay although 1 per address is now the limit');
  const c = await s.connect('127.0.0.2');
  await c.waitClosed(5000);
  t.ok(s.refused.some((r) => r.cause === 'max_per_ip'), 'a new one is refused');
  t.throws(() => s.server.updateLimits({ maxDevices: 0 }), { message: 'maxDevices must be an integer >= 1 (got 0)' });
  t.throws(() => s.server.updateLimits({ submitsPerSecond: Number.NaN }), { message: 'submitsPerSecond must be a number > 0 (got NaN)' });
  t.equal(s.server.limits.maxDevices, 20_000, 'a refused update changes nothing');
  t.throws(() => checkDeviceLimits({ maxLineBytes: 10 }), { message: 'maxLineBytes must be an integer from 512 to 16777216 (got 10)' });
});

t.test('maxDevices: the device past the limit is refused and counted', async (t) => {
  const s = await serve(t, scriptedHost(), { maxDevices: 2 });
  await s.connect();
  await s.connect();
  const third = await s.connect();
  await third.waitClosed(5000);
  t.same(s.refused.map((r) => r.cause), ['max_devices']);
});

t.test('stopAccepting returns at once with devices connected; close() delivers what was queued, then ends them', async (t) => {
  const s = await serve(t, scriptedHost());
  const a = await s.authorized();
  const b = await s.authorized();
  const started = Date.now();
  await s.server.stopAccepting();
  t.ok(Date.now() - started < 1000, 'not waiting for the devices to leave');
  await t.rejects(LineClient.connect(s.port, '127.0.0.1', 3000), 'new devices are not accepted');
  t.equal((await a.request('mining.ping', [])).result, 'pong', 'existing devices are still served');
  for (const session of s.server.sessions) session.notify('client.reconnect', []);
  await s.server.close();
  for (const c of [a, b]) {
    t.ok(c.lines.some((l) => l.method === 'client.reconnect'), 'client.reconnect arrived before the end');
    await c.waitClosed(5000);
  }
});

t.test('the CIDR allow-list: refused addresses are closed and counted; the list can be replaced live', async (t) => {
  const access = new AccessPolicy({ workers: [], password: null, allowCidrs: ['127.0.0.2/32', '10.0.0.0/8'] });
  const s = await serve(t, scriptedHost(), { checkAddress: (ip) => access.checkAddress(ip) });
  const ok = await s.authorized('127.0.0.2');
  const no = await s.connect('127.0.0.5');
  await no.waitClosed(5000);
  t.same(s.refused, [{ cause: 'address', ip: '127.0.0.5', at: s.refused[0]!.at }]);
  t.match(s.log.records.find((r) => r.msg === 'refusing devices')?.fields, { cause: 'address', message: 'address 127.0.0.5 is not in access.allowCidrs' });
  access.update({ workers: [], password: null, allowCidrs: ['127.0.0.0/24'] });
  const now = await s.authorized('127.0.0.5');
  t.notOk(now.closed || ok.closed);
});

t.test('AccessPolicy: CIDRs, worker allow-list, password; a bad update changes nothing', async (t) => {
  t.same(parseCidr('10.1.0.0/16'), { address: '10.1.0.0', prefix: 16, family: 'ipv4' });
  t.same(parseCidr('fd00::/8'), { address: 'fd00::', prefix: 8, family: 'ipv6' });
  t.same(parseCidr('192.168.1.7'), { address: '192.168.1.7', prefix: 32, family: 'ipv4' });
  t.throws(() => parseCidr('10.0.0.0/33'), { message: "'10.0.0.0/33': the prefix length must be 0 to 32" });
  t.throws(() => parseCidr('10.0.0/8'), { message: "'10.0.0' is not an IPv4 or IPv6 address" });
  t.throws(() => parseCidr('10.0.0.0/8/1'), { message: "'10.0.0.0/8/1' has more than one '/'" });
  t.throws(() => parseCidr('10.0.0.0/x'), { message: "'10.0.0.0/x': the prefix length must be 0 to 32" });

  const p = new AccessPolicy({ workers: ['farm.a', 'farm.b'], password: 's3cret', allowCidrs: ['192.168.0.0/16', '::1'] });
  t.equal(p.checkCredentials('farm.a', 's3cret'), null);
  t.equal(p.checkCredentials('farm.c', 's3cret'), 'Worker farm.c is not on the allow-list');
  t.equal(p.checkCredentials('farm.a', 'guess'), 'Wrong password');
  t.equal(p.checkCredentials('farm.a', ''), 'Wrong password');
  t.equal(p.checkAddress('192.168.44.3'), null);
  t.equal(p.checkAddress('::1'), null);
  t.equal(p.checkAddress('10.0.0.1'), 'address 10.0.0.1 is not in access.allowCidrs');
  t.equal(p.checkAddress('unknown'), 'address unknown is not an IP address');
  t.throws(() => p.update({ workers: [], password: null, allowCidrs: ['300.0.0.0/8'] }), { message: "'300.0.0.0' is not an IPv4 or IPv6 address" });
  t.equal(p.checkCredentials('farm.c', 's3cret'), 'Worker farm.c is not on the allow-list', 'the old policy is still in force');
  const open = new AccessPolicy({ workers: [], password: null, allowCidrs: [] });
  t.equal(open.checkCredentials('anyone', ''), null);
  t.equal(open.checkAddress('203.0.113.9'), null);
  t.notOk(open.checksCredentials);
});

t.test('config: a bad CIDR is a config error naming the entry', async (t) => {
  const pools = [{ name: 'a', url: 'stratum+tcp://127.0.0.1:3333', user: 'u', password: 'x' }];
  let problems: string[] = [];
  try {
    buildConfig({ pools, access: { workers: [], password: null, allowCidrs: ['10.0.0.0/8', '10.0.0.0/33', 'nonsense'] } });
  } catch (err) {
    t.ok(err instanceof ConfigError, 'a ConfigError');
    problems = (err as ConfigError).problems;
  }
  t.same(problems, ["access.allowCidrs[1]: '10.0.0.0/33': the prefix length must be 0 to 32", "access.allowCidrs[2]: 'nonsense' is not an IPv4 or IPv6 address"]);
  t.same(buildConfig({ pools, access: { workers: [], password: null, allowCidrs: ['10.0.0.0/8', '::1'] } }).access.allowCidrs, ['10.0.0.0/8', '::1']);
});

const cert = makeCertificate();

t.test('device TLS: a TLS device is served; plain bytes on the TLS port are refused and counted as tls', { skip: cert ? false : 'openssl not available' }, async (t) => {
  const s = await serve(t, scriptedHost(), { tls: cert! });
  const secure = tls.connect({ host: '127.0.0.1', port: s.port, ca: cert!.cert });
  t.teardown(() => secure.destroy());
  await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
  t.ok(secure.authorized, 'the device checked our certificate');
  secure.write('{"id":1,"method":"mining.subscribe","params":[]}\n');
  const answer = await new Promise<string>((resolve) => secure.once('data', (d: Buffer) => resolve(d.toString())));
  const sub = JSON.parse(answer) as { id: number; result: unknown[]; error: unknown };
  t.same([sub.id, sub.result[1], sub.result[2], sub.error], [1, 'aabbccdd', 4, null], 'subscribed over TLS');
  const plain = await s.connect();
  plain.sendRaw('{"id":1,"method":"mining.subscribe","params":[]}\n');
  await plain.waitClosed(10_000);
  t.equal(plain.lines.length, 0, 'no Stratum answer in clear text');
  await until(() => s.refused.some((r) => r.cause === 'tls'), 'the failed handshake counted');
  t.equal(s.refused.find((r) => r.cause === 'tls')!.ip, '127.0.0.1', 'with the address');
});

t.test('a certificate that cannot be used is an error naming listen.tls, not a crash later', async (t) => {
  t.throws(() => new DeviceServer({ host: '127.0.0.1', port: 0, tls: { cert: 'not a certificate', key: 'not a key' } }, scriptedHost(), new EventBus()), {
    message: /^listen\.tls: the certificate or key cannot be used: /,
  });
});

t.test('a session never throws out of its socket handlers whatever its host does (smoke)', async (t) => {
  const s = await serve(
    t,
    scriptedHost({
      submit: () => {
        throw new RangeError('host bug');
      },
      authorize: async (_s: Session, u: string) => {
        if (u === 'bad') throw new Error('plain error');
      },
    }),
  );
  const c = await s.authorized();
  const a = await c.request('mining.submit', ['rig', '1', '00', '00', '00']);
  t.same(errorOf(a), [20, 'host bug', null], 'a synchronous throw from submit is an error 20 with its message');
  const b = await c.request('mining.authorize', ['bad', 'x']);
  t.same(errorOf(b), [24, 'plain error', null], 'a refused authorize is a 24');
  t.notOk(c.closed);
});
