/** One `dash-farm-proxy` sub-command. `run` returns the process exit code. */
export interface Command {
  readonly name: string;
  /** One line for the command list in `--help`. */
  readonly summary: string;
  /** The full help text of the command (flags, defaults, examples). */
  readonly help: string;
  /** The help for these arguments, for a command with sub-commands (`ledger report --help`); default `help`. */
  helpOf?(argv: string[]): string;
  run(argv: string[]): Promise<number>;
}

/** A usage error: printed with the command's help hint, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
