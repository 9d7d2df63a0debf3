/**
 * Ballé et al. 2018 scale hyperprior ("bmshj2018-hyperprior") and the Minnen
 * et al. 2018 mean-scale variant ("mbt2018-mean"), laid out exactly as
 * CompressAI builds them (same layers, same parameter names) so CompressAI
 * checkpoints map onto these classes one to one.
 *
 * Coding path: z is coded with the factorized EntropyBottleneck; the
 * hyper-synthesis h_s that turns z-hat into Gaussian scales (and means) runs
 * in fixed-point integer arithmetic when coding, so the CDF indexes, and with
 * them the rANS stream, decode identically on every machine and backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  balleAnalysis,
  balleSynthesisBlocks,
  Conv2d,
  ConvTranspose2d,
  LeakyReLU,
  ReLU,
  Sequential,
  fixedToFloat,
  quantizeNetwork,
  runFixedPoint,
  synthesizeBlocks,
  type BlockHook,
  type FixedLayerSpec,
  type FixedPointNetwork,
  type LicBackbone,
  type Module,
  type Shape,
  type VariableGroup,
} from '@psic/core';
import { EntropyBottleneck, GaussianConditional, PsicError, roundHalfEven, type CdfTableSet } from '@psic/entropy';

export type HyperpriorArchitecture = 'bmshj2018-hyperprior' | 'mbt2018-mean';

export type HyperpriorConfig = {
  /** channels of the hidden transforms */
  readonly N: number;
  /** channels of the latent y */
  readonly M: number;
  readonly architecture: HyperpriorArchitecture;
};

/** How `forward` turns y into y-hat while training (CompressAI's default is noise). */
export type TrainingQuantization = 'noise' | 'ste';

export class Hyperprior implements LicBackbone {
  readonly name: HyperpriorArchitecture;
  readonly config: HyperpriorConfig;
  readonly g_a: Sequential;
  /** g_s split into the blocks a conditional adapter hooks into: (deconv, IGDN) x 3, then the last deconv */
  readonly g_sBlocks: Sequential[];
  readonly h_a: Sequential;
  readonly h_s: Sequential;
  readonly entropyBottleneck: EntropyBottleneck;
  readonly gaussianConditional: GaussianConditional;
  readonly synthesisBlocks: { channels: number }[];
  trainingQuantization: TrainingQuantization = 'noise';
  private fixedHyperSynthesis?: FixedPointNetwork;

  constructor(config: HyperpriorConfig) {
    const { N, M, architecture } = config;
    if (!(Number.isInteger(N) && N > 0 && Number.isInteger(M) && M > 0)) {
      throw new PsicError('BAD_CONFIG', `N and M must be positive integers (got N=${N}, M=${M})`);
    }
    this.name = architecture;
    this.config = { N, M, architecture };
    const meanScale = architecture === 'mbt2018-mean';

    this.g_a = balleAnalysis(N, M);
    ({ blocks: this.g_sBlocks, channels: this.synthesisBlocks } = balleSynthesisBlocks(N, M));

    if (meanScale) {
      this.h_a = new Sequential('h_a', [
        new Conv2d(M, N, 3, 1),
        new LeakyReLU(),
        new Conv2d(N, N, 5, 2),
        new LeakyReLU(),
        new Conv2d(N, N, 5, 2),
      ]);
      this.h_s = new Sequential('h_s', [
        new ConvTranspose2d(N, M, 5, 2),
        new LeakyReLU(),
        new ConvTranspose2d(M, (M * 3) / 2, 5, 2),
        new LeakyReLU(),
        new Conv2d((M * 3) / 2, M * 2, 3, 1),
      ]);
    } else {
      this.h_a = new Sequential('h_a', [
        new Conv2d(M, N, 3, 1),
        new ReLU(),
        new Conv2d(N, N, 5, 2),
        new ReLU(),
        new Conv2d(N, N, 5, 2),
      ]);
      this.h_s = new Sequential('h_s', [
        new ConvTranspose2d(N, N, 5, 2),
        new ReLU(),
        new ConvTranspose2d(N, N, 5, 2),
        new ReLU(),
        new Conv2d(N, M, 3, 1),
        new ReLU(),
      ]);
    }
    this.entropyBottleneck = new EntropyBottleneck(N);
    this.gaussianConditional = new GaussianConditional();
  }

  get meanScale(): boolean {
    return this.name === 'mbt2018-mean';
  }

  analysis(x: tf.Tensor4D): tf.Tensor4D {
    return this.g_a.apply(x);
  }

  synthesis(yHat: tf.Tensor4D, hook?: BlockHook): tf.Tensor4D {
    return synthesizeBlocks(this.g_sBlocks, yHat, hook);
  }

  /** h_a input: the scale hyperprior looks at |y|, the mean-scale one at y itself. */
  private hyperAnalysis(y: tf.Tensor4D): tf.Tensor4D {
    return this.h_a.apply(this.meanScale ? y : tf.abs(y));
  }

  /** Float hyper-synthesis (training): Gaussian scales, and means for the mean-scale model. */
  private gaussianParams(zHat: tf.Tensor4D): { scales: tf.Tensor4D; means?: tf.Tensor4D } {
    const out = this.h_s.apply(zHat);
    if (!this.meanScale) return { scales: out };
    const [scales, means] = tf.split(out, 2, 3) as tf.Tensor4D[];
    return { scales, means };
  }

  forward(x: tf.Tensor4D, opts: { training: boolean; hook?: BlockHook }): { xHat: tf.Tensor4D; likelihoods: tf.Tensor[] } {
    return tf.tidy(() => {
      const y = this.analysis(x);
      const z = this.hyperAnalysis(y);
      const { xHat: zHat, likelihoods: zLikelihoods } = this.entropyBottleneck.forward(z, opts.training);
      // Evaluation takes the coder's own (fixed-point) scales and means, so its y-hat is exactly the decoded one.
      const { scales, means } = opts.training ? this.gaussianParams(zHat) : this.fixedPointGaussianParams(zHat);
      const mode = opts.training ? this.trainingQuantization : 'dequantize';
      const yHat = this.gaussianConditional.quantize(y, mode, means) as tf.Tensor4D;
      const yLikelihoods = this.gaussianConditional.likelihood(yHat, scales, means);
      const xHat = this.synthesis(yHat, opts.hook);
      return { xHat, likelihoods: [yLikelihoods, zLikelihoods] };
    });
  }

  /** Scales (and means) as the coder computes them, from freshly quantized h_s weights; no gradient. */
  private fixedPointGaussianParams(zHat: tf.Tensor4D): { scales: tf.Tensor4D; means?: tf.Tensor4D } {
    const net = quantizeNetwork(fixedPointSpecs(this.h_s));
    const [n, h, w, c] = zHat.shape;
    const z = zHat.dataSync() as Float32Array;
    const outs = Array.from({ length: n }, (_, b) => runFixedPoint(net, z.subarray(b * h * w * c, (b + 1) * h * w * c), h, w, c));
    const { h: oh, w: ow, c: oc } = outs[0];
    const values = new Float32Array(n * oh * ow * oc);
    outs.forEach((o, b) => values.set(fixedToFloat(o.data, net.activationBits), b * oh * ow * oc));
    const params = tf.tensor4d(values, [n, oh, ow, oc]);
    if (!this.meanScale) return { scales: params };
    const [scales, means] = tf.split(params, 2, 3) as tf.Tensor4D[];
    return { scales, means };
  }

  /**
   * Build what coding needs from the current weights: the bottleneck's CDF
   * tables and the fixed-point hyper-synthesis. Deterministic pure-JS math
   * over the float32 weights, so every machine derives the same integers.
   * Call again after the weights change (training).
   */
  updateCoding(): void {
    this.entropyBottleneck.update();
    this.fixedHyperSynthesis = quantizeNetwork(fixedPointSpecs(this.h_s));
  }

  /**
   * Code with given CDF tables (e.g. the ones a CompressAI checkpoint stores)
   * instead of rebuilding them from the weights; an explicit updateCoding()
   * (after the weights change) rebuilds the bottleneck's again.
   */
  installCodingTables(tables: { entropyBottleneck: CdfTableSet; gaussianConditional: CdfTableSet }): void {
    this.entropyBottleneck.setTables(tables.entropyBottleneck);
    this.gaussianConditional.setTables(tables.gaussianConditional);
    this.fixedHyperSynthesis = quantizeNetwork(fixedPointSpecs(this.h_s));
  }

  private codingReady(): FixedPointNetwork {
    if (!this.fixedHyperSynthesis) this.updateCoding();
    return this.fixedHyperSynthesis!;
  }

  /** z-hat -> (CDF indexes, means) in integer arithmetic; identical on every backend. */
  private entropyParameters(zHat: tf.Tensor4D): { indexes: Int32Array; means?: Float32Array; shape: [number, number, number, number] } {
    const net = this.codingReady();
    const [n, h, w, c] = zHat.shape;
    if (n !== 1) throw new PsicError('BAD_INPUT', 'compress/decompress code one image at a time');
    const out = runFixedPoint(net, zHat.dataSync() as Float32Array, h, w, c);
    const values = fixedToFloat(out.data, net.activationBits);
    const M = this.config.M;
    const shape: [number, number, number, number] = [1, out.h, out.w, M];
    if (!this.meanScale) return { indexes: this.gaussianConditional.buildIndexes(values), shape };
    const pixels = out.h * out.w;
    const scales = new Float32Array(pixels * M);
    const means = new Float32Array(pixels * M);
    for (let p = 0; p < pixels; p++) {
      scales.set(values.subarray(p * 2 * M, p * 2 * M + M), p * M);
      means.set(values.subarray(p * 2 * M + M, (p + 1) * 2 * M), p * M);
    }
    return { indexes: this.gaussianConditional.buildIndexes(scales), means, shape };
  }

  /** Sections: [z stream, y stream]. `x` is one padded image, NHWC in [0, 1]. */
  async compress(x: tf.Tensor4D): Promise<Uint8Array[]> {
    this.codingReady();
    const y = this.analysis(x);
    const z = tf.tidy(() => this.hyperAnalysis(y));
    const zStream = this.entropyBottleneck.compress(z);
    const zHat = this.entropyBottleneck.decompress(zStream, z.shape as [number, number, number, number]);
    const { indexes, means, shape } = this.entropyParameters(zHat);
    const yValues = y.dataSync() as Float32Array;
    if (yValues.length !== indexes.length) throw new Error(`hyper-synthesis gave ${shape} for y of ${y.shape}`);
    const symbols = new Int32Array(yValues.length);
    for (let i = 0; i < symbols.length; i++) symbols[i] = roundHalfEven(yValues[i] - (means ? means[i] : 0));
    const yStream = this.gaussianConditional.compress(symbols, indexes);
    tf.dispose([y, z, zHat]);
    return [zStream, yStream];
  }

  /** Sections from `compress` -> y-hat for a padded image of `shape`. */
  async decompress(sections: Uint8Array[], shape: Shape): Promise<tf.Tensor4D> {
    this.codingReady();
    if (sections.length !== 2) throw new PsicError('CORRUPT_STREAM', `a ${this.name} stream has 2 sections, this one has ${sections.length}`);
    const zShape: [number, number, number, number] = [1, shape.height / 64, shape.width / 64, this.config.N];
    if (!Number.isInteger(zShape[1]) || !Number.isInteger(zShape[2])) {
      throw new PsicError('BAD_INPUT', `padded size ${shape.height}x${shape.width} is not a multiple of 64`);
    }
    const zHat = this.entropyBottleneck.decompress(sections[0], zShape);
    const { indexes, means, shape: yShape } = this.entropyParameters(zHat);
    zHat.dispose();
    const symbols = this.gaussianConditional.decompress(sections[1], indexes);
    const yHat = new Float32Array(symbols.length);
    for (let i = 0; i < yHat.length; i++) yHat[i] = symbols[i] + (means ? means[i] : 0);
    return tf.tensor4d(yHat, yShape);
  }

  namedVariables(): Record<string, tf.Variable> {
    return {
      ...this.g_a.namedVariables(),
      ...Object.assign({}, ...this.g_sBlocks.map((b) => b.namedVariables())),
      ...this.h_a.namedVariables(),
      ...this.h_s.namedVariables(),
      ...prefixed('entropy_bottleneck', this.entropyBottleneck.namedVariables()),
    };
  }

  /** Trainable variables of a group; the bottleneck's quantiles are left to the auxiliary optimizer. */
  variables(group?: VariableGroup): tf.Variable[] {
    const eb = this.entropyBottleneck.variables('main');
    const byGroup: Record<VariableGroup, tf.Variable[]> = {
      encoder: [...Object.values(this.g_a.namedVariables()), ...Object.values(this.h_a.namedVariables())],
      entropy: [...Object.values(this.h_s.namedVariables()), ...eb],
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

function prefixed(prefix: string, vars: Record<string, tf.Variable>): Record<string, tf.Variable> {
  return Object.fromEntries(Object.entries(vars).map(([k, v]) => [`${prefix}.${k}`, v]));
}

/** The float h_s as a list of fixed-point layer specs (conv/deconv + following activation). */
function fixedPointSpecs(net: Sequential): FixedLayerSpec[] {
  const specs: FixedLayerSpec[] = [];
  for (const layer of net.layers as Module[]) {
    if (layer instanceof Conv2d || layer instanceof ConvTranspose2d) {
      specs.push({
        kind: layer instanceof Conv2d ? 'conv' : 'deconv',
        weight: layer.weight.dataSync() as Float32Array,
        bias: layer.bias.dataSync() as Float32Array,
        kernel: layer.kernel,
        stride: layer.stride,
        cin: layer.cin,
        cout: layer.cout,
        activation: 'none',
      });
    } else if (layer instanceof ReLU || layer instanceof LeakyReLU) {
      const last = specs[specs.length - 1];
      if (!last) throw new Error('h_s starts with an activation');
      last.activation = layer instanceof ReLU ? 'relu' : 'leaky_relu';
      if (layer instanceof LeakyReLU) last.negativeSlope = layer.negativeSlope;
    } else {
      throw new Error(`h_s layer ${layer.constructor.name} has no fixed-point form`);
    }
  }
  return specs;
}
