import net from 'node:net';
import t from 'tap';
import { FanoutFleet } from '../../src/bench/fanout-fleet.js';

/**
 * The fan-out client's devices against a scripted stand-in for a proxy on 127.0.0.1: the handshake, the
 * arrival of each expected job (also when its prevhash is split between two reads, or repeated, or next to
 * a job nobody expects), and devices the proxy refuses or drops.
 */

const PREVHASH = (n: number) => n.toString(16).padStart(8, '0').repeat(8);
const notify = (jobId: string, prevhash: string) =>
  `{"id":null,"method":"mining.notify","params":["${jobId}","${prevhash}","01","02",[],"20000000","1a0fffff","5f5e1000",true]}\n`;

/** A stand-in proxy: answers subscribe and authorize (refusing workers named in `refuse`), then sends job 'a'. */
async function standIn(refuse: (worker: string) => boolean = () => false) {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    let rest = '';
    socket.on('data', (chunk) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        const m = JSON.parse(line) as { id: number; method: string; params: string[] };
        if (m.method === 'mining.subscribe') socket.write(`{"id":${m.id},"result":[[["mining.set_difficulty","1"],["mining.notify","1"]],"00000001",4],"error":null}\n`);
        if (m.method === 'mining.authorize') {
          if (refuse(m.params[0]!)) {
            socket.write(`{"id":${m.id},"result":null,"error":[24,"Unauthorized worker",null]}\n`);
            continue;
          }
          socket.write(`{"id":${m.id},"result":true,"error":null}\n`);
          socket.write(notify('a', PREVHASH(0)));
          sockets.push(socket);
        }
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    sockets,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('devices connect, hold a job, and each expected job is timed on arrival', async (t) => {
  const proxy = await standIn();
  t.teardown(proxy.close);
  const fleet = new FanoutFleet({ port: proxy.port, devices: 5, connectRate: 1000, maxSettingUp: 2, jobs: 2 });
  t.teardown(() => fleet.close());
  const report = await fleet.connect(5000);
  t.same([report.ready, report.failed], [5, 0], 'all five ready (at most two setting up at once)');
  t.equal(fleet.ready, 5);

  const writtenAt = performance.now();
  fleet.expect(0, PREVHASH(1));
  for (const s of proxy.sockets) s.write(notify('b', PREVHASH(1)));
  for (let i = 0; i < 200 && !fleet.allHave(0); i++) await wait(5);
  t.ok(fleet.allHave(0), 'job 0 reached all five');
  const lat = fleet.latencies(0, writtenAt);
  t.equal(lat.length, 5);
  t.ok(lat.every((x) => x >= 0 && x < 1000), `latencies from the write (${[...lat].map((x) => x.toFixed(2)).join(', ')} ms)`);

  // Job 1 with its prevhash cut in two reads; a repeat of job 0 and a notify of no expected job meanwhile.
  fleet.expect(1, PREVHASH(2));
  const line = notify('c', PREVHASH(2));
  const cut = line.indexOf(PREVHASH(2)) + 30;
  for (const s of proxy.sockets) s.write(notify('b', PREVHASH(1)) + line.slice(0, cut));
  await wait(50);
  t.notOk(fleet.allHave(1), 'half a prevhash is not a delivery');
  for (const s of proxy.sockets) s.write(line.slice(cut) + notify('z', PREVHASH(9)));
  for (let i = 0; i < 200 && !fleet.allHave(1); i++) await wait(5);
  t.equal(fleet.delivered(1), 5, 'the split prevhash is found in the second read');
  t.equal(fleet.delivered(0), 5, 'a repeated job counts once, at its first arrival');
  t.equal(fleet.latencies(0, writtenAt).length, 5);
  t.same([fleet.delivered(0), fleet.delivered(1)], [5, 5], 'the notify of no expected job counts for none');
});

t.test('refused devices are counted with the reason; a dropped device is no longer waited for', async (t) => {
  const proxy = await standIn((worker) => worker === 'fan.d2');
  t.teardown(proxy.close);
  const fleet = new FanoutFleet({ port: proxy.port, devices: 3, connectRate: 1000, maxSettingUp: 10, jobs: 1 });
  t.teardown(() => fleet.close());
  const report = await fleet.connect(5000);
  t.same([report.ready, report.failed], [2, 1]);
  t.same(Object.keys(report.reasons), ['authorize refused: [24,"Unauthorized worker",null]'], 'the reason is kept');

  proxy.sockets[0]!.destroy();
  for (let i = 0; i < 200 && fleet.ready > 1; i++) await wait(5);
  t.equal(fleet.ready, 1, 'one device left');
  t.equal(fleet.droppedAfterReady, 1);
  fleet.expect(0, PREVHASH(3));
  proxy.sockets[1]!.write(notify('d', PREVHASH(3)));
  for (let i = 0; i < 200 && !fleet.allHave(0); i++) await wait(5);
  t.ok(fleet.allHave(0), 'every device still held has the job');
});

t.test('nothing listening: the devices fail after their retries, within the wait', async (t) => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const fleet = new FanoutFleet({ port, devices: 2, connectRate: 1000, maxSettingUp: 10, jobs: 1 });
  const started = performance.now();
  const report = await fleet.connect(5000);
  t.same([report.ready, report.failed], [0, 2]);
  t.same(report.reasons, { ECONNREFUSED: 2 }, 'connection refused, after three attempts each');
  t.ok(performance.now() - started < 3000, 'well within the wait');
});

t.test('a fleet over child processes: each part from its own source address, jobs timed on the host-wide clock', { timeout: 60_000 }, async (t) => {
  const { ProcessFleet, splitEvenly, FIRST_SOURCE_HOST } = await import('../../src/bench/fleet-processes.js');
  t.same(splitEvenly(10, 3), [4, 3, 3], 'devices split evenly, the first parts one more');
  t.same(splitEvenly(100_000, 6), [16_667, 16_667, 16_667, 16_667, 16_666, 16_666]);

  const proxy = await standIn();
  t.teardown(proxy.close);
  const fleet = new ProcessFleet({ port: proxy.port, devices: 6, parts: 2, connectRate: 1000, maxSettingUp: 4, jobs: 1, fileLimit: 1024, firstSourceHost: FIRST_SOURCE_HOST });
  t.teardown(() => fleet.close());
  t.same(fleet.sourceAddresses, [`127.0.0.${FIRST_SOURCE_HOST}`, `127.0.0.${FIRST_SOURCE_HOST + 1}`]);
  const report = await fleet.connect(10_000);
  t.same([report.ready, report.failed], [6, 0], 'all six ready');
  t.same(proxy.sockets.map((s) => s.remoteAddress).sort(), [...Array(3).fill(`127.0.0.${FIRST_SOURCE_HOST}`), ...Array(3).fill(`127.0.0.${FIRST_SOURCE_HOST + 1}`)], 'three devices from each source address');
  const { SOURCE_PORTS } = await import('../../src/bench/fleet-processes.js');
  t.same(proxy.sockets.map((s) => s.remotePort! - SOURCE_PORTS.first).sort(), [0, 0, 1, 1, 2, 2], 'each part gives out its source ports in turn from the first');
  for (let i = 0; i < 200 && fleet.ready < 6; i++) await wait(5);
  t.equal(fleet.ready, 6, 'the parts report their ready devices');

  await fleet.expect(0, PREVHASH(1));
  t.notOk(fleet.allHave(0), 'nobody has a job not yet written');
  const writtenAt = performance.now();
  for (const s of proxy.sockets) s.write(notify('b', PREVHASH(1)));
  for (let i = 0; i < 400 && !fleet.allHave(0); i++) await wait(5);
  t.ok(fleet.allHave(0), 'job 0 reached all six, as the parts report');
  t.equal(fleet.delivered(0), 6);
  const elapsed = performance.now() - writtenAt;
  const lat = await fleet.latencies(0, writtenAt);
  t.equal(lat.length, 6);
  // Measured in the children against this process's write time: only a shared clock keeps them in [0, elapsed].
  t.ok(lat.every((x) => x >= 0 && x <= elapsed), `latencies between 0 and ${elapsed.toFixed(1)} ms (${[...lat].map((x) => x.toFixed(2)).join(', ')})`);
  t.ok(fleet.cpuSeconds() >= 0, 'the children\'s CPU time is read');
});
