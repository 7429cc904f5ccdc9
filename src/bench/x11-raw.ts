import type { PowHasher } from '../chain/hasher.js';
import { median } from './stats.js';

/**
 * Raw X11 speed of the backend on one core: hasher.hash() on an 80-byte header whose nonce changes on
 * every call, in short slices. The figure is the median over slices of hashes per second, so one slice
 * disturbed by a neighbour does not move it much; the mean over all slices, and hashes per second of CPU
 * time (what a core of its own would do), are kept beside it.
 */
export interface RawX11 {
  backend: string;
  hashesPerSecond: number;
  meanHashesPerSecond: number;
  /** Hashes per second of this process's CPU time: not moved by time spent waiting for a core. */
  hashesPerCpuSecond: number;
  slices: number;
}

export function measureRawX11(hasher: PowHasher, ms: number, sliceMs = 100): RawX11 {
  const header = Buffer.alloc(80);
  for (let i = 0; i < 80; i++) header[i] = (i * 37 + 11) & 0xff;
  let nonce = 0;
  // Warm-up (JIT, WASM tiering).
  const warmEnd = performance.now() + Math.min(300, ms / 4);
  while (performance.now() < warmEnd) {
    header.writeUInt32LE(nonce++ >>> 0, 76);
    hasher.hash(header);
  }
  const rates: number[] = [];
  let calls = 0;
  let elapsed = 0;
  const cpu0 = process.cpuUsage();
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const start = performance.now();
    let n = 0;
    let now = start;
    while (now - start < sliceMs) {
      for (let i = 0; i < 64; i++) {
        header.writeUInt32LE(nonce++ >>> 0, 76);
        hasher.hash(header);
      }
      n += 64;
      now = performance.now();
    }
    rates.push((n / (now - start)) * 1000);
    calls += n;
    elapsed += now - start;
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return {
    backend: hasher.name,
    hashesPerSecond: Math.round(median(rates) ?? 0),
    meanHashesPerSecond: Math.round((calls / elapsed) * 1000),
    hashesPerCpuSecond: Math.round(calls / cpuSeconds),
    slices: rates.length,
  };
}
