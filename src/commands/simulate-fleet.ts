import { SHARE_KINDS, SimFleet, type SimFleetStats } from '../sim/fleet.js';
import { untilAborted } from '../sim/stop-signal.js';
import type { Command } from './command.js';
import { UsageError } from './command.js';
import { runUntilStopped, type RunOutput } from './run-output.js';
import { defineFlags, type FlagValues } from './flags.js';

const rate = (what: string) => ({ type: 'number' as const, default: 0, min: 0, max: 1, help: `per share, probability of ${what}` });

export const simulateFleetFlags = defineFlags({
  url: { type: 'string', default: 'stratum+tcp://127.0.0.1:3333', placeholder: 'url', help: 'Stratum server to mine on (stratum+tcp://host:port or host:port)' },
  host: { type: 'string', placeholder: 'host', help: 'host to connect to (overrides the one in --url)' },
  port: { type: 'int', min: 1, max: 65535, help: 'port to connect to (overrides the one in --url)' },
  devices: { type: 'int', default: 10, min: 1, max: 100_000, help: 'number of simulated ASICs' },
  hashrate: { type: 'number', default: 200, min: 0, help: 'hashes per second per device (real X11)' },
  maxHashrate: { type: 'number', default: 20_000, positive: true, help: 'cap on the whole fleet (H/s); devices are slowed evenly above it' },
  workerPrefix: { type: 'string', default: 'sim', placeholder: 'name', help: 'worker names are <prefix>.<i>, i from 0' },
  password: { type: 'string', default: 'x', nonEmpty: false, placeholder: 'password', help: 'mining.authorize password' },
  duration: { type: 'duration', default: 0, min: 0, help: 'stop after this long; 0: run until Ctrl-C' },
  versionRolling: { type: 'boolean', help: 'ask for version rolling with mining.configure' },
  extranonceSubscribe: { type: 'boolean', default: true, help: 'send mining.extranonce.subscribe after authorizing' },
  connectRate: { type: 'int', default: 1000, min: 1, max: 100_000, help: 'new connections per second at start' },
  duplicateRate: rate('resubmitting it (duplicate, error 22)'),
  staleRate: rate('resubmitting it on an old job (stale, error 21)'),
  lowDifficultyRate: rate('submitting a hash that misses the target (error 23)'),
  garbageRate: rate('sending a line that is not JSON (error 20)'),
  malformedRate: rate('submitting with a wrong extranonce2 length (error 20)'),
  printEvery: { type: 'duration', default: 5000, min: 0, help: 'print progress this often; 0: never' },
});

export type SimulateFleetValues = FlagValues<typeof simulateFleetFlags.defs>;

const help = simulateFleetFlags.helpText({
  summary: 'dash-farm-proxy simulate-fleet: simulated ASICs that really hash X11 (throttled to the given hashrate)\nand mine on any Stratum V1 server: the proxy, the simulated pool or a real pool.',
  usage: 'dash-farm-proxy simulate-fleet [options]',
  footer: [
    'Durations take 500ms, 30s, 2m or a plain number of seconds.',
    'The last line on stdout is a JSON summary (shares by kind and by error code, hashes, reconnects, ...).',
    '',
    'Examples:',
    '  dash-farm-proxy simulate-fleet --url stratum+tcp://127.0.0.1:3334 --devices 100 --duration 60',
    '  dash-farm-proxy simulate-fleet --port 3333 --devices 5 --duplicate-rate 0.1 --stale-rate 0.05',
    '      # with `dash-farm-proxy simulate-pool --port 3333 --difficulty 5e-8` running: about 5 shares a',
    '      # second, and within 20 s some rejected as duplicate (error 22) and stale (error 21)',
  ],
});

/** `stratum+tcp://host:port`, `tcp://host:port` or `host:port`. */
export function parseStratumUrl(url: string): { host: string; port: number } {
  const m = /^(?:(stratum\+tcp|tcp|stratum\+ssl|stratum\+tls|ssl):\/\/)?(\[[^\]]+\]|[^:/\s]+):(\d+)\/?$/.exec(url.trim());
  if (!m) throw new UsageError(`--url: expected stratum+tcp://host:port, got '${url}'`);
  if (m[1] && m[1] !== 'stratum+tcp' && m[1] !== 'tcp') throw new UsageError(`--url: the fleet speaks plain TCP only (stratum+tcp://), got '${m[1]}://'`);
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--url: port must be 1 to 65535, got ${m[3]}`);
  return { host: m[2]!.replace(/^\[|\]$/g, ''), port };
}

/** The final summary: one JSON object. */
export function fleetSummary(s: SimFleetStats, target: string): Record<string, unknown> {
  const byKind: Record<string, unknown> = {};
  for (const k of SHARE_KINDS) {
    const c = s.byKind[k];
    if (c.submitted > 0 || c.accepted > 0 || c.rejected > 0) byKind[k] = { submitted: c.submitted, accepted: c.accepted, rejected: c.rejected, rejectedByCode: c.rejectedByCode };
  }
  return {
    target,
    devices: s.devices,
    elapsedSeconds: Math.round(s.elapsedSeconds * 10) / 10,
    hashes: s.hashes,
    hashrate: Math.round(s.hashes / Math.max(0.001, s.elapsedSeconds)),
    sharesFound: s.sharesFound,
    submitted: s.totals.submitted,
    accepted: s.totals.accepted,
    rejected: s.totals.rejected,
    rejectedByCode: s.totals.rejectedByCode,
    acceptedDifficulty: s.totals.acceptedDifficulty,
    unanswered: s.unanswered,
    byKind,
    jobsReceived: s.jobsReceived,
    cleanJobs: s.cleanJobs,
    difficultyChanges: s.difficultyChanges,
    extranonceChanges: s.extranonceChanges,
    reconnects: s.reconnects,
    reconnectRequests: s.reconnectRequests,
    disconnects: s.disconnects,
    authorizeRejected: s.authorizeRejected,
    messages: s.messages,
    badJobs: s.badJobs,
  };
}

/** Run the fleet until `signal` fires; the summary is the last line. */
export async function runSimulateFleet(v: SimulateFleetValues, signal: AbortSignal, io: RunOutput): Promise<number> {
  const parsed = parseStratumUrl(v.url);
  const host = v.host ?? parsed.host;
  const port = v.port ?? parsed.port;
  const target = `stratum+tcp://${host}:${port}`;
  const fleet = new SimFleet({
    host,
    port,
    devices: v.devices,
    hashrate: v.hashrate,
    maxHashrate: v.maxHashrate,
    workerPrefix: v.workerPrefix,
    password: v.password,
    versionRolling: v.versionRolling,
    extranonceSubscribe: v.extranonceSubscribe,
    connectRate: v.connectRate,
    misbehaviour: {
      duplicate: v.duplicateRate,
      stale: v.staleRate,
      lowDifficulty: v.lowDifficultyRate,
      garbage: v.garbageRate,
      malformed: v.malformedRate,
    },
  });
  io.out(
    `simulate-fleet: ${v.devices} device(s) -> ${target}, ${v.hashrate} H/s each (fleet cap ${v.maxHashrate} H/s), workers ${v.workerPrefix}.0..${v.workerPrefix}.${v.devices - 1}` +
      (v.duration > 0 ? `, for ${v.duration / 1000}s` : ', until Ctrl-C'),
  );
  const progress = () => {
    const s = fleet.stats();
    const codes = Object.entries(s.totals.rejectedByCode).map(([c, n]) => `${c}:${n}`).join(' ');
    io.out(
      `[${Math.round(s.elapsedSeconds)}s] connected ${s.connected}/${s.devices}, mining ${s.mining}, ${Math.round(s.hashrate)} H/s, ` +
        `shares ${s.totals.accepted} accepted / ${s.totals.rejected} rejected${codes ? ` (${codes})` : ''}, jobs ${s.jobsReceived}, reconnects ${s.reconnects}`,
    );
  };
  const timer = v.printEvery > 0 ? setInterval(progress, v.printEvery) : undefined;
  const starting = fleet.start();
  await Promise.race([starting, untilAborted(signal)]);
  await untilAborted(signal);
  if (timer) clearInterval(timer);
  // Stop hashing and let the answers already on the wire arrive (bounded) before the count is closed.
  fleet.setHashrate(0);
  await new Promise((resolve) => setTimeout(resolve, 100));
  const s = await fleet
    .waitFor((st) => st.totals.accepted + st.totals.rejected + st.unanswered >= st.totals.submitted, 5000)
    .catch(() => fleet.stats());
  await fleet.stop();
  await starting.catch(() => undefined);
  io.out(JSON.stringify(fleetSummary(s, target)));
  if (s.jobsReceived === 0) {
    io.err(`simulate-fleet: no device got a job from ${target} (is a Stratum server listening there?)`);
    return 1;
  }
  return 0;
}

const command: Command = {
  name: 'simulate-fleet',
  summary: 'simulated ASICs that really hash X11, pointed at any Stratum server',
  help,
  async run(argv) {
    const values = simulateFleetFlags.parse(argv);
    parseStratumUrl(values.url); // a bad --url is a usage error before anything starts
    return runUntilStopped((signal, io) => runSimulateFleet(values, signal, io), values.duration);
  },
};
export default command;
