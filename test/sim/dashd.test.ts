import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { targetFromBits } from '../../src/chain/target.js';
import { p2pkhAddress, readAddress } from '../../src/sim/dash-address.js';
import { p2pkhScript } from '../../src/sim/dash-coinbase.js';
import { SimDashd, type SimDashdOptions, type SimDashdSubmitEvent } from '../../src/sim/dashd.js';
import { doubleSha256, hashHex } from '../../src/sim/dashd-hashes.js';
import { parseRawBlock, parseRawTransaction } from '../../src/sim/raw-block.js';
import { hasher } from '../helpers/share-kit.js';
import { sleep } from '../helpers/wait.js';
import { call, farmReward, FARM_SCRIPT, mineBlock, rpc, type Gbt } from './dashd-block-kit.js';

const AUTH = { user: 'rpcuser', password: 'rpcpass' };
/** One hash in 256 meets it: blocks are mined in a few milliseconds. */
const EASY_BITS = '2000ffff';

async function started(t: { teardown(fn: () => unknown): void }, opts: SimDashdOptions = {}): Promise<SimDashd> {
  const dashd = new SimDashd({ hasher, bits: EASY_BITS, ...AUTH, ...opts });
  await dashd.start();
  t.teardown(() => dashd.stop());
  return dashd;
}

const gbt = (d: SimDashd, request: Record<string, unknown> = { rules: [] }) => call<Gbt>(d.url, 'getblocktemplate', [request], AUTH);
const submit = (d: SimDashd, hex: string) => call<string | null>(d.url, 'submitblock', [hex], AUTH);

t.test('chain methods: getblockchaininfo, getbestblockhash, getblockcount, getblockhash, getblock', async (t) => {
  const dashd = await started(t, { chain: 'test', startHeight: 1000 });
  const info = await call<Record<string, unknown>>(dashd.url, 'getblockchaininfo', [], AUTH);
  t.match(info, { chain: 'test', blocks: 999, initialblockdownload: false, verificationprogress: 1, bestblockhash: dashd.tip });
  t.equal(await call(dashd.url, 'getbestblockhash', [], AUTH), dashd.tip);
  t.equal(await call(dashd.url, 'getblockcount', [], AUTH), 999);
  t.equal(await call(dashd.url, 'getblockhash', [999], AUTH), dashd.tip);
  const outOfRange = await rpc(dashd.url, 'getblockhash', [1000], AUTH);
  t.same([outOfRange.status, outOfRange.body?.error], [500, { code: -8, message: 'Block height out of range' }]);

  const block = await call<Record<string, unknown> & { tx: string[] }>(dashd.url, 'getblock', [dashd.tip, 1], AUTH);
  t.match(block, { hash: dashd.tip, height: 999, confirmations: 1, bits: EASY_BITS, nTx: block.tx.length });
  const raw = await call<string>(dashd.url, 'getblock', [dashd.tip, 0], AUTH);
  const parsed = parseRawBlock(raw);
  t.same(parsed.txs.map((tx) => tx.txid), block.tx, 'verbosity 0: the block whose txids verbosity 1 lists');
  t.equal(block.merkleroot, parsed.header.merkleRoot);
  const missing = await rpc(dashd.url, 'getblock', ['00'.repeat(32)], AUTH);
  t.same(missing.body?.error, { code: -5, message: 'Block not found' });
  const badHash = await rpc(dashd.url, 'getblock', ['xyz'], AUTH);
  t.equal(badHash.body?.error?.code, -8);
  const notFound = await rpc(dashd.url, 'getmininginfo', [], AUTH);
  t.same([notFound.status, notFound.body?.error], [404, { code: -32601, message: 'Method not found' }]);
  t.equal(dashd.stats().requests.getmininginfo, 1, 'unknown methods are counted too');
});

t.test('validateaddress: base58check with the chain version bytes, scriptPubKey', async (t) => {
  const dashd = await started(t);
  const hash = Buffer.alloc(20, 7);
  const good = await call<Record<string, unknown>>(dashd.url, 'validateaddress', [p2pkhAddress('main', hash)], AUTH);
  t.same(good, { isvalid: true, address: p2pkhAddress('main', hash), scriptPubKey: p2pkhScript(hash).toString('hex'), isscript: false });
  const testnet = await call<Record<string, unknown>>(dashd.url, 'validateaddress', [p2pkhAddress('test', hash)], AUTH);
  t.same(testnet, { isvalid: false, error: 'Invalid prefix for mainnet address' });
  const notString = await rpc(dashd.url, 'validateaddress', [42], AUTH);
  t.equal(notString.body?.error?.code, -3);
});

t.test('HTTP and JSON-RPC framing: 401 without a body, 405, parse error, batch', async (t) => {
  const dashd = await started(t);
  const none = await rpc(dashd.url, 'getblockcount', [], null);
  t.same([none.status, none.text], [401, ''], 'no credentials: 401, no JSON');
  const wrong = await rpc(dashd.url, 'getblockcount', [], { user: AUTH.user, password: 'wrong' });
  t.same([wrong.status, wrong.text], [401, '']);
  t.equal(dashd.stats().unauthorized, 2);
  const headers = { authorization: 'Basic ' + Buffer.from(`${AUTH.user}:${AUTH.password}`).toString('base64') };
  t.equal((await fetch(dashd.url, { headers })).status, 405, 'GET is not JSON-RPC');
  const garbage = await fetch(dashd.url, { method: 'POST', headers, body: '{not json' });
  t.same([garbage.status, await garbage.json()], [500, { result: null, error: { code: -32700, message: 'Parse error' }, id: null }]);
  const batch = await fetch(dashd.url, { method: 'POST', headers, body: JSON.stringify([{ id: 1, method: 'getblockcount' }, { id: 2, method: 'nope' }]) });
  const answers = (await batch.json()) as { id: number; result: unknown; error: unknown }[];
  t.equal(batch.status, 200);
  t.same(answers.map((a) => [a.id, a.result, a.error]), [[1, dashd.height, null], [2, null, { code: -32601, message: 'Method not found' }]]);
});

t.test('cookie file: written at start, a new one after a restart on the same port, removed at stop', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dashd-cookie-'));
  const cookieFile = path.join(dir, '.cookie');
  const dashd = new SimDashd({ hasher, cookieFile });
  await dashd.start();
  t.teardown(() => dashd.stop());
  const [user, password] = readFileSync(cookieFile, 'utf8').split(':');
  t.equal(user, '__cookie__');
  t.match(password, /^[0-9a-f]{64}$/);
  t.equal(await call(dashd.url, 'getblockcount', [], { user: user!, password: password! }), dashd.height);
  t.equal((await rpc(dashd.url, 'getblockcount', [], AUTH)).status, 401, 'only the cookie logs in');
  const port = dashd.port;
  await dashd.stop();
  t.notOk(existsSync(cookieFile), 'dashd removes its cookie at shutdown');
  await t.rejects(rpc(dashd.url, 'getblockcount', [], null), 'nothing listens while stopped');
  await dashd.start();
  t.equal(dashd.port, port, 'the same port again');
  const again = readFileSync(cookieFile, 'utf8').split(':')[1]!;
  t.not(again, password, 'a new cookie at every start');
  t.equal((await rpc(dashd.url, 'getblockcount', [], { user: user!, password: password! })).status, 401, 'the old cookie is refused');
  t.equal((await rpc(dashd.url, 'getblockcount', [], { user: '__cookie__', password: again })).status, 200);
});

t.test('getblocktemplate: Dash Core 20 shape, payments first the platform then the masternode, real transactions', async (t) => {
  const dashd = await started(t, { startHeight: 2_100_000, txCount: 4 });
  const tpl = await gbt(dashd);
  t.match(tpl, { version: 0x20000000, rules: ['v20', 'mn_rr'], previousblockhash: dashd.tip, height: 2_100_000, bits: EASY_BITS, previousbits: EASY_BITS, superblock: [] });
  t.equal(BigInt('0x' + tpl.target), targetFromBits(parseInt(EASY_BITS, 16)), 'target is the expansion of bits');
  t.ok(tpl.curtime >= tpl.mintime);
  t.equal(tpl.masternode.length, 2);
  t.same([tpl.masternode[0]!.payee, tpl.masternode[0]!.script], ['', '6a'], 'the platform output first, payee empty');
  const payee = readAddress(tpl.masternode[1]!.payee, 'main');
  t.ok(payee.isvalid && payee.scriptPubKey.toString('hex') === tpl.masternode[1]!.script, 'the masternode payee address is its script');
  const [platform, masternode] = [tpl.masternode[0]!.amount, tpl.masternode[1]!.amount];
  t.equal(BigInt(platform), (BigInt(platform + masternode) * 375n) / 1000n, 'the platform takes 37.5% of the masternode share (rounded down)');
  const fees = tpl.transactions.reduce((s, tx) => s + tx.fee, 0);
  t.equal(tpl.coinbasevalue, 258_471_640 + fees, 'coinbasevalue = subsidy + fees');
  t.equal(Math.round(((platform + masternode) / tpl.coinbasevalue) * 100), 60);
  t.equal(tpl.transactions.length, 5);
  for (const tx of tpl.transactions) {
    t.equal(tx.hash, hashHex(doubleSha256(Buffer.from(tx.data, 'hex'))), 'hash is the txid of data');
    t.doesNotThrow(() => parseRawTransaction(tx.data));
  }
  const types = tpl.transactions.map((tx) => parseRawTransaction(tx.data)).map((tx) => `${tx.version}/${tx.type}`);
  t.same(types, ['1/0', '1/0', '1/0', '1/0', '3/6'], 'payments, then a quorum commitment (type 6)');
  const payload = Buffer.from(tpl.coinbase_payload, 'hex');
  t.same([payload.readUInt16LE(0), payload.readUInt32LE(2), payload.length], [3, 2_100_000, 175], 'CbTx v3 at the height');
});

t.test('a superblock height pays two proposal payees from the budget, included in coinbasevalue', async (t) => {
  const dashd = await started(t, { startHeight: 100, superblockInterval: 100, superblockBudget: 10_000_000_000 });
  const tpl = await gbt(dashd);
  t.equal(tpl.superblock.length, 2);
  t.equal(tpl.superblock[0]!.amount + tpl.superblock[1]!.amount, 10_000_000_000);
  const fees = tpl.transactions.reduce((s, tx) => s + tx.fee, 0);
  t.equal(tpl.coinbasevalue, 258_471_640 + fees + 10_000_000_000);
  t.equal(await submit(dashd, mineBlock(tpl).hex), null, 'a block paying the superblock is accepted');
  t.same((await gbt(dashd)).superblock, [], 'the next height has none');
});

t.test('template faults: each one visible in the template, then correct again', async (t) => {
  const dashd = await started(t);
  dashd.setTemplateFault('payments-exceed-value');
  const exceed = await gbt(dashd);
  t.ok(exceed.masternode.reduce((s, p) => s + p.amount, 0) > exceed.coinbasevalue, 'payments exceed the value');
  dashd.setTemplateFault('malformed-script');
  t.equal((await gbt(dashd)).masternode[1]!.script, '76a914' + '00'.repeat(10), 'a push past the end of the script');
  dashd.setTemplateFault('unknown-rule');
  t.ok((await gbt(dashd)).rules.includes('!sim-unknown-rule'));
  dashd.setTemplateFault(null);
  const fine = await gbt(dashd);
  t.same(fine.rules, ['v20', 'mn_rr']);
  t.ok(fine.masternode.reduce((s, p) => s + p.amount, 0) < fine.coinbasevalue);
});

t.test('syncing, not connected, stalled', async (t) => {
  const dashd = await started(t);
  dashd.setInitialBlockDownload(true);
  const info = await call<Record<string, unknown>>(dashd.url, 'getblockchaininfo', [], AUTH);
  t.match(info, { initialblockdownload: true, verificationprogress: 0.43 });
  const syncing = await rpc(dashd.url, 'getblocktemplate', [{}], AUTH);
  t.same([syncing.status, syncing.body?.error?.code], [500, -10]);
  t.match(syncing.body?.error?.message, /initial sync/);
  dashd.setInitialBlockDownload(false);
  dashd.setConnected(false);
  const offline = await rpc(dashd.url, 'getblocktemplate', [{}], AUTH);
  t.same(offline.body?.error, { code: -9, message: 'Dash Core is not connected!' });
  dashd.setConnected(true);
  dashd.setStalled(true);
  const pending = rpc(dashd.url, 'getblockcount', [], AUTH);
  let answered = false;
  void pending.then(() => (answered = true));
  await sleep(300);
  t.notOk(answered, 'no answer while stalled');
  dashd.setStalled(false);
  t.equal((await pending).body?.result, dashd.height, 'answered once unstalled');
});

t.test('long-poll: waits on the current longpollid, answered by a new tip or after longpollSeconds', async (t) => {
  const dashd = await started(t, { longpollSeconds: 0.5 });
  const first = await gbt(dashd);
  const started1 = Date.now();
  const timedOut = await gbt(dashd, { longpollid: first.longpollid });
  t.ok(Date.now() - started1 >= 450, 'held until longpollSeconds');
  t.equal(timedOut.previousblockhash, first.previousblockhash, 'no new tip: the same block');

  const slow = new SimDashd({ hasher, bits: EASY_BITS, ...AUTH, longpollSeconds: 30 });
  await slow.start();
  t.teardown(() => slow.stop());
  const tpl = await gbt(slow);
  const waiting = gbt(slow, { longpollid: tpl.longpollid });
  await sleep(100);
  t.equal(slow.stats().longpollsWaiting, 1);
  const started2 = Date.now();
  t.equal(await submit(slow, mineBlock(tpl).hex), null);
  const next = await waiting;
  t.ok(Date.now() - started2 < 2000, 'answered at once');
  t.equal(next.previousblockhash, slow.tip, 'the long-poll brings the new tip');
  t.equal(next.height, tpl.height + 1);
  const old = await gbt(slow, { longpollid: tpl.longpollid });
  t.equal(old.longpollid, next.longpollid, 'an old longpollid is answered at once');

  const otherMiner = gbt(slow, { longpollid: next.longpollid });
  await sleep(50);
  const hash = slow.mineOtherBlock();
  t.equal((await otherMiner).previousblockhash, hash, "another miner's block answers it too");
});

t.test('long-poll off: longpollid ignored, the template at once', async (t) => {
  const dashd = await started(t, { longpoll: false, longpollSeconds: 30 });
  const tpl = await gbt(dashd);
  const before = Date.now();
  await gbt(dashd, { longpollid: tpl.longpollid });
  t.ok(Date.now() - before < 2000);
});

t.test('submitblock: a good block becomes the tip; a resubmission is a duplicate', async (t) => {
  const dashd = await started(t, { startHeight: 500 });
  const events: SimDashdSubmitEvent[] = [];
  dashd.on('submit', (e) => events.push(e));
  const tpl = await gbt(dashd);
  const block = mineBlock(tpl);
  t.equal(await submit(dashd, block.hex), null, 'null: accepted');
  t.equal(dashd.tip, block.hash);
  t.equal(dashd.height, 500);
  const view = await call<Record<string, unknown>>(dashd.url, 'getblock', [block.hash], AUTH);
  t.match(view, { height: 500, confirmations: 1, previousblockhash: tpl.previousblockhash });
  t.equal(await submit(dashd, block.hex), 'duplicate');
  t.same(dashd.stats().accepted, [{ hash: block.hash, height: 500 }]);
  t.match(dashd.stats(), { blocksAccepted: 1, duplicates: 1 });
  t.same(events.map((e) => [e.outcome, e.hash, e.reason]), [['accepted', block.hash, null], ['duplicate', block.hash, 'duplicate']]);
  const prev = await call<Record<string, unknown>>(dashd.url, 'getblock', [tpl.previousblockhash], AUTH);
  t.match(prev, { confirmations: 2, nextblockhash: block.hash });
});

t.test('submitblock refuses each broken rule with its reason (one change to a good block each)', async (t) => {
  const dashd = await started(t);
  const tpl = await gbt(dashd);
  const reward = farmReward(tpl);
  const cases: [string, Parameters<typeof mineBlock>[1], string][] = [
    ['proof of work above the target', { pow: 'miss' }, 'high-hash'],
    ['nBits other than the network', { bits: 0x207fffff }, 'bad-diffbits'],
    ['merkle root not of the transactions', { merkleRoot: Buffer.alloc(32, 9) }, 'bad-txnmrklroot'],
    ['BIP34 height one off', { height: tpl.height + 1 }, 'bad-cb-height'],
    ['scriptSig of one byte', { scriptSig: Buffer.from([0x51]) }, 'bad-cb-length'],
    ['coinbase paying one duff over coinbasevalue', { outputs: (o) => [{ ...o[0]!, value: reward + 1n }, ...o.slice(1)] }, 'bad-cb-amount'],
    ['the platform output left out (its duffs to the farm)', { outputs: (o) => [{ ...o[0]!, value: reward + o[1]!.value }, ...o.slice(2)] }, 'bad-cb-payee'],
    ['the masternode paid one duff short', { outputs: (o) => [o[0]!, o[1]!, { ...o[2]!, value: o[2]!.value - 1n }] }, 'bad-cb-payee'],
    ['the masternode paid to another script', { outputs: (o) => [o[0]!, o[1]!, { ...o[2]!, script: FARM_SCRIPT }] }, 'bad-cb-payee'],
    ['a version-1 coinbase without the CbTx', { payload: null }, 'bad-cbtx-payload'],
    ['a CbTx of another height', { payload: (() => { const p = Buffer.from(tpl.coinbase_payload, 'hex'); p.writeUInt32LE(tpl.height + 1, 2); return p; })() }, 'bad-cbtx-payload'],
    ["a template's transaction left out", { txs: (txs) => txs.slice(1) }, 'bad-txns-template-missing'],
    ['a transaction dashd does not know', { txs: (txs) => [...txs, Buffer.concat([txs[0]!.subarray(0, txs[0]!.length - 4), Buffer.alloc(4, 1)])] }, 'bad-txns-inputs-missingorspent'],
    ['a second coinbase', { txs: (txs) => [...txs, Buffer.from('01000000' + '01' + '00'.repeat(32) + 'ffffffff' + '025100' + 'ffffffff' + '00' + '00000000', 'hex')] }, 'bad-cb-multiple'],
    ['a time before mintime', { time: tpl.mintime - 1 }, 'time-too-old'],
    ['a time more than 2 hours ahead', { time: Math.floor(Date.now() / 1000) + 3 * 3600 }, 'time-too-new'],
    ['a prevhash dashd never saw', { prevhash: '00'.repeat(31) + '01' }, 'prev-blk-not-found'],
  ];
  for (const [what, edit, reason] of cases) {
    const block = mineBlock(tpl, edit);
    t.equal(await submit(dashd, block.hex), reason, `${what}: ${reason}`);
  }
  t.equal(dashd.height, tpl.height - 1, 'the tip did not move');
  const rejected = dashd.stats().blocksRejected;
  t.equal(Object.values(rejected).reduce((a, b) => a + b, 0), cases.length, 'every refusal counted');
  t.equal(rejected['bad-cb-payee'], 3);

  const bad = mineBlock(tpl, { height: 1 });
  t.equal(await submit(dashd, bad.hex), 'bad-cb-height');
  t.equal(await submit(dashd, bad.hex), 'duplicate-invalid', 'a refused block sent again');

  const undecodable = await rpc(dashd.url, 'submitblock', [mineBlock(tpl).hex.slice(0, -2)], AUTH);
  t.equal(undecodable.body?.error?.code, -22);
  t.match(undecodable.body?.error?.message, /^Block decode failed: truncated/);
  const notHex = await rpc(dashd.url, 'submitblock', ['zz'], AUTH);
  t.equal(notHex.body?.error?.code, -22);
  t.equal(dashd.stats().undecodable, 2);

  t.equal(await submit(dashd, mineBlock(tpl).hex), null, 'and the good block after all that');
});

t.test('submitblock: a block on an older tip is inconclusive', async (t) => {
  const dashd = await started(t);
  const tpl = await gbt(dashd);
  dashd.mineOtherBlock();
  t.equal(await submit(dashd, mineBlock(tpl).hex), 'inconclusive');
  t.equal(dashd.stats().blocksInconclusive, 1);
});

t.test('expectPayoutAddress: output 0 must pay it', async (t) => {
  const payout = p2pkhAddress('main', Buffer.alloc(20, 0x11));
  const dashd = await started(t, { expectPayoutAddress: payout });
  const tpl = await gbt(dashd);
  t.equal(await submit(dashd, mineBlock(tpl, {}, p2pkhScript(Buffer.alloc(20, 0x22))).hex), 'bad-cb-payout');
  t.equal(await submit(dashd, mineBlock(tpl, {}, FARM_SCRIPT).hex), null, 'FARM_SCRIPT pays 11..11');
  t.throws(() => new SimDashd({ expectPayoutAddress: 'nope' }), /expectPayoutAddress nope: Invalid address format/);
});

t.test('ChainLocks after chainlockMs; reorg orphans a block (confirmations -1) and another takes its height', async (t) => {
  let clock = Date.now();
  const dashd = await started(t, { chainlockMs: 5000, now: () => clock });
  const tpl = await gbt(dashd);
  const mine = mineBlock(tpl);
  t.equal(await submit(dashd, mine.hex), null);
  const block = () => call<{ confirmations: number; chainlock: boolean; height: number }>(dashd.url, 'getblock', [mine.hash], AUTH);
  t.match(await block(), { confirmations: 1, chainlock: false });
  clock += 4999;
  t.match(await block(), { chainlock: false });
  const replacement = dashd.reorg(mine.hash);
  t.match(await block(), { confirmations: -1, chainlock: false, height: tpl.height });
  t.equal(dashd.height, tpl.height, 'another block at its height');
  t.equal(await call(dashd.url, 'getblockhash', [tpl.height], AUTH), replacement);
  t.not(replacement, mine.hash);
  clock += 5000;
  t.match(await call(dashd.url, 'getblock', [replacement], AUTH), { chainlock: true, confirmations: 1 });
  t.throws(() => dashd.reorg(replacement), /is chainlocked/);
  t.throws(() => dashd.reorg(mine.hash), /not on the best chain/);
  t.throws(() => dashd.reorg(tpl.previousblockhash), /the start block stays/);
  await t.rejects(dashd.start(), /already started/);
  const next = await gbt(dashd);
  t.equal(next.previousblockhash, replacement, 'templates build on the new tip');
});

t.test('other miners on a timer move the tip', async (t) => {
  const dashd = await started(t, { otherMinerIntervalMs: 100 });
  const start = dashd.height;
  await sleep(450);
  t.ok(dashd.height >= start + 2, `height ${start} -> ${dashd.height}`);
  t.equal(dashd.stats().otherMinerBlocks, dashd.height - start);
  const block = await call<{ tx: string[] }>(dashd.url, 'getblock', [dashd.tip], AUTH);
  const raw = parseRawBlock(await call<string>(dashd.url, 'getblock', [dashd.tip, 0], AUTH));
  t.same(raw.txs.map((tx) => tx.txid), block.tx);
  t.equal(hashHex(hasher.hash(raw.header.raw)), dashd.tip, 'its hash is X11 of its header');
  const coinbase = raw.txs[0]!;
  t.same([coinbase.version, coinbase.type], [3, 5]);
  t.equal(coinbase.outputs[1]!.script.toString('hex'), '6a', "other miners pay the platform too");
});

t.test('options are checked', async (t) => {
  t.throws(() => new SimDashd({ bits: '00000000' }), /zero target/);
  t.throws(() => new SimDashd({ bits: 'xyz' }), /bits must be 8 hex digits/);
  t.throws(() => new SimDashd({ startHeight: 1 }), /startHeight must be an integer from 2/);
  t.throws(() => new SimDashd({ longpollSeconds: 0 }), /longpollSeconds must be > 0/);
  t.throws(() => new SimDashd({ password: 'x' }), /password without user/);
});
