import t, { type Test } from 'tap';
import type { DemoSummary } from '../../src/commands/demo.js';
import { DEMO_PAYOUT_ADDRESS, demoNetworkBits } from '../../src/commands/demo-solo.js';
import { targetFromBits } from '../../src/chain/target.js';
import { readAddress } from '../../src/sim/dash-address.js';
import { mainCaptured } from '../helpers/cli-main.js';
import { runCli } from '../helpers/cli-run.js';

/**
 * `dash-farm-proxy demo --solo ...` as a user runs it: a simulated dashd (which judges every block with its
 * own code) as the farm's own pool, alone or after the simulated pool. The closing summary's counts come from
 * three sides that must agree: dashd's own, the proxy's live numbers, and the books read back after the stop.
 */

async function runDemo(t: Test, args: string[]): Promise<{ summary: DemoSummary; stderr: string }> {
  const run = runCli(t, ['demo', '--port', '0', '--http-port', '0', '--misbehave', '0', '--progress', '5s', ...args]);
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([run.exit, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 100_000)))]);
  clearTimeout(timer);
  t.equal(code, 0, `stops by itself after --duration, exit 0 (${run.stderr.slice(-400)})`);
  return { summary: JSON.parse(run.stdout[run.stdout.length - 1]!) as DemoSummary, stderr: run.stderr };
}

/**
 * dashd's count, the proxy's and the books' agree; every block the books call final was split, to the duff of
 * each payout. At a block a second, two devices sometimes find a block on the same job: dashd makes the first
 * its tip and answers the second `inconclusive` (a valid sibling, off its best chain), which the block
 * watcher then calls orphaned, as a real farm would see a lost race.
 */
function checkSoloCounts(t: Test, summary: DemoSummary): void {
  const solo = summary.solo!;
  t.ok(solo, 'the summary has a solo part');
  t.same(solo.dashd.blocksRejected, {}, 'dashd refused no block the proxy assembled');
  t.equal(solo.proxy.accepted, solo.dashd.blocksAccepted, "the proxy's count of accepted blocks is dashd's own");
  t.equal(solo.proxy.inconclusive, solo.dashd.blocksInconclusive, "the proxy's count of inconclusive blocks (lost races) is dashd's own");
  t.equal(solo.proxy.rejected, 0);
  t.equal(solo.proxy.unanswered, 0);
  const books = solo.books!;
  t.ok(books && !('error' in books), `the books were read (${JSON.stringify(books)})`);
  if (!books || 'error' in books) return;
  t.equal(books.blocks, solo.dashd.blocksAccepted + solo.dashd.blocksInconclusive, 'the books hold every block dashd took');
  const final = (books.byStatus.chainlocked ?? 0) + (books.byStatus.mature ?? 0);
  t.equal(books.paidBlocks, final, 'every final (chainlocked) block was split, and no other');
  t.ok((books.byStatus.orphaned ?? 0) <= solo.dashd.blocksInconclusive, `only a lost race is orphaned (${JSON.stringify(books.byStatus)})`);
  const owners = Object.values(books.owners).reduce((n, d) => n + BigInt(d.replace('.', '')), 0n);
  t.equal(owners, BigInt(books.paid.replace('.', '')), "the owners' parts sum to the rewards paid, to the duff");
}

t.test('demo --solo only: the fleet mines solo on the simulated dashd; its blocks accepted, ChainLocked and split among the owners', async (t) => {
  // 10 devices at 2,500 H/s: 25 kH/s, a block every second on average: ~30 at full speed, 7 at a quarter.
  const { summary, stderr } = await runDemo(t, ['--solo', 'only', '--devices', '10', '--hashrate', '2500', '--solo-block-seconds', '1', '--duration', '30s']);
  t.match(stderr, /simulated dashd\s+http:\/\/127\.0\.0\.1:\d+ \(network difficulty [\d.e-]+: a block every 1 s at the fleet's hashrate/);
  t.match(stderr, new RegExp(`solo payout\\s+${DEMO_PAYOUT_ADDRESS}`));
  t.notMatch(stderr, /simulated pool\s+stratum/, 'no simulated pool in the header: the dashd is the pool list');
  t.match(stderr, /t=\d+s .* on own-dashd {2}solo blocks \d+ accepted/, 'progress lines say where the fleet mines and the blocks');
  checkSoloCounts(t, summary);
  const solo = summary.solo!;
  t.equal(solo.mode, 'only');
  t.ok(solo.dashd.blocksAccepted >= 1, `blocks were found and accepted (${solo.dashd.blocksAccepted})`);
  const books = solo.books as { paidBlocks: number; owners: Record<string, string> };
  t.ok(books.paidBlocks >= 1, `at least one block ChainLocked in time and split (${books.paidBlocks})`);
  t.same(Object.keys(books.owners).sort(), ['alice', 'bob', 'farm'], 'split among the demo owners');
  t.equal(summary.pool.submitted, 0, 'the idle simulated pool got nothing');
  t.equal(summary.fleet.reconnects, 0);
  t.equal(summary.poolUnanswered, 0, 'every forwarded share was answered');
});

t.test('demo --solo failover: the pool goes away, the proxy mines solo, the pool comes back; no device dropped', async (t) => {
  const { summary, stderr } = await runDemo(t, ['--solo', 'failover', '--devices', '10', '--hashrate', '2500', '--solo-block-seconds', '1', '--duration', '36s']);
  t.match(stderr, /outage\s+the simulated pool goes away from 12 s to 24 s/);
  t.match(stderr, /the simulated pool went away \(\d+ connections? dropped\): the proxy fails over to own-dashd/);
  t.match(stderr, /the simulated pool is back/);
  const solo = stderr.indexOf(' on own-dashd ');
  t.ok(solo > 0, 'a progress line shows the fleet on own-dashd');
  t.ok(stderr.indexOf(' on sim-pool ', solo) > solo, 'and a later one back on sim-pool');
  checkSoloCounts(t, summary);
  t.ok(summary.solo!.dashd.blocksAccepted >= 1, `blocks found while on solo (${summary.solo!.dashd.blocksAccepted})`);
  t.ok(summary.pool.accepted > 0, 'the pool accepted shares before and after');
  t.equal(summary.fleet.reconnects, 0, 'no device dropped: the failovers happen behind the proxy');
  t.equal(summary.devices, 10);
});

t.test('demo --solo: --help explains it; misuse exits 2 naming the flag', async (t) => {
  const help = await mainCaptured(['demo', '--help']);
  t.equal(help.code, 0);
  t.match(help.out, /--solo <none\|failover\|only>/);
  t.match(help.out, /--solo-block-seconds <number>/);
  t.match(help.out, /--solo failover puts the dashd after the pool/);
  const bad = await mainCaptured(['demo', '--solo', 'always']);
  t.equal(bad.code, 2);
  t.match(bad.err, /--solo/);
  const both = await mainCaptured(['demo', '--solo', 'only', '--routes', 'split']);
  t.equal(both.code, 2);
  t.match(both.err, /--solo and --routes split: pick one/);
  const zero = await mainCaptured(['demo', '--solo', 'only', '--solo-block-seconds', '0']);
  t.equal(zero.code, 2);
  t.match(zero.err, /--solo-block-seconds/);
});

t.test('demoNetworkBits: a block every N seconds at the fleet rate; the payout address is a valid mainnet address', async (t) => {
  const target = targetFromBits(demoNetworkBits(25_000, 1));
  const hashesPerBlock = Number((1n << 256n) / target);
  t.ok(Math.abs(hashesPerBlock / 25_000 - 1) < 0.001, `2^256 / target = ${hashesPerBlock} hashes a block`);
  t.equal(readAddress(DEMO_PAYOUT_ADDRESS, 'main').isvalid, true);
});
