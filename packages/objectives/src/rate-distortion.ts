import * as tf from '@tensorflow/tfjs-core';

export interface RateDistortionTerms {
  /** lambda * 255^2 * MSE + bpp: the scalar to minimise */
  loss: tf.Scalar;
  /** estimated bits per pixel from the likelihoods */
  bpp: tf.Scalar;
  /** mean squared error on [0, 1] pixels */
  mse: tf.Scalar;
}

/** Bits per pixel implied by likelihoods: sum of -log2 p over every tensor, divided by the batch's pixel count. */
export function bitsPerPixelFromLikelihoods(likelihoods: tf.Tensor[], pixels: number): tf.Scalar {
  return tf.tidy(() => {
    const bits = likelihoods.map((p) => tf.sum(tf.log(p)));
    return tf.div(tf.addN(bits), -Math.LN2 * pixels) as tf.Scalar;
  });
}

/**
 * The rate-distortion loss of Ballé et al. / CompressAI: lambda * 255^2 * MSE + bpp.
 * `x` and `xHat` are NHWC in [0, 1]; pixels are counted per image times the batch.
 */
export function rateDistortion(x: tf.Tensor4D, xHat: tf.Tensor4D, likelihoods: tf.Tensor[], lambda: number): RateDistortionTerms {
  return tf.tidy(() => {
    const [n, h, w] = x.shape;
    const bpp = bitsPerPixelFromLikelihoods(likelihoods, n * h * w);
    const mse = tf.mean(tf.squaredDifference(x, xHat)) as tf.Scalar;
    const loss = tf.add(tf.mul(mse, lambda * 255 * 255), bpp) as tf.Scalar;
    return { loss, bpp, mse };
  });
}
