import { BUCKETS, BUCKET_SECONDS, HASHRATE_WINDOW_SECONDS, type DeviceView, type FarmLedger } from './farm-ledger.js';
import { sendJson, type HttpServer } from './http-server.js';
import { DEFAULT_RECENT_BLOCKS } from './found-blocks.js';
import { BOOKS_OFF, type PayoutsView } from './owner-payouts.js';

/**
 * The JSON API for scripts, beside /metrics and with the same numbers: everything is read from the farm
 * ledger (farm-ledger.ts, where each count is defined).
 *
 *   GET /api/summary              farm totals (FarmLedger.summary)
 *   GET /api/devices[?state=online|offline]
 *                                 every known worker (FarmLedger.view, with its owner, route and target,
 *                                 and its split: whole, or sliced with each target's fraction), sorted by name
 *   GET /api/devices/<worker>     one worker, with its hashrate history (FarmLedger.history); the name is
 *                                 percent-encoded in the path (encodeURIComponent)
 *   GET /api/pools                the pools (each of a target): status and what became of the shares
 *                                 forwarded to each
 *   GET /api/connections          the upstream connections: route, target, pool, up, active, version mask, shares
 *   GET /api/routes               every route (FarmLedger.routeList): its fallback, devices (and how many
 *                                 are time-sliced), hashrate and counts, and each target's weight (and weightShare of the route), pools,
 *                                 devices, hashrate, accepted work and workShare: the split achieved
 *   GET /api/owners               every owner (FarmLedger.ownerList): its devices online and in all, their
 *                                 hashrate, the accepted shares and work credited to it, with its share of
 *                                 the farm's work, and its forwarded shares with the pool's verdicts
 *                                 (poolAccepted, poolRejected, poolUnanswered, inFlight, by result); and
 *                                 `payouts`: each owner's last payout from the books (owner-payouts.ts),
 *                                 `books: false` when the proxy keeps none
 *   GET /api/blocks[?limit=N]     solo: the most recent blocks sent to dashd, newest first (FoundBlock in
 *                                 found-blocks.ts: height, hash, pool, worker, reward, dashd's answer and
 *                                 the block's place on the best chain now), and the counts by pool
 *
 * Hashrates are in H/s. Times are milliseconds since the epoch.
 */
export interface ApiOptions {
  /** Path prefix (default `/api`). */
  prefix?: string;
  /** Each owner's last payout from the books (owner-payouts.ts); absent: the proxy keeps no books. */
  payouts?: { view(): PayoutsView };
  now?: () => number;
}

export function registerApiRoutes(http: HttpServer, ledger: FarmLedger, opts: ApiOptions = {}): void {
  const prefix = opts.prefix ?? '/api';
  const now = opts.now ?? Date.now;

  http.route({
    method: 'GET',
    path: `${prefix}/summary`,
    handler: (_req, res) => sendJson(res, 200, { ...ledger.summary(now()), hashrateWindowSeconds: HASHRATE_WINDOW_SECONDS }),
  });

  http.route({
    method: 'GET',
    path: `${prefix}/pools`,
    handler: (_req, res) => sendJson(res, 200, { at: now(), pools: ledger.poolList() }),
  });

  http.route({
    method: 'GET',
    path: `${prefix}/connections`,
    handler: (_req, res) => sendJson(res, 200, { at: now(), connections: ledger.connections() }),
  });

  http.route({
    method: 'GET',
    path: `${prefix}/routes`,
    handler: (_req, res) => {
      const at = now();
      sendJson(res, 200, { at, hashrateWindowSeconds: HASHRATE_WINDOW_SECONDS, routes: ledger.routeList(at) });
    },
  });

  http.route({
    method: 'GET',
    path: `${prefix}/owners`,
    handler: (_req, res) => {
      const at = now();
      const s = ledger.summary(at);
      sendJson(res, 200, { at, hashrateWindowSeconds: HASHRATE_WINDOW_SECONDS, farmOwner: ledger.owners.farmOwner, work: s.work, owners: ledger.ownerList(at), payouts: opts.payouts?.view() ?? BOOKS_OFF });
    },
  });

  http.route({
    method: 'GET',
    path: `${prefix}/blocks`,
    handler: (_req, res, url) => {
      const raw = url.searchParams.get('limit');
      const limit = raw === null ? DEFAULT_RECENT_BLOCKS : Number(raw);
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > DEFAULT_RECENT_BLOCKS) {
        return sendJson(res, 400, { error: `limit must be a whole number from 1 to ${DEFAULT_RECENT_BLOCKS}, got "${raw}"` });
      }
      sendJson(res, 200, { at: now(), submitted: ledger.blocks.submittedCounts(), statuses: ledger.blocks.statusCounts(), blocks: ledger.blocks.recent(limit) });
    },
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
      const devices: DeviceView[] = [];
      ledger.forEachDevice((slot) => {
        if (state === null || (state === 'online') === ledger.isOnline(slot)) devices.push(ledger.view(slot, at));
      });
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
      const d = ledger.slotOf(worker);
      if (d < 0) return sendJson(res, 404, { error: `no such worker: ${worker}` });
      const at = now();
      const firstBucket = Math.floor(at / 1000 / BUCKET_SECONDS) - BUCKETS + 1;
      sendJson(res, 200, {
        at,
        hashrateWindowSeconds: HASHRATE_WINDOW_SECONDS,
        device: ledger.view(d, at),
        history: {
          /** Start of the first (oldest) bucket. */
          start: firstBucket * BUCKET_SECONDS * 1000,
          bucketSeconds: BUCKET_SECONDS,
          /** Average hashrate (H/s) in each bucket, oldest first. */
          hashrate: ledger.history(d, at),
        },
      });
    },
  });
}
