import type { OpenFiles } from '../util/open-files.js';
import { sendJson, type HttpServer } from './http-server.js';

/** One process that holds devices: the one process of `workers: 1`, or a cluster's worker. */
export interface WorkerView {
  /** The worker's index (0 .. workers-1; 0 in one process), kept by a restarted worker. */
  worker: number;
  pid: number | null;
  /** Which start of this worker (1, 2, ... across all forks of the host; 0 in one process). */
  incarnation: number;
  startedAt: number;
  restarts: number;
  /** Open device connections it holds. */
  devices: number;
  /** It has a pool connection with a current job. */
  ready: boolean;
  openFiles: OpenFiles | null;
}

export interface ClusterView {
  workers: WorkerView[];
}

/** `GET /api/cluster`: the processes holding devices (behind the token like the rest of /api). */
export function registerClusterRoute(http: HttpServer, view: () => ClusterView): void {
  http.route({ method: 'GET', path: '/api/cluster', handler: (_req, res) => sendJson(res, 200, view()) });
}
