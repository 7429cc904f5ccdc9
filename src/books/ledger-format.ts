import { formatDash } from './duffs.js';
import type { BlockRow } from './ledger-blocks.js';
import type { ReportFormat } from './ledger-input.js';
import type { LedgerProblem, RecordedPayout, ReportGroup, ReportRow, TimeRange } from './ledger-reader.js';

/**
 * The books as text: reports and payouts as an aligned table, CSV (RFC 4180, one header line) or JSON, the
 * same for the CLI and the API. Times are ISO UTC; money is DASH with 8 decimals (and exact duffs in JSON).
 */
const iso = (ms: number) => new Date(ms).toISOString();
const day = (ms: number) => iso(ms).slice(0, 10);

/** Work in difficulty units: at most 6 decimals, no float noise. */
function work(n: number): string {
  return String(Number(n.toFixed(6)));
}

/** A report as JSON data: each row under its group's name, plus totals and each row's part of the work. */
export function reportData(range: TimeRange, by: ReportGroup, rows: readonly ReportRow[]) {
  const total = rows.reduce((a, r) => a + r.acceptedWork, 0);
  return {
    from: iso(range.from),
    to: iso(range.to),
    by,
    rows: rows.map((r) => ({
      [by]: by === 'day' ? day(r.key as number) : r.key,
      shares: r.shares,
      accepted: r.accepted,
      rejected: r.rejected,
      unanswered: r.unanswered,
      acceptedWork: r.acceptedWork,
      /** Part of the range's accepted work, in percent. */
      workPercent: total > 0 ? Number(((r.acceptedWork / total) * 100).toFixed(4)) : 0,
    })),
    total: {
      shares: rows.reduce((a, r) => a + r.shares, 0),
      accepted: rows.reduce((a, r) => a + r.accepted, 0),
      rejected: rows.reduce((a, r) => a + r.rejected, 0),
      unanswered: rows.reduce((a, r) => a + r.unanswered, 0),
      acceptedWork: total,
    },
  };
}

export function formatReport(range: TimeRange, by: ReportGroup, rows: readonly ReportRow[], format: ReportFormat): string {
  const data = reportData(range, by, rows);
  if (format === 'json') return JSON.stringify(data, null, 2) + '\n';
  const header = [by, 'shares', 'accepted', 'rejected', 'unanswered', 'accepted_work', 'work_percent'];
  const body = data.rows.map((r) => [String(r[by]), String(r.shares), String(r.accepted), String(r.rejected), String(r.unanswered), work(r.acceptedWork), r.workPercent.toFixed(2)]);
  if (format === 'csv') return csv([header, ...body]);
  const t = data.total;
  return `books ${data.from} to ${data.to} by ${by}\n` + table([header, ...body, ['total', String(t.shares), String(t.accepted), String(t.rejected), String(t.unanswered), work(t.acceptedWork), t.acceptedWork > 0 ? '100.00' : '0.00']]);
}

/** A payout as JSON data: DASH text and exact duffs. */
export function payoutData(p: RecordedPayout) {
  return {
    id: p.id,
    recordedAt: iso(p.recordedAt),
    method: p.method,
    from: iso(p.period.from),
    to: iso(p.period.to),
    amount: formatDash(p.amount),
    amountDuffs: p.amount.toString(),
    blocks: p.blocks?.map((b) => iso(b.at)) ?? null,
    /** Each block's reward (DASH, in the order of blocks) when they were given; null: the amount split equally. */
    blockRewards: p.blocks?.some((b) => b.reward !== undefined) ? p.blocks.map((b) => formatDash(b.reward ?? 0n)) : null,
    pplnsWindow: p.pplnsWindow,
    blockReward: p.blockReward === null ? null : formatDash(p.blockReward),
    note: p.note,
    splits: p.splits.map((s) => ({
      owner: s.owner,
      work: s.work,
      gross: formatDash(s.gross),
      fee: formatDash(s.fee),
      feesReceived: formatDash(s.feesReceived),
      total: formatDash(s.total),
      totalDuffs: s.total.toString(),
    })),
  };
}

export function formatPayouts(payouts: readonly RecordedPayout[], format: ReportFormat): string {
  if (format === 'json') return JSON.stringify({ payouts: payouts.map(payoutData) }, null, 2) + '\n';
  if (format === 'csv') {
    const header = ['payout', 'recorded_at', 'method', 'from', 'to', 'amount', 'owner', 'work', 'gross', 'fee', 'fees_received', 'total'];
    return csv([
      header,
      ...payouts.flatMap((p) =>
        p.splits.map((s) => [String(p.id), iso(p.recordedAt), p.method, iso(p.period.from), iso(p.period.to), formatDash(p.amount), s.owner, work(s.work), formatDash(s.gross), formatDash(s.fee), formatDash(s.feesReceived), formatDash(s.total)]),
      ),
    ]);
  }
  if (payouts.length === 0) return 'no payouts recorded\n';
  return payouts
    .map((p) => {
      const head = `payout ${p.id}: ${formatDash(p.amount)} DASH by ${p.method} for ${iso(p.period.from)} to ${iso(p.period.to)}, recorded ${iso(p.recordedAt)}${p.note ? ` (${p.note})` : ''}`;
      const rows = p.splits.map((s) => [s.owner, work(s.work), formatDash(s.gross), formatDash(s.fee), formatDash(s.feesReceived), formatDash(s.total)]);
      return `${head}\n${table([['owner', 'work', 'gross', 'fee', 'fees in', 'total'], ...rows])}`;
    })
    .join('\n');
}

/** A solo block as JSON data: DASH text and exact duffs. */
export function blockData(b: BlockRow) {
  return {
    hash: b.hash,
    height: b.height,
    foundAt: iso(b.foundAt),
    worker: b.worker,
    owner: b.owner,
    route: b.route,
    target: b.target,
    pool: b.pool,
    reward: formatDash(b.reward),
    rewardDuffs: b.reward.toString(),
    coinbaseValue: formatDash(b.coinbaseValue),
    payoutAddress: b.payoutAddress,
    submitResult: b.submitResult,
    submitReason: b.submitReason,
    status: b.status,
    statusReason: b.statusReason,
    confirmations: b.confirmations,
    chainlock: b.chainlock,
    statusAt: iso(b.statusAt),
    /** The payout that split the reward among owners (ledger payouts), or null. */
    payout: b.payoutId,
  };
}

export function formatBlocks(blocks: readonly BlockRow[], format: ReportFormat): string {
  if (format === 'json') return JSON.stringify({ blocks: blocks.map(blockData) }, null, 2) + '\n';
  const header = ['height', 'hash', 'found_at', 'worker', 'owner', 'pool', 'reward', 'submit_result', 'submit_reason', 'status', 'confirmations', 'chainlock', 'payout'];
  const body = blocks.map((b) => [
    String(b.height), b.hash, iso(b.foundAt), b.worker, b.owner, b.pool, formatDash(b.reward), b.submitResult, b.submitReason ?? '-',
    b.status, String(b.confirmations), b.chainlock ? 'yes' : 'no', b.payoutId === null ? '-' : String(b.payoutId),
  ]);
  if (format === 'csv') return csv([header, ...body]);
  if (blocks.length === 0) return 'no blocks recorded\n';
  return table([header, ...body]);
}

export function formatProblems(location: string, problems: readonly LedgerProblem[]): string {
  if (problems.length === 0) return `ledger ${location}: consistent (per-minute totals equal the share rows; every payout equals its splits; every paid block's payout is its reward)\n`;
  return `ledger ${location}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${problems.map((p) => `  - ${p.message}\n`).join('')}`;
}

/** Columns aligned by their widest cell, two spaces apart; numbers (and DASH) right-aligned. */
function table(rows: readonly string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const numeric = rows[0]!.map((_, c) => c > 0 && rows.slice(1).every((r) => /^-?[\d.]+$/.test(r[c]!)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 && !numeric[c] ? cell : numeric[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd()).join('\n') + '\n';
}

function csv(rows: readonly string[][]): string {
  return rows.map((r) => r.map((cell) => (/[",\r\n]/.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell)).join(',')).join('\r\n') + '\r\n';
}
