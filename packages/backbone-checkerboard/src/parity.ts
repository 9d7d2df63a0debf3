/**
 * Gathering the pixels of one checkerboard colour into a 1 x P row (the
 * entropy-parameters network is all 1x1 convs, so it only needs the pixels it
 * codes) and back. Raster order: this is also the order symbols take in a stream.
 */
import type { FixedTensor } from '@psic/core';

/** Raster-order pixel indexes y * w + x with (y + x) % 2 === parity. */
export function colourPixels(h: number, w: number, parity: number): Int32Array {
  const out = new Int32Array(Math.floor((h * w + (parity === 0 ? 1 : 0)) / 2));
  let n = 0;
  for (let y = 0; y < h; y++) for (let x = (y + parity) % 2; x < w; x += 2) out[n++] = y * w + x;
  return n === out.length ? out : out.subarray(0, n);
}

/** x's channels at `pixels`, as a 1 x pixels.length tensor. */
export function gatherPixels(x: FixedTensor, pixels: Int32Array): FixedTensor {
  const { c } = x;
  const data = new Int32Array(pixels.length * c);
  pixels.forEach((p, i) => data.set(x.data.subarray(p * c, (p + 1) * c), i * c));
  return { data, h: 1, w: pixels.length, c };
}

/** A 1 x P tensor of zeros with c channels (the anchors' missing context). */
export function zeroRow(pixels: number, c: number): FixedTensor {
  return { data: new Int32Array(pixels * c), h: 1, w: pixels, c };
}
