/**
 * "What the attacked model sees": zero-shot labels of an image from a
 * registered SemanticTarget (@psic/core's registry; @psic/vlp registers CLIP
 * and the in-house model). Score = softmax over the candidates of
 * logitScale x cosine(image, "a photo of a <candidate>."), the usual CLIP
 * zero-shot read-out. No target configured: no labeler, and the page hides
 * the labels.
 */
import * as tf from '@tensorflow/tfjs-core';
import { semanticTargets, type RgbImage, type SemanticTarget } from '@psic/core';
import { PsicError } from '@psic/entropy';

export const DEFAULT_LABEL_CANDIDATES: readonly string[] = [
  'person', 'child', 'face', 'bird', 'parrot', 'dog', 'cat', 'horse', 'boat', 'sailboat',
  'lighthouse', 'house', 'door', 'window', 'flower', 'tree', 'mountain', 'beach', 'sea',
  'river', 'car', 'motorcycle', 'airplane', 'bicycle', 'hat', 'fence', 'statue', 'food',
];

export const DEFAULT_LABEL_TEMPLATE = 'a photo of a {}.';

export interface Labeler {
  readonly target: string;
  readonly candidates: readonly string[];
  top(img: RgbImage, k?: number): { label: string; score: number }[];
}

export async function createLabeler(
  targetName: string,
  opts: { candidates?: readonly string[]; template?: string; targetOptions?: Record<string, unknown> } = {},
): Promise<Labeler> {
  const { candidates = DEFAULT_LABEL_CANDIDATES, template = DEFAULT_LABEL_TEMPLATE, targetOptions } = opts;
  if (candidates.length < 2) throw new PsicError('BAD_CONFIG', 'zero-shot labels need at least 2 candidates');
  const target: SemanticTarget = await semanticTargets.get(targetName)(targetOptions);
  // candidate embeddings are fixed: compute them once, unit length
  const text = tf.tidy(() => unit(target.embedCandidates(candidates.map((c) => template.replace('{}', c)))));
  return {
    target: target.name,
    candidates,
    top(img, k = 3) {
      const probs = tf.tidy(() => {
        const x = tf.tensor4d(img.data, [1, img.height, img.width, 3]);
        const e = unit(target.embedImages(x));
        return tf.softmax(tf.mul(tf.matMul(e, text, false, true), target.logitScale)).dataSync();
      });
      return [...probs]
        .map((score, i) => ({ label: candidates[i], score }))
        .sort((a, b) => b.score - a.score)
        .slice(0, k);
    },
  };
}

function unit(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.add(tf.norm(x, 'euclidean', 1, true), 1e-12));
}
