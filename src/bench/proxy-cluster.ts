import { performance } from 'node:perf_hooks';

/**
 * The proxy's processes as its HTTP API tells them (`GET /api/cluster`, one entry per worker; one entry in
 * one-process mode), for the benchmark's waits and the soak's restart check.
 */

export interface ClusterWorker {
  worker: number;
  pid: number;
  incarnation: number;
  restarts: number;
  devices: number;
  ready: boolean;
}

/** GET a JSON document from the proxy's HTTP port on loopback; null when it does not answer 200. */
export async function getJson<T>(httpPort: number, path: string, timeoutMs = 5000): Promise<T | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${httpPort}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    if (res.status !== 200) return null;
    return (await res.json()) as T;
  } catch {
    return null;
  }
}

export async function clusterWorkers(httpPort: number): Promise<ClusterWorker[] | null> {
  return (await getJson<{ workers: ClusterWorker[] }>(httpPort, '/api/cluster'))?.workers ?? null;
}

/** Resolves true once `count` workers are listed and every one is ready (polled), false at `timeoutMs`. */
export async function waitForWorkers(httpPort: number, count: number, timeoutMs: number, stop: () => boolean = () => false): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end && !stop()) {
    const workers = await clusterWorkers(httpPort);
    if (workers && workers.length === count && workers.every((w) => w.ready)) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}
