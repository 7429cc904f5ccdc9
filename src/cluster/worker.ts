import { createCoreSide, type CoreSide } from '../app-core.js';
import { loadX11Wasm } from '../chain/x11-wasm.js';
import type { ProxyConfig } from '../config.js';
import { EventBus } from '../core/events.js';
import { createLogger, PROXY_WORKER_FIELD, type Logger, type LoggerOptions } from '../core/log.js';
import { ownerMap } from '../options.js';
import { applyCoreConfig, reloadConfig } from '../reload.js';
import { readOpenFiles, warnOpenFiles } from '../util/open-files.js';
import { EventForwarder } from './event-relay.js';
import { firstIdOf, isPrimaryMessage, type WorkerMessage } from './messages.js';
import { perWorkerLimit } from './worker-count.js';
import { guardChannel, sendAndWait, sendToPrimary } from './worker-channel.js';
import { startWorkerProcessMetrics } from '../observe/process-metrics.js';

/**
 * One worker process of `start --workers N`: the core side of the proxy (src/app-core.ts) for the devices the
 * primary hands it, its bus's events forwarded to the primary (src/cluster/event-relay.ts), where the observer
 * side sees the whole host. Its logs carry `proxyWorker: k`. It tells the primary when its device port is open
 * (with its open-files limit), and every second (and on a change) how many devices it holds and whether it
 * is ready. It stops gracefully on the primary's `stop`, on SIGTERM/SIGINT, and when its IPC channel closes
 * (the primary died): as a one-process proxy stops, then it exits.
 */
export interface WorkerIdentity {
  worker: number;
  incarnation: number;
  workers: number;
}

/** The per-host device limits as one of `workers` workers applies them: each its ceil share. */
export function workerLimits(limits: ProxyConfig['limits'], workers: number): ProxyConfig['limits'] {
  return { ...limits, maxDevices: perWorkerLimit(limits.maxDevices, workers), maxConnectionsPerIp: perWorkerLimit(limits.maxConnectionsPerIp, workers) };
}

/**
 * A worker process's logger: every line names the process (`proxyWorker: k`), beside the fields of the line
 * itself, a device's `worker` among them.
 */
export function workerLogger(worker: number, opts: LoggerOptions): Logger {
  return createLogger(opts, { [PROXY_WORKER_FIELD]: worker });
}

const STATE_CHECK_MS = 250;
const STATE_EVERY_MS = 1000;

/** Run the worker until it is told to stop (or its primary is gone); resolves with its exit code. */
export async function runWorker(id: WorkerIdentity, config: ProxyConfig, load: () => ProxyConfig): Promise<number> {
  // Node's cluster makes a worker whose channel closes unexpectedly (the primary died) exit at once, with its
  // devices' sockets cut and their shares in flight unanswered: its own 'disconnect' listener, the only one
  // there now. This worker stops gracefully instead (below), as a one-process proxy does on SIGTERM.
  for (const listener of process.listeners('disconnect')) process.off('disconnect', listener);
  // Until the graceful stop is ready (the device port open), a worker without its primary holds no device: it exits.
  const exitEarly = () => process.exit(0);
  process.once('disconnect', exitEarly);
  const log: Logger = workerLogger(id.worker, { level: config.log.level, format: config.log.format });
  // A send that fails once the channel closes (ours, or prom-client's answer to a metrics request) is told
  // here instead of crashing the worker: the channel's 'disconnect' then stops it gracefully.
  guardChannel(process, (err) => log.debug('a message to the primary was not sent (IPC channel closed)', { reason: err.message }));
  const send = (message: WorkerMessage | object): boolean => sendToPrimary(process, message);
  // Its own process metrics (label proxy_worker="k"), answered to the primary's /metrics by prom-client's listener.
  startWorkerProcessMetrics(id.worker);
  const bus = new EventBus();
  const forwarder = new EventForwarder({ bus, incarnation: id.incarnation, send: (batch) => void send(batch) });

  let core: CoreSide;
  try {
    const hasher = await loadX11Wasm();
    core = createCoreSide(config, { hasher, bus, log, owners: ownerMap(config), firstId: firstIdOf(id.incarnation), limits: (c) => workerLimits(c.limits, id.workers) });
  } catch (err) {
    process.stderr.write(`dash-farm-proxy start: worker ${id.worker} cannot start: ${(err as Error).message}\n`);
    forwarder.stop();
    return 1;
  }
  try {
    const stratum = await core.listen();
    const openFiles = readOpenFiles();
    send({ type: 'listening', openFiles } satisfies WorkerMessage);
    core.start();
    // One start-up line per worker (its open-files limit in it); the routes are the host's, in the primary's line.
    const scheme = config.listen.tls ? 'stratum+ssl' : 'stratum+tcp';
    log.info('proxy worker listening', { stratum: `${scheme}://${stratum.address}:${stratum.port}`, pid: process.pid, incarnation: id.incarnation, openFiles });
    warnOpenFiles(log, workerLimits(config.limits, id.workers).maxDevices, openFiles);
  } catch (err) {
    process.stderr.write(`dash-farm-proxy start: worker ${id.worker} cannot listen: ${(err as Error).message}\n`);
    forwarder.stop();
    await core.proxy.stop();
    return 1;
  }

  // What the primary's /readyz and /api/cluster take from the worker itself (its devices it counts from the
  // events): sent on a change, and every second.
  let last = { ready: false, at: 0 };
  const report = (force = false) => {
    const now = Date.now();
    const state = { ready: core.proxy.isReady };
    if (!force && state.ready === last.ready && now - last.at < STATE_EVERY_MS) return;
    last = { ...state, at: now };
    send({ type: 'state', ...state } satisfies WorkerMessage);
  };
  const stateTimer = setInterval(report, STATE_CHECK_MS);
  stateTimer.unref();
  report(true);

  return new Promise<number>((resolve) => {
    let stopping: Promise<void> | null = null;
    const stop = (why: string) => {
      if (stopping) return;
      log.info(`${why}: stopping (devices told to reconnect, waiting for pending pool answers)`, { reason: why });
      clearInterval(stateTimer);
      stopping = (async () => {
        await core.drain();
        await core.close();
        report(true);
        // Every event of this worker goes before `stopped`: the primary's books see each verdict.
        forwarder.stop();
        log.info('stopped');
      })();
      stopping.then(
        () => finish(0),
        (err: unknown) => {
          log.error(`error while stopping: ${(err as Error).message}`);
          finish(1);
        },
      );
    };
    const finish = (code: number) => {
      process.off('message', onMessage);
      process.off('disconnect', onDisconnect);
      for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.removeAllListeners(s);
      // The last event batches are written to the channel before the worker exits (process.exit drops what
      // node still queues): `stopped` goes after them, and its write is awaited, bounded.
      void sendAndWait(process, { type: 'stopped' } satisfies WorkerMessage).then(() => resolve(code));
    };
    const onMessage = (m: unknown) => {
      if (!isPrimaryMessage(m)) return;
      if (m.type === 'stop') stop('stop from the primary');
      else if (m.type === 'reload' && !stopping) {
        log.info('reloading the configuration (SIGHUP at the primary)');
        reloadConfig(core, load, applyCoreConfig);
      }
    };
    const onDisconnect = () => stop('the primary is gone (IPC channel closed)');
    process.on('message', onMessage);
    process.off('disconnect', exitEarly);
    process.on('disconnect', onDisconnect);
    if (!process.connected) onDisconnect();
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    // The primary relays SIGHUP (a hang-up of the terminal reaches every process of the group: not a stop).
    process.on('SIGHUP', () => {});
  });
}
