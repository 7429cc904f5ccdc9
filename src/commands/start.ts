import { createProxyApp } from '../app.js';
import { buildConfig, ConfigError, configFromEnv, DEFAULT_CONFIG, POOL_DEFAULTS, readConfigFile, type ProxyConfig } from '../config.js';
import { reloadConfig } from '../reload.js';
import type { Command } from './command.js';
import { UsageError } from './command.js';
import { defineFlags } from './flags.js';
import { setPath } from '../util/path.js';
import { WORKERS_WORDS, workerCount, workersFromText } from '../cluster/worker-count.js';
import cluster from 'node:cluster';
import { workerIdentity } from '../cluster/messages.js';
import { runWorker } from '../cluster/worker.js';
import { ClusterPrimary } from '../cluster/primary.js';
import { createLogger, type Logger } from '../core/log.js';
import { logOpenFiles } from '../util/open-files.js';

export const startFlags = defineFlags({
  config: { type: 'string', short: 'c', placeholder: 'file', help: 'JSON config file (see config/proxy.example.json); flags and DASH_PROXY_* variables override it' },
  pool: { type: 'string', placeholder: 'url[,url...]', help: 'pool url(s) in failover order, e.g. stratum+tcp://dash.pool.example:3333' },
  user: { type: 'string', help: 'pool login for the farm (wallet address or account), used for every --pool' },
  password: { type: 'string', help: `pool password (default ${POOL_DEFAULTS.password})` },
  host: { type: 'string', help: `address devices connect to (default ${DEFAULT_CONFIG.listen.host})` },
  port: { type: 'int', min: 0, max: 65535, help: `Stratum port for devices (default ${DEFAULT_CONFIG.listen.port})` },
  httpHost: { type: 'string', help: `address of the HTTP server: /metrics, /api, dashboard (default ${DEFAULT_CONFIG.http.host})` },
  httpPort: { type: 'int', min: 0, max: 65535, help: `HTTP port (default ${DEFAULT_CONFIG.http.port})` },
  token: { type: 'string', help: 'read-only token required for /metrics, /api and the dashboard' },
  workerMode: { type: 'enum', choices: ['farm', 'passthrough'] as const, help: `'farm': shares go upstream under --user; 'passthrough': under each device's own name (default ${DEFAULT_CONFIG.workerMode})` },
  expectedDevices: { type: 'int', min: 1, help: `devices on the farm, sizes the extranonce split (default ${DEFAULT_CONFIG.expectedDevices})` },
  startDifficulty: { type: 'number', positive: true, help: `first difficulty of a device before vardiff tunes it, between difficulty.min and max (default ${DEFAULT_CONFIG.difficulty.start})` },
  workers: { type: 'string', placeholder: 'N|auto', help: `worker processes sharing the device port: ${WORKERS_WORDS}; the HTTP port covers all (default ${DEFAULT_CONFIG.workers})` },
  logLevel: { type: 'enum', choices: ['debug', 'info', 'warn', 'error'] as const, help: `log level (default ${DEFAULT_CONFIG.log.level})` },
  logFormat: { type: 'enum', choices: ['json', 'pretty'] as const, help: `log format (default ${DEFAULT_CONFIG.log.format})` },
});

export const startHelp = startFlags.helpText({
  summary: 'Run the proxy: devices connect to it, it holds the pool connection(s), validates every share and forwards the ones that meet the pool target.',
  usage: 'dash-farm-proxy start [--config file] [options]',
  footer: [
    'Examples:',
    '  dash-farm-proxy start --pool stratum+tcp://dash.pool.example:3333 --user XyourDashAddress.farm1',
    '  dash-farm-proxy start --config config/proxy.example.json',
    '',
    'Every config field can also come from the environment: DASH_PROXY_LISTEN_PORT=3334, DASH_PROXY_HTTP_TOKEN=...,',
    'DASH_PROXY_POOLS=\'[{"url":"stratum+tcp://host:3333","user":"..."}]\'. Precedence: flags > environment > file > defaults.',
    'Signals: SIGTERM/SIGINT stop gracefully (devices told to reconnect, pending pool answers awaited).',
    'SIGHUP reloads the configuration: pools, routes, limits, difficulty and access lists apply at once; the log says what needs a restart.',
    'With --workers N (or auto: one per core), N processes share the device port and the one HTTP port covers them all;',
    'limits.maxDevices and limits.maxConnectionsPerIp are divided among them; SIGHUP and SIGTERM reach every worker.',
  ],
});

/** Layers from the command line, as a partial config. */
export function configFromFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): ProxyConfig {
  const { values: v, given } = startFlags.parseArgs(argv);
  const file = v.config ? readConfigFile(v.config) : undefined;
  const flags: Record<string, unknown> = {};
  const set = (path: string, value: unknown) => setPath(flags, path.split('.'), value);
  if (given.has('pool')) {
    if (!v.user && !given.has('user')) throw new UsageError('--pool needs --user (the pool login for the farm)');
    set(
      'pools',
      // Names (pool1, pool2, ...) and the default password come with the config's pool defaults.
      v.pool!.split(',').map((url) => ({ url: url.trim(), user: v.user, ...(v.password !== undefined ? { password: v.password } : {}) })),
    );
  } else if (given.has('user') || given.has('password')) {
    throw new UsageError('--user and --password go with --pool (or set them in the config file)');
  }
  if (given.has('host')) set('listen.host', v.host);
  if (given.has('port')) set('listen.port', v.port);
  if (given.has('httpHost')) set('http.host', v.httpHost);
  if (given.has('httpPort')) set('http.port', v.httpPort);
  if (given.has('token')) set('http.token', v.token);
  if (given.has('workerMode')) set('workerMode', v.workerMode);
  if (given.has('expectedDevices')) set('expectedDevices', v.expectedDevices);
  if (given.has('startDifficulty')) set('difficulty.start', v.startDifficulty);
  if (given.has('workers')) set('workers', workersFromText(v.workers!));
  if (given.has('logLevel')) set('log.level', v.logLevel);
  if (given.has('logFormat')) set('log.format', v.logFormat);
  return buildConfig(file, configFromEnv(env), flags as never);
}

/** Run until SIGINT/SIGTERM (or `afterMs`, when given), then stop gracefully. */
export interface RunOptions {
  afterMs?: number;
  /** Where "stopping" / "stopped" are told (the proxy's logger, so JSON logs stay JSON). Default: stderr text. */
  report?: (level: 'info' | 'error', message: string, fields?: Record<string, unknown>) => void;
}

const reportToStderr: NonNullable<RunOptions['report']> = (_level, message, fields) =>
  process.stderr.write(`${message}${fields && Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : ''}\n`);

export async function runUntilSignal(stop: () => Promise<void>, opts: RunOptions = {}): Promise<number> {
  const report = opts.report ?? reportToStderr;
  return new Promise((resolve) => {
    let stopping = false;
    let timer: NodeJS.Timeout | undefined;
    const handler = (why: string) => {
      if (stopping) {
        report('error', `second ${why}: exiting now`);
        process.exit(1);
      }
      stopping = true;
      clearTimeout(timer);
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
      process.once('SIGINT', () => handler('SIGINT'));
      process.once('SIGTERM', () => handler('SIGTERM'));
      report('info', `${why}: stopping (devices told to reconnect, waiting for pending pool answers)`, { reason: why });
      stop().then(
        () => {
          process.removeAllListeners('SIGINT');
          process.removeAllListeners('SIGTERM');
          report('info', 'stopped');
          resolve(0);
        },
        (err: unknown) => {
          report('error', `error while stopping: ${(err as Error).message}`);
          resolve(1);
        },
      );
    };
    process.once('SIGINT', handler);
    process.once('SIGTERM', handler);
    if (opts.afterMs !== undefined && opts.afterMs > 0) timer = setTimeout(() => handler(`${opts.afterMs! / 1000} s elapsed`), opts.afterMs);
  });
}

const command: Command = {
  name: 'start',
  summary: 'run the proxy',
  help: startHelp,
  async run(argv) {
    let config: ProxyConfig;
    try {
      config = configFromFlags(argv);
    } catch (err) {
      if (err instanceof ConfigError) {
        process.stderr.write(`dash-farm-proxy start: ${err.message}\n`);
        return 2;
      }
      throw err;
    }
    // With workers: this process is a worker (the primary forked it) or the primary (src/cluster/).
    const worker = cluster.isWorker ? workerIdentity(process.env) : null;
    if (worker) {
      // A worker exits when it has stopped (its last events sent), whatever handles are left.
      process.exit(await runWorker(worker, config, () => configFromFlags(argv)));
    }
    const workers = workerCount(config.workers);
    if (workers > 1) return runPrimary(config, workers, argv);
    let app: Awaited<ReturnType<typeof createProxyApp>>;
    try {
      app = await createProxyApp(config);
    } catch (err) {
      // [hardening] e.g. a TLS certificate file that cannot be read or used: one clear line, not a stack.
      process.stderr.write(`dash-farm-proxy start: cannot start: ${(err as Error).message}\n`);
      return err instanceof ConfigError ? 2 : 1;
    }
    return runService(
      {
        log: app.log,
        start: async () => {
          logOpenFiles(app.log, config.limits.maxDevices);
          await app.start();
        },
        stop: () => app.stop(),
        // [hardening] SIGHUP: read the same file, environment and flags again and apply what can change live
        // (src/reload.ts); a configuration with errors is refused with its problems logged, the running one kept.
        reload: () => {
          app.log.info('SIGHUP: reloading the configuration');
          reloadConfig(app, () => configFromFlags(argv));
        },
      },
      'cannot listen',
    );
  },
};

/** `start` with workers > 1: this process is the primary (src/cluster/primary.ts); it runs until SIGTERM/SIGINT. */
async function runPrimary(config: ProxyConfig, workers: number, argv: string[]): Promise<number> {
  const log = createLogger({ level: config.log.level, format: config.log.format });
  let primary: ClusterPrimary;
  try {
    primary = new ClusterPrimary(config, { workers, log, load: () => configFromFlags(argv) });
  } catch (err) {
    process.stderr.write(`dash-farm-proxy start: cannot start: ${(err as Error).message}\n`);
    return err instanceof ConfigError ? 2 : 1;
  }
  return runService(
    {
      log,
      start: () => primary.start(),
      stop: () => primary.stop(),
      reload: () => {
        log.info('SIGHUP: reloading the configuration (and telling every worker)');
        primary.reload();
      },
    },
    'cannot start',
  );
}

/** What `start` runs: the one-process app or a cluster's primary. */
interface Service {
  log: Logger;
  start(): Promise<unknown>;
  stop(): Promise<void>;
  /** SIGHUP (never while stopping). */
  reload(): void;
}

/** Start, reload on SIGHUP, and run until SIGINT/SIGTERM, then stop gracefully; resolves with the exit code. */
async function runService(service: Service, startFailure: string): Promise<number> {
  let stopping = false;
  const onHangup = () => {
    if (!stopping) service.reload();
  };
  process.on('SIGHUP', onHangup);
  try {
    try {
      await service.start();
    } catch (err) {
      process.stderr.write(`dash-farm-proxy start: ${startFailure}: ${(err as Error).message}\n`);
      await service.stop();
      return 1;
    }
    return await runUntilSignal(
      () => {
        stopping = true;
        return service.stop();
      },
      { report: (level, message, fields) => service.log[level](message, fields) },
    );
  } finally {
    process.off('SIGHUP', onHangup);
  }
}

export default command;
