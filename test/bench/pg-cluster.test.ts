import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { findPostgres, startPgCluster } from '../../src/bench/pg-cluster.js';

/**
 * The throwaway PostgreSQL cluster the benchmark and the tests start: where the binaries are (or why there
 * are none), a durable cluster for the benchmark's commits and a fast one for the tests, and nothing left
 * behind after destroy().
 */

t.test('findPostgres: the newest version with an initdb, or why there is none', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'pg-root-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  t.same(findPostgres(join(root, 'absent')), { missing: `no PostgreSQL server binaries in ${join(root, 'absent')}/*/bin (apt-get install postgresql)` }, 'no directory: the reason, with the package to install');
  t.same(findPostgres(root), { missing: `no PostgreSQL server binaries in ${root}/*/bin (apt-get install postgresql)` }, 'an empty directory: the same');
  for (const v of ['9', '15', '16']) mkdirSync(join(root, v, 'bin'), { recursive: true });
  t.ok('missing' in findPostgres(root), 'version directories without initdb do not count');
  for (const v of ['9', '15']) writeFileSync(join(root, v, 'bin', 'initdb'), '');
  const found = findPostgres(root);
  if (process.getuid?.() === 0 && 'missing' in found) {
    t.match(found.missing, /no postgres user/, 'as root without a postgres user: that is the reason');
  } else {
    t.same(found, { bin: join(root, '15', 'bin') }, 'the highest version by number (15 over 9), not by text');
  }
});

const found = findPostgres();
t.test('durable and fast clusters: their settings, a database, and nothing left after destroy', { skip: 'missing' in found ? found.missing : false, timeout: 120_000 }, async (t) => {
  if ('missing' in found) return;
  for (const durable of [true, false]) {
    const cluster = await startPgCluster(found.bin, { durable });
    t.teardown(() => cluster.destroy());
    const name = durable ? 'durable' : 'fast';
    const url = await cluster.createDatabase('check');
    t.equal(url, `postgres://postgres@127.0.0.1:${cluster.port}/check`, `${name}: a loopback URL`);
    const show = async (setting: string) => String((await cluster.sql('check', `SHOW ${setting}`))[0]![setting]);
    const expected = durable ? { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' } : { fsync: 'off', synchronous_commit: 'on', full_page_writes: 'off' };
    t.same({ fsync: await show('fsync'), synchronous_commit: await show('synchronous_commit'), full_page_writes: await show('full_page_writes') }, expected, `${name}: the server runs with its settings`);
    t.same(cluster.settings, durable ? ['fsync=on', 'synchronous_commit=on', 'full_page_writes=on'] : ['fsync=off', 'full_page_writes=off'], `${name}: and says which`);
    t.equal(await show('listen_addresses'), '127.0.0.1', `${name}: loopback only`);
    const dataDir = String((await cluster.sql('check', 'SHOW data_directory'))[0]!.data_directory);
    t.ok(existsSync(dataDir), `${name}: its data directory exists while it runs`);
    cluster.destroy();
    t.notOk(existsSync(dataDir), `${name}: and is gone after destroy()`);
    await t.rejects(cluster.sql('postgres', 'SELECT 1'), `${name}: the server is stopped`);
  }
});
