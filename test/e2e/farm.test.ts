import t from 'tap';
import { SHARE_KINDS } from '../../src/sim/fleet.js';
import { quiesce, startFleet, startPool, startProxy, WAIT } from '../helpers/farm.js';
import { until } from '../helpers/wait.js';

/**
 * 60 simulated ASICs (real X11) through the proxy to the simulated pool, which validates every forwarded share
 * on its own. Device difficulty 2e-7, pool difficulty 8e-7: a share that meets the device target meets the
 * pool's with probability 1/4, so about a quarter of the accepted shares go upstream.
 */
t.test('a farm of 60 devices: local verdicts, forwarding ratio, and the pool agrees with everything forwarded', async (t) => {
  // A hard network target: no found block, so no clean job lands on honest shares in flight.
  const pool = await startPool(t, { difficulty: 8e-7, nbits: '1d00ffff' });
  const app = await startProxy(t, [pool], { startDifficulty: 2e-7 });
  const accepted: { difficulty: number; meetsPool: boolean }[] = [];
  app.bus.on('share.accepted', (e) => accepted.push({ difficulty: e.difficulty, meetsPool: e.meetsPool }));
  const fleet = await startFleet(t, app, {
    devices: 60,
    hashrate: 250,
    workerPrefix: 'rack',
    // Devices 0-3 misbehave, each in one way, after 80% of their valid shares (a device finds about one share
    // every 5 s, so a lower rate can leave a kind short of two within the wait); the rest are honest.
    deviceOptions: (i) =>
      i === 0 ? { misbehaviour: { duplicate: 0.8 } } : i === 1 ? { misbehaviour: { stale: 0.8 } } : i === 2 ? { misbehaviour: { lowDifficulty: 0.8 } } : i === 3 ? { misbehaviour: { malformed: 0.8 } } : {},
  });
  await fleet.whenMining(60, WAIT);
  await until(() => fleet.stats().totals.accepted >= 300, '300 accepted shares', WAIT);
  const bad = ['duplicate', 'stale', 'lowDifficulty', 'malformed'] as const;
  await until(
    () => bad.every((k) => fleet.stats().byKind[k].submitted >= 2),
    () => `every misbehaviour at least twice (sent: ${bad.map((k) => `${k} ${fleet.stats().byKind[k].submitted}`).join(', ')})`,
    WAIT,
  );
  const s = await quiesce(fleet);
  await app.proxy.drain(5000);

  t.equal(fleet.stats().disconnects, 0, 'no device was disconnected');
  t.equal(s.byKind.valid.rejected, 0, `every valid share was accepted by the proxy (rejected by code: ${JSON.stringify(s.byKind.valid.rejectedByCode)})`);
  t.equal(s.byKind.valid.accepted, s.byKind.valid.submitted);
  const expectCode = { duplicate: 22, stale: 21, lowDifficulty: 23, malformed: 20 } as const;
  for (const [kind, code] of Object.entries(expectCode)) {
    const c = s.byKind[kind as keyof typeof expectCode];
    t.equal(c.accepted, 0, `${kind}: never accepted`);
    t.equal(c.rejectedByCode[code], c.submitted, `${kind}: every one rejected with ${code}`);
  }
  t.ok(SHARE_KINDS.includes('valid'));

  const p = pool.stats();
  const books = app.ledger.summary();
  const forwarded = books.forwarded;
  t.equal(p.totals.submitted, forwarded, 'the pool saw exactly the forwarded shares');
  t.equal(p.totals.rejected, 0, 'the pool rejected none of them');
  t.equal(p.totals.accepted, books.poolAccepted);
  t.equal(accepted.filter((a) => a.meetsPool).length, forwarded, 'only pool-qualifying shares were forwarded');
  t.equal(books.inFlight, 0, 'no forwarded share is waiting for an answer');
  // Expected forwards: each accepted share meets the pool target with probability (its difficulty / pool's).
  let mean = 0;
  let variance = 0;
  for (const a of accepted) {
    const q = Math.min(1, a.difficulty / 8e-7);
    mean += q;
    variance += q * (1 - q);
  }
  const sigma = Math.sqrt(variance);
  t.ok(Math.abs(forwarded - mean) <= 4 * sigma + 2, `forwarded ${forwarded}, expected ${mean.toFixed(1)} ± ${(4 * sigma + 2).toFixed(1)} (${accepted.length} accepted)`);
  t.equal(s.totals.accepted + (s.totals.rejected - s.byKind.duplicate.rejected - s.byKind.stale.rejected - s.byKind.lowDifficulty.rejected - s.byKind.malformed.rejected), s.byKind.valid.submitted, 'device-side books balance');
  const summary = app.ledger.summary();
  t.equal(summary.accepted, accepted.length, 'the ledger counted every share.accepted event');
  t.equal(summary.devicesOnline, 60);
});
