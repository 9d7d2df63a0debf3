/** Shared test helpers for @psic/entropy. */

/** mulberry32: tiny seeded PRNG, so every failing input can be regenerated from its seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Why a quantized CDF is invalid (not 0 .. 2^16, or a symbol without frequency), or undefined. */
export function cdfProblem(cdf: Uint32Array): string | undefined {
  if (cdf[0] !== 0) return `starts at ${cdf[0]}`;
  if (cdf[cdf.length - 1] !== 1 << 16) return `ends at ${cdf[cdf.length - 1]}`;
  for (let k = 1; k < cdf.length; k++) if (!(cdf[k]! > cdf[k - 1]!)) return `symbol ${k - 1} has frequency ${cdf[k]! - cdf[k - 1]!}`;
  return undefined;
}
