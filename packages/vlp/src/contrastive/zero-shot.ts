/**
 * Zero-shot classification with any SemanticTarget, as CLIP does it: each
 * class's weight is the normalised mean of its normalised caption
 * embeddings over every template (prompt ensembling); an image goes to the
 * class of highest cosine similarity.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { SemanticTarget } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { fillTemplate } from './captions.js';
import { imagesAsFloats, type LabelledImages } from './cifar.js';
import { l2Normalise } from './loss.js';

/** [classes, embedDim] unit-norm class weights from `templates` x each class's names. */
export function zeroShotClassifier(target: SemanticTarget, classes: readonly (readonly string[])[], templates: readonly string[]): tf.Tensor2D {
  if (templates.length === 0) throw new PsicError('BAD_PROMPTS', 'zero-shot classification needs at least one template');
  return tf.tidy(() => {
    const rows = classes.map((names) => {
      const texts = names.flatMap((name) => templates.map((t) => fillTemplate(t, name)));
      const embedded = l2Normalise(target.embedCandidates(texts));
      return tf.mean(embedded, 0);
    });
    return l2Normalise(tf.stack(rows) as tf.Tensor2D);
  });
}

export interface ZeroShotResult {
  top1: number;
  correct: number;
  total: number;
  /** Top-1 per class index. */
  perClass: number[];
}

export interface ZeroShotOptions {
  batch?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Top-1 of the zero-shot classifier on every image of `set` (images fed at their stored size; the target resizes). */
export async function evaluateZeroShot(target: SemanticTarget, set: LabelledImages, classifier: tf.Tensor2D, opts: ZeroShotOptions = {}): Promise<ZeroShotResult> {
  const batch = Math.max(1, opts.batch ?? 250);
  const classCount = classifier.shape[0];
  const hits = new Array<number>(classCount).fill(0);
  const seen = new Array<number>(classCount).fill(0);
  for (let start = 0; start < set.count; start += batch) {
    const n = Math.min(batch, set.count - start);
    const predicted = tf.tidy(() => {
      const x = tf.tensor4d(imagesAsFloats(set, start, n), [n, set.side, set.side, 3]);
      return tf.argMax(tf.matMul(l2Normalise(target.embedImages(x)), classifier, false, true), 1);
    });
    const labels = await predicted.data();
    predicted.dispose();
    for (let i = 0; i < n; i++) {
      const truth = set.labels[start + i]!;
      if (truth >= classCount) throw new PsicError('BAD_DATA', `label ${truth} has no class among ${classCount}`);
      seen[truth]!++;
      if (labels[i] === truth) hits[truth]!++;
    }
    opts.onProgress?.(start + n, set.count);
  }
  const correct = hits.reduce((a, b) => a + b, 0);
  return {
    top1: set.count ? correct / set.count : 0,
    correct,
    total: set.count,
    perClass: hits.map((h, c) => (seen[c] ? h / seen[c]! : 0)),
  };
}
