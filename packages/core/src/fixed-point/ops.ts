/**
 * Integer-domain plumbing for entropy models that are more than one network:
 * channel concatenation and selection (context models feed several tensors
 * into one network), running a network from activations that are already
 * integers (the output of another network, or decoded symbols), and a
 * deterministic tanh (latent residual prediction). Everything is exact integer
 * work, or a table built with the deterministic `detTanh`, so results are the
 * same on every machine.
 */
import { detTanh, PsicError } from '@psic/entropy';
import { pow2, roundHalfAway } from './quantize.js';
import { runQuantizedLayer, type FixedTensor, type RunOptions } from './run.js';
import type { FixedPointNetwork } from './types.js';
import { trimWasmMemory } from './wasm-kernel.js';

function checkTensor(x: FixedTensor, what: string): void {
  const { h, w, c } = x;
  if (![h, w, c].every((v) => Number.isInteger(v) && v >= 1) || x.data.length !== h * w * c) {
    throw new PsicError('BAD_INPUT', `${what}: ${x.data.length} values do not make ${h}x${w}x${c}`);
  }
}

/** Stack HWC tensors of the same height and width along the channel axis, in order. */
export function concatChannels(parts: FixedTensor[]): FixedTensor {
  if (parts.length === 0) throw new PsicError('BAD_INPUT', 'concatChannels needs at least one tensor');
  const { h, w } = parts[0];
  parts.forEach((p, i) => {
    checkTensor(p, `concatChannels part ${i}`);
    if (p.h !== h || p.w !== w) throw new PsicError('BAD_INPUT', `concatChannels: part ${i} is ${p.h}x${p.w}, part 0 is ${h}x${w}`);
  });
  if (parts.length === 1) return parts[0];
  const c = parts.reduce((sum, p) => sum + p.c, 0);
  const data = new Int32Array(h * w * c);
  for (let px = 0; px < h * w; px++) {
    let at = px * c;
    for (const p of parts) {
      data.set(p.data.subarray(px * p.c, (px + 1) * p.c), at);
      at += p.c;
    }
  }
  return { data, h, w, c };
}

/** Channels [start, start + count) of an HWC tensor. */
export function sliceChannels(x: FixedTensor, start: number, count: number): FixedTensor {
  checkTensor(x, 'sliceChannels');
  if (!(Number.isInteger(start) && Number.isInteger(count) && start >= 0 && count >= 1 && start + count <= x.c)) {
    throw new PsicError('BAD_INPUT', `sliceChannels: [${start}, ${start + count}) is outside the ${x.c} channels`);
  }
  const pixels = x.h * x.w;
  const data = new Int32Array(pixels * count);
  for (let px = 0; px < pixels; px++) data.set(x.data.subarray(px * x.c + start, px * x.c + start + count), px * count);
  return { data, h: x.h, w: x.w, c: count };
}

/**
 * Run every layer of `net` on activations that are already integers with
 * `net.activationBits` fractional bits (clamped to the network's range first),
 * e.g. the output of another network of the same format.
 */
export function runFixedLayers(net: FixedPointNetwork, x: FixedTensor, opts: RunOptions = {}): FixedTensor {
  checkTensor(x, 'runFixedLayers');
  if (net.layers.length === 0) throw new PsicError('BAD_WEIGHTS', 'fixed-point network has no layers');
  if (x.c !== net.layers[0].cin) throw new PsicError('BAD_INPUT', `fixed-point input has ${x.c} channels, the network takes ${net.layers[0].cin}`);
  let out: FixedTensor = { ...x, data: clampActivations(x.data, net.activationLimit) };
  for (const layer of net.layers) out = runQuantizedLayer(net, layer, out, opts);
  trimWasmMemory();
  return out;
}

/** Copy of `data` clamped to [-limit, limit] (the runner's premise |a| <= A). */
export function clampActivations(data: Int32Array, limit: number): Int32Array {
  const out = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    out[i] = v > limit ? limit : v < -limit ? -limit : v;
  }
  return out;
}

/** tanh saturates: beyond |x| = 16 it equals 1 within 2^-46, below any representable step. */
const TANH_RANGE = 16;
const MAX_TANH_GAIN = 1024;
const tanhTables = new Map<string, Int32Array>();

/** table[i] = round(gain * tanh(i / 2^F) * 2^F) for i in [0, 16 * 2^F]: odd function, so only i >= 0. */
function tanhTable(activationBits: number, gain: number): Int32Array {
  const key = `${activationBits}:${gain}`;
  let table = tanhTables.get(key);
  if (!table) {
    const one = pow2(activationBits);
    table = new Int32Array(TANH_RANGE * one + 1);
    for (let i = 0; i < table.length; i++) table[i] = roundHalfAway(gain * detTanh(i / one) * one);
    tanhTables.set(key, table);
  }
  return table;
}

/**
 * gain * tanh(x) on integers with `activationBits` fractional bits, rounded
 * half away from zero, through a table built with the deterministic detTanh
 * (Math.tanh may differ between engines in the last bit).
 */
export function fixedTanh(x: Int32Array, activationBits: number, gain = 1): Int32Array {
  if (!(Number.isInteger(activationBits) && activationBits >= 0 && activationBits <= 16)) {
    throw new PsicError('BAD_INPUT', `fixedTanh: activationBits must be an integer in [0, 16], got ${activationBits}`);
  }
  if (!(Number.isFinite(gain) && Math.abs(gain) <= MAX_TANH_GAIN)) {
    throw new PsicError('BAD_INPUT', `fixedTanh: gain must be finite and at most ${MAX_TANH_GAIN} in size, got ${gain}`);
  }
  const table = tanhTable(activationBits, gain);
  const last = table.length - 1;
  const out = new Int32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    const t = table[v < 0 ? Math.min(-v, last) : Math.min(v, last)];
    out[i] = v < 0 ? -t : t;
  }
  return out;
}
