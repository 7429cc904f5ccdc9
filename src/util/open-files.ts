import { readFileSync } from 'node:fs';

/**
 * The process's open-files limit (RLIMIT_NOFILE), read from /proc/self/limits, and what it means for the
 * devices a process may hold. Node raises its own soft limit to the hard limit at start-up, so what is read
 * here is what this process got; each device is one socket (one descriptor), plus a margin for the pool
 * connections, the HTTP server, the books and Node's own. Pure but for `readOpenFiles`.
 */
export interface OpenFiles {
  /** The soft limit (the one that refuses a socket), or 'unlimited'. */
  soft: number | 'unlimited';
  hard: number | 'unlimited';
}

/** Descriptors a process needs besides its devices' sockets: pool connections, HTTP, the books, Node's own. */
export const OPEN_FILES_MARGIN = 256;

/** The "Max open files" line of /proc/<pid>/limits text, or null when it has none. */
export function parseOpenFiles(limitsText: string): OpenFiles | null {
  const line = limitsText.split('\n').find((l) => l.startsWith('Max open files'));
  if (line === undefined) return null;
  const [soft, hard] = line.slice('Max open files'.length).trim().split(/\s+/);
  const value = (v: string | undefined): number | 'unlimited' | null => (v === 'unlimited' ? 'unlimited' : v !== undefined && /^\d+$/.test(v) ? Number(v) : null);
  const s = value(soft);
  const h = value(hard);
  return s === null || h === null ? null : { soft: s, hard: h };
}

/** This process's limit (null where /proc is not there: not Linux). */
export function readOpenFiles(file = '/proc/self/limits'): OpenFiles | null {
  try {
    return parseOpenFiles(readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

/** The log line's words: `open files: soft 20000, hard 20000`. */
export function describeOpenFiles(limits: OpenFiles): string {
  return `open files: soft ${limits.soft}, hard ${limits.hard}`;
}

/**
 * What is wrong with a limit for a process that may hold `devices` devices (its share of limits.maxDevices):
 * a soft limit under the hard one (Node could not raise it), or under the devices plus the margin. Empty: fine.
 */
export function openFilesProblems(limits: OpenFiles, devices: number): string[] {
  const problems: string[] = [];
  if (limits.soft !== 'unlimited' && (limits.hard === 'unlimited' || limits.soft < limits.hard)) {
    problems.push(`the soft limit (${limits.soft}) could not be raised to the hard limit (${limits.hard})`);
  }
  const needed = devices + OPEN_FILES_MARGIN;
  if (limits.soft !== 'unlimited' && limits.soft < needed) {
    problems.push(
      `the soft limit (${limits.soft}) is below the ${devices} devices this process may hold plus ${OPEN_FILES_MARGIN} for its other files: devices past ${Math.max(0, limits.soft - OPEN_FILES_MARGIN)} may be refused (raise the hard limit: ulimit -n, LimitNOFILE=, or docker --ulimit nofile=; or run more workers)`,
    );
  }
  return problems;
}

/** Log what this process got, and warn when it is short. */
export function logOpenFiles(log: { info(msg: string): void; warn(msg: string, fields?: Record<string, unknown>): void }, devices: number, limits: OpenFiles | null = readOpenFiles()): OpenFiles | null {
  if (limits === null) return null;
  log.info(describeOpenFiles(limits));
  for (const problem of openFilesProblems(limits, devices)) log.warn(`open files: ${problem}`, { soft: limits.soft, hard: limits.hard, devices });
  return limits;
}
