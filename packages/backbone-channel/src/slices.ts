/**
 * How the latent is cut into slices and how big each slice's transforms are.
 * Minnen & Singh 2020 use 10 slices of 32 channels (M = 320) and give each
 * slice the first 5 decoded slices as support ("max_support_slices"); M need
 * not divide evenly here: the first M % slices slices get one channel more.
 */
import { Conv2d, ReLU, Sequential } from '@psic/core';
import { PsicError } from '@psic/entropy';

/** Channels of each slice, in coding order. */
export function sliceSizes(M: number, slices: number): number[] {
  if (!(Number.isInteger(slices) && slices >= 1 && slices <= M)) {
    throw new PsicError('BAD_CONFIG', `slices must be an integer in [1, M = ${M}], got ${slices}`);
  }
  const base = Math.floor(M / slices);
  return Array.from({ length: slices }, (_, i) => base + (i < M % slices ? 1 : 0));
}

/** Channels of the decoded slices slice `i` is conditioned on: the first min(i, maxSupport). */
export function supportChannels(sizes: readonly number[], i: number, maxSupport: number): number {
  return sizes.slice(0, Math.min(i, maxSupport)).reduce((a, b) => a + b, 0);
}

/**
 * A slice transform (mean, scale or latent residual prediction): three 3x3
 * convs with ReLUs, hidden widths scaled from the paper's 224 / 128 at M = 320.
 */
export function sliceTransform(name: string, cin: number, cout: number, M: number): Sequential {
  const hidden1 = Math.max(1, Math.round((M * 7) / 10));
  const hidden2 = Math.max(1, Math.round((M * 2) / 5));
  return new Sequential(name, [new Conv2d(cin, hidden1, 3, 1), new ReLU(), new Conv2d(hidden1, hidden2, 3, 1), new ReLU(), new Conv2d(hidden2, cout, 3, 1)]);
}
