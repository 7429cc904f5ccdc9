import { isIP, isIPv6 } from 'node:net';

/**
 * Pool addresses: `stratum+tcp://host:port` and `stratum+ssl://host:port`, also `stratum+tls://`, `tcp://`,
 * `ssl://`, `tls://` and a bare `host:port` (plain TCP). IPv6 literals go in brackets: `[::1]:3333`.
 * Every refusal names the url and what is wrong with it.
 */
export interface PoolEndpoint {
  /** Hostname (lower case) or IP literal, IPv6 without its brackets. */
  host: string;
  port: number;
  tls: boolean;
}

const SCHEMES: Record<string, boolean> = {
  'stratum+tcp': false,
  tcp: false,
  'stratum+ssl': true,
  'stratum+tls': true,
  ssl: true,
  tls: true,
};

const HOST_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

export function parsePoolUrl(url: string): PoolEndpoint {
  const fail = (what: string): never => {
    throw new Error(`pool url '${url}': ${what}`);
  };
  if (typeof url !== 'string') throw new Error(`pool url must be a string, got ${typeof url}`);
  let rest = url.trim();
  if (rest === '') fail('empty');

  let tls = false;
  const sep = rest.indexOf('://');
  if (sep !== -1) {
    const scheme = rest.slice(0, sep).toLowerCase();
    if (!(scheme in SCHEMES)) fail(`unsupported scheme '${scheme}' (use stratum+tcp:// or stratum+ssl://)`);
    tls = SCHEMES[scheme]!;
    rest = rest.slice(sep + 3);
  }
  if (/[?#]/.test(rest)) fail('query strings and fragments are not allowed');
  const slash = rest.indexOf('/');
  if (slash !== -1) {
    const path = rest.slice(slash);
    if (path !== '/') fail(`unexpected path '${path}'`);
    rest = rest.slice(0, slash);
  }
  if (rest.includes('@')) fail('credentials do not belong in the url (set the pool user and password)');
  if (rest === '') fail('missing host');

  let host: string;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close === -1) fail("unclosed '[' around an IPv6 address");
    host = rest.slice(1, close);
    if (!isIPv6(host)) fail(`'${host}' is not an IPv6 address`);
    const after = rest.slice(close + 1);
    if (after === '' || after === ':') fail('missing port');
    if (!after.startsWith(':')) fail(`unexpected '${after}' after the IPv6 address`);
    portText = after.slice(1);
  } else {
    const colons = rest.split(':').length - 1;
    if (colons > 1) fail('an IPv6 address must be in brackets, e.g. stratum+tcp://[::1]:3333');
    if (colons === 0) fail('missing port');
    const colon = rest.indexOf(':');
    host = rest.slice(0, colon).toLowerCase();
    portText = rest.slice(colon + 1);
    if (host === '') fail('missing host');
    if (isIP(host) === 0) checkHostname(host, fail);
  }
  if (portText === '') fail('missing port');
  if (!/^\d+$/.test(portText!)) fail(`port '${portText}' is not a number`);
  const port = Number(portText);
  if (port < 1 || port > 65535) fail(`port ${port} is out of range (1-65535)`);
  return { host, port, tls };
}

function checkHostname(host: string, fail: (what: string) => never): void {
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (name.length === 0 || name.length > 253) fail(`'${host}' is not a valid hostname`);
  for (const label of name.split('.')) {
    if (!HOST_LABEL.test(label)) fail(`'${host}' is not a valid hostname`);
  }
}

/** The canonical url of an endpoint (`stratum+tcp://host:port`, brackets around IPv6). */
export function formatPoolUrl(endpoint: PoolEndpoint): string {
  const host = isIPv6(endpoint.host) ? `[${endpoint.host}]` : endpoint.host;
  return `${endpoint.tls ? 'stratum+ssl' : 'stratum+tcp'}://${host}:${endpoint.port}`;
}
