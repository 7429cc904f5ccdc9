/**
 * Where the books are, as the config says it (`ledger.path`: an SQLite file; `ledger.url`: a PostgreSQL
 * database; at most one of the two), checked once, and a URL as it may be shown (without its password).
 */
export interface LedgerLocationConfig {
  path: string | null;
  url: string | null;
}

export type LedgerLocation = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string } | null;

/** The URL schemes the PostgreSQL store takes. */
export const POSTGRES_URL_SCHEMES = ['postgres:', 'postgresql:'] as const;

/** Problems with the ledger section, each naming its field (the config lists them all). */
export function ledgerConfigProblems(ledger: unknown): { path: string; message: string }[] {
  if (typeof ledger !== 'object' || ledger === null) return [];
  const { path, url } = ledger as { path?: unknown; url?: unknown };
  if (typeof url !== 'string') return [];
  const problems: { path: string; message: string }[] = [];
  if (typeof path === 'string') problems.push({ path: 'ledger.url', message: `ledger.path and ledger.url are both set: the books are one SQLite file (ledger.path) or one PostgreSQL database (ledger.url), set one of them` });
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {
    // reported below
  }
  if (parsed === null || !(POSTGRES_URL_SCHEMES as readonly string[]).includes(parsed.protocol)) {
    problems.push({ path: 'ledger.url', message: `ledger.url (${redactLedgerUrl(url)}) must be a PostgreSQL URL: postgres://user:password@host:5432/database` });
  }
  return problems;
}

/** The store the config asks for, or null (no books). */
export function ledgerLocation(ledger: LedgerLocationConfig): LedgerLocation {
  if (ledger.url !== null) return { kind: 'postgres', url: ledger.url };
  if (ledger.path !== null) return { kind: 'sqlite', path: ledger.path };
  return null;
}

/** The URL without its password (in the user part or as a `password` parameter): what logs and errors show. */
export function redactLedgerUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // Not a URL: show only what comes before any user part.
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
  if (u.password !== '') u.password = '***';
  if (u.searchParams.has('password')) u.searchParams.set('password', '***');
  return u.toString();
}
