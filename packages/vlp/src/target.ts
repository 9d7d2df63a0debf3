/**
 * The semantic-target contract (defined in @psic/core so its registry can be
 * typed) and the similarity every target is scored with: CLIP's logits,
 * logitScale · cosine similarity of L2-normalised embeddings.
 * Images are NHWC [b, H, W, 3] in [0, 1], any size (tfjs is NHWC throughout).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { SemanticTarget } from '@psic/core';

export type { SemanticTarget } from '@psic/core';

/** Rows divided by their L2 norm (torch's x / x.norm(dim=1, keepdim=True), no epsilon). */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.sqrt(tf.sum(tf.square(x), 1, true))));
}

/** logitScale · normalize(a) · normalize(b)ᵀ: [a rows, b rows]. Differentiable. */
export function cosineLogits(a: tf.Tensor2D, b: tf.Tensor2D, logitScale: number): tf.Tensor2D {
  return tf.tidy(() => tf.mul(tf.matMul(l2Normalize(a), l2Normalize(b), false, true), logitScale));
}

/**
 * Logits of images against candidates: [images, candidates], as CLIP's
 * `logits_per_image`. `candidates` are texts or precomputed candidate
 * embeddings (reuse them across steps of an attack). Differentiable in `images`.
 */
export function similarity(target: SemanticTarget, images: tf.Tensor4D, candidates: string[] | tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const textEmb = Array.isArray(candidates) ? target.embedCandidates(candidates) : candidates;
    return cosineLogits(target.embedImages(images), textEmb, target.logitScale);
  });
}
