/**
 * Factorized ("fully factorized prior") entropy model of Ballé et al. 2018,
 * appendix 6.1, parametrised exactly as CompressAI's `EntropyBottleneck` so a
 * checkpoint's `_matrix{i}` / `_bias{i}` / `_factor{i}` (CompressAI >= 1.2 stores
 * them as `_matrices.{i}`, `_biases.{i}`, `_factors.{i}`) and `quantiles` map
 * onto `namedVariables()` one to one, same shapes.
 *
 * Per channel c a small monotone network maps x to the logit of a cumulative:
 *   h_0 = x;  h_{k+1} = softplus(M_k) h_k + b_k (+ tanh(a_k) ⊙ tanh(·) except last)
 * and P(bin around x) = σ(h(x + ½)) - σ(h(x - ½)).
 *
 * Tensors are NHWC; the channel is the last axis.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CdfTableSet, MAX_TABLE_SYMBOLS, pmfToQuantizedCdf } from './cdf.js';
import { decodeWithIndexes, encodeWithIndexes } from './rans.js';
import { detExpm1, detLog, detSigmoid, detSoftplus, detTanh, roundHalfEven } from './erfc.js';
import { addUniformNoise, lowerBound, stopGradient } from './gaussian-conditional.js';

export interface EntropyBottleneckOptions {
  /** hidden widths of the cumulative network; default [3, 3, 3, 3] */
  filters?: number[];
  /** initial half-width of the density; default 10 */
  initScale?: number;
  tailMass?: number;
  likelihoodBound?: number;
  /** seed for the bias initialisation, for reproducible models */
  seed?: number;
}

/** Double-precision copy of one channel's network, for deterministic table building. */
interface ChannelNetwork {
  matrices: Float64Array[]; // softplus already applied, row-major (out, in)
  biases: Float64Array[];
  factors: Float64Array[]; // tanh already applied
}

export class EntropyBottleneck {
  readonly channels: number;
  readonly filters: readonly number[];
  readonly initScale: number;
  readonly tailMass: number;
  readonly likelihoodBound: number;
  private readonly matrices: tf.Variable[] = [];
  private readonly biases: tf.Variable[] = [];
  private readonly factors: tf.Variable[] = [];
  private readonly quantiles: tf.Variable;
  private readonly target: [number, number, number];
  private cdfTables: CdfTableSet | undefined;

  constructor(channels: number, opts: EntropyBottleneckOptions = {}) {
    if (!(Number.isInteger(channels) && channels > 0)) throw new RangeError(`EntropyBottleneck: channels must be a positive integer, got ${channels}`);
    this.channels = channels;
    this.filters = [...(opts.filters ?? [3, 3, 3, 3])];
    this.initScale = opts.initScale ?? 10;
    this.tailMass = opts.tailMass ?? 1e-9;
    this.likelihoodBound = opts.likelihoodBound ?? 1e-9;
    if (!this.filters.every((f) => Number.isInteger(f) && f > 0)) throw new RangeError('EntropyBottleneck: filters must be positive integers');
    if (!(this.initScale > 0)) throw new RangeError('EntropyBottleneck: initScale must be > 0');
    if (!(this.tailMass > 0 && this.tailMass < 1)) throw new RangeError('EntropyBottleneck: tailMass must be in (0, 1)');

    // Same initialisation as CompressAI: the network starts as a logistic of
    // width ~initScale, spread evenly over the layers.
    const widths = [1, ...this.filters, 1];
    const layerScale = this.initScale ** (1 / (this.filters.length + 1));
    const s = this.initScale;
    this.quantiles = tf.tidy(() => {
      for (let i = 0; i < widths.length - 1; i++) {
        const out = widths[i + 1]!;
        const inverseSoftplus = detLog(detExpm1(1 / layerScale / out));
        this.matrices.push(tf.variable(tf.fill([channels, out, widths[i]!], inverseSoftplus)));
        const seed = opts.seed === undefined ? undefined : opts.seed + i;
        this.biases.push(tf.variable(tf.randomUniform([channels, out, 1], -0.5, 0.5, 'float32', seed)));
        if (i < this.filters.length) this.factors.push(tf.variable(tf.zeros([channels, out, 1])));
      }
      return tf.variable(tf.tile(tf.tensor3d([[[-s, 0, s]]]), [channels, 1, 1]));
    });
    const t = Math.log(2 / this.tailMass - 1);
    this.target = [-t, 0, t];
  }

  /** CompressAI names: `_matrix{i}`, `_bias{i}`, `_factor{i}`, `quantiles`. */
  namedVariables(): Record<string, tf.Variable> {
    const named: Record<string, tf.Variable> = {};
    this.matrices.forEach((v, i) => (named[`_matrix${i}`] = v));
    this.biases.forEach((v, i) => (named[`_bias${i}`] = v));
    this.factors.forEach((v, i) => (named[`_factor${i}`] = v));
    named['quantiles'] = this.quantiles;
    return named;
  }

  /** 'main': the density network (trained by the rate); 'aux': the quantiles (trained by `lossAux`). */
  variables(which?: 'main' | 'aux'): tf.Variable[] {
    const main = [...this.matrices, ...this.biases, ...this.factors];
    if (which === 'main') return main;
    if (which === 'aux') return [this.quantiles];
    return [...main, this.quantiles];
  }

  /** Logits of the cumulative for inputs shaped (C, 1, B); returns (C, 1, B). */
  private logitsCumulative(inputs: tf.Tensor3D, detachNetwork: boolean): tf.Tensor3D {
    const param = (v: tf.Variable): tf.Tensor => (detachNetwork ? stopGradient(v) : v);
    let logits: tf.Tensor3D = inputs;
    for (let i = 0; i < this.matrices.length; i++) {
      logits = tf.matMul(tf.softplus(param(this.matrices[i]!)) as tf.Tensor3D, logits);
      logits = tf.add<tf.Tensor3D>(logits, param(this.biases[i]!));
      if (i < this.factors.length) {
        logits = tf.add<tf.Tensor3D>(logits, tf.mul(tf.tanh(param(this.factors[i]!)), tf.tanh(logits)));
      }
    }
    return logits;
  }

  /** P(bin of width 1 around each input), inputs (C, 1, B). */
  private likelihoodOf(inputs: tf.Tensor3D): tf.Tensor3D {
    const lower = this.logitsCumulative(tf.sub(inputs, 0.5), false);
    const upper = this.logitsCumulative(tf.add(inputs, 0.5), false);
    // Evaluate both sigmoids on the side where they are small: no cancellation in the tails.
    const sign = tf.neg(tf.sign(tf.add(lower, upper)));
    return tf.abs(tf.sub<tf.Tensor3D>(tf.sigmoid(tf.mul(sign, upper)), tf.sigmoid(tf.mul(sign, lower))));
  }

  /** (C, 1, 1) view of the medians, differentiable w.r.t. the quantiles. */
  private medianTensor(): tf.Tensor3D {
    return tf.slice(this.quantiles as tf.Tensor3D, [0, 0, 1], [this.channels, 1, 1]);
  }

  /**
   * Training: x + U(-½,½). Otherwise: round(x - median) + median per channel.
   * Likelihoods are lower-bounded by `likelihoodBound`; both outputs NHWC like x.
   */
  forward(x: tf.Tensor4D, training: boolean): { xHat: tf.Tensor4D; likelihoods: tf.Tensor4D } {
    this.checkInput(x.shape);
    return tf.tidy(() => {
      const [n, h, w, c] = x.shape;
      // NHWC -> (C, 1, N*H*W): one independent density per channel. Noise is
      // added before the transpose so it is drawn per sample (batch first).
      const toChannels = (t: tf.Tensor) => tf.reshape(tf.transpose(tf.reshape(t, [n * h * w, c])), [c, 1, n * h * w]) as tf.Tensor3D;
      let outputs: tf.Tensor3D;
      if (training) {
        outputs = toChannels(addUniformNoise(x));
      } else {
        const medians = this.medianTensor();
        const values = toChannels(x);
        outputs = tf.add(tf.round(tf.sub(values, medians)), medians);
      }
      const likelihood = lowerBound(this.likelihoodOf(outputs), this.likelihoodBound);
      const toNhwc = (t: tf.Tensor) => tf.reshape(tf.transpose(tf.reshape(t, [c, n * h * w])), [n, h, w, c]) as tf.Tensor4D;
      return { xHat: toNhwc(outputs), likelihoods: toNhwc(likelihood) };
    });
  }

  /**
   * Auxiliary loss: pulls quantiles[:, :, 0|1|2] to the points where the learned
   * cumulative equals tail/2, 1/2 and 1 - tail/2. The network itself is held
   * fixed here, so minimising this over all variables is harmless.
   */
  lossAux(): tf.Scalar {
    return tf.tidy(() => {
      const logits = this.logitsCumulative(this.quantiles as tf.Tensor3D, true);
      return tf.sum(tf.abs(tf.sub(logits, tf.tensor1d(this.target)))) as tf.Scalar;
    });
  }

  medians(): Float32Array {
    const q = this.quantiles.dataSync();
    const medians = new Float32Array(this.channels);
    for (let c = 0; c < this.channels; c++) medians[c] = q[3 * c + 1]!;
    return medians;
  }

  /** Snapshot the network in doubles (softplus/tanh applied once, deterministically). */
  private channelNetworks(): ChannelNetwork[] {
    const read = (vars: tf.Variable[], fn: (v: number) => number) =>
      vars.map((v) => {
        const data = v.dataSync();
        const size = data.length / this.channels;
        return Array.from({ length: this.channels }, (_, c) => Float64Array.from(data.subarray(c * size, (c + 1) * size), fn));
      });
    const matrices = read(this.matrices, detSoftplus);
    const biases = read(this.biases, (v) => v);
    const factors = read(this.factors, detTanh);
    return Array.from({ length: this.channels }, (_, c) => ({
      matrices: matrices.map((m) => m[c]!),
      biases: biases.map((b) => b[c]!),
      factors: factors.map((f) => f[c]!),
    }));
  }

  /** Cumulative logit of one scalar through one channel's network, in doubles. */
  private static logitOf(net: ChannelNetwork, x: number): number {
    let h = [x];
    for (let k = 0; k < net.matrices.length; k++) {
      const m = net.matrices[k]!;
      const b = net.biases[k]!;
      const next = new Array<number>(b.length);
      for (let o = 0; o < b.length; o++) {
        let sum = 0;
        for (let i = 0; i < h.length; i++) sum += m[o * h.length + i]! * h[i]!;
        sum += b[o]!;
        if (k < net.factors.length) sum += net.factors[k]![o]! * detTanh(sum);
        next[o] = sum;
      }
      h = next;
    }
    return h[0]!;
  }

  /** P(bin around x) with the sign trick, plus the logits at the bin edges (float32 edges, like torch). */
  private static binOf(net: ChannelNetwork, x: number): { probability: number; lower: number; upper: number } {
    const lower = EntropyBottleneck.logitOf(net, Math.fround(x - 0.5));
    const upper = EntropyBottleneck.logitOf(net, Math.fround(x + 0.5));
    const sign = -Math.sign(lower + upper);
    return { probability: Math.abs(detSigmoid(sign * upper) - detSigmoid(sign * lower)), lower, upper };
  }

  /**
   * P(bin of width 1 around `value`) for one channel in deterministic double
   * precision, by the same arithmetic as `update()` (no lower bound): a
   * reference for the float model and a diagnostic for tables.
   */
  likelihoodAt(channel: number, value: number): number {
    if (!(Number.isInteger(channel) && channel >= 0 && channel < this.channels)) throw new RangeError(`EntropyBottleneck: no channel ${channel}`);
    return EntropyBottleneck.binOf(this.channelNetworks()[channel]!, Math.fround(value)).probability;
  }

  /**
   * Build the per-channel CDF tables from the current weights, as CompressAI's
   * update(): support median + [-ceil(median - q0), ceil(q2 - median)], pmf by
   * the same sigmoid difference, escape mass = the two tails beyond it. Sample
   * positions are rounded to float32 like torch's; the network runs in
   * deterministic doubles, so every machine builds bit-identical tables.
   */
  update(): CdfTableSet {
    const q = this.quantiles.dataSync();
    const nets = this.channelNetworks();
    const tables = nets.map((net, c) => {
      const [q0, median, q2] = [q[3 * c]!, q[3 * c + 1]!, q[3 * c + 2]!];
      if (![q0, median, q2].every(Number.isFinite)) throw new Error(`EntropyBottleneck.update: channel ${c} has non-finite quantiles`);
      const below = Math.max(0, Math.ceil(Math.fround(median - q0)));
      const above = Math.max(0, Math.ceil(Math.fround(q2 - median)));
      const length = below + above + 1;
      if (length + 1 > MAX_TABLE_SYMBOLS) {
        throw new Error(`EntropyBottleneck.update: channel ${c} spans ${length} symbols (quantiles ${q0}, ${median}, ${q2}); train the aux loss first`);
      }
      const start = Math.fround(median - below);
      const pmf = new Float64Array(length);
      let firstLower = 0;
      let lastUpper = 0;
      for (let k = 0; k < length; k++) {
        const bin = EntropyBottleneck.binOf(net, Math.fround(start + k));
        pmf[k] = bin.probability;
        if (k === 0) firstLower = bin.lower;
        if (k === length - 1) lastUpper = bin.upper;
      }
      const tail = detSigmoid(firstLower) + detSigmoid(-lastUpper);
      return { cdf: pmfToQuantizedCdf(pmf, tail), offset: -below };
    });
    this.cdfTables = new CdfTableSet(tables);
    return this.cdfTables;
  }

  tables(): CdfTableSet {
    if (!this.cdfTables) throw new Error('EntropyBottleneck: no CDF tables yet; call update() after training (or setTables())');
    return this.cdfTables;
  }

  setTables(tables: CdfTableSet): void {
    if (tables.size !== this.channels) throw new RangeError(`EntropyBottleneck.setTables: ${tables.size} tables for ${this.channels} channels`);
    this.cdfTables = tables;
  }

  /** Symbols round(x - median) in NHWC order, each coded with its channel's table. */
  compress(x: tf.Tensor4D): Uint8Array {
    this.checkInput(x.shape);
    const tables = this.tables();
    const values = x.dataSync();
    const medians = this.medians();
    const c = this.channels;
    const symbols = new Int32Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const symbol = roundHalfEven(Math.fround(values[i]! - medians[i % c]!));
      if (!(symbol >= -0x80000000 && symbol <= 0x7fffffff)) throw new RangeError(`EntropyBottleneck.compress: value ${values[i]} at ${i} is not codable`);
      symbols[i] = symbol;
    }
    return encodeWithIndexes(symbols, this.channelIndexes(values.length), tables);
  }

  /** Inverse of `compress`: symbols + median per channel (the dequantized x̂), NHWC. */
  decompress(data: Uint8Array, shape: [number, number, number, number]): tf.Tensor4D {
    this.checkInput(shape);
    const tables = this.tables();
    const count = shape[0] * shape[1] * shape[2] * shape[3];
    const symbols = decodeWithIndexes(data, this.channelIndexes(count), tables);
    const medians = this.medians();
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = symbols[i]! + medians[i % this.channels]!;
    return tf.tensor4d(out, shape);
  }

  dispose(): void {
    for (const v of this.variables()) v.dispose();
  }

  private channelIndexes(count: number): Int32Array {
    const indexes = new Int32Array(count);
    for (let i = 0; i < count; i++) indexes[i] = i % this.channels;
    return indexes;
  }

  private checkInput(shape: readonly number[]): void {
    if (shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new RangeError(`EntropyBottleneck: expected a positive NHWC shape, got [${shape.join(', ')}]`);
    }
    if (shape[3] !== this.channels) throw new RangeError(`EntropyBottleneck: expected ${this.channels} channels (last axis), got ${shape[3]}`);
  }
}
