import type { Command } from './command.js';

// Placeholder replaced by the command's implementation in this same change set.
const command: Command = {
  name: 'start',
  summary: 'start',
  help: 'dash-farm-proxy start: not implemented yet',
  async run() {
    process.stderr.write('dash-farm-proxy start: not implemented yet\n');
    return 1;
  },
};
export default command;
