/**
 * A tiny random SemanticTarget for tests and mechanism checks (no semantics:
 * fixed random weights). Images: resize to 16×16 -> conv 3×3 stride 2 (3 -> 8)
 * -> ReLU -> global mean -> linear to `dim`. Texts: a seeded random vector per
 * distinct string. Registered as semantic target "random".
 */
import * as tf from '@tensorflow/tfjs-core';
import { semanticTargets, type SemanticTarget } from '@psic/core';
import { Rng } from './rng.js';

export class RandomTarget implements SemanticTarget {
  readonly name = 'random';
  readonly logitScale = 1 / 0.07;
  readonly inputSize = 16;
  private readonly filter: tf.Tensor4D;
  private readonly projection: tf.Tensor2D;

  constructor(readonly opts: { seed?: number; dim?: number } = {}) {
    const seed = opts.seed ?? 1;
    const dim = opts.dim ?? 16;
    this.filter = tf.randomNormal([3, 3, 3, 8], 0, 0.5, 'float32', seed) as tf.Tensor4D;
    this.projection = tf.randomNormal([8, dim], 0, 0.5, 'float32', seed + 1) as tf.Tensor2D;
  }

  embedImages(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const small = tf.image.resizeBilinear(tf.sub(x, 0.5) as tf.Tensor4D, [this.inputSize, this.inputSize]);
      const features = tf.mean(tf.relu(tf.conv2d(small, this.filter, 2, 'same')), [1, 2]) as tf.Tensor2D;
      return tf.matMul(features, this.projection);
    });
  }

  embedCandidates(items: string[]): tf.Tensor2D {
    const dim = this.projection.shape[1];
    const values = new Float32Array(items.length * dim);
    items.forEach((text, i) => {
      const rng = new Rng(hashString(text) ^ (this.opts.seed ?? 1));
      for (let d = 0; d < dim; d++) values[i * dim + d] = rng.next() * 2 - 1;
    });
    return tf.tensor2d(values, [items.length, dim]);
  }

  dispose(): void {
    this.filter.dispose();
    this.projection.dispose();
  }
}

/** FNV-1a over UTF-16 code units. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

if (!semanticTargets.has('random')) {
  semanticTargets.register('random', (options) => new RandomTarget({ seed: Number(options?.seed ?? 1), dim: Number(options?.dim ?? 16) }));
}
