import t from 'tap';
import { parseSubmit } from '../../src/stratum/messages.js';
import { PoolConnection } from '../../src/upstream/pool-connection.js';
import type { UpstreamJob } from '../../src/upstream/types.js';
import { loadTranscript } from '../helpers/fixtures.js';
import { nextEvent, ScriptedPool } from '../helpers/scripted-pool.js';
import { replay, stepsOf } from '../helpers/transcript-replay.js';

/**
 * The POOL side of a real session (node-stratum-pool talking to cpuminer-opt) replayed by the scripted pool:
 * each of our requests gets the lines the real pool sent after the matching miner request, in order, with
 * the answer's id set to ours. Our PoolConnection plays the miner's part.
 */

t.test('replaying node-stratum-pool: ready with 68000000/4, 3 jobs with the difficulty in force, 108 submits accepted', async (t) => {
  const steps = stepsOf(loadTranscript());
  const mismatches: string[] = [];
  const pool = await ScriptedPool.start({ behaviour: replay(steps, mismatches) });
  t.teardown(() => pool.close());
  const worker = 'XjTsoFH5nzkPsuEnexYWNA6zjXEcb8rqL4.rig01';
  const conn = new PoolConnection({ name: 'nomp', url: pool.url, user: worker, password: 'x' });
  t.teardown(async () => {
    conn.close();
    await conn.closed;
  });
  const jobs: UpstreamJob[] = [];
  conn.on('job', (j) => jobs.push(j));
  const ready = nextEvent<[{ extranonce1: string; extranonce2Size: number }]>(conn, 'ready');
  conn.start();
  const [info] = await ready;
  t.match(info, { pool: 'nomp', extranonce1: '68000000', extranonce2Size: 4 });
  t.same(conn.extranonce, { extranonce1: '68000000', extranonce2Size: 4 });

  const client = pool.clients[0]!;
  t.same(client.requests.find((r) => r.method === 'mining.authorize')?.params, [worker, 'x']);
  await client.next('mining.extranonce.subscribe');

  const submits = steps.filter((s) => s.request.method === 'mining.submit');
  t.equal(submits.length, 108);
  let accepted = 0;
  for (const s of submits) {
    const p = parseSubmit(s.request.params);
    const result = await conn.submit({ worker: p.worker, jobId: p.jobId, extranonce2: p.extranonce2, ntime: p.ntime, nonce: p.nonce });
    if (result.kind === 'accepted') accepted++;
    else t.fail(`submit on job ${p.jobId} nonce ${p.nonce}: ${result.reason}`);
  }
  t.equal(accepted, 108, 'every recorded submit, forwarded with its params, gets the pool\'s true');
  t.same(mismatches, [], 'every request matched a recorded one, params included');

  // All 3 notifies were sent before the last submit answer, in order.
  t.same(
    jobs.map((j) => [j.notify.jobId, j.difficulty, j.notify.cleanJobs]),
    [
      ['1', 0.0001, true],
      ['2', 0.0001, true],
      ['3', 0.0012, false],
    ],
    'jobs with the difficulty in force when each arrived',
  );
  for (const j of jobs) t.same(j.extranonce, { extranonce1: '68000000', extranonce2Size: 4 });
  t.equal(jobs[0]!.notify.prevhash, 'bab4f0ed5b345d66f09116b42e910af88779357e5913fad10000000000000000');
  t.equal(conn.garbageLines, 0);
  t.equal(conn.badNotifies, 0);
});
