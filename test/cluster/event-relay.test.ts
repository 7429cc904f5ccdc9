import { deserialize, serialize } from 'node:v8';
import t from 'tap';
import { EventBus, PROXY_EVENT_NAMES, type PoolVerdict, type ProxyEventMap, type ProxyEventName } from '../../src/core/events.js';
import { EventForwarder, EventIntake, isEventBatch, forEachEvent, WORKER_EXITED_REASON, type EventBatch } from '../../src/cluster/event-relay.js';
import { FarmLedger } from '../../src/observe/farm-ledger.js';
import { LedgerWriter } from '../../src/books/ledger-writer.js';
import type { LedgerRecord, LedgerRun, LedgerStore, ShareRecord } from '../../src/books/ledger-store.js';

/**
 * The relay of workers' events, without processes: a worker's bus -> EventForwarder -> (a JSON round trip,
 * as node's IPC does) -> EventIntake -> the primary's bus. Batches per turn, order, host-wide connection
 * indexes, and `workerGone` ending exactly what a dead worker left open, checked against the farm ledger's
 * counts and the books.
 */

const T0 = Date.UTC(2026, 11, 6, 8, 0, 0);
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
/** What node's IPC does to a message with the default ('json') serialization. */
const overIpc = (b: EventBatch): EventBatch => JSON.parse(JSON.stringify(b)) as EventBatch;
/** ... and with serialization 'advanced' (V8's serializer), which the primary uses. */
const overAdvancedIpc = (b: EventBatch): EventBatch => deserialize(serialize(b)) as EventBatch;

type Seen = [ProxyEventName, unknown][];
function record(bus: EventBus): Seen {
  const seen: Seen = [];
  for (const name of PROXY_EVENT_NAMES) bus.on(name, (e) => seen.push([name, structuredClone(e)]));
  return seen;
}

t.test('every event name once, and every one is forwarded', async (t) => {
  t.equal(new Set(PROXY_EVENT_NAMES).size, PROXY_EVENT_NAMES.length, 'no name twice');
  t.ok(PROXY_EVENT_NAMES.includes('share.forwarded') && PROXY_EVENT_NAMES.includes('worker.exited'));
  const bus = new EventBus();
  const batches: EventBatch[] = [];
  new EventForwarder({ bus, incarnation: 1, send: (b) => batches.push(b) });
  const sent: Seen = [];
  for (const name of PROXY_EVENT_NAMES) {
    const e = { at: T0, probe: name } as never;
    sent.push([name, e]);
    bus.emit(name, e);
  }
  await turn();
  t.equal(batches.length, 1, 'one turn, one batch');
  for (const [how, carry] of [['json', overIpc], ['advanced', overAdvancedIpc]] as const) {
    const got: Seen = [];
    forEachEvent(carry(batches[0]!), (name, e) => got.push([name, e]));
    t.same(got, sent, `each name, in order (serialization ${how})`);
  }
});

t.test('the forwarder: one batch per turn, in order; flush and stop; a failing send is counted', async (t) => {
  const bus = new EventBus();
  const batches: EventBatch[] = [];
  const f = new EventForwarder({ bus, incarnation: 3, send: (b) => batches.push(overIpc(b)) });
  bus.emit('device.connected', { sessionId: 3 * 2 ** 32 + 1, ip: '10.0.0.1', at: T0 });
  bus.emit('device.authorized', { sessionId: 3 * 2 ** 32 + 1, worker: 'rig1', ip: '10.0.0.1', at: T0 });
  bus.emit('device.split', { sessionId: 3 * 2 ** 32 + 1, worker: 'rig1', route: 'r', at: T0, kind: 'whole', wholeBecause: undefined } as never);
  bus.emit('device.split', { sessionId: 3 * 2 ** 32 + 1, worker: 'rig1', route: 'r', at: T0, kind: 'whole', wholeBecause: 'pass-through worker mode' });
  t.equal(batches.length, 0, 'nothing sent within the turn');
  t.equal(f.waiting, 4);
  await turn();
  t.equal(batches.length, 1, 'the turn ends: one batch');
  const b = batches[0]!;
  t.ok(isEventBatch(b), 'recognizable among other IPC messages');
  t.notOk(isEventBatch({ type: 'ready' }));
  t.equal(b.incarnation, 3);
  t.same(b.shapes.map((s) => s[0]), ['device.connected', 'device.authorized', 'device.split', 'device.split'], 'a shape per distinct key list');
  t.equal(b.shapes[2]!.includes('wholeBecause'), false, 'a key whose value is undefined is left out, as JSON would');
  const got: Seen = [];
  forEachEvent(b, (n, e) => got.push([n, e]));
  t.same(got.map((g) => g[0]), ['device.connected', 'device.authorized', 'device.split', 'device.split']);
  t.same(got[3]![1], { sessionId: 3 * 2 ** 32 + 1, worker: 'rig1', route: 'r', at: T0, kind: 'whole', wholeBecause: 'pass-through worker mode' });
  t.notOk('wholeBecause' in (got[2]![1] as object));

  // Many events of one kind in one turn: one shape, one batch.
  for (let i = 0; i < 1000; i++) bus.emit('limit.refused', { cause: 'max_devices', ip: `10.0.${i >> 8}.${i & 255}`, at: T0 + i });
  await turn();
  t.equal(batches.length, 2);
  t.equal(batches[1]!.shapes.length, 1, '1,000 events, one shape');
  t.equal(batches[1]!.values.length, 1000 * 4, 'each event: its shape index and its 3 values');

  // flush() at shutdown sends at once; the turn's scheduled flush then has nothing left.
  bus.emit('job.fanout', { jobId: 'j', clean: true, devices: 1, seconds: 0.001, at: T0 });
  f.flush();
  t.equal(batches.length, 3, 'flushed at once');
  await turn();
  t.equal(batches.length, 3, 'no empty batch after');
  t.equal(f.sent, 4 + 1000 + 1);
  t.equal(f.batches, 3);

  // stop(): what is gathered goes out, then nothing more is listened to.
  bus.emit('job.fanout', { jobId: 'k', clean: false, devices: 1, seconds: 0.001, at: T0 });
  f.stop();
  t.equal(batches.length, 4, 'stop sends what was gathered');
  bus.emit('job.fanout', { jobId: 'l', clean: false, devices: 1, seconds: 0.001, at: T0 });
  await turn();
  t.equal(batches.length, 4, 'stopped: nothing more');

  // A send that throws (the primary is gone) never throws into the worker.
  const bus2 = new EventBus();
  const errors: [string, number][] = [];
  const f2 = new EventForwarder({
    bus: bus2,
    incarnation: 1,
    send: () => {
      throw new Error('channel closed');
    },
    onSendError: (err, n) => errors.push([err.message, n]),
  });
  bus2.emit('job.fanout', { jobId: 'j', clean: true, devices: 1, seconds: 0.001, at: T0 });
  bus2.emit('job.fanout', { jobId: 'k', clean: true, devices: 1, seconds: 0.001, at: T0 });
  await turn();
  t.same(errors, [['channel closed', 2]]);
  t.equal(f2.lost, 2);
  t.equal(f2.sent, 0);
});

t.test('the intake: events re-emitted in order; connections made host-wide; pool.connections counts the host', async (t) => {
  const primary = new EventBus();
  const seen = record(primary);
  const intake = new EventIntake(primary);
  const place = { route: 'default', target: 'default' };
  const w0 = new EventBus();
  const w1 = new EventBus();
  new EventForwarder({ bus: w0, incarnation: 1, send: (b) => intake.take(0, overIpc(b)) });
  new EventForwarder({ bus: w1, incarnation: 2, send: (b) => intake.take(1, overIpc(b)) });

  w0.emit('pool.connections', { count: 1, at: T0 });
  w0.emit('pool.connections', { count: 2, at: T0 });
  await turn();
  w1.emit('pool.connections', { count: 1, at: T0 });
  w1.emit('pool.switch', { ...place, connection: 0, from: null, to: 'main', reason: 'first pool', at: T0 });
  w1.emit('pool.up', { ...place, connection: 0, pool: 'main', url: 'stratum+tcp://127.0.0.1:1', at: T0 });
  w1.emit('pool.version-mask', { ...place, connection: 0, pool: 'main', mask: 0x1fffe000, at: T0 });
  await turn();
  w0.emit('pool.up', { ...place, connection: 1, pool: 'main', url: 'stratum+tcp://127.0.0.1:1', at: T0 });
  await turn();
  t.same(
    seen.map(([n, e]) => [n, (e as { count?: number; connection?: number }).count ?? (e as { connection: number }).connection]),
    [
      ['pool.connections', 1],
      ['pool.connections', 2],
      ['pool.connections', 3],
      ['pool.switch', 2],
      ['pool.up', 2],
      ['pool.version-mask', 2],
      ['pool.up', 1],
    ],
    'worker 0 has host-wide 0 and 1, worker 1 has 2; the count is the host\'s',
  );
  t.equal(intake.connections, 3);
  t.equal(intake.taken, 7);
});

t.test('solo blocks: block.submitted keeps its null reason and gets the host-wide connection; block.status passes as it is', async (t) => {
  const primary = new EventBus();
  const seen = record(primary);
  const intake = new EventIntake(primary);
  const place = { route: 'solo', target: 'own' };
  const w0 = new EventBus();
  const w1 = new EventBus();
  // Worker 0 over 'json' IPC, worker 1 over 'advanced': both must carry the null reason alike.
  new EventForwarder({ bus: w0, incarnation: 1, send: (b) => intake.take(0, overIpc(b)) });
  new EventForwarder({ bus: w1, incarnation: 2, send: (b) => intake.take(1, overAdvancedIpc(b)) });
  w0.emit('pool.connections', { count: 1, at: T0 });
  await turn();
  const block = { hash: '00000000000000112233', height: 2_100_000, reward: 168_000_000, coinbaseValue: 300_000_000, payoutAddress: 'XfarmPayout', at: T0 };
  const accepted = { ...place, connection: 0, pool: 'own-dashd', sessionId: 2 * 2 ** 32 + 1, worker: 'rig1', shareId: 2 * 2 ** 32 + 5, ...block, result: 'accepted' as const, reason: null };
  w1.emit('share.upstream', { ...place, connection: 0, pool: 'own-dashd', sessionId: accepted.sessionId, worker: 'rig1', shareId: accepted.shareId, verdict: { kind: 'accepted' }, latencyMs: 4, at: T0 });
  w1.emit('block.submitted', accepted);
  const rejected = { ...accepted, hash: '000000000000009999', shareId: accepted.shareId + 1, result: 'rejected' as const, reason: 'bad-cb-payee' };
  w1.emit('block.submitted', rejected);
  const status = { pool: 'own-dashd', hash: block.hash, height: block.height, status: 'chainlocked' as const, confirmations: 2, chainlock: true, reason: 'a ChainLock covers it', at: T0 + 5000 };
  w1.emit('block.status', status);
  await turn();
  const relayed = seen.filter(([n]) => n.startsWith('block.') || n === 'share.upstream');
  t.same(relayed.map(([n]) => n), ['share.upstream', 'block.submitted', 'block.submitted', 'block.status'], 'in order, right after the share\'s verdict');
  t.same(relayed[1]![1], { ...accepted, connection: 1 }, 'worker 1\'s connection 0 is host-wide 1, every other field as sent (reason null kept)');
  t.equal((relayed[1]![1] as { reason: unknown }).reason, null);
  t.same(relayed[2]![1], { ...rejected, connection: 1 });
  t.equal((relayed[0]![1] as { connection: number }).connection, (relayed[1]![1] as { connection: number }).connection, 'the block names the connection its share\'s verdict names');
  t.same(relayed[3]![1], status, 'block.status has no connection: as it is');
});

/** A worker as the proxy core emits: sessions, shares, connections; ids from its incarnation. */
class SimWorker {
  readonly bus = new EventBus();
  readonly forwarder: EventForwarder;
  private nextSession: number;
  private nextShare: number;
  constructor(
    readonly index: number,
    readonly incarnation: number,
    intake: EventIntake,
  ) {
    this.nextSession = incarnation * 2 ** 32 + 1;
    this.nextShare = incarnation * 2 ** 32 + 1;
    // Worker 0's batches as 'json' carries them, worker 1's as 'advanced': the intake reads both alike.
    const carry = index % 2 === 0 ? overIpc : overAdvancedIpc;
    this.forwarder = new EventForwarder({ bus: this.bus, incarnation, send: (b) => intake.take(index, carry(b)) });
  }
  connections(count: number, pools: string[], at: number): void {
    this.bus.emit('pool.connections', { count, at });
    for (let c = 0; c < count; c++) {
      this.bus.emit('pool.switch', { route: 'default', target: 'default', connection: c, from: null, to: pools[c]!, reason: 'first pool', at });
      this.bus.emit('pool.up', { route: 'default', target: 'default', connection: c, pool: pools[c]!, url: `stratum+tcp://${pools[c]}:3333`, at });
    }
  }
  device(worker: string | null, at: number): number {
    const sessionId = this.nextSession++;
    this.bus.emit('device.connected', { sessionId, ip: '10.1.0.' + (sessionId % 250), at });
    if (worker !== null) this.bus.emit('device.authorized', { sessionId, worker, ip: '10.1.0.' + (sessionId % 250), at });
    return sessionId;
  }
  leave(sessionId: number, worker: string | null, at: number): void {
    this.bus.emit('device.disconnected', { sessionId, worker, ip: '10.1.0.' + (sessionId % 250), reason: 'closed by peer', at });
  }
  /** A share accepted and forwarded on `connection` (pool `pool`); its id. */
  forward(sessionId: number, worker: string, connection: number, pool: string, at: number): number {
    const shareId = this.nextShare++;
    const place = { route: 'default', target: 'default' };
    this.bus.emit('share.accepted', { sessionId, worker, ...place, ip: '10.1.0.1', difficulty: 8, shareDifficulty: 20, meetsPool: true, meetsNetwork: false, at });
    this.bus.emit('share.forwarded', { sessionId, worker, ...place, connection, pool, shareId, jobId: 'j1', difficulty: 8, shareDifficulty: 20, networkDifficulty: 1e6, blockHash: null, at });
    return shareId;
  }
  verdict(sessionId: number, worker: string, shareId: number, connection: number, pool: string, verdict: PoolVerdict, at: number): void {
    this.bus.emit('share.upstream', { sessionId, worker, route: 'default', target: 'default', connection, pool, shareId, verdict, latencyMs: 7, at });
  }
}

/** A store that keeps what the books' writer commits. */
class MemoryStore implements LedgerStore {
  readonly location = 'memory';
  readonly records: LedgerRecord[] = [];
  async open(): Promise<void> {}
  async write(_run: LedgerRun, records: readonly LedgerRecord[]): Promise<void> {
    this.records.push(...records);
  }
  async prune(): Promise<number> {
    return 0;
  }
  async close(): Promise<void> {}
}

t.test('two workers into one farm ledger and the books; one dies: workerGone keeps every count true', async (t) => {
  let now = T0;
  const primary = new EventBus();
  const intake = new EventIntake(primary);
  const ledger = new FarmLedger(primary, { now: () => now });
  t.teardown(() => ledger.close());
  const store = new MemoryStore();
  const books = new LedgerWriter({ store, bus: primary });
  await books.start();
  const forwarded = new Set<number>();
  const verdicts = new Map<number, number>();
  primary.on('share.forwarded', (e) => forwarded.add(e.shareId));
  primary.on('share.upstream', (e) => verdicts.set(e.shareId, (verdicts.get(e.shareId) ?? 0) + 1));
  const gone: ProxyEventMap['device.disconnected'][] = [];
  primary.on('device.disconnected', (e) => e.reason === WORKER_EXITED_REASON && gone.push(e));

  const a = new SimWorker(0, 1, intake);
  const b = new SimWorker(1, 2, intake);
  a.connections(2, ['main', 'main'], now);
  b.connections(1, ['backup'], now);
  // Worker a: 3 devices; worker b: 4 devices and one connection not yet authorized.
  const aDev = ['a1', 'a2', 'a3'].map((w) => ({ w, s: a.device(w, now) }));
  const bDev = ['b1', 'b2', 'b3', 'b4'].map((w) => ({ w, s: b.device(w, now) }));
  b.device(null, now);
  await turn();
  t.equal(intake.devicesOf(0), 3);
  t.equal(intake.devicesOf(1), 5, 'every open connection, authorized or not');
  t.equal(ledger.summary().sessionsOpen, 8);
  t.equal(ledger.summary().connections, 3);
  t.equal(ledger.summary().connectionsUp, 3);

  // Shares: worker a's all answered; worker b's partly answered, 5 left in flight.
  for (const [i, d] of aDev.entries()) {
    const id = a.forward(d.s, d.w, i % 2, 'main', now);
    a.verdict(d.s, d.w, id, i % 2, 'main', { kind: 'accepted' }, now + 5);
  }
  const bShares = bDev.flatMap((d) => [b.forward(d.s, d.w, 0, 'backup', now), b.forward(d.s, d.w, 0, 'backup', now)]);
  b.verdict(bDev[0]!.s, 'b1', bShares[0]!, 0, 'backup', { kind: 'accepted' }, now + 5);
  b.verdict(bDev[0]!.s, 'b1', bShares[1]!, 0, 'backup', { kind: 'rejected', code: 21, reason: 'Stale' }, now + 5);
  b.verdict(bDev[1]!.s, 'b2', bShares[2]!, 0, 'backup', { kind: 'accepted' }, now + 5);
  await turn();
  t.equal(ledger.summary().inFlight, 5, "worker b's 5 shares wait for the pool");
  t.equal(ledger.connections()[2]!.inFlight, 5, 'on its connection, host-wide index 2');
  a.leave(aDev[2]!.s, 'a3', now);
  await turn();

  // Worker b is killed: its last turn's events never left it (lost), then the primary sees it gone.
  b.verdict(bDev[1]!.s, 'b2', bShares[3]!, 0, 'backup', { kind: 'accepted' }, now + 6);
  now += 1000;
  intake.workerGone(1, 'SIGKILL', now);
  await turn(); // b's scheduled flush runs after its death: a late batch, dropped
  t.equal(intake.late, 1, "the dead incarnation's late batch is dropped");

  const s = ledger.summary();
  t.equal(s.inFlight, 0, 'no share left in flight');
  t.equal(s.forwarded, 3 + 8);
  t.equal(s.poolAccepted, 3 + 2);
  t.equal(s.poolRejected, 1);
  t.equal(s.poolUnanswered, 5);
  t.equal(s.poolUnansweredByCause['connection-lost'], 5, 'as connection-lost');
  t.equal(s.forwarded, s.poolAccepted + s.poolRejected + s.poolUnanswered + s.inFlight, 'the invariant, farm-wide');
  t.equal(s.sessionsOpen, 2, "worker a's two sessions are all that is open");
  t.equal(s.devicesOnline, 2);
  t.equal(s.connectionsUp, 2, "worker b's connection is down");
  t.equal(gone.length, 5, 'each open session of b ended, the unauthorized one too');
  t.same(gone.map((g) => g.worker).sort(), [null, 'b1', 'b2', 'b3', 'b4'].sort());
  for (const w of ['b1', 'b2', 'b3', 'b4']) {
    const d = ledger.device(w)!;
    t.equal(d.online, false, `${w} offline`);
    t.equal(d.inFlight, 0, `${w}: nothing in flight`);
    t.equal(d.forwarded, d.poolAccepted + d.poolRejected + d.poolUnanswered, `${w}: the invariant`);
  }
  for (const c of ledger.connections()) t.equal(c.forwarded, c.poolAccepted + c.poolRejected + c.poolUnanswered + c.inFlight, `connection ${c.index}: the invariant`);
  t.equal(ledger.connections()[2]!.up, false);
  t.equal(intake.devicesOf(1), 0);
  t.equal(intake.devicesOf(0), 2);
  t.ok(
    [...forwarded].every((id) => verdicts.get(id) === 1),
    'every forwarded share got exactly one verdict',
  );

  // Worker b restarts (a new incarnation): its connection 0 continues host-wide connection 2.
  const b2 = new SimWorker(1, 3, intake);
  b2.connections(1, ['backup'], now);
  const back = b2.device('b1', now);
  const id = b2.forward(back, 'b1', 0, 'backup', now);
  b2.verdict(back, 'b1', id, 0, 'backup', { kind: 'accepted' }, now + 3);
  await turn();
  t.ok(id > 3 * 2 ** 32, 'its ids start above the dead incarnation\'s');
  t.equal(ledger.summary().connections, 3, 'no new connection record');
  t.equal(ledger.connections()[2]!.up, true, 'connection 2 is up again');
  t.equal(ledger.connections()[2]!.forwarded, 9, 'and continues its counts');
  t.equal(ledger.summary().sessionsOpen, 3);
  t.equal(ledger.device('b1')!.online, true);

  // The books: every forwarded share is written once, with a verdict; nothing is awaiting or dropped.
  await books.stop('test over');
  const shares = store.records.filter((r): r is ShareRecord => r.kind === 'share');
  t.equal(shares.length, forwarded.size, "every forwarded share, the restarted worker's too");
  t.equal(new Set(shares.map((r) => r.shareId)).size, shares.length, 'each share once');
  t.same(
    shares.filter((r) => r.verdict === 'unanswered').map((r) => [r.shareId, r.noAnswerCause, r.worker]),
    bShares.slice(3).map((sid, i) => [sid, 'connection-lost', ['b2', 'b3', 'b3', 'b4', 'b4'][i]]),
    "b's 5 unanswered shares, as connection-lost",
  );
  t.equal(books.dropped, 0, 'nothing dropped (no verdict for a share never forwarded, none twice)');
});

t.test("late batches: a dead incarnation's never re-open what workerGone ended, even one never seen before", async (t) => {
  const primary = new EventBus();
  const intake = new EventIntake(primary);
  const ledger = new FarmLedger(primary, { now: () => T0 });
  t.teardown(() => ledger.close());
  const a = new SimWorker(0, 1, intake);
  a.device('a1', T0);
  await turn();
  t.equal(ledger.summary().sessionsOpen, 1);
  // Its replacement (incarnation 2) connects a device and dies before the primary read that batch.
  intake.workerGone(0, 'SIGKILL', T0 + 1);
  const b = new SimWorker(0, 2, intake);
  b.bus.emit('device.connected', { sessionId: 2 * 2 ** 32 + 1, ip: '10.0.0.2', at: T0 + 2 });
  await turn(); // b's batch arrives while it lives: taken
  t.equal(ledger.summary().sessionsOpen, 1, "b's device");
  intake.workerGone(0, 'exit code 1', T0 + 3, { incarnation: 2 });
  t.equal(ledger.summary().sessionsOpen, 0, 'ended');
  // A batch of incarnation 2 still in the pipe, and one of a fork (3) that died before any batch was read.
  const c = new SimWorker(0, 3, intake);
  intake.workerGone(0, 'exit code 1', T0 + 4, { incarnation: 3 });
  c.device('c1', T0 + 3);
  b.device('b2', T0 + 2);
  await turn();
  t.equal(intake.late, 4, "both late batches' events dropped (a connect and an authorize each)");
  t.equal(ledger.summary().sessionsOpen, 0, 'nothing re-opened');
  t.equal(intake.devicesOf(0), 0);
  // The next fork is taken.
  const d = new SimWorker(0, 4, intake);
  d.device('d1', T0 + 5);
  await turn();
  t.equal(ledger.summary().sessionsOpen, 1);
  t.equal(intake.devicesOf(0), 1);
});

t.test('a malformed batch is counted, not thrown; the events before the fault are re-emitted', async (t) => {
  const primary = new EventBus();
  const seen = record(primary);
  const intake = new EventIntake(primary);
  const bad: EventBatch = { relay: 'events', incarnation: 1, shapes: [['limit.refused', 'cause', 'ip', 'at']], values: [0, 'x', '1.2.3.4', T0, 7, 'y'] };
  intake.take(0, bad);
  t.equal(intake.malformed, 1);
  t.equal(seen.length, 1);
  t.same(seen[0], ['limit.refused', { cause: 'x', ip: '1.2.3.4', at: T0 }]);
});

t.test("a worker that finished its graceful stop at the host's shutdown: its pool connections end without pool.down", async (t) => {
  const primary = new EventBus();
  const seen = record(primary);
  const intake = new EventIntake(primary);
  const stopped = new SimWorker(0, 1, intake);
  const died = new SimWorker(1, 2, intake);
  stopped.connections(1, ['pool1'], T0);
  died.connections(1, ['pool1'], T0);
  await turn();
  const before = seen.length;
  intake.workerGone(0, 'exit code 0', T0 + 1, { incarnation: 1, stoppedAtShutdown: true });
  t.same(seen.slice(before), [], 'a clean stop at shutdown: nothing emitted (as a one-process proxy at stop)');
  intake.workerGone(1, 'SIGKILL', T0 + 1, { incarnation: 2 });
  t.same(
    seen.slice(before).map(([name, e]) => [name, (e as { reason?: string }).reason]),
    [['pool.down', 'worker 1 exited (SIGKILL)']],
    'a worker gone any other way: its connection is down',
  );
  // Neither record is left to end again.
  const after = seen.length;
  intake.workerGone(0, 'exit code 0', T0 + 2);
  intake.workerGone(1, 'exit code 0', T0 + 2);
  t.equal(seen.length, after, 'their records were ended once');
});
