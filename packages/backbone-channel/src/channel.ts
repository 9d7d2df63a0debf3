/**
 * Minnen & Singh 2020, "Channel-wise autoregressive entropy models for
 * learned image compression": the latent y is cut into slices along the
 * channels (default 10); each slice's Gaussian mean and scale come from the
 * hyperprior's latent means / scales plus the slices already decoded, and a
 * latent residual prediction (LRP) corrects each decoded slice by
 * 0.5 tanh(lrp(...)) to reduce the quantization error.
 *
 * Transforms: g_a / g_s as CompressAI's mbt2018 (conv 5x5 stride 2 + GDN), a
 * hyper-analysis from y (not |y|) and two hyper-syntheses (means, scales)
 * with the paper's widths (N -> N -> (N + M) / 2 -> M; 192 -> 192 -> 256 -> 320
 * at the defaults). Variable names follow the common CompressAI ports
 * (h_mean_s, h_scale_s, cc_mean_transforms.i, cc_scale_transforms.i,
 * lrp_transforms.i).
 *
 * Coding: sections [z, slice 0, ..., slice S-1]; every network that decides a
 * CDF index or a mean (hyper-syntheses, slice transforms, LRP) runs in
 * fixed-point integers (coding.ts), so streams decode bit-exactly on every
 * backend, and the evaluation forward runs the same walk.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  balleAnalysis,
  balleSynthesisBlocks,
  Conv2d,
  ConvTranspose2d,
  ReLU,
  Sequential,
  fixedPointSpecs,
  quantizeNetwork,
  synthesizeBlocks,
  type BlockHook,
  type LicBackbone,
  type Shape,
  type VariableGroup,
} from '@psic/core';
import { EntropyBottleneck, GaussianConditional, PsicError, roundHalfEven, roundStraightThrough } from '@psic/entropy';
import { channelWalk, LRP_GAIN, type ChannelCodingNets, type ChannelWalkResult, type CodeSlice } from './coding.js';
import { sliceSizes, sliceTransform, supportChannels } from './slices.js';

export const CHANNEL_NAME = 'minnen2020-channel';

/** The container holds at most 64 sections: z plus one per slice. */
export const MAX_SLICES = 63;

export type ChannelConfig = {
  /** channels of the hidden transforms and of z (paper: 192) */
  readonly N: number;
  /** channels of the latent y (paper: 320) */
  readonly M: number;
  /** number of channel slices (paper: 10) */
  readonly slices: number;
  /** how many decoded slices (the first ones) condition a slice (paper: 5) */
  readonly maxSupport: number;
};

export const DEFAULT_CHANNEL_CONFIG: ChannelConfig = { N: 192, M: 320, slices: 10, maxSupport: 5 };

/** How the rate term sees y while training: additive noise (the paper) or straight-through rounding. The decoder always gets STE-rounded slices. */
export type TrainingQuantization = 'noise' | 'ste';

interface Latent {
  yHat: tf.Tensor4D;
  yCoded: tf.Tensor4D;
  scales: tf.Tensor4D;
  means: tf.Tensor4D;
}

export class ChannelContext implements LicBackbone {
  readonly name = CHANNEL_NAME;
  readonly config: ChannelConfig;
  /** channels of each slice, in coding order */
  readonly sliceSizes: readonly number[];
  readonly g_a: Sequential;
  /** g_s split into the blocks an adapter hooks into: (deconv, IGDN) x 3, then the last deconv */
  readonly g_sBlocks: Sequential[];
  readonly h_a: Sequential;
  readonly h_mean_s: Sequential;
  readonly h_scale_s: Sequential;
  readonly meanTransforms: Sequential[];
  readonly scaleTransforms: Sequential[];
  readonly lrpTransforms: Sequential[];
  readonly entropyBottleneck: EntropyBottleneck;
  readonly gaussianConditional: GaussianConditional;
  readonly synthesisBlocks: { channels: number }[];
  trainingQuantization: TrainingQuantization = 'noise';
  private codingNets?: ChannelCodingNets;

  constructor(config: Partial<ChannelConfig> & { N: number; M: number }) {
    const { N, M } = config;
    const slices = config.slices ?? DEFAULT_CHANNEL_CONFIG.slices;
    const maxSupport = config.maxSupport ?? DEFAULT_CHANNEL_CONFIG.maxSupport;
    if (!(Number.isInteger(N) && N > 0 && Number.isInteger(M) && M > 0)) {
      throw new PsicError('BAD_CONFIG', `N and M must be positive integers (got N=${N}, M=${M})`);
    }
    if (!(Number.isInteger(slices) && slices >= 1 && slices <= Math.min(M, MAX_SLICES))) {
      throw new PsicError('BAD_CONFIG', `slices must be an integer in [1, ${Math.min(M, MAX_SLICES)}], got ${slices}`);
    }
    if (!(Number.isInteger(maxSupport) && maxSupport >= 0)) throw new PsicError('BAD_CONFIG', `maxSupport must be a non-negative integer, got ${maxSupport}`);
    this.config = { N, M, slices, maxSupport };
    this.sliceSizes = sliceSizes(M, slices);

    this.g_a = balleAnalysis(N, M);
    ({ blocks: this.g_sBlocks, channels: this.synthesisBlocks } = balleSynthesisBlocks(N, M));
    const hidden = Math.round((N + M) / 2);
    this.h_a = new Sequential('h_a', [
      new Conv2d(M, M, 3, 1),
      new ReLU(),
      new Conv2d(M, hidden, 5, 2),
      new ReLU(),
      new Conv2d(hidden, N, 5, 2),
    ]);
    const hyperSynthesis = (name: string) =>
      new Sequential(name, [
        new ConvTranspose2d(N, N, 5, 2),
        new ReLU(),
        new ConvTranspose2d(N, hidden, 5, 2),
        new ReLU(),
        new Conv2d(hidden, M, 3, 1),
      ]);
    this.h_mean_s = hyperSynthesis('h_mean_s');
    this.h_scale_s = hyperSynthesis('h_scale_s');
    const sizes = this.sliceSizes;
    this.meanTransforms = sizes.map((s, i) => sliceTransform(`cc_mean_transforms.${i}`, M + supportChannels(sizes, i, maxSupport), s, M));
    this.scaleTransforms = sizes.map((s, i) => sliceTransform(`cc_scale_transforms.${i}`, M + supportChannels(sizes, i, maxSupport), s, M));
    this.lrpTransforms = sizes.map((s, i) => sliceTransform(`lrp_transforms.${i}`, M + supportChannels(sizes, i, maxSupport) + s, s, M));
    this.entropyBottleneck = new EntropyBottleneck(N);
    this.gaussianConditional = new GaussianConditional();
  }

  analysis(x: tf.Tensor4D): tf.Tensor4D {
    return this.g_a.apply(x);
  }

  synthesis(yHat: tf.Tensor4D, hook?: BlockHook): tf.Tensor4D {
    return synthesizeBlocks(this.g_sBlocks, yHat, hook);
  }

  forward(x: tf.Tensor4D, opts: { training: boolean; hook?: BlockHook }): { xHat: tf.Tensor4D; likelihoods: tf.Tensor[] } {
    return tf.tidy(() => {
      const y = this.analysis(x);
      const z = this.h_a.apply(y);
      const { xHat: zHat, likelihoods: zLikelihoods } = this.entropyBottleneck.forward(z, opts.training);
      const { yHat, yCoded, scales, means } = opts.training ? this.trainingLatent(y, zHat) : this.codedLatent(y, zHat);
      const yLikelihoods = this.gaussianConditional.likelihood(yCoded, scales, means);
      const xHat = this.synthesis(yHat, opts.hook);
      return { xHat, likelihoods: [yLikelihoods, zLikelihoods] };
    });
  }

  /** Training: the slice loop in float, differentiable; the decoder path rounds straight-through, as the paper's reference does. */
  private trainingLatent(y: tf.Tensor4D, zHat: tf.Tensor4D): Latent {
    const latentMeans = this.h_mean_s.apply(zHat);
    const latentScales = this.h_scale_s.apply(zHat);
    const ySlices = tf.split(y, [...this.sliceSizes], 3) as tf.Tensor4D[];
    const parts: { yHat: tf.Tensor4D[]; yCoded: tf.Tensor4D[]; scales: tf.Tensor4D[]; means: tf.Tensor4D[] } = { yHat: [], yCoded: [], scales: [], means: [] };
    ySlices.forEach((ySlice, i) => {
      const support = parts.yHat.slice(0, this.config.maxSupport);
      const mean = this.meanTransforms[i].apply(tf.concat([latentMeans, ...support], 3));
      const scale = this.scaleTransforms[i].apply(tf.concat([latentScales, ...support], 3));
      parts.yCoded.push(this.gaussianConditional.quantize(ySlice, this.trainingQuantization, mean) as tf.Tensor4D);
      const rounded = tf.add(roundStraightThrough(tf.sub(ySlice, mean)), mean) as tf.Tensor4D;
      const residual = this.lrpTransforms[i].apply(tf.concat([latentMeans, ...support, rounded], 3));
      parts.yHat.push(tf.add(rounded, tf.mul(LRP_GAIN, tf.tanh(residual))));
      parts.scales.push(scale);
      parts.means.push(mean);
    });
    const cat = (ts: tf.Tensor4D[]) => tf.concat(ts, 3);
    return { yHat: cat(parts.yHat), yCoded: cat(parts.yCoded), scales: cat(parts.scales), means: cat(parts.means) };
  }

  /** Evaluation: the coder's own fixed-point walk, image by image, from freshly quantized weights (no gradient). */
  private codedLatent(y: tf.Tensor4D, zHat: tf.Tensor4D): Latent {
    const nets = this.buildCodingNets();
    const [n, h, w, M] = y.shape;
    const [, zh, zw, zc] = zHat.shape;
    const yData = y.dataSync() as Float32Array;
    const zData = zHat.dataSync() as Float32Array;
    const per = h * w * M;
    const out = { yHat: new Float32Array(n * per), yCoded: new Float32Array(n * per), scales: new Float32Array(n * per), means: new Float32Array(n * per) };
    for (let b = 0; b < n; b++) {
      const coder = roundingCoder(yData.subarray(b * per, (b + 1) * per), this.sliceSizes, () => {});
      const walk = this.walk(nets, zData.subarray(b * zh * zw * zc, (b + 1) * zh * zw * zc), { h: zh, w: zw, c: zc }, coder);
      checkWalkShape(walk, h, w);
      for (const key of ['yHat', 'yCoded', 'scales', 'means'] as const) out[key].set(walk[key], b * per);
    }
    const shape: [number, number, number, number] = [n, h, w, M];
    return { yHat: tf.tensor4d(out.yHat, shape), yCoded: tf.tensor4d(out.yCoded, shape), scales: tf.tensor4d(out.scales, shape), means: tf.tensor4d(out.means, shape) };
  }

  private walk(nets: ChannelCodingNets, zHat: Float32Array, zShape: { h: number; w: number; c: number }, code: CodeSlice): ChannelWalkResult {
    return channelWalk(nets, this.gaussianConditional, zHat, zShape, this.sliceSizes, this.config.maxSupport, code);
  }

  private buildCodingNets(): ChannelCodingNets {
    const fixed = (net: Sequential) => quantizeNetwork(fixedPointSpecs(net));
    return {
      hyperMeans: fixed(this.h_mean_s),
      hyperScales: fixed(this.h_scale_s),
      means: this.meanTransforms.map(fixed),
      scales: this.scaleTransforms.map(fixed),
      lrp: this.lrpTransforms.map(fixed),
    };
  }

  /**
   * Build what coding needs from the current weights: the bottleneck's CDF
   * tables and the fixed-point hyper-syntheses, slice transforms and LRP.
   * Deterministic integer math over the float32 weights. Call again after the
   * weights change (training).
   */
  updateCoding(): void {
    this.entropyBottleneck.update();
    this.codingNets = this.buildCodingNets();
  }

  private codingReady(): ChannelCodingNets {
    if (!this.codingNets) this.updateCoding();
    return this.codingNets!;
  }

  /** Sections: [z, slice 0, ..., slice S-1]. `x` is one padded image, NHWC in [0, 1]. */
  async compress(x: tf.Tensor4D): Promise<Uint8Array[]> {
    const nets = this.codingReady();
    if (x.shape[0] !== 1) throw new PsicError('BAD_INPUT', 'compress codes one image at a time');
    const y = this.analysis(x);
    const z = tf.tidy(() => this.h_a.apply(y));
    try {
      const zStream = this.entropyBottleneck.compress(z);
      const zHat = this.entropyBottleneck.decompress(zStream, z.shape as [number, number, number, number]);
      const [, zh, zw, zc] = zHat.shape;
      const zData = zHat.dataSync() as Float32Array;
      zHat.dispose();
      const streams: Uint8Array[] = [];
      const coder = roundingCoder(y.dataSync() as Float32Array, this.sliceSizes, (symbols, indexes) => streams.push(this.gaussianConditional.compress(symbols, indexes)));
      checkWalkShape(this.walk(nets, zData, { h: zh, w: zw, c: zc }, coder), y.shape[1], y.shape[2]);
      return [zStream, ...streams];
    } finally {
      tf.dispose([y, z]);
    }
  }

  /** Sections from `compress` -> y-hat for a padded image of `shape`. */
  async decompress(sections: Uint8Array[], shape: Shape): Promise<tf.Tensor4D> {
    const nets = this.codingReady();
    const expected = 1 + this.config.slices;
    if (sections.length !== expected) throw new PsicError('CORRUPT_STREAM', `a ${this.name} stream with ${this.config.slices} slices has ${expected} sections, this one has ${sections.length}`);
    const zh = shape.height / 64;
    const zw = shape.width / 64;
    if (!(Number.isInteger(zh) && Number.isInteger(zw) && zh > 0 && zw > 0)) {
      throw new PsicError('BAD_INPUT', `padded size ${shape.height}x${shape.width} is not a positive multiple of 64`);
    }
    const N = this.config.N;
    const zHat = this.entropyBottleneck.decompress(sections[0], [1, zh, zw, N]);
    const zData = zHat.dataSync() as Float32Array;
    zHat.dispose();
    const walk = this.walk(nets, zData, { h: zh, w: zw, c: N }, (slice, indexes) => this.gaussianConditional.decompress(sections[1 + slice], indexes));
    return tf.tensor4d(walk.yHat, [1, walk.h, walk.w, this.config.M]);
  }

  private entropyModules(): Sequential[] {
    return [this.h_mean_s, this.h_scale_s, ...this.meanTransforms, ...this.scaleTransforms, ...this.lrpTransforms];
  }

  namedVariables(): Record<string, tf.Variable> {
    return {
      ...this.g_a.namedVariables(),
      ...Object.assign({}, ...this.g_sBlocks.map((b) => b.namedVariables())),
      ...this.h_a.namedVariables(),
      ...Object.assign({}, ...this.entropyModules().map((m) => m.namedVariables())),
      ...prefixed('entropy_bottleneck', this.entropyBottleneck.namedVariables()),
    };
  }

  /** Trainable variables of a group; the bottleneck's quantiles are left to the auxiliary optimizer. LRP is 'entropy': it decides later slices' means. */
  variables(group?: VariableGroup): tf.Variable[] {
    const byGroup: Record<VariableGroup, tf.Variable[]> = {
      encoder: [...Object.values(this.g_a.namedVariables()), ...Object.values(this.h_a.namedVariables())],
      entropy: [...this.entropyModules().flatMap((m) => Object.values(m.namedVariables())), ...this.entropyBottleneck.variables('main')],
      decoder: this.g_sBlocks.flatMap((b) => Object.values(b.namedVariables())),
    };
    return group ? byGroup[group] : [...byGroup.encoder, ...byGroup.entropy, ...byGroup.decoder];
  }

  auxVariables(): tf.Variable[] {
    return this.entropyBottleneck.variables('aux');
  }

  auxLoss(): tf.Scalar {
    return this.entropyBottleneck.lossAux();
  }

  dispose(): void {
    for (const v of Object.values(this.namedVariables())) v.dispose();
  }
}

/**
 * The encoder's side of a slice: symbol = round-half-even(y - mean) over the
 * slice's channels (y is one image, HWC); `emit` receives the slice's symbols
 * and indexes (to be entropy coded).
 */
function roundingCoder(y: Float32Array, sizes: readonly number[], emit: (symbols: Int32Array, indexes: Int32Array) => void): CodeSlice {
  const M = sizes.reduce((a, b) => a + b, 0);
  const offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
  return (slice, indexes, means, bits) => {
    const one = 2 ** bits;
    const size = sizes[slice];
    const pixels = y.length / M;
    const symbols = new Int32Array(pixels * size);
    for (let p = 0; p < pixels; p++) {
      for (let ch = 0; ch < size; ch++) symbols[p * size + ch] = roundHalfEven(y[p * M + offsets[slice] + ch] - means[p * size + ch] / one);
    }
    emit(symbols, indexes);
    return symbols;
  };
}

function checkWalkShape(walk: ChannelWalkResult, h: number, w: number): void {
  if (walk.h !== h || walk.w !== w) throw new Error(`the hyper-synthesis gave ${walk.h}x${walk.w} for a latent of ${h}x${w}`);
}

function prefixed(prefix: string, vars: Record<string, tf.Variable>): Record<string, tf.Variable> {
  return Object.fromEntries(Object.entries(vars).map(([k, v]) => [`${prefix}.${k}`, v]));
}
