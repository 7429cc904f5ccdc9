import t from 'tap';
import { buildConfig, DEFAULT_CONFIG } from '../../src/config.js';
import { ledgerLocation, redactLedgerUrl } from '../../src/books/ledger-location.js';
import { pgFaultOf } from '../../src/books/ledger-pg.js';

/** Where the books are: ledger.path (SQLite) or ledger.url (PostgreSQL), checked with the config; the URL as shown. */

const base = { pools: [{ url: 'stratum+tcp://127.0.0.1:1', user: 'X.w' }] };

t.test('ledger.url: off by default, a postgres:// or postgresql:// URL turns the PostgreSQL books on', async (t) => {
  t.equal(DEFAULT_CONFIG.ledger.url, null);
  t.same(ledgerLocation(buildConfig(base).ledger), null, 'no books by default');
  for (const url of ['postgres://books:pw@db.farm:5432/ledger', 'postgresql://db.farm/ledger?sslmode=require', 'postgres:///ledger?host=/run/postgresql']) {
    t.same(ledgerLocation(buildConfig({ ...base, ledger: { url } }).ledger), { kind: 'postgres', url });
  }
  t.same(ledgerLocation(buildConfig({ ...base, ledger: { path: '/var/lib/b.sqlite' } }).ledger), { kind: 'sqlite', path: '/var/lib/b.sqlite' });
  t.equal(buildConfig({ ...base, ledger: { url: '' } }).ledger.url, null, 'an empty URL (e.g. DASH_PROXY_LEDGER_URL=) is off');
});

t.test('refused with the field named: both path and url, a URL that is not PostgreSQL (its password not shown), not text', async (t) => {
  t.throws(() => buildConfig({ ...base, ledger: { path: '/var/lib/b.sqlite', url: 'postgres://db/ledger' } }), /ledger\.path and ledger\.url are both set/);
  for (const url of ['mysql://root:hunter2@db/ledger', 'db.farm:5432/ledger', 'http://db/ledger']) {
    const err = (() => {
      try {
        buildConfig({ ...base, ledger: { url } });
        return null;
      } catch (e) {
        return e as Error;
      }
    })();
    t.ok(err, `${url}: refused`);
    t.match(err!.message, /ledger\.url \(.*\) must be a PostgreSQL URL: postgres:\/\/user:password@host:5432\/database/);
    t.notMatch(err!.message, /hunter2/, 'the password is not in the message');
  }
  t.throws(() => buildConfig({ ...base, ledger: { url: 5432 } } as never), /ledger\.url/);
});

t.test('a URL as shown: the password masked, in the user part or as a parameter; the rest kept', async (t) => {
  t.equal(redactLedgerUrl('postgres://books:s3cret@db.farm:5432/ledger'), 'postgres://books:***@db.farm:5432/ledger');
  t.equal(redactLedgerUrl('postgres://db.farm/ledger?user=books&password=s3cret&sslmode=require'), 'postgres://db.farm/ledger?user=books&password=***&sslmode=require');
  t.equal(redactLedgerUrl('postgres://books@db.farm/ledger'), 'postgres://books@db.farm/ledger', 'nothing to mask');
  t.equal(redactLedgerUrl('not a url://books:s3cret@db'), 'not a url://***@db', 'not a URL: the user part masked anyway');
});

t.test('PostgreSQL errors as fault causes', async (t) => {
  const cases: [string, string, string][] = [
    ['08006', '', 'unreachable'],
    ['08001', '', 'unreachable'],
    ['57P01', 'terminating connection due to administrator command', 'unreachable'],
    ['57P03', 'the database system is starting up', 'unreachable'],
    ['ECONNREFUSED', '', 'unreachable'],
    ['ETIMEDOUT', '', 'unreachable'],
    ['', 'Connection terminated unexpectedly', 'unreachable'],
    ['', 'timeout exceeded when trying to connect', 'unreachable'],
    ['', 'Query read timeout', 'unreachable'],
    ['53100', 'could not extend file: No space left on device', 'full'],
    ['25006', 'cannot execute INSERT in a read-only transaction', 'read-only'],
    ['42501', 'permission denied for table shares', 'read-only'],
    ['55P03', 'canceling statement due to lock timeout', 'locked'],
    ['40P01', 'deadlock detected', 'locked'],
    ['53300', 'too many connections', 'locked'],
    ['3D000', 'database "ledger" does not exist', 'missing'],
    ['28P01', 'password authentication failed', 'refused'],
    ['58030', 'could not read block', 'io'],
    ['XX001', 'invalid page in block', 'io'],
    ['22P02', 'invalid input syntax', 'other'],
  ];
  for (const [code, message, cause] of cases) t.equal(pgFaultOf(code, message), cause, `${code || message}: ${cause}`);
});
