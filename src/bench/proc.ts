import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

/**
 * Readings from Linux /proc for the benchmark: a process's resident memory and CPU time, and open-files
 * limits. Every reader returns null when the process is gone or the file cannot be read (never throws).
 */

/** USER_HZ: the unit of utime/stime in /proc/PID/stat (100 on every mainstream Linux build). */
const CLOCK_TICKS_PER_SECOND = 100;

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** VmRSS of a process in KiB (/proc/PID/status). */
export function rssKiB(pid: number | 'self'): number | null {
  const text = read(`/proc/${pid}/status`);
  const m = text === null ? null : /VmRSS:\s+(\d+)\s+kB/.exec(text);
  return m ? Number(m[1]) : null;
}

/** utime + stime of a process (all its threads) in seconds, from /proc/PID/stat (fields 14 and 15). */
export function cpuSeconds(pid: number | 'self'): number | null {
  const text = read(`/proc/${pid}/stat`);
  if (text === null) return null;
  // The command name (field 2) may hold spaces and parentheses: fields are counted after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / CLOCK_TICKS_PER_SECOND : null;
}

/**
 * A process and every process below it (the proxy's primary and its workers), parent first, from
 * /proc/PID/task/TID/children of each thread (a child is listed under the thread that forked it).
 */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number) => {
    if (out.includes(p) || read(`/proc/${p}/stat`) === null) return;
    out.push(p);
    for (const tid of listDir(`/proc/${p}/task`)) {
      for (const child of (read(`/proc/${p}/task/${tid}/children`) ?? '').trim().split(/\s+/).filter(Boolean)) visit(Number(child));
    }
  };
  visit(pid);
  return out;
}

function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

/** The sum of a reading over a process tree; null when none of them could be read. */
function overTree(pid: number, reading: (p: number) => number | null): number | null {
  let sum: number | null = null;
  for (const p of processTree(pid)) {
    const x = reading(p);
    if (x !== null) sum = (sum ?? 0) + x;
  }
  return sum;
}

/** Resident memory of a process and its descendants, KiB (the proxy with its workers). */
export function treeRssKiB(pid: number): number | null {
  return overTree(pid, rssKiB);
}

/** CPU time of a process and its descendants, seconds (of those alive now: an exited worker's time is gone). */
export function treeCpuSeconds(pid: number): number | null {
  return overTree(pid, cpuSeconds);
}

export interface FileLimits {
  soft: number;
  hard: number;
}

/** The open-files limits (RLIMIT_NOFILE) of a process; `unlimited` reads as Infinity. */
export function openFilesLimit(pid: number | 'self' = 'self'): FileLimits | null {
  const text = read(`/proc/${pid}/limits`);
  const m = text === null ? null : /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(text);
  if (!m) return null;
  const value = (s: string) => (s === 'unlimited' ? Infinity : Number(s));
  return { soft: value(m[1]!), hard: value(m[2]!) };
}

/** Facts about the machine worth keeping beside the figures. */
export function machineFacts(): { loadavg: number[]; somaxconn: number | null; ephemeralPorts: number | null } {
  const somax = read('/proc/sys/net/core/somaxconn');
  const range = (read('/proc/sys/net/ipv4/ip_local_port_range') ?? '').trim().split(/\s+/).map(Number);
  return {
    loadavg: loadavg().map((x) => Math.round(x * 100) / 100),
    somaxconn: somax === null ? null : Number(somax.trim()),
    ephemeralPorts: range.length === 2 && range.every(Number.isFinite) ? range[1]! - range[0]! + 1 : null,
  };
}
