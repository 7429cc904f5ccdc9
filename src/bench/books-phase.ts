import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { PowHasher } from '../chain/hasher.js';
import { runLedgerCommit, type LedgerCommitResult } from './ledger-commit.js';
import { runSharePhase, type SharePhaseResult } from './share-phase.js';

/**
 * The books' part of the benchmark (issue 13): the ledger's own commit rate and size (ledger-commit.ts), and
 * the share path's forwarding latency with the books off and on: the same share run twice, side by side,
 * once without `ledger.path` and once with it set to a new SQLite file. Every file is in a temporary
 * directory removed at the end (a million shares are a few hundred MB).
 */

export interface BooksPhaseOptions {
  /** Shares written in the commit measurement. */
  ledgerShares: number;
  /** Distinct workers of the commit measurement. */
  ledgerWorkers: number;
  /** Pool shares per worker per minute in the commit measurement (sets worker-minute rows per share). */
  sharesPerWorkerMinute: number;
  ledgerMaxSeconds: number;
  /** Offered share rates of the off/on pairs. */
  rates: number[];
  /** Off/on pairs, run alternately. */
  repeat: number;
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

export interface BooksShareRun {
  ledger: 'off' | 'on';
  repeat: number;
  phase: SharePhaseResult;
  /** With the books on: share rows in the file after the proxy stopped (null: off). */
  ledgerShareRows: number | null;
}

export interface BooksPhaseResult {
  commit: LedgerCommitResult | null;
  shareRuns: BooksShareRun[];
  errors: string[];
}

export async function runBooksPhase(o: BooksPhaseOptions): Promise<BooksPhaseResult> {
  const dir = await mkdtemp(join(tmpdir(), 'dash-farm-proxy-books-bench-'));
  const errors: string[] = [];
  const fail = (what: string) => (err: unknown) => {
    errors.push(`${what}: ${(err as Error).message}`);
    o.progress(`books: ${what} failed: ${(err as Error).message}`);
    return null;
  };
  try {
    o.progress(`books: commit rate and size, ${o.ledgerShares.toLocaleString('en-US')} shares from ${o.ledgerWorkers.toLocaleString('en-US')} workers into a new SQLite file (${dir})`);
    const commit = await runLedgerCommit({
      path: join(dir, 'commit.sqlite'),
      shares: o.ledgerShares,
      workers: o.ledgerWorkers,
      sharesPerWorkerMinute: o.sharesPerWorkerMinute,
      maxSeconds: o.ledgerMaxSeconds,
    }).catch(fail('commit measurement'));
    if (commit) {
      o.progress(
        `books: ${commit.recordsPerSecond.toLocaleString('en-US')} records/s committed (${commit.commits} commits of ${commit.recordsPerCommit.toLocaleString('en-US')}, ` +
          `commit p50 ${commit.commitMs.p50} p99 ${commit.commitMs.p99} ms), ${Math.round(commit.bytesPerMillionShares / 1e6).toLocaleString('en-US')} MB per million shares`,
      );
    }
    await rm(join(dir, 'commit.sqlite'), { force: true });

    const shareRuns: BooksShareRun[] = [];
    for (let rep = 1; rep <= o.repeat; rep++) {
      for (const ledger of ['off', 'on'] as const) {
        const ledgerPath = ledger === 'on' ? join(dir, `shares-${rep}.sqlite`) : null;
        o.progress(`books ${rep}/${o.repeat}: share path with the ledger ${ledger}, rates ${o.rates.join(', ')}/s, ${o.measureMs / 1000} s each`);
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
        if (!phase) continue;
        const ledgerShareRows = ledgerPath ? countShareRows(ledgerPath) : null;
        if (ledgerPath) {
          o.progress(`  books: ${ledgerShareRows ?? 'no'} share rows in the ledger after the proxy stopped`);
          await rm(ledgerPath, { force: true });
          await rm(`${ledgerPath}-wal`, { force: true });
          await rm(`${ledgerPath}-shm`, { force: true });
        }
        shareRuns.push({ ledger, repeat: rep, phase, ledgerShareRows });
      }
    }
    return { commit, shareRuns, errors };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
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
