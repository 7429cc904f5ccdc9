import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import net from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Processes of the benchmark: where the repository and the shared yardstick are, how to start the proxy
 * (built or from source), children under a raised open-files limit, and free loopback ports.
 *
 * Node cannot raise its own open-files limit (no setrlimit), so every child that holds many sockets is
 * started by `bash -c 'ulimit -n LIMIT && exec ...'`: the limit applies to that child alone.
 */

const here = dirname(fileURLToPath(import.meta.url));
/** True when running from TypeScript sources (tsx), false when running the build in dist/. */
export const fromSource = import.meta.url.endsWith('.ts');
/** The repository root (this file is src/bench/processes.ts or dist/bench/processes.js). */
export const repoRoot = resolve(here, '..', '..');

/** The shared yardstick: $SHARED_DIR/tools/fanout-bench.js, else ../shared/tools/fanout-bench.js beside the repository. */
export function fanoutToolPath(env: NodeJS.ProcessEnv = process.env): string {
  const shared = env.SHARED_DIR ? resolve(env.SHARED_DIR) : resolve(repoRoot, '..', 'shared');
  return resolve(shared, 'tools', 'fanout-bench.js');
}

/** Quote one word for bash. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export function shellCommand(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/**
 * The production entry, `node dist/cli.js start --config FILE` (through tsx when running from source).
 * BENCH_PROXY_NODE_ARGS adds Node options for the proxy only, for profiling: e.g.
 * `BENCH_PROXY_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof'` (the profile is written when the proxy stops).
 * BENCH_PROXY_CLI runs another build's cli.js instead (A/B comparisons of a change).
 */
export function proxyStartArgv(configPath: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const nodeArgs = (env.BENCH_PROXY_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  if (env.BENCH_PROXY_CLI) return [process.execPath, ...nodeArgs, resolve(env.BENCH_PROXY_CLI), 'start', '--config', configPath];
  return fromSource
    ? [process.execPath, ...nodeArgs, '--import', 'tsx', resolve(repoRoot, 'src', 'cli.ts'), 'start', '--config', configPath]
    : [process.execPath, ...nodeArgs, resolve(repoRoot, 'dist', 'cli.js'), 'start', '--config', configPath];
}

/** bash argv running `argv` with its open-files limit set to `limit` first. */
export function withFileLimit(argv: readonly string[], limit: number): [string, string[]] {
  return ['/bin/bash', ['-c', `ulimit -n ${Math.floor(limit)} && exec ${shellCommand(argv)}`]];
}

/** A free TCP port on 127.0.0.1 (chosen by the OS; free when this returns, which is good enough on loopback). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolvePort(port));
    });
  });
}

/** Two distinct free ports. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  timedOut: boolean;
}

/**
 * Run a command to its end, bounded by `timeoutMs` (SIGTERM, then SIGKILL 5 s later). stderr goes line by
 * line to `onStderrLine`; stdout is collected.
 */
export function runToEnd(file: string, args: readonly string[], opts: { timeoutMs: number; cwd?: string; onStderrLine?: (line: string) => void }): Promise<Finished> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(file, args, { cwd: opts.cwd ?? repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let errRest = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      const lines = (errRest + s).split('\n');
      errRest = lines.pop()!;
      for (const line of lines) opts.onStderrLine?.(line);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    }, opts.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (errRest) opts.onStderrLine?.(errRest);
      resolveRun({ code, signal, stdout, timedOut });
    });
  });
}

/** A long-running child (the proxy) with its output in a log file; `stop()` ends it (SIGTERM, then SIGKILL). */
export interface Background {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves when the child exited (whoever ended it). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(graceMs?: number): Promise<void>;
}

export function startInBackground(file: string, args: readonly string[], logPath: string): Background {
  const fd = openSync(logPath, 'a');
  const child = spawn(file, args, { cwd: repoRoot, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolveExit({ code, signal });
    });
    child.once('error', () => {
      done = true;
      resolveExit({ code: null, signal: null });
    });
  });
  if (child.pid === undefined) throw new Error(`could not start ${file}`);
  return {
    child,
    pid: child.pid,
    exited,
    async stop(graceMs = 5000) {
      if (done) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
