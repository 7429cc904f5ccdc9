import t, { type Test } from 'tap';
import { EventBus } from '../../src/core/events.js';
import { createLogger } from '../../src/core/log.js';
import { LogAggregator } from '../../src/observe/log-aggregator.js';
import type { Timers } from '../../src/util/timers.js';
import type { RejectReason } from '../../src/stratum/errors.js';

/** The aggregator on a real EventBus, a captured JSON logger and a clock that moves only when told. */

class ManualTimers implements Timers {
  t = 1_000_000;
  private timer: { at: number; fn: () => void } | null = null;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number): unknown => {
    this.timer = { at: this.t + ms, fn };
    return 1;
  };
  clearTimeout = (): void => {
    this.timer = null;
  };
  advance(ms: number): void {
    const end = this.t + ms;
    while (this.timer && this.timer.at <= end) {
      const { at, fn } = this.timer;
      this.timer = null;
      this.t = at;
      fn();
    }
    this.t = end;
  }
}

function setup(t: Test, opts: ConstructorParameters<typeof LogAggregator>[2] = {}) {
  const bus = new EventBus();
  const lines: { level: string; msg: string; [k: string]: unknown }[] = [];
  const log = createLogger({ level: 'debug', write: (l) => lines.push(JSON.parse(l)) });
  const timers = new ManualTimers();
  const agg = new LogAggregator(bus, log, { timers, ...opts });
  agg.start();
  t.teardown(() => agg.stop());
  const reject = (worker: string | null, reason: RejectReason, ip = '10.0.0.9') =>
    bus.emit('share.rejected', { sessionId: 1, worker, ip, reason, code: 21, message: 'x', at: timers.now() });
  const accept = () =>
    bus.emit('share.accepted', { sessionId: 1, worker: 'w', route: 'default', target: 'default', ip: '10.0.0.1', difficulty: 1, shareDifficulty: 1, meetsPool: false, meetsNetwork: false, at: timers.now() });
  return { bus, lines, timers, agg, reject, accept };
}

t.test('rejected shares: one summary line per interval with counts, devices and first names', async (t) => {
  const { lines, timers, reject, accept } = setup(t, { intervalSeconds: 60, maxNames: 3 });
  for (let k = 0; k < 963; k++) accept();
  for (let k = 0; k < 30; k++) reject(`rig${k % 12}`, 'stale');
  for (let k = 0; k < 7; k++) reject('rig3', 'duplicate');
  t.same(lines, [], 'nothing logged per share');
  timers.advance(60_000);
  t.equal(lines.length, 1);
  t.equal(lines[0]!.msg, '37 shares rejected in the last 60 s (of 1000): 30 stale (12 devices: rig0, rig1, rig2, ...), 7 duplicate (rig3)');
  t.equal(lines[0]!.level, 'info');
  t.same(lines[0]!.byReason, { stale: { shares: 30, devices: 12, names: ['rig0', 'rig1', 'rig2'] }, duplicate: { shares: 7, devices: 1, names: ['rig3'] } });
  t.equal(lines[0]!.accepted, 963);

  timers.advance(60_000);
  t.equal(lines.length, 1, 'a quiet interval logs nothing');
  reject(null, 'unauthorized', '192.0.2.7');
  timers.advance(60_000);
  t.equal(lines[1]!.msg, '1 share rejected in the last 60 s: 1 unauthorized (192.0.2.7)', 'a share without a worker is named by its address');
});

t.test('a storm of 10,000 rejects from 2,000 devices is still one line', async (t) => {
  const { lines, timers, reject } = setup(t, { intervalSeconds: 30 });
  for (let k = 0; k < 10_000; k++) reject(`d${k % 2000}`, k % 4 === 0 ? 'low_difficulty' : 'stale');
  timers.advance(30_000);
  t.equal(lines.length, 1);
  t.match(lines[0]!.msg, /^10000 shares rejected in the last 30 s: 7500 stale \(1500 devices: d1, d2, d3, d5, d6, \.\.\.\), 2500 low difficulty \(500 devices: d0, d4, d8, d12, d16, \.\.\.\)$/);
});

t.test('connects and disconnects are summarized with the reasons', async (t) => {
  const { bus, lines, timers } = setup(t);
  for (let k = 0; k < 120; k++) {
    bus.emit('device.connected', { sessionId: k, ip: '10.0.0.1', at: 0 });
    bus.emit('device.authorized', { sessionId: k, worker: `rig${k}`, ip: '10.0.0.1', at: 0 });
  }
  bus.emit('device.disconnected', { sessionId: 1, worker: 'rig1', ip: '10.0.0.1', reason: 'idle timeout', at: 0 });
  bus.emit('device.disconnected', { sessionId: 2, worker: 'rig2', ip: '10.0.0.1', reason: 'idle timeout', at: 0 });
  bus.emit('device.disconnected', { sessionId: 3, worker: 'rig3', ip: '10.0.0.1', reason: 'closed by peer', at: 0 });
  bus.emit('device.connected', { sessionId: 500, ip: '10.0.0.2', at: 0 });
  bus.emit('device.disconnected', { sessionId: 500, worker: null, ip: '10.0.0.2', reason: 'handshake timeout', at: 0 });
  t.same(lines, []);
  timers.advance(60_000);
  t.equal(lines.length, 1);
  t.equal(lines[0]!.msg, '120 devices connected, 3 disconnected in the last 60 s (2 idle timeout, 1 closed by peer); 1 connection closed before authorizing');
  t.match(lines[0], { connections: 121, authorized: 120, disconnected: 3, closedBeforeAuthorize: 1, disconnectReasons: { 'idle timeout': 2, 'closed by peer': 1 } });
});

t.test('block candidates, pool changes and a new refusal cause are logged at once', async (t) => {
  const { bus, lines, timers } = setup(t);
  bus.emit('block.candidate', { sessionId: 1, worker: 'rig7', pool: 'main', jobId: '1a', hash: '00000000000000abc', shareDifficulty: 5e6, networkDifficulty: 1e6, at: 0 });
  t.match(lines.at(-1), { level: 'warn', msg: 'block candidate from rig7: 00000000000000abc', pool: 'main', jobId: '1a' });
  bus.emit('pool.switch', { route: 'default', target: 'default', connection: 0, from: null, to: 'main', reason: 'start', at: 0 });
  t.match(lines.at(-1), { level: 'info', msg: 'mining on pool main' });
  bus.emit('pool.down', { route: 'default', target: 'default', connection: 0, pool: 'main', url: 'stratum+tcp://main:3333', reason: 'connection reset', at: 0 });
  t.match(lines.at(-1), { level: 'warn', msg: 'pool main is down: connection reset' });
  bus.emit('pool.switch', { route: 'default', target: 'default', connection: 0, from: 'main', to: 'backup', reason: 'main down', at: 0 });
  t.match(lines.at(-1), { level: 'warn', msg: 'pool switch main → backup: main down' });
  bus.emit('pool.up', { route: 'default', target: 'default', connection: 0, pool: 'backup', url: 'stratum+tcp://backup:3333', at: 0 });
  t.match(lines.at(-1), { level: 'info', msg: 'pool backup is up' });
  const before = lines.length;
  for (let k = 0; k < 200; k++) bus.emit('limit.refused', { cause: 'max_connections_per_ip', ip: `10.0.0.${k % 250}`, at: 0 });
  bus.emit('limit.refused', { cause: 'submit_rate', ip: '10.0.0.9', at: 0 });
  t.equal(lines.length, before + 2, 'one line per new cause, not per refusal');
  t.match(lines.slice(before), [{ level: 'warn', cause: 'max_connections_per_ip' }, { level: 'warn', cause: 'submit_rate' }]);
  timers.advance(60_000);
  t.match(lines.at(-1), { level: 'warn', msg: '201 refusals in the last 60 s: 200 max_connections_per_ip, 1 submit_rate', refused: 201 });
  bus.emit('limit.refused', { cause: 'max_connections_per_ip', ip: '10.0.0.1', at: 0 });
  t.equal(lines.length, before + 3, 'a cause seen before is not logged at once again');
  timers.advance(60_000);
  t.match(lines.at(-1), { msg: '1 refusal in the last 60 s: 1 max_connections_per_ip' });
});

t.test('solo blocks are logged at once: accepted at info, rejected and unanswered at error, orphaned at warn', async (t) => {
  const { bus, lines } = setup(t);
  const block = { route: 'default', target: 'default', connection: 0, pool: 'own-dashd', sessionId: 1, worker: 'rig7', shareId: 9, hash: '0000000000000000aa', height: 2_100_000, reward: 123_000_000, coinbaseValue: 300_000_000, payoutAddress: 'XfarmAddr', at: 0 };
  bus.emit('block.submitted', { ...block, result: 'accepted', reason: null });
  t.match(lines.at(-1), { level: 'info', msg: '*** BLOCK ACCEPTED by dashd own-dashd *** height 2100000 hash 0000000000000000aa reward 1.23000000 DASH to XfarmAddr, found by rig7', pool: 'own-dashd', worker: 'rig7', height: 2_100_000, result: 'accepted', reward: 123_000_000 });
  bus.emit('block.submitted', { ...block, result: 'inconclusive', reason: 'inconclusive' });
  t.match(lines.at(-1), { level: 'info', result: 'inconclusive' });
  bus.emit('block.submitted', { ...block, result: 'rejected', reason: 'bad-cb-payee' });
  t.match(lines.at(-1), { level: 'error', msg: '*** BLOCK REJECTED by dashd own-dashd (bad-cb-payee) *** height 2100000 hash 0000000000000000aa reward 1.23000000 DASH to XfarmAddr, found by rig7', reason: 'bad-cb-payee' });
  bus.emit('block.submitted', { ...block, result: 'unanswered', reason: 'no answer after 3 attempts in 10 s' });
  t.match(lines.at(-1), { level: 'error', result: 'unanswered', reason: 'no answer after 3 attempts in 10 s' });
  const status = { pool: 'own-dashd', hash: block.hash, height: block.height, at: 0 };
  bus.emit('block.status', { ...status, status: 'chainlocked', confirmations: 2, chainlock: true, reason: 'a ChainLock covers it (2 confirmations)' });
  t.match(lines.at(-1), { level: 'info', msg: 'block 2100000 0000000000000000aa on dashd own-dashd: chainlocked (a ChainLock covers it (2 confirmations))', status: 'chainlocked', chainlock: true });
  bus.emit('block.status', { ...status, status: 'orphaned', confirmations: -1, chainlock: false, reason: 'dashd does not know it after 3 checks' });
  t.match(lines.at(-1), { level: 'warn', msg: 'block 2100000 0000000000000000aa on dashd own-dashd: orphaned (dashd does not know it after 3 checks)', confirmations: -1 });
  t.equal(lines.length, 6, 'one line each');
});

t.test('a pool that stays down: the change at once, failed reconnects counted in the summary', async (t) => {
  const { bus, lines, timers } = setup(t);
  bus.emit('pool.up', { route: 'default', target: 'default', connection: 0, pool: 'main', url: 'u', at: 0 });
  t.match(lines.at(-1), { level: 'info', msg: 'pool main is up' });
  bus.emit('pool.down', { route: 'default', target: 'default', connection: 0, pool: 'main', url: 'u', reason: 'pool closed the connection', at: 0 });
  for (let k = 0; k < 4; k++) bus.emit('pool.down', { route: 'default', target: 'default', connection: 0, pool: 'main', url: 'u', reason: 'connect failed: ECONNREFUSED', at: 0 });
  t.equal(lines.length, 2, 'one line for the change, none for the failed reconnects');
  t.match(lines.at(-1), { level: 'warn', msg: 'pool main is down: pool closed the connection' });
  timers.advance(60_000);
  t.equal(lines.length, 3);
  t.match(lines.at(-1), { level: 'warn', msg: 'pool main still down: 4 failed reconnects in the last 60 s (last: connect failed: ECONNREFUSED)', failedReconnects: 4, downSeconds: 60 });
  timers.advance(60_000);
  t.equal(lines.length, 3, 'no reconnect attempt in that interval: nothing to say');
  timers.advance(30_000);
  bus.emit('pool.up', { route: 'default', target: 'default', connection: 0, pool: 'main', url: 'u', at: 0 });
  t.match(lines.at(-1), { level: 'info', msg: 'pool main is up again after 150 s' });
  timers.advance(60_000);
  t.equal(lines.length, 4, 'a pool that is up has no summary line');
});

t.test('worker processes: a death logged at once with its devices and restart; a restart; exits at shutdown', async (t) => {
  const { bus, lines, timers } = setup(t);
  const openFiles = { soft: 20_000, hard: 20_000 };
  bus.emit('worker.started', { worker: 0, pid: 100, incarnation: 1, openFiles, at: 0 });
  bus.emit('worker.started', { worker: 1, pid: 101, incarnation: 2, openFiles, at: 0 });
  t.same(lines, [], "a worker's first start is its own log's");
  bus.emit('worker.exited', { worker: 1, pid: 101, code: null, signal: 'SIGKILL', devices: 812, restartInMs: 1000, at: 0 });
  t.match(lines.at(-1), { level: 'warn', msg: 'worker 1 (pid 101) died (SIGKILL); 812 devices reconnect to the other workers; restarting in 1 s', proxyWorker: 1, pid: 101, signal: 'SIGKILL', devices: 812, restartInMs: 1000 });
  bus.emit('worker.started', { worker: 1, pid: 102, incarnation: 3, openFiles, at: 0 });
  t.match(lines.at(-1), { level: 'info', msg: 'worker 1 is back (pid 102)', proxyWorker: 1, incarnation: 3 });
  bus.emit('worker.exited', { worker: 1, pid: 102, code: 1, signal: null, devices: 1, restartInMs: 2000, at: 0 });
  t.match(lines.at(-1), { level: 'warn', msg: 'worker 1 (pid 102) died (exit code 1); 1 device reconnects to the other workers; restarting in 2 s' });
  bus.emit('worker.exited', { worker: 0, pid: 100, code: 0, signal: null, devices: 0, restartInMs: null, at: 0 });
  t.match(lines.at(-1), { level: 'info', msg: 'worker 0 (pid 100) exited (exit code 0)' });
  t.equal(lines.length, 4);
  t.ok(lines.every((l) => !('worker' in l)), "the worker process is named by proxyWorker, never by a device's field (worker)");
  timers.advance(60_000);
  t.equal(lines.length, 4, 'nothing for the summary');
});

t.test("a restarted worker is \"back\" though its first start came before the summaries listened (a host's workers start first)", async (t) => {
  const { bus, lines } = setup(t);
  const openFiles = { soft: 20_000, hard: 20_000 };
  bus.emit('worker.exited', { worker: 1, pid: 101, code: null, signal: 'SIGKILL', devices: 4, restartInMs: 1000, at: 0 });
  bus.emit('worker.started', { worker: 1, pid: 102, incarnation: 3, openFiles, at: 0 });
  t.match(lines.at(-1), { level: 'info', msg: 'worker 1 is back (pid 102)', proxyWorker: 1, incarnation: 3 });
  bus.emit('worker.started', { worker: 0, pid: 103, incarnation: 4, openFiles, at: 0 });
  t.equal(lines.length, 2, 'a start after no death is not a return');
});

t.test('immediate lines can be turned off (when the core logs them itself)', async (t) => {
  const { bus, lines } = setup(t, { immediate: { blocks: false, soloBlocks: false, pools: false, refusals: false, workers: false } });
  bus.emit('block.submitted', { route: 'default', target: 'default', connection: 0, pool: 'own-dashd', sessionId: 1, worker: 'rig7', shareId: 9, hash: '00', height: 5, reward: 1, coinbaseValue: 2, payoutAddress: 'X', result: 'rejected', reason: 'high-hash', at: 0 });
  bus.emit('block.status', { pool: 'own-dashd', hash: '00', height: 5, status: 'orphaned', confirmations: -1, chainlock: false, reason: 'r', at: 0 });
  bus.emit('worker.exited', { worker: 1, pid: 101, code: null, signal: 'SIGKILL', devices: 812, restartInMs: 1000, at: 0 });
  bus.emit('block.candidate', { sessionId: 1, worker: 'rig7', pool: 'main', jobId: '1a', hash: '00', shareDifficulty: 5, networkDifficulty: 1, at: 0 });
  bus.emit('pool.down', { route: 'default', target: 'default', connection: 0, pool: 'main', url: 'u', reason: 'r', at: 0 });
  bus.emit('limit.refused', { cause: 'tls', ip: 'unknown', at: 0 });
  t.same(lines, []);
});

t.test('stop() writes the last, partial interval', async (t) => {
  const { lines, timers, agg, reject } = setup(t, { intervalSeconds: 60 });
  timers.advance(20_000);
  reject('rig1', 'stale');
  timers.advance(5_000);
  agg.stop();
  t.equal(lines.length, 1);
  t.equal(lines[0]!.msg, '1 share rejected in the last 25 s: 1 stale (rig1)');
  reject('rig1', 'stale');
  timers.advance(120_000);
  t.equal(lines.length, 1, 'nothing after stop');
});

t.test('intervalSeconds must be positive', async (t) => {
  t.throws(() => new LogAggregator(new EventBus(), createLogger({ write: () => {} }), { intervalSeconds: 0 }), /intervalSeconds must be a positive number, got 0/);
});

t.test('moves between routing targets: one line per interval, by reason and by path; placements are not moves', async (t) => {
  const { bus, lines, timers } = setup(t, { intervalSeconds: 60 });
  const route = (sessionId: number, target: string, reason: string) => bus.emit('device.route', { sessionId, worker: `rig${sessionId}`, route: 'default', target, reason, at: timers.now() });
  for (let id = 0; id < 10; id++) route(id, id < 7 ? 'main' : 'second', 'placed');
  timers.advance(60_000);
  t.same(lines, [], 'placing devices is not a move');
  route(0, 'second', 'rebalance');
  route(1, 'second', 'rebalance');
  route(7, 'main', 'slice');
  route(7, 'second', 'slice');
  route(8, 'second', 'rebalance'); // already there: not a move
  bus.emit('device.disconnected', { sessionId: 9, worker: 'rig9', ip: '10.0.0.9', reason: 'closed by peer', at: timers.now() });
  route(9, 'main', 'placed'); // a new session with the old id: placed, not moved
  timers.advance(60_000);
  const moves = lines.filter((l) => l.msg.startsWith('routing:'));
  t.equal(moves.length, 1);
  t.equal(moves[0]!.msg, 'routing: 4 device moves in the last 60 s (rebalance 2, slice 2): main → second 3, second → main 1');
  t.same(moves[0]!.byReason, { rebalance: 2, slice: 2 });
  t.equal(moves[0]!.moves, 4);
  timers.advance(60_000);
  t.equal(lines.filter((l) => l.msg.startsWith('routing:')).length, 1, 'a quiet interval logs no moves');
});
