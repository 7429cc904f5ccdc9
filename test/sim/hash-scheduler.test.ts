import t from 'tap';
import { HashScheduler, type HashTask } from '../../src/sim/hash-scheduler.js';
import { sleep } from '../helpers/wait.js';

class FakeTask implements HashTask {
  done = 0;
  calls = 0;
  constructor(
    public hashrate: number,
    public busy = true,
  ) {}
  runHashes(n: number): number {
    this.calls++;
    // A little real work per hash so time passes like it does with X11.
    let x = 0;
    for (let i = 0; i < n * 200; i++) x = (x * 31 + i) | 0;
    this.done += n + (x & 0);
    return n;
  }
}

t.test('busy tasks share the fleet cap evenly; idle tasks are never run', async (t) => {
  const s = new HashScheduler({ maxHashrate: 2000, tickMs: 20, sliceMs: 4, chunk: 8 });
  const busy = [new FakeTask(1000), new FakeTask(1000), new FakeTask(1000), new FakeTask(1000)];
  const idle = new FakeTask(1000, false);
  for (const task of [...busy, idle]) s.add(task);
  const started = performance.now();
  s.start();
  t.teardown(() => s.stop());
  for (let i = 0; i < 250 && busy.some((b) => b.done < 100); i++) await sleep(20);
  s.stop();
  const elapsed = (performance.now() - started) / 1000;
  const total = busy.reduce((a, b) => a + b.done, 0);
  t.equal(idle.calls, 0, 'an idle task is never run');
  t.ok(busy.every((b) => b.done >= 100), 'every busy task got hashes');
  // Credit is only granted for elapsed time: the cap holds whatever the machine's speed.
  t.ok(total <= 2000 * elapsed + busy.length * 8, `total ${total} within the cap for ${elapsed.toFixed(2)} s`);
  const min = Math.min(...busy.map((b) => b.done));
  const max = Math.max(...busy.map((b) => b.done));
  t.ok(max - min <= 2 * 500 + 16, `even shares (min ${min}, max ${max})`);
  const st = s.stats();
  t.equal(st.tasks, 5);
  t.equal(st.busy, 4);
  t.equal(st.demandedHashrate, 4000);
  t.equal(st.grantedHashrate, 2000);
  t.equal(st.hashes, total);
});

t.test('a task removed or gone idle gets no more work; hashrates can differ', async (t) => {
  const s = new HashScheduler({ maxHashrate: 100_000, tickMs: 20 });
  const fast = new FakeTask(3000);
  const slow = new FakeTask(1000);
  const removed = new FakeTask(1000);
  s.add(fast);
  s.add(slow);
  s.add(removed);
  s.add(fast); // adding twice is harmless
  s.start();
  t.teardown(() => s.stop());
  for (let i = 0; i < 250 && removed.done === 0; i++) await sleep(20);
  s.remove(removed);
  s.remove(removed);
  const at = removed.done;
  for (let i = 0; i < 250 && slow.done < 300; i++) await sleep(20);
  slow.busy = false;
  const slowAt = slow.done;
  await sleep(100);
  s.stop();
  t.equal(removed.done, at, 'nothing after remove');
  t.equal(slow.done, slowAt, 'nothing while idle');
  t.ok(fast.done > slowAt, 'the faster task did more');
  t.equal(s.stats().tasks, 2);
});

t.test('options are checked', async (t) => {
  t.throws(() => new HashScheduler({ maxHashrate: 0 }), /maxHashrate/);
  t.throws(() => new HashScheduler({ tickMs: 0 }), /tickMs/);
});
