import t from 'tap';
import { meetsNumberRule, numberProblem, numberRuleOf, numberRuleSchema, numberRuleWords, scaleNumberRule } from '../../src/util/number-rule.js';

t.test('words say the rule', async (t) => {
  t.equal(numberRuleWords({ int: true, min: 512, max: 16777216 }), 'an integer from 512 to 16777216');
  t.equal(numberRuleWords({ positive: true }), 'a number > 0');
  t.equal(numberRuleWords({ int: true, min: 1 }), 'an integer >= 1');
  t.equal(numberRuleWords({ positive: true, max: 3600 }), 'a number > 0 and <= 3600');
  t.equal(numberRuleWords({}), 'a number');
});

t.test('a value keeps the rule or the problem names the field and the value', async (t) => {
  const rule = { int: true, min: 512, max: 1024 };
  t.equal(numberProblem('limits.maxLineBytes', 512, rule), null);
  t.equal(numberProblem('limits.maxLineBytes', 1024, rule), null);
  t.equal(numberProblem('limits.maxLineBytes', 511, rule), 'limits.maxLineBytes must be an integer from 512 to 1024 (got 511)');
  t.equal(numberProblem('x', 600.5, rule), 'x must be an integer from 512 to 1024 (got 600.5)');
  t.equal(numberProblem('x', '600', rule), 'x must be an integer from 512 to 1024 (got "600")');
  t.equal(numberProblem('x', Number.NaN, { positive: true }), 'x must be a number > 0 (got NaN)');
  t.equal(numberProblem('x', Number.POSITIVE_INFINITY, {}), 'x must be a number (got Infinity)');
  t.equal(numberProblem('x', 0, { positive: true }), 'x must be a number > 0 (got 0)');
  t.equal(numberProblem('x', undefined, {}), 'x must be a number (got undefined)');
  t.notOk(meetsNumberRule(null, {}));
});

t.test('the schema keywords and back', async (t) => {
  const rule = { int: true, min: 1, max: 9 };
  t.same(numberRuleSchema(rule), { type: 'integer', minimum: 1, maximum: 9 });
  t.same(numberRuleSchema({ positive: true }), { type: 'number', exclusiveMinimum: 0 });
  t.same(numberRuleOf(numberRuleSchema(rule), true), rule);
  t.same(numberRuleOf(numberRuleSchema({ positive: true, max: 5 }), false), { int: false, max: 5, positive: true });
});

t.test('a rule in another unit', async (t) => {
  t.same(scaleNumberRule({ positive: true, max: 3_600_000 }, 1 / 1000), { positive: true, max: 3600 });
  t.same(scaleNumberRule({ int: true, min: 2 }, 1000), { min: 2000, int: true });
  t.same(scaleNumberRule({ int: true, min: 2000 }, 1 / 1000), { min: 2 }, 'an integer in ms is not one in seconds');
});
