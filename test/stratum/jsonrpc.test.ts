import t, { type Test } from 'tap';
import { rejectReasonOf, StratumError, StratumErrorCode, stratumError } from '../../src/stratum/errors.js';
import { describeWireError, errorLine, notificationLine, parseLine, requestLine, resultLine, type ParseOutcome } from '../../src/stratum/jsonrpc.js';

function expectError(t: Test, out: ParseOutcome, id: unknown, message: string) {
  if (out.ok) return t.fail(`expected an error "${message}", got ${JSON.stringify(out.message)}`);
  t.ok(out.error instanceof StratumError, 'a StratumError');
  t.equal(out.error.code, 20, 'code 20');
  t.equal(out.error.message, message);
  t.equal(out.id, id, 'id');
}


t.test('requests, notifications and responses parse', async (t) => {
  t.same(parseLine('{"id": 1, "method": "mining.subscribe", "params": ["cpuminer-opt-26.1-x64L"]}'), {
    ok: true,
    message: { kind: 'request', id: 1, method: 'mining.subscribe', params: ['cpuminer-opt-26.1-x64L'] },
  });
  t.same(parseLine('{"id":null,"method":"mining.set_difficulty","params":[0.0001]}'), {
    ok: true,
    message: { kind: 'request', id: null, method: 'mining.set_difficulty', params: [0.0001] },
  });
  t.same(parseLine('{"id":"abc","method":"mining.extranonce.subscribe"}'), {
    ok: true,
    message: { kind: 'request', id: 'abc', method: 'mining.extranonce.subscribe', params: [] },
  }, 'missing params read as []');
  t.same(parseLine('{"method":"x","params":null}'), { ok: true, message: { kind: 'request', id: null, method: 'x', params: [] } }, 'missing id reads as null, null params as []');
  t.same(parseLine('{"id":2,"result":true,"error":null}'), { ok: true, message: { kind: 'response', id: 2, result: true, error: null } });
  t.same(parseLine('{"id":4,"error":[23,"Low difficulty share",null]}'), {
    ok: true,
    message: { kind: 'response', id: 4, result: null, error: [23, 'Low difficulty share', null] },
  }, 'a missing result reads as null');
  t.same(parseLine('{"id":3,"result":[1,2]}'), { ok: true, message: { kind: 'response', id: 3, result: [1, 2], error: null } }, 'a missing error reads as null');
  t.same(parseLine('  {"id":1.5,"result":false}  '), { ok: true, message: { kind: 'response', id: 1.5, result: false, error: null } }, 'surrounding spaces and a fractional id');
});

t.test('non-JSON is refused with code 20', async (t) => {
  for (const line of ['', 'hello', '{"id":1,', '{id:1}', "{'id':1}", '{"id":1}}', 'NaN', '\u0000']) {
    expectError(t, parseLine(line), null, 'Malformed JSON');
  }
});

t.test('arrays and primitives instead of an object are refused', async (t) => {
  for (const line of ['[]', '[{"id":1,"method":"x"}]', '1', '"mining.subscribe"', 'null', 'true', 'false']) {
    expectError(t, parseLine(line), null, 'A message must be a JSON object');
  }
});

t.test('bad ids are refused, and the error carries id null', async (t) => {
  for (const id of ['{}', '[]', '[1]', 'true', 'false', '{"a":1}']) {
    expectError(t, parseLine(`{"id":${id},"method":"mining.subscribe","params":[]}`), null, 'id must be a number, a string or null');
  }
  expectError(t, parseLine('{"id":true,"result":true}'), null, 'id must be a number, a string or null');
});

t.test('a bad method or params is refused and keeps the id', async (t) => {
  for (const method of ['1', '""', 'null', '[]', '{}', 'true']) {
    expectError(t, parseLine(`{"id":7,"method":${method},"params":[]}`), 7, 'method must be a non-empty string');
  }
  for (const params of ['{}', '"abc"', '5', 'true', '{"0":"a"}']) {
    expectError(t, parseLine(`{"id":"q","method":"mining.submit","params":${params}}`), 'q', 'mining.submit: params must be an array');
  }
});

t.test('an object that is neither request nor response is refused', async (t) => {
  expectError(t, parseLine('{"id":9}'), 9, 'Not a request or a response: no method, result or error');
  expectError(t, parseLine('{}'), null, 'Not a request or a response: no method, result or error');
  expectError(t, parseLine('{"params":[1]}'), null, 'Not a request or a response: no method, result or error');
});

t.test('serializers write one line each, and parseLine reads them back', async (t) => {
  t.equal(requestLine(1, 'mining.subscribe', ['ua']), '{"id":1,"method":"mining.subscribe","params":["ua"]}\n');
  t.equal(notificationLine('mining.set_difficulty', [0.5]), '{"id":null,"method":"mining.set_difficulty","params":[0.5]}\n');
  t.equal(resultLine('x', true), '{"id":"x","result":true,"error":null}\n');
  t.equal(errorLine(4, new StratumError(StratumErrorCode.DuplicateShare, 'Duplicate share')), '{"id":4,"result":null,"error":[22,"Duplicate share",null]}\n');
  t.equal(errorLine(null, [21, 'Job not found', null]), '{"id":null,"result":null,"error":[21,"Job not found",null]}\n');

  const back = parseLine(requestLine(12, 'mining.submit', ['w', 'j', '00', '01', '02']).trimEnd());
  t.same(back, { ok: true, message: { kind: 'request', id: 12, method: 'mining.submit', params: ['w', 'j', '00', '01', '02'] } });
  const err = parseLine(errorLine(5, stratumError(StratumErrorCode.LowDifficulty, 'Low difficulty share')).trimEnd());
  t.same(err, { ok: true, message: { kind: 'response', id: 5, result: null, error: [23, 'Low difficulty share', null] } });
  // A message with a newline inside a string stays on one line (JSON escapes it).
  t.equal(resultLine(1, 'a\nb').split('\n').length, 2);
});

t.test('describeWireError reads any shape of error field', async (t) => {
  t.equal(describeWireError(null), null);
  t.equal(describeWireError(undefined), null);
  t.equal(describeWireError(false), null);
  t.same(describeWireError([21, 'Job not found', null]), { code: 21, message: 'Job not found' });
  t.same(describeWireError(['21', 'x']), { code: 20, message: 'x' }, 'a non-number code reads as 20');
  t.same(describeWireError([23]), { code: 23, message: '[23]' }, 'no message: the JSON of the error');
  t.same(describeWireError({ code: 24, message: 'Unauthorized worker' }), { code: 24, message: 'Unauthorized worker' });
  t.same(describeWireError({ reason: 'nope' }), { code: 20, message: '{"reason":"nope"}' });
  t.same(describeWireError('Stale share'), { code: 20, message: 'Stale share' });
  t.same(describeWireError(42), { code: 20, message: '42' });
});

t.test('the error codes and their short reasons', async (t) => {
  t.same(StratumErrorCode, { Other: 20, JobNotFound: 21, DuplicateShare: 22, LowDifficulty: 23, Unauthorized: 24, NotSubscribed: 25 });
  t.same(rejectReasonOf, { 20: 'invalid', 21: 'stale', 22: 'duplicate', 23: 'low_difficulty', 24: 'unauthorized', 25: 'not_subscribed' });
  const e = stratumError(StratumErrorCode.Unauthorized, 'Unauthorized worker');
  t.ok(e instanceof Error);
  t.equal(e.name, 'StratumError');
  t.same(e.toWire(), [24, 'Unauthorized worker', null]);
});
