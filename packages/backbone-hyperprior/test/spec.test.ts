/** The shared backbone spec suite on both hyperprior architectures. */
import * as tf from '@tensorflow/tfjs-core';
import { backboneSpec } from '../../core/test/backbone-spec.js';
import { Hyperprior, type HyperpriorArchitecture } from '../src/index.js';

/** Random weights edited to behave like a trained codec: y spans several bins, scales spread over the table. */
function codecLike(architecture: HyperpriorArchitecture): Hyperprior {
  const model = new Hyperprior({ N: 8, M: 12, architecture });
  const v = model.namedVariables();
  const scale = (name: string, f: number, add = 0) => v[name].assign(tf.tidy(() => tf.add(tf.mul(v[name], f), add)));
  scale('g_a.6.weight', 24);
  scale('g_a.6.bias', 24);
  scale('h_a.4.weight', 4);
  scale('h_s.4.weight', 30);
  scale('h_s.4.bias', 1, 3);
  model.updateCoding();
  return model;
}

for (const architecture of ['bmshj2018-hyperprior', 'mbt2018-mean'] as HyperpriorArchitecture[]) {
  backboneSpec({ name: architecture, config: { N: 8, M: 12 }, create: () => codecLike(architecture) });
}
