/**
 * What a number may be: an integer or any number, and its bounds. A component writes the rules of its own
 * numbers once; it checks its options with `numberProblem`, and the configuration's JSON Schema is made from
 * the same rules (`numberRuleSchema`), so both say the same thing in the same words.
 */
export interface NumberRule {
  int?: boolean;
  min?: number;
  max?: number;
  /** Strictly above 0. */
  positive?: boolean;
}

/** "an integer from 512 to 16777216", "a number > 0". */
export function numberRuleWords(r: NumberRule): string {
  const bounds =
    r.min !== undefined && r.max !== undefined
      ? `from ${r.min} to ${r.max}`
      : [r.positive ? '> 0' : '', r.min !== undefined ? `>= ${r.min}` : '', r.max !== undefined ? `<= ${r.max}` : ''].filter(Boolean).join(' and ');
  return `${r.int ? 'an integer' : 'a number'} ${bounds}`.trim();
}

export function meetsNumberRule(v: unknown, r: NumberRule): v is number {
  return (
    typeof v === 'number' &&
    Number.isFinite(v) &&
    (!r.int || Number.isInteger(v)) &&
    (r.min === undefined || v >= r.min) &&
    (r.max === undefined || v <= r.max) &&
    (!r.positive || v > 0)
  );
}

/** `limits.maxLineBytes must be an integer from 512 to 16777216 (got 10)`, or null when `v` keeps the rule. */
export function numberProblem(at: string, v: unknown, r: NumberRule): string | null {
  return meetsNumberRule(v, r) ? null : `${at} must be ${numberRuleWords(r)} (got ${typeof v === 'number' ? String(v) : (JSON.stringify(v) ?? String(v))})`;
}

/** The JSON Schema keywords of a rule. */
export function numberRuleSchema(r: NumberRule): Record<string, unknown> {
  return {
    type: r.int ? 'integer' : 'number',
    ...(r.positive ? { exclusiveMinimum: 0 } : {}),
    ...(r.min !== undefined ? { minimum: r.min } : {}),
    ...(r.max !== undefined ? { maximum: r.max } : {}),
  };
}

/** The rule read back from JSON Schema keywords (for wording a schema's problem). */
export function numberRuleOf(schema: Record<string, unknown>, int: boolean): NumberRule {
  return {
    int,
    ...(typeof schema.minimum === 'number' ? { min: schema.minimum } : {}),
    ...(typeof schema.maximum === 'number' ? { max: schema.maximum } : {}),
    ...(schema.exclusiveMinimum === 0 ? { positive: true } : {}),
  };
}

/** The same rule in another unit (milliseconds in a component, seconds in the configuration: factor 1/1000). */
export function scaleNumberRule(r: NumberRule, factor: number): NumberRule {
  return {
    ...(r.positive ? { positive: true } : {}),
    ...(r.min !== undefined ? { min: r.min * factor } : {}),
    ...(r.max !== undefined ? { max: r.max * factor } : {}),
    ...(r.int && Number.isInteger(factor) ? { int: true } : {}),
  };
}
