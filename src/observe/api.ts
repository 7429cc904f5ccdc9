import { BUCKETS, BUCKET_SECONDS, HASHRATE_WINDOW_SECONDS, type FarmStats } from './farm-stats.js';
import { sendJson, type HttpServer } from './http-server.js';

/**
 * The JSON API for scripts, beside /metrics and with the same numbers: everything is read from FarmStats.
 *
 *   GET /api/summary              farm totals (FarmStats.summary)
 *   GET /api/devices[?state=online|offline]
 *                                 every known worker (FarmStats.view), sorted by name
 *   GET /api/devices/<worker>     one worker, with its hashrate history (FarmStats.history); the name is
 *                                 percent-encoded in the path (encodeURIComponent)
 *   GET /api/pools                the pools and their status
 *
 * Hashrates are in H/s. Times are milliseconds since the epoch.
 */
export interface ApiOptions {
  /** Path prefix (default `/api`). */
  prefix?: string;
  now?: () => number;
}

export function registerApiRoutes(http: HttpServer, stats: FarmStats, opts: ApiOptions = {}): void {
  const prefix = opts.prefix ?? '/api';
  const now = opts.now ?? Date.now;

  http.route({
    method: 'GET',
    path: `${prefix}/summary`,
    handler: (_req, res) => sendJson(res, 200, { ...stats.summary(now()), hashrateWindowSeconds: HASHRATE_WINDOW_SECONDS }),
  });

  http.route({
    method: 'GET',
    path: `${prefix}/pools`,
    handler: (_req, res) => sendJson(res, 200, { at: now(), pools: [...stats.pools.values()].map((p) => ({ ...p })) }),
  });

  http.route({
    method: 'GET',
    path: `${prefix}/devices`,
    handler: (_req, res, url) => {
      const state = url.searchParams.get('state');
      if (state !== null && state !== 'online' && state !== 'offline') {
        return sendJson(res, 400, { error: `state must be "online" or "offline", got "${state}"` });
      }
      const at = now();
      const devices = [];
      for (const d of stats.devices.values()) {
        const online = d.sessions > 0;
        if (state === null || (state === 'online') === online) devices.push(stats.view(d, at));
      }
      devices.sort((a, b) => (a.worker < b.worker ? -1 : a.worker > b.worker ? 1 : 0));
      sendJson(res, 200, { at, hashrateWindowSeconds: HASHRATE_WINDOW_SECONDS, count: devices.length, devices });
    },
  });

  http.route({
    method: 'GET',
    path: `${prefix}/devices/`,
    handler: (_req, res, url) => {
      let worker: string;
      try {
        worker = decodeURIComponent(url.pathname.slice(`${prefix}/devices/`.length));
      } catch {
        return sendJson(res, 400, { error: 'the worker name in the path is not valid percent-encoding' });
      }
      if (worker === '') return sendJson(res, 400, { error: `worker name missing: use ${prefix}/devices/<worker>` });
      const d = stats.devices.get(worker);
      if (!d) return sendJson(res, 404, { error: `no such worker: ${worker}` });
      const at = now();
      const firstBucket = Math.floor(at / 1000 / BUCKET_SECONDS) - BUCKETS + 1;
      sendJson(res, 200, {
        at,
        hashrateWindowSeconds: HASHRATE_WINDOW_SECONDS,
        device: stats.view(d, at),
        history: {
          /** Start of the first (oldest) bucket. */
          start: firstBucket * BUCKET_SECONDS * 1000,
          bucketSeconds: BUCKET_SECONDS,
          /** Average hashrate (H/s) in each bucket, oldest first. */
          hashrate: stats.history(d, at),
        },
      });
    },
  });
}
