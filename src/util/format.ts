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
