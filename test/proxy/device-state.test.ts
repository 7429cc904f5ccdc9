import t, { type Test } from 'tap';
import { Session, type SessionHost } from '../../src/downstream/session.js';
import { EventBus } from '../../src/core/events.js';
import { Proxy } from '../../src/proxy/proxy.js';
import { FakeUpstream } from '../helpers/fake-upstream.js';
import { hasher } from '../helpers/share-kit.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { errorOf } from '../helpers/line-client.js';
import { until } from '../helpers/wait.js';
import { proxySessions, SESSION_LIMITS } from '../helpers/proxy-sessions.js';
import { blockNotify } from '../helpers/block-job.js';

/**
 * The proxy's own record of each device (channel, prefix, extranonce, target), driven through real sessions
 * over in-memory duplex pairs: no server, no socket. Two pool connections with different version-rolling
 * masks show that a device gets the mask of its own connection.
 */

const MASK0 = 0x1fffe000;
const MASK1 = 0x00ffe000;

function setup(t: Test) {
  const bus = new EventBus();
  // 2-byte pool extranonce2 with a 1-byte device minimum: 1-byte prefixes, 256 devices per connection.
  const ups = [new FakeUpstream(), new FakeUpstream()];
  ups[0]!.extranonce = { extranonce1: 'e155', extranonce2Size: 2 };
  ups[1]!.extranonce = { extranonce1: 'e156', extranonce2Size: 2 };
  ups[1]!.pool = 'fake-2';
  const proxy = new Proxy({ hasher, bus, createUpstream: (i) => ups[i]!, expectedDevices: 1, minDeviceExtranonce2: 1, maxUpstreamConnections: 2 });
  const { device, failures } = proxySessions(t, proxy);
  return { proxy, ups, device, failures };
}

const configure = (mask: string) => [['version-rolling'], { 'version-rolling.mask': mask }];

t.test('each device gets the version-rolling mask of its own pool connection', async (t) => {
  const { proxy, ups, device, failures } = setup(t);
  ups[0]!.setVersionMask(MASK0);
  ups[0]!.ready();

  // Configure before subscribe (as real miners do), with one connection up: its mask.
  const a = device();
  t.same((await a.client.request('mining.configure', configure('ffffffff'))).result, { 'version-rolling': true, 'version-rolling.mask': '1fffe000' });

  // Fill lane 0 of the extranonce space; A's slot is then in lane 1: its subscribe answer needs no connection.
  const first = Array.from({ length: 256 }, () => device());
  for (const d of first) await proxy.subscribe(d.session);
  t.equal(proxy.slots!.availableIn(0), 0, 'lane 0 is full');
  const subAnswer = await a.client.request('mining.subscribe', []);
  t.same((subAnswer.result as unknown[]).slice(1), ['00', 1], 'slot 256: lane 1, prefix 00');
  t.equal(proxy.channels.length, 1, 'no connection for lane 1 until a device of lane 1 is placed');
  // Placed at authorize: the default target opens its connection for lane 1.
  t.equal((await a.client.request('mining.authorize', ['rig-a', 'x'])).result, true);
  await until(() => proxy.channels.length === 2, 'a second pool connection opened');
  t.equal(proxy.channels[1]!.lane, 1);
  ups[1]!.setVersionMask(MASK1);
  ups[1]!.ready();
  ups[1]!.job(blockNotify('q1'));
  const firstJob = await a.client.waitFor((l) => l.method === 'mining.notify', 5000, true);
  const narrowed = a.client.lines.filter((l) => l.method === 'mining.set_version_mask');
  t.same(narrowed.map((l) => l.params), [['00ffe000']], 'the grant narrowed to what its connection allows');
  t.ok(a.client.lines.indexOf(narrowed[0]!) < a.client.lines.indexOf(firstJob), 'before its first job');
  t.equal(a.session.versionMask, MASK1);

  // Configure before subscribe with both connections up: only bits both allow.
  const b = device();
  t.same((await b.client.request('mining.configure', configure('ffffffff'))).result, { 'version-rolling': true, 'version-rolling.mask': '00ffe000' });

  // Configure after placement: the device's own connection decides (not the first connection's mask).
  t.same((await a.client.request('mining.configure', configure('1fffe000'))).result, { 'version-rolling': true, 'version-rolling.mask': '00ffe000' });
  await proxy.authorize(first[0]!.session, 'rig-0', 'x'); // placed on lane 0's connection
  t.equal(proxy.versionMask(first[0]!.session, 0xffffffff), MASK0, 'a device on the first connection: the first connection\'s mask');
  t.equal(proxy.versionMask(a.session, 0xffffffff), MASK1);

  // The second pool narrows its mask: its devices hear it, the first connection's do not.
  ups[1]!.setVersionMask(0x0000e000);
  await until(() => a.client.notifications('mining.set_version_mask').length === 2, 'the narrower mask reached the device');
  t.same(a.client.notifications('mining.set_version_mask')[1]!.params, ['0000e000']);
  t.equal(a.session.versionMask, 0x0000e000);
  t.equal(first[0]!.session.versionMask, 0, 'never configured: nothing to narrow');
  // A failover back to a pool that allows more: the device rolls what it asked for within it again.
  ups[1]!.setVersionMask(MASK1);
  await until(() => a.client.notifications('mining.set_version_mask').length === 3, 'the wider mask reached the device');
  t.same(a.client.notifications('mining.set_version_mask')[2]!.params, ['00ffe000']);
  t.equal(a.session.versionMask, MASK1);
  t.equal(first[0]!.client.notifications('mining.set_version_mask').length, 0);
  t.same(failures, []);
});

t.test('no pool connection has been up: no version rolling is granted', async (t) => {
  const { device } = setup(t);
  const a = device();
  t.same((await a.client.request('mining.configure', configure('ffffffff'))).result, { 'version-rolling': false });
});

t.test('the proxy gives a device a slot at subscribe, places it at authorize, and forgets it when it leaves; a device it does not know cannot submit', async (t) => {
  const { proxy, ups, device } = setup(t);
  ups[0]!.ready();
  const a = device();
  t.equal(proxy.deviceCount, 0);
  const stranger = device();
  await stranger.client.request('mining.subscribe', []);
  await stranger.client.request('mining.authorize', ['rig', 'x']);
  t.equal(proxy.deviceCount, 1);
  const channel = proxy.channels[0]!;
  const free = proxy.slots!.available;
  await a.client.request('mining.subscribe', []);
  t.equal(proxy.deviceCount, 2);
  t.equal(proxy.slots!.available, free - 1, 'a slot taken');
  t.equal(channel.devices.size, 1, 'not on a connection before it authorizes');
  await a.client.request('mining.authorize', ['rig-a', 'x']);
  t.equal(channel.devices.size, 2, 'placed on the default target\'s lane-0 connection');
  a.client.close();
  await until(() => a.session.isClosed, 'the session closed');
  t.equal(proxy.deviceCount, 1, 'forgotten');
  t.equal(channel.devices.size, 1);
  t.equal(proxy.slots!.used, 1, 'its slot was given back');
  t.equal(proxy.slots!.available, free, 'and is free again: no job of its lane was current');

  // A session the proxy never placed (subscribed elsewhere) is refused, not crashed on.
  const [, end] = duplexPair();
  const unknown = new Session(999, end, '192.0.2.9', { closed() {}, limited() {}, failed() {} } as unknown as SessionHost, SESSION_LIMITS);
  t.throws(() => proxy.submit(unknown, { worker: 'rig', jobId: '1', extranonce2: '00', ntime: '00000000', nonce: '00000000' }), { code: 24, message: 'Unauthorized worker' });
  t.throws(() => proxy.ready(unknown), { message: 'a device finished authorizing without being subscribed' });
  proxy.disconnected(unknown, 'never placed');
  t.equal(proxy.deviceCount, 1, 'leaving without a place changes nothing');
  unknown.close('test over');
  const judged = await stranger.client.request('mining.submit', ['rig', 'nope', '00', '00000000', '00000000']);
  t.equal(errorOf(judged)?.[0], 21, 'a known device\'s share is judged: no such job (21)');
});
