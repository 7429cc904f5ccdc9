import { UsageError } from './command.js';

/**
 * Typed command-line flags with defaults, validation and generated help.
 *
 *   const flags = defineFlags({
 *     port: { type: 'int', default: 3333, min: 1, max: 65535, help: 'port to listen on' },
 *     jobInterval: { type: 'duration', default: 30_000, help: 'time between two jobs' },
 *     mode: { type: 'enum', choices: ['a', 'b'] as const, default: 'a', help: '...' },
 *   });
 *   const v = flags.parse(argv); // v.port: number, v.jobInterval: number (ms), v.mode: 'a' | 'b'
 *   flags.helpText();
 *
 * A key in camelCase is the flag in kebab-case (`jobInterval` -> `--job-interval`). Values come as
 * `--name value` or `--name=value`; a boolean is `--name`, `--no-name` or `--name=true|false`. `--` ends the
 * flags. Every problem (unknown flag, missing or bad value) throws a UsageError naming the flag.
 */

interface BaseSpec {
  /** One line of help. */
  help: string;
  /** The flag name without dashes when it is not the kebab-case of the key. */
  flag?: string;
  /** A one-letter alias (`p` for `-p`). */
  short?: string;
  /** Shown in help instead of the type (`--port <port>`). */
  placeholder?: string;
}

export interface NumberSpec extends BaseSpec {
  type: 'int' | 'number';
  default?: number;
  required?: boolean;
  min?: number;
  max?: number;
  /** Refuse 0 and below even when `min` is not set (for rates, difficulties). */
  positive?: boolean;
}

export interface StringSpec extends BaseSpec {
  type: 'string';
  default?: string;
  required?: boolean;
  /** The value must match (e.g. /^[0-9a-f]{8}$/i). */
  pattern?: RegExp;
  /** What the pattern means, for the error message ("8 hex digits"). */
  patternHint?: string;
  /** The value may not be empty (default true). */
  nonEmpty?: boolean;
}

export interface BooleanSpec extends BaseSpec {
  type: 'boolean';
  default?: boolean;
}

export interface EnumSpec<C extends string = string> extends BaseSpec {
  type: 'enum';
  choices: readonly C[];
  default?: C;
  required?: boolean;
}

/**
 * A duration. The parsed value is in milliseconds. Accepts `250ms`, `30s`, `2m`, `1h`, or a bare number
 * in `unit` (seconds by default). `default`, `min` and `max` are in milliseconds.
 */
export interface DurationSpec extends BaseSpec {
  type: 'duration';
  default?: number;
  required?: boolean;
  unit?: 'ms' | 's';
  min?: number;
  max?: number;
}

export type FlagSpec = NumberSpec | StringSpec | BooleanSpec | EnumSpec | DurationSpec;
export type FlagDefs = Record<string, FlagSpec>;

type ValueOf<S> = S extends { type: 'int' | 'number' | 'duration' }
  ? number
  : S extends { type: 'boolean' }
    ? boolean
    : S extends { type: 'enum'; choices: readonly (infer C)[] }
      ? C
      : string;

type AlwaysSet<S> = S extends { type: 'boolean' } ? true : S extends { default: unknown } ? true : S extends { required: true } ? true : false;

/** The parsed values: a flag with a default (or required, or boolean) is always set; others may be undefined. */
export type FlagValues<D extends FlagDefs> = {
  -readonly [K in keyof D]: AlwaysSet<D[K]> extends true ? ValueOf<D[K]> : ValueOf<D[K]> | undefined;
};

export interface ParsedArgs<D extends FlagDefs> {
  values: FlagValues<D>;
  /** Arguments that are not flags (only when `positionals` is allowed), and everything after `--`. */
  positionals: string[];
  /** The keys given on the command line (to tell an explicit value from a default). */
  given: Set<keyof D & string>;
}

export interface HelpOptions {
  /** First line(s): what the command does. */
  summary?: string;
  /** e.g. `dash-farm-proxy simulate-pool [options]`. */
  usage?: string;
  /** Lines added at the end (examples, notes). */
  footer?: string[];
}

export interface FlagParser<D extends FlagDefs> {
  readonly defs: D;
  /** Parse argv; positional arguments are a usage error. */
  parse(argv: readonly string[]): FlagValues<D>;
  /** Parse argv keeping positional arguments when `allowPositionals` is true. */
  parseArgs(argv: readonly string[], opts?: { allowPositionals?: boolean }): ParsedArgs<D>;
  /** The options section of a command's help, optionally wrapped with summary, usage and footer. */
  helpText(opts?: HelpOptions): string;
}

export function kebabCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

const DURATION = /^(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `30000` -> `30s`, `1500` -> `1.5s`, `250` -> `250ms`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function describeRange(min: number | undefined, max: number | undefined, fmt: (n: number) => string): string {
  if (min !== undefined && max !== undefined) return ` from ${fmt(min)} to ${fmt(max)}`;
  if (min !== undefined) return ` >= ${fmt(min)}`;
  if (max !== undefined) return ` <= ${fmt(max)}`;
  return '';
}

function convert(name: string, spec: FlagSpec, raw: string): unknown {
  const flag = `--${name}`;
  switch (spec.type) {
    case 'int':
    case 'number': {
      const what = spec.type === 'int' ? 'an integer' : 'a number';
      const expected = `${what}${spec.positive && spec.min === undefined ? ' > 0' : ''}${describeRange(spec.min, spec.max, String)}`;
      const n = raw.trim() === '' ? NaN : Number(raw);
      if (!Number.isFinite(n) || (spec.type === 'int' && !Number.isInteger(n))) throw new UsageError(`${flag}: expected ${expected}, got '${raw}'`);
      if ((spec.positive && n <= 0) || (spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
        throw new UsageError(`${flag}: expected ${expected}, got ${raw}`);
      }
      return n;
    }
    case 'duration': {
      const m = DURATION.exec(raw.trim());
      const expected = `a duration such as 500ms, 30s, 2m or a number of ${spec.unit === 'ms' ? 'milliseconds' : 'seconds'}`;
      if (!m) throw new UsageError(`${flag}: expected ${expected}, got '${raw}'`);
      const ms = Number(m[1]) * UNIT_MS[m[2] ?? spec.unit ?? 's']!;
      if ((spec.min !== undefined && ms < spec.min) || (spec.max !== undefined && ms > spec.max)) {
        throw new UsageError(`${flag}: expected a duration${describeRange(spec.min, spec.max, formatDuration)}, got ${raw}`);
      }
      return Math.round(ms);
    }
    case 'boolean': {
      const v = raw.toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(v)) return true;
      if (['false', '0', 'no', 'off'].includes(v)) return false;
      throw new UsageError(`${flag}: expected true or false, got '${raw}'`);
    }
    case 'enum': {
      if (!spec.choices.includes(raw)) throw new UsageError(`${flag}: expected one of ${spec.choices.join(', ')}, got '${raw}'`);
      return raw;
    }
    case 'string': {
      if ((spec.nonEmpty ?? true) && raw === '') throw new UsageError(`${flag}: must not be empty`);
      if (spec.pattern && !spec.pattern.test(raw)) throw new UsageError(`${flag}: expected ${spec.patternHint ?? `a value matching ${spec.pattern}`}, got '${raw}'`);
      return raw;
    }
  }
}

function placeholderOf(spec: FlagSpec): string {
  if (spec.placeholder) return ` <${spec.placeholder}>`;
  switch (spec.type) {
    case 'boolean':
      return '';
    case 'enum':
      return ` <${spec.choices.join('|')}>`;
    case 'duration':
      return ' <duration>';
    case 'int':
      return ' <int>';
    case 'number':
      return ' <number>';
    case 'string':
      return ' <text>';
  }
}

function defaultText(spec: FlagSpec): string | undefined {
  if (spec.default === undefined) return (spec as { required?: boolean }).required ? 'required' : undefined;
  if (spec.type === 'duration') return `default: ${formatDuration(spec.default)}`;
  if (spec.type === 'string') return spec.default === '' ? undefined : `default: ${spec.default}`;
  if (spec.type === 'boolean') return undefined;
  return `default: ${spec.default}`;
}

export function defineFlags<const D extends FlagDefs>(defs: D): FlagParser<D> {
  const byName = new Map<string, string>(); // flag name or short alias -> key
  for (const [key, spec] of Object.entries(defs)) {
    const name = spec.flag ?? kebabCase(key);
    if (byName.has(name)) throw new Error(`defineFlags: flag --${name} defined twice`);
    byName.set(name, key);
    if (spec.short !== undefined) {
      if (spec.short.length !== 1 || byName.has(`-${spec.short}`)) throw new Error(`defineFlags: bad or repeated short flag -${spec.short}`);
      byName.set(`-${spec.short}`, key);
    }
    if (spec.default !== undefined) convert(name, spec, spec.type === 'duration' ? `${spec.default}ms` : String(spec.default)); // a bad default is a programming error
  }
  const nameOf = (key: string) => defs[key]!.flag ?? kebabCase(key);

  function parseArgs(argv: readonly string[], opts: { allowPositionals?: boolean } = {}): ParsedArgs<D> {
    const values: Record<string, unknown> = {};
    const given = new Set<string>();
    const positionals: string[] = [];
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i]!;
      if (arg === '--') {
        positionals.push(...argv.slice(i + 1));
        break;
      }
      if (!arg.startsWith('-') || arg === '-') {
        if (!opts.allowPositionals) throw new UsageError(`unexpected argument '${arg}'`);
        positionals.push(arg);
        continue;
      }
      const isShort = !arg.startsWith('--');
      const body = isShort ? arg : arg.slice(2);
      const eq = body.indexOf('=');
      let name = eq === -1 ? body : body.slice(0, eq);
      let inline: string | undefined = eq === -1 ? undefined : body.slice(eq + 1);
      let key = byName.get(name);
      let negated = false;
      if (key === undefined && !isShort && name.startsWith('no-')) {
        const k = byName.get(name.slice(3));
        if (k !== undefined && defs[k]!.type === 'boolean') {
          if (inline !== undefined) throw new UsageError(`--${name}: takes no value`);
          key = k;
          negated = true;
        }
      }
      if (key === undefined) throw new UsageError(`unknown flag '${isShort ? name : `--${name}`}'`);
      const spec = defs[key]!;
      name = nameOf(key);
      if (spec.type === 'boolean') {
        values[key] = negated ? false : inline === undefined ? true : convert(name, spec, inline);
      } else {
        if (inline === undefined) {
          const next = argv[i + 1];
          if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new UsageError(`--${name}: missing value`);
          inline = next;
          i++;
        }
        values[key] = convert(name, spec, inline);
      }
      given.add(key);
    }
    for (const [key, spec] of Object.entries(defs)) {
      if (key in values) continue;
      if (spec.default !== undefined) values[key] = spec.default;
      else if (spec.type === 'boolean') values[key] = false;
      else if ((spec as { required?: boolean }).required) throw new UsageError(`--${nameOf(key)} is required`);
      else values[key] = undefined;
    }
    return { values: values as FlagValues<D>, positionals, given: given as Set<keyof D & string> };
  }

  function helpText(opts: HelpOptions = {}): string {
    const rows = Object.entries(defs).map(([key, spec]) => {
      const name = nameOf(key);
      const left = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${placeholderOf(spec)}`;
      let dflt = defaultText(spec);
      if (spec.type === 'boolean' && spec.default) dflt = `default: on; --no-${name} to turn off`;
      return { left, right: dflt ? `${spec.help} (${dflt})` : spec.help };
    });
    const width = Math.min(40, Math.max(...rows.map((r) => r.left.length)));
    const lines: string[] = [];
    if (opts.summary) lines.push(opts.summary, '');
    if (opts.usage) lines.push(`Usage: ${opts.usage}`, '');
    lines.push('Options:');
    for (const r of rows) {
      lines.push(r.left.length > width ? `  ${r.left}\n  ${' '.repeat(width)}  ${r.right}` : `  ${r.left.padEnd(width)}  ${r.right}`);
    }
    if (opts.footer && opts.footer.length > 0) lines.push('', ...opts.footer);
    return lines.join('\n');
  }

  return {
    defs,
    parse: (argv) => parseArgs(argv).values,
    parseArgs,
    helpText,
  };
}
