import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Hyperprior, type HyperpriorArchitecture } from '../src/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function smoothImage(h: number, w: number, seed: number): tf.Tensor4D {
  const data = new Float32Array(h * w * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = 0.5 + 0.3 * Math.sin(0.11 * x + 0.07 * y + c + seed) * Math.cos(0.05 * y - 0.13 * x * c);
  return tf.tensor4d(data, [1, h, w, 3]);
}

describe.each(['bmshj2018-hyperprior', 'mbt2018-mean'] as HyperpriorArchitecture[])('%s', (architecture) => {
  it('codes y-hat exactly through the rANS streams', async () => {
    const model = new Hyperprior({ N: 16, M: 24, architecture });
    const x = smoothImage(64, 128, 1);
    const sections = await model.compress(x);
    expect(sections).toHaveLength(2);
    const yHat = await model.decompress(sections, { height: 64, width: 128 });
    expect(yHat.shape).toEqual([1, 4, 8, 24]);
    const { xHat } = model.forward(x, { training: false });
    expect(xHat.shape).toEqual([1, 64, 128, 3]);
    if (architecture === 'bmshj2018-hyperprior') {
      // no means: y-hat is round(y), the same in forward() and through the streams
      const y = model.analysis(x);
      const rounded = Array.from(y.dataSync()).map((v) => Math.round(v));
      expect(Array.from(yHat.dataSync())).toEqual(rounded.map((v) => v + 0));
    }
    model.dispose();
  });

  it('trains: the loss has gradients for every main variable', () => {
    const model = new Hyperprior({ N: 8, M: 12, architecture });
    const x = smoothImage(64, 64, 2);
    const vars = model.variables();
    const { grads } = tf.variableGrads(() => {
      const out = model.forward(x, { training: true });
      const bits = tf.addN(out.likelihoods.map((p) => tf.sum(tf.log(p))));
      return tf.add(tf.mean(tf.squaredDifference(out.xHat, x)), tf.div(bits, -Math.LN2 * 64 * 64)) as tf.Scalar;
    }, vars);
    for (const v of vars) expect(grads[v.name], v.name).toBeDefined();
    model.dispose();
  });
});
