import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { bitsPerPixelFromLikelihoods, rateDistortion } from '../src/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('rateDistortion', () => {
  it('counts -log2 p over all likelihood tensors per pixel', () => {
    // 2 images of 4x4 pixels; y likelihoods 0.5 (1 bit) x 8 symbols, z 0.25 (2 bits) x 4 symbols
    const bpp = bitsPerPixelFromLikelihoods([tf.fill([2, 2, 2, 1], 0.5), tf.fill([2, 1, 1, 2], 0.25)], 2 * 4 * 4);
    expect(bpp.dataSync()[0]).toBeCloseTo((8 * 1 + 4 * 2) / 32, 6);
  });

  it('weights MSE by lambda * 255^2 and adds the rate', () => {
    const x = tf.fill([1, 4, 4, 3], 0.5) as tf.Tensor4D;
    const xHat = tf.fill([1, 4, 4, 3], 0.6) as tf.Tensor4D;
    const { loss, bpp, mse } = rateDistortion(x, xHat, [tf.fill([1, 1, 1, 16], 0.5)], 0.01);
    expect(mse.dataSync()[0]).toBeCloseTo(0.01, 6);
    expect(bpp.dataSync()[0]).toBeCloseTo(1, 6);
    expect(loss.dataSync()[0]).toBeCloseTo(0.01 * 255 * 255 * 0.01 + 1, 3);
  });

  it('has gradients towards the target and towards higher likelihood', () => {
    const x = tf.fill([1, 2, 2, 3], 0.5) as tf.Tensor4D;
    const g = tf.grads((xHat: tf.Tensor, p: tf.Tensor) => rateDistortion(x, xHat as tf.Tensor4D, [p], 0.01).loss);
    const [dx, dp] = g([tf.fill([1, 2, 2, 3], 0.7), tf.fill([1, 1, 1, 4], 0.5)]);
    expect(Array.from(dx.dataSync()).every((v) => v > 0)).toBe(true);
    expect(Array.from(dp.dataSync()).every((v) => v < 0)).toBe(true);
  });
});
