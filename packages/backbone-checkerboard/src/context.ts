/**
 * The checkerboard spatial context of He et al. 2021. Latent positions are
 * split like the squares of a checkerboard: anchors, at (y + x) odd (the
 * reference implementation's choice), are coded first from the hyperprior
 * alone; non-anchors, at (y + x) even, are then coded with a context computed
 * from the decoded anchors by a 5x5 conv whose kernel keeps only the taps of
 * the anchor colour. Both passes are fully parallel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Conv2d, conv2dTorch, type ConvOptions } from '@psic/core';

/** (y + x) % 2 of the anchor positions; non-anchors have the other parity. */
export const ANCHOR_PARITY = 1;
export const NON_ANCHOR_PARITY = 0;

/** 1 where the kernel tap (ty, tx) reads a position of the other colour than the centre: (ty + tx) odd. */
export function checkerboardKernelMask(kernel: number): Float32Array {
  const mask = new Float32Array(kernel * kernel);
  for (let ty = 0; ty < kernel; ty++) for (let tx = 0; tx < kernel; tx++) mask[ty * kernel + tx] = (ty + tx) % 2;
  return mask;
}

/** [1, h, w, 1] tensor: 1 at anchors, 0 at non-anchors. */
export function anchorMask(h: number, w: number): tf.Tensor4D {
  const data = new Float32Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = (y + x) % 2 === ANCHOR_PARITY ? 1 : 0;
  return tf.tensor4d(data, [1, h, w, 1]);
}

/**
 * Conv2d(cin, cout, k, stride 1, padding k // 2) whose kernel is multiplied by
 * the checkerboard mask on every use (CompressAI's MaskedConv2d does the same
 * in place), so the masked taps get no gradient and never matter. They are
 * zeroed at construction so saved weights carry zeros there, as CompressAI's do.
 */
export class CheckerboardMaskedConv2d extends Conv2d {
  private readonly mask: tf.Tensor4D;

  constructor(cin: number, cout: number, kernel = 5, opts: ConvOptions = {}) {
    super(cin, cout, kernel, 1, opts);
    if (kernel % 2 !== 1) throw new RangeError(`a checkerboard context needs an odd kernel, got ${kernel}`);
    const taps = checkerboardKernelMask(kernel);
    this.mask = tf.tidy(() => tf.tile(tf.tensor4d(taps, [kernel, kernel, 1, 1]), [1, 1, cin, cout]));
    this.weight.assign(tf.tidy(() => tf.mul(this.weight, this.mask)));
  }

  override apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => conv2dTorch(x, tf.mul(this.weight, this.mask) as tf.Tensor4D, 1, this.padding, this.bias));
  }

  /** The kernel as used, [k, k, cin, cout] (masked taps exactly 0), for the fixed-point coder. */
  maskedWeight(): Float32Array {
    return tf.tidy(() => tf.mul(this.weight, this.mask).dataSync() as Float32Array);
  }

  override dispose(): void {
    super.dispose();
    this.mask.dispose();
  }
}
