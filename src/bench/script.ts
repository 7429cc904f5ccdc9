import type { FlagDefs, FlagParser, HelpOptions } from '../commands/flags.js';
import { UsageError } from '../commands/command.js';

/**
 * What every benchmark command (`node dist/bench/<file>.js`) does around its own work: run only when it is
 * the script node was started with, its result the exit code, a crash printed under the command's name
 * (exit 1); and, for commands with flags, `--help` (exit 0) and a usage problem named (exit 2).
 */

export interface ScriptName {
  /** The file under src/bench/, without extension (`run`, `soak`). */
  file: string;
  /** The name its messages start with (`bench`, `soak`). */
  name: string;
}

/**
 * Run `main` when this module is the script node runs. `exit: 'at-once'` ends the process with the code
 * (for commands that may leave children or sockets behind); otherwise it sets `process.exitCode`.
 */
export function runWhenScript(script: ScriptName, main: (argv: string[]) => Promise<number>, opts: { exit?: 'at-once' | 'when-idle'; onCrash?: () => void } = {}): void {
  const started = process.argv[1];
  if (!started || !new RegExp(`[\\\\/]bench[\\\\/]${script.file}\\.(js|ts)$`).test(started)) return;
  const end = (code: number): void => {
    if (opts.exit === 'at-once') process.exit(code);
    process.exitCode = code;
  };
  main(process.argv.slice(2)).then(end, (err: unknown) => {
    opts.onCrash?.();
    process.stderr.write(`${script.name}: ${(err as Error).stack ?? String(err)}\n`);
    end(1);
  });
}

/** The command's plan from its argv, or the exit code when there is none to run: 0 after `--help`, 2 after a usage problem (said on stderr). */
export function planOrExitCode<D extends FlagDefs, P>(name: string, argv: string[], flags: FlagParser<D>, help: HelpOptions, plan: (argv: string[]) => P): P | number {
  try {
    if ((flags.parse(argv) as { help?: boolean }).help) {
      process.stdout.write(flags.helpText(help) + '\n');
      return 0;
    }
    return plan(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${name}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
