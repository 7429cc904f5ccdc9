import { BLOCK_PAYOUT_STATE_SQL, blockFromRow, blocksParams, blocksSql, FIRST_SHARE_SQL, SET_BLOCK_PAYOUT_SQL, type BlockRow } from './ledger-blocks.js';
import * as q from './ledger-queries.js';
import type { AcceptedUnit, LedgerProblem, LedgerReader, PayoutEntry, RecordedPayout, ReportGroup, ReportRow, TimeRange } from './ledger-reader.js';
import { PgLedgerStore } from './ledger-pg.js';
import { byName } from './payouts.js';
import { PAID_BLOCK_STATUSES } from './ledger-store.js';
import { blockProblems, minuteProblems, payoutProblems } from './ledger-verify.js';

/**
 * The books of a PostgreSQL database (ledger.url), read (and payouts recorded) beside the proxies writing
 * them: the same SQL as the SQLite reader (ledger-queries.ts), through the PostgreSQL store's connections
 * (already asynchronous: no thread needed). A database without the books is refused, never given them; one
 * that is not ours or is newer is refused as the writer refuses it.
 */
export class PgLedgerReader implements LedgerReader {
  readonly location: string;
  private readonly store: PgLedgerStore;

  constructor(url: string) {
    this.store = new PgLedgerStore({ url, create: false });
    this.location = this.store.location;
  }

  async report(range: TimeRange, by: ReportGroup, owner?: string): Promise<ReportRow[]> {
    return q.reportFromRows(await this.store.query(q.reportSql(by, owner !== undefined), owner !== undefined ? [range.from, range.to, owner] : [range.from, range.to]), by);
  }

  async owners(): Promise<string[]> {
    return (await this.store.query(q.OWNERS_SQL)).map((r) => r.owner as string).sort(byName);
  }

  async acceptedWork(range: TimeRange, pool?: string): Promise<AcceptedUnit[]> {
    return (await this.store.query(q.acceptedWorkSql(pool !== undefined), q.acceptedWorkParams(range, pool))).map(q.acceptedFromRow);
  }

  async windowStart(at: number, window: number, pool?: string): Promise<number> {
    return q.windowStartFrom(await this.store.query(q.minuteWorkBackSql(pool !== undefined), q.minuteWorkBackParams(at, pool)), at, window);
  }

  async firstShareAt(): Promise<number | null> {
    const v = (await this.store.query(FIRST_SHARE_SQL))[0]?.first;
    return v === null || v === undefined ? null : Number(v);
  }

  async blocks(range?: TimeRange): Promise<BlockRow[]> {
    return (await this.store.query(blocksSql(range !== undefined), blocksParams(range))).map(blockFromRow);
  }

  async addPayout(entry: PayoutEntry): Promise<RecordedPayout> {
    return { ...entry, id: await this.store.inTransaction(async (run) => insertPayout(run, entry)) };
  }

  async addBlockPayout(hash: string, entry: PayoutEntry): Promise<RecordedPayout | null> {
    const id = await this.store.inTransaction(async (run) => {
      // Every recorder takes the payouts lock first (insertPayout): the check and the payout are one step,
      // whichever proxy of a shared ledger tries.
      await run(PAYOUTS_LOCK);
      const state = (await run(BLOCK_PAYOUT_STATE_SQL, [hash]))[0];
      if (!state || state.payout_id !== null || !PAID_BLOCK_STATUSES.includes(state.status as never)) return null;
      const next = await insertPayout(run, entry);
      await run(SET_BLOCK_PAYOUT_SQL, [next, hash]);
      return next;
    });
    return id === null ? null : { ...entry, id };
  }

  async payouts(range?: TimeRange, owner?: string): Promise<RecordedPayout[]> {
    return q.payoutsFromRows(await this.store.query(q.payoutsSql(range !== undefined), range ? [range.from, range.to] : []), await this.store.query(q.SPLITS_SQL), owner);
  }

  async verify(range?: TimeRange): Promise<LedgerProblem[]> {
    const params = range ? [range.from, range.to] : [];
    const minutes = (await this.store.query(q.minuteRowsSql(range !== undefined), params)).map(q.minuteFromRow);
    const fromShares = (await this.store.query(q.minuteSharesSql(range !== undefined), params)).map(q.minuteFromRow);
    const payouts = await this.payouts();
    return [...minuteProblems(minutes, fromShares), ...payoutProblems(payouts), ...blockProblems(await this.blocks(), payouts)];
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

type Run = (sql: string, params?: readonly unknown[]) => Promise<Record<string, unknown>[]>;

/** Two recorders at once take payout ids one after the other (SQLite's BEGIN IMMEDIATE does the same). */
const PAYOUTS_LOCK = 'LOCK TABLE payouts IN SHARE ROW EXCLUSIVE MODE';

/** A payout and its splits, inside the caller's transaction (under the payouts lock); its id. */
async function insertPayout(run: Run, entry: PayoutEntry): Promise<number> {
  await run(PAYOUTS_LOCK);
  const next = Number((await run(q.NEXT_PAYOUT_ID_SQL))[0]!.next_id);
  await run(q.INSERT_PAYOUT_SQL, q.payoutParams(next, entry));
  for (const s of entry.splits) await run(q.INSERT_SPLIT_SQL, q.splitParams(next, s));
  return next;
}
