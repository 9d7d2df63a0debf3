/**
 * Data-parallel steps against one-thread steps from the same weights, batch
 * and seeded noise. Uses the built package: the worker thread loads
 * dist/data-parallel-worker.js (nx builds before testing).
 */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '@psic/core';
import { SeededTrainingNoise, setTrainingNoise } from '@psic/entropy';
import { Hyperprior } from '@psic/backbone-hyperprior';
import { DataParallelStepper, makeOptimizers, shardBounds, trainStep } from '../dist/index.js';

const config = { N: 8, M: 12, architecture: 'bmshj2018-hyperprior' } as const;

describe('data-parallel training', () => {
  it('splits a batch into nearly equal shards', () => {
    expect(shardBounds(8, 2)).toEqual([[0, 4], [4, 8]]);
    expect(shardBounds(7, 3)).toEqual([[0, 3], [3, 5], [5, 7]]);
    expect(() => shardBounds(1, 2)).toThrow(/batch of 1/);
  });

  it('follows the one-thread loss curve and weights within float tolerance', async () => {
    await selectBackend('cpu', { log: () => {} });
    const single = new Hyperprior(config);
    const parallel = new Hyperprior(config);
    for (const [name, v] of Object.entries(parallel.namedVariables())) v.assign(single.namedVariables()[name]!);
    const optSingle = makeOptimizers(single, 1e-3, 1e-3);
    const optParallel = makeOptimizers(parallel, 1e-3, 1e-3);
    const noise = new SeededTrainingNoise(5);
    const previous = setTrainingNoise(noise);
    const stepper = await DataParallelStepper.start(parallel, optParallel, noise, {
      workers: 2, architecture: config.architecture, config, modules: ['@psic/backbone-hyperprior'], backend: 'cpu', seed: 5,
    });
    try {
      for (let step = 0; step < 3; step++) {
        const x = tf.randomUniform([4, 64, 64, 3], 0, 1, 'float32', 10 + step) as tf.Tensor4D;
        noise.beginStep(step, 0);
        const a = trainStep(single, x, 0.01, optSingle, 1);
        const b = await stepper.step(x, 0.01, 1, step);
        x.dispose();
        expect(Math.abs(a.loss - b.loss) / a.loss).toBeLessThan(1e-4);
        expect(Math.abs(a.gradNorm - b.gradNorm) / a.gradNorm).toBeLessThan(1e-3);
      }
      let maxDiff = 0;
      for (const [name, v] of Object.entries(single.namedVariables())) {
        const d = tf.max(tf.abs(tf.sub(v, parallel.namedVariables()[name]!))).dataSync()[0]!;
        maxDiff = Math.max(maxDiff, d);
      }
      expect(maxDiff).toBeLessThan(1e-4);
    } finally {
      await stepper.close();
      setTrainingNoise(previous);
    }
  }, 120_000);
});
