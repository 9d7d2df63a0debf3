/**
 * Where the additive training noise U(-½, ½) comes from.
 *
 * By default it is tfjs' unseeded `randomUniform`. A trainer installs a
 * `SeededTrainingNoise` to make a run reproducible: each sample's noise is a
 * pure function of (seed, step, the sample's index in the global batch, the
 * draw's order within the step), so the same step gives the same noise
 * whether the batch runs in one piece or is split over workers.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface TrainingNoiseSource {
  /** U(-½, ½) of `shape`; the first dimension is the batch. */
  uniform(shape: number[]): tf.Tensor;
}

let installed: TrainingNoiseSource | undefined;

/** Install a source (undefined restores tfjs' unseeded generator); returns the previous one. */
export function setTrainingNoise(source: TrainingNoiseSource | undefined): TrainingNoiseSource | undefined {
  const previous = installed;
  installed = source;
  return previous;
}

/** U(-½, ½) noise of `shape` (batch first) from the installed source. */
export function trainingNoise(shape: number[]): tf.Tensor {
  return installed ? installed.uniform(shape) : tf.randomUniform(shape, -0.5, 0.5, 'float32');
}

export class SeededTrainingNoise implements TrainingNoiseSource {
  private step = 0;
  private firstSample = 0;
  private draw = 0;

  constructor(readonly seed: number) {}

  /** Call before each step's forward pass; `firstSample` is this part's offset in the global batch. */
  beginStep(step: number, firstSample = 0): void {
    this.step = step;
    this.firstSample = firstSample;
    this.draw = 0;
  }

  uniform(shape: number[]): tf.Tensor {
    const [batch, ...rest] = shape;
    const perSample = rest.reduce((a, b) => a * b, 1);
    const values = new Float32Array(batch! * perSample);
    const draw = this.draw++;
    for (let b = 0; b < batch!; b++) {
      const next = mulberry32(mix(this.seed, this.step, this.firstSample + b, draw));
      const row = values.subarray(b * perSample, (b + 1) * perSample);
      for (let i = 0; i < perSample; i++) row[i] = next() - 0.5;
    }
    return tf.tensor(values, shape, 'float32');
  }
}

/** One 32-bit seed from four integers (murmur3's finaliser after each word). */
function mix(...words: number[]): number {
  let h = 0x9e3779b9;
  for (const w of words) {
    h = Math.imul(h ^ (w >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** mulberry32: a tiny seeded PRNG of uniform doubles in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
