/**
 * mulberry32: a tiny seeded 32-bit PRNG (uniform in [0, 1)), so fuzzers and synthetic data are the same on
 * every run for a seed. Not for anything that needs real randomness.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
