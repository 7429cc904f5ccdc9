import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

/**
 * A throwaway PostgreSQL cluster for a test file, from Debian's `postgresql` package (binaries in
 * /usr/lib/postgresql/<version>/bin): initdb into a temporary directory, the server on a free loopback port
 * (127.0.0.1 only, its unix socket in the same directory), stopped and removed at teardown. As root, the
 * binaries run as the `postgres` user (PostgreSQL refuses to run as root). Every wait is bounded.
 */
export interface TestPostgres {
  port: number;
  /** A URL of database `db` on this cluster. */
  url(db: string): string;
  /** A new empty database (its URL). */
  createDatabase(name: string): Promise<string>;
  /** Run SQL as the superuser in database `db`. */
  sql(db: string, text: string, values?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Stop the server (fast: clients are disconnected) and start it again, on the same port. */
  stop(): void;
  start(): void;
  /** Stop and remove everything. */
  destroy(): void;
}

const WAIT_SECONDS = '30';

/** The newest installed PostgreSQL's bin directory, or why there is none. */
export function findPostgres(): { bin: string } | { missing: string } {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0) return { missing: `no PostgreSQL server binaries in ${root}/*/bin (apt-get install postgresql)` };
  if (process.getuid?.() === 0) {
    try {
      execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
    } catch {
      return { missing: 'running as root and there is no postgres user to run the server as' };
    }
  }
  return { bin: path.join(root, versions[0]!, 'bin') };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Start a cluster, or give the reason it cannot (the test skips with it). `t.teardown` removes it.
 */
export async function startPostgres(t: { teardown(fn: () => void | Promise<void>): void }): Promise<TestPostgres | { missing: string }> {
  const found = findPostgres();
  if ('missing' in found) return found;
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(path.join(tmpdir(), 'dash-pg-'));
  const data = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const run = (tool: string, args: string[]) => {
    const file = path.join(found.bin, tool);
    const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args];
    try {
      execFileSync(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000, cwd: dir });
    } catch (err) {
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2_000) : '';
      throw new Error(`${tool} ${args.join(' ')} failed: ${(err as { stderr?: Buffer }).stderr?.toString() ?? (err as Error).message}\n${log}`);
    }
  };
  const port = await freePort();
  let running = false;
  const pgctl = (action: 'start' | 'stop') => {
    if (action === 'start') {
      // fsync off: a throwaway cluster; durability of the server itself is not what the tests check.
      run('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', WAIT_SECONDS, '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`, 'start']);
      running = true;
    } else {
      run('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', WAIT_SECONDS, 'stop']);
      running = false;
    }
  };
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--locale=C']);
  pgctl('start');
  const url = (db: string) => `postgres://postgres@127.0.0.1:${port}/${db}`;
  const sql = async (db: string, text: string, values: unknown[] = []) => {
    const client = new pg.Client({ connectionString: url(db), connectionTimeoutMillis: 5_000 });
    await client.connect();
    try {
      return (await client.query(text, values)).rows as Record<string, unknown>[];
    } finally {
      await client.end();
    }
  };
  let destroyed = false;
  const server: TestPostgres = {
    port,
    url,
    sql,
    async createDatabase(name) {
      await sql('postgres', `CREATE DATABASE "${name}"`);
      return url(name);
    },
    stop: () => pgctl('stop'),
    start: () => pgctl('start'),
    destroy() {
      if (destroyed) return;
      destroyed = true;
      try {
        if (running) run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', '-t', WAIT_SECONDS, 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  t.teardown(() => server.destroy());
  return server;
}
