import t from 'tap';
import { DashdBlocks } from '../../src/upstream/dashd-blocks.js';
import type { PoolConfig } from '../../src/upstream/types.js';
import { PAYOUT_ADDRESS, ScriptedDashd } from '../helpers/scripted-dashd.js';

t.test('getblock of the dashd entry a block came from: standing, unknown (-5), failures with their words', async (t) => {
  const d = await ScriptedDashd.start();
  t.teardown(() => d.close());
  let entry: PoolConfig = { name: 'own-dashd', url: d.url, user: 'rpcuser', password: 'rpcpass', dashd: { payoutAddress: PAYOUT_ADDRESS } };
  const blocks = new DashdBlocks((pool) => (pool === entry.name ? entry : pool === 'main' ? { name: 'main', url: 'stratum+tcp://pool.test:3333', user: 'u', password: 'x' } : undefined));
  t.teardown(() => blocks.close());
  const hash = '00'.repeat(4) + 'ab'.repeat(28);
  d.handlers.getblock = (p) => (p[0] === hash ? { result: { hash, height: 2_100_000, confirmations: 3, chainlock: true, time: 1 } } : { error: { code: -5, message: 'Block not found' } });
  t.same(await blocks.lookup('own-dashd', hash), { confirmations: 3, chainlock: true, height: 2_100_000 });
  t.same(d.calls.at(-1)!.params, [hash, 1], 'verbosity 1');
  t.equal(await blocks.lookup('own-dashd', 'cd'.repeat(32)), null, 'not known to dashd');
  d.handlers.getblock = () => ({ result: { hash, height: 5, confirmations: -1 } });
  t.same(await blocks.lookup('own-dashd', hash), { confirmations: -1, chainlock: false, height: 5 }, 'off the best chain; no chainlock field is no ChainLock');
  d.handlers.getblock = () => ({ result: 'nope' });
  await t.rejects(blocks.lookup('own-dashd', hash), { message: `dashd at ${d.url} answered getblock ${hash} without confirmations and height` });
  d.handlers.getblock = () => ({ error: { code: -10, message: 'Loading' } });
  await t.rejects(blocks.lookup('own-dashd', hash), { message: /is still syncing/ });
  await t.rejects(blocks.lookup('main', hash), { message: "no dashd entry named 'main' in the configuration" });
  await t.rejects(blocks.lookup('gone', hash), { message: "no dashd entry named 'gone' in the configuration" });
  // A reload changed the login: a new client with it.
  d.logins = ['other:pw'];
  entry = { ...entry, user: 'other', password: 'pw' };
  d.handlers.getblock = () => ({ result: { hash, height: 5, confirmations: 7, chainlock: false } });
  t.same(await blocks.lookup('own-dashd', hash), { confirmations: 7, chainlock: false, height: 5 });
});
