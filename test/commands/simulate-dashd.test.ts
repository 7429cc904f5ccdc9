import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import simulateDashd, { dashdOptionsOf, simulateDashdFlags } from '../../src/commands/simulate-dashd.js';
import { p2pkhAddress } from '../../src/sim/dash-address.js';
import { mainCaptured } from '../helpers/cli-main.js';
import { runCli } from '../helpers/cli-run.js';
import { call, mineBlock, type Gbt } from '../sim/dashd-block-kit.js';

t.test('simulate-dashd: listens with a cookie, takes a block, prints it and its stats, stops cleanly on SIGINT', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sim-dashd-cli-'));
  const cookieFile = path.join(dir, '.cookie');
  const run = runCli(t, ['simulate-dashd', '--port', '0', '--cookie-file', cookieFile, '--bits', '2000ffff', '--block-interval', '0', '--print-stats-every', '300ms', '--start-height', '777']);
  const listening = await run.line(/^simulate-dashd: listening on http:\/\/127\.0\.0\.1:\d+/);
  t.match(listening, /chain main, login cookie .*\.cookie, bits 2000ffff = network difficulty .*, next height 777, no other miners, ChainLocks after 2s\)$/);
  const url = /(http:\/\/127\.0\.0\.1:\d+)/.exec(listening)![1]!;
  const [user, password] = readFileSync(cookieFile, 'utf8').split(':') as [string, string];
  const auth = { user, password };
  const tpl = await call<Gbt>(url, 'getblocktemplate', [{ rules: [] }], auth);
  t.equal(tpl.height, 777);
  const block = mineBlock(tpl);
  t.equal(await call(url, 'submitblock', [block.hex], auth), null);
  t.equal(await call(url, 'submitblock', [block.hex], auth), 'duplicate');
  await run.line(new RegExp(`^simulate-dashd: block 777 accepted: ${block.hash}$`));
  await run.line(/^simulate-dashd: block duplicate [0-9a-f]{64}: duplicate$/);
  await run.line(/^\[\d+s\] height 777, templates 1, blocks 1 accepted \/ 0 rejected, other miners 0, logins refused 0$/);
  run.child.kill('SIGINT');
  t.equal(await run.exit, 0);
  t.equal(run.stdout[run.stdout.length - 1], 'simulate-dashd: stopped');
  t.notOk(existsSync(cookieFile), 'the cookie is removed at stop');
  t.equal(run.stderr.replace(/npm warn.*\n/g, ''), '');
});

t.test('misuse exits 2 with a message naming the flag; --help explains and exits 0', async (t) => {
  const misuses: [string[], RegExp][] = [
    [[], /a login is required: --user and --password, or --cookie-file/],
    [['--user', 'u'], /--user needs --password/],
    [['--password', 'p'], /--password needs --user/],
    [['--user', 'u', '--password', 'p', '--bits', '1f00ff'], /--bits: expected 8 hex digits/],
    [['--user', 'u', '--password', 'p', '--bits', '00000000'], /--bits: .*zero target/],
    [['--user', 'u', '--password', 'p', '--chain', 'mainnet'], /--chain: expected one of main, test, regtest, devnet, got 'mainnet'/],
    [['--user', 'u', '--password', 'p', '--port', '70000'], /--port: expected an integer from 0 to 65535, got 70000/],
    [['--user', 'u', '--password', 'p', '--start-height', '1'], /--start-height: expected an integer from 2/],
    [['--user', 'u', '--password', 'p', '--longpoll-timeout', '10ms'], /--longpoll-timeout: expected a duration >= 100ms/],
    [['--user', 'u', '--password', 'p', '--payout-check', p2pkhAddress('test', Buffer.alloc(20, 1))], /--payout-check: '.*' is not a main address \(Invalid prefix for mainnet address\)/],
    [['--user', 'u', '--password', 'p', '--bogus'], /unknown flag '--bogus'/],
  ];
  for (const [argv, message] of misuses) {
    const r = await mainCaptured(['simulate-dashd', ...argv]);
    t.equal(r.code, 2, `${argv.join(' ') || '(no flags)'}: exit 2`);
    t.match(r.err, message);
    t.match(r.err, /Run 'dash-farm-proxy simulate-dashd --help' for usage\./);
    t.equal(r.out, '');
  }
  const h = await mainCaptured(['simulate-dashd', '--help']);
  t.equal(h.code, 0);
  t.equal(h.out.trimEnd(), simulateDashd.help.trimEnd());
  t.match(h.out, /submitblock checks every block with its own code/);
  t.match(h.out, /--cookie-file <path>/);
  const top = await mainCaptured(['--help']);
  t.match(top.out, /simulate-dashd\s+a dashd for solo mining/);
});

t.test('flags map to the simulator options', async (t) => {
  const o = dashdOptionsOf(simulateDashdFlags.parse(['--user', 'u', '--password', 'p', '--no-chainlocks', '--superblock-budget', '1.5', '--longpoll-timeout', '2s', '--no-longpoll', '--chain', 'test']));
  t.match(o, { user: 'u', password: 'p', chainlockMs: null, superblockBudget: 150_000_000, longpollSeconds: 2, longpoll: false, chain: 'test', bits: 0x1f00ffff, port: 9998 });
  t.notOk('cookieFile' in o);
  const c = dashdOptionsOf(simulateDashdFlags.parse(['--cookie-file', '/tmp/x', '--chainlock-after', '5s']));
  t.match(c, { cookieFile: '/tmp/x', chainlockMs: 5000 });
  t.notOk('user' in c);
});
