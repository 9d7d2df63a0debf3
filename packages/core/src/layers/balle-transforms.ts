/**
 * The analysis / synthesis transforms of Ballé et al. 2018 that the
 * hyperprior, mean-scale, checkerboard and channel-context backbones all
 * share: four strided 5x5 convolutions with GDN, and their transposed
 * mirror with inverse GDN. Variable names are CompressAI's (g_a.0 .. g_a.6,
 * g_s.0 .. g_s.6), so checkpoints map 1:1.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BlockHook } from '../backbone.js';
import { Conv2d, ConvTranspose2d } from './conv.js';
import { GDN } from './gdn.js';
import { Sequential } from './sequential.js';

/** g_a: image (3 channels) -> latent (M channels) at 1/16 the size. */
export function balleAnalysis(N: number, M: number): Sequential {
  return new Sequential('g_a', [
    new Conv2d(3, N, 5, 2),
    new GDN(N),
    new Conv2d(N, N, 5, 2),
    new GDN(N),
    new Conv2d(N, N, 5, 2),
    new GDN(N),
    new Conv2d(N, M, 5, 2),
  ]);
}

/**
 * g_s split into the four blocks a synthesis hook sees (each upsampling
 * step with its inverse GDN; the last one to RGB), with the channels each
 * block outputs: what an adapter must match.
 */
export function balleSynthesisBlocks(N: number, M: number): { blocks: Sequential[]; channels: { channels: number }[] } {
  return {
    blocks: [
      new Sequential('g_s', [new ConvTranspose2d(M, N, 5, 2), new GDN(N, { inverse: true })], 0),
      new Sequential('g_s', [new ConvTranspose2d(N, N, 5, 2), new GDN(N, { inverse: true })], 2),
      new Sequential('g_s', [new ConvTranspose2d(N, N, 5, 2), new GDN(N, { inverse: true })], 4),
      new Sequential('g_s', [new ConvTranspose2d(N, 3, 5, 2)], 6),
    ],
    channels: [{ channels: N }, { channels: N }, { channels: N }, { channels: 3 }],
  };
}

/**
 * Run synthesis blocks in order, handing each block's output to the hook
 * (the adapter's seam, LicBackbone.synthesis) before the next block.
 */
export function synthesizeBlocks(blocks: readonly Sequential[], yHat: tf.Tensor4D, hook?: BlockHook): tf.Tensor4D {
  return tf.tidy(() => {
    let h = yHat;
    blocks.forEach((block, i) => {
      h = block.apply(h);
      if (hook) h = hook(i, h);
    });
    return h;
  });
}
