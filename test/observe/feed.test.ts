import { randomBytes } from 'node:crypto';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { OwnerMap } from '../../src/books/owners.js';
import type { PayoutsView } from '../../src/observe/owner-payouts.js';
import { EventBus } from '../../src/core/events.js';
import { FarmLedger, type DeviceView, type FarmEvent } from '../../src/observe/farm-ledger.js';
import { attachFeed, FEED_BLOCKS, originAllowed, type DeltaMessage, type Feed, type FeedMessage, type FeedOptions, type SnapshotMessage } from '../../src/observe/feed.js';
import { HttpServer } from '../../src/observe/http-server.js';
import { sleep } from '../helpers/wait.js';

/**
 * The websocket feed over a real HttpServer on loopback, read by the `ws` client, with the farm ledger fed by
 * the proxy's own events. What a message must contain is checked against the ledger itself (view()).
 */

// The slow-client test pushes ~3 MB frames for a few seconds; on a busy machine that takes longer.
t.setTimeout(240_000);

const T0 = Date.UTC(2025, 0, 1, 12, 0, 5);

interface Setup {
  bus: EventBus;
  stats: FarmLedger;
  http: HttpServer;
  feed: Feed;
  port: number;
  clock: { now: number };
}

async function setup(t: Test, opts: FeedOptions & { token?: string } = {}): Promise<Setup> {
  const bus = new EventBus();
  const clock = { now: T0 };
  const stats = new FarmLedger(bus, { now: () => clock.now });
  const http = new HttpServer({ host: '127.0.0.1', port: 0, token: opts.token });
  // A long interval: the tests drive ticks themselves with feed.tick() unless they set one.
  const feed = attachFeed(http, stats, { intervalMs: 3_600_000, now: () => clock.now, ...opts });
  const { port } = await http.listen();
  t.teardown(async () => {
    await feed.close();
    await http.close();
    stats.close();
  });
  return { bus, stats, http, feed, port, clock };
}

function authorize(bus: EventBus, worker: string, sessionId: number, at = T0) {
  bus.emit('device.authorized', { sessionId, worker, ip: `10.0.0.${sessionId}`, at });
}

function accept(bus: EventBus, worker: string, sessionId: number, at = T0, difficulty = 1024) {
  bus.emit('share.accepted', { sessionId, worker, route: 'default', target: 'default', ip: `10.0.0.${sessionId}`, difficulty, shareDifficulty: difficulty * 2, meetsPool: false, meetsNetwork: false, at });
}

/** A ws client that queues parsed messages, so a test can await them in order. */
class FeedClient {
  readonly messages: FeedMessage[] = [];
  private waiters: ((m: FeedMessage) => void)[] = [];
  closeCode: number | null = null;
  closeReason = '';
  readonly closed: Promise<void>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString('utf8')) as FeedMessage;
      const w = this.waiters.shift();
      if (w) w(m);
      else this.messages.push(m);
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        resolve();
      }),
    );
  }

  next(timeoutMs = 10_000): Promise<FeedMessage> {
    const queued = this.messages.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no feed message within ' + timeoutMs + ' ms')), timeoutMs);
      this.waiters.push((m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
  }
}

function connect(t: Test, url: string, options: WebSocket.ClientOptions = {}): Promise<FeedClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    const client = new FeedClient(ws);
    t.teardown(() => ws.terminate());
    ws.once('open', () => resolve(client));
    ws.once('error', reject);
  });
}

/** Try to connect; resolve with the HTTP status the server refused with (or 101 when it accepted). */
function handshakeStatus(t: Test, url: string, options: WebSocket.ClientOptions = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    t.teardown(() => ws.terminate());
    ws.once('open', () => resolve({ status: 101, body: '' }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

function byWorker(devices: DeviceView[]): Map<string, DeviceView> {
  return new Map(devices.map((d) => [d.worker, d]));
}

t.test('snapshot on connect, then deltas with only the devices that changed', async (t) => {
  const { bus, stats, feed, port, clock } = await setup(t);
  authorize(bus, 'rig-a', 1);
  authorize(bus, 'rig-b', 2);
  authorize(bus, 'rig-c', 3);
  accept(bus, 'rig-a', 1);
  bus.emit('pool.up', { route: 'default', target: 'default', connection: 0, pool: 'main', url: 'stratum+tcp://127.0.0.1:3333', at: T0 });
  bus.emit('pool.switch', { route: 'default', target: 'default', connection: 0, from: null, to: 'main', reason: 'first pool', at: T0 });
  feed.tick(); // the feed has been running (no client yet)

  const client = await connect(t, `ws://127.0.0.1:${port}/ws`);
  const snap = (await client.next()) as SnapshotMessage;
  t.equal(snap.type, 'snapshot');
  t.equal(snap.at, T0);
  t.same(
    [...byWorker(snap.devices).keys()].sort(),
    ['rig-a', 'rig-b', 'rig-c'],
    'the snapshot has every device',
  );
  for (const d of snap.devices) t.same(d, stats.device(d.worker, T0), `snapshot view of ${d.worker} is FarmLedger.view`);
  t.same(snap.summary, stats.summary(T0), 'summary is FarmLedger.summary');
  t.same(snap.pools.map((p) => [p.name, p.up, p.active]), [['main', true, true]]);
  t.same(snap.connections.map((c) => [c.index, c.pool, c.up, c.active]), [[0, 'main', true, true]], 'each upstream connection');
  t.same(
    snap.events.map((e) => e.kind),
    ['pool', 'pool'],
    'recent farm events are in the snapshot',
  );

  // One device submits a share, another changes difficulty: only those two are in the delta.
  clock.now = T0 + 1000;
  accept(bus, 'rig-b', 2, clock.now);
  bus.emit('device.difficulty', { sessionId: 3, worker: 'rig-c', difficulty: 4096, at: clock.now });
  feed.tick();
  const delta = (await client.next()) as DeltaMessage;
  t.equal(delta.type, 'delta');
  t.equal(delta.at, T0 + 1000);
  t.same(delta.devices.map((d) => d.worker).sort(), ['rig-b', 'rig-c'], 'only the changed devices');
  const b = byWorker(delta.devices).get('rig-b')!;
  t.equal(b.accepted, 1);
  t.equal(b.lastShareAt, T0 + 1000);
  t.same(b, stats.device('rig-b', T0 + 1000));
  t.equal(byWorker(delta.devices).get('rig-c')!.difficulty, 4096);
  t.same(delta.removed, []);
  t.same(delta.events, []);
  t.equal(delta.summary.accepted, 2, 'the summary comes with every delta');

  // Nothing changed: an empty delta (the summary still ticks).
  clock.now = T0 + 2000;
  feed.tick();
  const quiet = (await client.next()) as DeltaMessage;
  t.same(quiet.devices, [], 'no device changed, none sent');
  t.equal(quiet.at, T0 + 2000);

  // A device goes offline: it is in the delta with online false, and the farm event comes along.
  clock.now = T0 + 3000;
  bus.emit('device.disconnected', { sessionId: 1, worker: 'rig-a', ip: '10.0.0.1', reason: 'killed', at: clock.now });
  feed.tick();
  const offline = (await client.next()) as DeltaMessage;
  t.same(
    offline.devices.map((d) => [d.worker, d.online, d.disconnectedAt]),
    [['rig-a', false, T0 + 3000]],
  );
  t.same(
    offline.events.map((e) => [e.kind, e.message]),
    [['device-offline', 'rig-a went offline (killed)']],
  );
  t.equal(offline.summary.devicesOffline, 1);
});

t.test('a forgotten worker is sent in removed, once', async (t) => {
  const { bus, stats, feed, port } = await setup(t);
  authorize(bus, 'keep', 1);
  authorize(bus, 'gone', 2);
  feed.tick();
  const client = await connect(t, `ws://127.0.0.1:${port}/ws`);
  t.equal((await client.next()).devices.length, 2);
  stats.forget('gone');
  feed.tick();
  const delta = (await client.next()) as DeltaMessage;
  t.same(delta.removed, ['gone']);
  t.same(delta.devices, []);
  feed.tick();
  t.same(((await client.next()) as DeltaMessage).removed, [], 'not repeated');

  // A worker that appeared and was forgotten between two ticks, seen only in a new client's snapshot.
  authorize(bus, 'brief', 3);
  const late = await connect(t, `ws://127.0.0.1:${port}/ws`);
  t.same(
    (await late.next()).devices.map((d) => d.worker).sort(),
    ['brief', 'keep'],
  );
  stats.forget('brief');
  feed.tick();
  t.same(((await late.next()) as DeltaMessage).removed, ['brief'], 'the client that saw it is told');
  t.same(((await client.next()) as DeltaMessage).removed, ['brief'], 'the others too (harmless)');
});

t.test('a worker that appears between ticks reaches clients connected before it', async (t) => {
  const { bus, feed, port } = await setup(t);
  const early = await connect(t, `ws://127.0.0.1:${port}/ws`);
  t.same((await early.next()).devices, []);
  feed.tick();
  t.same((await early.next()).devices, []);
  authorize(bus, 'new', 1);
  // A client connecting now has it in its snapshot; the early one must still get it in the delta.
  const late = await connect(t, `ws://127.0.0.1:${port}/ws`);
  t.same(
    (await late.next()).devices.map((d) => d.worker),
    ['new'],
  );
  feed.tick();
  t.same(
    (await early.next()).devices.map((d) => d.worker),
    ['new'],
  );
});

t.test('the hashrate window moving on is a change even without events', async (t) => {
  const { bus, feed, port, clock } = await setup(t);
  authorize(bus, 'rig', 1);
  accept(bus, 'rig', 1, T0, 1e6);
  const client = await connect(t, `ws://127.0.0.1:${port}/ws`);
  const before = (await client.next()).devices[0]!.hashrate;
  t.ok(before > 0);
  // 301 s later the share has left the 300 s window: hashrate 0, with no event at all.
  clock.now = T0 + 301_000;
  feed.tick();
  const delta = (await client.next()) as DeltaMessage;
  t.same(
    delta.devices.map((d) => [d.worker, d.hashrate]),
    [['rig', 0]],
  );
});

t.test('events are sent once: a client connecting between ticks gets pending ones in the next delta', async (t) => {
  const { bus, feed, port } = await setup(t);
  bus.emit('pool.up', { route: 'default', target: 'default', connection: 0, pool: 'a', url: 'stratum+tcp://127.0.0.1:1', at: T0 });
  feed.tick();
  bus.emit('pool.down', { route: 'default', target: 'default', connection: 0, pool: 'a', url: 'stratum+tcp://127.0.0.1:1', reason: 'closed', at: T0 + 1 });
  const client = await connect(t, `ws://127.0.0.1:${port}/ws`);
  const snap = (await client.next()) as SnapshotMessage;
  t.same(
    snap.events.map((e: FarmEvent) => e.message),
    ['Pool a is up'],
    'the snapshot has the events already sent',
  );
  feed.tick();
  const delta = (await client.next()) as DeltaMessage;
  t.same(
    delta.events.map((e) => e.message),
    ['Pool a is down: closed'],
    'the pending one comes in the delta',
  );
});

t.test('every client gets the same delta bytes; the feed serializes once per tick', async (t) => {
  const { bus, feed, port } = await setup(t);
  authorize(bus, 'x', 1);
  const raws: Buffer[][] = [[], [], []];
  await Promise.all(
    raws.map(
      (list) =>
        new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
          t.teardown(() => ws.terminate());
          ws.on('message', (data: Buffer) => {
            list.push(data);
            resolve();
          });
          ws.once('error', reject);
        }),
    ),
  );
  accept(bus, 'x', 1);
  feed.tick();
  const deadline = Date.now() + 10_000;
  while (raws.some((l) => l.length < 2) && Date.now() < deadline) await sleep(10);
  t.ok(raws.every((l) => l.length === 2), 'each client got snapshot and delta');
  t.ok(raws[0]![1]!.equals(raws[1]![1]!) && raws[1]![1]!.equals(raws[2]![1]!), 'identical delta bytes');
  t.equal(feed.stats().lastTick!.bytes, raws[0]![1]!.length);
});

t.test('the interval sends deltas by itself and close() ends clients with 1001', async (t) => {
  const bus = new EventBus();
  const stats = new FarmLedger(bus);
  const http = new HttpServer({ host: '127.0.0.1', port: 0 });
  const feed = attachFeed(http, stats, { intervalMs: 30 });
  const { port } = await http.listen();
  t.teardown(async () => {
    await feed.close();
    await http.close();
  });
  const client = await connect(t, `ws://127.0.0.1:${port}/ws`);
  t.equal((await client.next()).type, 'snapshot');
  t.equal((await client.next()).type, 'delta');
  t.equal((await client.next()).type, 'delta');
  await feed.close();
  await client.closed;
  t.equal(client.closeCode, 1001);
  // After the feed is closed the HTTP server closes without waiting for upgraded sockets.
  await http.close();
  t.pass('http server closed');
});

t.test('token: required by the feed when configured, from ?token= or the Authorization header', async (t) => {
  const { port } = await setup(t, { token: 's3cret' });
  const refused = await handshakeStatus(t, `ws://127.0.0.1:${port}/ws`);
  t.equal(refused.status, 401);
  t.match(refused.body, /token required/);
  t.equal((await handshakeStatus(t, `ws://127.0.0.1:${port}/ws?token=wrong`)).status, 401);
  const byQuery = await connect(t, `ws://127.0.0.1:${port}/ws?token=s3cret`);
  t.equal((await byQuery.next()).type, 'snapshot');
  const byHeader = await connect(t, `ws://127.0.0.1:${port}/ws`, { headers: { authorization: 'Bearer s3cret' } });
  t.equal((await byHeader.next()).type, 'snapshot');
});

t.test('origin: same host or allowed list; no Origin header is a non-browser client', async (t) => {
  const { port } = await setup(t, { allowedOrigins: ['https://farm.example.com'] });
  const url = `ws://127.0.0.1:${port}/ws`;
  const bad = await handshakeStatus(t, url, { origin: 'http://evil.example' });
  t.equal(bad.status, 403);
  t.match(bad.body, /origin not allowed: http:\/\/evil\.example/);
  t.equal((await handshakeStatus(t, url, { origin: `http://127.0.0.1:${port + 1}` })).status, 403, 'same host, other port: refused');
  t.equal((await handshakeStatus(t, url, { origin: 'null' })).status, 403, 'opaque origin refused');
  t.equal((await handshakeStatus(t, url, { origin: `http://127.0.0.1:${port}` })).status, 101, 'the page own origin');
  t.equal((await handshakeStatus(t, url, { origin: 'https://FARM.example.com:443' })).status, 101, 'listed origin (normalized)');
  t.equal((await handshakeStatus(t, url)).status, 101, 'no Origin header');
});

t.test('originAllowed and allowedOrigins validation', async (t) => {
  const none = new Set<string>();
  t.ok(originAllowed('http://proxy.lan:8080', 'proxy.lan:8080', none));
  t.ok(originAllowed('http://Proxy.LAN', 'proxy.lan:80', none), 'default port and case');
  t.ok(originAllowed('https://proxy.lan', 'proxy.lan:443', none));
  t.notOk(originAllowed('https://proxy.lan', 'proxy.lan:8443', none));
  t.notOk(originAllowed('http://proxy.lan', undefined, none));
  t.notOk(originAllowed('file://', 'proxy.lan', none));
  t.notOk(originAllowed('not a url', 'proxy.lan', none));
  t.ok(originAllowed('https://ops.example', 'proxy.lan', new Set(['https://ops.example'])));
  const http = new HttpServer({ host: '127.0.0.1', port: 0 });
  const stats = new FarmLedger(new EventBus());
  t.throws(() => attachFeed(http, stats, { allowedOrigins: ['farm.example.com'] }), /http\.allowedOrigins: "farm\.example\.com" is not an origin/);
});

t.test('unknown paths are refused; the client count is capped; large client messages close the socket', async (t) => {
  const { port, feed } = await setup(t, { maxClients: 2 });
  const other = await handshakeStatus(t, `ws://127.0.0.1:${port}/other`);
  t.equal(other.status, 404);
  t.match(other.body, /no websocket at \/other/);
  const a = await connect(t, `ws://127.0.0.1:${port}/ws`);
  await connect(t, `ws://127.0.0.1:${port}/ws?x=1`);
  const third = await handshakeStatus(t, `ws://127.0.0.1:${port}/ws`);
  t.equal(third.status, 503);
  t.match(third.body, /too many dashboard clients \(limit 2\)/);
  t.equal(feed.stats().refused, 2);
  a.ws.send('x'.repeat(5000));
  await a.closed;
  t.equal(a.closeCode, 1009, 'message too big (maxPayload)');
  // A slot is free again.
  t.equal((await handshakeStatus(t, `ws://127.0.0.1:${port}/ws`)).status, 101);
});

/**
 * A websocket client that completes the handshake and then never reads (its socket is paused): the
 * proxy can only buffer what it sends it.
 */
function stuckClient(t: Test, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    t.teardown(() => socket.destroy());
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.write(
        'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      if (!head.startsWith('HTTP/1.1 101')) return reject(new Error('handshake refused: ' + head.split('\r\n')[0]));
      socket.pause();
      resolve(socket);
    };
    socket.on('data', onData);
  });
}

/** Heap + buffers after a full garbage collection (the proxy's live memory, not garbage not yet swept). */
const gc: () => void = (() => {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
})();
function liveBytes(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

t.test('a client that does not read: frames skipped for it, memory bounded, closed; others keep receiving', async (t) => {
  const DEVICES = 10_000;
  const SKIP_ABOVE = 1 << 20;
  const { bus, feed, port } = await setup(t, { intervalMs: 40, skipAboveBytes: SKIP_ABOVE, closeAfterMs: 3000, closeGraceMs: 300 });
  for (let i = 0; i < DEVICES; i++) authorize(bus, `rack-${Math.floor(i / 40)}.asic-${i % 40}`, i + 1, Date.now());

  // Every device changes all the time: every delta carries all 10,000 devices (about 3 MB).
  let round = 0;
  const churn = setInterval(() => {
    round++;
    const at = Date.now();
    for (let i = 0; i < DEVICES; i++) accept(bus, `rack-${Math.floor(i / 40)}.asic-${i % 40}`, i + 1, at, 1000 + round);
  }, 40);
  t.teardown(() => clearInterval(churn));

  const baselineLive = liveBytes();
  const baselineRss = process.memoryUsage().rss;

  // The normal client counts deltas without parsing 3 MB each time (the type is at the start).
  let normalDeltas = 0;
  // Deltas and snapshots: a client that fell behind by a frame gets a fresh snapshot instead of the deltas it missed.
  let normalUpdates = 0;
  let largestFrame = 0;
  const normal = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  t.teardown(() => normal.terminate());
  let normalClosed = false;
  normal.on('close', () => (normalClosed = true));
  normal.on('message', (data: Buffer) => {
    largestFrame = Math.max(largestFrame, data.length);
    const head = data.subarray(0, 20).toString();
    if (head.startsWith('{"type":"delta"')) normalDeltas++;
    if (head.startsWith('{"type":"delta"') || head.startsWith('{"type":"snapshot"')) normalUpdates++;
  });
  await new Promise((resolve, reject) => {
    normal.once('open', resolve);
    normal.once('error', reject);
  });
  const stuck = await stuckClient(t, port);

  let peakBuffered = 0;
  let peakLive = 0;
  let peakRss = 0;
  let deltasWhileStuck = -1; // the normal client's updates when the first frame was skipped for the stuck one
  let samples = 0;
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    await sleep(100);
    for (const c of feed.clientStates()) peakBuffered = Math.max(peakBuffered, c.bufferedAmount);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    if (++samples % 5 === 0) peakLive = Math.max(peakLive, liveBytes());
    const s = feed.stats();
    if (s.framesSkipped > 0 && deltasWhileStuck < 0) deltasWhileStuck = normalUpdates;
    if (s.slowClosed > 0 && s.clients === 1) break;
  }
  const stats = feed.stats();
  const deltasDuringStall = normalUpdates - Math.max(0, deltasWhileStuck);
  const frame = stats.lastTick!.bytes;
  t.comment(
    `delta ${(frame / 1e6).toFixed(1)} MB for ${DEVICES} devices, build+serialize ${stats.lastTick!.buildMs.toFixed(1)} ms; ` +
      `skipped ${stats.framesSkipped} frames (~${((stats.framesSkipped * frame) / 1e6).toFixed(0)} MB an unbounded buffer would hold); ` +
      `peak server buffer for one client ${(peakBuffered / 1e6).toFixed(1)} MB; live memory +${((peakLive - baselineLive) / 1e6).toFixed(0)} MB; ` +
      `rss +${((peakRss - baselineRss) / 1e6).toFixed(0)} MB; the normal client got ${deltasDuringStall} updates meanwhile (${normalDeltas} deltas in all)`,
  );

  t.ok(stats.framesSkipped > 0, 'frames were skipped for the stuck client');
  t.equal(stats.slowClosed, 1, 'the stuck client was closed');
  t.equal(stats.clients, 1, 'only the normal client is left');
  t.notOk(normalClosed, 'the normal client is still connected');
  t.ok(deltasDuringStall >= 1, `the normal client kept receiving updates while the other was stuck (${deltasDuringStall})`);
  t.ok(peakBuffered <= SKIP_ABOVE + largestFrame + 64 * 1024, 'no client ever had more than the skip limit plus one frame buffered');
  t.ok(peakLive - baselineLive < 150e6, `live memory stayed bounded (+${((peakLive - baselineLive) / 1e6).toFixed(0)} MB)`);
  t.ok(peakRss - baselineRss < 600e6, `rss stayed bounded (+${((peakRss - baselineRss) / 1e6).toFixed(0)} MB)`);

  // The normal client still gets updates after the stuck one is gone: deltas, or a snapshot when this same
  // process (the churn, the feed and the client share one event loop) left it a frame behind.
  const before = { updates: normalUpdates, deltas: normalDeltas };
  const until = Date.now() + 30_000;
  while (normalUpdates < before.updates + 2 && Date.now() < until) await sleep(20);
  t.ok(normalUpdates >= before.updates + 2, `updates continue (${normalUpdates - before.updates} frames, ${normalDeltas - before.deltas} of them deltas)`);

  // The stuck client, reading again, finds its connection ended by the proxy.
  const ended = new Promise<void>((resolve) => stuck.once('close', () => resolve()));
  stuck.on('error', () => {});
  stuck.on('data', () => {});
  stuck.resume();
  await Promise.race([ended, new Promise((_, reject) => setTimeout(() => reject(new Error('stuck client not closed')), 30_000))]);
  t.pass('the stuck client socket is closed');
});

t.test('a client that fell behind gets a fresh snapshot instead of the deltas it missed', async (t) => {
  const { bus, feed, port } = await setup(t, { skipAboveBytes: 256 * 1024, closeAfterMs: 3_600_000 });
  for (let i = 0; i < 2000; i++) authorize(bus, `w${i}`, i + 1);
  const client = await connect(t, `ws://127.0.0.1:${port}/ws`);
  t.equal((await client.next()).type, 'snapshot');
  // Stop reading, and make changes until the server's buffer for it passes the limit.
  (client.ws as unknown as { _socket: net.Socket })._socket.pause();
  let round = 0;
  const deadline = Date.now() + 60_000;
  while (feed.stats().framesSkipped === 0 && Date.now() < deadline) {
    round++;
    for (let i = 0; i < 2000; i++) accept(bus, `w${i}`, i + 1, T0, round);
    feed.tick();
    await new Promise((r) => setImmediate(r));
  }
  t.ok(feed.stats().framesSkipped > 0, 'a delta was skipped');
  t.ok(feed.clientStates()[0]!.stale, 'the client is marked for a snapshot');
  // Read again: the backlog drains, and the next tick sends a snapshot with the current state.
  (client.ws as unknown as { _socket: net.Socket })._socket.resume();
  const until = Date.now() + 60_000;
  let snapshot: FeedMessage | null = null;
  while (Date.now() < until && !snapshot) {
    await sleep(20);
    feed.tick();
    for (const m of client.messages.splice(0)) if (m.type === 'snapshot') snapshot = m;
  }
  t.equal(snapshot?.type, 'snapshot', 'caught up with a snapshot');
  t.equal(snapshot!.devices.length, 2000);
  t.ok(snapshot!.devices.every((d) => d.accepted === round), 'with the latest numbers');
  t.equal(feed.stats().slowClosed, 0, 'a client that drains in time is not closed');
});

t.test('owners: every message carries them; a new map resends the devices it moved, with their new owner', async (t) => {
  const { bus, stats, feed, port, clock } = await setup(t);
  stats.setOwners(OwnerMap.compile({ alice: { workers: ['rack3.*'], feePercent: 0 } }, { farmOwner: 'farm' }));
  authorize(bus, 'rack3.a', 1);
  authorize(bus, 'rig-b', 2);
  accept(bus, 'rack3.a', 1);
  feed.tick();
  const client = await connect(t, `ws://127.0.0.1:${port}/ws`);
  const snap = (await client.next()) as SnapshotMessage;
  t.same(snap.owners, stats.ownerList(T0), 'the snapshot has FarmLedger.ownerList');
  t.same(snap.owners.map((o) => [o.owner, o.devices, o.work]), [
    ['alice', 1, 1024],
    ['farm', 1, 0],
  ]);
  t.equal(byWorker(snap.devices).get('rack3.a')!.owner, 'alice');

  clock.now = T0 + 1000;
  stats.setOwners(OwnerMap.compile({ bob: { workers: ['rig-*'], feePercent: 0 } }, { farmOwner: 'farm' }));
  feed.tick();
  const delta = (await client.next()) as DeltaMessage;
  t.same(delta.devices.map((d) => [d.worker, d.owner]).sort(), [
    ['rack3.a', 'farm'],
    ['rig-b', 'bob'],
  ], 'both moved devices are resent with their new owner');
  t.same(delta.owners, stats.ownerList(T0 + 1000), 'the delta has the owners as they are now');
  t.match(Object.fromEntries(delta.owners.map((o) => [o.owner, o])), { alice: { configured: false, work: 1024, devices: 0 }, bob: { devices: 1 } });
});

t.test("payouts: every message carries each owner's last payout from the books, or says there are no books", async (t) => {
  const off = await setup(t);
  const plain = await connect(t, `ws://127.0.0.1:${off.port}/ws`);
  t.same(((await plain.next()) as SnapshotMessage).payouts, { books: false, lastPayouts: {}, checkedAt: null, error: null }, 'no books: books false');

  let view: PayoutsView = { books: true, lastPayouts: {}, checkedAt: T0, error: null };
  const on = await setup(t, { payouts: { view: () => view } });
  const client = await connect(t, `ws://127.0.0.1:${on.port}/ws`);
  t.same(((await client.next()) as SnapshotMessage).payouts, view, 'the snapshot has the payouts view');
  view = { ...view, lastPayouts: { alice: { payoutId: 1, amount: '0.50000000', amountDuffs: '50000000', payoutAmount: '1.00000000', method: 'prop', recordedAt: T0, from: T0 - 1000, to: T0 } } };
  on.feed.tick();
  t.same(((await client.next()) as DeltaMessage).payouts, view, 'a delta has it as it is now');
});

t.test('routes: every message carries them; a moved device is resent with its new target', async (t) => {
  const { bus, stats, feed, port, clock } = await setup(t);
  authorize(bus, 'rig-a', 1);
  bus.emit('device.route', { sessionId: 1, worker: 'rig-a', route: 'default', target: 'default', reason: 'placed', at: T0 });
  accept(bus, 'rig-a', 1);
  feed.tick();
  const client = await connect(t, `ws://127.0.0.1:${port}/ws`);
  const snap = (await client.next()) as SnapshotMessage;
  t.same(snap.routes, stats.routeList(T0), 'the snapshot has FarmLedger.routeList');
  t.match(snap.routes, [{ name: 'default', devices: 1, work: 1024, targets: [{ name: 'default', weight: 1, devices: 1, work: 1024, workShare: 1 }] }]);
  t.match(byWorker(snap.devices).get('rig-a'), { route: 'default', target: 'default' });

  clock.now = T0 + 1000;
  bus.emit('device.route', { sessionId: 1, worker: 'rig-a', route: 'default', target: 'other', reason: 'rebalance', at: T0 + 1000 });
  feed.tick();
  const delta = (await client.next()) as DeltaMessage;
  t.same(delta.devices.map((d) => [d.worker, d.route, d.target]), [['rig-a', 'default', 'other']], 'the moved device is resent');
  t.same(delta.routes, stats.routeList(T0 + 1000), 'the delta has the routes as they are now');
});

t.test('solo blocks: the snapshot has the recent ones; a delta has them only when they changed', async (t) => {
  const { bus, stats, feed, port, clock } = await setup(t);
  const block = { route: 'default', target: 'default', connection: 0, pool: 'own-dashd', sessionId: 1, worker: 'rig-a', shareId: 1, height: 2_100_000, reward: 168_000_000, coinbaseValue: 300_000_000, payoutAddress: 'XfarmPayout', at: T0 };
  for (let i = 0; i < FEED_BLOCKS + 5; i++) bus.emit('block.submitted', { ...block, hash: `h${i}`, height: block.height + i, result: 'accepted', reason: null });
  feed.tick();
  const client = await connect(t, `ws://127.0.0.1:${port}/ws`);
  const snap = (await client.next()) as SnapshotMessage;
  t.equal(snap.blocks.length, FEED_BLOCKS, `the ${FEED_BLOCKS} most recent`);
  t.same(snap.blocks, stats.blocks.recent(FEED_BLOCKS), 'as the ledger keeps them, newest first');
  t.equal(snap.blocks[0]!.hash, `h${FEED_BLOCKS + 4}`);

  clock.now = T0 + 1000;
  feed.tick();
  const quiet = (await client.next()) as DeltaMessage;
  t.notOk('blocks' in quiet, 'nothing changed: no blocks in the delta');

  clock.now = T0 + 2000;
  bus.emit('block.status', { pool: 'own-dashd', hash: `h${FEED_BLOCKS + 4}`, height: block.height + FEED_BLOCKS + 4, status: 'chainlocked', confirmations: 2, chainlock: true, reason: 'a ChainLock covers it (2 confirmations)', at: T0 + 2000 });
  feed.tick();
  const moved = (await client.next()) as DeltaMessage;
  t.same(moved.blocks, stats.blocks.recent(FEED_BLOCKS), 'a status change: the blocks again');
  t.match(moved.blocks![0], { status: 'chainlocked', chainlock: true, confirmations: 2 });
  t.match(moved.events.map((e) => e.message), [/^block 2100024 h24 on dashd own-dashd: chainlocked/], 'and its event line');
});
