/**
 * CompressAI's NonNegativeParametrizer and LowerBound, which GDN uses to keep
 * beta and gamma positive while training. The stored (trainable) value v
 * maps to the effective one as lowerBound(v, √(minimum + pedestal))² − pedestal,
 * with pedestal = reparam_offset² = 2⁻³⁶. Parametrising through the square
 * root keeps gradients alive near zero, where a plain clamp would kill them.
 */
import * as tf from '@tensorflow/tfjs-core';

export const REPARAM_OFFSET = 2 ** -18;
export const PEDESTAL = REPARAM_OFFSET ** 2;

/**
 * max(x, bound) whose gradient still flows where x < bound if it pushes x up
 * (dy < 0 for gradient descent), so a parameter stuck under the bound can
 * climb back. Same rule as CompressAI's LowerBoundFunction.
 */
export function lowerBound(x: tf.Tensor, bound: number): tf.Tensor {
  const f = tf.customGrad((input: tf.Tensor | tf.GradSaveFunc, save: tf.Tensor | tf.GradSaveFunc) => {
    const t = input as tf.Tensor;
    (save as tf.GradSaveFunc)([t]);
    return {
      value: tf.maximum(t, bound),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const passThrough = tf.logicalOr(tf.greaterEqual(saved[0], bound), tf.less(dy, 0));
        return tf.mul(dy, tf.cast(passThrough, dy.dtype));
      },
    };
  });
  return f(x);
}

export class NonNegativeParametrizer {
  /** float32 value of √(minimum + pedestal), as CompressAI stores it in its `lower_bound.bound` buffer. */
  readonly bound: number;

  constructor(readonly minimum = 0) {
    this.bound = Math.fround(Math.sqrt(minimum + PEDESTAL));
  }

  /** Effective value from the stored one (differentiable). */
  forward(stored: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.sub(tf.square(lowerBound(stored, this.bound)), PEDESTAL));
  }

  /** Stored value for an effective one: √max(v + pedestal, pedestal). */
  init(values: Float32Array): Float32Array {
    // Add in float32 as PyTorch does, so inits match CompressAI's to the bit.
    return values.map((v) => Math.sqrt(Math.max(Math.fround(v + PEDESTAL), PEDESTAL)));
  }
}
