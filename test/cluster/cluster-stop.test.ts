import t from 'tap';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { freePorts } from '../../src/bench/processes.js';
import { readLedger, tempDir } from '../books/ledger-kit.js';
import { cliArgv, clusterUntil, startCluster, startFleet, startPool, WAIT } from './cluster-kit.js';

/**
 * SIGTERM at the primary stops both workers gracefully (devices told to reconnect, pending pool answers
 * awaited), their last events reach the primary, the books commit, and the primary exits 0. With books on,
 * every share the pool got is in the ledger with the pool's verdict, none left without one.
 */
t.test('SIGTERM: both workers stop gracefully, exit 0, every forwarded share in the books with its verdict', async (t) => {
  // A network target no share reaches (difficulty 256): a block candidate is a warning of its own, not the stop's.
  const { pool, shares } = await startPool(t, { nbits: '1c00ffff' });
  // Device difficulty = pool difficulty: every valid share is forwarded, so shares are in flight at the stop.
  const proc = await startCluster(t, pool, (dir) => ({ ledger: { path: path.join(dir, 'books.sqlite') }, difficulty: { start: 1e-6, min: 1e-9, max: 1e9, targetSharesPerMinute: 600, retargetSeconds: 600, maxStep: 4 } }));
  const fleet = await startFleet(t, proc.port, { devices: 12, hashrate: 2000 });
  await fleet.whenMining(12, WAIT);
  const view = await clusterUntil(proc, (v) => v.workers.every((w) => w.devices > 0), 'devices on both workers');
  const pids = view.workers.map((w) => w.pid!);
  await fleet.waitFor(() => shares.length >= 40, WAIT);

  const started = Date.now();
  proc.child.kill('SIGTERM');
  const exit = await proc.exited;
  t.same(exit, { code: 0, signal: null }, `the primary exited 0 (in ${Date.now() - started} ms)`);
  for (const pid of pids) {
    t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `worker pid ${pid} is gone`);
  }
  const stopped = proc.logs.filter((l) => l.msg === 'stopped' && typeof l.proxyWorker === 'number').map((l) => l.proxyWorker).sort();
  t.same(stopped, [0, 1], 'each worker logged its graceful stop');
  t.ok(proc.logs.some((l) => l.msg === 'stopped' && l.proxyWorker === undefined), 'the primary logged "stopped"');
  t.notOk(proc.logs.some((l) => /restarting in/.test(l.msg)), 'no worker restarted at shutdown');
  const warnings = proc.logs.filter((l) => l.level === 'warn' || l.level === 'error');
  t.same(warnings, [], 'a normal stop warns of nothing (no pool "down" or "still down" for the workers\' own closed connections)');

  const books = readLedger(path.join(proc.dir, 'books.sqlite'));
  t.equal(books.shares.length, shares.length, `every share the pool got (${shares.length}) is in the books`);
  t.equal(books.shares.filter((r) => r.verdict === 'accepted').length, shares.filter((s) => s.accepted).length, "with the pool's verdict");
  t.equal(books.shares.filter((r) => r.verdict === 'unanswered').length, 0, 'none without a verdict');
  t.equal(new Set(books.shares.map((r) => String(r.share_id))).size, books.shares.length, 'share ids unique host-wide');
  const ids = books.shares.map((r) => Number(r.share_id));
  t.ok(ids.some((id) => id < 2 * 2 ** 32 + 1) && ids.some((id) => id > 2 * 2 ** 32), 'ids from both incarnations (1 and 2) ranges');
  t.equal(books.runs.length, 1, 'one run for the host');
  t.ok(books.runs[0]!.stopped_at !== null, 'the run was stopped cleanly');
});

t.test('a worker still running drainSeconds + 10 s after the stop is killed; the primary exits 0 with the books committed', async (t) => {
  // A pool that never answers (within the test): every forwarded share stays in flight. drainSeconds 1.
  const { pool, shares } = await startPool(t, { faults: { submitDelayMs: 600_000 } });
  const proc = await startCluster(t, pool, (dir) => ({
    ledger: { path: path.join(dir, 'books.sqlite') },
    shutdown: { drainSeconds: 1 },
    upstream: { submitTimeoutSeconds: 120, connectTimeoutSeconds: 5 },
    difficulty: { start: 1e-6, min: 1e-9, max: 1e9, targetSharesPerMinute: 600, retargetSeconds: 600, maxStep: 4 },
  }));
  const fleet = await startFleet(t, proc.port, { devices: 8, hashrate: 2000 });
  await fleet.whenMining(8, WAIT);
  const view = await clusterUntil(proc, (v) => v.workers.every((w) => w.devices > 0), 'devices on both workers');
  await fleet.waitFor(() => shares.length >= 20, WAIT);
  // Worker 1 hangs (a stopped process runs nothing; SIGKILL still ends it).
  const hung = view.workers[1]!;
  process.kill(hung.pid!, 'SIGSTOP');
  t.teardown(() => {
    try {
      process.kill(hung.pid!, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  });
  const started = Date.now();
  proc.child.kill('SIGTERM');
  const exit = await proc.exited;
  const took = Date.now() - started;
  t.same(exit, { code: 0, signal: null }, 'the primary exited 0: its books committed');
  t.ok(took >= 11_000 && took < 25_000, `it waited the bound, drainSeconds + 10 s, then went on (${took} ms)`);
  t.throws(() => process.kill(hung.pid!, 0), { code: 'ESRCH' }, 'the hung worker is gone');
  t.ok(proc.logs.some((l) => l.level === 'warn' && l.msg === 'worker 1 did not stop within 11 s: killed' && l.proxyWorker === 1 && l.pid === hung.pid), 'the primary said it killed it');
  t.ok(proc.logs.some((l) => l.msg === 'stopped' && l.proxyWorker === 0), 'the other worker stopped gracefully');

  const books = readLedger(path.join(proc.dir, 'books.sqlite'));
  const first = hung.incarnation * 2 ** 32 + 1;
  const ofHung = books.shares.filter((r) => Number(r.share_id) >= first && Number(r.share_id) < first + 2 ** 32);
  t.ok(ofHung.length > 0, `the hung worker's forwarded shares are in the books (${ofHung.length})`);
  t.same(
    [...new Set(ofHung.map((r) => `${String(r.verdict)} ${String(r.no_answer_cause)}`))],
    ['unanswered connection-lost'],
    'each counted unanswered (connection-lost): the worker was killed with them in flight',
  );
  t.equal(books.shares.filter((r) => r.verdict !== 'unanswered').length, 0, 'no share got a verdict the pool never gave');
  t.ok(books.shares.length <= shares.length, 'no share the pool did not get');
  t.ok(books.runs[0]!.stopped_at !== null, 'the run was stopped cleanly');
});

t.test('a worker whose primary is gone (kill -9) stops by itself', async (t) => {
  const { pool } = await startPool(t);
  const proc = await startCluster(t, pool);
  const view = await clusterUntil(proc, (v) => v.workers.every((w) => w.pid !== null && w.ready), 'both workers ready');
  const pids = view.workers.map((w) => w.pid!);
  proc.child.kill('SIGKILL');
  await proc.exited;
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const end = Date.now() + 15_000;
  while (pids.some(alive) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  const left = pids.filter(alive);
  for (const pid of left) process.kill(pid, 'SIGKILL');
  t.same(left, [], `both workers (${pids.join(', ')}) exited without their primary`);
  t.ok([0, 1].every((k) => proc.logs.some((l) => l.proxyWorker === k && /the primary is gone/.test(l.msg))), 'each said why it stopped');
});

t.test('a device port in use: the workers cannot listen, the primary exits 1 and says why', async (t) => {
  const { pool } = await startPool(t);
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const port = (taken.address() as net.AddressInfo).port;
  const [httpPort] = await freePorts(1);
  const dir = tempDir(t);
  const configPath = path.join(dir, 'proxy.json');
  writeFileSync(configPath, JSON.stringify({ workers: 2, pools: [{ url: pool.url, user: 'Xfarm.proxy' }], listen: { host: '127.0.0.1', port }, http: { host: '127.0.0.1', port: httpPort } }));
  const child = spawn(process.execPath, cliArgv(['start', '--config', configPath]), { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  t.equal(code, 1, 'exit 1');
  t.match(err, /worker \d cannot listen: .*EADDRINUSE/, "a worker's reason");
  t.match(err, /dash-farm-proxy start: cannot start: worker \d exited before its device port was open/, "the primary's");
});
