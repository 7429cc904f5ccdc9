import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { SqliteLedgerStore } from '../../src/books/ledger-sqlite.js';
import { ThreadedSqliteLedgerStore } from '../../src/books/ledger-sqlite-thread.js';
import { expectFaultHeld, faultRig, readLedger, tempDir } from './ledger-kit.js';

/**
 * The database missing, locked, full, read-only: mining goes on (events keep flowing, nothing throws), the
 * records wait in memory up to the bound, the cause is logged once, and everything is written when the
 * database is back. Each with a real file.
 */

// Both SQLite stores: on the proxy's thread, and in a worker thread (what the app runs).
type Impl = 'same thread' | 'worker thread';
const makeStore = (file: string, impl: Impl) => (impl === 'same thread' ? new SqliteLedgerStore({ path: file }) : new ThreadedSqliteLedgerStore({ path: file }));

const setup = (file: string, impl: Impl, opts: { maxQueued?: number } = {}) => faultRig(makeStore(file, impl), opts);

for (const impl of ['same thread', 'worker thread'] as const) {
  t.test(`${impl}: locked: a second connection holds the write lock (BEGIN IMMEDIATE)`, async (t) => {
    const file = path.join(tempDir(t), 'books.sqlite');
    const s = setup(file, impl);
    await s.writer.start();
    await s.timers.advance(0);
    const other = new Database(file);
    t.teardown(() => other.close());
    other.exec('BEGIN IMMEDIATE');
    await expectFaultHeld(t, s, { cause: 'locked', first: 300, rounds: 5, each: 10 });
    other.exec('COMMIT');
    await s.timers.advance(1_000);
    t.equal(s.writer.fault, null);
    t.equal(s.writer.pending, 0, 'caught up');
    t.ok(s.log.lines.some((l) => /caught up/.test(l.msg) && l.fields.after === 'locked'), 'says it caught up');
    await s.writer.stop();
    t.equal(readLedger(file).shares.length, 350, 'every share written once');
    t.equal(s.writer.dropped, 0);
  });

  t.test(`${impl}: full: the file reaches its page cap (SQLite max_page_count)`, async (t) => {
    const file = path.join(tempDir(t), 'books.sqlite');
    const s = setup(file, impl);
    await s.writer.start();
    await s.timers.advance(0);
    const reader = new Database(file, { readonly: true });
    const pages = reader.pragma('page_count', { simple: true }) as number;
    reader.close();
    await s.store.setMaxPageCount(pages + 2);
    s.shares(2_000);
    await s.timers.advance(100);
    t.equal(s.writer.fault, 'full');
    t.equal(s.writer.pending, 2_000 + 4);
    await s.timers.advance(3_000);
    t.equal(s.faultLogs().length, 1, 'logged once');
    t.equal(readLedger(file).shares.length, 0, 'nothing half-written: the batch is one transaction');
    await s.store.setMaxPageCount(undefined);
    await s.timers.advance(1_000);
    t.equal(s.writer.fault, null);
    t.equal(s.writer.pending, 0);
    await s.writer.stop();
    t.equal(readLedger(file).shares.length, 2_000);
  });

  t.test(`${impl}: missing: the directory is removed while running, then comes back (a new file gets everything queued)`, async (t) => {
    const dir = path.join(tempDir(t), 'books');
    mkdirSync(dir);
    const file = path.join(dir, 'books.sqlite');
    const s = setup(file, impl);
    await s.writer.start();
    s.shares(5);
    await s.timers.advance(100);
    t.equal(readLedger(file).shares.length, 5);
    rmSync(dir, { recursive: true });
    s.shares(7);
    await s.timers.advance(100);
    t.equal(s.writer.fault, 'missing');
    await s.timers.advance(5_000);
    t.equal(s.writer.fault, 'missing', 'still missing');
    t.equal(s.faultLogs().length, 1, 'logged once');
    t.equal(s.writer.pending, 7 + 4);
    mkdirSync(dir);
    await s.timers.advance(1_000);
    t.equal(s.writer.fault, null);
    await s.writer.stop();
    const rows = readLedger(file);
    t.same(rows.shares.map((r) => r.share_id), [6, 7, 8, 9, 10, 11, 12], 'the queued shares are in the new file');
    t.match(rows.runs, [{ run_id: s.writer.run.runId, stop_reason: 'stopped' }], 'with the run');
  });

  t.test(`${impl}: missing at start: a path in a directory that does not exist yet`, async (t) => {
    const dir = path.join(tempDir(t), 'not-yet');
    const file = path.join(dir, 'books.sqlite');
    const s = setup(file, impl);
    await s.writer.start();
    t.equal(s.writer.fault, 'missing', 'start goes on: a fault, not a refusal');
    s.shares(3);
    await s.timers.advance(2_000);
    t.equal(s.faultLogs().length, 1);
    mkdirSync(dir);
    await s.timers.advance(1_000);
    t.equal(s.writer.fault, null);
    await s.writer.stop();
    t.equal(readLedger(file).shares.length, 3);
  });

  t.test(`${impl}: read-only: the file cannot be written (chmod 0444, or immutable when running as root)`, async (t) => {
    const file = path.join(tempDir(t), 'books.sqlite');
    const first = setup(file, impl);
    await first.writer.start();
    await first.writer.stop();
    const root = process.getuid?.() === 0;
    const lock = () => (root ? execFileSync('chattr', ['+i', file]) : chmodSync(file, 0o444));
    const unlock = () => (root ? execFileSync('chattr', ['-i', file]) : chmodSync(file, 0o644));
    lock();
    t.teardown(() => {
      try {
        unlock();
      } catch {
        // already writable
      }
    });
    const s = setup(file, impl);
    await s.writer.start();
    s.shares(9);
    await s.timers.advance(2_000);
    t.equal(s.writer.fault, 'read-only');
    t.equal(s.faultLogs().length, 1);
    t.equal(s.writer.pending, 9 + 4);
    unlock();
    await s.timers.advance(1_000);
    t.equal(s.writer.fault, null);
    await s.writer.stop();
    const rows = readLedger(file);
    t.equal(rows.shares.length, 9);
    t.equal(rows.runs.length, 2);
  });

  t.test(`${impl}: the bound: past maxQueued, records are dropped, counted and logged (once), the rest is written later`, async (t) => {
    const file = path.join(tempDir(t), 'books.sqlite');
    const s = setup(file, impl, { maxQueued: 50 });
    await s.writer.start();
    await s.timers.advance(0);
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    s.shares(100);
    await s.timers.advance(100);
    t.equal(s.writer.pending, 50, 'the queue holds its bound');
    t.equal(s.writer.dropped, 54, '100 shares and 4 minute sums offered, 50 kept');
    t.equal(s.writer.droppedBy['queue-full'], 54);
    t.equal(s.log.lines.filter((l) => /records dropped/.test(l.msg)).length, 1, 'logged once');
    other.exec('COMMIT');
    other.close();
    await s.timers.advance(1_000);
    await s.writer.stop();
    t.equal(readLedger(file).shares.length, 50 - 4, 'the kept shares are written');
  });

  t.test(`${impl}: stop while the database is unavailable: what could not be written is counted as dropped and logged`, async (t) => {
    const file = path.join(tempDir(t), 'books.sqlite');
    const s = setup(file, impl);
    await s.writer.start();
    await s.timers.advance(0);
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    s.shares(20);
    await s.writer.stop();
    other.exec('COMMIT');
    other.close();
    t.equal(s.writer.droppedBy['unwritten-at-stop'], 20 + 4 + 1, 'the shares, their minute sums and the stop record');
    t.ok(s.log.lines.some((l) => l.level === 'error' && /records dropped/.test(l.msg) && l.fields.cause === 'unwritten-at-stop'));
  });
}
