import type { ProxyConfig } from '../config.js';
import { checkOwner } from './ledger-input.js';
import type { LedgerReader } from './ledger-reader.js';
import { PgLedgerReader } from './ledger-pg-reader.js';
import { SqliteLedgerReader } from './ledger-sqlite-reader.js';
import { ThreadedLedgerReader } from './ledger-reader-thread.js';
import { OwnerMap } from './owners.js';
import type { PayoutRules } from './ledger-payout.js';

/**
 * The reader of the books a configuration names (an SQLite file or a PostgreSQL database; null: it names none), opened on first use. `threaded`:
 * in a worker thread (what the proxy's API uses, so a long query never pauses its sockets).
 */
export function openLedgerReader(ledger: ProxyConfig['ledger'], opts: { threaded?: boolean } = {}): LedgerReader | null {
  // PostgreSQL is read asynchronously already: no thread.
  if (ledger.url !== null) return new PgLedgerReader(ledger.url);
  if (ledger.path === null) return null;
  return opts.threaded ? new ThreadedLedgerReader(ledger.path) : new SqliteLedgerReader(ledger.path);
}

/** The owners' fees and the PPLNS window of a configuration, as recording a payout needs them. */
export function payoutRules(config: Pick<ProxyConfig, 'owners' | 'books'>): PayoutRules & { owners: OwnerMap } {
  const owners = OwnerMap.compile(config.owners, config.books);
  return { owners, fees: owners, pplnsWindow: config.books.pplnsWindow };
}

/** An owner a query names (or none): one the configuration or the books know, else a LedgerInputError naming `field`. */
export async function namedOwner(owner: string | undefined, reader: LedgerReader, owners: OwnerMap, field: string): Promise<string | undefined> {
  if (owner === undefined) return undefined;
  return checkOwner(owner, [...new Set([...owners.names, ...(await reader.owners())])].sort(), field);
}
