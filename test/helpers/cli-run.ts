import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The CLI run from source in a child process, for tests of the commands as a user runs them. */
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface Run {
  child: ChildProcess;
  stdout: string[];
  stderr: string;
  exit: Promise<number | null>;
  line: (re: RegExp, timeoutMs?: number) => Promise<string>;
}

/** Run the CLI from source; the child is always stopped at teardown. */
export function runCli(tt: { teardown(fn: () => unknown): void }, args: string[]): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  let buf = '';
  const run: Run = {
    child,
    stdout,
    stderr: '',
    exit: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
    line: (re, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const started = Date.now();
        const check = () => {
          const hit = stdout.find((l) => re.test(l));
          if (hit) return resolve(hit);
          if (child.exitCode !== null || Date.now() - started > timeoutMs) return reject(new Error(`no line matching ${re}; stdout: ${stdout.join(' | ')} stderr: ${run.stderr}`));
          setTimeout(check, 50);
        };
        check();
      }),
  };
  child.stdout!.on('data', (chunk: Buffer) => {
    buf += chunk.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    stdout.push(...parts);
  });
  child.stderr!.on('data', (chunk: Buffer) => (run.stderr += chunk.toString()));
  tt.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return run;
}

