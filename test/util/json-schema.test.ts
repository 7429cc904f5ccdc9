import t from 'tap';
import { closestName, schemaChecker } from '../../src/util/json-schema.js';

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1 },
    port: { type: 'integer', minimum: 0, maximum: 65535 },
    rate: { type: 'number', exclusiveMinimum: 0, maximum: 600 },
    mode: { type: 'string', enum: ['a', 'b'] },
    on: { type: 'boolean' },
    note: { type: ['string', 'null'], minLength: 1 },
    tags: { type: 'array', items: { type: 'string', minLength: 1 } },
    nested: { type: 'object', additionalProperties: false, properties: { depth: { type: 'integer', minimum: 1 } } },
    files: { type: ['object', 'null'], additionalProperties: false, required: ['cert'], properties: { cert: { type: 'string' } } },
  },
};

t.test('every problem names the field and the value, in words made from the schema, all at once', async (t) => {
  const check = schemaChecker(schema, { files: { whole: true, text: () => 'must be null or {"cert": "..."}' } });
  t.same(check.check({ name: 'x' }), []);
  const problems = check.check({ port: 70000, rate: 0, mode: 'c', on: 'yes', note: 5, tags: ['ok', ''], nested: { depht: 2 }, files: { cert: 1, key: 'k' }, extra: 1 }).map((p) => p.message);
  t.same(problems.sort(), [
    'extra: unknown field (known: name, port, rate, mode, on, note, tags, nested, files)',
    'files must be null or {"cert": "..."}',
    'mode must be one of a, b (got "c")',
    'name must be a non-empty string (got undefined)',
    'nested.depht: unknown field (did you mean depth? known: depth)',
    'note must be a non-empty string or null (got 5)',
    'on must be true or false (got "yes")',
    'port must be an integer from 0 to 65535 (got 70000)',
    'rate must be a number > 0 and <= 600 (got 0)',
    'tags[1] must be a non-empty string (got "")',
  ]);
});

t.test('closestName: the nearest known name, or none when nothing is close', async (t) => {
  t.equal(closestName('strat', ['start', 'min', 'max']), 'start');
  t.equal(closestName('DASH_PROXY_HTTP_TOKN', ['DASH_PROXY_HTTP_TOKEN', 'DASH_PROXY_HTTP_PORT']), 'DASH_PROXY_HTTP_TOKEN');
  t.equal(closestName('extra', ['name', 'url', 'user']), null);
});
