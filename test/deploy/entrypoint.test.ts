import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { SimPool } from '../../src/sim/pool.js';
import { hasher } from '../helpers/share-kit.js';
import { sleep } from '../helpers/wait.js';
import { execForm, readDockerfile, repoRoot } from './dockerfile.js';

/**
 * The container's entry command, run outside Docker: the Dockerfile's CMD (read from the file), with the
 * config path pointed at a temporary file, from the repository root (the image's /app), against a simulated
 * pool on loopback. Checks that it comes up, answers /healthz and /readyz, passes the image's own
 * HEALTHCHECK command, stops cleanly on SIGTERM (what `docker stop` sends), and that a missing config is a
 * clear error with exit code 2.
 */

const CLI = path.join(repoRoot, 'dist/cli.js');
const skip = existsSync(CLI) ? false : `dist/cli.js is missing: run \`npm run build\` first (the image runs the compiled dist/)`;
const WAIT_MS = 60_000;

const { stages, instructions } = readDockerfile();
const final = stages[stages.length - 1]!;
const cmds = instructions.filter((i) => i.keyword === 'CMD');
const entry = execForm(cmds[cmds.length - 1]!.args)!;
const healthcheck = execForm(final.instructions.find((i) => i.keyword === 'HEALTHCHECK')!.args)!;

/** The child's environment: ours without any DASH_PROXY_* that could change its configuration. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DASH_PROXY_')) env[k] = v;
  return { ...env, ...extra };
}

interface Run {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function run(argv: string[], env: NodeJS.ProcessEnv): Run {
  const child = spawn(argv[0]!, argv.slice(1), { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, stderr: () => err, exited };
}

async function within<T>(what: string, p: Promise<T>, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** The proxy logs its addresses as JSON on stderr: read the HTTP port from there. */
async function httpPortOf(r: Run): Promise<number> {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    for (const line of r.stderr().split('\n')) {
      const m = /"http":"[^"]*:(\d+)\/?"/.exec(line);
      if (m) return Number(m[1]);
    }
    if (r.child.exitCode !== null) break;
    await sleep(50);
  }
  throw new Error(`no HTTP address in the proxy's log:\n${r.stderr()}`);
}

async function status(port: number, p: string): Promise<number> {
  try {
    return (await fetch(`http://127.0.0.1:${port}${p}`)).status;
  } catch {
    return -1;
  }
}

/** Exit code of the image's HEALTHCHECK command, run as Docker would (inside the "container": here, locally). */
async function runHealthcheck(port: number): Promise<number | null> {
  const r = run(healthcheck, cleanEnv({ DASH_PROXY_HTTP_PORT: String(port) }));
  return (await within('healthcheck', r.exited, 30_000)).code;
}

t.test('the image entry runs the proxy: healthy, ready with a pool, passes the HEALTHCHECK, stops on SIGTERM', { skip }, async (t) => {
  t.same(entry.slice(0, 4), ['node', 'dist/cli.js', 'start', '--config']);
  const pool = new SimPool({ hasher, jobIntervalMs: 0, blockIntervalMs: 0 });
  const { url } = await pool.listen();
  t.teardown(() => pool.close());
  const dir = mkdtempSync(path.join(tmpdir(), 'dash-proxy-entry-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'proxy.json');
  writeFileSync(
    config,
    JSON.stringify({
      pools: [{ name: 'sim', url, user: 'farm.entry' }],
      listen: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
      shutdown: { drainSeconds: 1 },
    }),
  );
  const r = run([...entry.slice(0, 4), config], cleanEnv());
  t.teardown(() => {
    if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
  });
  const port = await httpPortOf(r);

  t.equal(await status(port, '/healthz'), 200, '/healthz');
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline && (await status(port, '/readyz')) !== 200) await sleep(100);
  t.equal(await status(port, '/readyz'), 200, '/readyz once the simulated pool sent a job');
  t.equal(await runHealthcheck(port), 0, "the image's HEALTHCHECK command passes");

  r.child.kill('SIGTERM');
  const { code, signal } = await within('exit after SIGTERM', r.exited);
  t.equal(signal, null, 'exits by itself, not killed');
  t.equal(code, 0, 'exit code 0 after a graceful stop');
  t.equal(await runHealthcheck(port), 1, 'the HEALTHCHECK fails once the proxy is gone');
});

t.test('the entry with an empty config and no DASH_PROXY_POOLS: exit code 2 naming the field', { skip }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dash-proxy-entry-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'proxy.json');
  writeFileSync(config, '{}'); // what the image ships when nothing is mounted
  const r = run([...entry.slice(0, 4), config], cleanEnv());
  const { code } = await within('exit on a config error', r.exited);
  t.equal(code, 2);
  t.match(r.stderr(), /pools must list at least one pool/);
});
