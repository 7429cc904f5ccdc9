import net from 'node:net';
import t from 'tap';
import { RpcCode, RpcError, RpcHttpServer } from '../../src/sim/dashd-http.js';
import { sleep } from '../helpers/wait.js';

/** The JSON-RPC 1.0 HTTP layer alone, with a `call` the test writes. */
async function server(t: { teardown(fn: () => unknown): void }, call: (method: string, params: unknown[]) => Promise<unknown>) {
  const s = new RpcHttpServer({
    host: '127.0.0.1',
    port: 0,
    authorize: (user, password) => user === 'u' && password === 'p',
    call: (method, params) => call(method, params),
    gate: async () => {},
    onUnauthorized: () => {},
    maxBodyBytes: 1000,
  });
  const port = await s.listen();
  t.teardown(() => s.close());
  return { url: `http://127.0.0.1:${port}`, port };
}

const headers = { authorization: 'Basic ' + Buffer.from('u:p').toString('base64'), 'content-type': 'application/json' };
const post = (url: string, body: string) => fetch(url, { method: 'POST', headers, body }).then(async (r) => ({ status: r.status, text: await r.text() }));

t.test('answers, errors and their HTTP statuses', async (t) => {
  const { url } = await server(t, async (method, params) => {
    if (method === 'echo') return params;
    if (method === 'boom') throw new Error('kaput');
    if (method === 'nothing') return undefined;
    throw new RpcError(RpcCode.InvalidAddressOrKey, 'Block not found');
  });
  t.same(JSON.parse((await post(url, JSON.stringify({ id: 7, method: 'echo', params: [1, 'a'] }))).text), { result: [1, 'a'], error: null, id: 7 });
  t.same(JSON.parse((await post(url, JSON.stringify({ id: 8, method: 'nothing' }))).text), { result: null, error: null, id: 8 }, 'no params, a void result: null');
  const notFound = await post(url, JSON.stringify({ id: 1, method: 'getblock', params: [] }));
  t.same([notFound.status, JSON.parse(notFound.text).error], [500, { code: -5, message: 'Block not found' }]);
  const boom = await post(url, JSON.stringify({ id: 2, method: 'boom' }));
  t.same([boom.status, JSON.parse(boom.text).error], [500, { code: -1, message: 'internal error: kaput' }], 'a bug in a method is an RPC error, not a crash');
  const noMethod = await post(url, JSON.stringify({ id: 3, params: [] }));
  t.same([noMethod.status, JSON.parse(noMethod.text).error.code], [400, -32600]);
  const badParams = await post(url, JSON.stringify({ id: 4, method: 'echo', params: { a: 1 } }));
  t.same([badParams.status, JSON.parse(badParams.text).error], [400, { code: -32600, message: 'Params must be an array' }]);
  const big = await post(url, JSON.stringify({ id: 5, method: 'echo', params: ['x'.repeat(2000)] }));
  t.equal(big.status, 413, 'a body over maxBodyBytes');
});

t.test('a client that leaves in the middle of its body ends that exchange only', async (t) => {
  const { url, port } = await server(t, async () => 42);
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(`POST / HTTP/1.1\r\nHost: x\r\nAuthorization: ${headers.authorization}\r\nContent-Length: 500\r\n\r\n{"id":1,`);
  await sleep(50);
  socket.destroy();
  await sleep(50);
  t.same(JSON.parse((await post(url, JSON.stringify({ id: 1, method: 'x' }))).text), { result: 42, error: null, id: 1 }, 'still answering');
});
