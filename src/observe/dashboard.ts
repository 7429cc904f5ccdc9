import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import { sendJson, type HttpServer } from './http-server.js';

/**
 * The dashboard page: static files from the `dashboard/` folder beside this module (src/observe/dashboard
 * under tsx, dist/observe/dashboard after the build), plain browser JavaScript with no build step and no
 * request to any other host.
 *
 *   GET /                    the page (needs the read-only token when one is configured: `/?token=...`;
 *                            the page passes it on to the websocket feed and the JSON API)
 *   GET /dashboard/<file>    its script, style sheet and icon (public: code, no farm data)
 *
 * Every response carries a Content-Security-Policy that allows this origin only and no inline script or
 * style, so injected text (a worker name is chosen by whoever connects a device) cannot run.
 */
export const DASHBOARD_DIR = new URL('./dashboard/', import.meta.url);

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  // 'self' covers ws:/wss: to this host in CSP Level 3 browsers.
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const CONTENT_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
};

/** File names that may be served: one plain name with a known extension (no folders, no dot files). */
const FILE_NAME = /^[a-z0-9][a-z0-9-]*\.(html|js|css|svg|png)$/;

export interface DashboardOptions {
  /** Folder the files are read from (default DASHBOARD_DIR). */
  dir?: URL;
}

export function registerDashboardRoutes(server: HttpServer, opts: DashboardOptions = {}): void {
  const dir = opts.dir ?? DASHBOARD_DIR;

  server.route({ method: 'GET', path: '/', handler: (_req, res) => serveFile(res, dir, 'index.html') });
  server.route({
    method: 'GET',
    path: '/dashboard/',
    public: true,
    handler: (_req, res, url) => {
      const name = url.pathname.slice('/dashboard/'.length);
      if (!FILE_NAME.test(name) || name === 'index.html') return sendJson(res, 404, { error: `no such file: ${url.pathname}` });
      return serveFile(res, dir, name);
    },
  });
}

async function serveFile(res: http.ServerResponse, dir: URL, name: string): Promise<void> {
  let body: Buffer;
  try {
    body = await readFile(new URL(name, dir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return sendJson(res, 404, { error: `no such file: /dashboard/${name}` });
    throw err;
  }
  const ext = name.slice(name.lastIndexOf('.') + 1);
  res.writeHead(200, {
    'content-type': CONTENT_TYPES[ext] ?? 'application/octet-stream',
    'content-length': body.length,
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-cache',
  });
  res.end(body);
}
