import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { startMetricsSut, type MetricsSut } from '../helpers/metrics-sut.js';
import { sleep } from '../helpers/wait.js';

/**
 * The metrics, dashboards and alert rules against a real Prometheus (Debian's `prometheus` and
 * `promtool`): Prometheus scrapes the system under test (test/helpers/metrics-sut.ts) every second while
 * devices mine through it, evaluates config/alerts.yml, and then every PromQL expression of the Grafana
 * dashboards and of the rules is run over Prometheus' HTTP API.
 *
 * What "returns data" means here:
 * - a dashboard query: status "success" and at least one sample with a finite value, after the template
 *   variables are substituted ($worker and $pool: a device and a pool of the scenario; $__rate_interval:
 *   10s, four scrape intervals as Grafana would pick; $__interval: 2s; $__range: 5m);
 * - a dashboard variable `label_values(M, L)`: `count by (L) (M)` has at least one series with label L;
 * - a recording rule: Prometheus reports it healthy, and its recorded series has a finite sample;
 * - an alert rule: Prometheus reports it healthy; its whole expression evaluates successfully (an empty
 *   result is legitimate: nothing is wrong); the expression with its final threshold comparison removed
 *   ("<value> <op> <number>" -> "<value>": every alert in config/alerts.yml is written that way, and this
 *   test fails if one is not) has a finite sample, so the alert watches series that exist; and for the
 *   alerts the scenario provokes (MetricsSut.expectedFiring: a device that went offline, a device
 *   rejecting 30 % of its shares, a pool that is down) the whole expression returns a sample.
 * `promtool check rules` must pass on config/alerts.yml, `promtool check config` on
 * config/prometheus.yml, and `promtool check metrics` on the /metrics text.
 */

const root = resolve(import.meta.dirname, '../..');
const dashboardsDir = join(root, 'grafana/dashboards');
const alertsFile = join(root, 'config/alerts.yml');
const prometheusFile = join(root, 'config/prometheus.yml');
const datasourceFile = join(root, 'grafana/provisioning/datasources/prometheus.yml');
const dashboardProviderFile = join(root, 'grafana/provisioning/dashboards/dashboards.yml');
const composeFile = join(root, 'config/compose.yaml');

const READY_TIMEOUT_MS = 60_000;
const DATA_TIMEOUT_MS = 80_000;

interface PanelQuery {
  where: string;
  expr: string;
}

interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating?: { list: Variable[] };
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: { refId: string; expr: string; datasource?: { type: string; uid: string } }[];
  panels?: Panel[];
}

interface Variable {
  name: string;
  type: string;
  datasource?: { type: string; uid: string };
  query?: string | { query: string };
  definition?: string;
}

function loadDashboards(): { file: string; dashboard: Dashboard }[] {
  return readdirSync(dashboardsDir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, dashboard: JSON.parse(readFileSync(join(dashboardsDir, file), 'utf8')) as Dashboard }));
}

function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

function dashboardQueries(): PanelQuery[] {
  const out: PanelQuery[] = [];
  for (const { file, dashboard } of loadDashboards()) {
    for (const panel of allPanels(dashboard.panels)) {
      for (const target of panel.targets ?? []) out.push({ where: `${file}: "${panel.title}" [${target.refId}]`, expr: target.expr });
    }
  }
  return out;
}

function dashboardVariables(): { where: string; query: string }[] {
  const out: { where: string; query: string }[] = [];
  for (const { file, dashboard } of loadDashboards()) {
    for (const v of dashboard.templating?.list ?? []) {
      if (v.type !== 'query') continue;
      const query = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
      out.push({ where: `${file}: variable $${v.name}`, query });
    }
  }
  return out;
}

function provisionedDatasourceUid(): string {
  const m = /^\s*uid:\s*(\S+)\s*$/m.exec(readFileSync(datasourceFile, 'utf8'));
  if (!m) throw new Error(`no uid in ${datasourceFile}`);
  return m[1]!;
}

/** The grafana template variables a real Grafana would fill in. */
function substitute(expr: string, sut: Pick<MetricsSut, 'sampleWorker' | 'samplePool'>): string {
  return expr
    .replaceAll(/\$\{?__rate_interval\}?/g, '10s')
    .replaceAll(/\$\{?__interval\}?/g, '2s')
    .replaceAll(/\$\{?__range\}?/g, '5m')
    .replaceAll(/\$\{?worker\}?/g, sut.sampleWorker)
    .replaceAll(/\$\{?pool\}?/g, sut.samplePool);
}

/** "<value> <op> <number>" -> "<value>", or null when the expression does not end with a threshold. */
export function withoutThreshold(expr: string): string | null {
  const m = /^([\s\S]*\S)\s*(?:==|!=|>=|<=|>|<)\s*-?\d+(?:\.\d+)?(?:e[+-]?\d+)?\s*$/.exec(expr.trim());
  return m ? m[1]! : null;
}

function which(bin: string): boolean {
  const r = spawnSync(bin, ['--version'], { stdio: 'ignore' });
  return !r.error;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address() as { port: number };
  await new Promise<void>((res) => server.close(() => res()));
  return port;
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}
interface QueryAnswer {
  ok: boolean;
  error?: string;
  samples: Sample[];
}

class PrometheusApi {
  constructor(readonly base: string) {}

  async query(expr: string): Promise<QueryAnswer> {
    const res = await request(`${this.base}/api/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: expr }).toString(),
    });
    const body = (await res.body.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
    if (body.status !== 'success' || !body.data) return { ok: false, error: body.error ?? `HTTP ${res.statusCode}`, samples: [] };
    const { resultType, result } = body.data;
    if (resultType === 'vector') return { ok: true, samples: result as Sample[] };
    if (resultType === 'scalar') return { ok: true, samples: [{ metric: {}, value: result as [number, string] }] };
    return { ok: false, error: `unexpected result type ${resultType}`, samples: [] };
  }

  async rules(): Promise<{ group: string; type: 'recording' | 'alerting'; name: string; query: string; health: string; lastError?: string }[]> {
    const res = await request(`${this.base}/api/v1/rules`);
    const body = (await res.body.json()) as { data: { groups: { name: string; rules: { type: 'recording' | 'alerting'; name: string; query: string; health: string; lastError?: string }[] }[] } };
    return body.data.groups.flatMap((g) => g.rules.map((r) => ({ group: g.name, ...r })));
  }

  async get(path: string): Promise<{ status: number; text: string }> {
    const res = await request(`${this.base}${path}`);
    return { status: res.statusCode, text: await res.body.text() };
  }
}

const finite = (a: QueryAnswer): boolean => a.ok && a.samples.some((s) => Number.isFinite(Number(s.value[1])));
const show = (a: QueryAnswer): string => (a.ok ? `${a.samples.length} series: ${JSON.stringify(a.samples.slice(0, 3))}` : `error: ${a.error}`);

t.test('dashboards are valid Grafana JSON wired to the provisioned datasource', async (t) => {
  const uid = provisionedDatasourceUid();
  const dashboards = loadDashboards();
  t.same(
    dashboards.map((d) => d.file),
    ['books.json', 'device-detail.json', 'farm-overview.json', 'problem-devices.json'],
  );
  const uids = new Set<string>();
  const knownUnits = new Set(['Hs', 'short', 's', 'percentunit', 'dateTimeFromNow', 'bytes']);
  for (const { file, dashboard: d } of dashboards) {
    t.match(d.uid, /^[a-zA-Z0-9_-]{1,40}$/, `${file}: uid`);
    t.notOk(uids.has(d.uid), `${file}: uid unique`);
    uids.add(d.uid);
    t.ok(typeof d.title === 'string' && d.title.length > 0, `${file}: title`);
    t.ok(Number.isInteger(d.schemaVersion) && d.schemaVersion >= 36, `${file}: schemaVersion ${d.schemaVersion}`);
    const panels = allPanels(d.panels);
    t.ok(panels.length > 3, `${file}: panels`);
    const ids = new Set<number>();
    for (const p of panels) {
      const where = `${file}: "${p.title}"`;
      t.ok(Number.isInteger(p.id) && !ids.has(p.id), `${where}: unique integer id`);
      ids.add(p.id);
      const g = p.gridPos;
      t.ok(g && g.w > 0 && g.h > 0 && g.x >= 0 && g.x + g.w <= 24 && g.y >= 0, `${where}: gridPos inside the 24-column grid`);
      if (p.type === 'row') continue;
      t.same(p.datasource, { type: 'prometheus', uid }, `${where}: panel datasource is the provisioned one`);
      t.ok((p.targets ?? []).length > 0, `${where}: has queries`);
      const refIds = new Set<string>();
      for (const target of p.targets ?? []) {
        t.ok(target.refId && !refIds.has(target.refId), `${where}: refId ${target.refId} unique`);
        refIds.add(target.refId);
        t.ok(typeof target.expr === 'string' && target.expr.trim().length > 0, `${where}: expr`);
        t.same(target.datasource ?? p.datasource, { type: 'prometheus', uid }, `${where} [${target.refId}]: datasource`);
      }
      const unit = (p as unknown as { fieldConfig?: { defaults?: { unit?: string } } }).fieldConfig?.defaults?.unit;
      if (unit !== undefined) t.ok(knownUnits.has(unit), `${where}: unit ${unit} is a Grafana unit id`);
    }
    for (const v of d.templating?.list ?? []) {
      if (v.type === 'query') t.same(v.datasource, { type: 'prometheus', uid }, `${file}: variable ${v.name} datasource`);
    }
  }
  const detail = dashboards.find((d) => d.file === 'device-detail.json')!.dashboard;
  t.ok(
    detail.templating?.list.some((v) => v.name === 'worker'),
    'the device dashboard has a worker variable',
  );

  // The files refer to each other consistently.
  const compose = readFileSync(composeFile, 'utf8');
  const providerPath = /^\s*path:\s*(\S+)\s*$/m.exec(readFileSync(dashboardProviderFile, 'utf8'))?.[1];
  t.ok(providerPath && compose.includes(`../grafana/dashboards:${providerPath}`), `compose mounts the dashboards where the provider reads them (${providerPath})`);
  t.ok(compose.includes('../grafana/provisioning:/etc/grafana/provisioning'), 'compose mounts the provisioning folder');
  t.ok(compose.includes('./alerts.yml:/etc/prometheus/alerts.yml') && /rule_files:\s*\n\s*-\s*alerts\.yml/.test(readFileSync(prometheusFile, 'utf8')), 'Prometheus loads the rules beside its config');
  t.match(readFileSync(datasourceFile, 'utf8'), /url:\s*http:\/\/prometheus:9090/, 'the datasource points at the compose Prometheus');
  t.match(compose, /context:\s*\.\.\s*\n\s*dockerfile:\s*Dockerfile/, 'the proxy image is built from the repository Dockerfile');
  t.match(compose, /"node", "dist\/cli\.js", "start", "--config", "\/etc\/dash-farm-proxy\/proxy\.json"/);
});

t.test('withoutThreshold strips exactly a final numeric comparison', async (t) => {
  t.equal(withoutThreshold('dash_proxy_device_connected == 0'), 'dash_proxy_device_connected');
  t.equal(withoutThreshold('a / b < 0.5'), 'a / b');
  t.equal(withoutThreshold('x >= 1e-3'), 'x');
  t.equal(withoutThreshold('(a unless b == 0)\n / c < 0.5'), '(a unless b == 0)\n / c');
  t.equal(withoutThreshold('rate(x[5m])'), null);
  t.equal(withoutThreshold('a > b'), null);
});

const haveBinaries = which('prometheus') && which('promtool');

t.test('promtool accepts the rules and the Prometheus config', { skip: haveBinaries ? false : 'prometheus/promtool not installed (apt-get install prometheus)' }, async (t) => {
  const rules = spawnSync('promtool', ['check', 'rules', alertsFile], { encoding: 'utf8' });
  t.equal(rules.status, 0, `promtool check rules: ${rules.stdout}${rules.stderr}`);
  const config = spawnSync('promtool', ['check', 'config', prometheusFile], { encoding: 'utf8' });
  t.equal(config.status, 0, `promtool check config: ${config.stdout}${config.stderr}`);
});

t.test('every dashboard and rule expression returns data from a real Prometheus', { skip: haveBinaries ? false : 'prometheus/promtool not installed (apt-get install prometheus)' }, async (t) => {
  const sut = await startMetricsSut();
  t.teardown(() => sut.close());
  const dir = mkdtempSync(join(tmpdir(), 'dash-proxy-prometheus-'));
  let child: ChildProcess | null = null;
  t.teardown(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  // The repository's rules, with group intervals shortened to the test's 1 s evaluation.
  writeFileSync(join(dir, 'alerts.yml'), readFileSync(alertsFile, 'utf8').replace(/^(\s*interval:\s*)\S+/gm, '$11s'));
  const jobName = /job_name:\s*(\S+)/.exec(readFileSync(prometheusFile, 'utf8'))?.[1] ?? 'dash-farm-proxy';
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1s',
      'rule_files:',
      '  - alerts.yml',
      'scrape_configs:',
      `  - job_name: ${jobName}`,
      '    static_configs:',
      `      - targets: ['${sut.target}']`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const logFile = join(dir, 'prometheus.log');
  const log = openSync(logFile, 'w');
  child = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', log, log] });
  closeSync(log);
  const prom = new PrometheusApi(`http://127.0.0.1:${port}`);
  const logTail = () => readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');

  // Ready, within bounds.
  const readyBy = Date.now() + READY_TIMEOUT_MS;
  let ready = false;
  while (!ready && Date.now() < readyBy && child.exitCode === null) {
    ready = await prom.get('/-/ready').then(
      (r) => r.status === 200,
      () => false,
    );
    if (!ready) await sleep(200);
  }
  if (!ready) return t.fail(`prometheus not ready within ${READY_TIMEOUT_MS} ms (exit ${child.exitCode}):\n${logTail()}`);

  // Everything to check, gathered from the files and from Prometheus' own reading of the rules.
  const panelQueries = dashboardQueries();
  const variables = dashboardVariables();
  t.ok(panelQueries.length >= 30, `${panelQueries.length} dashboard queries found`);
  const substituted = panelQueries.map((q) => ({ ...q, query: substitute(q.expr, sut) }));
  for (const q of substituted) t.notOk(q.query.includes('$'), `${q.where}: every template variable substituted`);
  const variableQueries = variables.map((v) => {
    const m = /^label_values\(\s*(.+?)\s*,\s*(\w+)\s*\)$/.exec(v.query);
    return { ...v, label: m?.[2] ?? '', query: m ? `count by (${m[2]}) (${m[1]})` : '' };
  });
  for (const v of variableQueries) t.ok(v.query !== '', `${v.where}: label_values(metric, label) form`);
  let rules = await prom.rules();
  const alerts = rules.filter((r) => r.type === 'alerting');
  const records = rules.filter((r) => r.type === 'recording');
  t.ok(alerts.length >= 4 && records.length >= 3, `Prometheus loaded ${alerts.length} alerts and ${records.length} recording rules`);
  for (const name of sut.expectedFiring) t.ok(alerts.some((a) => a.name === name), `expected alert ${name} exists`);
  for (const a of alerts) t.ok(withoutThreshold(a.query) !== null, `${a.name}: ends with a threshold comparison`);

  // Poll until every check passes (or time is up), then assert each once.
  type Check = { what: string; run: () => Promise<{ pass: boolean; detail: string }> };
  const checks: Check[] = [];
  for (const q of substituted) {
    checks.push({
      what: `${q.where} returns data: ${q.query}`,
      run: async () => {
        const a = await prom.query(q.query);
        return { pass: finite(a), detail: show(a) };
      },
    });
  }
  for (const v of variableQueries) {
    checks.push({
      what: `${v.where} has values: ${v.query}`,
      run: async () => {
        const a = await prom.query(v.query);
        return { pass: a.ok && a.samples.length > 0 && a.samples.every((s) => typeof s.metric[v.label] === 'string'), detail: show(a) };
      },
    });
  }
  const healthOf = (name: string) => rules.find((r) => r.name === name);
  for (const r of records) {
    checks.push({
      what: `recording rule ${r.name} is healthy and has data`,
      run: async () => {
        const a = await prom.query(r.name);
        const h = healthOf(r.name);
        return { pass: h?.health === 'ok' && finite(a), detail: `health ${h?.health} ${h?.lastError ?? ''}; ${show(a)}` };
      },
    });
  }
  for (const r of alerts) {
    const value = withoutThreshold(r.query) ?? r.query;
    const mustFire = sut.expectedFiring.includes(r.name);
    checks.push({
      what: `alert ${r.name}: healthy, evaluates, its value has data${mustFire ? ', and it fires in this scenario' : ''}`,
      run: async () => {
        const whole = await prom.query(r.query);
        const v = await prom.query(value);
        const h = healthOf(r.name);
        const pass = h?.health === 'ok' && whole.ok && finite(v) && (!mustFire || whole.samples.length > 0);
        return { pass, detail: `health ${h?.health} ${h?.lastError ?? ''}; whole: ${show(whole)}; value (${value}): ${show(v)}` };
      },
    });
  }

  // Poll until every check has passed once (or time is up), then assert each. A check that passed stays
  // passed: some values legitimately flap (a quantile over a 10 s window with no submit in it is NaN).
  const dataBy = Date.now() + DATA_TIMEOUT_MS;
  const dataFrom = Date.now();
  const passedAfter = new Map<Check, number>();
  const lastDetail = new Map<Check, string>();
  let rounds = 0;
  do {
    rounds++;
    rules = await prom.rules();
    for (const c of checks) {
      if (passedAfter.has(c)) continue;
      const r = await c.run();
      lastDetail.set(c, r.detail);
      if (r.pass) passedAfter.set(c, Date.now() - dataFrom);
    }
    if (passedAfter.size === checks.length) break;
    await sleep(1000);
  } while (Date.now() < dataBy);
  const slowest = [...passedAfter].sort((a, b) => b[1] - a[1]).slice(0, 2);
  t.comment(`${checks.length} checks, ${rounds} round(s) in ${Date.now() - dataFrom} ms after Prometheus was ready; last to pass: ${slowest.map(([c, ms]) => `${ms} ms ${c.what.slice(0, 70)}`).join('; ')}`);
  for (const c of checks) {
    const pass = passedAfter.has(c);
    t.ok(pass, c.what, pass ? {} : { diagnostic: true, detail: lastDetail.get(c) });
  }

  const target = JSON.parse((await prom.get('/api/v1/targets')).text) as { data: { activeTargets: { health: string; labels: { job: string } }[] } };
  t.same(
    target.data.activeTargets.map((a) => [a.labels.job, a.health]),
    [[jobName, 'up']],
    'Prometheus scrapes the proxy',
  );

  // promtool accepts the proxy's /metrics as it is served.
  const metricsText = await (await request(`${sut.baseUrl}/metrics`)).body.text();
  const lint = spawnSync('promtool', ['check', 'metrics'], { input: metricsText, encoding: 'utf8' });
  t.equal(lint.status, 0, `promtool check metrics: ${lint.stdout}${lint.stderr}`);

  // Prometheus and the JSON API give the same numbers once the farm stands still.
  sut.pause();
  const summary = (await (await request(`${sut.baseUrl}/api/summary`)).body.json()) as { accepted: number; devicesOnline: number };
  const sameBy = Date.now() + 30_000;
  let seen: QueryAnswer | null = null;
  while (Date.now() < sameBy) {
    seen = await prom.query('sum(dash_proxy_device_shares_total{result="accepted"})');
    if (finite(seen) && Number(seen.samples[0]!.value[1]) === summary.accepted) break;
    await sleep(500);
  }
  t.equal(Number(seen?.samples[0]?.value[1]), summary.accepted, 'accepted shares: Prometheus = /api/summary');
  const online = await prom.query('sum(dash_proxy_device_connected)');
  t.equal(Number(online.samples[0]?.value[1]), summary.devicesOnline, 'devices online: Prometheus = /api/summary');
});
