import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { buildConfig, configFromEnv, readConfigFile } from '../../src/config.js';
import { CidrSet } from '../../src/downstream/access.js';
import { haproxyBinary } from '../helpers/haproxy.js';
import { repoRoot } from './dockerfile.js';

/**
 * The example past one host (config/compose.cluster.yaml): HAProxy (config/haproxy.cfg) in front of two
 * proxies, one PostgreSQL ledger, Prometheus (config/prometheus.cluster.yml) scraping both, Grafana.
 * Docker's engine is not on the test machines: the compose file is parsed (with the `yaml` package tap
 * already brings) and its parts checked against each other and against the proxy's own configuration
 * loader; HAProxy checks its configuration itself (`haproxy -c`, skipped without haproxy), and promtool
 * Prometheus' (skipped without promtool).
 */
const config = (name: string) => path.join(repoRoot, 'config', name);
const haproxyCfg = readFileSync(config('haproxy.cfg'), 'utf8');
type Service = { image?: string; build?: unknown; environment?: Record<string, string>; volumes?: string[]; ports?: string[]; networks?: unknown; depends_on?: unknown; healthcheck?: unknown };
const compose = parse(readFileSync(config('compose.cluster.yaml'), 'utf8')) as { services: Record<string, Service>; networks: Record<string, { ipam: { config: { subnet: string }[] } }> };
const proxies = ['proxy-a', 'proxy-b'];

t.test('haproxy -c accepts config/haproxy.cfg (the proxies\' names are resolved at run time)', { skip: haproxyBinary() ? false : 'haproxy is not installed (apt-get install haproxy; .ci/run does)' }, async (t) => {
  const check = spawnSync(haproxyBinary()!, ['-c', '-f', config('haproxy.cfg')], { encoding: 'utf8', timeout: 30_000 });
  t.equal(check.status, 0, `haproxy -c: ${check.stdout}${check.stderr}`);
  t.match(check.stdout + check.stderr, /Configuration file is valid/);
});

t.test('HAProxy sends PROXY v2 to each proxy and checks its /readyz; names resolved at run time', async (t) => {
  const servers = [...haproxyCfg.matchAll(/^\s*server\s+(\S+)\s+(\S+):(\d+)\s+(.*)$/gm)].map((m) => ({ name: m[1], host: m[2], port: Number(m[3]), options: m[4]! }));
  t.same(servers.map((s) => s.host), proxies, 'one server per proxy service of the compose file');
  for (const s of servers) {
    t.equal(s.port, 3333, `${s.name}: the proxy's device port`);
    t.match(s.options, /\bsend-proxy-v2\b/, `${s.name}: send-proxy-v2`);
    t.match(s.options, /\bport 8080\b/, `${s.name}: health checks on the proxy's HTTP port`);
  }
  t.match(haproxyCfg, /option httpchk GET \/readyz/);
  t.match(haproxyCfg, /http-check expect status 200/);
  t.match(haproxyCfg, /default-server[^\n]*\binit-addr last,libc,none\b[^\n]*\bcheck\b/);
  t.match(haproxyCfg, /default-server[^\n]*\bresolvers docker\b/);
  t.match(haproxyCfg, /nameserver \S+ 127\.0\.0\.11:53/, "Docker's DNS");
  t.match(haproxyCfg, /frontend stratum\s+bind :3333/);
});

t.test('the compose file: HAProxy, two proxies, one PostgreSQL ledger, Prometheus, Grafana', async (t) => {
  const s = compose.services;
  t.same(Object.keys(s).sort(), ['grafana', 'haproxy', 'ledger', 'prometheus', 'proxy-a', 'proxy-b']);
  t.ok(s.haproxy!.volumes!.includes('./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro'), 'HAProxy runs config/haproxy.cfg');
  t.ok(s.haproxy!.ports!.includes('3333:3333'), 'devices connect to HAProxy');
  t.match(s.ledger!.image, /^postgres:/);
  t.ok(s.ledger!.healthcheck, 'the ledger has a health check the proxies wait for');
  t.ok(s.prometheus!.volumes!.includes('./prometheus.cluster.yml:/etc/prometheus/prometheus.yml:ro'));
  for (const v of [...s.haproxy!.volumes!, ...s.prometheus!.volumes!, ...s.grafana!.volumes!, ...s['proxy-a']!.volumes!]) {
    const source = v.split(':')[0]!;
    if (source.startsWith('.') && source !== './proxy.json') t.ok(existsSync(path.join(repoRoot, 'config', source)), `mounted ${source} exists`);
  }
});

t.test('each proxy: PROXY protocol required from HAProxy\'s address only, the shared PostgreSQL books, its own name', async (t) => {
  const haproxyAddress = (compose.services.haproxy!.networks as Record<string, { ipv4_address: string }>).farm!.ipv4_address;
  const subnet = compose.networks.farm!.ipam.config[0]!.subnet;
  t.ok(CidrSet.parse([subnet]).has(haproxyAddress), `HAProxy's fixed address ${haproxyAddress} is in the network ${subnet}`);
  const example = readConfigFile(config('proxy.example.json'));
  const urls = new Set<string>();
  for (const name of proxies) {
    const env = compose.services[name]!.environment!;
    // The example's pools are placeholders: the operator's own go in config/proxy.json.
    const c = buildConfig(example, { pools: [{ url: 'stratum+tcp://pool.lan:3333', user: 'Xfarm' }] }, configFromEnv(env));
    t.equal(c.listen.proxyProtocol, 'required', `${name}: a header from HAProxy on every connection`);
    t.same(c.listen.trustedProxies, [haproxyAddress], `${name}: trusts HAProxy only`);
    t.equal(c.ledger.path, null, `${name}: no SQLite file`);
    t.match(c.ledger.url, /^postgres:\/\/[^@]+@ledger:5432\//, `${name}: the books in the ledger service`);
    t.equal(c.alerts.instance, name, `${name}: named in its alerts`);
    urls.add(c.ledger.url!);
  }
  t.equal(urls.size, 1, 'one PostgreSQL ledger for both');
  t.same(compose.services['proxy-a']!.ports, ['8081:8080']);
  t.same(compose.services['proxy-b']!.ports, ['8082:8080']);
});

const prometheusCfg = parse(readFileSync(config('prometheus.cluster.yml'), 'utf8')) as { scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] };

t.test('Prometheus scrapes both proxies as one job (the name the alerts use)', async (t) => {
  const job = prometheusCfg.scrape_configs.find((j) => j.job_name === 'dash-farm-proxy');
  t.same(job?.static_configs.flatMap((c) => c.targets), proxies.map((p) => `${p}:8080`));
});

const promtool = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).status === 0;

t.test('promtool accepts config/prometheus.cluster.yml', { skip: promtool ? false : 'promtool not installed (apt-get install prometheus)' }, async (t) => {
  const check = spawnSync('promtool', ['check', 'config', config('prometheus.cluster.yml')], { encoding: 'utf8', timeout: 30_000 });
  t.equal(check.status, 0, `promtool check config: ${check.stdout}${check.stderr}`);
});
