/**
 * Strided convolutions with PyTorch semantics on NHWC tensors.
 *
 * PyTorch pads symmetrically by an explicit amount (CompressAI: k // 2).
 * tf's 'same' does not: for stride 2 and an even input it pads less on top
 * and left than on the bottom and right, which shifts every output by one
 * pixel. So we pass the explicit number. For the transposed convolution,
 * tf.conv2dTranspose is the input-gradient of a conv with the same `pad`,
 * which crops `padding` pixels from the top/left of the full transposed
 * output exactly like PyTorch; PyTorch's output_padding then only decides the
 * output size, which we pass explicitly: (in - 1)·s - 2p + k + output_padding.
 *
 * Initialisation is PyTorch's default (CompressAI keeps it): weights and
 * biases uniform in ±1/sqrt(fan_in) (kaiming_uniform with a = √5), where
 * fan_in is in·k² for Conv2d and out·k² for ConvTranspose2d (PyTorch computes
 * it from weight dim 1, which is `out` for a transposed conv).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Layer, type LayerOptions } from './module.js';
import { tagTorchLayout } from './torch-layout.js';

/** Conv2d on NHWC `x` with a [kh, kw, in, out] filter and symmetric zero padding. */
export function conv2dTorch(x: tf.Tensor4D, filter: tf.Tensor4D, stride: number, padding: number, bias?: tf.Tensor1D): tf.Tensor4D {
  const pad = padding === 0 ? 'valid' : padding;
  if (bias) return tf.fused.conv2d({ x, filter, strides: stride, pad, bias });
  return tf.conv2d(x, filter, stride, pad);
}

/** Output size of PyTorch's ConvTranspose2d along one axis. */
export function convTransposeOutputSize(input: number, kernel: number, stride: number, padding: number, outputPadding: number): number {
  return (input - 1) * stride - 2 * padding + kernel + outputPadding;
}

/** ConvTranspose2d on NHWC `x` with a [kh, kw, out, in] filter, PyTorch padding / output_padding. */
export function convTranspose2dTorch(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  stride: number,
  padding: number,
  outputPadding: number,
  bias?: tf.Tensor1D,
): tf.Tensor4D {
  const [n, h, w] = x.shape;
  const [kh, kw, cout] = filter.shape;
  const outShape: [number, number, number, number] = [
    n,
    convTransposeOutputSize(h, kh, stride, padding, outputPadding),
    convTransposeOutputSize(w, kw, stride, padding, outputPadding),
    cout,
  ];
  return tf.tidy(() => {
    const y = tf.conv2dTranspose(x, filter, outShape, stride, padding === 0 ? 'valid' : padding);
    return bias ? tf.add(y, bias) : y;
  });
}

export interface ConvOptions extends LayerOptions {
  /** Zero padding on every side; default kernel // 2 (CompressAI's conv / deconv). */
  padding?: number;
  /** Seed for the initial weights (reproducible runs). */
  seed?: number;
}

export interface ConvTransposeOptions extends ConvOptions {
  /** Extra rows/columns at the bottom/right; default stride - 1, so output = stride × input. */
  outputPadding?: number;
}

function checkShape(cin: number, cout: number, kernel: number, stride: number, padding: number): void {
  for (const [what, v] of [['in channels', cin], ['out channels', cout], ['kernel', kernel], ['stride', stride]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${what} must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(padding) || padding < 0) throw new RangeError(`padding must be a non-negative integer, got ${padding}`);
}

function uniformVariable(shape: number[], bound: number, seed: number | undefined): tf.Variable {
  return tf.tidy(() => tf.variable(tf.randomUniform(shape, -bound, bound, 'float32', seed)));
}

/** nn.Conv2d(cin, cout, k, stride, padding = k // 2) with bias. Weight variable: [k, k, cin, cout]. */
export class Conv2d extends Layer {
  readonly weight: tf.Variable<tf.Rank.R4>;
  readonly bias: tf.Variable<tf.Rank.R1>;
  readonly padding: number;

  constructor(
    readonly cin: number,
    readonly cout: number,
    readonly kernel: number,
    readonly stride = 1,
    opts: ConvOptions = {},
  ) {
    super(opts);
    this.padding = opts.padding ?? Math.floor(kernel / 2);
    checkShape(cin, cout, kernel, stride, this.padding);
    const bound = 1 / Math.sqrt(cin * kernel * kernel);
    this.weight = uniformVariable([kernel, kernel, cin, cout], bound, opts.seed) as tf.Variable<tf.Rank.R4>;
    this.bias = uniformVariable([cout], bound, opts.seed === undefined ? undefined : opts.seed + 1) as tf.Variable<tf.Rank.R1>;
    tagTorchLayout(this.weight, 'conv2d');
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return conv2dTorch(x, this.weight, this.stride, this.padding, this.bias);
  }

  protected ownVariables(): Record<string, tf.Variable> {
    return { weight: this.weight, bias: this.bias };
  }
}

/**
 * nn.ConvTranspose2d(cin, cout, k, stride, padding = k // 2, output_padding = stride - 1)
 * with bias. Weight variable: [k, k, cout, cin].
 */
export class ConvTranspose2d extends Layer {
  readonly weight: tf.Variable<tf.Rank.R4>;
  readonly bias: tf.Variable<tf.Rank.R1>;
  readonly padding: number;
  readonly outputPadding: number;

  constructor(
    readonly cin: number,
    readonly cout: number,
    readonly kernel: number,
    readonly stride = 1,
    opts: ConvTransposeOptions = {},
  ) {
    super(opts);
    this.padding = opts.padding ?? Math.floor(kernel / 2);
    this.outputPadding = opts.outputPadding ?? stride - 1;
    checkShape(cin, cout, kernel, stride, this.padding);
    if (!Number.isInteger(this.outputPadding) || this.outputPadding < 0 || this.outputPadding >= stride) {
      throw new RangeError(`output padding must be an integer in [0, stride), got ${this.outputPadding}`);
    }
    const bound = 1 / Math.sqrt(cout * kernel * kernel);
    this.weight = uniformVariable([kernel, kernel, cout, cin], bound, opts.seed) as tf.Variable<tf.Rank.R4>;
    this.bias = uniformVariable([cout], bound, opts.seed === undefined ? undefined : opts.seed + 1) as tf.Variable<tf.Rank.R1>;
    tagTorchLayout(this.weight, 'convTranspose2d');
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return convTranspose2dTorch(x, this.weight, this.stride, this.padding, this.outputPadding, this.bias);
  }

  protected ownVariables(): Record<string, tf.Variable> {
    return { weight: this.weight, bias: this.bias };
  }
}
