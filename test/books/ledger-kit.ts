import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { EventBus, type PoolVerdict } from '../../src/core/events.js';
import type { Logger } from '../../src/core/log.js';
import type { Timers } from '../../src/util/timers.js';
import type { Test } from 'tap';
import type { LedgerStore } from '../../src/books/ledger-store.js';
import { LedgerWriter } from '../../src/books/ledger-writer.js';

/** Test kit for the books: a manual clock, synthetic share events (no sockets), a temporary directory, the rows. */

/** Timers that only move when told; each due callback runs, then pending promises settle (the commit). */
export class ManualTimers implements Timers {
  private clock: number;
  private seq = 0;
  private readonly due = new Map<number, { at: number; fn: () => void }>();
  /** Awaited after each callback (e.g. the writer's commit, when the store answers from another thread). */
  afterEach: () => Promise<unknown> = () => Promise.resolve();
  constructor(start = Date.UTC(2026, 11, 6, 3, 0, 0)) {
    this.clock = start;
  }
  now(): number {
    return this.clock;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.due.set(id, { at: this.clock + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.due.delete(handle as number);
  }
  /** Move the clock by `ms`, running every callback that falls due (in order) and letting its commit finish. */
  async advance(ms: number): Promise<void> {
    const end = this.clock + ms;
    for (;;) {
      await settle();
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.due) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.due.delete(next[0]);
      this.clock = next[1].at;
      next[1].fn();
      await this.afterEach();
    }
    this.clock = end;
    await settle();
    await this.afterEach();
  }
}

export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'dash-ledger-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A logger that keeps its lines (level and message) for the tests to count. */
export function recordingLogger(): Logger & { lines: { level: string; msg: string; fields: Record<string, unknown> }[] } {
  const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const make = (): Logger => ({
    debug: (msg, fields) => lines.push({ level: 'debug', msg, fields: fields ?? {} }),
    info: (msg, fields) => lines.push({ level: 'info', msg, fields: fields ?? {} }),
    warn: (msg, fields) => lines.push({ level: 'warn', msg, fields: fields ?? {} }),
    error: (msg, fields) => lines.push({ level: 'error', msg, fields: fields ?? {} }),
    child: () => make(),
  });
  return Object.assign(make(), { lines });
}

export interface SyntheticShare {
  worker: string;
  at: number;
  difficulty: number;
  shareDifficulty?: number;
  /** The network's difficulty of the share's job (default NETWORK_DIFFICULTY). */
  networkDifficulty?: number;
  pool?: string;
  /** The route and target it was sent on (default: 'default' / 'default', today's only ones). */
  route?: string;
  target?: string;
  connection?: number;
  jobId?: string;
  blockHash?: string | null;
  /** null: accepted by the proxy but not sent to the pool (below the pool's target). */
  verdict: PoolVerdict | null;
  latencyMs?: number;
}

/** Emits a share's events as the proxy does: accepted, (block candidate), forwarded, then its verdict. */
export class ShareFeeder {
  private nextId = 1;
  constructor(readonly bus: EventBus) {}

  share(s: SyntheticShare): number | null {
    const shareDifficulty = s.shareDifficulty ?? s.difficulty * 2;
    const pool = s.pool ?? 'main';
    const connection = s.connection ?? 0;
    const blockHash = s.blockHash ?? null;
    const place = { route: s.route ?? 'default', target: s.target ?? 'default' };
    this.bus.emit('share.accepted', { sessionId: 1, worker: s.worker, ...place, ip: '127.0.0.1', difficulty: s.difficulty, shareDifficulty, meetsPool: s.verdict !== null, meetsNetwork: blockHash !== null, at: s.at });
    if (s.verdict === null) return null;
    const shareId = this.nextId++;
    this.bus.emit('share.forwarded', { sessionId: 1, worker: s.worker, ...place, connection, pool, shareId, jobId: s.jobId ?? 'j1', difficulty: s.difficulty, shareDifficulty, networkDifficulty: s.networkDifficulty ?? NETWORK_DIFFICULTY, blockHash, at: s.at });
    this.bus.emit('share.upstream', { sessionId: 1, worker: s.worker, ...place, connection, pool, shareId, verdict: s.verdict, latencyMs: s.latencyMs ?? 10, at: s.at + (s.latencyMs ?? 10) });
    return shareId;
  }
}

/** The network difficulty of synthetic shares unless one is given. */
export const NETWORK_DIFFICULTY = 1_000_000;

export const ACCEPTED: PoolVerdict = { kind: 'accepted' };

/** The ledger's rows, read with a connection of the test's own. */
export function readLedger(file: string) {
  const db = new Database(file, { readonly: true });
  try {
    return {
      runs: db.prepare('SELECT * FROM proxy_runs ORDER BY started_at, run_id').all() as Record<string, unknown>[],
      shares: db.prepare('SELECT * FROM shares ORDER BY run_id, share_id').all() as Record<string, unknown>[],
      minutes: db.prepare('SELECT * FROM worker_minutes ORDER BY minute, worker, owner').all() as Record<string, unknown>[],
      switches: db.prepare('SELECT * FROM pool_switches ORDER BY run_id, seq').all() as Record<string, unknown>[],
      versions: db.prepare('SELECT version, description FROM schema_version ORDER BY version').all() as Record<string, unknown>[],
    };
  } finally {
    db.close();
  }
}

/**
 * A writer on `store` for fault tests: a manual clock that waits for each commit, a recording logger, retries
 * every second. `shares(n)` feeds n pool-accepted shares from 4 workers (so 4 per-minute sums).
 */
export function faultRig<S extends LedgerStore>(store: S, opts: { maxQueued?: number } = {}) {
  const timers = new ManualTimers();
  const bus = new EventBus();
  const log = recordingLogger();
  const writer = new LedgerWriter({ store, bus, timers, log, retryMs: 1_000, ...(opts.maxQueued !== undefined ? { maxQueued: opts.maxQueued } : {}) });
  timers.afterEach = () => writer.idle();
  const feed = new ShareFeeder(bus);
  const shares = (n: number) => {
    for (let i = 0; i < n; i++) feed.share({ worker: `rig${i % 4}`, at: timers.now(), difficulty: 16, jobId: 'job-with-a-longer-id-' + i, verdict: ACCEPTED });
  };
  const faultLogs = () => log.lines.filter((l) => l.level === 'error' && /cannot write the books/.test(l.msg));
  return { timers, bus, log, store, writer, shares, faultLogs };
}

/**
 * The store fails with `cause`: `first` shares wait in memory (with their 4 per-minute sums); `rounds` more
 * seconds of `each` shares later it still fails, retried each second, logged once for the whole episode.
 */
export async function expectFaultHeld(
  t: Test,
  rig: ReturnType<typeof faultRig<LedgerStore>>,
  o: { cause: string; first: number; rounds: number; each: number },
): Promise<void> {
  rig.shares(o.first);
  await rig.timers.advance(100);
  t.equal(rig.writer.fault, o.cause);
  t.equal(rig.writer.pending, o.first + 4, 'the shares (and per-minute sums) wait in memory');
  for (let i = 0; i < o.rounds; i++) {
    rig.shares(o.each);
    await rig.timers.advance(1_000);
  }
  t.equal(rig.writer.fault, o.cause, `still ${o.cause}`);
  t.equal(rig.faultLogs().length, 1, 'logged once for the whole episode');
  t.match(rig.faultLogs()[0]!.fields, { ledger: rig.store.location, cause: o.cause });
  t.ok((rig.writer.failuresBy[o.cause as keyof typeof rig.writer.failuresBy] ?? 0) >= o.rounds + 1, 'retried each second');
}
