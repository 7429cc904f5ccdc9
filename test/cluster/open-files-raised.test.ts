import { spawn } from 'node:child_process';
import t from 'tap';
import { freePorts } from '../../src/bench/processes.js';
import { readOpenFiles } from '../../src/util/open-files.js';
import { until } from '../helpers/wait.js';
import { cliArgv } from './cluster-kit.js';

// Each process of `start --workers 2`, started under a low soft open-files limit, runs with the limit raised
// to the hard one (Node raises it at start-up), and its log says what it got: the primary's line and each
// worker's start-up line (the log is on stderr).
const limits = readOpenFiles();
const LOW = 512;
const hard = typeof limits?.hard === 'number' ? limits.hard : null;

t.test('a low soft limit is raised to the hard limit in the primary and in every worker, and logged', { skip: hard === null ? `no numeric hard open-files limit here (${JSON.stringify(limits)}): nothing to compare` : hard <= LOW ? `the hard open-files limit here is ${hard}: nothing to raise to` : false }, async (t) => {
  const [port, httpPort] = await freePorts(2);
  const argv = cliArgv(['start', '--pool', 'stratum+tcp://127.0.0.1:1', '--user', 'XfarmAddress.farm', '--host', '127.0.0.1', '--port', String(port), '--http-host', '127.0.0.1', '--http-port', String(httpPort), '--workers', '2']);
  const quoted = [process.execPath, ...argv].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('bash', ['-c', `ulimit -Sn ${LOW} && exec ${quoted}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const lines: Record<string, unknown>[] = [];
  let buffered = '';
  child.stderr.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const p of parts) if (p.startsWith('{')) lines.push(JSON.parse(p) as Record<string, unknown>);
  });
  await until(() => lines.some((l) => l.msg === 'proxy listening'), 'the primary listening', 45_000);
  const primary = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('open files') && l.proxyWorker === undefined);
  t.ok(primary, 'the primary logs its open-files limit');
  t.match(String(primary?.msg), new RegExp(`soft ${hard}, hard ${hard}`), `the primary: soft raised from ${LOW} to the hard limit`);
  const workers = lines.filter((l) => l.msg === 'proxy worker listening');
  t.equal(workers.length, 2, 'both workers started');
  for (const w of workers) t.same(w.openFiles, { soft: hard, hard }, `worker ${String(w.proxyWorker)}: soft raised from ${LOW} to the hard limit`);
  child.kill('SIGTERM');
  await until(() => child.exitCode !== null, 'the proxy stopped', 30_000);
  t.equal(child.exitCode, 0, 'stopped cleanly');
});
