import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { RpcRequest } from '../../src/stratum/jsonrpc.js';
import { ScriptedPool, type ScriptedClient } from '../helpers/scripted-pool.js';
import { blockNotify } from '../helpers/block-job.js';
import { errorOf, LineClient } from '../helpers/line-client.js';
import { until } from '../helpers/wait.js';
import { GoodDevice } from './helpers.js';

/**
 * The real command in a child process (`node --import tsx src/cli.ts start --config <file>`) against
 * scripted pools on loopback: SIGTERM with a pool share waiting for a slow pool, and SIGHUP reloads (a
 * good one, one needing a restart, a broken one).
 */
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIFF = 2 ** -24;
const POOL_ANSWER_DELAY_MS = 1500;

/** A pool serving the real block job; submits answered after `delayMs`. */
function slowPool(extranonce1: string, delayMs: number) {
  return (client: ScriptedClient, req: RpcRequest) => {
    const n = blockNotify('1');
    switch (req.method) {
      case 'mining.subscribe':
        client.reply(req.id, [[['mining.notify', 'x']], extranonce1, 8]);
        client.notify('mining.set_difficulty', [DIFF]);
        client.notify('mining.notify', [n.jobId, n.prevhash, n.coinb1, n.coinb2, n.merkleBranch, n.version, n.nbits, n.ntime, true]);
        return;
      case 'mining.authorize':
        return client.reply(req.id, true);
      case 'mining.submit':
        setTimeout(() => client.reply(req.id, true), delayMs);
        return;
      default:
        return;
    }
  };
}

interface LogRecord {
  level: string;
  msg: string;
  [k: string]: unknown;
}

interface Child {
  proc: ChildProcess;
  logs: LogRecord[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stratumPort: number;
  writeConfig(config: object | string): void;
  /** Resolves with the first log record (after `from`) matching `test`. */
  waitLog(test: (r: LogRecord) => boolean, what: string, timeoutMs?: number): Promise<LogRecord>;
}

function configFor(pools: { name: string; url: string }[], extra: Record<string, unknown> = {}) {
  return {
    pools: pools.map((p) => ({ ...p, user: `farm.${p.name}`, password: 'x' })),
    listen: { host: '127.0.0.1', port: 0, tls: null },
    http: { host: '127.0.0.1', port: 0, token: null, allowedOrigins: [] },
    expectedDevices: 10,
    difficulty: { start: DIFF, min: DIFF, max: DIFF },
    upstream: { submitTimeoutSeconds: 10, failoverAfterAttempts: 2, probeIntervalSeconds: 60, connectTimeoutSeconds: 5 },
    shutdown: { drainSeconds: 10 },
    log: { level: 'info', format: 'json' },
    ...extra,
  };
}

async function startProxy(t: Test, config: object): Promise<Child> {
  const dir = mkdtempSync(join(tmpdir(), 'dash-proxy-hardening-'));
  const file = join(dir, 'proxy.json');
  const writeConfig = (c: object | string) => writeFileSync(file, typeof c === 'string' ? c : JSON.stringify(c, null, 2));
  writeConfig(config);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DASH_PROXY_')));
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start', '--config', file], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: LogRecord[] = [];
  let text = '';
  let partial = '';
  proc.stderr!.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    partial += chunk.toString();
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as LogRecord);
      } catch {
        // plain stderr text (signal notes)
      }
    }
  });
  proc.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const waitLog = async (test: (r: LogRecord) => boolean, what: string, timeoutMs = 30_000) => {
    let hit: LogRecord | undefined;
    await until(() => (hit = logs.find(test)) !== undefined || proc.exitCode !== null, `log: ${what}`, timeoutMs).catch((e: Error) => {
      throw new Error(`${e.message}\n--- child stderr ---\n${text}`);
    });
    if (!hit) throw new Error(`the proxy exited (${proc.exitCode}) before logging: ${what}\n--- child stderr ---\n${text}`);
    return hit;
  };
  const listening = await waitLog((r) => r.msg === 'proxy listening', 'proxy listening', 60_000);
  const stratumPort = Number(String(listening.stratum).split(':').pop());
  await waitLog((r) => r.msg === 'pool connection ready', 'pool connection ready');
  return { proc, logs, stderr: () => text, exited, stratumPort, writeConfig, waitLog };
}

async function pool(t: Test, extranonce1: string, delayMs = 0): Promise<ScriptedPool> {
  const p = await ScriptedPool.start({ behaviour: slowPool(extranonce1, delayMs) });
  t.teardown(() => p.close());
  return p;
}

t.test('SIGTERM: stop accepting, client.reconnect to every device, the pending pool answer delivered, exit 0', async (t) => {
  const a = await pool(t, 'aaaa0000', POOL_ANSWER_DELAY_MS);
  const child = await startProxy(t, configFor([{ name: 'A', url: a.url }]));
  const devices = await Promise.all(['rig1', 'rig2', 'rig3'].map((w) => GoodDevice.connect(child.stratumPort, w)));
  t.teardown(() => devices.forEach((d) => d.client.close()));
  await until(() => devices.every((d) => d.current() !== null), 'a job at every device');

  // rig1's share goes to the pool, which takes its time to answer.
  const answer = devices[0]!.submitOne(30_000);
  const atPool = await a.clients[0]!.next('mining.submit');
  child.proc.kill('SIGTERM');

  const got = await answer;
  // The pool answers POOL_ANSWER_DELAY_MS after the signal: only a drain that waits for it gets this answer
  // to the device (stopping without it would have answered 21, "Stale: pool connection lost").
  t.equal(got.result, true, 'the pending submit was answered: accepted by the pool');
  t.equal(errorOf(got), null);
  t.equal(atPool.params[0], 'farm.A');

  for (const d of devices) {
    const reconnect = await d.client.waitFor((l) => l.method === 'client.reconnect', 15_000, true);
    t.same(reconnect.params, [], `${d.worker} received client.reconnect`);
  }
  await t.rejects(LineClient.connect(child.stratumPort, '127.0.0.1', 5000), 'no new device is accepted while stopping');
  const { code, signal } = await child.exited;
  t.equal(signal, null);
  t.equal(code, 0, 'exit code 0');
  for (const d of devices) await d.client.waitClosed(5000);
  t.ok(child.stderr().includes('SIGTERM: stopping'), 'the signal is acknowledged on stderr');
});

t.test('SIGHUP: pools and limits applied without dropping devices; restart-only fields reported; a broken config refused', async (t) => {
  const a = await pool(t, 'aaaa0000');
  const b = await pool(t, 'bbbb0000');
  const base = configFor([{ name: 'A', url: a.url }], { limits: { maxConnectionsPerIp: 10 } });
  const child = await startProxy(t, base);
  const devices = await Promise.all(['rig1', 'rig2'].map((w) => GoodDevice.connect(child.stratumPort, w)));
  t.teardown(() => devices.forEach((d) => d.client.close()));
  await until(() => devices.every((d) => d.current() !== null), 'a job at every device');
  t.equal((await devices[0]!.submitOne()).result, true, 'mining on A');

  // 1. A good reload: pool A replaced by B, at most 2 connections per address.
  child.writeConfig(configFor([{ name: 'B', url: b.url }], { limits: { maxConnectionsPerIp: 2 } }));
  child.proc.kill('SIGHUP');
  const reloaded = await child.waitLog((r) => r.msg === 'configuration reloaded', 'configuration reloaded');
  t.same(reloaded.applied, ['limits.maxConnectionsPerIp', 'pools']);
  t.same(reloaded.restartNeeded, []);
  const extranonce1s = devices.map((d) => d.extranonce1);
  await until(() => devices.every((d) => d.current()?.notify.coinb1.endsWith('bbbb0000') === true), 'devices follow B (a new job carrying B\'s extranonce1 in coinb1)');
  for (const d of devices) {
    t.notOk(d.client.closed, `${d.worker} stayed connected`);
    t.same(d.client.notifications('mining.set_extranonce'), [], `${d.worker}: no set_extranonce, its extranonce1 is its own`);
    t.equal(d.current()?.extranonce1, extranonce1s[devices.indexOf(d)]);
    t.equal((await d.submitOne()).result, true, `${d.worker}: a share on B's job accepted`);
  }
  t.ok(b.clients[0]!.requests.some((r) => r.method === 'mining.submit'), 'B received the shares');
  await a.clients[0]!.waitClosed(10_000);
  // Refused connections are closed at once; an accepted one would stay open until the 30 s handshake timeout.
  const third = await LineClient.connect(child.stratumPort, '127.0.0.1');
  await t.resolves(third.waitClosed(5000), 'a third connection from the same address is refused: the new limit is in force');

  // 2. A change that needs a restart is reported, and the running value stays.
  child.writeConfig(configFor([{ name: 'B', url: b.url }], { limits: { maxConnectionsPerIp: 2 }, listen: { host: '127.0.0.1', port: 1, tls: null } }));
  child.proc.kill('SIGHUP');
  const restart = await child.waitLog((r) => r.msg === 'some changed settings take effect only after a restart; the running values stay in force', 'restart needed');
  t.same(restart.restartNeeded, ['listen.port']);

  // 3. A broken configuration: refused with the problems named, the running one kept.
  child.writeConfig(configFor([{ name: 'B', url: b.url }], { limits: { maxConnectionsPerIp: 0 } }));
  child.proc.kill('SIGHUP');
  const refused = await child.waitLog((r) => r.msg === 'configuration reload refused: the running configuration is kept', 'reload refused');
  t.same(refused.problems, ['limits.maxConnectionsPerIp must be an integer >= 1 (got 0)']);
  child.writeConfig('{ "pools": [ not json');
  child.proc.kill('SIGHUP');
  await until(() => child.logs.filter((r) => r.msg === 'configuration reload refused: the running configuration is kept').length === 2, 'second refusal');
  const second = child.logs.filter((r) => r.msg === 'configuration reload refused: the running configuration is kept')[1]!;
  t.match((second.problems as string[])[0], /^config file .*proxy\.json: not valid JSON/);
  const fourth = await LineClient.connect(child.stratumPort, '127.0.0.1');
  await t.resolves(fourth.waitClosed(5000), 'the limit in force is still 2 per address');
  t.ok(devices.every((d) => !d.client.closed), 'devices still connected');
  t.equal((await devices[1]!.submitOne()).result, true, 'and still mining');

  child.proc.kill('SIGTERM');
  t.equal((await child.exited).code, 0);
});

t.test('a TLS certificate file that cannot be read: one clear line and exit 1, no stack trace', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dash-proxy-hardening-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'proxy.json');
  const missing = join(dir, 'missing-cert.pem');
  writeFileSync(file, JSON.stringify(configFor([{ name: 'A', url: 'stratum+tcp://127.0.0.1:1' }], { listen: { host: '127.0.0.1', port: 0, tls: { cert: missing, key: missing } } })));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DASH_PROXY_')));
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start', '--config', file], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  t.equal(code, 1);
  t.equal(stderr.trim(), `dash-farm-proxy start: cannot start: ENOENT: no such file or directory, open '${missing}'`);
});
