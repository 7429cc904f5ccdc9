import t from 'tap';
import { EventBus, type ProxyEventMap } from '../../src/core/events.js';
import { firstIdOf } from '../../src/cluster/messages.js';
import { devicesUnderTest, scriptedHost } from '../helpers/proxy-under-test.js';
import { until } from '../helpers/wait.js';

/**
 * A cluster worker's session ids start at its incarnation's range (firstSessionId), so the primary takes them
 * as they are: two workers' devices never share an id. (Share ids, the Proxy's firstShareId, are checked in
 * the books of a real cluster: cluster-stop.test.ts.)
 */
const host = scriptedHost();

t.test('session ids from firstSessionId, one after another; default 1', async (t) => {
  for (const [first, expected] of [
    [undefined, [1, 2, 3]],
    [firstIdOf(3), [firstIdOf(3), firstIdOf(3) + 1, firstIdOf(3) + 2]],
  ] as const) {
    const bus = new EventBus();
    const seen: ProxyEventMap['device.connected'][] = [];
    bus.on('device.connected', (e) => seen.push(e));
    const { connect } = await devicesUnderTest(t, host, bus, first === undefined ? {} : { firstSessionId: first });
    for (let i = 0; i < 3; i++) await connect();
    await until(() => seen.length === 3, 'three connections');
    t.same(
      seen.map((e) => e.sessionId),
      expected,
      `first ${first ?? 'default'}`,
    );
  }
});
