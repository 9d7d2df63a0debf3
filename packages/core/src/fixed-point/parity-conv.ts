/**
 * A stride-1 convolution evaluated on one colour of a checkerboard: only the
 * outputs at (y, x) with (y + x) % 2 === parity are computed, and only the
 * taps with a nonzero weight are read. This is the checkerboard context model
 * of He et al. 2021: its masked 5x5 kernel keeps the 12 taps of the other
 * colour, and the context is only needed at the non-anchor positions, so the
 * work is about a quarter of a dense conv.
 *
 * Positions of the other colour are 0 in the output ("no context"), which is
 * what the float model feeds the entropy parameters at the anchors.
 *
 * Each colour is two regular sub-grids with step 2 on both axes, (even row,
 * column parity p) and (odd row, 1 - p), so the same exact multiply-accumulate
 * kernels as the dense runner do the work (wasm SIMD or JS, identical integers)
 * and the requantization follows run.ts exactly.
 */
import { PsicError } from '@psic/entropy';
import { accumulatePhase, CO_BLOCK, X_BLOCK, type PhaseJob } from './kernel.js';
import { pow2 } from './quantize.js';
import { MAX_FIXED_POINT_VALUES, type FixedTensor, type RunOptions } from './run.js';
import { NEGATIVE_SLOPE_BITS, type FixedPointNetwork, type QuantizedLayer } from './types.js';
import { trimWasmMemory, wasmAccumulator } from './wasm-kernel.js';

interface PreparedTaps {
  /** (ty, tx) of the taps with a nonzero weight for some output channel */
  taps: [number, number][];
  /** [coBlock][tap][cin][CO_BLOCK], zero-padded to whole channel blocks */
  weights: Float64Array;
}

const prepared = new WeakMap<QuantizedLayer, PreparedTaps>();

/** Outputs of `layer` (a stride-1 conv of `net`) at the positions of one checkerboard colour; 0 elsewhere. */
export function runParityConv(net: FixedPointNetwork, layer: QuantizedLayer, x: FixedTensor, parity: 0 | 1, opts: RunOptions = {}): FixedTensor {
  const { kernel, cin, cout } = layer;
  if (layer.kind !== 'conv' || layer.stride !== 1 || kernel % 2 !== 1) {
    throw new PsicError('BAD_WEIGHTS', `a checkerboard conv must be a stride-1 conv with an odd kernel (got ${layer.kind}, stride ${layer.stride}, kernel ${kernel})`);
  }
  if (parity !== 0 && parity !== 1) throw new PsicError('BAD_INPUT', `parity must be 0 or 1, got ${String(parity)}`);
  if (x.c !== cin) throw new PsicError('BAD_INPUT', `layer takes ${cin} channels, got ${x.c}`);
  const { h, w } = x;
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1 || x.data.length !== h * w * cin) {
    throw new PsicError('BAD_INPUT', `layer input of ${x.data.length} values does not match ${h}x${w}x${cin}`);
  }
  const pad = (kernel - 1) / 2;
  // Columns: a block of X_BLOCK outputs 2 apart reads 2 * (X_BLOCK - 1) columns past its last real output.
  const paddedW = w + 2 * pad + 2 * (X_BLOCK - 1) + 1;
  const paddedH = h + 2 * pad;
  if (paddedH * paddedW * cin > MAX_FIXED_POINT_VALUES || h * w * cout > MAX_FIXED_POINT_VALUES) {
    throw new PsicError('TOO_LARGE', `fixed-point checkerboard conv on ${h}x${w}x${cin} is too large`);
  }
  const { taps, weights } = preparedTaps(layer);
  const { input, accumulate } = kernelFor(opts.kernel ?? 'auto', paddedH * paddedW * cin, weights.length, taps.length);
  const rowLen = w * cin;
  for (let y = 0; y < h; y++) input.set(x.data.subarray(y * rowLen, (y + 1) * rowLen), ((y + pad) * paddedW + pad) * cin);
  const tapOffsets = Int32Array.from(taps, ([ty, tx]) => (ty * paddedW + tx) * cin);
  // Accumulators of the other colour stay 0, and requantize to 0.
  const acc = new Float64Array(h * w * cout);
  for (const [row0, col0] of [[0, parity], [1, 1 - parity]] as const) {
    const yCount = Math.ceil((h - row0) / 2);
    const xCount = Math.ceil((w - col0) / 2);
    if (yCount < 1 || xCount < 1) continue;
    // In padded coordinates, output (oy, ox) reads rows oy .. oy + k - 1 and columns ox .. ox + k - 1.
    accumulate({
      input, cin, rowStride: paddedW * cin,
      yStart: row0, yStep: 2, yCount,
      xStart: col0, xStep: 2, xCount,
      tapOffsets, weights, bias: layer.bias, cout, acc,
      outW: w, outY0: row0, outYStep: 2, outX0: col0, outXStep: 2,
    });
  }
  const out = requantize(net, layer, acc, h, w, parity);
  trimWasmMemory();
  return { data: out, h, w, c: cout };
}

function kernelFor(choice: RunOptions['kernel'], inputValues: number, weightValues: number, taps: number): { input: Float64Array; accumulate: (job: PhaseJob) => void } {
  const wasm = choice === 'js' ? null : wasmAccumulator();
  if (choice === 'wasm' && !wasm) throw new PsicError('UNSUPPORTED', 'this engine has no WebAssembly SIMD for the fixed-point kernel');
  if (wasm) {
    const input = wasm.prepareLayer(inputValues, weightValues, Math.max(taps, 1));
    if (input) return { input, accumulate: (job) => wasm.accumulatePhase(job) };
    if (choice === 'wasm') throw new PsicError('TOO_LARGE', 'fixed-point layer does not fit in WebAssembly memory');
  }
  return { input: new Float64Array(inputValues), accumulate: accumulatePhase };
}

/** Same rounding, clamp and activation as the dense runner; positions of the other colour are forced to 0. */
function requantize(net: FixedPointNetwork, layer: QuantizedLayer, acc: Float64Array, h: number, w: number, parity: number): Int32Array {
  const { cout, shift, activation, negativeSlope } = layer;
  const limit = net.activationLimit;
  const low = activation === 'relu' ? 0 : -limit;
  const half = new Float64Array(cout);
  const inv = new Float64Array(cout);
  for (let co = 0; co < cout; co++) {
    half[co] = shift[co] > 0 ? pow2(shift[co] - 1) : 0;
    inv[co] = pow2(-shift[co]);
  }
  const slopeHalf = pow2(NEGATIVE_SLOPE_BITS - 1);
  const slopeInv = pow2(-NEGATIVE_SLOPE_BITS);
  const leaky = activation === 'leaky_relu';
  const out = new Int32Array(acc.length);
  for (let y = 0; y < h; y++) {
    for (let x = (y + parity) % 2; x < w; x += 2) {
      const base = (y * w + x) * cout;
      for (let co = 0; co < cout; co++) {
        let v = Math.floor((acc[base + co] + half[co]) * inv[co]);
        v = v > limit ? limit : v < low ? low : v;
        // |v| <= limit < 2^30 and slope <= 2^20: the product is exact in float64.
        if (leaky && v < 0) v = Math.floor((v * negativeSlope + slopeHalf) * slopeInv);
        out[base + co] = v;
      }
    }
  }
  return out;
}

/** Interleaved float64 weights of the nonzero taps, cached per layer (layers are immutable). */
function preparedTaps(layer: QuantizedLayer): PreparedTaps {
  const cached = prepared.get(layer);
  if (cached) return cached;
  const { kernel, cin, cout, weight } = layer;
  const taps: [number, number][] = [];
  for (let ty = 0; ty < kernel; ty++) {
    for (let tx = 0; tx < kernel; tx++) {
      const t = ty * kernel + tx;
      let used = false;
      for (let co = 0; co < cout && !used; co++) {
        const at = (co * kernel * kernel + t) * cin;
        for (let a = 0; a < cin; a++) if (weight[at + a] !== 0) { used = true; break; }
      }
      if (used) taps.push([ty, tx]);
    }
  }
  const blocks = Math.ceil(cout / CO_BLOCK);
  const weights = new Float64Array(blocks * taps.length * cin * CO_BLOCK);
  for (let co = 0; co < cout; co++) {
    const block = Math.floor(co / CO_BLOCK);
    taps.forEach(([ty, tx], t) => {
      const src = (co * kernel * kernel + ty * kernel + tx) * cin;
      const dst = (block * taps.length + t) * cin * CO_BLOCK + (co % CO_BLOCK);
      for (let a = 0; a < cin; a++) weights[dst + a * CO_BLOCK] = weight[src + a];
    });
  }
  const result = { taps, weights };
  prepared.set(layer, result);
  return result;
}
