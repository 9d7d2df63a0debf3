/**
 * Generalized divisive normalization (Ballé et al. 2016), as CompressAI's GDN:
 *   y_i = x_i / sqrt(beta_i + Σ_j gamma_ij · x_j²)      (inverse: x_i · sqrt(...))
 * `beta` and `gamma` variables hold CompressAI's *reparametrised stored*
 * values (see non-negative.ts), so a CompressAI state dict loads unchanged.
 * gamma is [C, C] with row i = output channel, as in PyTorch.
 * Init: beta = 1, gamma = 0.1·I (CompressAI's defaults), beta_min = 1e-6.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Layer, type LayerOptions } from './module.js';
import { NonNegativeParametrizer } from './non-negative.js';

export interface GdnOptions extends LayerOptions {
  /** Inverse GDN (synthesis side): multiply by the norm instead of dividing. */
  inverse?: boolean;
  betaMin?: number;
  gammaInit?: number;
}

export class GDN extends Layer {
  readonly inverse: boolean;
  readonly beta: tf.Variable<tf.Rank.R1>;
  readonly gamma: tf.Variable<tf.Rank.R2>;
  readonly betaReparam: NonNegativeParametrizer;
  readonly gammaReparam = new NonNegativeParametrizer();

  constructor(
    readonly channels: number,
    opts: GdnOptions = {},
  ) {
    super(opts);
    if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`channels must be a positive integer, got ${channels}`);
    this.inverse = opts.inverse ?? false;
    this.betaReparam = new NonNegativeParametrizer(opts.betaMin ?? 1e-6);
    const gammaInit = opts.gammaInit ?? 0.1;
    const identity = new Float32Array(channels * channels);
    for (let i = 0; i < channels; i++) identity[i * channels + i] = gammaInit;
    this.beta = tf.variable(tf.tensor1d(this.betaReparam.init(new Float32Array(channels).fill(1))));
    this.gamma = tf.variable(tf.tensor2d(this.gammaReparam.init(identity), [channels, channels]));
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const beta = this.betaReparam.forward(this.beta) as tf.Tensor1D;
      const gamma = this.gammaReparam.forward(this.gamma);
      // A 1x1 conv over x²: the tf filter [1, 1, in, out] is gamma transposed.
      const filter = tf.reshape(tf.transpose(gamma), [1, 1, this.channels, this.channels]) as tf.Tensor4D;
      const norm = tf.fused.conv2d({ x: tf.square(x), filter, strides: 1, pad: 'valid', bias: beta });
      return tf.mul(x, this.inverse ? tf.sqrt(norm) : tf.rsqrt(norm));
    });
  }

  protected ownVariables(): Record<string, tf.Variable> {
    return { beta: this.beta, gamma: this.gamma };
  }
}
