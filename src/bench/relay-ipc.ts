/**
 * The IPC cost of relaying a worker's events to the primary (src/cluster/event-relay.ts), over node's real
 * IPC: a forked child emits batches of share events on its bus (a third each share.accepted,
 * share.forwarded, share.upstream) and sends them; the parent re-emits them on its bus through an
 * EventIntake. For each serialization ('json', 'advanced') and shape (the relay's EventBatch, and plain
 * [name, event] pairs for comparison), the CPU milliseconds per batch on each side. The primary's side is
 * the one that counts: it takes every worker's events.
 *
 *   npm run build && node dist/bench/relay-ipc.js [--batches 300] [--events 1000]
 *   npx tsx src/bench/relay-ipc.ts
 *
 * Prints a table on stderr and one JSON line on stdout.
 */
import { fork, type SerializationType as Serialization } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EventBus, type ProxyEventMap, type ProxyEventName } from '../core/events.js';
import { EventForwarder, EventIntake, type EventBatch } from '../cluster/event-relay.js';

type Shape = 'relay' | 'pairs';
const SERIALIZATIONS: Serialization[] = ['json', 'advanced'];
const SHAPES: Shape[] = ['relay', 'pairs'];

interface Result {
  serialization: Serialization;
  shape: Shape;
  batches: number;
  events: number;
  workerCpuMsPerBatch: number;
  primaryCpuMsPerBatch: number;
  bytesPerBatch: number;
}

/** One turn's share events as the proxy emits them. */
function emitShares(bus: EventBus, events: number, from: number): void {
  const place = { route: 'default', target: 'default' };
  for (let i = 0; i < events; i++) {
    const n = from + i;
    const at = 1_765_000_000_000 + n;
    const sessionId = 2 ** 32 + 1 + (n % 5000);
    const worker = `rig${n % 5000}.a`;
    if (i % 3 === 0) bus.emit('share.accepted', { ...place, sessionId, worker, ip: '10.1.2.3', difficulty: 16384, shareDifficulty: 20000.5 + i, meetsPool: true, meetsNetwork: false, at });
    else if (i % 3 === 1) bus.emit('share.forwarded', { ...place, connection: 0, pool: 'main', sessionId, worker, shareId: 2 ** 32 + n, jobId: '1a2b3c', difficulty: 16384, shareDifficulty: 20000.5 + i, networkDifficulty: 123456789.5, blockHash: null, at });
    else bus.emit('share.upstream', { ...place, connection: 0, pool: 'main', sessionId, worker, shareId: 2 ** 32 + n - 1, verdict: { kind: 'accepted' }, latencyMs: 12, at });
  }
}

const NAMES: ProxyEventName[] = ['share.accepted', 'share.forwarded', 'share.upstream'];

async function child(shape: Shape, batches: number, events: number): Promise<void> {
  const bus = new EventBus();
  const send = (message: unknown) => new Promise<void>((resolve) => process.send!(message, () => resolve()));
  let sending: Promise<void> = Promise.resolve();
  if (shape === 'relay') {
    // Flushed by hand after each turn's events, as setImmediate would.
    const f = new EventForwarder({ bus, incarnation: 1, send: (b) => void (sending = send(b)), defer: () => {} });
    await new Promise<void>((resolve) => process.once('message', () => resolve()));
    const c0 = process.cpuUsage();
    for (let b = 0; b < batches; b++) {
      emitShares(bus, events, b * events);
      f.flush();
      await sending;
    }
    const c = process.cpuUsage(c0);
    await send({ done: (c.user + c.system) / 1000 });
  } else {
    let pending: [ProxyEventName, unknown][] = [];
    for (const name of NAMES) bus.on(name, (e) => pending.push([name, e]));
    await new Promise<void>((resolve) => process.once('message', () => resolve()));
    const c0 = process.cpuUsage();
    for (let b = 0; b < batches; b++) {
      emitShares(bus, events, b * events);
      const batch = pending;
      pending = [];
      await send({ pairs: batch });
    }
    const c = process.cpuUsage(c0);
    await send({ done: (c.user + c.system) / 1000 });
  }
  process.disconnect();
}

function measure(serialization: Serialization, shape: Shape, batches: number, events: number): Promise<Result> {
  const primary = new EventBus();
  const intake = new EventIntake(primary);
  let received = 0;
  /** The JSON size of the first batch (every batch holds the same events' kinds). */
  let bytes = 0;
  for (const name of NAMES) primary.on(name, () => void received++);
  const c = fork(fileURLToPath(import.meta.url), ['--child', shape, '--batches', String(batches), '--events', String(events)], { serialization });
  return new Promise((resolve, reject) => {
    let c0: NodeJS.CpuUsage | null = null;
    c.on('message', (m: unknown) => {
      const msg = m as { done?: number; pairs?: [ProxyEventName, ProxyEventMap[ProxyEventName]][] };
      if (msg.done !== undefined) {
        const cpu = process.cpuUsage(c0 ?? undefined);
        if (received !== batches * events) reject(new Error(`received ${received} of ${batches * events} events`));
        resolve({ serialization, shape, batches, events, workerCpuMsPerBatch: msg.done / batches, primaryCpuMsPerBatch: (cpu.user + cpu.system) / 1000 / batches, bytesPerBatch: bytes });
        return;
      }
      if (bytes === 0) bytes = JSON.stringify(m).length;
      if (msg.pairs) for (const [name, e] of msg.pairs) primary.emit(name, e as never);
      else intake.take(0, m as EventBatch);
    });
    c.on('error', reject);
    // Let the child start up before the clock runs.
    setTimeout(() => {
      c0 = process.cpuUsage();
      c.send('go');
    }, 1000);
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { child: { type: 'string' }, batches: { type: 'string', default: '300' }, events: { type: 'string', default: '1000' }, repeat: { type: 'string', default: '1' } } });
  const batches = Number(values.batches);
  const events = Number(values.events);
  if (values.child !== undefined) return child(values.child as Shape, batches, events);
  const results: Result[] = [];
  // Alternating, `--repeat` rounds: a busy host's noise falls on every variant alike.
  for (let round = 0; round < Number(values.repeat); round++) {
    for (const serialization of SERIALIZATIONS) for (const shape of SHAPES) results.push(await measure(serialization, shape, batches, events));
  }
  process.stderr.write(`relay IPC, ${batches} batches of ${events} share events (CPU ms per batch; JSON bytes of a batch)\n`);
  process.stderr.write('serialization  shape   worker  primary  bytes/batch\n');
  for (const r of results) process.stderr.write(`${r.serialization.padEnd(13)}  ${r.shape.padEnd(6)}  ${r.workerCpuMsPerBatch.toFixed(2).padStart(6)}  ${r.primaryCpuMsPerBatch.toFixed(2).padStart(7)}  ${String(r.bytesPerBatch).padStart(11)}\n`);
  process.stdout.write(JSON.stringify({ bench: 'relay-ipc', results }) + '\n');
}

void main();
