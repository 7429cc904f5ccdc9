import t from 'tap';
import { describeOpenFiles, logOpenFiles, OPEN_FILES_MARGIN, openFilesProblems, parseOpenFiles } from '../../src/util/open-files.js';

const limitsText = (soft: string, hard: string) =>
  [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max cpu time              unlimited            unlimited            seconds   ',
    'Max processes             96369                96369                processes ',
    `Max open files            ${soft.padEnd(20)} ${hard.padEnd(20)} files     `,
    'Max locked memory         8388608              8388608              bytes     ',
    '',
  ].join('\n');

t.test('the "Max open files" line of /proc/self/limits', async (t) => {
  t.same(parseOpenFiles(limitsText('20000', '20000')), { soft: 20000, hard: 20000 });
  t.same(parseOpenFiles(limitsText('1024', '1048576')), { soft: 1024, hard: 1048576 });
  t.same(parseOpenFiles(limitsText('unlimited', 'unlimited')), { soft: 'unlimited', hard: 'unlimited' });
  t.equal(parseOpenFiles('Limit Soft Hard Units\nMax processes 1 1 processes\n'), null, 'no such line');
  t.equal(parseOpenFiles('Max open files            lots                 20000                files'), null, 'a value that is no number');
  t.equal(describeOpenFiles({ soft: 20000, hard: 20000 }), 'open files: soft 20000, hard 20000');
});

t.test('judged against the devices a process may hold', async (t) => {
  t.same(openFilesProblems({ soft: 20000, hard: 20000 }, 10_000), [], 'enough, and raised to the hard limit');
  t.same(openFilesProblems({ soft: 'unlimited', hard: 'unlimited' }, 1_000_000), []);
  const short = openFilesProblems({ soft: 20000, hard: 20000 }, 20000);
  t.equal(short.length, 1);
  t.match(short[0], `below the 20000 devices this process may hold plus ${OPEN_FILES_MARGIN}`);
  t.match(short[0], `devices past ${20000 - OPEN_FILES_MARGIN} may be refused`);
  t.same(openFilesProblems({ soft: 20000 - OPEN_FILES_MARGIN, hard: 20000 - OPEN_FILES_MARGIN }, 20000 - 2 * OPEN_FILES_MARGIN), [], 'exactly the devices plus the margin');
  const notRaised = openFilesProblems({ soft: 1024, hard: 4096 }, 100);
  t.same(notRaised, ['the soft limit (1024) could not be raised to the hard limit (4096)']);
  t.equal(openFilesProblems({ soft: 1024, hard: 'unlimited' }, 100).length, 1, 'a soft limit under an unlimited hard one');
});

t.test('logged once, with a warning per problem', async (t) => {
  const lines: string[] = [];
  const log = { info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`) };
  t.same(logOpenFiles(log, 5_000, { soft: 20000, hard: 20000 }), { soft: 20000, hard: 20000 });
  t.same(lines, ['info open files: soft 20000, hard 20000']);
  lines.length = 0;
  logOpenFiles(log, 50_000, { soft: 1024, hard: 4096 });
  t.equal(lines.length, 3);
  t.equal(lines[0], 'info open files: soft 1024, hard 4096');
  t.match(lines[1], /^warn open files: the soft limit \(1024\) could not be raised/);
  t.match(lines[2], /^warn open files: the soft limit \(1024\) is below the 50000 devices/);
  lines.length = 0;
  t.equal(logOpenFiles(log, 1, null), null, 'nothing to read (not Linux): nothing logged');
  t.same(lines, []);
});
