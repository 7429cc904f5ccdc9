import net from 'node:net';
import t from 'tap';
import { createProxyApp } from '../../src/app.js';
import { buildConfig } from '../../src/config.js';
import type { ProxyEventMap } from '../../src/core/events.js';
import { GoodDevice, recordingLogger } from '../hardening/helpers.js';
import { startPool } from '../helpers/farm.js';
import { haproxyBinary, startHaproxy } from '../helpers/haproxy.js';
import { LineClient } from '../helpers/line-client.js';
import { hasher } from '../helpers/share-kit.js';
import { until } from '../helpers/wait.js';

/**
 * Behind a real HAProxy (Debian's haproxy, started by this test on loopback: test/helpers/haproxy.ts; the
 * test skips when it is not installed), one frontend with `send-proxy` (PROXY v1) and one with
 * `send-proxy-v2`, both in front of the proxy's device port (listen.proxyProtocol required, HAProxy's
 * 127.0.0.1 the one trusted proxy). Devices connect to HAProxy from 127.0.0.2 and 127.0.0.3: the proxy
 * sees those addresses in /api/devices, in /metrics (IP labels on) and in the per-address limit; a header
 * sent straight to the proxy by an untrusted peer is refused and logged.
 */
const binary = haproxyBinary();

t.test('behind HAProxy (send-proxy and send-proxy-v2): the devices\' own addresses', { skip: binary ? false : 'haproxy is not installed (apt-get install haproxy; .ci/run does)' }, async (t) => {
  const pool = await startPool(t);
  const log = recordingLogger();
  const config = buildConfig({
    pools: [{ name: 'main', url: pool.url, user: 'Xfarm.proxy', password: 'x' }],
    listen: { host: '127.0.0.1', port: 0, tls: null, proxyProtocol: 'required', trustedProxies: ['127.0.0.1'] },
    http: { host: '127.0.0.1', port: 0, token: null, allowedOrigins: [] },
    difficulty: { start: 2e-7, min: 1e-9, max: 1e9, targetSharesPerMinute: 12, retargetSeconds: 30, maxStep: 4, multiplier: 1 },
    limits: { maxConnectionsPerIp: 2 },
    metrics: { labelIp: true },
  });
  const app = await createProxyApp(config, { hasher, log });
  const { stratum, http } = await app.start();
  t.teardown(() => app.stop());
  const refused: ProxyEventMap['limit.refused'][] = [];
  app.bus.on('limit.refused', (e) => refused.push(e));

  const haproxy = await startHaproxy(binary!, [
    { name: 'v1', serverPort: stratum.port, sendProxy: 'v1' },
    { name: 'v2', serverPort: stratum.port, sendProxy: 'v2' },
  ]);
  t.teardown(() => haproxy.stop());

  const clients: LineClient[] = [];
  t.teardown(() => clients.forEach((c) => c.close()));
  const device = async (frontend: 'v1' | 'v2', worker: string, from: string) => {
    const d = await GoodDevice.connect(haproxy.ports[frontend]!, worker, from);
    clients.push(d.client);
    return d;
  };
  // Two devices from each address, through both frontends (v1 and v2 from each address).
  await device('v1', 'rig-a1', '127.0.0.2');
  await device('v2', 'rig-a2', '127.0.0.2');
  await device('v2', 'rig-b1', '127.0.0.3');
  await device('v1', 'rig-b2', '127.0.0.3');

  // A third connection from 127.0.0.2 is over the per-address limit (2): refused; 127.0.0.4 still gets in.
  const third = await LineClient.connect(haproxy.ports.v2!, '127.0.0.2');
  clients.push(third);
  await t.rejects(third.request('mining.subscribe', []), 'the third connection from 127.0.0.2 is closed');
  await until(() => refused.some((r) => r.cause === 'max_per_ip'), 'the per-address refusal');
  t.same(refused.map((r) => [r.cause, r.ip]), [['max_per_ip', '127.0.0.2']], 'refused by its own address, not HAProxy\'s');
  await device('v1', 'rig-c1', '127.0.0.4');

  const api = (await (await fetch(`http://127.0.0.1:${http.port}/api/devices`)).json()) as { devices: { worker: string; ip: string }[] };
  const ips = Object.fromEntries(api.devices.map((d) => [d.worker, d.ip]));
  t.same(ips, { 'rig-a1': '127.0.0.2', 'rig-a2': '127.0.0.2', 'rig-b1': '127.0.0.3', 'rig-b2': '127.0.0.3', 'rig-c1': '127.0.0.4' }, '/api/devices shows each device\'s own address');

  const metrics = await (await fetch(`http://127.0.0.1:${http.port}/metrics`)).text();
  for (const [worker, ip] of Object.entries(ips)) {
    t.match(metrics, new RegExp(`dash_proxy_device_connected\\{[^}]*worker="${worker}"[^}]*ip="${ip.replace(/\./g, '\\.')}"`), `/metrics: ${worker} labelled ip="${ip}"`);
  }
  const deviceLines = metrics.split('\n').filter((l) => /worker="rig-/.test(l));
  t.ok(deviceLines.length > 0 && deviceLines.every((l) => /ip="127\.0\.0\.[234]"/.test(l)), 'every per-device series carries the device\'s own address, none HAProxy\'s 127.0.0.1');
  t.match(metrics, /dash_proxy_connections_refused_total\{cause="max_per_ip"\} 1/);

  // A spoofed header straight to the proxy from a peer that is not HAProxy: refused, with its log line.
  const spoof = net.connect({ port: stratum.port, host: '127.0.0.1', localAddress: '127.0.0.5' });
  const spoofClient = LineClient.over(spoof);
  clients.push(spoofClient);
  spoof.write('PROXY TCP4 198.51.100.1 127.0.0.1 40000 3333\r\n{"id":1,"method":"mining.subscribe","params":[]}\n');
  await spoofClient.waitClosed();
  await until(() => refused.some((r) => r.cause === 'proxy_untrusted'), 'the untrusted refusal');
  t.same(refused.at(-1), { cause: 'proxy_untrusted', ip: '127.0.0.5', at: refused.at(-1)!.at });
  const line = log.records.find((r) => r.msg === 'refusing devices' && r.fields.cause === 'proxy_untrusted');
  t.match(line?.fields, { ip: '127.0.0.5', message: /127\.0\.0\.5.*listen\.trustedProxies/ }, 'logged, naming the peer and the setting');
  t.notOk(api.devices.some((d) => d.ip === '198.51.100.1'), 'the spoofed address never became a device');
});
