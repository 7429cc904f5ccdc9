import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ReportRow, TimeRange } from '../books/ledger-reader.js';
import { SqliteLedgerReader } from '../books/ledger-sqlite-reader.js';
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

/** One owner's shares sent to the pool in this run, as the books' own report by owner has them. */
export interface DemoOwnerBooks {
  owner: string;
  feePercent: number;
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
  /** The run's time span in the books, [from, to) in ms since the epoch: what the report covers. */
  from: number;
  to: number;
  owners: DemoOwnerBooks[];
  poolAccepted: number;
  work: number;
}

/**
 * What the books say about the demo's run (shares sent to the pool from `from` to `to`), per owner, sorted by
 * name: the ledger's report by owner (the same as `dash-farm-proxy ledger report --by owner`), read once the
 * proxy has stopped. Every configured owner and the farm are listed, also without shares.
 */
export async function readDemoBooks(file: string, range: TimeRange, owners: OwnersConfig, farmOwner: string, kept: boolean): Promise<DemoBooks> {
  const reader = new SqliteLedgerReader(file);
  let rows: ReportRow[];
  try {
    rows = await reader.report(range, 'owner');
  } finally {
    await reader.close();
  }
  const byOwner = new Map(rows.map((r) => [String(r.key), r]));
  const names = [...new Set([...Object.keys(owners), farmOwner, ...byOwner.keys()])].sort();
  const work = rows.reduce((n, r) => n + r.acceptedWork, 0);
  return {
    file,
    kept,
    from: range.from,
    to: range.to,
    owners: names.map((owner) => {
      const r = byOwner.get(owner);
      return {
        owner,
        feePercent: owners[owner]?.feePercent ?? 0,
        shares: r?.shares ?? 0,
        poolAccepted: r?.accepted ?? 0,
        poolRejected: r?.rejected ?? 0,
        poolUnanswered: r?.unanswered ?? 0,
        work: r?.acceptedWork ?? 0,
        workShare: work > 0 ? (r?.acceptedWork ?? 0) / work : 0,
      };
    }),
    poolAccepted: rows.reduce((n, r) => n + r.accepted, 0),
    work,
  };
}
