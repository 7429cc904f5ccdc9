import { u32Hex } from '../chain/bytes.js';
import { difficultyFromBits } from '../chain/target.js';
import { formatDifficulty } from '../util/format.js';
import type { ShareCounters } from '../sim/counters.js';
import { SimPool, type SimPoolOptions } from '../sim/pool.js';
import type { Command } from './command.js';
import { UsageError } from './command.js';
import { reportUntilAborted, runUntilStopped, type RunOutput } from './run-output.js';
import { defineFlags, formatDuration, type FlagValues } from './flags.js';

export const simulatePoolFlags = defineFlags({
  host: { type: 'string', default: '127.0.0.1', placeholder: 'address', help: 'address to listen on' },
  port: { type: 'int', default: 3333, min: 0, max: 65535, help: 'port to listen on (0: any free port)' },
  difficulty: { type: 'number', default: 1e-6, positive: true, help: 'share difficulty sent to every connection' },
  jobInterval: { type: 'duration', default: 30_000, min: 0, help: 'a new job (clean_jobs false) this often; 0: never' },
  blockInterval: { type: 'duration', default: 150_000, min: 0, help: 'a new block (clean_jobs true) this often; 0: never (found blocks still move on)' },
  en1Size: { type: 'int', default: 4, min: 1, max: 16, help: 'extranonce1 bytes per connection' },
  en2Size: { type: 'int', default: 8, min: 1, max: 16, help: 'extranonce2 bytes announced (room for a proxy to split)' },
  nbits: { type: 'string', default: '1e0fffff', placeholder: 'hex8', pattern: /^[0-9a-fA-F]{8}$/, patternHint: '8 hex digits (compact target, e.g. 1e0fffff)', help: 'network target of the jobs' },
  txCount: { type: 'int', default: 6, min: 0, max: 10_000, help: 'transactions besides the coinbase in every job' },
  startHeight: { type: 'int', default: 2_300_000, min: 1, max: 0x7fffffff, help: 'height of the first block' },
  notifyAfter: { type: 'enum', choices: ['subscribe', 'authorize'], default: 'subscribe', help: 'send set_difficulty + notify after the subscribe answer (like node-stratum-pool) or after authorize' },
  extranonceSubscribe: { type: 'enum', choices: ['answer', 'silent'], default: 'answer', help: 'answer mining.extranonce.subscribe, or never (like node-stratum-pool)' },
  configure: { type: 'enum', choices: ['answer', 'silent'], default: 'answer', help: 'answer mining.configure with a version-rolling mask, or never' },
  password: { type: 'string', placeholder: 'password', help: 'require this mining.authorize password (others get error 24)' },
  printStatsEvery: { type: 'duration', default: 10_000, min: 0, help: 'print stats this often; 0: never' },
  json: { type: 'boolean', help: 'print stats as JSON lines' },
});

export type SimulatePoolValues = FlagValues<typeof simulatePoolFlags.defs>;

const help = simulatePoolFlags.helpText({
  summary: 'dash-farm-proxy simulate-pool: a Dash Stratum V1 pool that sends realistic jobs (type-5 coinbase,\nmerkle branch, new blocks) and validates every share itself (X11), for demos and tests.',
  usage: 'dash-farm-proxy simulate-pool [options]',
  footer: [
    'Durations take 500ms, 30s, 2m or a plain number of seconds.',
    '',
    'Examples:',
    '  dash-farm-proxy simulate-pool --port 3333 --difficulty 5e-8   # a share every ~1 s per 200 H/s device',
    '  dash-farm-proxy simulate-pool --port 0 --nbits 2000ffff --block-interval 0   # easy blocks, found ones only',
    '',
    'Then, in another terminal, a fleet that misbehaves now and then (duplicate and stale shares within 20 s):',
    '  dash-farm-proxy simulate-fleet --port 3333 --devices 5 --duplicate-rate 0.1 --stale-rate 0.05',
    '',
    'Stops cleanly on Ctrl-C (SIGINT) or SIGTERM and prints the final stats.',
  ],
});

function formatCodes(c: ShareCounters): string {
  const codes = Object.entries(c.rejectedByCode).map(([code, n]) => `${code}:${n}`);
  return codes.length > 0 ? ` (${codes.join(' ')})` : '';
}

/** Run the pool until `signal` fires. */
export async function runSimulatePool(v: SimulatePoolValues, signal: AbortSignal, io: RunOutput): Promise<number> {
  const nbits = parseInt(v.nbits, 16) >>> 0;
  let networkDifficulty: number;
  try {
    networkDifficulty = difficultyFromBits(nbits);
  } catch (err) {
    throw new UsageError(`--nbits: ${(err as Error).message}`);
  }
  if (!Number.isFinite(networkDifficulty)) throw new UsageError(`--nbits: ${v.nbits} encodes a zero target`);
  const opts: SimPoolOptions = {
    host: v.host,
    port: v.port,
    difficulty: v.difficulty,
    jobIntervalMs: v.jobInterval,
    blockIntervalMs: v.blockInterval,
    extranonce1Size: v.en1Size,
    extranonce2Size: v.en2Size,
    nbits,
    txCount: v.txCount,
    startHeight: v.startHeight,
    notifyAfter: v.notifyAfter,
    extranonceSubscribe: v.extranonceSubscribe,
    configure: v.configure,
    ...(v.password !== undefined && { password: v.password }),
  };
  const pool = new SimPool(opts);
  const started = Date.now();
  let addr;
  try {
    addr = await pool.listen();
  } catch (err) {
    await pool.close();
    io.err(`simulate-pool: cannot listen on ${v.host}:${v.port}: ${(err as Error).message}`);
    return 1;
  }
  io.out(
    `simulate-pool: listening on ${addr.url} (difficulty ${formatDifficulty(v.difficulty)}, nbits ${u32Hex(nbits)} = network difficulty ${formatDifficulty(networkDifficulty)}, ` +
      `extranonce ${v.en1Size}+${v.en2Size} bytes, ${v.jobInterval ? `job every ${formatDuration(v.jobInterval)}` : 'no timed jobs'}, ` +
      `${v.blockInterval ? `block every ${formatDuration(v.blockInterval)}` : 'no timed blocks (found blocks only)'}, height ${pool.height})`,
  );
  pool.on('block', (b) => io.out(`simulate-pool: block found at height ${b.height} by ${b.worker}: ${b.hash}`));

  const report = () => {
    const s = pool.stats();
    const elapsed = Math.round((Date.now() - started) / 1000);
    if (v.json) {
      io.out(JSON.stringify({ elapsedSeconds: elapsed, connections: s.connections, authorized: s.authorized, height: s.height, difficulty: s.difficulty, jobsIssued: s.jobsIssued, ...s.totals, workers: Object.keys(s.workers).length }));
    } else {
      const t = s.totals;
      io.out(
        `[${elapsed}s] connections ${s.connections} (authorized ${s.authorized}), height ${s.height}, jobs ${s.jobsIssued}, ` +
          `shares ${t.accepted} accepted / ${t.rejected} rejected${formatCodes(t)}, blocks ${t.blocks}`,
      );
    }
  };
  await reportUntilAborted(signal, v.printStatsEvery, report);
  await pool.close();
  io.out('simulate-pool: stopped');
  return 0;
}

const command: Command = {
  name: 'simulate-pool',
  summary: 'a Dash pool that sends realistic jobs and validates shares on its own',
  help,
  async run(argv) {
    const values = simulatePoolFlags.parse(argv);
    return runUntilStopped((signal, io) => runSimulatePool(values, signal, io));
  },
};
export default command;
