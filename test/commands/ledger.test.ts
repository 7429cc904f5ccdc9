import { writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { mainCaptured as cli } from '../helpers/cli-main.js';
import { BOOKS, filledBooks, OWNERS } from '../books/books-fixture.js';
import { buildConfig, buildConfigFor } from '../../src/config.js';

function writeConfig(dir: string, name: string, ledger: { path: string | null }): string {
  const file = path.join(dir, name);
  writeFileSync(file, JSON.stringify({ pools: [{ url: 'stratum+tcp://127.0.0.1:3333', user: 'X.farm' }], ledger, owners: OWNERS, books: BOOKS }));
  return file;
}

async function setup(t: { teardown(fn: () => void): void }) {
  const { dir, file } = await filledBooks(t);
  return { dir, file, config: writeConfig(dir, 'proxy.json', { path: file }) };
}

t.test('ledger report: by owner as CSV, by day as JSON, one owner as a table', async (t) => {
  const { config } = await setup(t);
  const csv = await cli(['ledger', 'report', '--config', config, '--from', '2026-12-05', '--to', '2026-12-07', '--by', 'owner', '--format', 'csv']);
  t.equal(csv.code, 0, csv.err);
  t.equal(csv.out, 'owner,shares,accepted,rejected,unanswered,accepted_work,work_percent\r\nalice,3,2,0,1,4000,57.14\r\nbob,2,1,1,0,2000,28.57\r\nfarm,1,1,0,0,1000,14.29\r\n');
  const json = await cli(['ledger', 'report', '-c', config, '--from', '2026-12-05T00:00:00Z', '--to', '2026-12-07T00:00', '--by', 'day', '--format', 'json']);
  t.equal(json.code, 0);
  t.same(JSON.parse(json.out).rows.map((r: { day: string; acceptedWork: number }) => [r.day, r.acceptedWork]), [['2026-12-05', 6000], ['2026-12-06', 1000]]);
  const table = await cli(['ledger', 'report', '--config', config, '--from', '2026-12-05', '--to', '2026-12-06', '--owner', 'alice']);
  t.equal(table.code, 0);
  t.equal(table.out.split('\n')[2], 'alice       2         1         0           1           3000        100.00');
});

t.test('ledger payout record, then ledger payouts and verify: the splits sum exactly to the payout', async (t) => {
  const { config } = await setup(t);
  const rec = await cli(['ledger', 'payout', 'record', '--config', config, '--amount', '0.5', '--from', '2026-12-05', '--to', '2026-12-06', '--note', 'pool tx 9f3c', '--format', 'json']);
  t.equal(rec.code, 0, rec.err);
  const p = JSON.parse(rec.out).payouts[0];
  t.match(p, { id: 1, method: 'prop', amount: '0.50000000', amountDuffs: '50000000', note: 'pool tx 9f3c' });
  t.same(p.splits.map((s: { owner: string; total: string }) => [s.owner, s.total]), [['alice', '0.24500000'], ['bob', '0.16666667'], ['farm', '0.08833333']]);
  const pplns = await cli(['ledger', 'payout', 'record', '--config', config, '--amount', '1.1', '--from', '2026-12-05', '--to', '2026-12-07', '--method', 'pplns', '--blocks', '2026-12-06T01:00:00Z']);
  t.equal(pplns.code, 0, pplns.err);
  t.match(pplns.out, /^payout 2: 1\.10000000 DASH by pplns/);

  const list = await cli(['ledger', 'payouts', '--config', config, '--format', 'json']);
  t.equal(list.code, 0);
  const payouts = JSON.parse(list.out).payouts as { amountDuffs: string; splits: { totalDuffs: string }[] }[];
  t.equal(payouts.length, 2);
  for (const q of payouts) t.equal(q.splits.reduce((a, s) => a + BigInt(s.totalDuffs), 0n), BigInt(q.amountDuffs), 'the totals sum to the payout, to the duff');
  const bob = await cli(['ledger', 'payouts', '--config', config, '--owner', 'bob', '--format', 'csv']);
  t.equal(bob.out.split('\r\n').filter((l) => l.includes(',bob,')).length, 2, 'bob has a part in both');

  const ok = await cli(['ledger', 'verify', '--config', config]);
  t.equal(ok.code, 0);
  t.match(ok.out, /: consistent/);
});

t.test('ledger verify exits 1 and names each problem of tampered books', async (t) => {
  const { file, config } = await setup(t);
  const db = new Database(file);
  db.prepare(`UPDATE worker_minutes SET rejected = 0 WHERE worker = 'bob.s19'`).run();
  db.close();
  const r = await cli(['ledger', 'verify', '--config', config]);
  t.equal(r.code, 1);
  t.equal(r.out, `ledger ${file}: 1 problem\n  - worker_minutes minute 2026-12-05T10:00:00.000Z worker "bob.s19" owner "bob": rejected 0, the share rows say 1\n`);
});

t.test('bad input: exit 2 with the thing named, nothing recorded', async (t) => {
  const { dir, file, config } = await setup(t);
  const report = ['ledger', 'report', '--config', config];
  const record = ['ledger', 'payout', 'record', '--config', config, '--from', '2026-12-05', '--to', '2026-12-06'];
  const cases: [string[], RegExp][] = [
    [[...report, '--from', '2026-12-06', '--to', '2026-12-05'], /ledger report: --from 2026-12-06 is not before --to 2026-12-05: the range is \[from, to\)/],
    [[...report, '--from', '2026-12-05', '--to', '2026-12-05'], /--from 2026-12-05 is not before --to 2026-12-05/],
    [[...report, '--from', 'yesterday', '--to', '2026-12-05'], /--from: expected an ISO date or UTC date-time like 2026-12-06 or 2026-12-06T03:00:00Z, got "yesterday"/],
    [[...report, '--from', '2026-02-30', '--to', '2026-12-05'], /--from: "2026-02-30" is not a real date and time/],
    [[...report, '--from', '2026-12-05T10:00:00+02:00', '--to', '2026-12-06'], /--from: expected an ISO date or UTC date-time/],
    [[...report, '--to', '2026-12-05'], /--from is required/],
    [[...report, '--from', '2026-12-05', '--to', '2026-12-06', '--by', 'rack'], /ledger report: --by: expected one of owner, worker, pool, route, target, day, got 'rack'/],
    [[...report, '--from', '2026-12-05', '--to', '2026-12-06', '--format', 'xml'], /--format: expected one of table, csv, json, got 'xml'/],
    [[...report, '--from', '2026-12-05', '--to', '2026-12-06', '--owner', 'carol'], /--owner: unknown owner "carol" \(the configuration and the books know alice, bob, farm\)/],
    [['ledger', 'payouts', '--config', config, '--owner', 'carol'], /--owner: unknown owner "carol"/],
    [['ledger', 'payouts', '--config', config, '--from', '2026-12-05'], /--to is required/],
    [[...record, '--amount', '-1'], /--amount: amount "-1" is negative: a payout is 0 or more DASH/],
    [[...record, '--amount', 'abc'], /--amount: amount "abc" is not a number of DASH/],
    [[...record, '--amount', '1e3'], /--amount: amount "1e3" is not a number of DASH/],
    [[...record, '--amount', '0.123456789'], /--amount: amount "0.123456789" has 9 decimals: DASH has 8/],
    [[...record], /--amount is required/],
    [[...record, '--amount', '1', '--method', 'fifo'], /--method: expected one of prop, pplns, pps, got 'fifo'/],
    [[...record, '--amount', '1', '--method', 'pplns', '--blocks', '2026-12-07'], /--blocks: block 1 \(2026-12-07T00:00:00.000Z\) is outside the period/],
    [[...record, '--amount', '1', '--method', 'pps'], /a pps payout needs the block reward/],
    [[...record, '--amount', '1', '--method', 'pps', '--block-reward', '-2'], /--block-reward: amount "-2" is negative/],
    [['ledger', 'report', '--config', config, '--bogus'], /unknown flag '--bogus'/],
    [['ledger', 'audit'], /unknown subcommand 'audit'/],
    [['ledger'], /a subcommand is needed: report, payouts, payout record, blocks, verify/],
  ];
  for (const [argv, message] of cases) {
    const r = await cli(argv);
    t.equal(r.code, 2, `${argv.slice(3).join(' ')}: exit 2`);
    t.match(r.err, message, argv.slice(3).join(' '));
    t.equal(r.out, '', 'nothing on stdout');
  }
  const list = await cli(['ledger', 'payouts', '--config', config, '--format', 'json']);
  t.same(JSON.parse(list.out).payouts, [], 'nothing was recorded');

  // The books themselves: missing, not ours, not configured.
  const missing = path.join(dir, 'gone.sqlite');
  const foreign = path.join(dir, 'foreign.sqlite');
  writeFileSync(foreign, 'text, not SQLite '.repeat(100));
  const books: [string, RegExp][] = [
    [writeConfig(dir, 'missing.json', { path: missing }), new RegExp(`ledger ${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: no such file`)],
    [writeConfig(dir, 'foreign.json', { path: foreign }), new RegExp(`ledger ${foreign.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not an SQLite database`)],
    [writeConfig(dir, 'none.json', { path: null }), /no books: the configuration \(.*none\.json\) has no ledger\.path/],
    [path.join(dir, 'no-such-config.json'), /config file .*no-such-config\.json: not found/],
  ];
  for (const [cfg, message] of books) {
    const r = await cli(['ledger', 'verify', '--config', cfg]);
    t.equal(r.code, 2, `${path.basename(cfg)}: exit 2`);
    t.match(r.err, message);
  }
  t.ok(file);
});

t.test('a config without pools is enough to read the books; anything else wrong is still named', async (t) => {
  const { dir, file } = await setup(t);
  const write = (name: string, body: Record<string, unknown>) => {
    const f = path.join(dir, name);
    writeFileSync(f, JSON.stringify(body));
    return f;
  };
  const bare = write('books-only.json', { ledger: { path: file }, owners: OWNERS, books: BOOKS });
  const empty = write('empty-pools.json', { pools: [], ledger: { path: file }, owners: OWNERS, books: BOOKS });
  for (const cfg of [bare, empty]) {
    const r = await cli(['ledger', 'report', '--config', cfg, '--from', '2026-12-05', '--to', '2026-12-07', '--format', 'csv']);
    t.equal(r.code, 0, `${path.basename(cfg)}: ${r.err}`);
    t.match(r.out, /^owner,shares,[\s\S]*\r\nalice,3,2,0,1,4000,57\.14\r\n/, 'the same report as with pools');
  }
  const wrong: [Record<string, unknown>, RegExp][] = [
    [{ ledger: { path: file }, owners: { alice: { workers: ['alice.*'], feePercent: 200 } }, books: BOOKS }, /owners\.alice\.feePercent must be a number from 0 to 100 \(got 200\)/],
    [{ ledger: { path: file, retentionDays: -1 } }, /ledger\.retentionDays must be an integer from 0 to 36500 \(got -1\)/],
    [{ ledger: { path: file }, books: { ...BOOKS, payoutMethod: 'fifo' } }, /books\.payoutMethod must be one of/],
    [{ ledger: { path: file }, pools: [{ url: 'http://x', user: 'u' }] }, /pools\[0\]\.url: pool url 'http:\/\/x': unsupported scheme/],
    [{ ledger: { path: file }, pools: {} }, /pools must be a list of pools/],
    [{ ledger: { path: file }, frobnicate: 1 }, /frobnicate: unknown field/],
  ];
  for (const [body, message] of wrong) {
    const r = await cli(['ledger', 'verify', '--config', write('wrong.json', body)]);
    t.equal(r.code, 2, JSON.stringify(body));
    t.match(r.err, message);
    t.equal(r.out, '');
  }
  // The proxy itself still needs its pools: the same loader, in its default use.
  t.throws(() => buildConfig({ ledger: { path: file, url: null, retentionDays: 0 } }), { name: 'ConfigError', message: /pools must list at least one pool/ });
  t.equal(buildConfigFor('books', { ledger: { path: file, url: null, retentionDays: 0 } }).pools.length, 0);
});

t.test('--help: the command lists its subcommands; each subcommand explains itself with an example', async (t) => {
  const top = await cli(['ledger', '--help']);
  t.equal(top.code, 0);
  for (const sub of ['report', 'payouts', 'payout record', 'verify']) t.match(top.out, new RegExp(`\\n  ${sub} +\\S`), `lists ${sub}`);
  const expected: [string[], RegExp][] = [
    [['report'], /ledger report: what the pool made[\s\S]*--by <owner\|worker\|pool\|route\|target\|day>[\s\S]*Example:\n  dash-farm-proxy ledger report/],
    [['payouts'], /ledger payouts: the payouts recorded[\s\S]*Example:\n  dash-farm-proxy ledger payouts/],
    [['payout', 'record'], /ledger payout record: record a payout[\s\S]*--amount <DASH>[\s\S]*--blocks[\s\S]*Examples:\n  dash-farm-proxy ledger payout record/],
    [['verify'], /ledger verify: check the books are consistent[\s\S]*Exit status: 0 consistent, 1[\s\S]*Example:\n  dash-farm-proxy ledger verify/],
  ];
  for (const [sub, help] of expected) {
    const r = await cli(['ledger', ...sub, '--help']);
    t.equal(r.code, 0);
    t.match(r.out, help, sub.join(' '));
  }
  t.match((await cli(['--help'])).out, /\n  ledger +read the books/, 'the main help lists ledger');
});
