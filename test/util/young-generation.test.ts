import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { shouldKeepYoungGenerationSmall, YOUNG_GENERATION_FLAG } from '../../src/util/young-generation.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));

t.test('the young generation is held unless the operator sized it on the command line or in NODE_OPTIONS', async (t) => {
  t.equal(YOUNG_GENERATION_FLAG, '--semi-space-growth-factor=1');
  t.ok(shouldKeepYoungGenerationSmall([], undefined));
  t.ok(shouldKeepYoungGenerationSmall(['--import', 'tsx', '--max-old-space-size=512'], '--enable-source-maps'));
  t.notOk(shouldKeepYoungGenerationSmall(['--max-semi-space-size=64'], undefined));
  t.notOk(shouldKeepYoungGenerationSmall(['--max-semi-space-size', '64'], undefined));
  t.notOk(shouldKeepYoungGenerationSmall([], '--max-old-space-size=512 --semi-space-growth-factor=4'));
  t.notOk(shouldKeepYoungGenerationSmall([], '--min_semi_space_size=2'));
  t.notOk(shouldKeepYoungGenerationSmall([], '"--max-semi-space-size=32" "--import=x.mjs"'));
  // A flag whose name only starts like one of them is not one of them.
  t.ok(shouldKeepYoungGenerationSmall(['--max-semi-space-sizes=3'], undefined));
});

/**
 * A child process allocates as a proxy taking thousands of devices does (many objects surviving scavenges) and
 * prints its new space's size in KiB. `mode`: 'keep' holds the young generation, 'keep-worker' also starts a
 * worker thread (which resets V8's growth factor) the way the books start theirs, 'none' does neither.
 */
function newSpaceAfterChurn(mode: 'keep' | 'keep-worker' | 'none', nodeOptions = '', workerDir = ''): { kept: boolean; newSpaceKiB: number } {
  const script = `
    import v8 from 'node:v8';
    import { keepYoungGenerationSmall } from './src/util/young-generation.ts';
    import { pathToFileURL } from 'node:url';
    import { startBooksWorker } from './src/books/worker-thread.ts';
    const mode = ${JSON.stringify(mode)};
    const newSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
    const churn = () => {
      let live = [];
      for (let i = 0; i < 3_000_000; i++) {
        live.push({ i, a: [i] });
        if (live.length > 200_000) live = [];
      }
      process.stdout.write(JSON.stringify({ kept, newSpaceKiB: Math.round(newSpace() / 1024) }));
    };
    const kept = mode !== 'none' && keepYoungGenerationSmall();
    if (mode === 'keep-worker') {
      // A compiled worker (.js), as the books start theirs from dist/: idle.js beside caller.js.
      const worker = startBooksWorker(pathToFileURL(${JSON.stringify(workerDir)} + '/caller.js').href, 'idle', null);
      worker.ref();
      // Past the next re-assertion of the flag.
      worker.once('online', () => setTimeout(() => { churn(); worker.terminate(); }, 1500));
    } else churn();
  `;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: repo,
    env: { ...process.env, NODE_OPTIONS: nodeOptions },
    timeout: 60_000,
    encoding: 'utf8',
  });
  return JSON.parse(out) as { kept: boolean; newSpaceKiB: number };
}

t.test('held, the new space stays at its starting size through an allocation burst; without it, it grows', async (t) => {
  const held = newSpaceAfterChurn('keep');
  const grown = newSpaceAfterChurn('none');
  t.ok(held.kept);
  t.ok(held.newSpaceKiB > 0 && held.newSpaceKiB <= 4096, `held: ${held.newSpaceKiB} KiB`);
  t.notOk(grown.kept);
  t.ok(grown.newSpaceKiB >= 8192, `not held: ${grown.newSpaceKiB} KiB`);
});

t.test('starting a worker thread does not undo it for long (the flag is set again every second)', async (t) => {
  const dir = t.testdir({ 'idle.js': 'setTimeout(() => {}, 2000);\n' });
  const held = newSpaceAfterChurn('keep-worker', '', dir);
  t.ok(held.kept);
  t.ok(held.newSpaceKiB > 0 && held.newSpaceKiB <= 4096, `held with a worker thread: ${held.newSpaceKiB} KiB`);
});

t.test("an operator's own semi-space flag in NODE_OPTIONS wins", async (t) => {
  const grown = newSpaceAfterChurn('keep', '--max-semi-space-size=32');
  t.notOk(grown.kept);
  t.ok(grown.newSpaceKiB >= 8192, `operator's flag: ${grown.newSpaceKiB} KiB`);
});
