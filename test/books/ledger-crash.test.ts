import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { EventBus } from '../../src/core/events.js';
import { SqliteLedgerStore } from '../../src/books/ledger-sqlite.js';
import { LedgerWriter } from '../../src/books/ledger-writer.js';
import { readLedger, tempDir } from './ledger-kit.js';

/**
 * kill -9 of a process writing the books at ~2,000 shares/s: after it, the file holds every share up to the
 * last commit the process reported, each once, with no hole; the loss is bounded by the commit window; the
 * killed run is a start without a stop, and the next start records the gap.
 */
const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'ledger-crash-child.ts');
const RATE = 2_000; // shares per second: 10 every 5 ms
const COMMIT_WINDOW_S = 0.1;

t.test('kill -9 under load loses at most the last commit window, nothing twice', async (t) => {
  const file = path.join(tempDir(t), 'books.sqlite');
  const proc = spawn(process.execPath, ['--import=tsx', child, file, '10', '5'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let lastCommit = 0;
  let lastEmitted = 0;
  let commits = 0;
  const done = new Promise<NodeJS.Signals | null>((resolve) => proc.on('close', (_code, signal) => resolve(signal)));
  const killer = setTimeout(() => proc.kill('SIGKILL'), 30_000); // bound: never hangs
  proc.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      const [word, n] = out.slice(0, nl).split(' ');
      out = out.slice(nl + 1);
      if (word === 'commit') {
        lastCommit = Number(n);
        commits++;
      } else if (word === 'emitted') lastEmitted = Number(n);
      // Kill at a random point of a commit window, once it has run for a while (about 1.5 s of commits).
      if (commits === 15 && word === 'commit') setTimeout(() => proc.kill('SIGKILL'), Math.floor(Math.random() * 150));
    }
  });
  const signal = await done;
  clearTimeout(killer);
  t.equal(signal, 'SIGKILL', 'killed by SIGKILL');
  t.ok(commits >= 15, `it committed ${commits} times before the kill`);

  const rows = readLedger(file);
  const ids = rows.shares.map((r) => r.share_id as number);
  const m = ids.length;
  t.same(ids, Array.from({ length: m }, (_, i) => i + 1), `shares 1..${m}, each once, no hole`);
  t.ok(m >= lastCommit, `every share up to the last reported commit is there (${m} >= ${lastCommit})`);
  const lost = lastEmitted - m;
  const bound = Math.ceil(RATE * COMMIT_WINDOW_S * 2) + 10;
  t.ok(lost >= 0 && lost <= bound, `lost ${lost} shares of ${lastEmitted}: at most two commit windows at ${RATE}/s (${bound})`);
  const minuteTotal = rows.minutes.reduce((n, r) => n + (r.accepted as number), 0);
  t.equal(minuteTotal, m, 'the per-minute counts equal the share rows after the crash');
  t.equal(rows.runs.length, 1);
  t.equal(rows.runs[0]!.stopped_at, null, 'the killed run has no stop');

  // The next start: everything is kept and the gap is in the books.
  const writer = new LedgerWriter({ store: new SqliteLedgerStore({ path: file }), bus: new EventBus() });
  await writer.start();
  await writer.stop('test over');
  const after = readLedger(file);
  t.equal(after.shares.length, m, 'nothing lost or added by reopening');
  t.equal(after.runs.length, 2);
  t.ok((after.runs[1]!.started_at as number) >= (after.runs[0]!.last_seen_at as number), 'the gap: from the killed run\'s last commit to the next start');
  t.equal(after.runs[1]!.stop_reason, 'test over');
});
