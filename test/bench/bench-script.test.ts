import { spawnSync } from 'node:child_process';
import t from 'tap';

// The benchmark commands' shell (src/bench/script.ts): --help exits 0, a usage problem is named on stderr
// with exit 2, and a module imported rather than run does nothing.
const run = (file: string, args: string[]) => spawnSync(process.execPath, ['--import=tsx', `src/bench/${file}.ts`, ...args], { encoding: 'utf8', timeout: 60_000 });

t.test('soak: --help, and a usage problem named with exit 2', async (t) => {
  const help = run('soak', ['--help']);
  t.equal(help.status, 0);
  t.match(help.stdout, /Usage: node dist\/bench\/soak\.js \[options\]/);
  const bad = run('soak', ['--devices', '1']);
  t.equal(bad.status, 2);
  t.match(bad.stderr, /^soak: --devices: expected an integer from 4/);
  t.equal(bad.stdout, '', 'nothing run');
});

t.test('bench: a usage problem named with exit 2', async (t) => {
  const bad = run('run', ['--sizes', 'x']);
  t.equal(bad.status, 2);
  t.match(bad.stderr, /^bench: --sizes: expected positive integers or 'max'/);
});

t.test('fanout-client: run without its JSON options, it says how it is run', async (t) => {
  const bad = run('fanout-client', []);
  t.equal(bad.status, 2);
  t.match(bad.stderr, /run by the benchmark/);
});

t.test('imported, a command does not run', async (t) => {
  const imported = spawnSync(process.execPath, ['--import=tsx', '-e', "import('./src/bench/soak.ts').then(() => process.stdout.write('imported'))"], { encoding: 'utf8', timeout: 60_000 });
  t.equal(imported.status, 0);
  t.equal(imported.stdout, 'imported');
});
