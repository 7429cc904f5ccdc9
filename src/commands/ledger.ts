import { ConfigError, buildConfigFor, configFromEnv, readConfigFile, type ProxyConfig } from '../config.js';
import { formatBlocks, formatPayouts, formatProblems, formatReport } from '../books/ledger-format.js';
import { LedgerInputError, parseAmount, parseBlocks, parseMethod, parseOptionalRange, parseRange, REPORT_FORMATS, TIME_WORDS } from '../books/ledger-input.js';
import { recordPayout } from '../books/ledger-payout.js';
import { REPORT_GROUPS, type LedgerReader } from '../books/ledger-reader.js';
import { LedgerFaultError, LedgerRefusedError } from '../books/ledger-store.js';
import { namedOwner, openLedgerReader, payoutRules } from '../books/open-reader.js';
import { PAYOUT_METHODS } from '../books/payouts.js';
import type { Command } from './command.js';
import { UsageError } from './command.js';
import { defineFlags, type FlagParser, type FlagDefs } from './flags.js';

/**
 * `dash-farm-proxy ledger <report|payouts|payout record|blocks|verify>`: the books of the configuration's
 * `ledger.path`, read (and payouts recorded) beside a running proxy. Misuse (a bad date, range, group,
 * format, amount or owner; no books configured; a file missing or not ours) exits 2 naming the thing.
 */
const config = { type: 'string', short: 'c', placeholder: 'file', help: 'the proxy\'s JSON config file (its ledger.path or ledger.url, owners and books; pools may be left out); DASH_PROXY_* variables apply as for start' } as const;
const from = (what: string) => ({ type: 'string', placeholder: 'time', help: `${what} from this time on (${TIME_WORDS})` }) as const;
const to = { type: 'string', placeholder: 'time', help: 'up to this time, not included (the same forms)' } as const;
const owner = { type: 'string', placeholder: 'name', help: 'only this owner' } as const;
const format = { type: 'enum', choices: REPORT_FORMATS, default: 'table', help: 'output format' } as const;

const reportFlags = defineFlags({ config, from: from('shares sent to the pool'), to, by: { type: 'enum', choices: REPORT_GROUPS, default: 'owner', help: 'one row per owner, worker, pool, route, target (routing) or UTC day' }, owner, format });
const payoutsFlags = defineFlags({ config, from: from('payouts recorded'), to, owner: { ...owner, help: 'only payouts with a part for this owner' }, format });
const recordFlags = defineFlags({
  config,
  amount: { type: 'string', placeholder: 'DASH', help: 'what the pool paid, in DASH (at most 8 decimals), required' },
  from: from('the period it pays for:'),
  to,
  method: { type: 'enum', choices: PAYOUT_METHODS, help: 'how it is split (default: the config\'s books.payoutMethod)' },
  blocks: { type: 'string', placeholder: 'time[=DASH],...', help: 'pplns: the blocks it pays for, by time inside the period, each with its reward after = (rewards summing exactly to --amount) or none (--amount split equally)' },
  blockReward: { type: 'string', placeholder: 'DASH', help: 'pps: the block reward each share is valued at (x share difficulty / network difficulty)' },
  note: { type: 'string', help: 'a note kept with the payout (e.g. the pool\'s transaction id)' },
  format: { type: 'enum', choices: ['table', 'json'] as const, default: 'table', help: 'output format' },
});
const blocksFlags = defineFlags({ config, from: from('solo blocks found'), to, format });
const verifyFlags = defineFlags({ config, from: from('minutes'), to });
/** How the range's ends are named in messages. */
const FLAGS = { from: '--from', to: '--to' };

interface Sub {
  name: string;
  summary: string;
  flags: FlagParser<FlagDefs>;
  help: string;
  run(argv: string[], ctx: { reader: LedgerReader; config: ProxyConfig }): Promise<{ code: number; out: string }>;
}

const subs: Sub[] = [
  {
    name: 'report',
    summary: 'shares sent to the pool and pool-accepted work, by owner, worker, pool, route, target or day',
    flags: reportFlags as never,
    help: reportFlags.helpText({
      summary: 'dash-farm-proxy ledger report: what the pool made of the farm\'s shares in [--from, --to), one row per owner, worker, pool, route, target or UTC day: shares sent, accepted, rejected, unanswered, accepted work (sum of credited difficulty) and its part of the total.',
      usage: 'dash-farm-proxy ledger report --config file --from time --to time [--by owner|worker|pool|route|target|day] [--format table|csv|json]',
      footer: ['Example:', '  dash-farm-proxy ledger report --config proxy.json --from 2026-12-01 --to 2026-12-06T12:00:00Z --by owner --format csv'],
    }),
    async run(argv, { reader, config }) {
      const v = reportFlags.parse(argv);
      const range = parseRange(v.from, v.to, FLAGS);
      const who = await namedOwner(v.owner, reader, payoutRules(config).owners, '--owner');
      return { code: 0, out: formatReport(range, v.by, await reader.report(range, v.by, who), v.format) };
    },
  },
  {
    name: 'payouts',
    summary: 'the payouts recorded, each with its split among owners',
    flags: payoutsFlags as never,
    help: payoutsFlags.helpText({
      summary: 'dash-farm-proxy ledger payouts: the payouts recorded (all, or those recorded in [--from, --to)), each with its split: work, gross, hosting fee, fees received and total per owner.',
      usage: 'dash-farm-proxy ledger payouts --config file [--from time --to time] [--owner name] [--format table|csv|json]',
      footer: ['Example:', '  dash-farm-proxy ledger payouts --config proxy.json --owner alice --format json'],
    }),
    async run(argv, { reader, config }) {
      const v = payoutsFlags.parse(argv);
      const range = parseOptionalRange(v.from, v.to, FLAGS);
      const who = await namedOwner(v.owner, reader, payoutRules(config).owners, '--owner');
      return { code: 0, out: formatPayouts(await reader.payouts(range, who), v.format) };
    },
  },
  {
    name: 'payout record',
    summary: 'record a payout the pool made and split it among owners by their work',
    flags: recordFlags as never,
    help: recordFlags.helpText({
      summary: [
        'dash-farm-proxy ledger payout record: record a payout the pool made, split among owners by the books\' pool-accepted work,',
        'hosting fees first, exact to the duff (see the README, "The books: owners and payouts"): prop by the work of the period;',
        'pplns by the last books.pplnsWindow of work before each of --blocks (each block\'s own reward when given, else equal parts);',
        'pps by each share at --block-reward x its difficulty / the network difficulty of its job. The payout and its splits are',
        'stored in one transaction.',
      ].join('\n'),
      usage: 'dash-farm-proxy ledger payout record --config file --amount DASH --from time --to time [--method prop|pplns|pps] [options]',
      footer: [
        'Examples:',
        '  dash-farm-proxy ledger payout record --config proxy.json --amount 1.5 --from 2026-12-05 --to 2026-12-06',
        '  dash-farm-proxy ledger payout record --config proxy.json --amount 2 --from 2026-12-05 --to 2026-12-06 \\',
        '      --method pplns --blocks 2026-12-05T10:12:00Z,2026-12-05T18:40:00Z --note "pool tx 9f3c..."',
        '  dash-farm-proxy ledger payout record --config proxy.json --amount 2 --from 2026-12-05 --to 2026-12-06 \\',
        '      --method pplns --blocks 2026-12-05T10:12:00Z=0.75,2026-12-05T18:40:00Z=1.25',
      ],
    }),
    async run(argv, { reader, config }) {
      const v = recordFlags.parse(argv);
      if (v.amount === undefined) throw new LedgerInputError('--amount is required (DASH, like 1.5)');
      const amount = parseAmount(v.amount, '--amount');
      const period = parseRange(v.from, v.to, FLAGS);
      const method = v.method ?? parseMethod(config.books.payoutMethod, 'books.payoutMethod');
      const payout = await recordPayout(
        reader,
        {
          amount,
          method,
          period,
          blocks: v.blocks === undefined ? null : parseBlocks(v.blocks, '--blocks', period),
          blockReward: v.blockReward === undefined ? null : parseAmount(v.blockReward, '--block-reward'),
          note: v.note ?? null,
        },
        payoutRules(config),
        Date.now(),
      );
      return { code: 0, out: formatPayouts([payout], v.format) };
    },
  },
  {
    name: 'blocks',
    summary: 'the solo blocks submitted to dashd: result, place on the chain, reward and its payout',
    flags: blocksFlags as never,
    help: blocksFlags.helpText({
      summary: [
        'dash-farm-proxy ledger blocks: the blocks the proxy submitted to its dashd (solo; all, or those found in [--from, --to)): height,',
        'hash, worker and owner of the share, pool, the farm\'s reward, dashd\'s answer, status (submitted, in-chain, chainlocked,',
        'mature, orphaned, rejected), confirmations, ChainLock, and the payout that split the reward among owners once it was final',
        '(chainlocked or mature; by books.payoutMethod; see `ledger payouts`).',
      ].join('\n'),
      usage: 'dash-farm-proxy ledger blocks --config file [--from time --to time] [--format table|csv|json]',
      footer: ['Example:', '  dash-farm-proxy ledger blocks --config proxy.json --from 2026-12-01 --to 2026-12-07 --format csv'],
    }),
    async run(argv, { reader }) {
      const v = blocksFlags.parse(argv);
      return { code: 0, out: formatBlocks(await reader.blocks(parseOptionalRange(v.from, v.to, FLAGS)), v.format) };
    },
  },
  {
    name: 'verify',
    summary: 'check the books add up: per-minute totals against share rows, payouts against their splits, blocks against their payouts',
    flags: verifyFlags as never,
    help: verifyFlags.helpText({
      summary: [
        'dash-farm-proxy ledger verify: check the books are consistent. Each worker_minutes row\'s counts by verdict and accepted',
        'work must equal its share rows; every payout\'s splits must sum to it (gross parts and totals), each total be gross - fee +',
        'fees received, and the fees taken equal the fees received; a paid solo block\'s payout must be its reward, its own, and the block',
        'chainlocked or mature. Exit status: 0 consistent, 1 with each problem named.',
      ].join('\n'),
      usage: 'dash-farm-proxy ledger verify --config file [--from time --to time]',
      footer: ['Example:', '  dash-farm-proxy ledger verify --config proxy.json && echo "books consistent"'],
    }),
    async run(argv, { reader }) {
      const v = verifyFlags.parse(argv);
      const problems = await reader.verify(parseOptionalRange(v.from, v.to, FLAGS));
      return { code: problems.length === 0 ? 0 : 1, out: formatProblems(reader.location, problems) };
    },
  },
];

const width = Math.max(...subs.map((s) => s.name.length));
const help = [
  'dash-farm-proxy ledger: read the books (the SQLite file of the config\'s ledger.path, or the PostgreSQL database of its ledger.url) and record payouts in them.',
  '',
  'Usage: dash-farm-proxy ledger <subcommand> --config file [options]',
  '',
  'Subcommands:',
  ...subs.map((s) => `  ${s.name.padEnd(width)}  ${s.summary}`),
  '',
  'Run `dash-farm-proxy ledger <subcommand> --help` for its options. Times are ISO dates or UTC date-times',
  '(2026-12-06, 2026-12-06T03:00:00Z); a range is [--from, --to). Exit status: 0 done, 1 verify found problems',
  '(or the books cannot be read now), 2 misuse (a bad option, no books configured, a file missing or not ours).',
  '',
  'Example:',
  '  dash-farm-proxy ledger report --config proxy.json --from 2026-12-01 --to 2026-12-02 --by worker',
].join('\n');

/** The subcommand named at the head of argv, and the arguments after its name. */
function pick(argv: readonly string[]): { sub: Sub; rest: string[] } | null {
  for (const sub of subs) {
    const words = sub.name.split(' ');
    if (words.every((w, i) => argv[i] === w)) return { sub, rest: argv.slice(words.length) };
  }
  return null;
}

/** The configuration as a reader of the books needs it: checked like the proxy's, but pools may be left out. */
function configOf(path: string | undefined): ProxyConfig {
  const c = buildConfigFor('books', path === undefined ? undefined : readConfigFile(path), configFromEnv(process.env));
  if (c.ledger.path === null && c.ledger.url === null) throw new LedgerInputError(`no books: the configuration${path ? ` (${path})` : ''} has no ledger.path or ledger.url (set one, or DASH_PROXY_LEDGER_PATH / DASH_PROXY_LEDGER_URL)`);
  return c;
}

const command: Command = {
  name: 'ledger',
  summary: 'read the books (report, payouts, blocks, verify) and record payouts',
  help,
  helpOf(argv) {
    return pick(argv)?.sub.help ?? help;
  },
  async run(argv) {
    const picked = pick(argv);
    if (!picked) throw new UsageError(argv.length === 0 ? `a subcommand is needed: ${subs.map((s) => s.name).join(', ')}` : `unknown subcommand '${argv[0]}' (one of: ${subs.map((s) => s.name).join(', ')})`);
    const { sub, rest } = picked;
    const name = `dash-farm-proxy ledger ${sub.name}`;
    let reader: LedgerReader | null = null;
    try {
      const cfg = configOf(sub.flags.parseArgs(rest).values.config as string | undefined);
      reader = openLedgerReader(cfg.ledger)!;
      const { code, out } = await sub.run(rest, { reader, config: cfg });
      process.stdout.write(out);
      return code;
    } catch (err) {
      if (err instanceof UsageError) {
        process.stderr.write(`${name}: ${err.message}\nRun '${name} --help' for usage.\n`);
        return 2;
      }
      if (err instanceof LedgerInputError || err instanceof ConfigError || err instanceof LedgerRefusedError) {
        process.stderr.write(`${name}: ${err.message}\n`);
        return 2;
      }
      if (err instanceof LedgerFaultError) {
        process.stderr.write(`${name}: cannot read the books now: ${err.message}\n`);
        return 1;
      }
      throw err;
    } finally {
      await reader?.close();
    }
  },
};
export default command;
