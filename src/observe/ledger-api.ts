import type http from 'node:http';
import { blockData, formatBlocks, formatReport, payoutData, reportData } from '../books/ledger-format.js';
import { LedgerInputError, parseAmount, parseBlockList, parseFormat, parseGroup, parseMethod, parseOptionalRange, parseRange } from '../books/ledger-input.js';
import { recordPayout, type PayoutRules } from '../books/ledger-payout.js';
import type { LedgerReader, RecordedPayout } from '../books/ledger-reader.js';
import { LedgerFaultError, LedgerRefusedError } from '../books/ledger-store.js';
import { namedOwner } from '../books/open-reader.js';
import type { OwnerMap } from '../books/owners.js';
import type { PayoutMethod } from '../books/payouts.js';
import { sendJson, type HttpServer } from './http-server.js';

/**
 * The books over HTTP, the same as `dash-farm-proxy ledger ...` (src/commands/ledger.ts) with the same
 * checks (a bad input is 400 with the field named):
 *
 *   GET  /api/ledger/report?from=&to=[&by=owner|worker|pool|route|target|day][&owner=][&format=json|csv|table]
 *   GET  /api/ledger/payouts[?from=&to=][&owner=]       recorded payouts with their splits
 *   GET  /api/ledger/blocks[?from=&to=][&format=json|csv|table]  solo blocks: result, status, reward, payout
 *   GET  /api/ledger/verify[?from=&to=]                 {ok, problems}: the books' internal consistency
 *   POST /api/ledger/payouts  {"amount": "1.5", "from": ..., "to": ..., "method"?, "blocks"?: [...],
 *                              "blockReward"?, "note"?}  records a payout (201 with its split); pplns blocks
 *                              are times or {"at": time, "reward": "DASH"} (rewards summing to the amount)
 *
 * Recording changes the books, so it needs the HTTP token: with no `http.token` configured it is refused
 * (403), whatever the request carries. Reading follows the server's rule for every route.
 */
export interface LedgerApiOptions {
  reader: LedgerReader;
  /** The owners, fees and PPLNS window in force (a reload may change them). */
  rules: () => PayoutRules & { owners: OwnerMap };
  /** books.payoutMethod in force. */
  method: () => PayoutMethod;
  /** Told of each payout recorded here (the owners view reads the books again). */
  onPayout?: (payout: RecordedPayout) => void;
  now?: () => number;
  prefix?: string;
}

/** The largest payout request body read. */
export const MAX_PAYOUT_BODY_BYTES = 64 * 1024;

/** How the range's ends are named in messages. */
const PARAMS = { from: 'from', to: 'to' };

const PAYOUT_FIELDS = ['amount', 'from', 'to', 'method', 'blocks', 'blockReward', 'note'] as const;

export function registerLedgerRoutes(server: HttpServer, opts: LedgerApiOptions): void {
  const prefix = `${opts.prefix ?? '/api'}/ledger`;
  const now = opts.now ?? Date.now;
  const { reader } = opts;
  const param = (url: URL, name: string) => url.searchParams.get(name) ?? undefined;
  const owner = (url: URL) => namedOwner(param(url, 'owner'), reader, opts.rules().owners, 'owner');

  server.route({
    method: 'GET',
    path: `${prefix}/report`,
    handler: guarded(async (_req, res, url) => {
      const range = parseRange(param(url, 'from'), param(url, 'to'), PARAMS);
      const by = parseGroup(param(url, 'by') ?? 'owner', 'by');
      const format = parseFormat(param(url, 'format') ?? 'json', 'format');
      const rows = await reader.report(range, by, await owner(url));
      if (format === 'json') return sendJson(res, 200, reportData(range, by, rows));
      sendText(res, format, formatReport(range, by, rows, format));
    }),
  });

  server.route({
    method: 'GET',
    path: `${prefix}/payouts`,
    handler: guarded(async (_req, res, url) => {
      const range = parseOptionalRange(param(url, 'from'), param(url, 'to'), PARAMS);
      sendJson(res, 200, { payouts: (await reader.payouts(range, await owner(url))).map(payoutData) });
    }),
  });

  server.route({
    method: 'GET',
    path: `${prefix}/blocks`,
    handler: guarded(async (_req, res, url) => {
      const range = parseOptionalRange(param(url, 'from'), param(url, 'to'), PARAMS);
      const format = parseFormat(param(url, 'format') ?? 'json', 'format');
      const blocks = await reader.blocks(range);
      if (format === 'json') return sendJson(res, 200, { blocks: blocks.map(blockData) });
      sendText(res, format, formatBlocks(blocks, format));
    }),
  });

  server.route({
    method: 'GET',
    path: `${prefix}/verify`,
    handler: guarded(async (_req, res, url) => {
      const problems = await reader.verify(parseOptionalRange(param(url, 'from'), param(url, 'to'), PARAMS));
      sendJson(res, 200, { ok: problems.length === 0, ledger: reader.location, problems });
    }),
  });

  server.route({
    method: 'POST',
    path: `${prefix}/payouts`,
    handler: guarded(async (req, res) => {
      if (!server.options.token) {
        return sendJson(res, 403, { error: 'recording a payout changes the books: set http.token (DASH_PROXY_HTTP_TOKEN) and send it as Authorization: Bearer <token>' });
      }
      const body = await readJson(req);
      const unknown = Object.keys(body).filter((k) => !(PAYOUT_FIELDS as readonly string[]).includes(k));
      if (unknown.length > 0) throw new LedgerInputError(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (a payout has ${PAYOUT_FIELDS.join(', ')})`);
      const text = (name: string): string | undefined => {
        const v = body[name];
        if (v === undefined || v === null) return undefined;
        if (typeof v !== 'string') throw new LedgerInputError(`${name}: expected text, got ${JSON.stringify(v)}`);
        return v;
      };
      if (body.amount === undefined) throw new LedgerInputError('amount is required (DASH, like "1.5")');
      const amount = parseAmount(body.amount, 'amount');
      const period = parseRange(text('from'), text('to'), PARAMS);
      const method = parseMethod(text('method') ?? opts.method(), 'method');
      const blocks = body.blocks === undefined || body.blocks === null ? null : parseBlockList(body.blocks, 'blocks', period);
      const reward = body.blockReward === undefined || body.blockReward === null ? null : parseAmount(body.blockReward, 'blockReward');
      const payout = await recordPayout(reader, { amount, method, period, blocks, blockReward: reward, note: text('note') ?? null }, opts.rules(), now());
      sendJson(res, 201, payoutData(payout));
      opts.onPayout?.(payout);
    }),
  });
}

/** A CSV or table answer. */
function sendText(res: http.ServerResponse, format: 'csv' | 'table', text: string): void {
  res.writeHead(200, { 'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<void>;

/** Bad input is 400 naming the field; books that cannot be read are 503 naming the file. */
function guarded(handler: Handler): Handler {
  return async (req, res, url) => {
    try {
      await handler(req, res, url);
    } catch (err) {
      if (err instanceof LedgerInputError) return sendJson(res, 400, { error: err.message });
      if (err instanceof LedgerRefusedError || err instanceof LedgerFaultError) return sendJson(res, 503, { error: err.message });
      throw err;
    }
  };
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_PAYOUT_BODY_BYTES) throw new LedgerInputError(`the request body is larger than ${MAX_PAYOUT_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new LedgerInputError(`the body must be JSON (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new LedgerInputError('the body must be a JSON object: {"amount": "1.5", "from": ..., "to": ...}');
  return value as Record<string, unknown>;
}
