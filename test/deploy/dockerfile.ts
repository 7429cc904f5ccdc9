import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * A small reader for the repository's Dockerfile, enough for the deploy tests (Docker's engine is not on
 * the test machines): comments and blank lines dropped, backslash continuations joined, each instruction
 * with its keyword and arguments, grouped by build stage.
 */

export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

export interface Stage {
  image: string;
  name: string | null;
  instructions: Instruction[];
}

export const repoRoot = path.resolve(import.meta.dirname, '../..');

export function readDockerfile(file = path.join(repoRoot, 'Dockerfile')): { instructions: Instruction[]; stages: Stage[] } {
  const lines = readFileSync(file, 'utf8').split('\n');
  const instructions: Instruction[] = [];
  let pending: { text: string; line: number } | null = null;
  lines.forEach((raw, i) => {
    const trimmed = raw.trim();
    if (pending === null && (trimmed === '' || trimmed.startsWith('#'))) return;
    if (pending !== null && trimmed.startsWith('#')) return; // comment lines inside a continuation are skipped
    const continued = trimmed.endsWith('\\');
    const part = continued ? trimmed.slice(0, -1).trim() : trimmed;
    pending = pending ? { text: `${pending.text} ${part}`, line: pending.line } : { text: part, line: i + 1 };
    if (continued) return;
    const m = /^(\S+)\s*(.*)$/.exec(pending.text)!;
    instructions.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: pending.line });
    pending = null;
  });
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      stages.push({ image: m?.[1] ?? ins.args, name: m?.[2] ?? null, instructions: [] });
    } else if (stages.length > 0) {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  return { instructions, stages };
}

/** The exec form (a JSON array) of CMD, ENTRYPOINT or HEALTHCHECK ... CMD; null for the shell form. */
export function execForm(args: string): string[] | null {
  const json = args.replace(/^(?:--\S+\s+)*CMD\s+/i, '');
  if (!json.startsWith('[')) return null;
  try {
    const v = JSON.parse(json) as unknown;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : null;
  } catch {
    return null;
  }
}
