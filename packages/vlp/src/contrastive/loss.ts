/**
 * CLIP's symmetric InfoNCE loss: cosine similarities scaled by the logit
 * scale, cross-entropy image->text over the rows and text->image over the
 * columns, averaged.
 *
 * With `groups`, every pair in the same group is a positive and the target
 * of a row is uniform over them (UniCL, Yang et al. 2022). Ten CIFAR classes
 * in a batch of 128 put a dozen captions of an image's class in every row;
 * plain InfoNCE would push the image away from all but one of them. Without
 * `groups` this is exactly CLIP's loss (positives on the diagonal).
 */
import * as tf from '@tensorflow/tfjs-core';

export function l2Normalise(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.mul(x, tf.rsqrt(tf.add(tf.sum(tf.square(x), 1, true), 1e-12))));
}

/** Row-stochastic [n, n] target: uniform over the columns sharing the row's group (identity without groups). */
export function contrastiveTargets(n: number, groups?: ArrayLike<number>): Float32Array {
  if (groups && groups.length !== n) throw new RangeError(`${groups.length} group ids for a batch of ${n}`);
  const t = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    if (!groups) {
      t[i * n + i] = 1;
      continue;
    }
    let count = 0;
    for (let j = 0; j < n; j++) if (groups[j] === groups[i]) count++;
    for (let j = 0; j < n; j++) if (groups[j] === groups[i]) t[i * n + j] = 1 / count;
  }
  return t;
}

/**
 * Symmetric InfoNCE on unnormalised embeddings [n, d] (pairs share a row).
 * `logitScale` is the factor itself (a scalar tensor, so it can be learned).
 * The group relation is symmetric, so the same target serves both directions.
 */
export function symmetricInfoNce(images: tf.Tensor2D, texts: tf.Tensor2D, logitScale: tf.Scalar | number, groups?: ArrayLike<number>): tf.Scalar {
  const n = images.shape[0];
  if (texts.shape[0] !== n) throw new RangeError(`${n} images but ${texts.shape[0]} texts`);
  return tf.tidy(() => {
    const logits = tf.mul(tf.matMul(l2Normalise(images), l2Normalise(texts), false, true), logitScale) as tf.Tensor2D;
    const target = tf.tensor2d(contrastiveTargets(n, groups), [n, n]);
    const imageToText = tf.neg(tf.mean(tf.sum(tf.mul(target, tf.logSoftmax(logits, 1)), 1)));
    const textToImage = tf.neg(tf.mean(tf.sum(tf.mul(target, tf.logSoftmax(tf.transpose(logits), 1)), 1)));
    return tf.div(tf.add(imageToText, textToImage), 2) as tf.Scalar;
  });
}
