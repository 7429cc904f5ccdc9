import { existsSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { byName } from './payouts.js';
import { BLOCK_PAYOUT_STATE_SQL, blockFromRow, blocksParams, blocksSql, FIRST_SHARE_SQL, SET_BLOCK_PAYOUT_SQL, type BlockRow } from './ledger-blocks.js';
import {
  acceptedFromRow,
  acceptedWorkParams,
  acceptedWorkSql,
  INSERT_PAYOUT_SQL,
  INSERT_SPLIT_SQL,
  minuteWorkBackParams,
  minuteWorkBackSql,
  minuteFromRow,
  minuteRowsSql,
  minuteSharesSql,
  NEXT_PAYOUT_ID_SQL,
  OWNERS_SQL,
  payoutParams,
  payoutsFromRows,
  payoutsSql,
  reportFromRows,
  reportSql,
  SPLITS_SQL,
  splitParams,
  type SqlRow,
  windowStartFrom,
} from './ledger-queries.js';
import type { AcceptedUnit, LedgerProblem, LedgerReader, PayoutEntry, RecordedPayout, ReportGroup, ReportRow, TimeRange } from './ledger-reader.js';
import { SqliteLedgerStore } from './ledger-sqlite.js';
import { LedgerRefusedError, PAID_BLOCK_STATUSES } from './ledger-store.js';
import { blockProblems, minuteProblems, payoutProblems } from './ledger-verify.js';

/**
 * The books of one SQLite file, read (and payouts recorded) through a connection of its own, beside the
 * proxy's writer: WAL lets it read while the proxy commits. The file must exist: a reader never creates
 * books. It is checked as the writer checks it (ours, not newer) and brought to the current schema.
 */
export class SqliteLedgerReader implements LedgerReader {
  readonly location: string;
  private readonly store: SqliteLedgerStore;
  private db: Database.Database | null = null;

  constructor(path: string) {
    this.location = path;
    this.store = new SqliteLedgerStore({ path });
  }

  private open(): Database.Database {
    if (this.db) return this.db;
    if (!existsSync(this.location)) throw new LedgerRefusedError(this.location, 'no such file (the proxy creates the books when it starts with ledger.path set)');
    const db = this.store.openSync();
    // Recording a payout may meet the proxy's commit in progress: wait for it a little, not fail.
    db.pragma('busy_timeout = 5000');
    this.db = db;
    return db;
  }

  private all(sql: string, params: readonly unknown[] = []): SqlRow[] {
    return this.open().prepare(sql).all(...params) as SqlRow[];
  }

  async report(range: TimeRange, by: ReportGroup, owner?: string): Promise<ReportRow[]> {
    return reportFromRows(this.all(reportSql(by, owner !== undefined), owner !== undefined ? [range.from, range.to, owner] : [range.from, range.to]), by);
  }

  async owners(): Promise<string[]> {
    return this.all(OWNERS_SQL)
      .map((r) => r.owner as string)
      .sort(byName);
  }

  async acceptedWork(range: TimeRange, pool?: string): Promise<AcceptedUnit[]> {
    return this.all(acceptedWorkSql(pool !== undefined), acceptedWorkParams(range, pool)).map(acceptedFromRow);
  }

  async windowStart(at: number, window: number, pool?: string): Promise<number> {
    return windowStartFrom(this.open().prepare(minuteWorkBackSql(pool !== undefined)).iterate(...minuteWorkBackParams(at, pool)) as IterableIterator<SqlRow>, at, window);
  }

  async firstShareAt(): Promise<number | null> {
    const v = this.all(FIRST_SHARE_SQL)[0]?.first;
    return v === null || v === undefined ? null : Number(v);
  }

  async blocks(range?: TimeRange): Promise<BlockRow[]> {
    return this.all(blocksSql(range !== undefined), blocksParams(range)).map(blockFromRow);
  }

  async addPayout(entry: PayoutEntry): Promise<RecordedPayout> {
    const db = this.open();
    return { ...entry, id: db.transaction(() => this.insertPayout(db, entry)).immediate() };
  }

  async addBlockPayout(hash: string, entry: PayoutEntry): Promise<RecordedPayout | null> {
    const db = this.open();
    // BEGIN IMMEDIATE: one recorder at a time, so the check and the payout are one step.
    const id = db
      .transaction(() => {
        const state = db.prepare(BLOCK_PAYOUT_STATE_SQL).get(hash) as SqlRow | undefined;
        if (!state || state.payout_id !== null || !PAID_BLOCK_STATUSES.includes(state.status as never)) return null;
        const next = this.insertPayout(db, entry);
        db.prepare(SET_BLOCK_PAYOUT_SQL).run(next, hash);
        return next;
      })
      .immediate();
    return id === null ? null : { ...entry, id };
  }

  /** A payout and its splits, inside the caller's transaction; its id. */
  private insertPayout(db: Database.Database, entry: PayoutEntry): number {
    const next = Number((db.prepare(NEXT_PAYOUT_ID_SQL).get() as SqlRow).next_id);
    db.prepare(INSERT_PAYOUT_SQL).run(...payoutParams(next, entry));
    const split = db.prepare(INSERT_SPLIT_SQL);
    for (const s of entry.splits) split.run(...splitParams(next, s));
    return next;
  }

  async payouts(range?: TimeRange, owner?: string): Promise<RecordedPayout[]> {
    return payoutsFromRows(this.all(payoutsSql(range !== undefined), range ? [range.from, range.to] : []), this.all(SPLITS_SQL), owner);
  }

  async verify(range?: TimeRange): Promise<LedgerProblem[]> {
    const params = range ? [range.from, range.to] : [];
    const minutes = this.all(minuteRowsSql(range !== undefined), params).map(minuteFromRow);
    const fromShares = this.all(minuteSharesSql(range !== undefined), params).map(minuteFromRow);
    const payouts = await this.payouts();
    return [...minuteProblems(minutes, fromShares), ...payoutProblems(payouts), ...blockProblems(await this.blocks(), payouts)];
  }

  async close(): Promise<void> {
    this.db = null;
    this.store.closeSync();
  }
}
