import t from 'tap';
import { UsageError } from '../../src/commands/command.js';
import simulateFleet, { parseStratumUrl, simulateFleetFlags } from '../../src/commands/simulate-fleet.js';
import simulatePool from '../../src/commands/simulate-pool.js';
import { HASHES_PER_DIFF1 } from '../../src/chain/target.js';
import { SimFleet } from '../../src/sim/fleet.js';
import { SimPool } from '../../src/sim/pool.js';
import { runCli } from '../helpers/cli-run.js';
import { hasher } from '../helpers/share-kit.js';

async function rejectsUsage(tt: { rejects: typeof t.rejects; match: typeof t.match }, p: Promise<unknown>, re: RegExp) {
  await tt.rejects(p, UsageError);
  await p.catch((err: Error) => tt.match(err.message, re));
}

t.test('simulate-pool: listens, serves a fleet, prints stats and stops cleanly on SIGINT', async (t) => {
  const run = runCli(t, ['simulate-pool', '--port', '0', '--difficulty', '1e-8', '--print-stats-every', '500ms', '--job-interval', '0', '--block-interval', '0']);
  const listening = await run.line(/^simulate-pool: listening on stratum\+tcp:\/\/127\.0\.0\.1:\d+/);
  const port = Number(/127\.0\.0\.1:(\d+)/.exec(listening)![1]);
  t.match(listening, /difficulty 1\.0000e-8, nbits 1e0fffff/);
  t.match(listening, /, no timed jobs, no timed blocks \(found blocks only\), /, 'interval 0 reads as no timed jobs/blocks');
  t.notMatch(listening, /every never/);
  const fleet = new SimFleet({ hasher, port, devices: 2 });
  t.teardown(() => fleet.stop());
  await fleet.start();
  await fleet.waitFor((s) => s.totals.accepted >= 2, 60_000);
  await fleet.stop();
  run.child.kill('SIGINT');
  t.equal(await run.exit, 0, 'exit code 0 on SIGINT');
  t.equal(run.stdout[run.stdout.length - 1], 'simulate-pool: stopped');
  const last = run.stdout[run.stdout.length - 2]!;
  const accepted = Number(/shares (\d+) accepted/.exec(last)?.[1]);
  t.ok(accepted >= 2, `final stats line: ${last}`);
  t.equal(run.stderr.replace(/npm warn.*\n/g, ''), '');
});

t.test('simulate-fleet: mines for --duration and ends with a JSON summary that matches the pool', async (t) => {
  const pool = new SimPool({ hasher, difficulty: 1e-8, jobIntervalMs: 0, blockIntervalMs: 0 });
  await pool.listen();
  t.teardown(() => pool.close());
  const run = runCli(t, ['simulate-fleet', '--url', pool.url, '--devices', '2', '--duration', '3s', '--print-every', '1s', '--duplicate-rate', '0.5', '--worker-prefix', 'cli']);
  const code = await run.exit;
  t.equal(code, 0, run.stderr);
  t.match(run.stdout[0], /^simulate-fleet: 2 device\(s\) -> stratum\+tcp:\/\/127\.0\.0\.1:\d+, 200 H\/s each/);
  const summary = JSON.parse(run.stdout[run.stdout.length - 1]!) as Record<string, unknown> & { byKind: Record<string, { submitted: number; rejectedByCode: Record<string, number> }> };
  t.equal(summary.devices, 2);
  const p = pool.stats();
  t.equal(summary.submitted, p.totals.submitted, 'submits agree with the pool');
  t.equal(summary.accepted, p.totals.accepted, 'accepted agree with the pool');
  t.same(summary.rejectedByCode, p.totals.rejectedByCode);
  if (summary.byKind.duplicate) t.same(summary.byKind.duplicate.rejectedByCode, { 22: summary.byKind.duplicate.submitted });
  t.same(Object.keys(p.workers).sort(), ['cli.0', 'cli.1']);
});

t.test('simulate-fleet exits 1 with a clear message when nothing answers', async (t) => {
  const pool = new SimPool({ hasher });
  await pool.listen();
  const port = pool.port;
  await pool.close(); // a port nobody listens on any more
  const run = runCli(t, ['simulate-fleet', '--port', String(port), '--devices', '1', '--duration', '1s']);
  t.equal(await run.exit, 1);
  t.match(run.stderr, /no device got a job from stratum\+tcp:\/\/127\.0\.0\.1:\d+/);
  t.match(run.stdout[run.stdout.length - 1], /^\{"target":/);
});

t.test('bad flags are usage errors naming the flag', async (t) => {
  await rejectsUsage(t, simulateFleet.run(['--devices', '0']), /^--devices: expected an integer from 1 to 100000, got 0$/);
  await rejectsUsage(t, simulateFleet.run(['--url', 'stratum+ssl://pool.example:3333']), /^--url: the fleet speaks plain TCP only/);
  await rejectsUsage(t, simulateFleet.run(['--url', 'nonsense']), /^--url: expected stratum\+tcp:\/\/host:port, got 'nonsense'$/);
  await rejectsUsage(t, simulateFleet.run(['--duplicate-rate', '1.5']), /^--duplicate-rate: expected a number from 0 to 1, got 1.5$/);
  await rejectsUsage(t, simulateFleet.run(['--hashrate', 'fast']), /^--hashrate: expected a number >= 0, got 'fast'$/);
  await rejectsUsage(t, simulatePool.run(['--port', '99999']), /^--port: expected an integer from 0 to 65535, got 99999$/);
  await rejectsUsage(t, simulatePool.run(['--nbits', '1e0fff']), /^--nbits: expected 8 hex digits/);
  await rejectsUsage(t, simulatePool.run(['--nbits', '00000000']), /^--nbits: .*zero target/);
  await rejectsUsage(t, simulatePool.run(['--en2-size', '0']), /^--en2-size: expected an integer from 1 to 16, got 0$/);
  await rejectsUsage(t, simulatePool.run(['--difficulty', '-1']), /^--difficulty: expected a number > 0, got -1$/);
  await rejectsUsage(t, simulatePool.run(['--job-interval', 'soon']), /^--job-interval: expected a duration/);
  await rejectsUsage(t, simulatePool.run(['--notify-after', 'never']), /^--notify-after: expected one of subscribe, authorize, got 'never'$/);
  await rejectsUsage(t, simulatePool.run(['--bogus']), /^unknown flag '--bogus'$/);
  t.match(simulatePool.help, /--print-stats-every <duration>/);
  t.match(simulateFleet.help, /--low-difficulty-rate <number>/);
});

t.test('help examples: the pool and fleet examples name each other and give about a share a second per device', async (t) => {
  const fleetExample = /simulate-fleet --port 3333 [^\n#]*\S/.exec(simulatePool.help)?.[0];
  t.ok(fleetExample && simulateFleet.help.includes(fleetExample), `the pool help shows the fleet's own example (${fleetExample})`);
  const poolExample = /simulate-pool --port 3333 --difficulty (\S+)/.exec(simulatePool.help);
  t.ok(poolExample, 'the pool help has a port 3333 example');
  t.ok(simulateFleet.help.includes(poolExample![0]), `the fleet help names the same pool (${poolExample![0]})`);
  // Expected time between shares = difficulty * hashes per difficulty 1 / hashrate (the fleet's default).
  const hashrate = simulateFleetFlags.parse([]).hashrate;
  const secondsPerShare = (Number(poolExample![1]) * HASHES_PER_DIFF1) / hashrate;
  t.ok(secondsPerShare >= 0.5 && secondsPerShare <= 2, `a share every ${secondsPerShare.toFixed(2)} s per device`);
});

t.test('parseStratumUrl', async (t) => {
  t.same(parseStratumUrl('stratum+tcp://127.0.0.1:3333'), { host: '127.0.0.1', port: 3333 });
  t.same(parseStratumUrl('localhost:1'), { host: 'localhost', port: 1 });
  t.same(parseStratumUrl('tcp://[::1]:3334'), { host: '::1', port: 3334 });
  t.throws(() => parseStratumUrl('stratum+tcp://host:0'), /port must be 1 to 65535/);
  t.throws(() => parseStratumUrl('stratum+tcp://host'), /expected stratum\+tcp:\/\/host:port/);
});
