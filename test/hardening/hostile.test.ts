import t from 'tap';
import { EventBus, type ProxyEventMap } from '../../src/core/events.js';
import { FarmLedger } from '../../src/observe/farm-ledger.js';
import { ProxyMetrics } from '../../src/observe/metrics.js';
import { FakeUpstream } from '../helpers/fake-upstream.js';
import { hasher } from '../helpers/share-kit.js';
import { proxyUnderTest } from '../helpers/proxy-under-test.js';
import { blockNotify } from '../helpers/block-job.js';
import { errorOf, LineClient } from '../helpers/line-client.js';
import { mulberry32 } from '../helpers/prng.js';
import { sleep, until } from '../helpers/wait.js';
import { GoodDevice, recordingLogger } from './helpers.js';

/**
 * Hostile clients against the real Proxy + DeviceServer over loopback, while well-behaved devices keep
 * mining real X11 shares on a real Dash job. Each hostile client comes from its own loopback address
 * (127.0.0.x), so per-address limits hit the flood and nobody else. Throughout: the good devices keep
 * getting jobs, every share they send is accepted (and forwarded: the pool's difficulty equals theirs),
 * and the process memory stays bounded.
 */
const DIFF = 2 ** -24; // about 256 X11 hashes per share
const MAX_PER_IP = 20;
const HANDSHAKE_MS = 1500;
const WRITE_BUFFER = 64 * 1024;
const SUBMITS_PER_SECOND = 50;
/** Generous: the whole test process (proxy and every client) may grow this much while under attack. */
const RSS_GROWTH_LIMIT = 300 * 1024 * 1024;

t.test('hostile clients: the good devices keep mining, every refusal is counted, memory stays bounded', async (t) => {
  const bus = new EventBus();
  const log = recordingLogger();
  const ledger = new FarmLedger(bus);
  const metrics = new ProxyMetrics(bus, ledger, { processMetrics: false });
  const refused: ProxyEventMap['limit.refused'][] = [];
  const connected: ProxyEventMap['device.connected'][] = [];
  const disconnected: ProxyEventMap['device.disconnected'][] = [];
  bus.on('limit.refused', (e) => refused.push(e));
  bus.on('device.connected', (e) => connected.push(e));
  bus.on('device.disconnected', (e) => disconnected.push(e));

  const up = new FakeUpstream();
  up.difficulty = DIFF;
  t.teardown(() => {
    metrics.close();
    ledger.close();
  });
  const { port, server, clients, connect } = await proxyUnderTest(t, {
    proxy: { hasher, bus, createUpstream: () => up, startDifficulty: DIFF, vardiff: { minDifficulty: DIFF, maxDifficulty: DIFF }, log: log.child({ c: 'proxy' }) },
    devices: { maxConnectionsPerIp: MAX_PER_IP, handshakeTimeoutMs: HANDSHAKE_MS, maxWriteBufferBytes: WRITE_BUFFER, submitsPerSecond: SUBMITS_PER_SECOND },
    devicesLog: log.child({ c: 'devices' }),
  });
  up.ready();
  up.job(blockNotify('p1'));

  // ---- the good devices, mining from the start to the end --------------------------------------------
  const good = await Promise.all([2, 3, 4].map((n) => GoodDevice.connect(port, `good${n}`, `127.0.0.${n}`)));
  for (const d of good) clients.push(d.client);
  await until(() => good.every((d) => d.current() !== null), 'a job at every good device');
  let mining = true;
  const miners = good.map(async (d) => {
    while (mining) {
      await d.submitOne();
      await sleep(20);
    }
  });
  const accepted = () => good.map((d) => d.answers.filter((a) => a.result === true).length);
  await until(() => accepted().every((n) => n >= 2), 'two accepted shares per good device');

  let maxRss = 0;
  const baseline = process.memoryUsage().rss;
  const sampler = setInterval(() => (maxRss = Math.max(maxRss, process.memoryUsage().rss)), 25);
  t.teardown(() => clearInterval(sampler));

  /** Runs `attack`, then checks the good devices got jobs and accepted shares while it went on. */
  const phase = async (name: string, attack: () => Promise<void>) => {
    const before = accepted();
    await attack();
    await until(() => accepted().every((n, i) => n >= before[i]! + 2), `good devices still get shares accepted after: ${name}`, 30_000);
  };

  // ---- concurrently: garbage, a 10 MiB line, half a JSON object, a connection flood, a submit flood ----
  const garbage = phase('garbage bytes', async () => {
    const c = await connect('127.0.0.10');
    const rand = mulberry32(0xbad5eed); // deterministic bytes for the garbage client
    for (let i = 0; i < 200 && !c.closed; i++) {
      const b = Buffer.alloc(1 + Math.floor(rand() * 300));
      for (let j = 0; j < b.length; j++) b[j] = rand() < 0.03 ? 10 : Math.floor(rand() * 256);
      c.sendRaw(b);
      if (i % 20 === 0) await sleep(1);
    }
    await c.waitClosed(HANDSHAKE_MS + 10_000);
    t.ok(c.lines.length > 0, `the garbage got answers (${c.lines.length})`);
    t.ok(
      c.lines.every((l) => l.result === null && errorOf(l)?.[0] === 20),
      'every answer to garbage is a standard error 20',
    );
    t.ok(c.lines.some((l) => errorOf(l)?.[1] === 'Malformed JSON'), "'Malformed JSON' among them");
    t.ok(refused.some((r) => r.ip === '127.0.0.10' && r.cause === 'handshake_timeout'), 'then closed by the handshake timeout');
  });

  const longLine = phase('a 10 MiB line', async () => {
    const c = await connect('127.0.0.11');
    c.sendRaw(Buffer.alloc(10 * 1024 * 1024, 0x7b)); // '{' * 10 MiB, no newline
    await c.waitClosed(20_000);
    t.same(c.lines.map(errorOf), [[20, 'Line too long: over 16384 bytes', null]], 'one answer: error 20, line too long, then closed');
    t.ok(refused.some((r) => r.ip === '127.0.0.11' && r.cause === 'line_too_long'), 'counted as line_too_long');
  });

  const halfJson = phase('half a JSON object then silence', async () => {
    const c = await connect('127.0.0.12');
    const opened = Date.now();
    c.sendRaw('{"id":1,"method":"mining.subscribe","params":["half-');
    await c.waitClosed(HANDSHAKE_MS + 10_000);
    t.ok(Date.now() - opened >= HANDSHAKE_MS - 50, 'not closed before the handshake timeout');
    t.equal(c.lines.length, 0, 'nothing was answered: the half line was never a request');
    t.ok(refused.some((r) => r.ip === '127.0.0.12' && r.cause === 'handshake_timeout'), 'counted as handshake_timeout');
  });

  const FLOOD = 2500;
  let floodAccepted = 0;
  let floodMaxOpen = 0;
  const flood = phase(`${FLOOD} connections from one address`, async () => {
    const from = '127.0.0.9';
    const watch = setInterval(() => {
      const open = [...server.sessions].filter((s) => s.ip === from).length;
      floodMaxOpen = Math.max(floodMaxOpen, open);
    }, 5);
    const sockets: LineClient[] = [];
    for (let i = 0; i < FLOOD; i += 250) {
      const batch = await Promise.allSettled(Array.from({ length: Math.min(250, FLOOD - i) }, () => LineClient.connect(port, from)));
      for (const b of batch) if (b.status === 'fulfilled') sockets.push(b.value);
    }
    const refusedHere = () => refused.filter((r) => r.ip === from && r.cause === 'max_per_ip').length;
    const acceptedHere = () => connected.filter((c) => c.ip === from).length;
    await until(() => refusedHere() + acceptedHere() === FLOOD, `every flood connection either accepted or refused (${refusedHere()} + ${acceptedHere()})`);
    clearInterval(watch);
    floodAccepted = acceptedHere();
    for (const s of sockets) s.close();
    t.ok(floodMaxOpen <= MAX_PER_IP, `never more than ${MAX_PER_IP} open from the flooding address (max seen ${floodMaxOpen})`);
    t.ok(refusedHere() >= FLOOD - floodAccepted && refusedHere() > FLOOD / 2, `refused past the limit: ${refusedHere()} refused, ${floodAccepted} accepted`);
  });

  const submitFlood = phase('a submit flood', async () => {
    const c = await connect('127.0.0.13');
    await c.request('mining.subscribe', []);
    await c.request('mining.authorize', ['flooder', 'x']);
    const job = await c.waitFor((l) => l.method === 'mining.notify', 10_000, true);
    const N = 1500;
    let text = '';
    for (let i = 0; i < N; i++) {
      const nonce = (i * 7919).toString(16).padStart(8, '0');
      text += JSON.stringify({ id: 1000 + i, method: 'mining.submit', params: ['flooder', job.params![0], i.toString(16).padStart(16, '0'), job.params![7], nonce] }) + '\n';
    }
    c.sendRaw(text);
    await until(() => c.lines.filter((l) => typeof l.id === 'number' && l.id >= 1000).length === N, 'an answer to every flooded submit', 30_000);
    const answers = c.lines.filter((l) => typeof l.id === 'number' && l.id >= 1000);
    t.same(answers.map((a) => a.id), Array.from({ length: N }, (_, i) => 1000 + i), 'every submit answered, in order');
    const limited = answers.filter((a) => errorOf(a)?.[1] === `Too many submits: the limit is ${SUBMITS_PER_SECOND} per second`);
    t.ok(limited.length >= N - 4 * SUBMITS_PER_SECOND, `most of the flood refused by the rate limit (${limited.length} of ${N})`);
    t.ok(limited.every((a) => errorOf(a)![0] === 20), 'with error 20');
    t.ok(answers.length - limited.length >= 2 * SUBMITS_PER_SECOND, `the burst allowance was judged as shares (${answers.length - limited.length})`);
    t.notOk(c.closed, 'the flooding device is still connected');
    t.ok(refused.some((r) => r.ip === '127.0.0.13' && r.cause === 'submit_rate'), 'counted as submit_rate');
  });

  await Promise.all([garbage, longLine, halfJson, flood, submitFlood]);

  // ---- a device that never reads while jobs are fanned out -------------------------------------------
  await phase('a device that never reads', async () => {
    const c = await connect('127.0.0.14');
    await c.request('mining.subscribe', []);
    await c.request('mining.authorize', ['sleeper', 'x']);
    const session = [...server.sessions].find((s) => s.worker === 'sleeper')!;
    c.socket.pause(); // stops reading: the kernel buffers fill, then the proxy's write buffer
    const jobsBefore = good.map((d) => d.jobsReceived);
    let sent = 0;
    // Big jobs (~40 KB lines), not clean, so the good devices' shares on the previous jobs stay valid.
    while (session.state !== 'closed' && sent < 2000) {
      up.job(blockNotify(`big${sent}`, false, 20_000));
      sent++;
      await sleep(2);
    }
    t.equal(session.state, 'closed', `the sleeper was dropped after ${sent} jobs`);
    t.match(session.reasonClosed, /^device is not reading \(over 65536 bytes waiting to be sent\)$/);
    t.ok(refused.some((r) => r.ip === '127.0.0.14' && r.cause === 'write_buffer'), 'counted as write_buffer');
    up.job(blockNotify('after', false));
    await until(() => good.every((d, i) => d.jobsReceived > jobsBefore[i]! + sent), 'the good devices got every job, the last one too', 30_000);
  });

  mining = false;
  await Promise.all(miners);
  clearInterval(sampler);

  // ---- the books -------------------------------------------------------------------------------------
  const answers = good.flatMap((d) => d.answers);
  const notAccepted = answers.filter((a) => a.result !== true);
  t.same(notAccepted.slice(0, 5), [], `every one of the ${answers.length} shares of the good devices was accepted`);
  t.equal(up.submits.length, ledger.summary().forwarded, 'every forwarded share reached the pool');
  t.ok(answers.length <= up.submits.length, 'every good share was forwarded (pool difficulty = device difficulty)');
  t.ok(good.every((d) => !d.client.closed), 'no good device was disconnected');
  t.ok(disconnected.every((d) => !String(d.worker).startsWith('good')), 'no good device session ended');
  const growth = maxRss - baseline;
  t.ok(growth < RSS_GROWTH_LIMIT, `rss grew by ${(growth / 2 ** 20).toFixed(1)} MiB at most (limit ${RSS_GROWTH_LIMIT / 2 ** 20} MiB; baseline ${(baseline / 2 ** 20).toFixed(0)} MiB)`);

  // Every cause is exported as a counter, and each was logged once, not per packet.
  const text = await metrics.render();
  for (const cause of ['max_per_ip', 'handshake_timeout', 'line_too_long', 'submit_rate', 'write_buffer']) {
    const m = new RegExp(`^dash_proxy_connections_refused_total\\{cause="${cause}"\\} (\\d+)$`, 'm').exec(text);
    const n = refused.filter((r) => r.cause === cause).length;
    t.equal(Number(m?.[1]), n, `dash_proxy_connections_refused_total{cause="${cause}"} = ${n}`);
    t.equal(log.records.filter((r) => r.msg === 'refusing devices' && r.fields.cause === cause).length, 1, `${cause} logged once`);
  }
  t.equal(refused.filter((r) => r.cause === 'max_per_ip').length, FLOOD - floodAccepted);
  t.comment(`good shares accepted: ${answers.length}; flood: ${floodAccepted} accepted of ${FLOOD}; rss growth ${(growth / 2 ** 20).toFixed(1)} MiB`);
});
