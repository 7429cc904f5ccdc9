import t from 'tap';
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A worker's channel to its primary (src/cluster/worker-channel.ts), in a real forked process: a send after
 * the channel closed does not crash it (prom-client's metrics answer is such a send), and its last messages
 * are written before it exits. Each case runs next to node's own behaviour without the fix, which loses.
 */
const BATCHES = 24;
const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'worker-channel-child.ts');

function run(args: string[], onMessage: (m: unknown, c: ReturnType<typeof fork>) => void = () => {}): Promise<{ code: number | null; out: string; err: string; messages: unknown[] }> {
  const c = fork(child, args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let out = '';
  let err = '';
  const messages: unknown[] = [];
  c.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  c.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  c.on('message', (m) => {
    messages.push(m);
    onMessage(m, c);
  });
  const timer = setTimeout(() => c.kill('SIGKILL'), 20_000);
  return new Promise((resolve) =>
    c.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err, messages });
    }),
  );
}

t.test('a send after the channel closed (as prom-client answers) is told, not a crash', async (t) => {
  const closeOnReady = (_m: unknown, c: ReturnType<typeof fork>) => c.disconnect();
  const guarded = await run(['guarded'], closeOnReady);
  t.equal(guarded.code, 0, `the guarded worker lives on and exits 0 (${guarded.err.trim()})`);
  t.match(guarded.out, /survived: 1 send error\(s\) told/);
  const unguarded = await run(['unguarded'], closeOnReady);
  t.equal(unguarded.code, 1, 'without the guard node crashes the process');
  t.match(unguarded.err, /ERR_IPC_CHANNEL_CLOSED|Channel closed/);
});

t.test("the last messages are written before the worker exits", async (t) => {
  const waited = await run(['wait', String(BATCHES)]);
  t.equal(waited.code, 0);
  t.match(waited.out, /written: true/);
  const batches = waited.messages.filter((m) => typeof (m as { batch?: unknown }).batch === 'number');
  t.equal(batches.length, BATCHES, `every batch arrived (${BATCHES} of 256 KiB), then the last message`);
  t.same(waited.messages.at(-1), { last: true });
  const atOnce = await run(['exit-at-once', String(BATCHES)]);
  const lost = BATCHES - atOnce.messages.length;
  t.ok(lost > 0, `exiting at once loses what node still queued (${lost} of ${BATCHES} lost): the wait is needed`);
});
