import * as tf from '@tensorflow/tfjs-core';
import { Checkerboard } from '../src/index.js';

/**
 * Random weights edited to behave like a trained codec (as CompressAI's golden
 * fixtures do): y spans several bins and the scales spread over the table.
 */
export function codecLike(N = 8, M = 12): Checkerboard {
  const model = new Checkerboard({ N, M });
  const v = model.namedVariables();
  const scale = (name: string, f: number, add = 0) => v[name].assign(tf.tidy(() => tf.add(tf.mul(v[name], f), add)));
  scale('g_a.6.weight', 24);
  scale('g_a.6.bias', 24);
  scale('h_a.4.weight', 4);
  scale('context_prediction.weight', 4);
  scale('entropy_parameters.4.weight', 30);
  scale('entropy_parameters.4.bias', 1, 2);
  model.updateCoding();
  return model;
}
