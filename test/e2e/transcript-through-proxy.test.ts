import t from 'tap';
import { createProxyApp } from '../../src/app.js';
import { buildConfig } from '../../src/config.js';
import { silentLogger } from '../../src/core/log.js';
import { parseLine } from '../../src/stratum/jsonrpc.js';
import { loadTranscript } from '../helpers/fixtures.js';
import { ScriptedPool } from '../helpers/scripted-pool.js';
import { hasher } from '../helpers/share-kit.js';
import { LineClient } from '../helpers/line-client.js';
import { replay, stepsOf } from '../helpers/transcript-replay.js';

/**
 * A real session through the whole proxy: the miner side of the cpuminer-opt / node-stratum-pool recording is
 * replayed against the proxy, and the pool side is played by a scripted pool answering with the recorded
 * lines. That pool sends difficulty and jobs before answering authorize, never answers
 * mining.extranonce.subscribe, and the miner reuses id 4 for every submit.
 *
 * The proxy splits the pool's 4-byte extranonce2: the first device gets prefix 00 (its whole extranonce1: the
 * pool's extranonce1 ends the coinb1 it gets) and 3 bytes of its own, so the recorded extranonce2 00000000 is
 * the device's 000000 behind the prefix, and every forwarded submit must equal the recorded one to the byte.
 */
t.test('the recorded miner, through the proxy, to the recorded pool: exact answers, exact forwarded submits', async (t) => {
  const transcript = loadTranscript();
  const steps = stepsOf(transcript);
  const mismatches: string[] = [];
  const pool = await ScriptedPool.start({ behaviour: replay(steps, mismatches) });
  t.teardown(() => pool.close());
  const worker = 'XjTsoFH5nzkPsuEnexYWNA6zjXEcb8rqL4.rig01';
  const config = buildConfig({
    pools: [{ name: 'nomp', url: pool.url, user: worker, password: 'x' }],
    listen: { host: '127.0.0.1', port: 0, tls: null },
    http: { host: '127.0.0.1', port: 0, token: null, allowedOrigins: [] },
    difficulty: { start: 256, min: 1e-9, max: 1e9, targetSharesPerMinute: 12, retargetSeconds: 30, maxStep: 4, multiplier: 1 },
    // The recorded miner's 108 submits are replayed back to back, far faster than it sent them.
    limits: { submitsPerSecond: 1000 },
  } as never);
  const app = await createProxyApp(config, { hasher, log: silentLogger });
  const { stratum } = await app.start();
  t.teardown(() => app.stop());

  const miner = await LineClient.connect(stratum.port);
  t.teardown(() => miner.close());
  const minerRequests = transcript.filter((r) => r.dir === 'miner->pool').map((r) => parseLine(r.line)).map((p) => (p.ok && p.message.kind === 'request' ? p.message : null));

  // subscribe, authorize, extranonce.subscribe: as recorded.
  const [sub, auth, exsub] = minerRequests as NonNullable<(typeof minerRequests)[number]>[];
  const subAnswer = await miner.request(sub!.method, sub!.params, sub!.id as number);
  t.same(subAnswer.result, [[['mining.set_difficulty', '00000001'], ['mining.notify', '00000001']], '00', 3], 'extranonce1: the device prefix 00 only (the pool\'s 68000000 travels in coinb1); 3 bytes of extranonce2 left');
  const authAnswer = await miner.request(auth!.method, auth!.params, auth!.id as number);
  t.equal(authAnswer.result, true);
  const exAnswer = await miner.request(exsub!.method, exsub!.params, exsub!.id as number);
  t.equal(exAnswer.result, true, 'the proxy answers extranonce.subscribe itself, though this pool never does');
  const firstDiff = await miner.waitFor((l) => l.method === 'mining.set_difficulty', 5000, true);
  t.same(firstDiff.params, [0.0001], 'the device difficulty starts at the pool\'s 0.0001 (never above the pool)');

  // The submits, each once the job it names has reached the device (the k-th notify is the pool's job k).
  const submits = minerRequests.filter((r) => r?.method === 'mining.submit');
  t.equal(submits.length, 108);
  const poolJobOrder: string[] = [];
  for (const rec of transcript) {
    const p = parseLine(rec.line);
    if (rec.dir === 'pool->miner' && p.ok && p.message.kind === 'request' && p.message.method === 'mining.notify') poolJobOrder.push(p.message.params[0] as string);
  }
  let answered = 0;
  for (const s of submits) {
    const [w, poolJob, en2, ntime, nonce] = s!.params as string[];
    const k = poolJobOrder.indexOf(poolJob!);
    await miner.waitFor(() => miner.notifications('mining.notify').length > k, 10_000, true);
    const localJob = miner.notifications('mining.notify')[k]!.params![0] as string;
    const before = miner.rawLines.length;
    miner.sendRaw(JSON.stringify({ method: 'mining.submit', params: [w, localJob, en2!.slice(2), ntime, nonce], id: 4 }) + '\n');
    await miner.waitFor((l) => l.id === 4, 10_000);
    const answer = miner.rawLines.slice(before).find((line) => line.startsWith('{"id":4'));
    if (answer === '{"id":4,"result":true,"error":null}') answered++;
    else t.fail(`submit ${nonce} on job ${poolJob}: ${answer}`);
  }
  t.equal(answered, 108, 'all 108 answered exactly {"id":4,"result":true,"error":null}, in order');
  t.same(mismatches, [], 'every request the proxy sent upstream matched a recorded one, submits to the byte');
  const upstreamSubmits = pool.clients[0]!.requests.filter((r) => r.method === 'mining.submit');
  t.equal(upstreamSubmits.length, 108, 'every share met the pool target and went upstream');
  t.same(upstreamSubmits[0]!.params, submits[0]!.params, 'the first forwarded submit is the recorded one');
  t.equal(app.ledger.summary().poolAccepted, 108);
  t.equal(app.ledger.summary().blockCandidates, 1, 'the share meeting the template nbits is spotted');
});
