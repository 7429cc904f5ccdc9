import { AmountError, parseDash, type Duffs } from './duffs.js';
import { REPORT_GROUPS, type ReportGroup, type TimeRange } from './ledger-reader.js';
import { PAYOUT_METHODS, type PaidBlock, type PayoutMethod } from './payouts.js';

/**
 * What a person types to read the books or record a payout, checked once for the CLI (`ledger ...`, exit
 * code 2) and the API (`/api/ledger/...`, HTTP 400) alike. Every problem is a LedgerInputError naming the
 * field (`--from` on the command line, `from` in the API) and the value. Pure.
 */
export class LedgerInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LedgerInputError';
  }
}

export const REPORT_FORMATS = ['table', 'csv', 'json'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

const TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?Z?)?$/;
export const TIME_WORDS = 'an ISO date or UTC date-time like 2026-12-06 or 2026-12-06T03:00:00Z';

/** An ISO date (its 00:00 UTC) or date-time in UTC (a trailing Z or none), as ms since the epoch. */
export function parseTime(text: string, field: string): number {
  const m = TIME.exec(text.trim());
  if (!m) throw new LedgerInputError(`${field}: expected ${TIME_WORDS}, got ${JSON.stringify(text)}`);
  const [y, mo, d, h = '0', mi = '0', s = '0', ms = '0'] = m.slice(1).map((x) => x ?? undefined) as string[];
  const parts = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Number(ms.padEnd(3, '0'))] as const;
  const at = Date.UTC(...parts);
  const back = new Date(at);
  const real = back.getUTCFullYear() === parts[0] && back.getUTCMonth() === parts[1] && back.getUTCDate() === parts[2] && back.getUTCHours() === parts[3] && back.getUTCMinutes() === parts[4] && back.getUTCSeconds() === parts[5];
  if (!real) throw new LedgerInputError(`${field}: ${JSON.stringify(text)} is not a real date and time`);
  return at;
}

/** `from` and `to` (names as the caller shows them), `from` strictly before `to`. */
export function parseRange(from: string | undefined, to: string | undefined, names: { from: string; to: string }): TimeRange {
  if (from === undefined || from === '') throw new LedgerInputError(`${names.from} is required (${TIME_WORDS})`);
  if (to === undefined || to === '') throw new LedgerInputError(`${names.to} is required (${TIME_WORDS})`);
  const range = { from: parseTime(from, names.from), to: parseTime(to, names.to) };
  if (range.from >= range.to) throw new LedgerInputError(`${names.from} ${from} is not before ${names.to} ${to}: the range is [from, to)`);
  return range;
}

/** Both or neither: a range, or undefined for everything. */
export function parseOptionalRange(from: string | undefined, to: string | undefined, names: { from: string; to: string }): TimeRange | undefined {
  if ((from === undefined || from === '') && (to === undefined || to === '')) return undefined;
  return parseRange(from, to, names);
}

function oneOf<C extends string>(choices: readonly C[], text: string, field: string): C {
  if (!(choices as readonly string[]).includes(text)) throw new LedgerInputError(`${field}: expected one of ${choices.join(', ')}, got ${JSON.stringify(text)}`);
  return text as C;
}

export const parseGroup = (text: string, field: string): ReportGroup => oneOf(REPORT_GROUPS, text, field);
export const parseFormat = (text: string, field: string): ReportFormat => oneOf(REPORT_FORMATS, text, field);
export const parseMethod = (text: string, field: string): PayoutMethod => oneOf(PAYOUT_METHODS, text, field);

/** A DASH amount ("1.5", at most 8 decimals, not negative) as duffs. */
export function parseAmount(text: unknown, field: string): Duffs {
  if (typeof text !== 'string' && typeof text !== 'number') throw new LedgerInputError(`${field}: expected an amount of DASH like "1.5", got ${JSON.stringify(text) ?? String(text)}`);
  try {
    return parseDash(String(text));
  } catch (err) {
    if (err instanceof AmountError) throw new LedgerInputError(`${field}: ${err.message}`);
    throw err;
  }
}

/**
 * The blocks a PPLNS payout pays for, comma-separated: each a time inside `period`, alone (the amount is then
 * split equally among the blocks) or with the block's reward in DASH after `=` (`2026-12-05T10:12:00Z=0.8`):
 * then every block has one, and the rewards sum exactly to the payout (splitPayout checks both).
 */
export function parseBlocks(text: string, field: string, period: TimeRange): PaidBlock[] {
  return checkBlocks(
    text.split(',').map((item, i) => blockOf(item, field, `${field}: block ${i + 1}'s reward`)),
    field,
    period,
  );
}

/** One block as text: a time, or time=DASH. */
function blockOf(text: string, timeField: string, rewardField: string): PaidBlock {
  const eq = text.indexOf('=');
  if (eq < 0) return { at: parseTime(text, timeField) };
  return { at: parseTime(text.slice(0, eq), timeField), reward: parseAmount(text.slice(eq + 1).trim(), rewardField) };
}

/**
 * The API's `blocks`: a list whose items are times, "time=DASH" text as on the command line, or objects
 * {"at": time, "reward": "DASH"}; or one comma-separated text. The same checks as parseBlocks.
 */
export function parseBlockList(value: unknown, field: string, period: TimeRange): PaidBlock[] {
  if (typeof value === 'string') return parseBlocks(value, field, period);
  if (!Array.isArray(value) || value.length === 0) throw new LedgerInputError(`${field}: expected a list of block times (or {"at": time, "reward": "DASH"}), got ${JSON.stringify(value)}`);
  const blocks = value.map((item, i): PaidBlock => {
    const at = `${field}[${i}]`;
    if (typeof item === 'string') return blockOf(item, at, `${at}: the reward`);
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new LedgerInputError(`${at}: expected a time or {"at": time, "reward": "DASH"}, got ${JSON.stringify(item)}`);
    const { at: time, reward, ...rest } = item as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length > 0) throw new LedgerInputError(`${at}: unknown field ${extra.join(', ')} (a block has at and reward)`);
    if (typeof time !== 'string') throw new LedgerInputError(`${at}.at: expected ${TIME_WORDS}, got ${JSON.stringify(time)}`);
    return { at: parseTime(time, `${at}.at`), ...(reward === undefined || reward === null ? {} : { reward: parseAmount(reward, `${at}.reward`) }) };
  });
  return checkBlocks(blocks, field, period);
}

/** Every block inside the period (that rewards are given for all or none and sum to the amount: splitPayout). */
function checkBlocks(blocks: PaidBlock[], field: string, period: TimeRange): PaidBlock[] {
  for (const [i, b] of blocks.entries()) {
    if (b.at < period.from || b.at >= period.to) throw new LedgerInputError(`${field}: block ${i + 1} (${new Date(b.at).toISOString()}) is outside the period [${new Date(period.from).toISOString()}, ${new Date(period.to).toISOString()})`);
  }
  return blocks;
}

/** An owner named in a query must be one the configuration or the books know. */
export function checkOwner(owner: string, known: readonly string[], field: string): string {
  if (!known.includes(owner)) throw new LedgerInputError(`${field}: unknown owner ${JSON.stringify(owner)} (the configuration and the books know ${known.join(', ') || 'none'})`);
  return owner;
}
