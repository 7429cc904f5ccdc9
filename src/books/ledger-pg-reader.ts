import * as q from './ledger-queries.js';
import type { AcceptedUnit, LedgerProblem, LedgerReader, PayoutEntry, RecordedPayout, ReportGroup, ReportRow, TimeRange } from './ledger-reader.js';
import { PgLedgerStore } from './ledger-pg.js';
import { byName } from './payouts.js';
import { minuteProblems, payoutProblems } from './ledger-verify.js';

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

  async acceptedWork(range: TimeRange): Promise<AcceptedUnit[]> {
    return (await this.store.query(q.ACCEPTED_WORK_SQL, [range.from, range.to])).map(q.acceptedFromRow);
  }

  async windowStart(at: number, window: number): Promise<number> {
    return q.windowStartFrom(await this.store.query(q.MINUTE_WORK_BACK_SQL, [at]), at, window);
  }

  async addPayout(entry: PayoutEntry): Promise<RecordedPayout> {
    const id = await this.store.inTransaction(async (run) => {
      // Two recorders at once take ids one after the other (SQLite's BEGIN IMMEDIATE does the same).
      await run('LOCK TABLE payouts IN SHARE ROW EXCLUSIVE MODE');
      const next = Number((await run(q.NEXT_PAYOUT_ID_SQL))[0]!.next_id);
      await run(q.INSERT_PAYOUT_SQL, q.payoutParams(next, entry));
      for (const s of entry.splits) await run(q.INSERT_SPLIT_SQL, q.splitParams(next, s));
      return next;
    });
    return { ...entry, id };
  }

  async payouts(range?: TimeRange, owner?: string): Promise<RecordedPayout[]> {
    return q.payoutsFromRows(await this.store.query(q.payoutsSql(range !== undefined), range ? [range.from, range.to] : []), await this.store.query(q.SPLITS_SQL), owner);
  }

  async verify(range?: TimeRange): Promise<LedgerProblem[]> {
    const params = range ? [range.from, range.to] : [];
    const minutes = (await this.store.query(q.minuteRowsSql(range !== undefined), params)).map(q.minuteFromRow);
    const fromShares = (await this.store.query(q.minuteSharesSql(range !== undefined), params)).map(q.minuteFromRow);
    return [...minuteProblems(minutes, fromShares), ...payoutProblems(await this.payouts())];
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
