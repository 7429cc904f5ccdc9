import AjvModule, { type ErrorObject, type ValidateFunction } from 'ajv';
import { numberRuleOf, numberRuleWords } from './number-rule.js';

/**
 * JSON Schema checks (ajv) with problems people can act on: each names its field the way it is written in
 * the file (`pools[0].url`, `limits.maxDevices`) and shows the value it got, all at once:
 *
 *   limits.maxLineBytes must be an integer from 512 to 16777216 (got 10)
 *   frobnicate: unknown field (known: pools, listen, ...)
 *   difficulty.strat: unknown field (did you mean start? known: start, min, ...)
 *
 * What a field must be is said from its schema (type, bounds, enum), so the schema is the only place a rule
 * is written. A field whose rule reads better in words gets it from `messages`, keyed by the field's path
 * with `[]` for any list index (`pools[].user`).
 */
export type JsonSchema = Record<string, unknown>;

/**
 * A field's own message: the text after the field's path ("must be the pool login"), given the failed
 * keyword and the value. `whole`: every problem inside the field (its members too) is reported as this one.
 */
export interface FieldMessage {
  text: (keyword: string, value: unknown) => string;
  whole?: boolean;
}

export interface SchemaProblem {
  /** The field, as written in the file: `pools[0].url`. */
  path: string;
  message: string;
}

export interface SchemaChecker {
  readonly schema: JsonSchema;
  /** Every problem of `value` (none: it is valid). */
  check(value: unknown): SchemaProblem[];
}

// ajv is a CommonJS module whose class is its default export.
const Ajv = AjvModule as unknown as typeof AjvModule.default;

export function schemaChecker(schema: JsonSchema, messages: Record<string, FieldMessage> = {}): SchemaChecker {
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
  const validate: ValidateFunction = ajv.compile(schema);
  return {
    schema,
    check(value) {
      if (validate(value)) return [];
      return describeErrors(validate.errors ?? [], messages);
    },
  };
}

/** `/pools/0/url` -> `['pools', '0', 'url']`. */
function segments(pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** `['pools', '0', 'url']` -> `pools[0].url`; with `anyIndex`, `pools[].url`. */
function fieldPath(parts: readonly string[], anyIndex = false): string {
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${anyIndex ? '' : p}]` : out === '' ? p : `.${p}`;
  return out;
}

function describeErrors(errors: ErrorObject[], messages: Record<string, FieldMessage>): SchemaProblem[] {
  const out = new Map<string, string>();
  const add = (path: string, message: string) => {
    if (!out.has(path)) out.set(path, message);
  };
  for (const e of errors) {
    // A failed `if`/`then` is reported by the `then` keyword's own problems (e.g. `pools` needs a pool).
    if (e.keyword === 'if') continue;
    let parts = segments(e.instancePath);
    let value: unknown = e.data;
    let fieldSchema = (e.parentSchema ?? {}) as JsonSchema;
    if (e.keyword === 'additionalProperties') {
      const name = String((e.params as { additionalProperty: string }).additionalProperty);
      const path = fieldPath([...parts, name]);
      const wholeAt = wholeAncestor(parts, messages);
      if (wholeAt) add(wholeAt.path, `${wholeAt.path} ${wholeAt.message.text(e.keyword, e.data)}`);
      else add(path, unknownField(path, name, Object.keys((fieldSchema.properties ?? {}) as JsonSchema).filter((k) => k !== '$schema')));
      continue;
    }
    if (e.keyword === 'required') {
      const name = (e.params as { missingProperty: string }).missingProperty;
      parts = [...parts, name];
      value = undefined;
      fieldSchema = ((fieldSchema.properties ?? {}) as Record<string, JsonSchema>)[name] ?? {};
    }
    const wholeAt = wholeAncestor(parts, messages);
    if (wholeAt) {
      add(wholeAt.path, `${wholeAt.path} ${wholeAt.message.text(e.keyword, e.data)}`);
      continue;
    }
    const path = fieldPath(parts);
    const own = messages[fieldPath(parts, true)];
    add(path, own ? `${path} ${own.text(e.keyword, value)}` : `${path} must be ${describeSchema(fieldSchema)} (got ${JSON.stringify(value)})`);
  }
  return [...out].map(([path, message]) => ({ path, message }));
}

/** The nearest enclosing field (or the field itself) whose message covers all of it. */
function wholeAncestor(parts: string[], messages: Record<string, FieldMessage>): { path: string; message: FieldMessage } | null {
  for (let n = 1; n <= parts.length; n++) {
    const message = messages[fieldPath(parts.slice(0, n), true)];
    if (message?.whole) return { path: fieldPath(parts.slice(0, n)), message };
  }
  return null;
}

function unknownField(path: string, name: string, known: string[]): string {
  const near = closestName(name, known);
  return `${path}: unknown field (${near ? `did you mean ${near}? ` : ''}known: ${known.join(', ')})`;
}

/** What a value must be, in words, from its schema: "an integer from 0 to 65535", "one of farm, passthrough". */
function describeSchema(s: JsonSchema): string {
  if (Array.isArray(s.enum)) return `one of ${s.enum.join(', ')}`;
  const types = Array.isArray(s.type) ? (s.type as string[]) : typeof s.type === 'string' ? [s.type] : [];
  const orNull = types.includes('null') ? ' or null' : '';
  if (types.includes('integer') || types.includes('number')) return `${numberWords(s, types.includes('integer'))}${orNull}`;
  if (types.includes('boolean')) return 'true or false';
  if (types.includes('string')) return `${typeof s.minLength === 'number' && s.minLength > 0 ? 'a non-empty string' : 'a string'}${orNull}`;
  if (types.includes('array')) {
    const items = (s.items ?? {}) as JsonSchema;
    const of = Object.keys(items).length > 0 ? ` of ${plural(describeSchema(items))}` : '';
    return `${typeof s.minItems === 'number' && s.minItems > 0 ? 'a non-empty list' : 'a list'}${of}`;
  }
  if (types.includes('object')) return `an object${orNull}`;
  return 'valid';
}

function numberWords(s: JsonSchema, integer: boolean): string {
  return numberRuleWords(numberRuleOf(s, integer));
}

/** "a non-empty string" -> "non-empty strings". */
function plural(words: string): string {
  return words.replace(/^an? /, '').replace(/^(\S+(?: \S+)?)$/, '$1s');
}

/** The known name nearest to a misspelt one (edit distance at most 3 and under half its length), or null. */
export function closestName(name: string, names: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Math.min(4, Math.ceil(name.length / 2));
  for (const candidate of names) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}
