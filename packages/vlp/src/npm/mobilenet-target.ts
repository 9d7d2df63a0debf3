/**
 * nsfwjs' MobileNetV2 features as a semantic target. It has no text side and
 * no ImageNet classifier head, so a candidate is a class *prototype*: the
 * normalised mean of the unit-length features of reference images of that
 * class (set with `addPrototypes`). Similarity to a prototype is then the
 * cosine to the class centroid, i.e. a nearest-class-mean classifier.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { SemanticTarget } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { MOBILENET_FEATURE_DIM, MobileNetV2 } from './mobilenet-v2.js';

/** Batch size used when computing prototypes from many reference images. */
const PROTOTYPE_BATCH = 8;

export class MobileNetTarget implements SemanticTarget {
  readonly name: string;
  /**
   * Cosines of MobileNet features to class centroids spread over ~0.3-0.9;
   * 100 (CLIP's value) makes softmax(logitScale * cos) decisive.
   */
  readonly logitScale = 100;
  private readonly prototypes = new Map<string, tf.Tensor1D>();

  constructor(readonly net: MobileNetV2, name = 'mobilenet-v2') {
    this.name = name;
  }

  /** [b, 1280] features of NHWC [0, 1] images of any size. Differentiable. */
  mobilenetFeatures(x: tf.Tensor4D): tf.Tensor2D {
    return this.net.features(x);
  }

  /** The raw features (cosine-based objectives normalise them). */
  embedImages(x: tf.Tensor4D): tf.Tensor2D {
    return this.mobilenetFeatures(x);
  }

  /** [b, 1280] unit-length features. */
  unitFeatures(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const f = this.net.features(x);
      return tf.div(f, tf.maximum(tf.norm(f, 'euclidean', 1, true), 1e-12)) as tf.Tensor2D;
    });
  }

  /**
   * Set the prototype of each label from reference images: images[i] (NHWC,
   * [0, 1], any size; one image or a batch) belongs to labels[i]. Each
   * prototype is the normalised mean of its images' unit features. Replaces an
   * existing prototype of the same label.
   */
  addPrototypes(labels: string[], images: tf.Tensor4D[]): void {
    if (labels.length !== images.length) throw new PsicError('BAD_INPUT', `addPrototypes: ${labels.length} labels but ${images.length} image batches`);
    const sums = new Map<string, tf.Tensor1D>();
    labels.forEach((label, i) => {
      for (let start = 0; start < images[i].shape[0]; start += PROTOTYPE_BATCH) {
        const sum = tf.tidy(() => {
          const part = tf.slice(images[i], [start, 0, 0, 0], [Math.min(PROTOTYPE_BATCH, images[i].shape[0] - start), -1, -1, -1]);
          const s = tf.sum(this.unitFeatures(part), 0) as tf.Tensor1D;
          const before = sums.get(label);
          return before ? tf.add(before, s) : s;
        });
        sums.get(label)?.dispose();
        sums.set(label, sum as tf.Tensor1D);
      }
    });
    for (const [label, sum] of sums) {
      this.setPrototype(label, sum);
      sum.dispose();
    }
  }

  /** Set one label's prototype from a feature vector (normalised here); e.g. a centroid computed elsewhere. */
  setPrototype(label: string, feature: tf.Tensor1D | ArrayLike<number>): void {
    const v = tf.tidy(() => {
      const f = feature instanceof tf.Tensor ? feature : tf.tensor1d(Array.from(feature));
      if (f.rank !== 1 || f.shape[0] !== MOBILENET_FEATURE_DIM) throw new PsicError('BAD_INPUT', `prototype of "${label}" must have ${MOBILENET_FEATURE_DIM} values, got [${f.shape.join(', ')}]`);
      return tf.keep(tf.div(f, tf.maximum(tf.norm(f), 1e-12)) as tf.Tensor1D);
    });
    this.prototypes.get(label)?.dispose();
    this.prototypes.set(label, v);
  }

  /** Labels that have a prototype. */
  labels(): string[] {
    return [...this.prototypes.keys()];
  }

  /** [n, 1280] unit prototypes of the given labels; PsicError 'UNKNOWN_CANDIDATE' for a label without one. */
  embedCandidates(items: string[]): tf.Tensor2D {
    const missing = items.filter((i) => !this.prototypes.has(i));
    if (missing.length > 0) {
      throw new PsicError('UNKNOWN_CANDIDATE', `${this.name} has no prototype for ${missing.map((m) => JSON.stringify(m)).join(', ')}; add reference images with addPrototypes() (known: ${this.labels().length} labels)`);
    }
    if (items.length === 0) return tf.zeros([0, MOBILENET_FEATURE_DIM]) as tf.Tensor2D;
    return tf.stack(items.map((i) => this.prototypes.get(i)!)) as tf.Tensor2D;
  }

  dispose(): void {
    for (const p of this.prototypes.values()) p.dispose();
    this.prototypes.clear();
    this.net.dispose();
  }
}
