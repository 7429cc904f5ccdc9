import t from 'tap';
import { request } from 'undici';
import type { DemoSummary } from '../../src/commands/demo.js';
import { runCli } from '../helpers/cli-run.js';
import { sleep, until } from '../helpers/wait.js';

/**
 * `dash-farm-proxy demo` as a new user runs it (from source, free ports): it prints where everything is, the
 * dashboard and the API answer while it runs, progress appears, it stops by itself after --duration with exit 0,
 * and its last stdout line is a summary whose books balance: honest shares accepted, the deliberately bad ones
 * rejected, every forwarded share answered by the pool.
 */
t.test('demo: addresses, live dashboard and API, progress, a balanced summary, exit 0', async (t) => {
  const run = runCli(t, ['demo', '--devices', '6', '--duration', '14s', '--port', '0', '--http-port', '0', '--misbehave', '0.4', '--progress', '2s']);
  await until(() => /dashboard\s+http:\/\/127\.0\.0\.1:\d+\//.test(run.stderr), () => `the dashboard address on stderr (got: ${run.stderr})`, 60_000);
  const base = /dashboard\s+(http:\/\/127\.0\.0\.1:\d+)\//.exec(run.stderr)![1]!;
  t.match(run.stderr, /proxy \(devices\)\s+stratum\+tcp:\/\/127\.0\.0\.1:\d+/, 'the Stratum address devices would use');

  const page = await request(`${base}/`);
  t.equal(page.statusCode, 200, 'the dashboard page is served');
  t.match(String(page.headers['content-type']), /text\/html/);
  t.match(await page.body.text(), /<html/i);

  // The API as a script would poll it, until the whole fleet is in (bounded).
  let online = -1;
  for (const end = Date.now() + 30_000; online !== 6 && Date.now() < end; ) {
    const res = await request(`${base}/api/summary`);
    t.equal(res.statusCode, 200);
    online = ((await res.body.json()) as { devicesOnline: number }).devicesOnline;
    if (online !== 6) await sleep(250);
  }
  t.equal(online, 6, '/api/summary shows the 6 devices online');

  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([run.exit, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 60_000)))]);
  clearTimeout(timer);
  t.equal(code, 0, 'stops by itself after --duration, exit 0');
  t.match(run.stderr, /t=\d+s\s+devices \d+\/6 online/, 'progress lines while it runs');

  const summary = JSON.parse(run.stdout[run.stdout.length - 1]!) as DemoSummary;
  t.equal(summary.devices, 6);
  t.ok(summary.accepted > 0, `shares accepted (${summary.accepted})`);
  t.ok(summary.fleet.deliberatelyBad > 0, `the fleet sent bad shares on purpose (${summary.fleet.deliberatelyBad})`);
  t.ok(summary.fleet.rejected > 0, 'and the proxy rejected them');
  t.equal(summary.fleet.validRejected, 0, 'no honest share was rejected');
  t.ok(summary.fleet.rejected <= summary.fleet.deliberatelyBad, 'rejections are the bad shares only');
  const rejectedByReason = Object.values(summary.rejected).reduce((a, b) => a + b, 0);
  t.ok(rejectedByReason >= summary.fleet.rejected, 'the proxy counted every rejection the devices heard');
  t.equal(summary.poolAccepted, summary.pool.accepted, 'the pool accepted exactly what the proxy says it did');
  t.equal(summary.poolRejected, 0);
  t.equal(summary.pool.rejected, 0, 'the pool rejected nothing the proxy forwarded');
});
