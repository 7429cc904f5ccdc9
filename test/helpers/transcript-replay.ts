import { parseLine, type RpcRequest } from '../../src/stratum/jsonrpc.js';
import type { loadTranscript } from './fixtures.js';
import type { ScriptedClient } from './scripted-pool.js';

/**
 * Replaying the POOL side of a recorded session: each request gets the lines the real pool sent after the
 * matching recorded miner request, in order, with the answer's id set to the request's.
 */
export interface Step {
  /** The miner's request in the recording. */
  request: RpcRequest;
  /** What the pool sent after it, up to the miner's next line. */
  poolLines: string[];
}

export function stepsOf(lines: ReturnType<typeof loadTranscript>): Step[] {
  const steps: Step[] = [];
  for (const rec of lines) {
    if (rec.dir === 'miner->pool') {
      const parsed = parseLine(rec.line);
      if (!parsed.ok || parsed.message.kind !== 'request') throw new Error(`transcript: not a request: ${rec.line}`);
      steps.push({ request: parsed.message, poolLines: [] });
    } else {
      if (steps.length === 0) throw new Error('transcript: pool line before any request');
      steps[steps.length - 1]!.poolLines.push(rec.line);
    }
  }
  return steps;
}

/** Answer each request with the recorded lines of the next unused step of the same method. */
export function replay(steps: Step[], mismatches: string[]): (client: ScriptedClient, req: RpcRequest) => void {
  const used = new Set<number>();
  return (client, req) => {
    const i = steps.findIndex((s, k) => !used.has(k) && s.request.method === req.method);
    if (i === -1) {
      mismatches.push(`no recorded step left for ${req.method}`);
      return;
    }
    used.add(i);
    const step = steps[i]!;
    if (req.method === 'mining.submit' && JSON.stringify(req.params) !== JSON.stringify(step.request.params)) {
      mismatches.push(`submit ${JSON.stringify(req.params)} differs from the recorded ${JSON.stringify(step.request.params)}`);
    }
    for (const line of step.poolLines) {
      const msg = JSON.parse(line) as Record<string, unknown>;
      // The recorded answer to this request: give it our id. Notifications (id null) go as they are.
      if (!('method' in msg) && msg.id === step.request.id) client.send({ ...msg, id: req.id });
      else client.sendLine(line);
    }
  };
}

