import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { OwnersConfig } from '../books/owners.js';

/**
 * The demo's books: where they are written (a temporary SQLite file, or one the user names), the demo farm's
 * owners, and what the closing summary says about them, read back from the file after the proxy stopped.
 *
 * The fleet's devices take turns: `rack1.d<i>` (alice's by her pattern `rack1.*`), `bob.d<i>` (bob's by the
 * pool convention owner.worker), `rig.<i>` (the farm's: nobody's pattern, no owner's name before the dot).
 */

export const DEMO_FARM_OWNER = 'farm';

export const DEMO_OWNERS = {
  alice: { workers: ['rack1.*'], feePercent: 2 },
  bob: { workers: [] as string[], feePercent: 0 },
} satisfies OwnersConfig;

/** Device i's worker name: alice's, bob's and the farm's in turn. */
export function demoWorkerName(i: number): string {
  switch (i % 3) {
    case 0:
      return `rack1.d${i}`;
    case 1:
      return `bob.d${i}`;
    default:
      return `rig.${i}`;
  }
}

export interface DemoBooksFile {
  path: string;
  /** True when the file is removed at exit (a temporary one without --keep-books). */
  temporary: boolean;
  /** Remove the temporary file (and its folder); nothing for a kept one. */
  cleanup(): void;
}

/** `--books PATH`: that file, kept. Otherwise a new file in the system's temporary folder, kept only with `keep`. */
export function demoBooksFile(given: string | undefined, keep: boolean): DemoBooksFile {
  if (given !== undefined) return { path: path.resolve(given), temporary: false, cleanup: () => {} };
  const dir = mkdtempSync(path.join(tmpdir(), 'dash-farm-proxy-demo-'));
  return {
    path: path.join(dir, 'books.sqlite'),
    temporary: !keep,
    cleanup: () => {
      if (!keep) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One owner's shares sent to the pool in this run, from the books' share rows. */
export interface DemoOwnerBooks {
  owner: string;
  feePercent: number;
  /** Workers with shares sent to the pool. */
  workers: number;
  /** Shares sent to the pool, and the pool's verdicts. */
  shares: number;
  poolAccepted: number;
  poolRejected: number;
  poolUnanswered: number;
  /** Pool-accepted work: the sum of credited difficulty of the pool-accepted shares (what payouts split). */
  work: number;
  /** This owner's part of the farm's pool-accepted work, 0 to 1. */
  workShare: number;
}

export interface DemoBooks {
  file: string;
  /** Whether the file is still there after the demo (false: a temporary file, removed). */
  kept: boolean;
  owners: DemoOwnerBooks[];
  poolAccepted: number;
  work: number;
}

/**
 * What the books say about run `runId`, per owner (sorted by name), read from the file once the proxy has
 * stopped (the writer closed it). Owners are those configured plus the farm, each listed even without shares.
 */
export function readDemoBooks(file: string, runId: string, owners: OwnersConfig, farmOwner: string, kept: boolean): DemoBooks {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  let rows: { owner: string; workers: number; shares: number; accepted: number; rejected: number; unanswered: number; work: number }[];
  try {
    rows = db
      .prepare(
        `SELECT owner, COUNT(DISTINCT worker) AS workers, COUNT(*) AS shares,
           SUM(CASE WHEN verdict = 'accepted' THEN 1 ELSE 0 END) AS accepted,
           SUM(CASE WHEN verdict = 'rejected' THEN 1 ELSE 0 END) AS rejected,
           SUM(CASE WHEN verdict = 'unanswered' THEN 1 ELSE 0 END) AS unanswered,
           SUM(CASE WHEN verdict = 'accepted' THEN credited_difficulty ELSE 0 END) AS work
         FROM shares WHERE run_id = ? GROUP BY owner`,
      )
      .all(runId) as typeof rows;
  } finally {
    db.close();
  }
  const byOwner = new Map(rows.map((r) => [r.owner, r]));
  const names = [...new Set([...Object.keys(owners), farmOwner, ...byOwner.keys()])].sort();
  const work = rows.reduce((n, r) => n + r.work, 0);
  return {
    file,
    kept,
    owners: names.map((owner) => {
      const r = byOwner.get(owner);
      return {
        owner,
        feePercent: owners[owner]?.feePercent ?? 0,
        workers: r?.workers ?? 0,
        shares: r?.shares ?? 0,
        poolAccepted: r?.accepted ?? 0,
        poolRejected: r?.rejected ?? 0,
        poolUnanswered: r?.unanswered ?? 0,
        work: r?.work ?? 0,
        workShare: work > 0 ? (r?.work ?? 0) / work : 0,
      };
    }),
    poolAccepted: rows.reduce((n, r) => n + r.accepted, 0),
    work,
  };
}
