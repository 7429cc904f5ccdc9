/**
 * The proxy's configuration for a benchmark run (written to a file and given to `start --config`), in the
 * same shape as config/proxy.example.json. Everything listens on 127.0.0.1; limits are sized to the run.
 */

export interface BenchProxyConfigOptions {
  poolPort: number;
  /** The device port. */
  port: number;
  /** Devices in the run (sizes the extranonce split and the device limits). */
  devices: number;
  /** The books' SQLite file (`ledger.path`); absent or null: no books. */
  ledgerPath?: string | null;
  /** Worker processes (`workers`, issue 15); absent or 1: one process, as before. */
  workers?: number;
  /** The HTTP port (the API); absent: 0, one the system picks (nobody reads it). */
  httpPort?: number;
}

/** Difficulty for the share runs: so low that every hash meets it (the target clamps to the largest one). */
export const EVERY_HASH_DIFFICULTY = 1e-12;

function base(o: BenchProxyConfigOptions) {
  // Each worker allows ceil(limit / workers) devices. Node's round-robin hands a connection to the next
  // worker that is free, not strictly in turn: under a connect burst one worker gets more than its share
  // (at 10,000 devices on 6 workers one reached its 1,684 and refused 15), so workers get a quarter more room.
  const workers = o.workers ?? 1;
  const room = o.devices + 100 + (workers > 1 ? Math.ceil(o.devices / 4) : 0);
  return {
    // Only written when above 1, so that a build without workers still reads the file.
    ...((o.workers ?? 1) > 1 ? { workers: o.workers } : {}),
    pools: [{ name: 'bench', url: `stratum+tcp://127.0.0.1:${o.poolPort}`, user: 'bench.farm', password: 'x' }],
    listen: { host: '127.0.0.1', port: o.port, tls: null },
    http: { host: '127.0.0.1', port: o.httpPort ?? 0, token: null, allowedOrigins: [] },
    expectedDevices: Math.max(1, o.devices),
    limits: { maxDevices: room, maxConnectionsPerIp: room },
    log: { level: 'warn', format: 'json' },
    shutdown: { drainSeconds: 0 },
  };
}

/**
 * Fan-out and memory: the yardstick's scripted pool sets difficulty 1024; devices start at 256 (the
 * proxy's default, below the pool's as it must be).
 */
export function fanoutProxyConfig(o: BenchProxyConfigOptions): Record<string, unknown> {
  return { ...base(o), difficulty: { start: 256, min: 0.001, max: 1e9 } };
}

/**
 * Share throughput: device and pool difficulty so low that every submit is a valid share, fully validated
 * (X11 and all) and forwarded. min = max = start keeps vardiff from raising it under the flood, and the
 * per-device submit limit is out of the way. With `ledgerPath`, the proxy keeps its books there.
 */
export function shareProxyConfig(o: BenchProxyConfigOptions): Record<string, unknown> {
  const b = base(o);
  return {
    ...b,
    difficulty: { start: EVERY_HASH_DIFFICULTY, min: EVERY_HASH_DIFFICULTY, max: EVERY_HASH_DIFFICULTY },
    limits: { ...b.limits, submitsPerSecond: 1_000_000 },
    ledger: { path: o.ledgerPath ?? null },
  };
}

/**
 * The soak: device and pool difficulty so low that every hash is a share (so a simulated device's hashrate is
 * its share rate, and each share is validated, forwarded and judged by the pool); the metrics' retention of
 * a departed device's series set to `retentionSeconds` (short, so that the soak runs past it many times);
 * the books in `ledgerPath` when given.
 */
export function soakProxyConfig(o: BenchProxyConfigOptions & { retentionSeconds: number }): Record<string, unknown> {
  return {
    ...shareProxyConfig(o),
    metrics: { retentionSeconds: o.retentionSeconds },
  };
}
