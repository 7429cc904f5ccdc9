import { u32Hex } from '../chain/bytes.js';
import { difficultyFromBits } from '../chain/target.js';
import { formatDifficulty } from '../util/format.js';
import { DASH_CHAINS, readAddress } from '../sim/dash-address.js';
import { SimDashd, type SimDashdOptions } from '../sim/dashd.js';
import type { Command } from './command.js';
import { UsageError } from './command.js';
import { defineFlags, formatDuration, type FlagValues } from './flags.js';
import { reportUntilAborted, runUntilStopped, type RunOutput } from './run-output.js';

export const simulateDashdFlags = defineFlags({
  host: { type: 'string', default: '127.0.0.1', placeholder: 'address', help: 'address to listen on' },
  port: { type: 'int', default: 9998, min: 0, max: 65535, help: "RPC port (dashd's mainnet default; 0: any free port)" },
  user: { type: 'string', placeholder: 'name', help: 'RPC user (with --password), like rpcuser in dash.conf' },
  password: { type: 'string', placeholder: 'text', help: 'RPC password, like rpcpassword' },
  cookieFile: { type: 'string', placeholder: 'path', help: 'write __cookie__:<random> here at start (a new one each start, removed at stop), like <datadir>/.cookie' },
  chain: { type: 'enum', choices: DASH_CHAINS, default: 'main', help: 'network: address version bytes and getblockchaininfo.chain' },
  bits: { type: 'string', default: '1f00ffff', placeholder: 'hex8', pattern: /^[0-9a-fA-F]{8}$/, patternHint: '8 hex digits (compact target, e.g. 1f00ffff)', help: 'network target (1f00ffff: about 65,536 hashes a block)' },
  startHeight: { type: 'int', default: 2_100_000, min: 2, max: 0x7fffffff, help: 'height of the first template' },
  txCount: { type: 'int', default: 3, min: 0, max: 1000, help: 'payment transactions per template (a quorum commitment comes on top)' },
  blockInterval: { type: 'duration', default: 150_000, min: 0, help: 'another miner finds a block this often (the tip moves); 0: never' },
  chainlockAfter: { type: 'duration', default: 2000, min: 0, help: 'a block on the best chain gets its ChainLock this long after it joined it' },
  chainlocks: { type: 'boolean', default: true, help: 'report ChainLocks (off: blocks become final only by depth)' },
  longpoll: { type: 'boolean', default: true, help: 'hold a getblocktemplate with the current longpollid until the tip changes' },
  longpollTimeout: { type: 'duration', default: 30_000, min: 100, help: 'answer a held long-poll after this long anyway' },
  superblockInterval: { type: 'int', default: 16_616, min: 0, max: 1_000_000_000, help: 'a superblock (two proposal payees) every this many heights; 0: never' },
  superblockBudget: { type: 'number', default: 50, min: 0, max: 21_000_000, help: "DASH a superblock pays its payees" },
  payoutCheck: { type: 'string', placeholder: 'address', help: "refuse (bad-cb-payout) a block whose first output does not pay this address" },
  printStatsEvery: { type: 'duration', default: 10_000, min: 0, help: 'print stats this often; 0: never' },
  json: { type: 'boolean', help: 'print stats as JSON lines' },
});

export type SimulateDashdValues = FlagValues<typeof simulateDashdFlags.defs>;

const help = simulateDashdFlags.helpText({
  summary: [
    'dash-farm-proxy simulate-dashd: a simulated dashd for solo mining through the proxy. It answers the',
    'JSON-RPC a solo miner uses (getblockchaininfo, getbestblockhash, getblockcount, getblockhash, getblock,',
    'validateaddress, getblocktemplate with long-polling, submitblock) with Dash Core 20 templates: the',
    "platform's 6a output and a masternode payee in `masternode`, superblocks, real-format transactions, a CbTx",
    'payload. submitblock checks every block with its own code (proof of work, merkle root, BIP34 height, CbTx,',
    'coinbase value, every payee, the transactions) and answers like dashd: null, duplicate, inconclusive, or',
    'the reason (high-hash, bad-cb-payee, ...). An accepted block becomes the tip; other miners find blocks too.',
  ].join('\n'),
  usage: 'dash-farm-proxy simulate-dashd (--user <name> --password <text> | --cookie-file <path>) [options]',
  footer: [
    'A login is required, as on dashd: --user with --password, or --cookie-file (or both).',
    'Durations take 500ms, 30s, 2m or a plain number of seconds.',
    '',
    'Examples:',
    '  dash-farm-proxy simulate-dashd --user dashrpc --password sim',
    '  dash-farm-proxy simulate-dashd --port 19998 --chain test --cookie-file /tmp/sim-dashd.cookie --block-interval 0',
    '',
    'Then point a pool entry of the proxy at it (the dashd entry of the README):',
    '  { "name": "own-dashd", "url": "http://127.0.0.1:9998", "user": "dashrpc", "password": "sim",',
    '    "dashd": { "payoutAddress": "X..." } }',
    '',
    'Stops cleanly on Ctrl-C (SIGINT) or SIGTERM and prints the final stats.',
  ],
});

/** The simulator's options from the flags; a misuse is a UsageError naming the flag. */
export function dashdOptionsOf(v: SimulateDashdValues): SimDashdOptions {
  if ((v.user === undefined) !== (v.password === undefined)) throw new UsageError(v.user === undefined ? '--password needs --user' : '--user needs --password');
  if (v.user === undefined && v.cookieFile === undefined) throw new UsageError('a login is required: --user and --password, or --cookie-file');
  const bits = parseInt(v.bits, 16) >>> 0;
  let difficulty: number;
  try {
    difficulty = difficultyFromBits(bits);
  } catch (err) {
    throw new UsageError(`--bits: ${(err as Error).message}`);
  }
  if (!Number.isFinite(difficulty)) throw new UsageError(`--bits: ${v.bits} encodes a zero target`);
  if (v.payoutCheck !== undefined) {
    const read = readAddress(v.payoutCheck, v.chain);
    if (!read.isvalid) throw new UsageError(`--payout-check: '${v.payoutCheck}' is not a ${v.chain} address (${read.error})`);
  }
  return {
    host: v.host,
    port: v.port,
    ...(v.user !== undefined && { user: v.user, password: v.password! }),
    ...(v.cookieFile !== undefined && { cookieFile: v.cookieFile }),
    chain: v.chain,
    bits,
    startHeight: v.startHeight,
    txCount: v.txCount,
    otherMinerIntervalMs: v.blockInterval,
    chainlockMs: !v.chainlocks ? null : v.chainlockAfter,
    longpoll: v.longpoll,
    longpollSeconds: v.longpollTimeout / 1000,
    superblockInterval: v.superblockInterval,
    superblockBudget: Math.round(v.superblockBudget * 100_000_000),
    ...(v.payoutCheck !== undefined && { expectPayoutAddress: v.payoutCheck }),
  };
}

/** Run the simulated dashd until `signal` fires. */
export async function runSimulateDashd(v: SimulateDashdValues, signal: AbortSignal, io: RunOutput): Promise<number> {
  const dashd = new SimDashd(dashdOptionsOf(v));
  const started = Date.now();
  try {
    await dashd.start();
  } catch (err) {
    await dashd.stop();
    io.err(`simulate-dashd: cannot listen on ${v.host}:${v.port}: ${(err as Error).message}`);
    return 1;
  }
  const login = [v.user !== undefined ? `user ${v.user}` : null, v.cookieFile !== undefined ? `cookie ${v.cookieFile}` : null].filter(Boolean).join(' or ');
  io.out(
    `simulate-dashd: listening on ${dashd.url} (chain ${v.chain}, login ${login}, bits ${u32Hex(parseInt(v.bits, 16))} = network difficulty ${formatDifficulty(dashd.networkDifficulty)}, ` +
      `next height ${dashd.height + 1}, ${v.blockInterval ? `other miners every ${formatDuration(v.blockInterval)}` : 'no other miners'}, ` +
      `${!v.chainlocks ? 'no ChainLocks' : `ChainLocks after ${formatDuration(v.chainlockAfter)}`})`,
  );
  dashd.on('submit', (e) => {
    if (e.outcome === 'accepted') io.out(`simulate-dashd: block ${e.height} accepted: ${e.hash}`);
    else io.out(`simulate-dashd: block ${e.outcome}${e.hash ? ` ${e.hash}` : ''}: ${e.reason}`);
  });
  dashd.on('tip', (e) => {
    if (e.source === 'other-miner') io.out(`simulate-dashd: another miner found block ${e.height}: ${e.hash}`);
  });

  const report = () => {
    const s = dashd.stats();
    const elapsed = Math.round((Date.now() - started) / 1000);
    const rejected = Object.entries(s.blocksRejected);
    if (v.json) {
      io.out(JSON.stringify({ elapsedSeconds: elapsed, height: s.height, tip: s.tip, blocksAccepted: s.blocksAccepted, blocksRejected: s.blocksRejected, blocksInconclusive: s.blocksInconclusive, duplicates: s.duplicates, otherMinerBlocks: s.otherMinerBlocks, templatesServed: s.templatesServed, unauthorized: s.unauthorized }));
    } else {
      io.out(
        `[${elapsed}s] height ${s.height}, templates ${s.templatesServed}, blocks ${s.blocksAccepted} accepted / ${rejected.reduce((n, [, c]) => n + c, 0)} rejected` +
          `${rejected.length > 0 ? ` (${rejected.map(([r, c]) => `${r}:${c}`).join(' ')})` : ''}, other miners ${s.otherMinerBlocks}, logins refused ${s.unauthorized}`,
      );
    }
  };
  await reportUntilAborted(signal, v.printStatsEvery, report);
  await dashd.stop();
  io.out('simulate-dashd: stopped');
  return 0;
}

const command: Command = {
  name: 'simulate-dashd',
  summary: 'a dashd for solo mining: templates, long-poll, submitblock that checks blocks itself',
  help,
  async run(argv) {
    const values = simulateDashdFlags.parse(argv);
    dashdOptionsOf(values); // usage errors before anything starts
    return runUntilStopped((signal, io) => runSimulateDashd(values, signal, io));
  },
};
export default command;
