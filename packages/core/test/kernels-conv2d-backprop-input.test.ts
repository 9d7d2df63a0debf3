/**
 * Conv2DBackpropInput via sub-pixel stride-1 convolutions
 * (src/kernels/conv2d-backprop-input.ts), on the cpu and wasm backends,
 * against a float64 loop written from the definition
 *   dx[n, i, j, ci] = sum_{oh*sh + kh - padTop = i, ow*sw + kw - padLeft = j} dy[n, oh, ow, co] * W[kh, kw, ci, co]
 * and against the cpu backend's original kernel (run before ours is registered).
 * Results must agree to float32 rounding: each element within a few ulps of
 * the sum of the |terms| it is made of (a wrong tap or a one-pixel shift is
 * off by the size of the terms themselves).
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs'; // registers the gradients (and the cpu backend)
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type BackpropInputStrategy,
  type Conv2DBackpropInputAttrs,
  conv2dBackpropInputViaConv,
  registerFastConv2dBackpropInput,
  unregisterFastConv2dBackpropInput,
} from '../src/kernels/conv2d-backprop-input.js';
import { registerFastConv2dBackpropFilter } from '../src/kernels/conv2d-backprop-filter.js';

setWasmPaths(`${dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'))}/`);

type Pad = Conv2DBackpropInputAttrs['pad'];
interface Case {
  name: string;
  /** dx shape [N, H, W, CI] (= conv2dTranspose's output shape) */
  dx: [number, number, number, number];
  k: [number, number];
  co: number;
  strides: number | [number, number];
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

const CASES: Case[] = [
  // the codec's layer: conv2dTranspose(x [2,5,6,8], f, [2, 10, 12, 6], 2, 2), i.e. PyTorch padding 2, output padding 1
  { name: 'k5 s2 pad 2, output padding 1 (codec)', dx: [2, 10, 12, 6], k: [5, 5], co: 8, strides: 2, pad: 2 },
  { name: 'k5 s2 pad 2, 32 channels', dx: [1, 12, 12, 32], k: [5, 5], co: 24, strides: 2, pad: 2 },
  { name: 'k3 s1 same', dx: [1, 9, 11, 5], k: [3, 3], co: 4, strides: 1, pad: 'same' },
  { name: 'k5 s1 pad 2, batch 3', dx: [3, 7, 6, 4], k: [5, 5], co: 3, strides: 1, pad: 2 },
  { name: 'k5 s2 same', dx: [2, 16, 14, 3], k: [5, 5], co: 5, strides: 2, pad: 'same' },
  { name: 'k4 s2 pad 1', dx: [1, 12, 10, 4], k: [4, 4], co: 3, strides: 2, pad: 1 },
  { name: 'k3 s3 valid (last row uncovered)', dx: [1, 13, 14, 4], k: [3, 3], co: 3, strides: 3, pad: 'valid' },
  { name: 'k5 s2 pad 2, odd sizes', dx: [1, 15, 13, 5], k: [5, 5], co: 7, strides: 2, pad: 2 },
  { name: 'k3 s2 same, odd sizes', dx: [1, 7, 9, 3], k: [3, 3], co: 2, strides: 2, pad: 'same' },
  { name: 'k5 s2 pad 2, batch 3', dx: [3, 8, 8, 4], k: [5, 5], co: 5, strides: 2, pad: 2 },
  { name: 'k1 s1', dx: [2, 5, 4, 3], k: [1, 1], co: 6, strides: 1, pad: 'valid' },
  { name: 'k1 s2 valid (empty phases)', dx: [1, 10, 9, 2], k: [1, 1], co: 3, strides: 2, pad: 'valid' },
  { name: 'k3 s4 same (kernel smaller than stride)', dx: [1, 10, 11, 2], k: [3, 3], co: 3, strides: 4, pad: 'same' },
  {
    name: 'k4x5 strides 2x3, explicit uneven pad',
    dx: [1, 13, 14, 4],
    k: [4, 5],
    co: 3,
    strides: [2, 3],
    pad: [
      [0, 0],
      [1, 2],
      [0, 3],
      [0, 0],
    ],
  },
  { name: 'k3 s2 pad 1, ceil rounding', dx: [1, 8, 9, 3], k: [3, 3], co: 4, strides: 2, pad: 1, dimRoundingMode: 'ceil' },
  { name: 'k5 s2 pad 4 (pad beyond the kernel centre)', dx: [1, 9, 10, 3], k: [5, 5], co: 2, strides: 2, pad: 4 },
];

function attrsOf(c: Case): Conv2DBackpropInputAttrs {
  return { inputShape: c.dx, strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: c.dimRoundingMode };
}

function geometry(c: Case) {
  const filterShape: [number, number, number, number] = [c.k[0], c.k[1], c.dx[3], c.co];
  const info = tf.backend_util.computeConv2DInfo(c.dx, filterShape, c.strides, 1, c.pad, c.dimRoundingMode, false, 'channelsLast');
  return { info, filterShape, dyShape: info.outShape as [number, number, number, number] };
}

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1;
  }
  return out;
}

interface Reference {
  /** dx in float64 */
  dx: Float64Array;
  /** per element, the sum of |terms| (the scale of float32 rounding) */
  abs: Float64Array;
  /** gradients of sum(g * conv2dTranspose(dy, W)) w.r.t. dy and W, float64 */
  gDy: Float64Array;
  gW: Float64Array;
}

/** The definition, in float64. `g` (shaped like dx) is the upstream gradient for the transposed conv's gradients. */
function reference(c: Case, dy: Float32Array, w: Float32Array, g?: Float32Array): Reference {
  const { info, dyShape } = geometry(c);
  const [n, h, wd, ci] = c.dx;
  const [, oh, ow, co] = dyShape;
  const [kh, kw] = c.k;
  const { strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const dx = new Float64Array(n * h * wd * ci);
  const abs = new Float64Array(dx.length);
  const gDy = new Float64Array(dy.length);
  const gW = new Float64Array(w.length);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < oh; y++)
      for (let x = 0; x < ow; x++)
        for (let p = 0; p < kh; p++) {
          const i = y * sh + p - top;
          if (i < 0 || i >= h) continue;
          for (let q = 0; q < kw; q++) {
            const j = x * sw + q - left;
            if (j < 0 || j >= wd) continue;
            for (let c1 = 0; c1 < ci; c1++) {
              const o = ((b * h + i) * wd + j) * ci + c1;
              for (let c2 = 0; c2 < co; c2++) {
                const d = ((b * oh + y) * ow + x) * co + c2;
                const f = ((p * kw + q) * ci + c1) * co + c2;
                const t = dy[d] * w[f];
                dx[o] += t;
                abs[o] += Math.abs(t);
                if (g) {
                  gDy[d] += g[o] * w[f];
                  gW[f] += g[o] * dy[d];
                }
              }
            }
          }
        }
  return { dx, abs, gDy, gW };
}

/** Largest error in units of the float32 rounding scale of each element (sum of |terms| times 2^-24). */
function ulpsOff(got: ArrayLike<number>, ref: Reference): number {
  expect(got.length).toBe(ref.dx.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const scale = Math.max(ref.abs[i], 1e-30) * 2 ** -24;
    worst = Math.max(worst, Math.abs(got[i] - ref.dx[i]) / scale);
  }
  return worst;
}

function maxRel(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < got.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return err / scale;
}

// sums of up to 25*32 float32 products: a handful of ulps of the |terms| is rounding, a wrong term is ~2^24
const ULPS = 64;

interface Inputs {
  dy: Float32Array;
  w: Float32Array;
  g: Float32Array;
  ref: Reference;
}
const inputs = new Map<string, Inputs>();
/** Outputs of the cpu backend's original kernels, computed before anything is registered. */
const original = new Map<string, { dx: Float32Array; gradConvX: Float32Array; gradTX: Float32Array; gradTW: Float32Array }>();

function inputsOf(c: Case): Inputs {
  let v = inputs.get(c.name);
  if (!v) {
    const { dyShape, filterShape } = geometry(c);
    const dy = values(dyShape.reduce((a, b) => a * b), 1);
    const w = values(filterShape.reduce((a, b) => a * b), 2);
    const g = values(c.dx.reduce((a, b) => a * b), 3);
    v = { dy, w, g, ref: reference(c, dy, w, g) };
    inputs.set(c.name, v);
  }
  return v;
}

/** The tensors of a case on the active backend. */
function tensors(c: Case) {
  const { dyShape, filterShape } = geometry(c);
  const v = inputsOf(c);
  return {
    dy: tf.tensor4d(v.dy, dyShape),
    w: tf.tensor4d(v.w, filterShape),
    g: tf.tensor4d(v.g, c.dx),
  };
}

function runKernel(c: Case, dy: tf.Tensor, w: tf.Tensor): tf.Tensor4D {
  return tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, attrsOf(c) as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/** Gradients through conv2d (w.r.t. its input: a Conv2DBackpropInput) and through conv2dTranspose (w.r.t. x and filter). */
function gradients(c: Case, dy: tf.Tensor4D, w: tf.Tensor4D, g: tf.Tensor4D) {
  const pad = c.pad as 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
  const conv = (x: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w, c.strides, pad, 'NHWC', 1, c.dimRoundingMode);
  // the input gradient of conv2d at any x, for upstream gradient dy
  const gradConvX = tf.grad(conv)(tf.zeros(c.dx), dy);
  // conv2dTranspose(x = dy-shaped, filter) with upstream g: gradient w.r.t. x is a conv2d, w.r.t. the filter a Conv2DBackpropFilter
  const [gradTX, gradTW] = tf.grads((x: tf.Tensor, f: tf.Tensor) => tf.conv2dTranspose(x as tf.Tensor4D, f as tf.Tensor4D, c.dx, c.strides, pad, c.dimRoundingMode))(
    [dy, w],
    g,
  );
  return { gradConvX, gradTX, gradTW };
}

beforeAll(async () => {
  // the references from the cpu backend's own kernels, before ours replace them
  unregisterFastConv2dBackpropInput(['cpu', 'wasm']);
  await tf.setBackend('cpu');
  for (const c of CASES) {
    tf.tidy(() => {
      const { dy, w, g } = tensors(c);
      const dx = runKernel(c, dy, w).dataSync() as Float32Array;
      const r = gradients(c, dy, w, g);
      original.set(c.name, {
        dx,
        gradConvX: r.gradConvX.dataSync() as Float32Array,
        gradTX: r.gradTX.dataSync() as Float32Array,
        gradTW: r.gradTW.dataSync() as Float32Array,
      });
    });
  }
  // wasm has no Conv2DBackpropFilter (conv2dTranspose's filter gradient)
  await tf.setBackend('wasm');
  registerFastConv2dBackpropFilter(['wasm']);
  registerFastConv2dBackpropInput(['cpu', 'wasm']);
});

describe('the reference check', () => {
  it("accepts the cpu backend's original kernel and rejects a one-pixel shift or a wrong weight", () => {
    for (const c of CASES) {
      const { ref } = inputsOf(c);
      expect(ulpsOff(original.get(c.name)!.dx, ref), c.name).toBeLessThan(ULPS);
    }
    const c = CASES[0];
    const { ref } = inputsOf(c);
    const shifted = Float64Array.from(ref.dx);
    shifted.copyWithin(c.dx[3], 0); // every pixel moved right by one
    expect(ulpsOff(shifted, ref)).toBeGreaterThan(1e4);
    // one filter weight off by 1 (as a wrong tap would be)
    const w = Float32Array.from(inputsOf(c).w);
    w[w.length >> 1] += 1;
    expect(ulpsOff(reference(c, inputsOf(c).dy, w).dx, ref)).toBeGreaterThan(1e4);
  });
});

describe.each(['cpu', 'wasm'] as const)('on %s', (backendName) => {
  beforeAll(async () => {
    await tf.setBackend(backendName);
    expect(tf.getBackend()).toBe(backendName);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s: every decomposition matches the definition', (_name, c) => {
    const before = tf.memory().numTensors;
    const { ref } = inputsOf(c);
    for (const strategy of ['auto', 'stacked', 'phases'] as BackpropInputStrategy[]) {
      const got = tf.tidy(() => {
        const { dy, w } = tensors(c);
        return conv2dBackpropInputViaConv(dy, w, attrsOf(c), strategy).dataSync();
      });
      expect(ulpsOff(got, ref), strategy).toBeLessThan(ULPS);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s: called directly under a gradient tape, it is differentiable in dy and the filter', (_name, c) => {
    const before = tf.memory().numTensors;
    const { ref } = inputsOf(c);
    tf.tidy(() => {
      const { dy, w, g } = tensors(c);
      for (const strategy of ['stacked', 'phases'] as BackpropInputStrategy[]) {
        const f = (a: tf.Tensor, b: tf.Tensor) => conv2dBackpropInputViaConv(a as tf.Tensor4D, b as tf.Tensor4D, attrsOf(c), strategy);
        const { value, grads } = tf.valueAndGrads(f)([dy, w], g);
        expect(ulpsOff(value.dataSync(), ref), strategy).toBeLessThan(ULPS);
        expect(maxRel(grads[0].dataSync(), ref.gDy), strategy).toBeLessThan(1e-4);
        expect(maxRel(grads[1].dataSync(), ref.gW), strategy).toBeLessThan(1e-4);
      }
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s: the registered kernel matches the definition and the original', (_name, c) => {
    const before = tf.memory();
    const got = tf.tidy(() => {
      const { dy, w } = tensors(c);
      return runKernel(c, dy, w).dataSync();
    });
    expect(ulpsOff(got, inputsOf(c).ref)).toBeLessThan(ULPS);
    expect(maxRel(got, original.get(c.name)!.dx)).toBeLessThan(1e-5);
    const after = tf.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numBytes).toBe(before.numBytes);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s: gradients through conv2d and conv2dTranspose', (_name, c) => {
    const before = tf.memory().numTensors;
    const { ref } = inputsOf(c);
    const orig = original.get(c.name)!;
    tf.tidy(() => {
      const { dy, w, g } = tensors(c);
      const r = gradients(c, dy, w, g);
      const gradConvX = r.gradConvX.dataSync();
      expect(ulpsOff(gradConvX, ref)).toBeLessThan(ULPS);
      // tfjs's conv2d gradient drops dimRoundingMode: its own kernels then read dy with the wrong size
      if (!c.dimRoundingMode) expect(maxRel(gradConvX, orig.gradConvX)).toBeLessThan(1e-4);
      else expect(maxRel(orig.gradConvX, ref.dx)).toBeGreaterThan(1e-2);
      // conv2dTranspose's x-gradient is a Conv2D, not our kernel; wasm's Conv2D is wrong with dimRoundingMode 'ceil'
      // (XNNPACK sizes the output with floor and leaves the extra row/column unwritten)
      if (!(backendName === 'wasm' && c.dimRoundingMode)) {
        expect(maxRel(r.gradTX.dataSync(), ref.gDy)).toBeLessThan(1e-4);
        expect(maxRel(r.gradTX.dataSync(), orig.gradTX)).toBeLessThan(1e-4);
      }
      expect(maxRel(r.gradTW.dataSync(), ref.gW)).toBeLessThan(1e-4);
      expect(maxRel(r.gradTW.dataSync(), orig.gradTW)).toBeLessThan(1e-4);
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('NCHW goes to the original kernel', () => {
    const c = CASES[0];
    const [n, h, w, ci] = c.dx;
    const run = () =>
      tf.tidy(() => {
        const { dy, w: f } = tensors(c);
        const attrs = { ...attrsOf(c), dataFormat: 'NCHW', inputShape: [n, ci, h, w] };
        const out = tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.transpose(dy, [0, 3, 1, 2]), filter: f }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
        return tf.transpose(out, [0, 2, 3, 1]).dataSync();
      });
    expect(ulpsOff(run(), inputsOf(c).ref)).toBeLessThan(ULPS);
  });
});

describe('registration', () => {
  it('is idempotent and can be undone', async () => {
    await tf.setBackend('cpu');
    const ours = tf.getKernel('Conv2DBackpropInput', 'cpu')!.kernelFunc;
    registerFastConv2dBackpropInput(['cpu']);
    expect(tf.getKernel('Conv2DBackpropInput', 'cpu')!.kernelFunc).toBe(ours);
    unregisterFastConv2dBackpropInput(['cpu']);
    const theirs = tf.getKernel('Conv2DBackpropInput', 'cpu')!.kernelFunc;
    expect(theirs).not.toBe(ours);
    registerFastConv2dBackpropInput(['cpu']);
    expect(tf.getKernel('Conv2DBackpropInput', 'cpu')!.kernelFunc).not.toBe(theirs);
    // a backend that is not registered is skipped
    registerFastConv2dBackpropInput(['no-such-backend']);
    expect(tf.getKernel('Conv2DBackpropInput', 'no-such-backend')).toBeUndefined();
  });
});
