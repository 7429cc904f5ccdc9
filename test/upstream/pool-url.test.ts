import t from 'tap';
import { formatPoolUrl, parsePoolUrl } from '../../src/upstream/pool-url.js';

t.test('schemes', async (t) => {
  t.same(parsePoolUrl('stratum+tcp://dash.example.com:3333'), { host: 'dash.example.com', port: 3333, tls: false });
  t.same(parsePoolUrl('stratum+ssl://dash.example.com:443'), { host: 'dash.example.com', port: 443, tls: true });
  t.same(parsePoolUrl('stratum+tls://pool.example:4444'), { host: 'pool.example', port: 4444, tls: true });
  t.same(parsePoolUrl('tcp://pool.example:1'), { host: 'pool.example', port: 1, tls: false });
  t.same(parsePoolUrl('ssl://pool.example:65535'), { host: 'pool.example', port: 65535, tls: true });
  t.same(parsePoolUrl('tls://pool.example:5000'), { host: 'pool.example', port: 5000, tls: true });
  t.same(parsePoolUrl('STRATUM+TCP://Pool.Example:3333'), { host: 'pool.example', port: 3333, tls: false }, 'scheme and host are case-insensitive');
  t.same(parsePoolUrl('pool.example:3333'), { host: 'pool.example', port: 3333, tls: false }, 'bare host:port is plain TCP');
  t.same(parsePoolUrl('  stratum+tcp://pool.example:3333/  '), { host: 'pool.example', port: 3333, tls: false }, 'spaces and a trailing slash are fine');
});

t.test('IP literals', async (t) => {
  t.same(parsePoolUrl('stratum+tcp://127.0.0.1:3333'), { host: '127.0.0.1', port: 3333, tls: false });
  t.same(parsePoolUrl('stratum+ssl://[::1]:3333'), { host: '::1', port: 3333, tls: true });
  t.same(parsePoolUrl('[2001:db8::7]:3334'), { host: '2001:db8::7', port: 3334, tls: false });
});

t.test('refusals name the url and what is wrong', async (t) => {
  const cases: [string, string][] = [
    ['', "pool url '': empty"],
    ['stratum+tcp://pool.example', "pool url 'stratum+tcp://pool.example': missing port"],
    ['stratum+tcp://pool.example:', "pool url 'stratum+tcp://pool.example:': missing port"],
    ['pool.example', "pool url 'pool.example': missing port"],
    ['stratum+tcp://:3333', "pool url 'stratum+tcp://:3333': missing host"],
    ['stratum+tcp://', "pool url 'stratum+tcp://': missing host"],
    ['http://pool.example:80', "pool url 'http://pool.example:80': unsupported scheme 'http' (use stratum+tcp:// or stratum+ssl://)"],
    ['stratum+tcp://pool.example:abc', "pool url 'stratum+tcp://pool.example:abc': port 'abc' is not a number"],
    ['stratum+tcp://pool.example:0', "pool url 'stratum+tcp://pool.example:0': port 0 is out of range (1-65535)"],
    ['stratum+tcp://pool.example:65536', "pool url 'stratum+tcp://pool.example:65536': port 65536 is out of range (1-65535)"],
    ['stratum+tcp://pool.example:-1', "pool url 'stratum+tcp://pool.example:-1': port '-1' is not a number"],
    ['stratum+tcp://::1:3333', "pool url 'stratum+tcp://::1:3333': an IPv6 address must be in brackets, e.g. stratum+tcp://[::1]:3333"],
    ['stratum+tcp://[::1:3333', "pool url 'stratum+tcp://[::1:3333': unclosed '[' around an IPv6 address"],
    ['stratum+tcp://[::1]', "pool url 'stratum+tcp://[::1]': missing port"],
    ['stratum+tcp://[nothost]:3333', "pool url 'stratum+tcp://[nothost]:3333': 'nothost' is not an IPv6 address"],
    ['stratum+tcp://[::1]x:3333', "pool url 'stratum+tcp://[::1]x:3333': unexpected 'x:3333' after the IPv6 address"],
    ['stratum+tcp://user:pw@pool.example:3333', "pool url 'stratum+tcp://user:pw@pool.example:3333': credentials do not belong in the url (set the pool user and password)"],
    ['stratum+tcp://pool.example:3333/path', "pool url 'stratum+tcp://pool.example:3333/path': unexpected path '/path'"],
    ['stratum+tcp://pool.example:3333?x=1', "pool url 'stratum+tcp://pool.example:3333?x=1': query strings and fragments are not allowed"],
    ['stratum+tcp://bad host:3333', "pool url 'stratum+tcp://bad host:3333': 'bad host' is not a valid hostname"],
    ['stratum+tcp://-pool.example:3333', "pool url 'stratum+tcp://-pool.example:3333': '-pool.example' is not a valid hostname"],
    ['stratum+tcp://pool..example:3333', "pool url 'stratum+tcp://pool..example:3333': 'pool..example' is not a valid hostname"],
  ];
  for (const [url, message] of cases) t.throws(() => parsePoolUrl(url), { message }, url || '(empty)');
});

t.test('format gives back a url that parses to the same endpoint', async (t) => {
  for (const url of ['stratum+tcp://pool.example:3333', 'stratum+ssl://[::1]:443', 'tcp://10.0.0.1:1']) {
    const ep = parsePoolUrl(url);
    t.same(parsePoolUrl(formatPoolUrl(ep)), ep, url);
  }
  t.equal(formatPoolUrl({ host: '::1', port: 3333, tls: true }), 'stratum+ssl://[::1]:3333');
});
