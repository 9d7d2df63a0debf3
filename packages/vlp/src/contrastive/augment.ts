/**
 * CIFAR's standard augmentation: pad by `pad` pixels (zeros), take a random
 * side x side crop, flip left-right half of the time. Produces the float
 * batch the model sees (before its own resize to the input size).
 */
import type { RandomSource } from './captions.js';
import type { LabelledImages } from './cifar.js';

export interface AugmentOptions {
  pad?: number;
  flip?: boolean;
}

/** Images `indices` of `set`, augmented, as NHWC floats in [0, 1]. */
export function augmentBatch(set: LabelledImages, indices: ArrayLike<number>, rng: RandomSource, opts: AugmentOptions = {}): Float32Array {
  const pad = opts.pad ?? 4;
  const flipAllowed = opts.flip ?? true;
  const s = set.side;
  const plane = s * s * 3;
  const out = new Float32Array(indices.length * plane);
  for (let b = 0; b < indices.length; b++) {
    const src = indices[b]! * plane;
    const dy = Math.floor(rng.next() * (2 * pad + 1)) - pad;
    const dx = Math.floor(rng.next() * (2 * pad + 1)) - pad;
    const flip = flipAllowed && rng.next() < 0.5;
    let o = b * plane;
    for (let y = 0; y < s; y++) {
      const sy = y + dy;
      for (let x = 0; x < s; x++, o += 3) {
        const sx = (flip ? s - 1 - x : x) + dx;
        if (sy < 0 || sy >= s || sx < 0 || sx >= s) continue; // zero padding
        const p = src + (sy * s + sx) * 3;
        out[o] = set.pixels[p]! / 255;
        out[o + 1] = set.pixels[p + 1]! / 255;
        out[o + 2] = set.pixels[p + 2]! / 255;
      }
    }
  }
  return out;
}
