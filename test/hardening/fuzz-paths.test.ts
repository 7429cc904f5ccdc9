import t from 'tap';
import { EventBus } from '../../src/core/events.js';
import { targetFromBits } from '../../src/chain/target.js';
import { parseLine, type RpcId } from '../../src/stratum/jsonrpc.js';
import { Method, parseNotify } from '../../src/stratum/messages.js';
import { UpstreamSlot } from '../../src/upstream/upstream-slot.js';
import { FakeUpstream } from '../helpers/fake-upstream.js';
import { loadTranscript } from '../helpers/fixtures.js';
import { proxyUnderTest } from '../helpers/proxy-under-test.js';
import { notifyParams, ScriptedPool, type ScriptedClient } from '../helpers/scripted-pool.js';
import { blockNotify } from '../helpers/block-job.js';
import { LineClient, type Line } from '../helpers/line-client.js';
import { mulberry32 } from '../helpers/prng.js';
import { sleep, until } from '../helpers/wait.js';
import { GoodDevice, recordingLogger } from './helpers.js';

/**
 * Bounded fuzzing of the two message paths at the session level, over loopback, with a fixed seed (a failure
 * replays): random and mutated device lines into real Sessions of a real Proxy, and random and mutated pool
 * lines into a real PoolConnection (through UpstreamSlot and the Proxy). The stratum codec itself is fuzzed
 * in test/stratum/fuzz.test.ts; here the point is the paths: nothing throws, every device request gets
 * exactly one well-formed answer in request order, what reaches devices from a hostile pool is well-formed,
 * and the proxy keeps serving a good device throughout.
 *
 * FUZZ_CASES scales both runs (default 300 device cases, 120 pool batches); FUZZ_SEED picks the seed.
 */
const CASES = Math.max(1, Number(process.env.FUZZ_CASES ?? 300));
const POOL_BATCHES = Math.max(1, Math.ceil(CASES * 0.4));
const SEED = Number(process.env.FUZZ_SEED ?? 0x4a2d17);
const DIFF = 2 ** -24;

function fuzzer(seed: number) {
  const rand = mulberry32(seed);
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const hex = (chars: number) => Array.from({ length: chars }, () => '0123456789abcdef'[int(16)]).join('');
  const str = (): string =>
    pick([
      () => '',
      () => hex(pick([2, 7, 8, 16, 63, 64, 65])),
      () => pick(['true', 'null', '1e309', '-0', 'Infinity', 'NaN', '__proto__', 'toString', 'mining.submit']),
      () => String.fromCharCode(...Array.from({ length: int(8) }, () => 1 + int(0xfffe)).filter((c) => c !== 10)),
      () => 'x'.repeat(pick([64, 257, 1025])),
    ])();
  const json = (depth = 0): unknown => {
    switch (int(depth > 2 ? 5 : 8)) {
      case 0:
        return null;
      case 1:
        return rand() < 0.5;
      case 2:
        return pick([0, -1, 1, 0.5, 1e-12, 2 ** 32, 2 ** 53 + 1, 1e308, -1e308, DIFF, rand() * 1e6]);
      case 3:
      case 4:
        return str();
      case 5:
      case 6:
        return Array.from({ length: int(6) }, () => json(depth + 1));
      default: {
        const o: Record<string, unknown> = {};
        for (let i = int(4); i > 0; i--) o[pick(['version-rolling.mask', 'toString', '__proto__', 'a', str()])] = json(depth + 1);
        return o;
      }
    }
  };
  const mutate = (line: string): string => {
    let s = line;
    for (let n = 1 + int(3); n > 0; n--) {
      const at = int(s.length + 1);
      switch (int(5)) {
        case 0:
          s = s.slice(0, at) + String.fromCharCode(1 + int(126)) + s.slice(at + 1);
          break;
        case 1:
          s = s.slice(0, at) + pick(['"', '{', '}', '[', ']', ',', ':', 'null', '1e999', '-1', '[[', '\\', 'true', '{"toString":1}']) + s.slice(at);
          break;
        case 2:
          s = s.slice(0, at) + s.slice(at + 1 + int(8));
          break;
        case 3:
          s = s.replace(/"[0-9a-f]{8}"/, `"${hex(pick([7, 8, 9]))}"`);
          break;
        default:
          s = s.replace(/\d+(\.\d+)?/, String(pick([0, -1, 1e-300, 1e300, 4.5])));
      }
    }
    return s.replace(/\n/g, ' ');
  };
  const bytes = (): Buffer => {
    const b = Buffer.alloc(int(300));
    for (let i = 0; i < b.length; i++) b[i] = 1 + int(255);
    for (let i = 0; i < b.length; i++) if (b[i] === 10) b[i] = 11;
    return b;
  };
  return { rand, int, pick, hex, json, mutate, bytes };
}

/** What the device side must answer for one line (the oracle: the codec's own parse), or 'none'. */
function expectedAnswerId(line: Buffer): RpcId | 'none' {
  let end = line.length;
  if (end > 0 && line[end - 1] === 13) end--;
  if (end === 0) return 'none';
  const p = parseLine(line.toString('utf8', 0, end));
  if (!p.ok) return p.id;
  return p.message.kind === 'response' ? 'none' : p.message.id;
}

function wellFormedAnswer(l: Line): boolean {
  if (l.method !== undefined) return true; // a notification (job, difficulty): not an answer
  if (l.error === null) return l.result !== undefined;
  const e = l.error as unknown[];
  return Array.isArray(e) && e.length === 3 && typeof e[0] === 'number' && e[0] >= 20 && e[0] <= 25 && typeof e[1] === 'string' && e[2] === null && l.result === null;
}

t.test(`device path: ${CASES} fuzzed connections into real sessions (seed ${SEED})`, async (t) => {
  const f = fuzzer(SEED);
  const bus = new EventBus();
  const log = recordingLogger();
  const up = new FakeUpstream();
  up.difficulty = DIFF;
  const { port, clients: open } = await proxyUnderTest(t, {
    proxy: { bus, log, createUpstream: () => up, startDifficulty: DIFF, vardiff: { minDifficulty: DIFF, maxDifficulty: DIFF }, expectedDevices: 100_000 },
    devices: { submitsPerSecond: 1e6, maxConnectionsPerIp: 100_000 },
  });
  up.ready();
  up.job(blockNotify('p1'));
  const good = await GoodDevice.connect(port, 'good', '127.0.0.2');
  open.push(good.client);
  await until(() => good.current() !== null, 'a job at the good device');
  const jobId = () => good.current()!.notify.jobId;

  const deviceLines = loadTranscript().filter((r) => r.dir === 'miner->pool').map((r) => r.line);
  const methods = [...Object.values(Method), 'mining.ping', 'mining.get_transactions', 'mining.frobnicate', ''];
  const workers = ['rig', 'good', 'x'.repeat(300), ''];
  const oneLine = (): Buffer => {
    switch (f.int(7)) {
      case 0:
        return Buffer.from(f.mutate(f.pick(deviceLines).replace(/"params": \["[^"]*", "[0-9a-f]+"/, `"params": ["rig", "${jobId()}"`)));
      case 1:
        return Buffer.from(JSON.stringify({ id: f.json(2), method: f.pick(methods), params: Array.from({ length: f.int(7) }, () => f.json()) }) ?? 'null');
      case 2:
        return f.bytes();
      case 3:
        return Buffer.from(JSON.stringify({ id: f.int(5), result: f.json(), error: f.json() }));
      case 4:
        return Buffer.from(JSON.stringify({ id: f.int(100), method: 'mining.submit', params: [f.pick(workers), f.pick([jobId(), '1', f.hex(4)]), f.hex(f.pick([16, 15, 8])), f.pick([good.current()!.notify.ntime, f.hex(8)]), f.hex(8)] }));
      default:
        return Buffer.from(
          JSON.stringify(
            f.pick([
              { id: 1, method: 'mining.subscribe', params: [f.json()] },
              { id: 2, method: 'mining.authorize', params: [f.pick(workers), f.json()] },
              { id: 3, method: 'mining.extranonce.subscribe', params: [] },
              { id: 4, method: 'mining.configure', params: [['version-rolling'], { 'version-rolling.mask': f.hex(8) }] },
              { id: 5, method: 'mining.suggest_difficulty', params: [f.json()] },
            ]),
          ),
        );
    }
  };

  const failures: string[] = [];
  let answered = 0;
  for (let c = 0; c < CASES; c++) {
    const lines = Array.from({ length: 1 + f.int(8) }, oneLine);
    const expected = lines.map(expectedAnswerId).filter((id) => id !== 'none');
    // The same lines, joined with \n or \r\n, sent in random chunks.
    const stream = Buffer.concat(lines.flatMap((l) => [l, Buffer.from(f.rand() < 0.2 ? '\r\n' : '\n')]));
    const client = await LineClient.connect(port, '127.0.0.3');
    open.push(client);
    for (let off = 0; off < stream.length; ) {
      const len = 1 + f.int(stream.length - off);
      client.sendRaw(stream.subarray(off, off + len));
      off += len;
    }
    const answers = () => client.lines.filter((l) => l.method === undefined);
    try {
      await until(() => answers().length >= expected.length || client.closed, `answers to case ${c}`, 15_000);
    } catch (e) {
      failures.push(`case ${c}: ${(e as Error).message}; got ${answers().length} of ${expected.length}`);
    }
    await sleep(1);
    const got = answers();
    answered += got.length;
    if (client.closed) failures.push(`case ${c}: the connection was closed (${JSON.stringify(lines.map((l) => l.toString('utf8').slice(0, 80)))})`);
    if (JSON.stringify(got.map((l) => l.id ?? null)) !== JSON.stringify(expected)) {
      failures.push(`case ${c}: answer ids ${JSON.stringify(got.map((l) => l.id))} != expected ${JSON.stringify(expected)} for ${JSON.stringify(lines.map((l) => l.toString('utf8').slice(0, 120)))}`);
    }
    for (const l of client.lines) if (!wellFormedAnswer(l)) failures.push(`case ${c}: malformed answer ${JSON.stringify(l)}`);
    client.close();
    open.pop();
    if (failures.length > 5) break;
    if (c % 50 === 49) {
      const ans = await good.submitOne();
      if (ans.result !== true) failures.push(`case ${c}: the good device's share was not accepted: ${JSON.stringify(ans)}`);
    }
  }
  t.same(failures.slice(0, 5), [], `no failures in ${CASES} cases (${answered} answers checked)`);
  t.same(log.records.filter((r) => r.msg.startsWith('internal error')).map((r) => r.fields.error), [], 'no internal error in any session');
  t.equal((await good.submitOne()).result, true, 'the good device is still served at the end');
});

t.test(`pool path: ${POOL_BATCHES} batches of fuzzed pool lines into a real PoolConnection (seed ${SEED})`, async (t) => {
  const f = fuzzer(SEED + 1);
  const ntime = Math.floor(Date.now() / 1000).toString(16);
  const goodJob = (id: string, clean = true) => notifyParams(id, clean, ntime);
  const healthy = (client: ScriptedClient, req: { id: RpcId; method: string }) => {
    if (req.method === 'mining.subscribe') {
      client.reply(req.id, [[['mining.notify', 'x']], 'aaaa0000', 8]);
      client.notify('mining.set_difficulty', [DIFF]);
      client.notify('mining.notify', goodJob(`s${f.int(1e9)}`));
    } else if (req.method === 'mining.authorize') client.reply(req.id, true);
    else if (req.method === 'mining.submit') client.reply(req.id, f.rand() < 0.8 ? true : null, f.rand() < 0.8 ? null : f.json());
  };
  const pool = await ScriptedPool.start({ behaviour: healthy });
  const bus = new EventBus();
  const log = recordingLogger();
  const upstreamLog: string[] = [];
  const slot = new UpstreamSlot({
    pools: [{ name: 'P', url: pool.url, user: 'u', password: 'x' }],
    backoff: { baseMs: 10, maxMs: 50, jitter: 'none' },
    connection: { maxReconnectWaitMs: 20, handshakeTimeoutMs: 2000, submitTimeoutMs: 2000, maxGarbageInARow: 5, maxBadJobsInARow: 1000, firstJobTimeoutMs: 60_000 },
    log: (level, m) => upstreamLog.push(`${level}: ${m}`),
  });
  t.teardown(() => pool.close());
  const { proxy, port, clients } = await proxyUnderTest(t, {
    proxy: { bus, log, createUpstream: () => slot, startDifficulty: DIFF, vardiff: { minDifficulty: DIFF, maxDifficulty: DIFF }, expectedDevices: 10 },
  });
  let device: GoodDevice | null = null;
  /** A device from the good address (each one closed at teardown). */
  const connectDevice = async () => {
    const d = await GoodDevice.connect(port, 'good', '127.0.0.2');
    clients.push(d.client);
    return d;
  };
  await until(() => proxy.isReady, 'the proxy is ready');

  const poolLines = loadTranscript().filter((r) => r.dir === 'pool->miner').map((r) => r.line);
  const poolMethods = [Method.Notify, Method.SetDifficulty, Method.SetExtranonce, Method.Reconnect, Method.ShowMessage, Method.SetVersionMask, Method.GetVersion, 'mining.frobnicate'];
  const oneLine = (): string => {
    switch (f.int(6)) {
      case 0:
        return f.mutate(f.pick(poolLines));
      case 1:
        return JSON.stringify({ id: f.pick([null, f.int(50)]), method: f.pick(poolMethods), params: Array.from({ length: f.int(10) }, () => f.json()) }) ?? 'null';
      case 2:
        return f.bytes().toString('latin1');
      case 3: {
        const p = goodJob(`f${f.int(1e6)}`, f.rand() < 0.5);
        p[f.int(9)] = f.json();
        return JSON.stringify({ id: null, method: Method.Notify, params: p });
      }
      case 4:
        return JSON.stringify({ id: f.int(20), result: f.json(), error: f.json() });
      default:
        return JSON.stringify({ id: null, method: Method.SetDifficulty, params: [f.pick([DIFF, 0, -1, 1e308, 'x', null, DIFF / 2])] });
    }
  };

  const failures: string[] = [];
  const checkDeviceLines = (d: GoodDevice) => {
    for (const l of d.client.lines) {
      if (l.method === Method.Notify) {
        try {
          const n = parseNotify(l.params!);
          if (targetFromBits(parseInt(n.nbits, 16)) === 0n) failures.push(`a job with a zero target reached a device: ${n.nbits}`);
        } catch (e) {
          failures.push(`a malformed job reached a device: ${(e as Error).message}`);
        }
      } else if (l.method === Method.SetDifficulty) {
        const d0 = l.params![0];
        if (typeof d0 !== 'number' || !(d0 > 0) || !Number.isFinite(d0)) failures.push(`bad difficulty sent to a device: ${JSON.stringify(d0)}`);
      }
    }
  };
  let reconnects = 0;
  let downs = 0;
  bus.on('pool.down', () => downs++);
  for (let b = 0; b < POOL_BATCHES && failures.length <= 5; b++) {
    // A device is connected (again, when the proxy told the previous one to reconnect).
    if (!device || device.client.closed) {
      if (device) {
        checkDeviceLines(device);
        if (!device.client.lines.some((l) => l.method === Method.Reconnect)) failures.push(`batch ${b}: a device was dropped without client.reconnect`);
        reconnects++;
      }
      await until(() => proxy.isReady, `batch ${b}: the proxy is ready again`, 20_000);
      device = await connectDevice();
    }
    const conn = await pool.clients.at(-1)!;
    const n = 1 + f.int(6);
    for (let i = 0; i < n; i++) conn.sendRaw(oneLine() + (f.rand() < 0.2 ? '\r\n' : '\n'));
    // Then a good clean job (on the live connection, or the next one brings its own), and a real share on it.
    await sleep(5);
    const live = pool.clients.at(-1)!;
    if (live.isOpen) {
      live.notify(Method.SetDifficulty, [DIFF]);
      live.notify(Method.Notify, goodJob(`g${b}`));
    }
    try {
      await until(() => device!.client.closed || (device!.current()?.notify !== undefined && proxy.isReady), `batch ${b}: a job after the fuzz`, 20_000);
      if (!device.client.closed) {
        const cur = device.current()!;
        const ans = await device.submitOne();
        // The pool may have changed difficulty or extranonce meanwhile: then a stale/low answer is honest too.
        if (ans.result !== true && ![21, 23].includes((ans.error as [number])?.[0]) && !(ans.error as [number, string])?.[1]?.startsWith('Rejected by the pool')) {
          failures.push(`batch ${b}: a share on ${cur.notify.jobId} got ${JSON.stringify(ans)}`);
        }
      }
    } catch (e) {
      if (!device.client.closed) failures.push(`batch ${b}: ${(e as Error).message}`);
    }
  }
  if (device) checkDeviceLines(device);
  t.same(failures.slice(0, 5), [], `no failures in ${POOL_BATCHES} batches`);
  t.same(log.records.filter((r) => r.msg.startsWith('internal error')), [], 'no internal error');
  t.ok(upstreamLog.some((l) => l.includes('ignored bad mining.notify') || l.includes('unreadable line')), 'the fuzz did reach the pool parsers');
  t.comment(`pool connections: ${pool.connections}, downs: ${downs}, device reconnects: ${reconnects}`);
  // The proxy is still serving: a final clean job and a share.
  await until(() => proxy.isReady, 'ready at the end', 20_000);
  if (!device || device.client.closed) device = await connectDevice();
  pool.clients.at(-1)!.notify(Method.Notify, goodJob('final'));
  await until(() => device!.current() !== null, 'a job at the end');
  t.match(await device.submitOne(), { id: Number }, 'answered at the end');
});
