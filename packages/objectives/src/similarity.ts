import * as tf from '@tensorflow/tfjs-core';

/** Rows scaled to unit L2 norm (a zero row stays ~zero instead of NaN). */
export function l2NormalizeRows(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.add(tf.norm(x, 'euclidean', 1, true), 1e-12)) as tf.Tensor2D);
}

/** Cosine similarity of every row of `a` with every row of `b`: [rows a, rows b]. */
export function cosineMatrix(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.matMul(l2NormalizeRows(a), l2NormalizeRows(b), false, true));
}

/** Cosine similarity of row i of `a` with row i of `b`: [rows]. */
export function cosineRows(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor1D {
  if (a.shape[0] !== b.shape[0] || a.shape[1] !== b.shape[1]) throw new RangeError(`row-wise cosine needs equal shapes, got [${a.shape}] and [${b.shape}]`);
  return tf.tidy(() => tf.sum(tf.mul(l2NormalizeRows(a), l2NormalizeRows(b)), 1) as tf.Tensor1D);
}
