import { readFile } from 'node:fs/promises';
import { loadX11Wasm } from '../chain/x11-wasm.js';
import { checkShare, CheckShareInputError, parseCheckShareInput } from './check-share-report.js';
import type { Command } from './command.js';
import { defineFlags } from './flags.js';

export const checkShareFlags = defineFlags({
  input: { type: 'string', required: true, short: 'i', placeholder: 'file|-', help: "the share to check, as JSON (see below); '-' reads standard input" },
  compact: { type: 'boolean', help: 'print the report on one line' },
});

const help = checkShareFlags.helpText({
  summary: [
    'dash-farm-proxy check-share: explain why a share is valid or not. It rebuilds the coinbase, merkle root and',
    '80-byte header from a job and a submit, hashes it with X11 and judges it with the proxy\'s own share checks.',
  ].join('\n'),
  usage: 'dash-farm-proxy check-share --input <file|->',
  footer: [
    'Input: one JSON object',
    '  notify                the 9 mining.notify params: [job_id, prevhash, coinb1, coinb2, merkle_branch,',
    '                        version, nbits, ntime, clean_jobs], exactly as the pool sent them',
    '  extranonce1           hex: the extranonce1 the device mined with (the pool\'s, plus the proxy\'s prefix)',
    '  submit                the mining.submit params: [worker, job_id, extranonce2, ntime, nonce(, version_bits)]',
    '  deviceDifficulty      optional: the device\'s difficulty (default: poolDifficulty)',
    '  poolDifficulty        optional: the pool\'s difficulty for this job',
    '  versionMask           optional: the BIP 310 version-rolling mask, 8 hex digits (default: no rolling)',
    '  difficultyMultiplier  optional: the pool\'s difficulty unit (default 1: difficulty 1 = 0xFFFF * 2^208)',
    '  extranonce2Size       optional: bytes of extranonce2 (default: the length of the submitted extranonce2)',
    '',
    'The clock: the share is judged as if it arrived when the job was sent (at the notify\'s ntime). A share is',
    'checked after the fact, so it is not refused for being old; its ntime must still lie between the notify\'s',
    'ntime and two hours after it, as the proxy requires.',
    '',
    'Output: one JSON object: valid, the rejection (code, reason, message) if any, the header (hex), the hash',
    '(display hex), shareDifficulty, networkDifficulty, and the verdict for device, pool and network',
    '({difficulty, meets}; null when not given); "block": true when the share meets the network target.',
    '',
    'Exit status: 0 valid share, 1 refused share (the JSON says why), 2 malformed input (stderr names the field).',
    '',
    'Example: real Dash mainnet block 844898 (its coinbase cut at an 8-byte extranonce):',
    "  cat > share.json <<'EOF'",
    '  {"notify": ["844898", "8f3ddcc41e3424259438e645bc475c20fca0ce5fb3f68bcd0000002800000000",',
    '    "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff280362e40c174d696e656420627920416e74506f6f6c342e205abd9173e1550000",',
    '    "ffffffff022a7df809000000001976a914db75d18a2635ce7e4aa3bf533ba3e259f8a065d488ac237df809000000001976a9140b927640ec1f18218d956f16f776f2cd9534fe9e88ac00000000",',
    '    [], "20000000", "193f7323", "5abd9173", true],',
    '   "extranonce1": "00000000",',
    '   "submit": ["rig01", "844898", "01000000", "5abd9173", "de252691"],',
    '   "poolDifficulty": 65536}',
    '  EOF',
    '  dash-farm-proxy check-share --input share.json       # valid, "block": true',
    '  dash-farm-proxy check-share --input - < share.json   # the same from standard input',
  ],
});

async function readInput(source: string): Promise<string> {
  if (source === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    return await readFile(source, 'utf8');
  } catch (err) {
    throw new CheckShareInputError(`input: cannot read ${source} (${(err as Error).message.replace(/, \w+ '.*'$/, '')})`);
  }
}

const command: Command = {
  name: 'check-share',
  summary: 'explain why a share is valid or not (header, hash, difficulty, verdicts)',
  help,
  async run(argv) {
    const flags = checkShareFlags.parse(argv);
    try {
      const input = parseCheckShareInput(await readInput(flags.input));
      const report = checkShare(input, await loadX11Wasm());
      process.stdout.write(JSON.stringify(report, null, flags.compact ? undefined : 2) + '\n');
      return report.valid ? 0 : 1;
    } catch (err) {
      if (err instanceof CheckShareInputError) {
        process.stderr.write(`dash-farm-proxy check-share: ${err.message}\n`);
        return 2;
      }
      throw err;
    }
  },
};
export default command;
