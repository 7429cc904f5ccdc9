#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command } from './commands/command.js';
import { UsageError } from './commands/command.js';
import { keepYoungGenerationSmall } from './util/young-generation.js';

/** Every sub-command, loaded only when it runs (start-up stays fast and light). */
const commands: Record<string, () => Promise<Command>> = {
  start: async () => (await import('./commands/start.js')).default,
  demo: async () => (await import('./commands/demo.js')).default,
  'check-share': async () => (await import('./commands/check-share.js')).default,
  'simulate-pool': async () => (await import('./commands/simulate-pool.js')).default,
  'simulate-fleet': async () => (await import('./commands/simulate-fleet.js')).default,
  'simulate-dashd': async () => (await import('./commands/simulate-dashd.js')).default,
  ledger: async () => (await import('./commands/ledger.js')).default,
};

const summaries: Record<string, string> = {
  start: 'run the proxy: devices connect to it, it holds the pool connection',
  demo: 'simulated pool + proxy + simulated ASIC fleet + dashboard, all on this machine',
  'check-share': 'explain why a share is valid or not (header, hash, difficulty, verdicts)',
  'simulate-pool': 'a Dash pool that sends realistic jobs and validates shares on its own',
  'simulate-fleet': 'simulated ASICs that really hash X11, pointed at any Stratum server',
  'simulate-dashd': 'a dashd for solo mining: templates, long-poll, submitblock that checks blocks itself',
  ledger: 'read the books (report, payouts, verify) and record payouts',
};

export function mainHelp(): string {
  const width = Math.max(...Object.keys(summaries).map((k) => k.length));
  return [
    'dash-farm-proxy: a Stratum V1 proxy and share aggregator for Dash (X11) mining farms.',
    '',
    'Usage: dash-farm-proxy <command> [options]',
    '',
    'Commands:',
    ...Object.entries(summaries).map(([k, v]) => `  ${k.padEnd(width)}  ${v}`),
    '',
    'Run `dash-farm-proxy <command> --help` for the options of a command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainHelp() + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    const { version } = await import('./version.js');
    process.stdout.write(version + '\n');
    return 0;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`dash-farm-proxy: unknown command '${name}'\n\n${mainHelp()}\n`);
    return 2;
  }
  // Before the proxy allocates anything: memory per device (src/util/young-generation.ts).
  if (name === 'start') keepYoungGenerationSmall();
  const command = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write((command.helpOf?.(rest) ?? command.help).trimEnd() + '\n');
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`dash-farm-proxy ${name}: ${err.message}\nRun 'dash-farm-proxy ${name} --help' for usage.\n`);
      return 2;
    }
    throw err;
  }
}

const isEntry = process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (isEntry) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`dash-farm-proxy: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
