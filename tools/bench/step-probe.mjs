import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '@psic/core';
import { Hyperprior } from '@psic/backbone-hyperprior';
import { rateDistortion } from '@psic/objectives';
const [backend, N, M, B, C] = process.argv.slice(2);
await selectBackend(backend);
const model = new Hyperprior({ N: +N, M: +M, architecture: 'bmshj2018-hyperprior' });
const x = tf.randomUniform([+B, +C, +C, 3]);
for (let i = 0; i < 3; i++) {
  const t0 = performance.now();
  const { value, grads } = tf.variableGrads(() => { const o = model.forward(x, { training: true }); return rateDistortion(x, o.xHat, o.likelihoods, 0.01).loss; }, model.variables());
  value.dataSync(); tf.dispose(grads); value.dispose();
  const t1 = performance.now();
  const o = tf.tidy(() => model.forward(x, { training: true }).xHat); o.dataSync(); o.dispose();
  console.log(JSON.stringify({ backend, N, M, B, C, stepSeconds: (t1 - t0) / 1000, forwardSeconds: (performance.now() - t1) / 1000 }));
}
