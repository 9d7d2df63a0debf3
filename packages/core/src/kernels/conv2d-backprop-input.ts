/**
 * Conv2DBackpropInput (tf.conv2dTranspose, and the input gradient of every
 * tf.conv2d) as stride-1 forward convolutions, by sub-pixel decomposition.
 *
 * tfjs-wasm's own kernel for it is a scalar C++ loop; on a 768x512 decode it
 * took 12.4 of 14.1 s. The identity used, per axis (shown for rows):
 *   dx[i] = sum over (oh, kh) with oh*s + kh - pad = i of dy[oh] * W[kh]
 * Write i = a*s + ph (phase ph in [0, s)). Then kh = r + m*s with
 * r = (ph + pad) mod s, and oh = a + c - m with c = floor((ph + pad) / s): each
 * phase is a stride-1 correlation of dy with the phase's taps of W (reversed).
 * All s*s phases read dy rows in a common window a+lo .. a+lo+T-1, so they are
 * computed either
 *  - 'stacked': one stride-1 conv whose s*s*CI output channels are the phases
 *    (taps a phase lacks are zeros in the T x U filter), then interleaved
 *    (a depthToSpace, done as a transpose); or
 *  - 'phases': one conv per phase with only its own taps, concatenated along
 *    channels, then interleaved the same way;
 * choosing by an estimate of the multiply-adds (see chooseStrategy). Both run on
 * the backend's forward convolution (XNNPACK on wasm). Stride 1 is the same
 * code with one phase: a single conv with the flipped filter.
 */
import * as tf from '@tensorflow/tfjs-core';
import { borrow, handBack, type OutputBackend } from './kernel-io.js';

export interface Conv2DBackpropInputAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
}

export type BackpropInputStrategy = 'auto' | 'stacked' | 'phases';

/** One phase along one axis: output rows a*s + phase, read from dy rows a + c - m by taps k = r + m*s. */
interface Phase {
  /** first dy row offset of this phase's window (relative to block a) */
  lo: number;
  /** kernel index of window position t (t = 0 .. taps-1): the phase's taps, reversed so it is a correlation */
  kernelAt: number[];
}

/** The decomposition of one spatial axis. */
interface AxisPlan {
  stride: number;
  /** output blocks: ceil(size / stride); the last may run past `size` and is cropped */
  blocks: number;
  /** dy length along the axis */
  dyLen: number;
  phases: Phase[];
  /** common window of all phases: dy rows a+lo .. a+lo+window-1 */
  lo: number;
  window: number;
}

function planAxis(size: number, dyLen: number, k: number, s: number, padBefore: number): AxisPlan {
  const blocks = Math.ceil(size / s);
  const phases: Phase[] = [];
  for (let ph = 0; ph < s; ph++) {
    const r = (((ph + padBefore) % s) + s) % s;
    const c = Math.floor((ph + padBefore) / s);
    const taps = r < k ? Math.ceil((k - r) / s) : 0;
    // tap m reads dy row a + c - m; window position t = m' runs from the lowest row (m = taps-1) up
    const kernelAt: number[] = [];
    for (let t = 0; t < taps; t++) kernelAt.push(r + (taps - 1 - t) * s);
    phases.push({ lo: c - taps + 1, kernelAt });
  }
  const live = phases.filter((p) => p.kernelAt.length > 0);
  const lo = Math.min(...live.map((p) => p.lo));
  const hi = Math.max(...live.map((p) => p.lo + p.kernelAt.length - 1));
  return { stride: s, blocks, dyLen, phases, lo, window: hi - lo + 1 };
}

/** Padding (positive) or cropping (negative) of dy so that a stride-1 'valid' conv with window `len` starting at `lo` yields `blocks` outputs. */
function edges(plan: AxisPlan, lo: number, len: number): [number, number] {
  const first = lo; // dy row read first, by block 0
  const last = plan.blocks - 1 + lo + len - 1; // dy row read last, by the last block
  return [-first, last - (plan.dyLen - 1)];
}

/** Pad (>0) / crop (<0) dy rows and columns, returning dy and the explicit padding left for the conv. */
function prepare(dy: tf.Tensor4D, rows: [number, number], cols: [number, number]): [tf.Tensor4D, 'valid' | tf.backend_util.ExplicitPadding] {
  const crop = [Math.max(0, -rows[0]), Math.max(0, -rows[1]), Math.max(0, -cols[0]), Math.max(0, -cols[1])];
  let x = dy;
  if (crop.some((v) => v > 0)) {
    const [n, h, w, c] = dy.shape;
    x = tf.slice(dy, [0, crop[0], crop[2], 0], [n, h - crop[0] - crop[1], w - crop[2] - crop[3], c]);
  }
  const pad = [Math.max(0, rows[0]), Math.max(0, rows[1]), Math.max(0, cols[0]), Math.max(0, cols[1])];
  if (pad.every((v) => v === 0)) return [x, 'valid'];
  return [
    x,
    [
      [0, 0],
      [pad[0], pad[1]],
      [pad[2], pad[3]],
      [0, 0],
    ],
  ];
}

/**
 * Which filter tap feeds each (window row t, window column u, output channel
 * block p) of a stride-1 conv filter [T, U, CO, P*CI]: kh*KW + kw, or -1 for
 * a zero. Block p = the p-th of `phasePairs`, whose taps sit at window offsets
 * relative to (rowLo, colLo).
 */
function tapTable(rows: AxisPlan, cols: AxisPlan, phasePairs: Array<[number, number]>, rowLo: number, colLo: number, T: number, U: number, KW: number): Int32Array {
  const P = phasePairs.length;
  const taps = new Int32Array(T * U * P).fill(-1);
  phasePairs.forEach(([ph, pw], p) => {
    const pr = rows.phases[ph];
    const pc = cols.phases[pw];
    pr.kernelAt.forEach((kh, ti) => {
      const t = pr.lo + ti - rowLo;
      pc.kernelAt.forEach((kw, ui) => {
        taps[(t * U + pc.lo + ui - colLo) * P + p] = kh * KW + kw;
      });
    });
  });
  return taps;
}

/**
 * The rearranged filter [T, U, CO, P*CI] from W [KH, KW, CI, CO]. Built in JS
 * from the filter's values (well under 1 ms for 5x5x64x64 -> 3x3x64x256),
 * except while a gradient tape is recording this call directly (not inside
 * the kernel): then it is a one-hot matMul (exact: each output is 1*w plus
 * zeros), which is differentiable on every backend. Not a gather: tfjs-wasm
 * has no UnsortedSegmentSum for its gradient, and its Gather, StridedSlice
 * and Reverse are scalar loops (a gather took 2-3 ms per filter, ~7% of a
 * training step).
 */
function buildFilter(filter: tf.Tensor4D, taps: Int32Array, T: number, U: number, P: number): tf.Tensor4D {
  const [KH, KW, CI, CO] = filter.shape;
  if (tf.engine().isTapeOn()) {
    const select = new Float32Array(taps.length * KH * KW);
    taps.forEach((k, i) => {
      if (k >= 0) select[i * KH * KW + k] = 1;
    });
    const wt = tf.reshape(tf.transpose(filter, [0, 1, 3, 2]), [KH * KW, CO * CI]);
    const g = tf.matMul(tf.tensor2d(select, [taps.length, KH * KW]), wt); // [(t, u, p), (co, ci)]
    return tf.reshape(tf.transpose(tf.reshape(g, [T * U, P, CO, CI]), [0, 2, 1, 3]), [T, U, CO, P * CI]);
  }
  const w = filter.dataSync() as Float32Array;
  const g = new Float32Array(T * U * CO * P * CI);
  for (let tu = 0; tu < T * U; tu++) {
    for (let p = 0; p < P; p++) {
      const k = taps[tu * P + p];
      if (k < 0) continue;
      for (let co = 0; co < CO; co++) {
        const dst = (tu * CO + co) * P * CI + p * CI;
        const src = k * CI * CO + co;
        for (let ci = 0; ci < CI; ci++) g[dst + ci] = w[src + ci * CO];
      }
    }
  }
  return tf.tensor4d(g, [T, U, CO, P * CI], 'float32');
}

/**
 * Estimated cost of each decomposition: filter taps times output channels,
 * rounded up to the 8-wide register tiles of XNNPACK's wasm SIMD GEMM (so a
 * 3-channel output costs like 8). The stacked conv multiplies the zero taps of
 * the common window too; the per-phase convs skip them but each writes a thin
 * output (CI channels), and their concat costs an extra copy of the result.
 * Measured on wasm (tools/bench/conv-transpose.mjs): for k5 s2, phases is
 * 15-30% faster at CI = 64..128 and 60-75% slower at CI = 3.
 */
function chooseStrategy(rows: AxisPlan, cols: AxisPlan, ci: number): 'stacked' | 'phases' {
  const phases = rows.stride * cols.stride;
  if (phases === 1) return 'stacked';
  const tile = (c: number) => Math.ceil(c / 8) * 8;
  let ownTaps = 0;
  for (const pr of rows.phases) for (const pc of cols.phases) ownTaps += pr.kernelAt.length * pc.kernelAt.length;
  const stacked = rows.window * cols.window * tile(phases * ci);
  const separate = ownTaps * tile(ci);
  return separate < 0.85 * stacked ? 'phases' : 'stacked';
}

/**
 * [N, A, B, sh*sw*CI] with channel block ph*sw + pw -> [N, A*sh, B*sw, CI].
 * This is depthToSpace when sh = sw, but tfjs-wasm's DepthToSpace is a scalar
 * loop (370-530 ms for 8x64x64x256 here, more than the conv before it), while
 * this 4-D transpose takes ~27 ms; the reshapes are free.
 */
function interleave(y: tf.Tensor4D, sh: number, sw: number, ci: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return y;
  const [n, a, b] = y.shape;
  // (n, a, b, ph, pw, ci) -> (n, a, ph, b, pw, ci); [pw, ci] stays contiguous
  const t = tf.transpose(tf.reshape(y, [n * a, b, sh, sw * ci]), [0, 2, 1, 3]);
  return tf.reshape(t, [n, a * sh, b * sw, ci]);
}

/**
 * The forward conv's geometry. tfjs's conv2d gradient drops dimRoundingMode
 * when it calls this kernel, so if dy does not fit the given rounding, the
 * rounding that produced dy's shape is used (tfjs's own kernels silently read
 * dy with the wrong size then).
 */
function geometry(dyShape: number[], filterShape: [number, number, number, number], attrs: Conv2DBackpropInputAttrs): tf.backend_util.Conv2DInfo {
  const fits = (i: tf.backend_util.Conv2DInfo) => i.outShape.every((v, d) => v === dyShape[d]);
  const modes = [attrs.dimRoundingMode, 'floor', 'ceil', 'round'] as const;
  let first: tf.backend_util.Conv2DInfo | undefined;
  for (const mode of modes) {
    if (mode !== attrs.dimRoundingMode && typeof attrs.pad !== 'number') break; // rounding only matters for a numeric pad
    const info = tf.backend_util.computeConv2DInfo(attrs.inputShape, filterShape, attrs.strides, 1, attrs.pad, mode, false, 'channelsLast');
    first ??= info;
    if (fits(info)) return info;
  }
  throw new Error(`Conv2DBackpropInput: dy shape [${dyShape}] does not match the conv output [${first!.outShape}]`);
}

/**
 * The input gradient of a conv (= conv2dTranspose of dy) with plain tfjs ops
 * on whatever backend is active. dy [N, OH, OW, CO], filter [KH, KW, CI, CO].
 */
export function conv2dBackpropInputViaConv(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  attrs: Conv2DBackpropInputAttrs,
  strategy: BackpropInputStrategy = 'auto',
): tf.Tensor4D {
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') throw new Error('Conv2DBackpropInput: only NHWC is supported');
  const inputShape = attrs.inputShape;
  const info = geometry(dy.shape, filter.shape, attrs);
  const [n, h, w, ci] = inputShape;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, padInfo } = info;
  const rows = planAxis(h, dy.shape[1], kh, sh, padInfo.top);
  const cols = planAxis(w, dy.shape[2], kw, sw, padInfo.left);
  const how = strategy === 'auto' ? chooseStrategy(rows, cols, ci) : strategy;

  return tf.tidy(() => {
    let y: tf.Tensor4D;
    if (how === 'stacked') {
      const pairs: Array<[number, number]> = [];
      for (let ph = 0; ph < sh; ph++) for (let pw = 0; pw < sw; pw++) pairs.push([ph, pw]);
      const taps = tapTable(rows, cols, pairs, rows.lo, cols.lo, rows.window, cols.window, kw);
      const g = buildFilter(filter, taps, rows.window, cols.window, pairs.length);
      const [x, pad] = prepare(dy, edges(rows, rows.lo, rows.window), edges(cols, cols.lo, cols.window));
      y = tf.conv2d(x, g, 1, pad, 'NHWC');
    } else {
      const parts: tf.Tensor4D[] = [];
      for (let ph = 0; ph < sh; ph++) {
        for (let pw = 0; pw < sw; pw++) {
          const pr = rows.phases[ph];
          const pc = cols.phases[pw];
          const T = pr.kernelAt.length;
          const U = pc.kernelAt.length;
          if (T === 0 || U === 0) {
            parts.push(tf.zeros([n, rows.blocks, cols.blocks, ci], dy.dtype) as tf.Tensor4D);
            continue;
          }
          const g = buildFilter(filter, tapTable(rows, cols, [[ph, pw]], pr.lo, pc.lo, T, U, kw), T, U, 1);
          const [x, pad] = prepare(dy, edges(rows, pr.lo, T), edges(cols, pc.lo, U));
          parts.push(tf.conv2d(x, g, 1, pad, 'NHWC'));
        }
      }
      y = parts.length === 1 ? parts[0] : tf.concat(parts, 3);
    }
    y = interleave(y, sh, sw, ci);
    if (y.shape[1] !== h || y.shape[2] !== w) y = tf.slice(y, [0, 0, 0, 0], [n, h, w, ci]);
    return y;
  });
}

const ours = new Set<tf.KernelFunc>();
/** The backends' own kernels, kept for the cases handed back to them and for unregistering. */
const originals = new Map<string, tf.KernelConfig>();

function makeKernel(backendName: string): tf.KernelFunc {
  const kernelFunc: tf.KernelFunc = (args) => {
    const { inputs, attrs, backend } = args;
    const a = attrs as unknown as Conv2DBackpropInputAttrs;
    const dyInfo = inputs.dy as tf.TensorInfo;
    const filterInfo = inputs.filter as tf.TensorInfo;
    // NCHW and non-float inputs are rare; the backend's own kernel handles them
    const unusual = (a.dataFormat !== undefined && a.dataFormat !== 'NHWC') || dyInfo.dtype !== 'float32' || filterInfo.dtype !== 'float32';
    if (unusual) {
      const original = originals.get(backendName);
      if (original) return original.kernelFunc(args);
      throw new Error('Conv2DBackpropInput: only NHWC float32 is supported');
    }
    const b = backend as OutputBackend;
    const dy = borrow(dyInfo, b) as tf.Tensor4D;
    const filter = borrow(filterInfo, b) as tf.Tensor4D;
    let result: tf.Tensor4D;
    try {
      result = conv2dBackpropInputViaConv(dy, filter, a);
    } finally {
      tf.dispose([dy, filter]);
    }
    return handBack(result, b, 'Conv2DBackpropInput');
  };
  ours.add(kernelFunc);
  return kernelFunc;
}

/**
 * Replace Conv2DBackpropInput on the given backends (those whose backend is
 * registered, i.e. its package imported; others are skipped). Idempotent. The
 * backend's original kernel is kept for NCHW / non-float32 inputs, and its
 * setupFunc is carried over: when this runs before the backend initialises
 * (as in selectBackend), that setup is what binds the original's wasm function.
 * Default wasm only: on cpu this ran at 0.5-0.7x the cpu backend's own kernel
 * (cpu's Conv2D is a JS loop too, and its backprop kernel skips the zero taps).
 * Call it before anything else that replaces Conv2DBackpropInput (e.g. torch
 * kernels): whatever is registered at that time becomes the fallback.
 */
export function registerFastConv2dBackpropInput(backends: string[] = ['wasm']): void {
  for (const backendName of backends) {
    if (!tf.findBackendFactory(backendName)) continue;
    const current = tf.getKernel('Conv2DBackpropInput', backendName);
    if (current && ours.has(current.kernelFunc)) continue;
    if (current) {
      originals.set(backendName, current);
      tf.unregisterKernel('Conv2DBackpropInput', backendName);
    }
    tf.registerKernel({
      kernelName: 'Conv2DBackpropInput',
      backendName,
      kernelFunc: makeKernel(backendName),
      setupFunc: current?.setupFunc,
      disposeFunc: current?.disposeFunc,
    });
  }
}

/** Put the backends' original Conv2DBackpropInput kernels back (tests, benchmarks). */
export function unregisterFastConv2dBackpropInput(backends: string[] = ['wasm']): void {
  for (const backendName of backends) {
    const current = tf.getKernel('Conv2DBackpropInput', backendName);
    if (!current || !ours.has(current.kernelFunc)) continue;
    tf.unregisterKernel('Conv2DBackpropInput', backendName);
    const original = originals.get(backendName);
    if (original) tf.registerKernel(original);
  }
}
