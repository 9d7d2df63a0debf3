/** Shared types and the bit budget of the fixed-point network. */

export type FixedActivation = 'relu' | 'leaky_relu' | 'none';

/** One float layer as it comes from the model (tfjs weight layouts). */
export interface FixedLayerSpec {
  kind: 'conv' | 'deconv';
  /** conv: [kh, kw, cin, cout]; deconv: [kh, kw, cout, cin] (as tf.conv2dTranspose takes it) */
  weight: Float32Array;
  bias: Float32Array;
  kernel: number;
  stride: number;
  cin: number;
  cout: number;
  activation: FixedActivation;
  /** LeakyReLU slope for negative inputs; default 0.01 (CompressAI / PyTorch default) */
  negativeSlope?: number;
}

/**
 * A layer in integer form. Treat as immutable: the runner caches a prepared
 * copy of the weights per layer object.
 */
export interface QuantizedLayer {
  readonly kind: 'conv' | 'deconv';
  readonly kernel: number;
  readonly stride: number;
  readonly cin: number;
  readonly cout: number;
  readonly activation: FixedActivation;
  /** LeakyReLU slope as an integer with NEGATIVE_SLOPE_BITS fractional bits (0 unless leaky_relu) */
  readonly negativeSlope: number;
  /** [cout][kh][kw][cin]; channel co has shift[co] fractional bits */
  readonly weight: Int32Array;
  /** exact integers (|b| <= BIAS_LIMIT) with activationBits + shift[co] fractional bits */
  readonly bias: Float64Array;
  /** per output channel: fractional bits of the weights (power-of-two scale) */
  readonly shift: Int32Array;
}

export interface FixedPointNetwork {
  /** F_A: fractional bits of every activation */
  readonly activationBits: number;
  /** activations are clamped to [-activationLimit, activationLimit] (integers) */
  readonly activationLimit: number;
  /** signed bit width of the quantized weights (|q| <= 2^(weightBits-1) - 1) */
  readonly weightBits: number;
  readonly layers: QuantizedLayer[];
}

export interface FixedPointOptions {
  /** F_A, fractional bits of activations (default 8, 0..16) */
  activationBits?: number;
  /** bits of the integer part of activations: |a| < 2^integerBits as a real value (default 12, so |a| < 4096) */
  activationIntegerBits?: number;
  /** signed bit width of weights (default 12, 2..24) */
  weightBits?: number;
}

/** Largest per-channel weight shift: keeps tiny-weight channels from asking for absurd bias precision. */
export const MAX_SHIFT = 30;
/** Bias integers stay below this, so bias + sum of products can be bounded independently. */
export const BIAS_LIMIT = 2 ** 48;
/** Every accumulator, and every partial sum in any order, stays strictly below this (exact in float64). */
export const ACCUMULATOR_LIMIT = 2 ** 53;
/** LeakyReLU slope precision: 0.01 -> 10486 / 2^20 = 0.0100002 */
export const NEGATIVE_SLOPE_BITS = 20;
/** Largest activation magnitude in bits (integer + fraction); keeps activations in Int32Array. */
export const MAX_ACTIVATION_TOTAL_BITS = 30;
