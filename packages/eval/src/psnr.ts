/** Mean squared error between two equal-length arrays of values in [0, 1]. */
export function mse(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`mse: lengths differ (${a.length} vs ${b.length})`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    sum += d * d;
  }
  return sum / a.length;
}

/** PSNR in dB for signals in [0, 1] (peak 1). Identical inputs give Infinity. */
export function psnr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return mseToPsnr(mse(a, b));
}

export function mseToPsnr(m: number): number {
  return m === 0 ? Infinity : -10 * Math.log10(m);
}
