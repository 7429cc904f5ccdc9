import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './processes.js';

/**
 * A throwaway PostgreSQL cluster, for the benchmark (the ledger's commit rate on PostgreSQL) and the tests
 * (test/helpers/postgres.ts): Debian's `postgresql` package (binaries in /usr/lib/postgresql/<version>/bin),
 * initdb into a temporary directory, the server on a free loopback port (127.0.0.1 only, its unix socket in
 * the same directory), stopped and removed by `destroy()`. As root, the binaries run as the `postgres` user
 * (PostgreSQL refuses to run as root). Every wait is bounded.
 */
export interface PgCluster {
  port: number;
  /** The server's settings that matter for a measurement (the `-c` options it was started with). */
  settings: string[];
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

export interface PgClusterOptions {
  /**
   * true: every commit on disk when it returns (fsync, synchronous_commit and full_page_writes on: what a
   * measurement of commits needs); false: fsync and full-page writes off (tests, where the server's own
   * durability is not what is checked).
   */
  durable: boolean;
}

const WAIT_SECONDS = '30';
const POSTGRES_ROOT = '/usr/lib/postgresql';

/** The newest installed PostgreSQL's bin directory under `root` (Debian's layout), or why there is none. */
export function findPostgres(root = POSTGRES_ROOT): { bin: string } | { missing: string } {
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
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

/** Start a cluster with the binaries in `bin` (findPostgres). Throws with initdb's or pg_ctl's output (and the server log) when it cannot. */
export async function startPgCluster(bin: string, o: PgClusterOptions): Promise<PgCluster> {
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(path.join(tmpdir(), 'dash-pg-'));
  const data = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  const run = (tool: string, args: string[]) => {
    const file = path.join(bin, tool);
    const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args];
    try {
      execFileSync(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000, cwd: dir });
    } catch (err) {
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2_000) : '';
      throw new Error(`${tool} ${args.join(' ')} failed: ${(err as { stderr?: Buffer }).stderr?.toString() ?? (err as Error).message}\n${log}`);
    }
  };
  const settings = o.durable ? ['fsync=on', 'synchronous_commit=on', 'full_page_writes=on'] : ['fsync=off', 'full_page_writes=off'];
  let running = false;
  let port = 0;
  const pgctl = (action: 'start' | 'stop') => {
    if (action === 'start') {
      const options = [`-p ${port}`, `-k ${dir}`, '-c listen_addresses=127.0.0.1', ...settings.map((s) => `-c ${s}`)].join(' ');
      run('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', WAIT_SECONDS, '-o', options, 'start']);
      running = true;
    } else {
      run('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', WAIT_SECONDS, 'stop']);
      running = false;
    }
  };
  let destroyed = false;
  const destroy = () => {
    if (destroyed) return;
    destroyed = true;
    try {
      if (running) run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', '-t', WAIT_SECONDS, 'stop']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    if (asRoot) {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
      chownSync(dir, uid, gid);
    }
    port = await freePort();
    // --no-sync: initdb's own files need not reach the disk; the server's commits are what `durable` is about.
    run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--locale=C']);
    pgctl('start');
  } catch (err) {
    destroy();
    throw err;
  }
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
  return {
    port,
    settings,
    url,
    sql,
    async createDatabase(name) {
      await sql('postgres', `CREATE DATABASE "${name}"`);
      return url(name);
    },
    stop: () => pgctl('stop'),
    start: () => pgctl('start'),
    destroy,
  };
}
