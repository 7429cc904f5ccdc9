import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';

/**
 * A webhook receiver for alert tests: node:http on 127.0.0.1 that records each JSON body that arrives and
 * answers as scripted (default 200), closed at the test's end.
 */
export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export type Answer = { status: number; body?: string; headers?: Record<string, string> } | 'hang';

export class Receiver {
  readonly received: Received[] = [];
  /** Requests seen per path, answered or not. */
  readonly hits = new Map<string, number>();
  answer: (path: string, n: number) => Answer = () => ({ status: 200, body: 'ok' });
  private waiters: { path: string | null; n: number; resolve: () => void }[] = [];
  private readonly server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const n = (this.hits.get(path) ?? 0) + 1;
      this.hits.set(path, n);
      const a = this.answer(path, n);
      if (a !== 'hang') {
        this.received.push({ path, headers: req.headers, body: JSON.parse(raw) });
        res.writeHead(a.status, a.headers ?? {});
        res.end(a.body ?? '');
      }
      this.wake();
    });
  });

  static async start(t: Test): Promise<Receiver> {
    const r = new Receiver();
    await new Promise<void>((resolve) => r.server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => {
      r.server.closeAllConnections();
      r.server.close();
    });
    return r;
  }

  url(path: string): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }

  count(path: string | null): number {
    return path === null ? this.total() : (this.hits.get(path) ?? 0);
  }

  private total(): number {
    let n = 0;
    for (const v of this.hits.values()) n += v;
    return n;
  }

  /** Resolves once `n` requests (to `path`, or any) have arrived; fails after a generous bound. */
  waitFor(n: number, path: string | null = null, ms = 10_000): Promise<void> {
    if (this.count(path) >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`receiver: ${this.count(path)} of ${n} requests after ${ms} ms`)), ms);
      this.waiters.push({
        path,
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  private wake(): void {
    this.waiters = this.waiters.filter((w) => {
      if (this.count(w.path) < w.n) return true;
      w.resolve();
      return false;
    });
  }
}

