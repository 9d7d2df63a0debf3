/** Shared test helpers for @psic/entropy. */

export { mulberry32 } from '../src/training-noise.js';

/** Why a quantized CDF is invalid (not 0 .. 2^16, or a symbol without frequency), or undefined. */
export function cdfProblem(cdf: Uint32Array): string | undefined {
  if (cdf[0] !== 0) return `starts at ${cdf[0]}`;
  if (cdf[cdf.length - 1] !== 1 << 16) return `ends at ${cdf[cdf.length - 1]}`;
  for (let k = 1; k < cdf.length; k++) if (!(cdf[k]! > cdf[k - 1]!)) return `symbol ${k - 1} has frequency ${cdf[k]! - cdf[k - 1]!}`;
  return undefined;
}
