import { guardChannel, sendAndWait, sendToPrimary } from '../../src/cluster/worker-channel.js';

/**
 * A forked child for worker-channel.test.ts, a worker's channel without the proxy around it. argv[2]:
 * - `guarded` / `unguarded`: the parent has closed the channel; a send without a callback (as prom-client
 *   answers a metrics request) then makes node emit 'error' on process: guarded, the child lives on and
 *   exits 0; unguarded, node's own behaviour (an uncaught error: exit 1).
 * - `wait N` / `exit-at-once N`: N large messages, then exit: after sendAndWait of a last message, or at
 *   once (node's own behaviour: what is still queued is lost).
 */
const mode = process.argv[2];
const BATCHES = Number(process.argv[3] ?? 0);
const errors: string[] = [];
if (mode === 'guarded' || mode === 'wait') guardChannel(process, (err) => errors.push(err.message));

if (mode === 'guarded' || mode === 'unguarded') {
  process.once('disconnect', () => {
    process.send?.({ answer: 'after the channel closed' });
    setTimeout(() => {
      process.stdout.write(`survived: ${errors.length} send error(s) told\n`);
      process.exit(0);
    }, 200);
  });
  sendToPrimary(process, { ready: true });
} else {
  const payload = 'x'.repeat(256 * 1024);
  for (let i = 0; i < BATCHES; i++) sendToPrimary(process, { batch: i, payload });
  if (mode === 'wait') void sendAndWait(process, { last: true }).then((written) => {
    process.stdout.write(`written: ${written}\n`);
    process.exit(0);
  });
  else process.exit(0);
}
