/**
 * Conditional Gaussian entropy model (Ballé et al. 2018 / Minnen et al. 2018),
 * parametrised as CompressAI's `GaussianConditional` so checkpoints map 1:1.
 *
 * Two worlds live here:
 * - the float model (tfjs, differentiable) used for training and for the rate
 *   term: `likelihood`, `quantize`, `forward`;
 * - the coding model (pure deterministic JS doubles -> integer CDFs) used by the
 *   rANS coder: `gaussianPmfTable`, `tables`, `buildIndexes`, `compress`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CdfTableSet, pmfToQuantizedCdf, type CdfTable } from './cdf.js';
import { decodeWithIndexes, encodeWithIndexes } from './rans.js';
import { detExp, detLog, standardNormalCdf, standardNormalQuantile } from './erfc.js';
import { trainingNoise } from './training-noise.js';

export const DEFAULT_SCALE_MIN = 0.11;
export const DEFAULT_SCALE_MAX = 256;
export const DEFAULT_SCALE_LEVELS = 64;
export const DEFAULT_TAIL_MASS = 1e-9;
export const DEFAULT_LIKELIHOOD_BOUND = 1e-9;

// ---------------------------------------------------------------------------
// tfjs ops shared by the entropy models

/** A one-input op with a hand-written gradient; `backward` gets dy and the input. */
function unaryCustomGrad(
  forward: (x: tf.Tensor) => tf.Tensor,
  backward: (dy: tf.Tensor, x: tf.Tensor) => tf.Tensor,
): (x: tf.Tensor) => tf.Tensor {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor;
    (args[1] as tf.GradSaveFunc)([input]);
    return { value: forward(input), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => backward(dy, saved[0]!) };
  });
  return (x) => op(x);
}

/**
 * max(x, bound) whose gradient still flows where it would lift x above the
 * bound (CompressAI's LowerBound): a plain max would freeze values stuck below.
 */
export function lowerBound(x: tf.Tensor, bound: number): tf.Tensor {
  return unaryCustomGrad(
    (input) => tf.maximum(input, bound),
    (dy, input) => tf.mul(dy, tf.cast(tf.logicalOr(tf.greaterEqual(input, bound), tf.less(dy, 0)), dy.dtype)),
  )(x);
}

/** round(x) in the forward pass, identity gradient (straight-through estimator). */
export const roundStraightThrough = unaryCustomGrad(
  (input) => tf.round(input),
  (dy) => dy,
);

/** Forward identity, zero gradient (torch's `.detach()`). */
export const stopGradient = unaryCustomGrad(
  (input) => tf.clone(input),
  (dy) => tf.zerosLike(dy),
);

/** x + U(-0.5, 0.5): the training-time proxy for rounding (x batch-first; noise from the installed source). */
export function addUniformNoise(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.add(x, trainingNoise(x.shape)));
}

/** 0.5 erfc(z) for z >= 0; Numerical Recipes' erfcc, relative error < 1.2e-7 even deep in the tail. */
function halfErfcNonNegative(z: tf.Tensor): tf.Tensor {
  const t = tf.div(1, tf.add(1, tf.mul(0.5, z)));
  const coefficients = [
    -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398,
    1.48851587, -0.82215223, 0.17087277,
  ];
  let poly: tf.Tensor = tf.scalar(coefficients[coefficients.length - 1]!);
  for (let i = coefficients.length - 2; i >= 0; i--) poly = tf.add(coefficients[i]!, tf.mul(t, poly));
  return tf.mul(0.5, tf.mul(t, tf.exp(tf.sub(poly, tf.square(z)))));
}

/**
 * Standard normal CDF Φ(x) in tfjs. Computed erfc-style (not 1 - erf) so that
 * tail probabilities keep their relative precision in float32; the gradient is
 * the exact density rather than the derivative of the approximation.
 */
export const normalCdf = unaryCustomGrad(
  (input) =>
    tf.tidy(() => {
      const tail = halfErfcNonNegative(tf.mul(tf.abs(input), Math.SQRT1_2)); // Φ(-|x|)
      return tf.where(tf.lessEqual(input, 0), tail, tf.sub(1, tail));
    }),
  (dy, input) => tf.mul(dy, tf.mul(1 / Math.sqrt(2 * Math.PI), tf.exp(tf.mul(-0.5, tf.square(input))))),
);

// ---------------------------------------------------------------------------
// deterministic coding tables

/** exp(linspace(log min, log max, levels)), with the end points exact. Deterministic. */
export function defaultScaleTable(
  min = DEFAULT_SCALE_MIN,
  max = DEFAULT_SCALE_MAX,
  levels = DEFAULT_SCALE_LEVELS,
): Float64Array {
  if (!(min > 0 && max > min && Number.isInteger(levels) && levels >= 2)) {
    throw new RangeError(`defaultScaleTable: need 0 < min < max and levels >= 2, got ${min}, ${max}, ${levels}`);
  }
  const logMin = detLog(min);
  const step = (detLog(max) - logMin) / (levels - 1);
  const table = new Float64Array(levels);
  for (let i = 0; i < levels; i++) table[i] = detExp(logMin + i * step);
  table[0] = min;
  table[levels - 1] = max;
  return table;
}

export interface GaussianPmf {
  /** probability of each integer in [offset, offset + pmf.length) */
  pmf: Float64Array;
  /** probability of everything outside that range (both tails) */
  tailMass: number;
  /** first value covered; -center */
  offset: number;
}

/**
 * The discretised zero-mean Gaussian of a given scale, exactly as CompressAI's
 * `GaussianConditional.update()` lays it out: support [-c, c] with
 * c = ceil(scale * -Φ⁻¹(tailMass / 2)); pmf(v) = Φ((0.5 - |v|)/s) - Φ((-0.5 - |v|)/s);
 * the escape symbol gets both tails. Pure double arithmetic, bit-identical everywhere.
 */
export function gaussianPmfTable(scale: number, tailMass = DEFAULT_TAIL_MASS): GaussianPmf {
  if (!(scale > 0 && Number.isFinite(scale))) throw new RangeError(`gaussianPmfTable: scale must be > 0, got ${scale}`);
  if (!(tailMass > 0 && tailMass < 1)) throw new RangeError(`gaussianPmfTable: tailMass must be in (0, 1), got ${tailMass}`);
  const multiplier = -standardNormalQuantile(tailMass / 2);
  const center = Math.ceil(scale * multiplier);
  const pmf = new Float64Array(2 * center + 1);
  for (let i = 0; i < pmf.length; i++) {
    const magnitude = Math.abs(i - center);
    pmf[i] = standardNormalCdf((0.5 - magnitude) / scale) - standardNormalCdf((-0.5 - magnitude) / scale);
  }
  const tail = 2 * standardNormalCdf((-0.5 - center) / scale);
  return { pmf, tailMass: tail, offset: -center };
}

/** `gaussianPmfTable` quantised into an rANS table. */
export function gaussianCdfTable(scale: number, tailMass = DEFAULT_TAIL_MASS): CdfTable {
  const { pmf, tailMass: tail, offset } = gaussianPmfTable(scale, tailMass);
  return { cdf: pmfToQuantizedCdf(pmf, tail), offset };
}

/**
 * Index of the table level for one scale: the first level >= max(scale, bound),
 * clamped to the last level (CompressAI's build_indexes: it rounds the scale up,
 * i.e. codes with a slightly wider Gaussian). NaN maps to the last level, as there.
 */
export function scaleTableIndex(scaleTable: ArrayLike<number>, scale: number, bound: number): number {
  const last = scaleTable.length - 1;
  if (Number.isNaN(scale)) return last;
  const s = scale < bound ? bound : scale;
  let lo = 0;
  let hi = last;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (scaleTable[mid]! >= s) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

// ---------------------------------------------------------------------------

export interface GaussianConditionalOptions {
  /** strictly increasing positive scales; default exp(linspace(log 0.11, log 256, 64)) */
  scaleTable?: ArrayLike<number>;
  /** scales are lower-bounded here in the likelihood and in buildIndexes; default 0.11 */
  scaleBound?: number;
  tailMass?: number;
  likelihoodBound?: number;
}

export type QuantizeMode = 'noise' | 'ste' | 'dequantize';

export class GaussianConditional {
  readonly scaleTable: Float64Array;
  readonly scaleBound: number;
  readonly tailMass: number;
  readonly likelihoodBound: number;
  private cachedTables: CdfTableSet | undefined;

  constructor(opts: GaussianConditionalOptions = {}) {
    this.scaleTable = opts.scaleTable ? Float64Array.from(opts.scaleTable) : defaultScaleTable();
    const table = this.scaleTable;
    if (table.length < 1) throw new RangeError('GaussianConditional: scaleTable is empty');
    for (let i = 0; i < table.length; i++) {
      if (!(table[i]! > 0 && Number.isFinite(table[i]!)) || (i > 0 && !(table[i]! > table[i - 1]!))) {
        throw new RangeError('GaussianConditional: scaleTable must be finite, positive and strictly increasing');
      }
    }
    this.scaleBound = opts.scaleBound ?? DEFAULT_SCALE_MIN;
    this.tailMass = opts.tailMass ?? DEFAULT_TAIL_MASS;
    this.likelihoodBound = opts.likelihoodBound ?? DEFAULT_LIKELIHOOD_BOUND;
    if (!(this.scaleBound > 0)) throw new RangeError(`GaussianConditional: scaleBound must be > 0`);
    if (!(this.tailMass > 0 && this.tailMass < 1)) throw new RangeError(`GaussianConditional: tailMass must be in (0, 1)`);
  }

  /** One CDF table per scale level; built once (deterministically) and cached. */
  tables(): CdfTableSet {
    this.cachedTables ??= new CdfTableSet(Array.from(this.scaleTable, (s) => gaussianCdfTable(s, this.tailMass)));
    return this.cachedTables;
  }

  /** Use given tables (e.g. the ones stored in a CompressAI checkpoint) instead of building them. */
  setTables(tables: CdfTableSet): void {
    if (tables.size !== this.scaleTable.length) {
      throw new RangeError(`GaussianConditional.setTables: ${tables.size} tables for ${this.scaleTable.length} scale levels`);
    }
    this.cachedTables = tables;
  }

  /** P(y) of the integer bin around y under N(means, max(scales, bound)), lower-bounded; differentiable. */
  likelihood(y: tf.Tensor, scales: tf.Tensor, means?: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const values = tf.abs(means ? tf.sub(y, means) : y);
      const s = lowerBound(scales, this.scaleBound);
      // Both arguments sit on the left of the mode (|v| trick): Φ is evaluated where it is small and precise.
      const upper = normalCdf(tf.div(tf.sub(0.5, values), s));
      const lower = normalCdf(tf.div(tf.sub(-0.5, values), s));
      return lowerBound(tf.sub(upper, lower), this.likelihoodBound);
    });
  }

  /** 'noise': y + U(-½,½) (means ignored); 'ste': round(y - m) + m with identity gradient; 'dequantize': round(y - m) + m. */
  quantize(y: tf.Tensor, mode: QuantizeMode, means?: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      if (mode === 'noise') return addUniformNoise(y);
      const centered = means ? tf.sub(y, means) : y;
      const rounded = mode === 'ste' ? roundStraightThrough(centered) : tf.round(centered);
      return means ? tf.add(rounded, means) : rounded;
    });
  }

  /** Training / evaluation pass: noisy (training) or dequantized values and their likelihoods. */
  forward(y: tf.Tensor, scales: tf.Tensor, means: tf.Tensor | undefined, training: boolean): { yHat: tf.Tensor; likelihoods: tf.Tensor } {
    return tf.tidy(() => {
      const yHat = this.quantize(y, training ? 'noise' : 'dequantize', means);
      return { yHat, likelihoods: this.likelihood(yHat, scales, means) };
    });
  }

  /** Table level per element (see `scaleTableIndex`): monotone in the scale, always in range. */
  buildIndexes(scales: ArrayLike<number>): Int32Array {
    const indexes = new Int32Array(scales.length);
    for (let i = 0; i < scales.length; i++) indexes[i] = scaleTableIndex(this.scaleTable, scales[i]!, this.scaleBound);
    return indexes;
  }

  /** Code integer symbols (round(y - means)) with the table chosen per element by `indexes`. */
  compress(symbols: Int32Array, indexes: Int32Array): Uint8Array {
    return encodeWithIndexes(symbols, indexes, this.tables());
  }

  /** Inverse of `compress`; `indexes` must be the ones the encoder used. */
  decompress(data: Uint8Array, indexes: Int32Array): Int32Array {
    return decodeWithIndexes(data, indexes, this.tables());
  }
}
