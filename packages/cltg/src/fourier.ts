import * as tf from '@tensorflow/tfjs-core';

/** Width of the embedding of a `dim`-d condition with `frequencies` octaves. */
export function fourierWidth(dim: number, frequencies: number): number {
  return dim * (1 + 2 * frequencies);
}

/**
 * [β, sin(2^0·π·β) … sin(2^(F−1)·π·β), cos(2^0·π·β) … cos(2^(F−1)·π·β)] along
 * the last axis: β [b, D] -> [b, D·(1 + 2F)]. The high octaves make nearby
 * conditions look unrelated to the MLP, so a wrong key's β shares nothing
 * with the owner's.
 */
export function fourierEmbedding(beta: tf.Tensor2D, frequencies: number): tf.Tensor2D {
  return tf.tidy(() => {
    const parts: tf.Tensor2D[] = [beta];
    const scaled = Array.from({ length: frequencies }, (_, k) => tf.mul(beta, Math.PI * 2 ** k) as tf.Tensor2D);
    for (const s of scaled) parts.push(tf.sin(s));
    for (const s of scaled) parts.push(tf.cos(s));
    return tf.concat(parts, 1);
  });
}
