import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { buildConfig, configFromEnv, DEFAULT_CONFIG, readConfigFile } from '../../src/config.js';
import { execForm, readDockerfile, repoRoot } from './dockerfile.js';

/**
 * The Dockerfile's essentials, read from the file itself (Docker's engine is not on the test machines; the
 * file was also checked with the dockerfile-utils validator, see the report). That the entry command and the
 * health check really work is tested by running them: test/deploy/entrypoint.test.ts.
 */

const { instructions, stages } = readDockerfile();
const final = stages[stages.length - 1]!;
const inFinal = (k: string) => final.instructions.filter((i) => i.keyword === k);
const runs = (stage: { instructions: { keyword: string; args: string }[] }) => stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);

const EXPECTED_ENTRY = ['node', 'dist/cli.js', 'start', '--config', '/etc/dash-farm-proxy/proxy.json'];

t.test('multi-stage: a build stage that compiles, a runtime stage with production dependencies only', async (t) => {
  t.ok(stages.length >= 2, `at least two stages (got ${stages.length})`);
  const build = stages.find((s) => s.name === 'build');
  t.ok(build, 'a stage named build');
  t.ok(runs(build!).some((r) => /\bnpm ci\b/.test(r) && !/--omit=dev/.test(r)), 'the build stage installs every dependency (npm ci)');
  t.ok(runs(build!).some((r) => /\bnpm run build\b/.test(r)), 'the build stage runs npm run build');
  t.ok(runs(final).some((r) => /\bnpm ci\b[^&]*--omit=dev/.test(r)), 'the runtime stage installs production dependencies only (npm ci --omit=dev)');
  t.notOk(runs(final).some((r) => /\bnpm run build\b|\bnpm (i|install)\b/.test(r)), 'the runtime stage neither builds nor installs anything else');
  const copies = inFinal('COPY').map((c) => c.args);
  t.ok(copies.some((c) => /^--from=build\s+\/app\/dist\s+\.\/dist$/.test(c)), 'the whole dist/ comes from the build stage');
  t.notOk(copies.some((c) => /^\.\s/.test(c) || /\bsrc\b/.test(c)), 'no sources in the runtime stage');
});

t.test('native modules: the build stage has the compilers before npm ci, the runtime stage takes the built binary', async (t) => {
  const build = stages.find((s) => s.name === 'build')!;
  const buildRuns = runs(build);
  const tools = buildRuns.findIndex((r) => /apt-get install\b/.test(r) && ['python3', 'make', 'g\\+\\+'].every((p) => new RegExp(`\\s${p}(\\s|$)`).test(r)));
  t.ok(tools >= 0, 'the build stage installs python3, make and g++ (better-sqlite3 builds from source without its prebuilt download)');
  t.ok(tools < buildRuns.findIndex((r) => /\bnpm ci\b/.test(r)), 'before npm ci');
  const copies = inFinal('COPY').map((c) => c.args);
  t.ok(copies.some((c) => /^--from=build\s+\/app\/node_modules\/better-sqlite3\/build\s+\.\/node_modules\/better-sqlite3\/build$/.test(c)), "better-sqlite3's compiled build comes from the build stage");
  t.notOk(runs(final).some((r) => /apt-get install/.test(r) && /g\+\+/.test(r)), 'no compilers in the runtime image');
  t.equal(build.image, final.image, 'both stages on the same Node image (the native binary matches its ABI)');
});

t.test('every stage is on a current LTS Node image (even major >= 20; the app needs >= 20.18)', async (t) => {
  for (const s of stages) {
    const m = /^node:(\d+)(?:[.\d]*)(-[a-z0-9-]+)?$/.exec(s.image);
    t.ok(m, `${s.image} is an official node image with a version tag`);
    const major = Number(m?.[1]);
    t.ok(major >= 20 && major % 2 === 0, `${s.image}: major ${major} is an LTS line`);
  }
  t.match(final.image, /-slim$|-alpine/, 'the runtime image is a small variant');
  const engines = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
  const min = Number(/(\d+)/.exec(engines)![1]);
  t.ok(Number(/^node:(\d+)/.exec(final.image)![1]) >= min, `the image's Node satisfies engines.node (${engines})`);
});

t.test('runs as a non-root user', async (t) => {
  const users = inFinal('USER');
  t.ok(users.length > 0, 'the runtime stage sets USER');
  const user = users[users.length - 1]!.args.split(':')[0]!;
  t.not(user, 'root');
  t.not(user, '0');
  const lastUser = final.instructions.lastIndexOf(users[users.length - 1]!);
  t.notOk(
    final.instructions.slice(lastUser).some((i) => i.keyword === 'RUN'),
    'nothing runs as root after USER (every RUN happens before it)',
  );
});

t.test('exposes the default device and HTTP ports of the configuration', async (t) => {
  const exposed = inFinal('EXPOSE').flatMap((e) => e.args.split(/\s+/)).map((p) => Number(p.split('/')[0]));
  t.ok(exposed.includes(DEFAULT_CONFIG.listen.port), `EXPOSE ${DEFAULT_CONFIG.listen.port} (listen.port)`);
  t.ok(exposed.includes(DEFAULT_CONFIG.http.port), `EXPOSE ${DEFAULT_CONFIG.http.port} (http.port)`);
  t.same([DEFAULT_CONFIG.listen.port, DEFAULT_CONFIG.http.port], [3333, 8080]);
});

t.test('a HEALTHCHECK that uses node itself against /healthz', async (t) => {
  const checks = inFinal('HEALTHCHECK');
  t.equal(checks.length, 1);
  const argv = execForm(checks[0]!.args);
  t.ok(argv, 'exec form');
  t.equal(argv![0], 'node', 'node, not curl (slim images have no curl)');
  t.match(argv!.join(' '), /http:\/\/127\.0\.0\.1:.*8080.*\/healthz/);
  t.match(checks[0]!.args, /--interval=\d+s/);
  t.match(checks[0]!.args, /--timeout=\d+s/);
});

t.test('the entry is exactly the command the tests run', async (t) => {
  t.same(inFinal('ENTRYPOINT'), [], 'no ENTRYPOINT of our own: compose `command:` replaces CMD rather than being appended');
  const cmds = instructions.filter((i) => i.keyword === 'CMD');
  t.same(execForm(cmds[cmds.length - 1]!.args), EXPECTED_ENTRY);
  t.ok(runs(final).some((r) => r.includes(`> ${EXPECTED_ENTRY[4]}`)), 'the image provides the config file the entry names');
  const compose = path.join(repoRoot, 'config/compose.yaml');
  if (existsSync(compose)) {
    const m = /^\s*command:\s*(\[.*\])\s*$/m.exec(readFileSync(compose, 'utf8'));
    if (m) t.same(JSON.parse(m[1]!), EXPECTED_ENTRY, 'config/compose.yaml runs the same command');
  }
});

t.test("the image's empty config plus DASH_PROXY_* variables is a complete configuration", async (t) => {
  // What `docker run -e DASH_PROXY_POOLS=... dash-farm-proxy` does with the {} the image ships.
  const dir = mkdtempSync(path.join(tmpdir(), 'dash-proxy-docker-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'proxy.json');
  const shipped = /echo '(\{\})' > \/etc\/dash-farm-proxy\/proxy\.json/.exec(runs(final).join('\n'));
  t.ok(shipped, 'the image writes a JSON object as its default config');
  writeFileSync(file, shipped![1]!);
  const cfg = buildConfig(readConfigFile(file), configFromEnv({ DASH_PROXY_POOLS: '[{"url":"stratum+tcp://pool.farm.lan:3333","user":"Xaddr.farm"}]', DASH_PROXY_HTTP_TOKEN: 's3cret' }));
  t.equal(cfg.pools[0]!.url, 'stratum+tcp://pool.farm.lan:3333');
  t.equal(cfg.http.token, 's3cret');
  t.equal(cfg.listen.host, '0.0.0.0', 'listens on every interface in the container');
  t.equal(cfg.http.host, '0.0.0.0');
});

t.test('.dockerignore keeps host artifacts and secrets out of the build context, and keeps what the build needs', async (t) => {
  const ignored = readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  for (const p of ['node_modules', 'dist', '.git', '**/*.pem', '**/*.key', '.env']) t.ok(ignored.includes(p), `${p} is ignored`);
  for (const needed of ['src', 'package.json', 'package-lock.json', 'tsconfig.json']) {
    t.notOk(
      ignored.some((p) => p === needed || p === `${needed}/` || p === '*' || p === '**'),
      `${needed} stays in the context`,
    );
  }
});
