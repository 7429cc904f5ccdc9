import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { PowHasher } from '../chain/hasher.js';
import { runLedgerCommit, type LedgerCommitResult } from './ledger-commit.js';
import { findPostgres, startPgCluster } from './pg-cluster.js';
import { machineFacts } from './proc.js';
import { runSharePhase, type SharePhaseResult } from './share-phase.js';

/**
 * The books' part of the benchmark (issue 13): the ledger's own commit rate and size (ledger-commit.ts),
 * on SQLite and, when its server binaries are installed, on PostgreSQL (a durable throwaway cluster started
 * here: pg-cluster.ts); and the share path's forwarding latency with the books on and off: the same share
 * run with `ledger.path` set to a new SQLite file and without it, alternating (on, off, on, off, ...) so
 * that both sides of a pair see the same machine. Every file is in a temporary directory removed at the
 * end (a million shares are a few hundred MB).
 */

export interface BooksPhaseOptions {
  /** Shares written in the commit measurement. */
  ledgerShares: number;
  /** Distinct workers of the commit measurement. */
  ledgerWorkers: number;
  /** Pool shares per worker per minute in the commit measurement (sets worker-minute rows per share). */
  sharesPerWorkerMinute: number;
  ledgerMaxSeconds: number;
  /** Also measure the commit rate on PostgreSQL (when it is installed). */
  postgres: boolean;
  /** Offered share rates of the on/off pairs. */
  rates: number[];
  /** On/off pairs, run alternately. */
  pairs: number;
  devices: number;
  warmupMs: number;
  measureMs: number;
  txCount: number;
  x11Ms: number;
  hasher: PowHasher;
  fileLimit: number;
  workDir: string;
  progress: (line: string) => void;
}

export type BooksLedger = 'on' | 'off';

/** The order within each pair. */
export const BOOKS_PAIR_ORDER: readonly BooksLedger[] = ['on', 'off'];

export interface BooksShareRun {
  ledger: BooksLedger;
  pair: number;
  phase: SharePhaseResult;
  /** With the books on: share rows in the file after the proxy stopped (null: off). */
  ledgerShareRows: number | null;
}

export interface BooksPhaseResult {
  /** The commit measurements: SQLite, then PostgreSQL when it was measured. */
  commits: LedgerCommitResult[];
  /** PostgreSQL's server settings when measured, else why it was not. */
  postgres: { settings: string[] } | { missing: string };
  shareRuns: BooksShareRun[];
  errors: string[];
  /** The machine's load average (1, 5, 15 minutes) when this part started and ended: other work moves every figure. */
  loadavg: { start: number[]; end: number[] };
}

type Fail = (what: string) => (err: unknown) => null;

export async function runBooksPhase(o: BooksPhaseOptions): Promise<BooksPhaseResult> {
  const loadStart = machineFacts().loadavg;
  const dir = await mkdtemp(join(tmpdir(), 'dash-farm-proxy-books-bench-'));
  const errors: string[] = [];
  const fail: Fail = (what) => (err) => {
    errors.push(`${what}: ${(err as Error).message}`);
    o.progress(`books: ${what} failed: ${(err as Error).message}`);
    return null;
  };
  const commitOptions = { shares: o.ledgerShares, workers: o.ledgerWorkers, sharesPerWorkerMinute: o.sharesPerWorkerMinute, maxSeconds: o.ledgerMaxSeconds };
  const described = `${o.ledgerShares.toLocaleString('en-US')} shares from ${o.ledgerWorkers.toLocaleString('en-US')} workers`;
  try {
    const commits: LedgerCommitResult[] = [];
    o.progress(`books: commit rate and size on SQLite, ${described} into a new file (${dir})`);
    const sqlite = await runLedgerCommit({ ...commitOptions, target: { store: 'sqlite', path: join(dir, 'commit.sqlite') } }).catch(fail('SQLite commit measurement'));
    if (sqlite) commits.push(reportCommit(sqlite, o.progress));
    await rm(join(dir, 'commit.sqlite'), { force: true });

    const postgres = await measurePostgres(o, commitOptions, described, fail);
    if (postgres.commit) commits.push(reportCommit(postgres.commit, o.progress));

    const shareRuns: BooksShareRun[] = [];
    for (let pair = 1; pair <= o.pairs; pair++) {
      for (const ledger of BOOKS_PAIR_ORDER) {
        const run = await booksShareRun(o, dir, pair, ledger, fail);
        if (run) shareRuns.push(run);
      }
    }
    return { commits, postgres: postgres.outcome, shareRuns, errors, loadavg: { start: loadStart, end: machineFacts().loadavg } };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function reportCommit(c: LedgerCommitResult, progress: (line: string) => void): LedgerCommitResult {
  progress(
    `books: ${c.store}: ${c.recordsPerSecond.toLocaleString('en-US')} records/s committed (${c.commits} commits of ${c.recordsPerCommit.toLocaleString('en-US')}, ` +
      `commit p50 ${c.commitMs.p50} p99 ${c.commitMs.p99} ms), ${Math.round(c.bytesPerMillionShares / 1e6).toLocaleString('en-US')} MB per million shares`,
  );
  return c;
}

/** The commit measurement on a durable throwaway PostgreSQL cluster, or why there is none. */
async function measurePostgres(
  o: BooksPhaseOptions,
  commitOptions: Omit<Parameters<typeof runLedgerCommit>[0], 'target'>,
  described: string,
  fail: Fail,
): Promise<{ commit: LedgerCommitResult | null; outcome: BooksPhaseResult['postgres'] }> {
  const found = o.postgres ? findPostgres() : { missing: 'left out (--no-books-postgres)' };
  if ('missing' in found) {
    o.progress(`books: PostgreSQL not measured: ${found.missing}`);
    return { commit: null, outcome: found };
  }
  const cluster = await startPgCluster(found.bin, { durable: true }).catch(fail('PostgreSQL cluster start'));
  if (!cluster) return { commit: null, outcome: { missing: 'its cluster did not start (see the failures below)' } };
  try {
    const url = await cluster.createDatabase('ledger_bench');
    o.progress(`books: commit rate and size on PostgreSQL (${found.bin}, ${cluster.settings.join(', ')}), ${described} into ${url}`);
    const commit = await runLedgerCommit({ ...commitOptions, target: { store: 'postgres', url } }).catch(fail('PostgreSQL commit measurement'));
    return { commit, outcome: commit ? { settings: cluster.settings } : { missing: 'its measurement failed (see the failures below)' } };
  } finally {
    cluster.destroy();
  }
}

/** One share run of a pair: the proxy with its books in a new SQLite file (on) or without books (off). */
async function booksShareRun(o: BooksPhaseOptions, dir: string, pair: number, ledger: BooksLedger, fail: Fail): Promise<BooksShareRun | null> {
  const ledgerPath = ledger === 'on' ? join(dir, `shares-${pair}.sqlite`) : null;
  o.progress(`books pair ${pair}/${o.pairs}: share path with the ledger ${ledger}, rates ${o.rates.join(', ')}/s, ${o.measureMs / 1000} s each`);
  const phase = await runSharePhase({
    devices: o.devices,
    rates: o.rates,
    warmupMs: o.warmupMs,
    measureMs: o.measureMs,
    windowPerDevice: 4,
    txCount: o.txCount,
    x11Ms: o.x11Ms,
    hasher: o.hasher,
    fileLimit: o.fileLimit,
    workDir: o.workDir,
    ledgerPath,
    progress: (l) => o.progress(`  ${l}`),
  }).catch(fail(`share run with the ledger ${ledger}`));
  if (!phase) return null;
  const ledgerShareRows = ledgerPath ? countShareRows(ledgerPath) : null;
  if (ledgerPath) {
    o.progress(`  books: ${ledgerShareRows ?? 'no'} share rows in the ledger after the proxy stopped`);
    for (const suffix of ['', '-wal', '-shm']) await rm(`${ledgerPath}${suffix}`, { force: true });
  }
  return { ledger, pair, phase, ledgerShareRows };
}

/** Share rows in a ledger file, or null when there is none (the proxy never wrote it). */
function countShareRows(path: string): number | null {
  if (!existsSync(path)) return null;
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM shares').get() as { n: number }).n;
  } finally {
    db.close();
  }
}
