import type { Command } from './command.js';

// Placeholder replaced by the command's implementation in this same change set.
const command: Command = {
  name: 'demo',
  summary: 'demo',
  help: 'dash-farm-proxy demo: not implemented yet',
  async run() {
    process.stderr.write('dash-farm-proxy demo: not implemented yet\n');
    return 1;
  },
};
export default command;
