import type net from 'node:net';
import t from 'tap';
import { handshakeStep } from '../../src/bench/device-handshake.js';

/** The benchmarks' device handshake, answer by answer, with a socket that only records what is written. */
function recorder() {
  const written: string[] = [];
  const socket = { write: (s: string) => written.push(s) } as unknown as net.Socket;
  return { socket, written };
}

t.test('a granted subscribe gives the extranonces and sends authorize for the worker', async (t) => {
  const { socket, written } = recorder();
  t.same(handshakeStep({ id: 1, result: [[], 'e1550000', 8], error: null }, socket, 'bench.d1'), { step: 'subscribed', extranonce1: 'e1550000', extranonce2Size: 8 });
  t.same(written.map((w) => JSON.parse(w)), [{ id: 2, method: 'mining.authorize', params: ['bench.d1', 'x'] }]);
  t.ok(written[0]!.endsWith('\n'), 'one line');
  t.same(handshakeStep({ id: 2, result: true, error: null }, socket, 'bench.d1'), { step: 'authorized' });
});

t.test('refusals name the step and the error; other answers are not the handshake\'s', async (t) => {
  const { socket, written } = recorder();
  t.same(handshakeStep({ id: 1, result: null, error: [20, 'Other/Unknown', null] }, socket, 'w'), { step: 'refused', reason: 'subscribe refused: [20,"Other/Unknown",null]' });
  t.same(handshakeStep({ id: 1, result: [[], 'e155', '8'], error: null }, socket, 'w'), { step: 'refused', reason: 'subscribe refused: [[],"e155","8"]' }, 'a malformed grant');
  t.same(handshakeStep({ id: 2, result: false, error: [24, 'Unauthorized worker', null] }, socket, 'w'), { step: 'refused', reason: 'authorize refused: [24,"Unauthorized worker",null]' });
  const long = handshakeStep({ id: 2, result: null, error: 'x'.repeat(500) }, socket, 'w');
  t.equal(long?.step === 'refused' && long.reason.length, 'authorize refused: '.length + 80, 'the error is cut to 80 characters');
  t.equal(handshakeStep({ id: 1000, result: true, error: null }, socket, 'w'), null);
  t.same(written, [], 'nothing sent after a refusal');
});
