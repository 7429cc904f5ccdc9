/** 1 DASH = 100,000,000 duffs (money is counted in duffs everywhere: src/books/duffs.ts, src/chain/). */
export const DUFFS_PER_DASH = 100_000_000n;

/** Duffs as DASH text with all 8 decimals: 123456789n -> "1.23456789", -5n -> "-0.00000005". */
export function formatDash(duffs: bigint): string {
  const sign = duffs < 0n ? '-' : '';
  const abs = duffs < 0n ? -duffs : duffs;
  return `${sign}${abs / DUFFS_PER_DASH}.${(abs % DUFFS_PER_DASH).toString().padStart(8, '0')}`;
}

/** Human units for hashrates and difficulties (logs, alerts, demo output). */
export function formatHashrate(hps: number): string {
  const units = ['H/s', 'kH/s', 'MH/s', 'GH/s', 'TH/s', 'PH/s', 'EH/s'];
  let v = hps;
  let i = 0;
  while (Math.abs(v) >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
}

/** Difficulty for messages: short, no exponent for everyday values. */
export function formatDifficulty(d: number): string {
  if (!Number.isFinite(d)) return String(d);
  if (d >= 1e9 || (d > 0 && d < 1e-6)) return d.toExponential(4);
  return Number(d.toPrecision(6)).toString();
}

/** 42_000 -> "42 s", 300_000 -> "5 min", 7_200_000 -> "2 h". */
export function formatSpan(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m} min`;
  const h = m / 60;
  return h < 48 ? `${Number(h.toFixed(1))} h` : `${Number((h / 24).toFixed(1))} d`;
}

/** How a process ended: its signal, or its exit code. */
export function formatExitCause(e: { code: number | null; signal: string | null }): string {
  return e.signal ?? `exit code ${e.code ?? 'unknown'}`;
}
