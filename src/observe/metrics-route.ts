import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { HttpServer } from './http-server.js';
import type { ProxyMetrics } from './metrics.js';

/**
 * `GET /metrics`: the Prometheus exposition text, streamed as ProxyMetrics renders it (chunked transfer
 * encoding, with backpressure), and compressed with gzip when the scraper accepts it, as Prometheus
 * does: a 10,000-device farm's text is about 8 MB and compresses about 25-fold. zlib works on libuv's
 * thread pool, off the event loop. Behind the HTTP server's token when one is configured.
 */
export function registerMetricsRoute(http: HttpServer, metrics: ProxyMetrics, path = '/metrics'): void {
  http.route({
    method: 'GET',
    path,
    handler: async (req, res) => {
      const gzip = /\bgzip\b/i.test(String(req.headers['accept-encoding'] ?? ''));
      res.writeHead(200, {
        'content-type': metrics.contentType,
        'cache-control': 'no-store',
        ...(gzip ? { 'content-encoding': 'gzip', vary: 'accept-encoding' } : {}),
      });
      const source = Readable.from(metrics.pieces());
      try {
        if (gzip) await pipeline(source, createGzip({ level: 1 }), res);
        else await pipeline(source, res);
      } catch (err) {
        // The scraper went away mid-response: nothing to answer any more.
        if (!res.destroyed) res.destroy(err as Error);
      }
    },
  });
}
