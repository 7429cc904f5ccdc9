import t from 'tap';
import { planSplit, SlotAllocator, slotPlace } from '../../src/proxy/extranonce-allocator.js';

t.test('planSplit: fewest prefix bytes for the farm, never leaving a device under the minimum', async (t) => {
  t.same(planSplit(8, 100), { prefixSize: 1, deviceExtranonce2Size: 7, capacity: 256 });
  t.same(planSplit(8, 1000), { prefixSize: 2, deviceExtranonce2Size: 6, capacity: 65536 });
  t.same(planSplit(8, 100_000), { prefixSize: 3, deviceExtranonce2Size: 5, capacity: 16777216 });
  t.same(planSplit(4, 10_000), { prefixSize: 1, deviceExtranonce2Size: 3, capacity: 256 }, 'a 4-byte pool space keeps 3 bytes per device: 256 devices per lane');
  t.same(planSplit(5, 10_000), { prefixSize: 2, deviceExtranonce2Size: 3, capacity: 65536 });
  t.same(planSplit(3, 10), { prefixSize: 1, deviceExtranonce2Size: 2, capacity: 256 }, 'below the minimum the split still works with 1 byte');
  t.throws(() => planSplit(1, 10), /leaves no room/);
  t.throws(() => planSplit(0, 10), /positive integer/);
});

t.test('slot arithmetic: lane = floor(slot / 256^P), prefix = slot mod 256^P', async (t) => {
  t.same(slotPlace(0, 1), { slot: 0, lane: 0, prefix: '00' });
  t.same(slotPlace(255, 1), { slot: 255, lane: 0, prefix: 'ff' });
  t.same(slotPlace(256, 1), { slot: 256, lane: 1, prefix: '00' });
  t.same(slotPlace(513, 1), { slot: 513, lane: 2, prefix: '01' });
  t.same(slotPlace(65536 + 0x1234, 2), { slot: 65536 + 0x1234, lane: 1, prefix: '1234' });
  t.same(slotPlace(3, 3), { slot: 3, lane: 0, prefix: '000003' });
});

t.test('slots: lowest first, lane after lane, until every lane is full', async (t) => {
  const a = new SlotAllocator({ prefixSize: 1 }, 2);
  t.equal(a.capacity, 512);
  const seen = new Set<string>();
  for (let i = 0; i < 256; i++) {
    const p = a.allocate()!;
    t.equal(p.lane, 0);
    seen.add(p.prefix);
  }
  t.equal(seen.size, 256, 'lane 0: every prefix once');
  t.equal(a.availableIn(0), 0);
  t.same(a.allocate(), { slot: 256, lane: 1, prefix: '00' }, 'then lane 1, from prefix 00 again');
  t.equal(a.availableIn(1), 255);
  for (let i = 0; i < 255; i++) a.allocate();
  t.equal(a.allocate(), null, 'full');
  t.equal(a.available, 0);
  t.throws(() => new SlotAllocator({ prefixSize: 1 }, 0), /lanes must be a positive integer/);
});

t.test('a freed slot waits for every channel of its lane that held a current job, then the lowest free one comes first', async (t) => {
  const a = new SlotAllocator<string>({ prefixSize: 1 }, 2);
  for (let i = 0; i < 512; i++) a.allocate();
  a.release(0x2a, [['alice-lane0', 7], ['fee-lane0', 3]]);
  t.equal(a.allocate(), null, 'quarantined while jobs of generation 7 (alice) and 3 (fee) can still be submitted');
  a.advance('alice-lane0', 7);
  t.equal(a.allocate(), null, 'alice still at generation 7');
  a.advance('alice-lane0', 8);
  a.advance('other-lane', 99);
  t.equal(a.allocate(), null, 'the fee target\'s connection still at generation 3');
  a.advance('fee-lane0', 4);
  t.same(a.allocate(), { slot: 0x2a, lane: 0, prefix: '2a' }, 'reusable once both moved on');

  a.release(0x120, [['alice-lane1', 1]]);
  a.release(0x10, []);
  a.release(0x05, []);
  t.same(a.allocate(), { slot: 0x05, lane: 0, prefix: '05' }, 'no channel with a current job: free at once; the lowest first');
  t.same(a.allocate(), { slot: 0x10, lane: 0, prefix: '10' });
  t.equal(a.allocate(), null);
  a.forget('alice-lane1');
  t.same(a.allocate(), { slot: 0x120, lane: 1, prefix: '20' }, 'a closed channel holds no job anyone can submit on');
  a.release(0xff, []);
  a.release(0xff, []);
  t.equal(a.available, 1, 'a double release counts once');
});
