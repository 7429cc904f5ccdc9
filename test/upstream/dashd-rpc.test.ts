import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DashdRpc, readAnswer, type DashdRpcOptions } from '../../src/upstream/dashd-rpc.js';
import { ScriptedDashd } from '../helpers/scripted-dashd.js';
import { closedPort } from '../helpers/scripted-pool.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

async function dashd(t: Test): Promise<ScriptedDashd> {
  const d = await ScriptedDashd.start();
  t.teardown(() => d.close());
  return d;
}

function client(t: Test, o: Partial<DashdRpcOptions> & { url: string }): DashdRpc {
  const c = new DashdRpc({ user: 'rpcuser', password: 'rpcpass', timeoutMs: 2000, ...o });
  t.teardown(() => c.close());
  return c;
}

function cookieDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'dashd-cookie-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('a call with the login: its result, sent as JSON-RPC 1.0 with the params', async (t) => {
  const d = await dashd(t);
  const c = client(t, { url: d.url });
  const out = await c.call('getblockchaininfo');
  t.same(out, { ok: true, result: { chain: 'test', blocks: d.height - 1, initialblockdownload: false, verificationprogress: 0.9999 } });
  const v = await c.call('validateaddress', ['nope']);
  t.same(v, { ok: true, result: { isvalid: false } });
  t.same(d.calls.map((x) => [x.method, x.params]), [['getblockchaininfo', []], ['validateaddress', ['nope']]]);
});

t.test('wrong credentials: an auth failure that says to check rpcuser/rpcpassword', async (t) => {
  const d = await dashd(t);
  const out = await client(t, { url: d.url, password: 'wrong' }).call('getbestblockhash');
  t.equal(out.ok, false);
  if (out.ok) return;
  t.equal(out.failure.kind, 'auth');
  t.match(out.failure.message, `dashd at ${d.url} refused the RPC login (HTTP 401)`);
  t.match(out.failure.message, /rpcuser\/rpcpassword/);
});

t.test('cookie file: read at the first call, read again after a 401 (dashd restarted with a new cookie)', async (t) => {
  const d = await dashd(t);
  const file = join(cookieDir(t), '.cookie');
  writeFileSync(file, '__cookie__:first\n');
  d.logins = ['__cookie__:first'];
  const c = client(t, { url: d.url, user: '', password: '', cookieFile: file });
  t.same(await c.call('getbestblockhash'), { ok: true, result: d.tip });
  writeFileSync(file, '__cookie__:second');
  d.logins = ['__cookie__:second'];
  t.same(await c.call('getbestblockhash'), { ok: true, result: d.tip }, 'the new cookie is read after the 401');
  // A cookie dashd does not take even after reading it again: the file is not this dashd's.
  d.logins = ['__cookie__:third'];
  const out = await c.call('getbestblockhash');
  t.equal(!out.ok && out.failure.kind, 'auth');
  t.match(!out.ok && out.failure.message, `refused the cookie from ${file} (HTTP 401): is it this dashd's datadir?`);
});

t.test('cookie file missing or not user:password: an auth failure naming the file', async (t) => {
  const d = await dashd(t);
  const dir = cookieDir(t);
  const missing = join(dir, 'nope', '.cookie');
  const out = await client(t, { url: d.url, cookieFile: missing }).call('getbestblockhash');
  t.equal(!out.ok && out.failure.kind, 'auth');
  t.match(!out.ok && out.failure.message, `cannot read the cookie file ${missing} (ENOENT): is dashd running, with this datadir?`);
  const bad = join(dir, '.cookie');
  writeFileSync(bad, 'no colon here');
  const out2 = await client(t, { url: d.url, cookieFile: bad }).call('getbestblockhash');
  t.equal(!out2.ok && out2.failure.kind, 'auth');
  t.match(!out2.ok && out2.failure.message, 'does not hold user:password');
  t.equal(d.calls.length, 0, 'nothing was sent without a login');
});

t.test('unreachable: a closed port, and a dashd that does not answer in time', async (t) => {
  const port = await closedPort();
  const out = await client(t, { url: `http://127.0.0.1:${port}` }).call('getbestblockhash');
  t.equal(!out.ok && out.failure.kind, 'unreachable');
  t.match(!out.ok && out.failure.message, `no answer from dashd at http://127.0.0.1:${port} to getbestblockhash: `);
  t.match(!out.ok && out.failure.message, /ECONNREFUSED/);

  const d = await dashd(t);
  d.handlers.getbestblockhash = () => 'hang';
  const slow = await client(t, { url: d.url, timeoutMs: 200 }).call('getbestblockhash');
  t.equal(!slow.ok && slow.failure.kind, 'unreachable');
  t.match(!slow.ok && slow.failure.message, 'no answer within 0.2 s');
});

t.test('RPC errors: -10 / -9 / -28 are syncing, others are rpc with code and message', async (t) => {
  const d = await dashd(t);
  const c = client(t, { url: d.url });
  const cases: [number, string, string, RegExp][] = [
    [-10, 'Dash Core is in initial sync and waiting for blocks...', 'syncing', /is still syncing \(initial block download or masternode sync\): Dash Core is in initial sync/],
    [-9, 'Dash Core is not connected!', 'syncing', /is not connected to the Dash network \(no peers\)/],
    [-28, 'Loading block index...', 'syncing', /is still starting/],
    [-8, 'Invalid mode', 'rpc', /refused getblocktemplate: Invalid mode \(code -8\)/],
  ];
  for (const [code, message, kind, words] of cases) {
    d.handlers.getblocktemplate = () => ({ error: { code, message } });
    const out = await c.call('getblocktemplate', [{}]);
    t.equal(!out.ok && out.failure.kind, kind, `code ${code}`);
    t.match(!out.ok && out.failure.message, words);
    t.equal(!out.ok && out.failure.code, code);
    t.equal(!out.ok && out.failure.rpcMessage, message);
  }
});

t.test('answers that are not JSON-RPC: bad-answer, quoting the start of the body', async (t) => {
  const d = await dashd(t);
  const c = client(t, { url: d.url });
  d.handlers.getbestblockhash = () => ({ http: 502, body: '<html>Bad Gateway</html>' });
  const out = await c.call('getbestblockhash');
  t.equal(!out.ok && out.failure.kind, 'bad-answer');
  t.match(!out.ok && out.failure.message, 'answered getbestblockhash with HTTP 502 and no JSON ("<html>Bad Gateway</html>")');
  t.same(readAnswer('u', 'm', 200, '[1,2]'), { ok: false, failure: { kind: 'bad-answer', message: 'dashd at u answered m with JSON that is not a JSON-RPC answer' } });
  t.same(readAnswer('u', 'm', 500, '{"result":null,"error":null}'), { ok: false, failure: { kind: 'bad-answer', message: 'dashd at u answered m with HTTP 500 and no error' } });
  t.same(readAnswer('u', 'm', 200, '{"result":null,"error":null}'), { ok: true, result: null });
});

t.test('a long poll waits beyond the call timeout; close() ends it', async (t) => {
  const d = await dashd(t);
  const c = client(t, { url: d.url, timeoutMs: 200 });
  d.handlers.longpoll = async () => {
    await new Promise((r) => setTimeout(r, 600));
    return { result: 'late' };
  };
  t.same(await c.call('getblocktemplate', [{ longpollid: 'x' }], { longpoll: true }), { ok: true, result: 'late' }, 'answered after 600 ms, past the 200 ms wait');
  d.handlers.longpoll = () => 'hang';
  const pending = c.call('getblocktemplate', [{ longpollid: 'x' }], { longpoll: true });
  await new Promise((r) => setTimeout(r, 100));
  await c.close();
  const out = await pending;
  t.equal(!out.ok && out.failure.kind, 'unreachable');
  t.match(!out.ok && out.failure.message, 'was cancelled');
  const after = await c.call('getbestblockhash');
  t.match(!after.ok && after.failure.message, 'is closed');
});
