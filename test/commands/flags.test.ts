import t from 'tap';
import { UsageError } from '../../src/commands/command.js';
import { defineFlags, formatDuration, kebabCase } from '../../src/commands/flags.js';

const flags = defineFlags({
  port: { type: 'int', default: 3333, min: 1, max: 65535, help: 'port to listen on' },
  difficulty: { type: 'number', default: 0.001, positive: true, help: 'share difficulty' },
  jobInterval: { type: 'duration', default: 30_000, min: 0, help: 'time between jobs' },
  timeout: { type: 'duration', unit: 'ms', default: 500, help: 'a timeout' },
  mode: { type: 'enum', choices: ['fast', 'slow'], default: 'fast', help: 'how' },
  nbits: { type: 'string', default: '1e0fffff', pattern: /^[0-9a-f]{8}$/i, patternHint: '8 hex digits', help: 'target' },
  name: { type: 'string', help: 'optional name', short: 'n' },
  verbose: { type: 'boolean', help: 'talk more', short: 'v' },
  color: { type: 'boolean', default: true, help: 'colours' },
  rate: { type: 'number', min: 0, max: 1, help: 'a rate' },
});

function usage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof UsageError) return err.message;
    throw err;
  }
  throw new Error('no UsageError');
}

t.test('defaults and typed values', async (t) => {
  const v = flags.parse([]);
  t.same(v, { port: 3333, difficulty: 0.001, jobInterval: 30_000, timeout: 500, mode: 'fast', nbits: '1e0fffff', name: undefined, verbose: false, color: true, rate: undefined });
  // Compile-time types: these assignments only type-check when the inference is right.
  const port: number = v.port;
  const mode: 'fast' | 'slow' = v.mode;
  const name: string | undefined = v.name;
  const verbose: boolean = v.verbose;
  t.ok(port && mode && name === undefined && verbose === false);
});

t.test('--name value, --name=value, short flags, booleans and --no-', async (t) => {
  const v = flags.parse(['--port', '4000', '--difficulty=1e-6', '--job-interval', '2m', '--timeout', '250', '--mode=slow', '-n', 'rig', '-v', '--no-color', '--rate', '0.25']);
  t.equal(v.port, 4000);
  t.equal(v.difficulty, 1e-6);
  t.equal(v.jobInterval, 120_000);
  t.equal(v.timeout, 250, 'bare number in the flag unit (ms)');
  t.equal(v.mode, 'slow');
  t.equal(v.name, 'rig');
  t.equal(v.verbose, true);
  t.equal(v.color, false);
  t.equal(v.rate, 0.25);
  t.equal(flags.parse(['--verbose=false']).verbose, false);
  t.equal(flags.parse(['--job-interval', '45']).jobInterval, 45_000, 'bare number in seconds by default');
  t.equal(flags.parse(['--job-interval', '1.5s']).jobInterval, 1500);
  t.equal(flags.parse(['--job-interval', '250ms']).jobInterval, 250);
  t.equal(flags.parse(['--job-interval', '0']).jobInterval, 0);
  t.equal(flags.parse(['--port', '1', '--port', '2']).port, 2, 'the last one wins');
});

t.test('positionals and given', async (t) => {
  const r = flags.parseArgs(['a', '--port', '5', 'b', '--', '--not-a-flag'], { allowPositionals: true });
  t.same(r.positionals, ['a', 'b', '--not-a-flag']);
  t.same([...r.given], ['port']);
  t.equal(usage(() => flags.parse(['stray'])), "unexpected argument 'stray'");
});

t.test('every bad value is a usage error naming the flag', async (t) => {
  t.equal(usage(() => flags.parse(['--port', 'abc'])), "--port: expected an integer from 1 to 65535, got 'abc'");
  t.equal(usage(() => flags.parse(['--port', '70000'])), '--port: expected an integer from 1 to 65535, got 70000');
  t.equal(usage(() => flags.parse(['--port', '1.5'])), "--port: expected an integer from 1 to 65535, got '1.5'");
  t.equal(usage(() => flags.parse(['--port', ''])), "--port: expected an integer from 1 to 65535, got ''");
  t.equal(usage(() => flags.parse(['--difficulty', '0'])), '--difficulty: expected a number > 0, got 0');
  t.equal(usage(() => flags.parse(['--difficulty', 'Infinity'])), "--difficulty: expected a number > 0, got 'Infinity'");
  t.equal(usage(() => flags.parse(['--rate', '2'])), '--rate: expected a number from 0 to 1, got 2');
  t.equal(usage(() => flags.parse(['--job-interval', '5 minutes'])), "--job-interval: expected a duration such as 500ms, 30s, 2m or a number of seconds, got '5 minutes'");
  t.equal(usage(() => flags.parse(['--job-interval', '-1'])), "--job-interval: expected a duration such as 500ms, 30s, 2m or a number of seconds, got '-1'");
  t.equal(usage(() => flags.parse(['--mode', 'medium'])), "--mode: expected one of fast, slow, got 'medium'");
  t.equal(usage(() => flags.parse(['--nbits', 'xyz'])), "--nbits: expected 8 hex digits, got 'xyz'");
  t.equal(usage(() => flags.parse(['--name', ''])), '--name: must not be empty');
  t.equal(usage(() => flags.parse(['--verbose=maybe'])), "--verbose: expected true or false, got 'maybe'");
  t.equal(usage(() => flags.parse(['--port'])), '--port: missing value');
  t.equal(usage(() => flags.parse(['--port', '--mode'])), '--port: missing value');
  t.equal(usage(() => flags.parse(['--bogus'])), "unknown flag '--bogus'");
  t.equal(usage(() => flags.parse(['-x'])), "unknown flag '-x'");
  t.equal(usage(() => flags.parse(['--no-port'])), "unknown flag '--no-port'", '--no- only for booleans');
  t.equal(usage(() => flags.parse(['--no-color=1'])), '--no-color: takes no value');
});

t.test('required flags and bounded durations', async (t) => {
  const f = defineFlags({
    url: { type: 'string', required: true, help: 'where' },
    wait: { type: 'duration', min: 1000, max: 60_000, default: 5000, help: 'wait' },
  });
  t.equal(usage(() => f.parse([])), '--url is required');
  t.equal(f.parse(['--url', 'x']).url, 'x');
  t.equal(usage(() => f.parse(['--url', 'x', '--wait', '500ms'])), '--wait: expected a duration from 1s to 1m, got 500ms');
  t.throws(() => defineFlags({ a: { type: 'int', default: 5, max: 3, help: '' } }), UsageError, 'a default outside its own range is a programming error');
  t.throws(() => defineFlags({ a: { type: 'int', help: '', flag: 'x' }, b: { type: 'int', help: '', flag: 'x' } }), /defined twice/);
});

t.test('help text lists every flag with placeholder, help and default', async (t) => {
  const help = flags.helpText({ summary: 'Do things.', usage: 'tool [options]', footer: ['Example: tool --port 1'] });
  t.match(help, /^Do things\.\n\nUsage: tool \[options\]\n\nOptions:\n/);
  t.match(help, /--port <int> +port to listen on \(default: 3333\)/);
  t.match(help, /--job-interval <duration> +time between jobs \(default: 30s\)/);
  t.match(help, /--mode <fast\|slow> +how \(default: fast\)/);
  t.match(help, /-n, --name <text> +optional name\n/);
  t.match(help, /-v, --verbose +talk more\n/);
  t.match(help, /--color +colours \(default: on; --no-color to turn off\)/);
  t.match(help, /Example: tool --port 1$/);
  for (const key of Object.keys(flags.defs)) t.match(help, `--${kebabCase(key)}`);
});

t.test('kebabCase and formatDuration', async (t) => {
  t.equal(kebabCase('printStatsEvery'), 'print-stats-every');
  t.equal(kebabCase('en1Size'), 'en1-size');
  t.equal(formatDuration(30_000), '30s');
  t.equal(formatDuration(120_000), '2m');
  t.equal(formatDuration(7_200_000), '2h');
  t.equal(formatDuration(1500), '1.5s');
  t.equal(formatDuration(250), '250ms');
  t.equal(formatDuration(0), '0');
});
