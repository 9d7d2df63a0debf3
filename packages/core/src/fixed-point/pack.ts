/**
 * Serialised form, for shipping a quantized network inside a safetensors file:
 * flat Int32Array tensors plus a small JSON-able meta object. Unpacking
 * validates everything (it is outside input) and re-checks the 2^53
 * accumulator bound, failing with PsicError('BAD_WEIGHTS').
 *
 * Tensors, per layer i:
 *   layers.i.weight  [cout][kh][kw][cin] quantized weights
 *   layers.i.shift   [cout] fractional bits of each output channel's weights
 *   layers.i.bias    [cout][2] (hi, lo): bias = hi * 2^24 + lo with 0 <= lo < 2^24,
 *                    since biases can exceed int32 (they carry F_A + shift fractional bits)
 */
import { PsicError } from '@psic/entropy';
import { checkAccumulatorBound, checkIntegerIn } from './quantize.js';
import { BIAS_LIMIT, MAX_ACTIVATION_TOTAL_BITS, MAX_SHIFT, NEGATIVE_SLOPE_BITS, type FixedActivation, type FixedPointNetwork, type QuantizedLayer } from './types.js';

export const FIXED_POINT_FORMAT = 'psic-fixed-point';
export const FIXED_POINT_VERSION = 1;
const MAX_LAYERS = 64;
const BIAS_LOW = 2 ** 24;

export interface PackedNetwork {
  tensors: Record<string, Int32Array>;
  meta: object;
}

interface LayerMeta {
  kind: 'conv' | 'deconv';
  kernel: number;
  stride: number;
  cin: number;
  cout: number;
  activation: FixedActivation;
  negativeSlope: number;
}

export function packNetwork(net: FixedPointNetwork): PackedNetwork {
  const tensors: Record<string, Int32Array> = {};
  const layers: LayerMeta[] = net.layers.map((l, i) => {
    const bias = new Int32Array(2 * l.cout);
    for (let co = 0; co < l.cout; co++) {
      const hi = Math.floor(l.bias[co] / BIAS_LOW);
      bias[2 * co] = hi;
      bias[2 * co + 1] = l.bias[co] - hi * BIAS_LOW;
    }
    tensors[`layers.${i}.weight`] = Int32Array.from(l.weight);
    tensors[`layers.${i}.shift`] = Int32Array.from(l.shift);
    tensors[`layers.${i}.bias`] = bias;
    const { kind, kernel, stride, cin, cout, activation, negativeSlope } = l;
    return { kind, kernel, stride, cin, cout, activation, negativeSlope };
  });
  const meta = {
    format: FIXED_POINT_FORMAT,
    version: FIXED_POINT_VERSION,
    activationBits: net.activationBits,
    activationLimit: net.activationLimit,
    weightBits: net.weightBits,
    layers,
  };
  return { tensors, meta };
}

export function unpackNetwork(packed: PackedNetwork): FixedPointNetwork {
  try {
    return unpackChecked(packed);
  } catch (err) {
    if (err instanceof PsicError) throw err;
    throw new PsicError('BAD_WEIGHTS', `fixed-point network cannot be read: ${(err as Error).message}`, { cause: err });
  }
}

function unpackChecked(packed: PackedNetwork): FixedPointNetwork {
  const bad = (msg: string): never => {
    throw new PsicError('BAD_WEIGHTS', `fixed-point network: ${msg}`);
  };
  if (!isRecord(packed) || !isRecord(packed.meta) || !isRecord(packed.tensors)) return bad('expected { tensors, meta }');
  const meta = packed.meta;
  if (meta.format !== FIXED_POINT_FORMAT) return bad(`format is ${String(meta.format)}, expected ${FIXED_POINT_FORMAT}`);
  if (meta.version !== FIXED_POINT_VERSION) return bad(`unsupported version ${String(meta.version)}`);
  checkIntegerIn('activationBits', meta.activationBits, 0, 16);
  checkIntegerIn('weightBits', meta.weightBits, 2, 24);
  const activationBits = meta.activationBits as number;
  const weightBits = meta.weightBits as number;
  const activationLimit = meta.activationLimit;
  const validLimits = Array.from({ length: MAX_ACTIVATION_TOTAL_BITS - activationBits }, (_, i) => 2 ** (activationBits + 1 + i) - 1);
  if (typeof activationLimit !== 'number' || !validLimits.includes(activationLimit)) {
    return bad(`activationLimit ${String(activationLimit)} is not 2^b - 1 with ${activationBits} < b <= ${MAX_ACTIVATION_TOTAL_BITS}`);
  }
  if (!Array.isArray(meta.layers) || meta.layers.length < 1 || meta.layers.length > MAX_LAYERS) {
    return bad(`layers must be an array of 1..${MAX_LAYERS}`);
  }
  const expectedNames = new Set<string>();
  const layers = (meta.layers as unknown[]).map((m, i) => {
    for (const part of ['weight', 'shift', 'bias']) expectedNames.add(`layers.${i}.${part}`);
    const layer = readLayer(m, i, packed.tensors as Record<string, unknown>, weightBits, bad);
    if (i > 0 && layer.cin !== (meta.layers as LayerMeta[])[i - 1].cout) bad(`layer ${i} cin does not match layer ${i - 1} cout`);
    checkAccumulatorBound(layer, i, activationLimit);
    return layer;
  });
  for (const name of Object.keys(packed.tensors)) if (!expectedNames.has(name)) bad(`unexpected tensor ${name}`);
  return { activationBits, activationLimit, weightBits, layers };
}

function readLayer(
  m: unknown,
  i: number,
  tensors: Record<string, unknown>,
  weightBits: number,
  bad: (msg: string) => never,
): QuantizedLayer {
  if (!isRecord(m)) return bad(`layer ${i} meta is not an object`);
  if (m.kind !== 'conv' && m.kind !== 'deconv') return bad(`layer ${i} kind ${String(m.kind)}`);
  if (m.activation !== 'relu' && m.activation !== 'leaky_relu' && m.activation !== 'none') return bad(`layer ${i} activation ${String(m.activation)}`);
  checkIntegerIn(`layer ${i} kernel`, m.kernel, 1, 31);
  checkIntegerIn(`layer ${i} stride`, m.stride, 1, 16);
  checkIntegerIn(`layer ${i} cin`, m.cin, 1, 65536);
  checkIntegerIn(`layer ${i} cout`, m.cout, 1, 65536);
  checkIntegerIn(`layer ${i} negativeSlope`, m.negativeSlope, 0, 2 ** NEGATIVE_SLOPE_BITS);
  const { kernel, stride, cin, cout, negativeSlope } = m as unknown as LayerMeta;
  if (m.activation !== 'leaky_relu' && negativeSlope !== 0) bad(`layer ${i} has a negative slope without leaky_relu`);
  const weight = int32Tensor(tensors, `layers.${i}.weight`, kernel * kernel * cin * cout, bad);
  const shift = int32Tensor(tensors, `layers.${i}.shift`, cout, bad);
  const packedBias = int32Tensor(tensors, `layers.${i}.bias`, 2 * cout, bad);
  const weightMax = 2 ** (weightBits - 1) - 1;
  for (const q of weight) if (q > weightMax || q < -weightMax) bad(`layer ${i} weight ${q} exceeds ${weightBits} bits`);
  for (const s of shift) if (s < 0 || s > MAX_SHIFT) bad(`layer ${i} shift ${s} outside [0, ${MAX_SHIFT}]`);
  const bias = new Float64Array(cout);
  for (let co = 0; co < cout; co++) {
    const lo = packedBias[2 * co + 1];
    if (lo < 0 || lo >= BIAS_LOW) bad(`layer ${i} bias ${co} low part ${lo} outside [0, 2^24)`);
    bias[co] = packedBias[2 * co] * BIAS_LOW + lo;
    if (Math.abs(bias[co]) > BIAS_LIMIT) bad(`layer ${i} bias ${co} exceeds 2^48`);
  }
  return { kind: m.kind, kernel, stride, cin, cout, activation: m.activation, negativeSlope, weight: Int32Array.from(weight), bias, shift: Int32Array.from(shift) };
}

function int32Tensor(tensors: Record<string, unknown>, name: string, length: number, bad: (msg: string) => never): Int32Array {
  const t = tensors[name];
  if (!(t instanceof Int32Array)) return bad(`tensor ${name} is missing or not an Int32Array`);
  if (t.length !== length) return bad(`tensor ${name} has ${t.length} values, expected ${length}`);
  return t;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
