import t, { type Test } from 'tap';
import { EventBus, type ProxyEventMap } from '../../src/core/events.js';
import { createLogger } from '../../src/core/log.js';
import { BlockWatcher, judgeBlock, MATURE_CONFIRMATIONS, NOT_SEEN_CHECKS, type BlockCheck } from '../../src/observe/block-watcher.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { blockSubmitted } from '../helpers/solo-blocks.js';

/**
 * The block watcher with a scripted dashd (the RPC is a function answering from a per-hash script) on a fake
 * clock: the status sequence of a block, orphans (left the best chain; never seen in it), rejected blocks
 * not followed, dashd not answering, and the bound on blocks followed.
 */

const CHECK_SECONDS = 30;
type Status = ProxyEventMap['block.status'];
type Answer = BlockCheck | null | Error | Promise<BlockCheck>;

const submitted = blockSubmitted;

function setup(t: Test, opts: { maxBlocks?: number } = {}) {
  const bus = new EventBus();
  const clock = new FakeTimers();
  const script = new Map<string, Answer[]>();
  const asked: [string, string][] = [];
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'debug', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  const seconds: Record<string, number> = { 'own-dashd': CHECK_SECONDS, 'other-dashd': 5 };
  const watcher = new BlockWatcher({
    bus,
    timers: clock,
    log,
    checkSeconds: (pool) => seconds[pool]!,
    ...(opts.maxBlocks !== undefined ? { maxBlocks: opts.maxBlocks } : {}),
    // The next scripted answer for the hash (the last one repeats).
    lookup: async (pool, hash) => {
      asked.push([pool, hash]);
      const answers = script.get(hash) ?? [null];
      const a = answers.length > 1 ? answers.shift()! : answers[0]!;
      if (a instanceof Error) throw a;
      return a;
    },
  });
  watcher.start();
  t.teardown(() => watcher.stop());
  const statuses: Status[] = [];
  bus.on('block.status', (e) => statuses.push(e));
  /** Move the clock by `seconds`, one second at a time, letting the lookups' promises settle after each (a next check is scheduled when its lookup ends). */
  const step = async (seconds: number) => {
    for (let s = 0; s < seconds; s++) {
      clock.advance(1000);
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    }
  };
  return { bus, clock, script, asked, lines, watcher, statuses, step };
}

const at = (confirmations: number, chainlock = false, height = 2_100_000): BlockCheck => ({ confirmations, chainlock, height });

t.test('judgeBlock (pure): every status and its reason', async (t) => {
  const fresh = { status: null, seen: false, misses: 0 };
  t.match(judgeBlock(fresh, at(1)), { status: 'in-chain', final: false, reason: "on dashd's best chain, 1 confirmation", state: { seen: true, misses: 0 } });
  t.match(judgeBlock(fresh, at(3, true)), { status: 'chainlocked', final: true, reason: 'a ChainLock covers it (3 confirmations)' });
  t.match(judgeBlock(fresh, at(MATURE_CONFIRMATIONS)), { status: 'mature', final: true, reason: '100 confirmations without a ChainLock: mature' });
  t.match(judgeBlock(fresh, at(MATURE_CONFIRMATIONS - 1)), { status: 'in-chain', final: false });
  t.match(judgeBlock(fresh, null), { status: null, final: false, reason: 'dashd does not know it', state: { misses: 1 } });
  t.match(judgeBlock(fresh, at(-1)), { status: null, final: false, reason: 'not on the best chain (confirmations -1)', state: { misses: 1 } });
  t.match(judgeBlock({ status: null, seen: false, misses: NOT_SEEN_CHECKS - 1 }, null), { status: 'orphaned', final: true, reason: 'dashd does not know it after 3 checks' });
  t.match(judgeBlock({ status: null, seen: false, misses: NOT_SEEN_CHECKS - 1 }, at(-1)), { status: 'orphaned', final: true, reason: 'not on the best chain (confirmations -1) after 3 checks' });
  t.match(judgeBlock({ status: 'in-chain', seen: true, misses: 0 }, at(-1)), { status: 'orphaned', final: true, reason: 'not on the best chain (confirmations -1): it left the best chain' });
  t.match(judgeBlock({ status: 'in-chain', seen: true, misses: 0 }, null), { status: 'orphaned', final: true, reason: 'dashd does not know it: it left the best chain' });
});

t.test('an accepted block: in-chain, told once while it deepens, then chainlocked; then no longer asked about', async (t) => {
  const { bus, script, asked, statuses, step, watcher } = setup(t);
  script.set('aa', [at(1), at(2), at(5, true)]);
  bus.emit('block.submitted', submitted('aa'));
  t.same(watcher.following, ['aa']);
  await step(CHECK_SECONDS - 1);
  t.equal(asked.length, 0, 'first check after blockCheckSeconds');
  await step(1);
  t.same(asked, [['own-dashd', 'aa']], "asked the block's own pool");
  t.same(statuses.map((s) => [s.status, s.confirmations, s.chainlock]), [['in-chain', 1, false]]);
  t.match(statuses[0], { pool: 'own-dashd', hash: 'aa', height: 2_100_000, reason: "on dashd's best chain, 1 confirmation" });
  await step(CHECK_SECONDS);
  t.equal(statuses.length, 1, 'deeper, same status: nothing told');
  await step(CHECK_SECONDS);
  t.same(statuses.map((s) => s.status), ['in-chain', 'chainlocked']);
  t.match(statuses[1], { confirmations: 5, chainlock: true, reason: 'a ChainLock covers it (5 confirmations)' });
  t.same(watcher.following, [], 'final: let go');
  await step(CHECK_SECONDS * 5);
  t.equal(asked.length, 3, 'never asked again');
});

t.test('mature without a ChainLock; each pool checked at its own interval', async (t) => {
  const { bus, script, asked, statuses, step } = setup(t);
  script.set('bb', [at(MATURE_CONFIRMATIONS, false, 2_100_007)]);
  bus.emit('block.submitted', submitted('bb', { pool: 'other-dashd', height: 2_100_007 }));
  await step(5);
  t.same(asked, [['other-dashd', 'bb']], "other-dashd's interval: 5 s");
  t.same(statuses.map((s) => [s.status, s.pool, s.height]), [['mature', 'other-dashd', 2_100_007]], 'straight to final');
});

t.test('orphaned: left the best chain after being in it; or never seen in it in 3 checks (inconclusive, unknown)', async (t) => {
  const { bus, script, statuses, step, watcher } = setup(t);
  script.set('cc', [at(1), at(2), at(-1)]);
  script.set('dd', [at(-1)]);
  script.set('ee', [null]);
  bus.emit('block.submitted', submitted('cc'));
  bus.emit('block.submitted', submitted('dd', { result: 'inconclusive', reason: 'inconclusive' }));
  bus.emit('block.submitted', submitted('ee', { result: 'accepted', reason: 'duplicate' }));
  await step(CHECK_SECONDS);
  t.same(statuses.map((s) => [s.hash, s.status]), [['cc', 'in-chain']], 'dd and ee: not seen yet, nothing to tell');
  await step(CHECK_SECONDS);
  t.equal(statuses.length, 1);
  await step(CHECK_SECONDS);
  t.same(
    statuses.map((s) => [s.hash, s.status, s.confirmations, s.reason]),
    [
      ['cc', 'in-chain', 1, "on dashd's best chain, 1 confirmation"],
      ['cc', 'orphaned', -1, 'not on the best chain (confirmations -1): it left the best chain'],
      ['dd', 'orphaned', -1, 'not on the best chain (confirmations -1) after 3 checks'],
      ['ee', 'orphaned', -1, 'dashd does not know it after 3 checks'],
    ],
  );
  t.same(watcher.following, []);
});

t.test('an inconclusive block that reaches the best chain later is in-chain, not orphaned', async (t) => {
  const { bus, script, statuses, step } = setup(t);
  script.set('ff', [at(-1), at(-1), at(1)]);
  bus.emit('block.submitted', submitted('ff', { result: 'inconclusive', reason: 'inconclusive' }));
  await step(CHECK_SECONDS * 3);
  t.same(statuses.map((s) => s.status), ['in-chain']);
});

t.test('rejected and unanswered blocks are not followed; a block submitted twice is followed once', async (t) => {
  const { bus, asked, step, watcher } = setup(t);
  bus.emit('block.submitted', submitted('r1', { result: 'rejected', reason: 'bad-cb-payee' }));
  bus.emit('block.submitted', submitted('u1', { result: 'unanswered', reason: 'dashd did not answer' }));
  bus.emit('block.submitted', submitted('gg'));
  bus.emit('block.submitted', submitted('gg', { reason: 'duplicate' }));
  t.same(watcher.following, ['gg']);
  await step(CHECK_SECONDS);
  t.same(asked, [['own-dashd', 'gg']]);
});

t.test('dashd not answering changes nothing: asked again next interval, the failure logged once', async (t) => {
  const { bus, script, asked, statuses, step, lines, watcher } = setup(t);
  script.set('hh', [new Error('connect ECONNREFUSED 127.0.0.1:9998'), new Error('connect ECONNREFUSED 127.0.0.1:9998'), new Error('still'), at(1, true)]);
  bus.emit('block.submitted', submitted('hh'));
  await step(CHECK_SECONDS * 3);
  t.equal(asked.length, 3);
  t.same(statuses, [], 'no status from a failed check (a failure is not a miss)');
  t.same(watcher.following, ['hh']);
  const warned = lines.filter((l) => String(l.msg).startsWith('could not check block'));
  t.equal(warned.length, 1, 'logged once');
  t.match(warned[0], { level: 'warn', msg: 'could not check block 2100000 hh with dashd own-dashd: connect ECONNREFUSED 127.0.0.1:9998 (trying again)' });
  await step(CHECK_SECONDS);
  t.same(statuses.map((s) => s.status), ['chainlocked']);
});

t.test('bounded: at most maxBlocks followed; the oldest is let go with a warning', async (t) => {
  const { bus, step, watcher, lines, asked } = setup(t, { maxBlocks: 3 });
  for (const h of ['b1', 'b2', 'b3', 'b4', 'b5']) bus.emit('block.submitted', submitted(h));
  t.same(watcher.following, ['b3', 'b4', 'b5']);
  t.equal(lines.filter((l) => String(l.msg).startsWith('no longer following block')).length, 2);
  await step(CHECK_SECONDS);
  t.same(asked.map((a) => a[1]).sort(), ['b3', 'b4', 'b5'], 'the let-go blocks are never asked about');
  // The default bound is 1,000.
  const big = setup(t);
  for (let i = 0; i < 1005; i++) big.bus.emit('block.submitted', submitted(`h${i}`));
  t.equal(big.watcher.following.length, 1000);
  t.equal(big.watcher.following[0], 'h5');
});

t.test('stop: no check after it, and the answer of a lookup that was on its way is dropped', async (t) => {
  const { bus, script, asked, statuses, step, watcher } = setup(t);
  let release: (c: BlockCheck) => void = () => {};
  script.set('ii', [new Promise<BlockCheck>((r) => (release = r))]);
  script.set('jj', [at(1)]);
  bus.emit('block.submitted', submitted('ii'));
  await step(CHECK_SECONDS);
  t.equal(asked.length, 1, 'the lookup is on its way');
  bus.emit('block.submitted', submitted('jj'));
  watcher.stop();
  release(at(1, true));
  await step(CHECK_SECONDS * 2);
  t.same(statuses, [], 'nothing told after stop');
  t.equal(asked.length, 1, 'no new check (nor a block submitted after stop followed)');
});
