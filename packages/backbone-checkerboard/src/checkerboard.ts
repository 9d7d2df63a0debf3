/**
 * He et al. 2021, "Checkerboard context model for efficient learned image
 * compression", on the transforms of Minnen et al. 2018 (CompressAI's
 * mbt2018 / JointAutoregressiveHierarchicalPriors, same layer names): the
 * mean-scale hyperprior, plus a checkerboard context (a masked 5x5 conv over
 * the anchors' y-hat) and an entropy-parameters network of 1x1 convs that
 * turns (hyper, context) into Gaussian scales and means.
 *
 * Coding is two passes, each parallel over its half of the latent: anchors
 * from the hyperprior alone, then non-anchors with the context of the decoded
 * anchors. h_s, the context conv and the entropy parameters all run in
 * fixed-point integers when coding (coding.ts), so streams decode bit-exactly
 * on every backend; the evaluation forward runs the very same walk, so its
 * y-hat is exactly the decoded one.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  balleAnalysis,
  balleSynthesisBlocks,
  Conv2d,
  ConvTranspose2d,
  LeakyReLU,
  Sequential,
  convSpec,
  fixedPointSpecs,
  quantizeNetwork,
  synthesizeBlocks,
  type BlockHook,
  type LicBackbone,
  type Shape,
  type VariableGroup,
} from '@psic/core';
import { EntropyBottleneck, GaussianConditional, PsicError, roundHalfEven } from '@psic/entropy';
import { checkerboardWalk, type CheckerboardCodingNets, type CodePass, type WalkResult } from './coding.js';
import { anchorMask, CheckerboardMaskedConv2d } from './context.js';

export const CHECKERBOARD_NAME = 'he2021-checkerboard';

export type CheckerboardConfig = {
  /** channels of the hidden transforms (CompressAI mbt2018: 192) */
  readonly N: number;
  /** channels of the latent y (CompressAI mbt2018: 192) */
  readonly M: number;
};

/** How `forward` turns y into y-hat while training: additive noise (CompressAI's default) or straight-through rounding around the means. */
export type TrainingQuantization = 'noise' | 'ste';

export class Checkerboard implements LicBackbone {
  readonly name = CHECKERBOARD_NAME;
  readonly config: CheckerboardConfig;
  readonly g_a: Sequential;
  /** g_s split into the blocks an adapter hooks into: (deconv, IGDN) x 3, then the last deconv */
  readonly g_sBlocks: Sequential[];
  readonly h_a: Sequential;
  readonly h_s: Sequential;
  readonly contextPrediction: CheckerboardMaskedConv2d;
  readonly entropyParameters: Sequential;
  readonly entropyBottleneck: EntropyBottleneck;
  readonly gaussianConditional: GaussianConditional;
  readonly synthesisBlocks: { channels: number }[];
  trainingQuantization: TrainingQuantization = 'noise';
  private codingNets?: CheckerboardCodingNets;

  constructor(config: { N: number; M: number }) {
    const { N, M } = config;
    if (!(Number.isInteger(N) && N > 0 && Number.isInteger(M) && M > 1)) {
      throw new PsicError('BAD_CONFIG', `N must be a positive integer and M an integer >= 2 (got N=${N}, M=${M})`);
    }
    this.config = { N, M };
    this.g_a = balleAnalysis(N, M);
    ({ blocks: this.g_sBlocks, channels: this.synthesisBlocks } = balleSynthesisBlocks(N, M));
    this.h_a = new Sequential('h_a', [
      new Conv2d(M, N, 3, 1),
      new LeakyReLU(),
      new Conv2d(N, N, 5, 2),
      new LeakyReLU(),
      new Conv2d(N, N, 5, 2),
    ]);
    const wide = Math.floor((M * 3) / 2);
    this.h_s = new Sequential('h_s', [
      new ConvTranspose2d(N, M, 5, 2),
      new LeakyReLU(),
      new ConvTranspose2d(M, wide, 5, 2),
      new LeakyReLU(),
      new Conv2d(wide, 2 * M, 3, 1),
    ]);
    this.contextPrediction = new CheckerboardMaskedConv2d(M, 2 * M, 5, { name: 'context_prediction' });
    this.entropyParameters = new Sequential('entropy_parameters', [
      new Conv2d(4 * M, Math.floor((M * 10) / 3), 1),
      new LeakyReLU(),
      new Conv2d(Math.floor((M * 10) / 3), Math.floor((M * 8) / 3), 1),
      new LeakyReLU(),
      new Conv2d(Math.floor((M * 8) / 3), 2 * M, 1),
    ]);
    this.entropyBottleneck = new EntropyBottleneck(N);
    this.gaussianConditional = new GaussianConditional();
  }

  analysis(x: tf.Tensor4D): tf.Tensor4D {
    return this.g_a.apply(x);
  }

  synthesis(yHat: tf.Tensor4D, hook?: BlockHook): tf.Tensor4D {
    return synthesizeBlocks(this.g_sBlocks, yHat, hook);
  }

  /** Float entropy parameters for y: (scales, means) from the hyper output and a context (training path). */
  private gaussianParams(hyper: tf.Tensor4D, context: tf.Tensor4D): [tf.Tensor4D, tf.Tensor4D] {
    return tf.split(this.entropyParameters.apply(tf.concat([hyper, context], 3)), 2, 3) as [tf.Tensor4D, tf.Tensor4D];
  }

  forward(x: tf.Tensor4D, opts: { training: boolean; hook?: BlockHook }): { xHat: tf.Tensor4D; likelihoods: tf.Tensor[] } {
    return tf.tidy(() => {
      const y = this.analysis(x);
      const z = this.h_a.apply(y);
      const { xHat: zHat, likelihoods: zLikelihoods } = this.entropyBottleneck.forward(z, opts.training);
      const { yHat, scales, means } = opts.training ? this.trainingLatent(y, zHat) : this.codedLatent(y, zHat);
      const yLikelihoods = this.gaussianConditional.likelihood(yHat, scales, means);
      const xHat = this.synthesis(yHat, opts.hook);
      return { xHat, likelihoods: [yLikelihoods, zLikelihoods] };
    });
  }

  /**
   * Training: the two passes in float, differentiable. Anchors' parameters
   * see a zero context; non-anchors' see the masked conv of the anchors' y-hat
   * (zeroed at the anchors, as in the reference implementation).
   */
  private trainingLatent(y: tf.Tensor4D, zHat: tf.Tensor4D): { yHat: tf.Tensor4D; scales: tf.Tensor4D; means: tf.Tensor4D } {
    const [, h, w] = y.shape;
    const hyper = this.h_s.apply(zHat);
    const anchors = anchorMask(h, w);
    const nonAnchors = tf.sub(1, anchors);
    const mode = this.trainingQuantization;
    const [scalesA, meansA] = this.gaussianParams(hyper, tf.zerosLike(hyper));
    const yHatA = this.gaussianConditional.quantize(y, mode, meansA) as tf.Tensor4D;
    const context = tf.mul(this.contextPrediction.apply(tf.mul(yHatA, anchors) as tf.Tensor4D), nonAnchors) as tf.Tensor4D;
    const [scalesN, meansN] = this.gaussianParams(hyper, context);
    const yHatN = this.gaussianConditional.quantize(y, mode, meansN) as tf.Tensor4D;
    const pick = (a: tf.Tensor4D, n: tf.Tensor4D) => tf.add(tf.mul(a, anchors), tf.mul(n, nonAnchors)) as tf.Tensor4D;
    return { yHat: pick(yHatA, yHatN), scales: pick(scalesA, scalesN), means: pick(meansA, meansN) };
  }

  /** Evaluation: the coder's own fixed-point walk, image by image, from freshly quantized weights (no gradient). */
  private codedLatent(y: tf.Tensor4D, zHat: tf.Tensor4D): { yHat: tf.Tensor4D; scales: tf.Tensor4D; means: tf.Tensor4D } {
    const nets = this.buildCodingNets();
    const [n, h, w, M] = y.shape;
    const [, zh, zw, zc] = zHat.shape;
    const yData = y.dataSync() as Float32Array;
    const zData = zHat.dataSync() as Float32Array;
    const per = h * w * M;
    const out = { yHat: new Float32Array(n * per), scales: new Float32Array(n * per), means: new Float32Array(n * per) };
    for (let b = 0; b < n; b++) {
      const yImage = yData.subarray(b * per, (b + 1) * per);
      const walk = checkerboardWalk(nets, this.gaussianConditional, zData.subarray(b * zh * zw * zc, (b + 1) * zh * zw * zc), { h: zh, w: zw, c: zc }, M, roundingCoder(yImage, M, () => {}));
      checkWalkShape(walk, h, w);
      out.yHat.set(walk.yHat, b * per);
      out.scales.set(walk.scales, b * per);
      out.means.set(walk.means, b * per);
    }
    const shape: [number, number, number, number] = [n, h, w, M];
    return { yHat: tf.tensor4d(out.yHat, shape), scales: tf.tensor4d(out.scales, shape), means: tf.tensor4d(out.means, shape) };
  }

  private buildCodingNets(): CheckerboardCodingNets {
    return {
      hyper: quantizeNetwork(fixedPointSpecs(this.h_s)),
      context: quantizeNetwork([convSpec(this.contextPrediction, this.contextPrediction.maskedWeight())]),
      parameters: quantizeNetwork(fixedPointSpecs(this.entropyParameters)),
    };
  }

  /**
   * Build what coding needs from the current weights: the bottleneck's CDF
   * tables and the fixed-point h_s, context and entropy parameters.
   * Deterministic integer math over the float32 weights, so every machine
   * derives the same. Call again after the weights change (training).
   */
  updateCoding(): void {
    this.entropyBottleneck.update();
    this.codingNets = this.buildCodingNets();
  }

  private codingReady(): CheckerboardCodingNets {
    if (!this.codingNets) this.updateCoding();
    return this.codingNets!;
  }

  /** Sections: [z, anchors, non-anchors]. `x` is one padded image, NHWC in [0, 1]. */
  async compress(x: tf.Tensor4D): Promise<Uint8Array[]> {
    const nets = this.codingReady();
    if (x.shape[0] !== 1) throw new PsicError('BAD_INPUT', 'compress codes one image at a time');
    const y = this.analysis(x);
    const z = tf.tidy(() => this.h_a.apply(y));
    try {
      const zStream = this.entropyBottleneck.compress(z);
      const zHat = this.entropyBottleneck.decompress(zStream, z.shape as [number, number, number, number]);
      const [, zh, zw, zc] = zHat.shape;
      const M = this.config.M;
      const streams: Uint8Array[] = [];
      const coder = roundingCoder(y.dataSync() as Float32Array, M, (symbols, indexes) => streams.push(this.gaussianConditional.compress(symbols, indexes)));
      const walk = checkerboardWalk(nets, this.gaussianConditional, zHat.dataSync() as Float32Array, { h: zh, w: zw, c: zc }, M, coder);
      zHat.dispose();
      checkWalkShape(walk, y.shape[1], y.shape[2]);
      return [zStream, ...streams];
    } finally {
      tf.dispose([y, z]);
    }
  }

  /** Sections from `compress` -> y-hat for a padded image of `shape`. */
  async decompress(sections: Uint8Array[], shape: Shape): Promise<tf.Tensor4D> {
    const nets = this.codingReady();
    if (sections.length !== 3) throw new PsicError('CORRUPT_STREAM', `a ${this.name} stream has 3 sections, this one has ${sections.length}`);
    const zh = shape.height / 64;
    const zw = shape.width / 64;
    if (!(Number.isInteger(zh) && Number.isInteger(zw) && zh > 0 && zw > 0)) {
      throw new PsicError('BAD_INPUT', `padded size ${shape.height}x${shape.width} is not a positive multiple of 64`);
    }
    const N = this.config.N;
    const M = this.config.M;
    const zHat = this.entropyBottleneck.decompress(sections[0], [1, zh, zw, N]);
    const zData = zHat.dataSync() as Float32Array;
    zHat.dispose();
    const code: CodePass = (pass, _pixels, indexes) => this.gaussianConditional.decompress(sections[1 + pass], indexes);
    const walk = checkerboardWalk(nets, this.gaussianConditional, zData, { h: zh, w: zw, c: N }, M, code);
    return tf.tensor4d(walk.yHat, [1, walk.h, walk.w, M]);
  }

  namedVariables(): Record<string, tf.Variable> {
    return {
      ...this.g_a.namedVariables(),
      ...Object.assign({}, ...this.g_sBlocks.map((b) => b.namedVariables())),
      ...this.h_a.namedVariables(),
      ...this.h_s.namedVariables(),
      ...this.contextPrediction.namedVariables(),
      ...this.entropyParameters.namedVariables(),
      ...prefixed('entropy_bottleneck', this.entropyBottleneck.namedVariables()),
    };
  }

  /** Trainable variables of a group; the bottleneck's quantiles are left to the auxiliary optimizer. */
  variables(group?: VariableGroup): tf.Variable[] {
    const byGroup: Record<VariableGroup, tf.Variable[]> = {
      encoder: [...Object.values(this.g_a.namedVariables()), ...Object.values(this.h_a.namedVariables())],
      entropy: [
        ...Object.values(this.h_s.namedVariables()),
        ...Object.values(this.contextPrediction.namedVariables()),
        ...Object.values(this.entropyParameters.namedVariables()),
        ...this.entropyBottleneck.variables('main'),
      ],
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
    this.contextPrediction.dispose();
  }
}

/**
 * The encoder's side of a pass: symbol = round-half-even(y - mean) for each
 * pixel of the pass (y is one image, HWC); `emit` receives the pass's symbols
 * and indexes (to be entropy coded).
 */
function roundingCoder(y: Float32Array, M: number, emit: (symbols: Int32Array, indexes: Int32Array) => void): CodePass {
  return (_pass, pixels, indexes, means, bits) => {
    const one = 2 ** bits;
    const symbols = new Int32Array(pixels.length * M);
    pixels.forEach((p, i) => {
      for (let ch = 0; ch < M; ch++) symbols[i * M + ch] = roundHalfEven(y[p * M + ch] - means[i * M + ch] / one);
    });
    emit(symbols, indexes);
    return symbols;
  };
}

function checkWalkShape(walk: WalkResult, h: number, w: number): void {
  if (walk.h !== h || walk.w !== w) throw new Error(`h_s gave ${walk.h}x${walk.w} for a latent of ${h}x${w}`);
}

function prefixed(prefix: string, vars: Record<string, tf.Variable>): Record<string, tf.Variable> {
  return Object.fromEntries(Object.entries(vars).map(([k, v]) => [`${prefix}.${k}`, v]));
}
