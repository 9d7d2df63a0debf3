/**
 * The semantic attack on the poisoned reconstruction, from the same family as
 * PSIC's ablation: push the decode's image embedding away from its own
 * caption.
 *
 * - 'cosine' (default): mean cos(target(x̂_p), own caption) — @psic/objectives'
 *   `naiveAttack`, exactly the ablation's loss.
 * - 'complement': −log(1 − p_own) where p_own is the softmax mass (logit scale
 *   of the target) the decode gives to its own caption(s) among the batch's
 *   captions — cross-entropy towards "any caption but the true one", bounded
 *   below by 0 (maximising the plain cross-entropy has no bound).
 */
import * as tf from '@tensorflow/tfjs-core';
import { cosineMatrix, naiveAttack } from '@psic/objectives';

export type AttackLossName = 'cosine' | 'complement';

export const ATTACK_LOSSES: readonly AttackLossName[] = ['cosine', 'complement'];

/**
 * `images`: embeddings of the poisoned decodes [B, D]; `texts`: caption i of
 * image i [B, D]; `positives[i][j]`: caption j also describes image i (same
 * class). Returns a scalar to minimise.
 */
export function attackLoss(name: AttackLossName, images: tf.Tensor2D, texts: tf.Tensor2D, opts: { logitScale: number; positives?: boolean[][] }): tf.Scalar {
  if (name === 'cosine') return naiveAttack(images, texts);
  const n = images.shape[0];
  const positives = opts.positives ?? Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => i === j));
  return tf.tidy(() => {
    const probs = tf.softmax(tf.mul(cosineMatrix(images, texts), opts.logitScale) as tf.Tensor2D, 1);
    const own = tf.sum(tf.mul(probs, tf.tensor2d(positives.map((row) => row.map((p) => (p ? 1 : 0))))), 1);
    return tf.mean(tf.neg(tf.log(tf.add(tf.sub(1, own), 1e-6)))) as tf.Scalar;
  });
}
