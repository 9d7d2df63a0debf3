/**
 * Running a quantized network: quantize the input once, then per layer pad the
 * integer activations into a float64 buffer, accumulate each phase exactly
 * (kernel.ts), and requantize back to F_A fractional bits with a deterministic
 * rounding, clamp, and the activation. Nothing here depends on the platform's
 * float rounding: every double operation works on integers below 2^53 or
 * scales by a power of two.
 */
import { PsicError } from '@psic/entropy';
import { axisPadding, axisPhases, outputSize, type AxisPhase } from './geometry.js';
import { accumulatePhase, CO_BLOCK, X_BLOCK, type PhaseJob } from './kernel.js';
import { pow2, roundHalfAway } from './quantize.js';
import { NEGATIVE_SLOPE_BITS, type FixedPointNetwork, type QuantizedLayer } from './types.js';
import { trimWasmMemory, wasmAccumulator } from './wasm-kernel.js';

/** Refuse shapes whose buffers would exceed this many values (input comes from untrusted headers). */
export const MAX_FIXED_POINT_VALUES = 2 ** 28;

/**
 * Which multiply-accumulate kernel runs: 'auto' (WebAssembly SIMD where the
 * engine has it, else JS), or one of them explicitly (tests, benchmarks).
 * Results are identical integers either way.
 */
export type FixedPointKernel = 'auto' | 'wasm' | 'js';

export interface RunOptions {
  kernel?: FixedPointKernel;
}

export interface FixedTensor {
  data: Int32Array;
  h: number;
  w: number;
  c: number;
}

/** z-hat (HWC floats) -> integers with F_A fractional bits: round half away from zero of x * 2^F_A, clamped. */
export function quantizeActivations(input: ArrayLike<number>, activationBits: number, activationLimit: number): Int32Array {
  const scale = pow2(activationBits);
  const out = new Int32Array(input.length);
  for (let i = 0; i < input.length; i++) {
    const v = input[i];
    if (!Number.isFinite(v)) throw new PsicError('BAD_INPUT', `fixed-point input ${i} is not finite (${v})`);
    out[i] = Math.max(-activationLimit, Math.min(activationLimit, roundHalfAway(v * scale)));
  }
  return out;
}

/** Integers with F_A fractional bits -> floats (exact while |v| < 2^24, true for the default 20-bit range). */
export function fixedToFloat(v: Int32Array, activationBits: number): Float32Array {
  const scale = pow2(-activationBits);
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i] * scale;
  return out;
}

/** Run a batch-1 HWC input through the network. */
export function runFixedPoint(
  net: FixedPointNetwork,
  input: ArrayLike<number>,
  h: number,
  w: number,
  c: number,
  opts: RunOptions = {},
): FixedTensor {
  checkShape(net, input.length, 1, h, w, c);
  let x: FixedTensor = { data: quantizeActivations(input, net.activationBits, net.activationLimit), h, w, c };
  for (const layer of net.layers) x = runQuantizedLayer(net, layer, x, opts);
  trimWasmMemory();
  return x;
}

/** NHWC batch: each image runs independently; outputs are concatenated. */
export function runFixedPointBatch(
  net: FixedPointNetwork,
  input: ArrayLike<number>,
  n: number,
  h: number,
  w: number,
  c: number,
  opts: RunOptions = {},
): FixedTensor & { n: number } {
  checkShape(net, input.length, n, h, w, c);
  const per = h * w * c;
  const parts: FixedTensor[] = [];
  for (let b = 0; b < n; b++) {
    const slice = ArrayBuffer.isView(input)
      ? (input as unknown as Float32Array).subarray(b * per, (b + 1) * per)
      : Array.prototype.slice.call(input, b * per, (b + 1) * per);
    parts.push(runFixedPoint(net, slice as ArrayLike<number>, h, w, c, opts));
  }
  const first = parts[0];
  const data = new Int32Array(n * first.data.length);
  parts.forEach((p, b) => data.set(p.data, b * first.data.length));
  return { data, n, h: first.h, w: first.w, c: first.c };
}

/** Output shape of the whole network for an input of h x w (for callers that size buffers or check headers). */
export function fixedPointOutputShape(net: FixedPointNetwork, h: number, w: number): { h: number; w: number; c: number } {
  let shape = { h, w, c: net.layers[0]?.cin ?? 0 };
  for (const l of net.layers) {
    shape = { h: outputSize(l.kind, shape.h, l.kernel, l.stride), w: outputSize(l.kind, shape.w, l.kernel, l.stride), c: l.cout };
  }
  return shape;
}

function checkShape(net: FixedPointNetwork, length: number, n: number, h: number, w: number, c: number): void {
  for (const [name, v] of [['n', n], ['h', h], ['w', w], ['c', c]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new PsicError('BAD_INPUT', `fixed-point input ${name} must be a positive integer, got ${v}`);
  }
  if (net.layers.length === 0) throw new PsicError('BAD_WEIGHTS', 'fixed-point network has no layers');
  if (c !== net.layers[0].cin) throw new PsicError('BAD_INPUT', `fixed-point input has ${c} channels, the network takes ${net.layers[0].cin}`);
  if (length !== n * h * w * c) throw new PsicError('BAD_INPUT', `fixed-point input has ${length} values, expected ${n}x${h}x${w}x${c}`);
}

/** One layer: integer HWC in, integer HWC out. */
export function runQuantizedLayer(net: FixedPointNetwork, layer: QuantizedLayer, x: FixedTensor, opts: RunOptions = {}): FixedTensor {
  const { kind, kernel, stride, cin, cout } = layer;
  if (x.c !== cin) throw new PsicError('BAD_INPUT', `layer takes ${cin} channels, got ${x.c}`);
  if (!Number.isInteger(x.h) || !Number.isInteger(x.w) || x.h < 1 || x.w < 1 || x.data.length !== x.h * x.w * x.c) {
    throw new PsicError('BAD_INPUT', `layer input of ${x.data.length} values does not match ${x.h}x${x.w}x${x.c}`);
  }
  const phasesY = axisPhases(kind, x.h, kernel, stride);
  const phasesX = axisPhases(kind, x.w, kernel, stride);
  const padY = axisPadding(phasesY, x.h, 0);
  const padX = axisPadding(phasesX, x.w, X_BLOCK - 1);
  const paddedH = padY.before + x.h + padY.after;
  const paddedW = padX.before + x.w + padX.after;
  const outH = outputSize(kind, x.h, kernel, stride);
  const outW = outputSize(kind, x.w, kernel, stride);
  if (outH < 1 || outW < 1) throw new PsicError('BAD_INPUT', `fixed-point ${kind} on ${x.h}x${x.w} has no output`);
  if (paddedH * paddedW * cin > MAX_FIXED_POINT_VALUES || outH * outW * cout > MAX_FIXED_POINT_VALUES) {
    throw new PsicError('TOO_LARGE', `fixed-point layer ${kind} on ${x.h}x${x.w}x${cin} is too large`);
  }
  const prepared = preparedWeights(layer);
  const { input, accumulate } = kernelFor(opts.kernel ?? 'auto', paddedH * paddedW * cin, prepared);
  padInto(input, x, padY.before, padX.before, paddedW);
  const acc = new Float64Array(outH * outW * cout);
  const rowStride = paddedW * cin;
  phasesY.forEach((py, iy) => {
    phasesX.forEach((px, ix) => {
      const phase = prepared[iy * stridePhases(layer) + ix];
      const tapOffsets = new Int32Array(phase.taps.length);
      phase.taps.forEach(([ty, tx], t) => {
        tapOffsets[t] = (py.taps[ty].offset * paddedW + px.taps[tx].offset) * cin;
      });
      accumulate({
        input, cin, rowStride,
        yStart: padY.before + py.inStart, yStep: py.inStep, yCount: py.count,
        xStart: padX.before + px.inStart, xStep: px.inStep, xCount: px.count,
        tapOffsets, weights: phase.weights, bias: layer.bias, cout, acc,
        outW, outY0: py.outStart, outYStep: py.outStep, outX0: px.outStart, outXStep: px.outStep,
      });
    });
  });
  return { data: requantize(net, layer, acc), h: outH, w: outW, c: cout };
}

/** The padded input buffer (zeroed) and the kernel that reads it. */
function kernelFor(choice: FixedPointKernel, inputValues: number, prepared: PreparedPhase[]): { input: Float64Array; accumulate: (job: PhaseJob) => void } {
  const wasm = choice === 'js' ? null : wasmAccumulator();
  if (choice === 'wasm' && !wasm) throw new PsicError('UNSUPPORTED', 'this engine has no WebAssembly SIMD for the fixed-point kernel');
  if (wasm) {
    const maxWeights = Math.max(...prepared.map((p) => p.weights.length));
    const maxTaps = Math.max(...prepared.map((p) => p.taps.length));
    const input = wasm.prepareLayer(inputValues, maxWeights, maxTaps);
    if (input) return { input, accumulate: (job) => wasm.accumulatePhase(job) };
    if (choice === 'wasm') throw new PsicError('TOO_LARGE', 'fixed-point layer does not fit in WebAssembly memory');
  }
  return { input: new Float64Array(inputValues), accumulate: accumulatePhase };
}

/** Copy the HWC integers into the zeroed, padded float64 buffer. */
function padInto(out: Float64Array, x: FixedTensor, top: number, left: number, paddedW: number): void {
  const rowLen = x.w * x.c;
  for (let y = 0; y < x.h; y++) {
    const src = x.data.subarray(y * rowLen, (y + 1) * rowLen);
    out.set(src, ((y + top) * paddedW + left) * x.c);
  }
}

/** floor((acc + 2^(s-1)) / 2^s), i.e. round half up, then clamp, then the activation. */
function requantize(net: FixedPointNetwork, layer: QuantizedLayer, acc: Float64Array): Int32Array {
  const { cout, shift, activation, negativeSlope } = layer;
  const limit = net.activationLimit;
  const half = new Float64Array(cout);
  const inv = new Float64Array(cout);
  for (let co = 0; co < cout; co++) {
    half[co] = shift[co] > 0 ? pow2(shift[co] - 1) : 0;
    inv[co] = pow2(-shift[co]);
  }
  const out = new Int32Array(acc.length);
  // ReLU after clamping to [-limit, limit] is clamping to [0, limit].
  const low = activation === 'relu' ? 0 : -limit;
  for (let base = 0; base < acc.length; base += cout) {
    for (let co = 0; co < cout; co++) {
      const v = Math.floor((acc[base + co] + half[co]) * inv[co]);
      out[base + co] = v > limit ? limit : v < low ? low : v;
    }
  }
  if (activation === 'leaky_relu') {
    const slopeHalf = pow2(NEGATIVE_SLOPE_BITS - 1);
    const slopeInv = pow2(-NEGATIVE_SLOPE_BITS);
    // |v| <= limit < 2^30 and slope <= 2^20: the product is exact in float64.
    for (let i = 0; i < out.length; i++) {
      const v = out[i];
      if (v < 0) out[i] = Math.floor((v * negativeSlope + slopeHalf) * slopeInv);
    }
  }
  return out;
}

// ---------------------------------------------------------------- weights per phase

interface PreparedPhase {
  /** (index into the y phase's taps, index into the x phase's taps) in weight order */
  taps: [number, number][];
  /** [coBlock][tap][cin][CO_BLOCK], zero-padded to whole channel blocks */
  weights: Float64Array;
}

const preparedCache = new WeakMap<QuantizedLayer, PreparedPhase[]>();

function stridePhases(layer: QuantizedLayer): number {
  return layer.kind === 'deconv' ? layer.stride : 1;
}

/** Interleaved float64 weights per 2-D phase; the tap structure of a phase does not depend on the input size. */
function preparedWeights(layer: QuantizedLayer): PreparedPhase[] {
  const cached = preparedCache.get(layer);
  if (cached) return cached;
  const { kind, kernel, stride, cin, cout } = layer;
  // An input of stride+1 has at least stride outputs, so it yields every phase.
  const axis: AxisPhase[] = axisPhases(kind, stride + 1, kernel, stride);
  const blocks = Math.ceil(cout / CO_BLOCK);
  const phases: PreparedPhase[] = [];
  for (const py of axis) {
    for (const px of axis) {
      const taps: [number, number][] = [];
      py.taps.forEach((_, ty) => px.taps.forEach((_, tx) => taps.push([ty, tx])));
      const weights = new Float64Array(blocks * taps.length * cin * CO_BLOCK);
      for (let co = 0; co < cout; co++) {
        const block = Math.floor(co / CO_BLOCK);
        taps.forEach(([ty, tx], t) => {
          const src = ((co * kernel + py.taps[ty].tap) * kernel + px.taps[tx].tap) * cin;
          const dst = (block * taps.length + t) * cin * CO_BLOCK + (co % CO_BLOCK);
          for (let a = 0; a < cin; a++) weights[dst + a * CO_BLOCK] = layer.weight[src + a];
        });
      }
      phases.push({ taps, weights });
    }
  }
  preparedCache.set(layer, phases);
  return phases;
}
