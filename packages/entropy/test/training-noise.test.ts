import { afterEach, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { EntropyBottleneck, SeededTrainingNoise, addUniformNoise, setTrainingNoise } from '../src/index.js';

afterEach(() => {
  setTrainingNoise(undefined);
});

describe('seeded training noise', () => {
  it('is U(-1/2, 1/2), reproducible, and differs between steps', () => {
    const noise = new SeededTrainingNoise(7);
    noise.beginStep(3);
    const a = noise.uniform([2, 4, 4, 8]).dataSync();
    noise.beginStep(3);
    const b = noise.uniform([2, 4, 4, 8]).dataSync();
    noise.beginStep(4);
    const c = noise.uniform([2, 4, 4, 8]).dataSync();
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    expect(Math.min(...a)).toBeGreaterThanOrEqual(-0.5);
    expect(Math.max(...a)).toBeLessThan(0.5);
    const mean = Array.from(a).reduce((s, v) => s + v, 0) / a.length;
    expect(Math.abs(mean)).toBeLessThan(0.08);
  });

  it('gives each sample the same noise whether the batch is whole or split', () => {
    const noise = new SeededTrainingNoise(11);
    noise.beginStep(5, 0);
    const whole = [noise.uniform([4, 2, 2, 3]).dataSync(), noise.uniform([4, 1, 1, 2]).dataSync()];
    noise.beginStep(5, 0);
    const first = [noise.uniform([2, 2, 2, 3]).dataSync(), noise.uniform([2, 1, 1, 2]).dataSync()];
    noise.beginStep(5, 2);
    const second = [noise.uniform([2, 2, 2, 3]).dataSync(), noise.uniform([2, 1, 1, 2]).dataSync()];
    expect([...first[0]!, ...second[0]!]).toEqual(Array.from(whole[0]!));
    expect([...first[1]!, ...second[1]!]).toEqual(Array.from(whole[1]!));
  });

  it('drives addUniformNoise and the bottleneck once installed', () => {
    const x = tf.zeros([2, 3, 3, 4]);
    const seeded = new SeededTrainingNoise(1);
    setTrainingNoise(seeded);
    seeded.beginStep(0);
    const first = addUniformNoise(x).dataSync();
    seeded.beginStep(0);
    const again = addUniformNoise(x).dataSync();
    expect(Array.from(first)).toEqual(Array.from(again));

    const eb = new EntropyBottleneck(4);
    seeded.beginStep(9);
    const a = eb.forward(x as tf.Tensor4D, true).xHat.dataSync();
    seeded.beginStep(9);
    const b = eb.forward(x as tf.Tensor4D, true).xHat.dataSync();
    expect(Array.from(a)).toEqual(Array.from(b));
    // the noise on z is the same draw addUniformNoise would make, in NHWC order
    seeded.beginStep(9);
    expect(Array.from(a)).toEqual(Array.from(addUniformNoise(x).dataSync()));
  });
});
