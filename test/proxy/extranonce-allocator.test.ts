import t from 'tap';
import { ExtranonceAllocator, planSplit } from '../../src/proxy/extranonce-allocator.js';

t.test('planSplit: fewest prefix bytes for the farm, never leaving a device under the minimum', async (t) => {
  t.same(planSplit(8, 100), { prefixSize: 1, deviceExtranonce2Size: 7, capacity: 256 });
  t.same(planSplit(8, 1000), { prefixSize: 2, deviceExtranonce2Size: 6, capacity: 65536 });
  t.same(planSplit(8, 100_000), { prefixSize: 3, deviceExtranonce2Size: 5, capacity: 16777216 });
  t.same(planSplit(4, 10_000), { prefixSize: 1, deviceExtranonce2Size: 3, capacity: 256 }, 'a 4-byte pool space keeps 3 bytes per device: 256 devices per connection');
  t.same(planSplit(5, 10_000), { prefixSize: 2, deviceExtranonce2Size: 3, capacity: 65536 });
  t.same(planSplit(3, 10), { prefixSize: 1, deviceExtranonce2Size: 2, capacity: 256 }, 'below the minimum the split still works with 1 byte');
  t.throws(() => planSplit(1, 10), /leaves no room/);
  t.throws(() => planSplit(0, 10), /positive integer/);
});

t.test('allocate unique prefixes until full', async (t) => {
  const a = new ExtranonceAllocator(planSplit(4, 10));
  const seen = new Set<string>();
  for (let i = 0; i < 256; i++) seen.add(a.allocate()!);
  t.equal(seen.size, 256);
  t.ok([...seen].every((p) => /^[0-9a-f]{2}$/.test(p)));
  t.equal(a.allocate(), null, 'full');
});

t.test('a freed prefix is not reused until the job generation moves on', async (t) => {
  const a = new ExtranonceAllocator(planSplit(4, 10));
  const all: string[] = [];
  for (let i = 0; i < 256; i++) all.push(a.allocate()!);
  a.release('2a', 7);
  t.equal(a.allocate(), null, 'quarantined while jobs of generation 7 can still be submitted');
  a.advance(7);
  t.equal(a.allocate(), null, 'still generation 7');
  a.advance(8);
  t.equal(a.allocate(), '2a', 'reusable after a clean job');
  a.release('ff', 8);
  a.release('ff', 8);
  t.equal(a.available, 0, 'a double release counts once');
});
