/**
 * Deterministic fixed-point convolution network for the entropy path.
 *
 * Why: the decoder must derive exactly the CDF indexes (and Gaussian means)
 * the encoder derived from z-hat, on any machine and any tensor backend. Float
 * convolutions differ across backends in the last bits (summation order, SIMD,
 * FMA), which would desynchronise the rANS decoder. So the hyper-synthesis h_s
 * runs here in integer arithmetic, from float weights quantized once.
 *
 * Number formats (defaults):
 * - Activations: integers a with F_A = 8 fractional bits (value a / 2^F_A),
 *   clamped to |a| <= A = 2^(F_A + 12) - 1 (real values in (-4096, 4096)),
 *   stored as Int32Array, HWC (batch 1), channel last like tfjs NHWC.
 * - Weights: per output channel co, signed integers |q| <= Q = 2^11 - 1
 *   (12 bits) with a power-of-two scale 2^-s_co, s_co in [0, 30] the largest
 *   shift that fits max|w| (and keeps the bias below 2^48).
 * - Bias: integer with F_A + s_co fractional bits, |b| <= 2^48.
 * - Accumulator: b + sum(a_i * q_i), F_A + s_co fractional bits, held in a
 *   float64. Requantized to F_A bits by floor((acc + 2^(s-1)) / 2^s) (round
 *   half up), clamped to +-A, then ReLU, LeakyReLU (slope as an integer with 20
 *   fractional bits: v<0 -> floor((v * slope + 2^19) / 2^20)) or identity.
 * - Input: round half away from zero of x * 2^F_A, clamped to +-A.
 *
 * Exactness bound (checked per output channel by quantizeNetwork and
 * unpackNetwork, which throw PsicError('BAD_WEIGHTS') otherwise):
 *     |b| + A * sum_i |q_i| + 2^(s-1)  <  2^53.
 * Proof: every product a_i * q_i is an integer with |a_i q_i| <= A |q_i|; any
 * partial sum of the bias and any subset of the products, in any order, is an
 * integer bounded by |b| + A * sum|q_i|. Integers below 2^53 are exactly
 * representable in float64, so every multiplication and addition (fused or
 * not) is exact, and the accumulator equals the true integer sum whatever the
 * summation order. Scaling by 2^-s is exact, and floor is exact. With the
 * defaults, A * Q * cin * k * k < 2^20 * 2^11 * 8000 < 2^44 for cin = 320,
 * k = 5, plus |b| <= 2^48: under 2^49, a 16x margin; the check only fails for
 * unusual options (e.g. 24-bit weights) or absurd layers (cin*k*k ~ 2^22).
 *
 * Ops (PyTorch semantics, padding p = k // 2):
 * - conv:   out[o] = b + sum_t in[o*s - p + t] * w[t]   (filter in tfjs layout [kh, kw, cin, cout])
 * - deconv: out[i*s - p + t] += in[i] * w[t], output_padding s - 1, so size
 *   (H-1)s - 2p + k + s - 1 (= sH for odd k); filter as tf.conv2dTranspose takes
 *   it, [kh, kw, cout, cin]. Equal to tf.conv2dTranspose(x, f, [1, OH, OW, cout],
 *   s, [[0,0],[p, p-(s-1)],[p, p-(s-1)],[0,0]]).
 * The deconv is computed as s*s gathered phases (geometry.ts), the MACs in
 * blocks of 4 outputs x 4 output channels, by a WebAssembly SIMD (f64x2)
 * kernel assembled at load time (wasm-kernel.ts) or, where the engine lacks
 * it, the same loops in JS (kernel.ts); both give the same integers.
 */
export type { FixedActivation, FixedLayerSpec, QuantizedLayer, FixedPointNetwork, FixedPointOptions } from './fixed-point/types.js';
export { ACCUMULATOR_LIMIT, BIAS_LIMIT, MAX_SHIFT, NEGATIVE_SLOPE_BITS } from './fixed-point/types.js';
export { quantizeNetwork } from './fixed-point/quantize.js';
export {
  runFixedPoint,
  runFixedPointBatch,
  runQuantizedLayer,
  fixedToFloat,
  quantizeActivations,
  fixedPointOutputShape,
  MAX_FIXED_POINT_VALUES,
  type FixedTensor,
  type FixedPointKernel,
  type RunOptions as FixedPointRunOptions,
} from './fixed-point/run.js';
export { outputSize as fixedLayerOutputSize } from './fixed-point/geometry.js';
export { packNetwork, unpackNetwork, FIXED_POINT_FORMAT, FIXED_POINT_VERSION, type PackedNetwork } from './fixed-point/pack.js';
export { concatChannels, sliceChannels, runFixedLayers, clampActivations, fixedTanh } from './fixed-point/ops.js';
export { runParityConv } from './fixed-point/parity-conv.js';
export { convSpec, fixedPointSpecs } from './fixed-point/from-layers.js';
