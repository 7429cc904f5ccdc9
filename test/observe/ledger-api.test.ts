import t, { type Test } from 'tap';
import { request } from 'undici';
import { ThreadedLedgerReader } from '../../src/books/ledger-reader-thread.js';
import { payoutRules } from '../../src/books/open-reader.js';
import { HttpServer } from '../../src/observe/http-server.js';
import { MAX_PAYOUT_BODY_BYTES, registerLedgerRoutes } from '../../src/observe/ledger-api.js';
import { BOOKS, filledBooks, OWNERS } from '../books/books-fixture.js';

const TOKEN = 's3cret';
const RECORDED_AT = Date.UTC(2026, 11, 7, 12, 0, 0);

async function start(t: Test, token?: string) {
  const { file } = await filledBooks(t);
  // The reader the app runs: in a worker thread (its results and errors cross the thread intact).
  const reader = new ThreadedLedgerReader(file);
  const http = new HttpServer({ host: '127.0.0.1', port: 0, token });
  const told: number[] = [];
  registerLedgerRoutes(http, { reader, rules: () => payoutRules({ owners: OWNERS, books: BOOKS }), method: () => BOOKS.payoutMethod, now: () => RECORDED_AT, onPayout: (p) => told.push(p.id) });
  const { port } = await http.listen();
  t.teardown(async () => {
    await http.close();
    await reader.close();
  });
  const call = async (method: 'GET' | 'POST', path: string, opts: { body?: unknown; auth?: boolean } = {}) => {
    const res = await request(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: { ...(opts.auth !== false && token ? { authorization: `Bearer ${token}` } : {}), ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(opts.body !== undefined ? { body: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) } : {}),
    });
    const text = await res.body.text();
    return { status: res.statusCode, type: String(res.headers['content-type']), text, json: () => JSON.parse(text) as any };
  };
  return { file, call, told };
}

t.test('GET /api/ledger/report: the same numbers as the CLI, as JSON or CSV', async (t) => {
  const { call } = await start(t, TOKEN);
  const r = await call('GET', '/api/ledger/report?from=2026-12-05&to=2026-12-07&by=pool');
  t.equal(r.status, 200);
  t.same(r.json().rows, [
    { pool: 'backup', shares: 1, accepted: 1, rejected: 0, unanswered: 0, acceptedWork: 1000, workPercent: 14.2857 },
    { pool: 'main', shares: 5, accepted: 3, rejected: 1, unanswered: 1, acceptedWork: 6000, workPercent: 85.7143 },
  ]);
  const csv = await call('GET', '/api/ledger/report?from=2026-12-05&to=2026-12-07&format=csv&owner=bob');
  t.equal(csv.status, 200);
  t.match(csv.type, /^text\/csv/);
  t.equal(csv.text, 'owner,shares,accepted,rejected,unanswered,accepted_work,work_percent\r\nbob,2,1,1,0,2000,100.00\r\n');
  t.equal((await call('GET', '/api/ledger/report?from=2026-12-05&to=2026-12-07', { auth: false })).status, 401, 'reading needs the token when one is set');
});

t.test('POST /api/ledger/payouts records a payout split exactly; GET payouts and verify show it', async (t) => {
  const { call, file, told } = await start(t, TOKEN);
  const r = await call('POST', '/api/ledger/payouts', { body: { amount: '0.5', from: '2026-12-05', to: '2026-12-06', note: 'tx 1' } });
  t.equal(r.status, 201, r.text);
  t.same(told, [1], 'onPayout is told of the recorded payout (the owners view reads the books again)');
  const p = r.json();
  t.match(p, { id: 1, method: 'prop', amount: '0.50000000', recordedAt: '2026-12-07T12:00:00.000Z', note: 'tx 1' });
  t.same(p.splits.map((s: { owner: string; gross: string; fee: string; total: string }) => [s.owner, s.gross, s.fee, s.total]), [
    ['alice', '0.25000000', '0.00500000', '0.24500000'],
    ['bob', '0.16666667', '0.00000000', '0.16666667'],
    ['farm', '0.08333333', '0.00000000', '0.08833333'],
  ]);
  const pps = await call('POST', '/api/ledger/payouts', { body: { amount: 0.00975, from: '2026-12-05', to: '2026-12-07', method: 'pps', blockReward: '1.5' } });
  t.equal(pps.status, 201, pps.text);
  t.same(pps.json().splits.map((s: { totalDuffs: string }) => s.totalDuffs), ['514500', '300000', '160500']);

  const list = (await call('GET', '/api/ledger/payouts')).json().payouts as { amountDuffs: string; splits: { totalDuffs: string }[] }[];
  t.equal(list.length, 2);
  for (const q of list) t.equal(q.splits.reduce((a, s) => a + BigInt(s.totalDuffs), 0n), BigInt(q.amountDuffs));
  t.same((await call('GET', '/api/ledger/payouts?owner=alice&from=2026-12-07T12:00&to=2026-12-08')).json().payouts.length, 2);
  const verify = (await call('GET', '/api/ledger/verify')).json();
  t.same(verify, { ok: true, ledger: file, problems: [] });
  t.equal((await call('POST', '/api/ledger/payouts', { body: { amount: '1', from: '2026-12-05', to: '2026-12-06' }, auth: false })).status, 401, 'recording needs the token');
});

t.test('recording is refused when no token is configured, with the reason', async (t) => {
  const { call } = await start(t);
  const r = await call('POST', '/api/ledger/payouts', { body: { amount: '0.5', from: '2026-12-05', to: '2026-12-06' } });
  t.equal(r.status, 403);
  t.same(r.json(), { error: 'recording a payout changes the books: set http.token (DASH_PROXY_HTTP_TOKEN) and send it as Authorization: Bearer <token>' });
  t.same((await call('GET', '/api/ledger/payouts')).json().payouts, [], 'nothing recorded');
});

t.test('bad input: HTTP 400 with the field named, nothing recorded', async (t) => {
  const { call } = await start(t, TOKEN);
  const gets: [string, RegExp][] = [
    ['/api/ledger/report?from=2026-12-06&to=2026-12-05', /^from 2026-12-06 is not before to 2026-12-05/],
    ['/api/ledger/report?to=2026-12-05', /^from is required/],
    ['/api/ledger/report?from=2026-13-01&to=2026-12-05', /^from: "2026-13-01" is not a real date and time/],
    ['/api/ledger/report?from=2026-12-05&to=soon', /^to: expected an ISO date/],
    ['/api/ledger/report?from=2026-12-05&to=2026-12-06&by=rack', /^by: expected one of owner, worker, pool, route, target, day, got "rack"/],
    ['/api/ledger/report?from=2026-12-05&to=2026-12-06&format=xml', /^format: expected one of table, csv, json, got "xml"/],
    ['/api/ledger/report?from=2026-12-05&to=2026-12-06&owner=carol', /^owner: unknown owner "carol"/],
    ['/api/ledger/payouts?owner=carol', /^owner: unknown owner "carol"/],
    ['/api/ledger/verify?from=2026-12-05', /^to is required/],
  ];
  for (const [path, message] of gets) {
    const r = await call('GET', path);
    t.equal(r.status, 400, path);
    t.match(r.json().error, message, path);
  }
  const period = { from: '2026-12-05', to: '2026-12-06' };
  const posts: [unknown, RegExp][] = [
    [{ ...period, amount: '-1' }, /^amount: amount "-1" is negative/],
    [{ ...period, amount: -1 }, /^amount: amount "-1" is negative/],
    [{ ...period, amount: 'lots' }, /^amount: amount "lots" is not a number of DASH/],
    [{ ...period, amount: '0.123456789' }, /^amount: amount "0.123456789" has 9 decimals/],
    [{ ...period, amount: true }, /^amount: expected an amount of DASH like "1.5", got true/],
    [{ ...period }, /^amount is required/],
    [{ amount: '1', from: '2026-12-06', to: '2026-12-05' }, /^from 2026-12-06 is not before to 2026-12-05/],
    [{ ...period, amount: '1', method: 'fifo' }, /^method: expected one of prop, pplns, pps, got "fifo"/],
    [{ ...period, amount: '1', method: 'pplns', blocks: ['2026-12-09'] }, /^blocks: block 1 .* is outside the period/],
    [{ ...period, amount: '1', from: 20261205 }, /^from: expected text, got 20261205/],
    [{ ...period, amount: '1', payee: 'x' }, /^unknown field payee/],
    ['{"amount": ', /^the body must be JSON/],
    ['[1]', /^the body must be a JSON object/],
    [JSON.stringify({ ...period, amount: '1', note: 'x'.repeat(MAX_PAYOUT_BODY_BYTES) }), /^the request body is larger than 65536 bytes/],
  ];
  for (const [body, message] of posts) {
    const r = await call('POST', '/api/ledger/payouts', { body });
    t.equal(r.status, 400, String(message));
    t.match(r.json().error, message);
  }
  t.same((await call('GET', '/api/ledger/payouts')).json().payouts, [], 'nothing recorded');
});
