import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SemanticTarget } from '@psic/core';
import { cropAndResize, gridBoxes, semanticGlobal, semanticInstances } from '../src/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** A stand-in target: an image's embedding is its mean colour plus a constant (so a black image still has a direction). */
const meanColourTarget: SemanticTarget & { inputSize: number; seen: number[][] } = {
  name: 'mean-colour',
  logitScale: 1,
  inputSize: 4,
  seen: [],
  embedImages(x) {
    this.seen.push(x.shape);
    return tf.tidy(() => tf.add(tf.mean(x, [1, 2]), 0.1) as tf.Tensor2D);
  },
  embedCandidates(items) {
    return tf.zeros([items.length, 3]);
  },
};

describe('semanticGlobal', () => {
  it('is 1 − cos, mean over the batch', () => {
    const a = tf.tensor2d([[1, 0], [0, 2], [3, 0]]);
    const b = tf.tensor2d([[2, 0], [1, 0], [-1, 0]]); // cos 1, 0, −1
    expect(semanticGlobal(a, b).dataSync()[0]).toBeCloseTo((0 + 1 + 2) / 3, 6);
  });
});

describe('gridBoxes', () => {
  it('cuts each level into L×L equal cells and skips cells below minSide', () => {
    const boxes = gridBoxes(64, 96, { levels: [1, 2, 3], minSide: 8 });
    expect(boxes).toHaveLength(1 + 4 + 9);
    expect(boxes[0]).toEqual({ top: 0, left: 0, height: 64, width: 96 });
    expect(boxes[4]).toEqual({ top: 32, left: 48, height: 32, width: 48 });
    expect(gridBoxes(20, 20, { levels: [2, 3], minSide: 8 })).toHaveLength(4);
  });
});

describe('cropAndResize / semanticInstances', () => {
  // 8×8 image whose top-left quadrant is red, the rest black
  const image = () => tf.tidy(() => tf.pad(tf.concat([tf.ones([1, 4, 4, 1]), tf.zeros([1, 4, 4, 2])], 3), [[0, 0], [0, 4], [0, 4], [0, 0]]) as tf.Tensor4D);

  it('crops each box of each image, box-major, resized', () => {
    const x = tf.concat([image(), tf.zeros([1, 8, 8, 3])]) as tf.Tensor4D;
    const crops = cropAndResize(x, gridBoxes(8, 8, { levels: [2], minSide: 1 }), 2);
    expect(crops.shape).toEqual([8, 2, 2, 3]);
    const means = (tf.mean(crops, [1, 2]).arraySync() as number[][]).map((m) => m[0]);
    expect(means).toEqual([1, 0, 0, 0, 0, 0, 0, 0]); // box 0 of image 0 is the red quadrant
    expect(() => cropAndResize(x, [{ top: 4, left: 0, height: 8, width: 8 }], 2)).toThrow(RangeError);
  });

  it('is 0 for an identical decode, grows with a changed region, and has a gradient', () => {
    const x = image();
    const boxes = gridBoxes(8, 8, { levels: [2], minSide: 1 });
    expect(semanticInstances(meanColourTarget, x, x, boxes).dataSync()[0]).toBeCloseTo(0, 6);
    expect(meanColourTarget.seen.at(-1)).toEqual([4, 4, 4, 3]); // crops resized to the target's inputSize
    const changed = tf.tidy(() => tf.sub(1, x) as tf.Tensor4D);
    const loss = semanticInstances(meanColourTarget, x, changed, boxes).dataSync()[0];
    expect(loss).toBeGreaterThan(0.1);
    const g = tf.grad((xh) => semanticInstances(meanColourTarget, x, xh as tf.Tensor4D, boxes))(changed);
    expect(tf.sum(tf.abs(g)).dataSync()[0]).toBeGreaterThan(0);
  });
});
