import t from 'tap';
import { parseLine, type RpcRequest } from '../../src/stratum/jsonrpc.js';
import { parseSubmit } from '../../src/stratum/messages.js';
import { PoolConnection } from '../../src/upstream/pool-connection.js';
import type { UpstreamJob } from '../../src/upstream/types.js';
import { loadTranscript } from '../helpers/fixtures.js';
import { nextEvent, ScriptedPool, type ScriptedClient } from '../helpers/scripted-pool.js';

/**
 * The POOL side of a real session (node-stratum-pool talking to cpuminer-opt) replayed by the scripted pool:
 * each of our requests gets the lines the real pool sent after the matching miner request, in order, with
 * the answer's id set to ours. Our PoolConnection plays the miner's part.
 */

interface Step {
  /** The miner's request in the recording. */
  request: RpcRequest;
  /** What the pool sent after it, up to the miner's next line. */
  poolLines: string[];
}

function stepsOf(lines: ReturnType<typeof loadTranscript>): Step[] {
  const steps: Step[] = [];
  for (const rec of lines) {
    if (rec.dir === 'miner->pool') {
      const parsed = parseLine(rec.line);
      if (!parsed.ok || parsed.message.kind !== 'request') throw new Error(`transcript: not a request: ${rec.line}`);
      steps.push({ request: parsed.message, poolLines: [] });
    } else {
      if (steps.length === 0) throw new Error('transcript: pool line before any request');
      steps[steps.length - 1]!.poolLines.push(rec.line);
    }
  }
  return steps;
}

/** Answer each request with the recorded lines of the next unused step of the same method. */
function replay(steps: Step[], mismatches: string[]): (client: ScriptedClient, req: RpcRequest) => void {
  const used = new Set<number>();
  return (client, req) => {
    const i = steps.findIndex((s, k) => !used.has(k) && s.request.method === req.method);
    if (i === -1) {
      mismatches.push(`no recorded step left for ${req.method}`);
      return;
    }
    used.add(i);
    const step = steps[i]!;
    if (req.method === 'mining.submit' && JSON.stringify(req.params) !== JSON.stringify(step.request.params)) {
      mismatches.push(`submit ${JSON.stringify(req.params)} differs from the recorded ${JSON.stringify(step.request.params)}`);
    }
    for (const line of step.poolLines) {
      const msg = JSON.parse(line) as Record<string, unknown>;
      // The recorded answer to this request: give it our id. Notifications (id null) go as they are.
      if (!('method' in msg) && msg.id === step.request.id) client.send({ ...msg, id: req.id });
      else client.sendLine(line);
    }
  };
}

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
    if (result.accepted) accepted++;
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
