/**
 * Float layers -> integer layers, done once (at export, or when a model's
 * coding tables are built). Uses only exact double operations (scaling by
 * powers of two, rounding), never log/pow, so every machine derives the same
 * integers from the same float32 weights.
 */
import { PsicError } from '@psic/entropy';
import {
  ACCUMULATOR_LIMIT,
  BIAS_LIMIT,
  MAX_ACTIVATION_TOTAL_BITS,
  MAX_SHIFT,
  NEGATIVE_SLOPE_BITS,
  type FixedLayerSpec,
  type FixedPointNetwork,
  type FixedPointOptions,
  type QuantizedLayer,
} from './types.js';

/** 2^e for integer e, built by exact doubling/halving (no Math.pow). */
export function pow2(e: number): number {
  let v = 1;
  if (e >= 0) for (let i = 0; i < e; i++) v *= 2;
  else for (let i = 0; i > e; i--) v /= 2;
  return v;
}

/** Round half away from zero; exact for doubles. */
export function roundHalfAway(v: number): number {
  // `+ 0` turns -0 into 0 so packed and in-memory forms compare equal.
  return (v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5)) + 0;
}

export const DEFAULT_ACTIVATION_BITS = 8;
export const DEFAULT_ACTIVATION_INTEGER_BITS = 12;
export const DEFAULT_WEIGHT_BITS = 12;
export const DEFAULT_NEGATIVE_SLOPE = 0.01;

export function activationLimitFor(activationBits: number, integerBits: number): number {
  return pow2(activationBits + integerBits) - 1;
}

export function quantizeNetwork(specs: FixedLayerSpec[], opts: FixedPointOptions = {}): FixedPointNetwork {
  const activationBits = opts.activationBits ?? DEFAULT_ACTIVATION_BITS;
  const integerBits = opts.activationIntegerBits ?? DEFAULT_ACTIVATION_INTEGER_BITS;
  const weightBits = opts.weightBits ?? DEFAULT_WEIGHT_BITS;
  checkIntegerIn('activationBits', activationBits, 0, 16);
  checkIntegerIn('activationIntegerBits', integerBits, 1, MAX_ACTIVATION_TOTAL_BITS - activationBits);
  checkIntegerIn('weightBits', weightBits, 2, 24);
  if (specs.length === 0) throw new PsicError('BAD_WEIGHTS', 'a fixed-point network needs at least one layer');
  const activationLimit = activationLimitFor(activationBits, integerBits);
  const layers = specs.map((spec, i) => {
    checkSpec(spec, i, i > 0 ? specs[i - 1].cout : spec.cin);
    const layer = quantizeLayer(spec, activationBits, weightBits);
    checkAccumulatorBound(layer, i, activationLimit);
    return layer;
  });
  return { activationBits, activationLimit, weightBits, layers };
}

function quantizeLayer(spec: FixedLayerSpec, activationBits: number, weightBits: number): QuantizedLayer {
  const { kernel: k, cin, cout } = spec;
  const taps = k * k;
  const weightMax = pow2(weightBits - 1) - 1;
  // Reorder to [cout][tap][cin] (cin contiguous: the kernels' inner loop) as floats first.
  const reordered = new Float64Array(cout * taps * cin);
  for (let t = 0; t < taps; t++) {
    for (let a = 0; a < cin; a++) {
      for (let co = 0; co < cout; co++) {
        const src = spec.kind === 'conv' ? (t * cin + a) * cout + co : (t * cout + co) * cin + a;
        reordered[(co * taps + t) * cin + a] = spec.weight[src];
      }
    }
  }
  const weight = new Int32Array(reordered.length);
  const bias = new Float64Array(cout);
  const shift = new Int32Array(cout);
  const perChannel = taps * cin;
  for (let co = 0; co < cout; co++) {
    const row = reordered.subarray(co * perChannel, (co + 1) * perChannel);
    let maxAbs = 0;
    for (let i = 0; i < row.length; i++) maxAbs = Math.max(maxAbs, Math.abs(row[i]));
    const s = channelShift(maxAbs, spec.bias[co], weightMax, activationBits);
    const scale = pow2(s);
    for (let i = 0; i < row.length; i++) weight[co * perChannel + i] = roundHalfAway(row[i] * scale);
    bias[co] = roundHalfAway(spec.bias[co] * pow2(activationBits + s));
    shift[co] = s;
  }
  const negativeSlope =
    spec.activation === 'leaky_relu' ? roundHalfAway((spec.negativeSlope ?? DEFAULT_NEGATIVE_SLOPE) * pow2(NEGATIVE_SLOPE_BITS)) : 0;
  return { kind: spec.kind, kernel: k, stride: spec.stride, cin, cout, activation: spec.activation, negativeSlope, weight, bias, shift };
}

/**
 * Largest shift s in [0, MAX_SHIFT] with round(maxAbs * 2^s) <= weightMax and
 * |round(bias * 2^(F_A + s))| <= BIAS_LIMIT. Throws when even s = 0 does not fit.
 */
function channelShift(maxAbs: number, bias: number, weightMax: number, activationBits: number): number {
  for (let s = MAX_SHIFT; s >= 0; s--) {
    if (roundHalfAway(maxAbs * pow2(s)) > weightMax) continue;
    if (Math.abs(roundHalfAway(bias * pow2(activationBits + s))) > BIAS_LIMIT) continue;
    return s;
  }
  throw new PsicError('BAD_WEIGHTS', `weight ${maxAbs} or bias ${bias} is too large for ${weightMax} steps at shift 0`);
}

/**
 * The exactness proof's premise, checked per output channel: with |a| <= A,
 * every partial sum of bias + sum(a_i * q_i), in any order and over any subset
 * of the terms, is bounded by |bias| + A * sum|q_i|; adding the rounding half
 * 2^(shift-1) must still stay below 2^53. Then every product and every addition
 * is exact in float64, and the result does not depend on summation order.
 */
export function checkAccumulatorBound(layer: QuantizedLayer, index: number, activationLimit: number): void {
  const perChannel = layer.kernel * layer.kernel * layer.cin;
  for (let co = 0; co < layer.cout; co++) {
    let sumAbs = 0;
    for (let i = co * perChannel; i < (co + 1) * perChannel; i++) sumAbs += Math.abs(layer.weight[i]);
    const worst = Math.abs(layer.bias[co]) + activationLimit * sumAbs + pow2(layer.shift[co]);
    if (!(worst < ACCUMULATOR_LIMIT)) {
      throw new PsicError(
        'BAD_WEIGHTS',
        `layer ${index} channel ${co}: worst-case accumulator ${worst} reaches 2^53 (not exact in float64); use fewer weight or activation bits`,
      );
    }
  }
}

function checkSpec(spec: FixedLayerSpec, index: number, expectedCin: number): void {
  const where = `fixed-point layer ${index}`;
  if (spec.kind !== 'conv' && spec.kind !== 'deconv') throw new PsicError('BAD_WEIGHTS', `${where}: unknown kind ${String(spec.kind)}`);
  if (!['relu', 'leaky_relu', 'none'].includes(spec.activation)) {
    throw new PsicError('BAD_WEIGHTS', `${where}: unknown activation ${String(spec.activation)}`);
  }
  checkIntegerIn(`${where} kernel`, spec.kernel, 1, 31);
  checkIntegerIn(`${where} stride`, spec.stride, 1, 16);
  checkIntegerIn(`${where} cin`, spec.cin, 1, 65536);
  checkIntegerIn(`${where} cout`, spec.cout, 1, 65536);
  if (spec.cin !== expectedCin) throw new PsicError('BAD_WEIGHTS', `${where}: cin ${spec.cin} does not match the previous cout ${expectedCin}`);
  const expected = spec.kernel * spec.kernel * spec.cin * spec.cout;
  if (spec.weight.length !== expected) throw new PsicError('BAD_WEIGHTS', `${where}: weight has ${spec.weight.length} values, expected ${expected}`);
  if (spec.bias.length !== spec.cout) throw new PsicError('BAD_WEIGHTS', `${where}: bias has ${spec.bias.length} values, expected ${spec.cout}`);
  for (const v of spec.weight) if (!Number.isFinite(v)) throw new PsicError('BAD_WEIGHTS', `${where}: non-finite weight`);
  for (const v of spec.bias) if (!Number.isFinite(v)) throw new PsicError('BAD_WEIGHTS', `${where}: non-finite bias`);
  const slope = spec.negativeSlope ?? DEFAULT_NEGATIVE_SLOPE;
  if (!(slope >= 0 && slope <= 1)) throw new PsicError('BAD_WEIGHTS', `${where}: negative slope ${slope} outside [0, 1]`);
}

export function checkIntegerIn(name: string, v: unknown, lo: number, hi: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new PsicError('BAD_WEIGHTS', `${name} must be an integer in [${lo}, ${hi}], got ${String(v)}`);
  }
}
