import * as tf from '@tensorflow/tfjs-core';
import { ChannelContext } from '../src/index.js';

/**
 * Random weights edited to behave like a trained codec (as CompressAI's golden
 * fixtures do): y spans several bins, the scales spread over the table, the
 * means and the residual prediction are far from zero.
 */
export function codecLike(config: { N: number; M: number; slices: number; maxSupport: number } = { N: 8, M: 12, slices: 3, maxSupport: 2 }): ChannelContext {
  const model = new ChannelContext(config);
  const v = model.namedVariables();
  const scale = (name: string, f: number, add = 0) => v[name].assign(tf.tidy(() => tf.add(tf.mul(v[name], f), add)));
  scale('g_a.6.weight', 24);
  scale('g_a.6.bias', 24);
  for (let i = 0; i < config.slices; i++) {
    scale(`cc_scale_transforms.${i}.4.weight`, 30);
    scale(`cc_scale_transforms.${i}.4.bias`, 1, 2);
    scale(`cc_mean_transforms.${i}.4.weight`, 10);
    scale(`lrp_transforms.${i}.4.weight`, 10);
  }
  model.updateCoding();
  return model;
}
