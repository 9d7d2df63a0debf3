/**
 * DepthwiseConv2dNativeBackpropInput (the input gradient of every depthwise
 * convolution) as one forward depthwise convolution, for the wasm backend.
 *
 * tfjs-wasm has no kernel for it; @psic/core bridges the cpu backend's naive
 * loop (wasm-kernels.ts), which took 3.6 of 6.7 s of a MobileNetV2 input
 * gradient (batch 8, 224^2) here. The identity used, per spatial axis
 * (rows shown, stride s, kernel size K, top padding p):
 *   dx[i] = sum over (o, k) with o*s + k - p = i of dy[o] * W[k]
 * Insert s-1 zeros between the rows of dy (u[o*s] = dy[o]); then
 *   dx[i] = sum_k u[i + p - k] * W[k],
 * a stride-1 correlation of u, padded by K-1-p before, with W flipped. That
 * runs on the backend's forward depthwise kernel (XNNPACK on wasm). Depth
 * multipliers other than 1 and dilations fall back to the previous kernel.
 *
 * This belongs with @psic/core's gradient kernels; it lives here until it
 * moves there (see the package README).
 */
import * as tf from '@tensorflow/tfjs-core';

const KERNEL = 'DepthwiseConv2dNativeBackpropInput';

interface Attrs {
  strides: [number, number] | number;
  dilations: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
}

const pair = (v: [number, number] | number): [number, number] => (typeof v === 'number' ? [v, v] : v);

/** dy with s-1 zero rows / columns inserted between its rows / columns: [n, (OH-1)*sh+1, (OW-1)*sw+1, c]. */
function insertZeros(dy: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return dy;
  const [n, oh, ow, c] = dy.shape;
  const spread = tf.pad(tf.reshape(dy, [n, oh, 1, ow, 1, c]), [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
  const up = tf.reshape(spread, [n, oh * sh, ow * sw, c]);
  return tf.slice(up, [0, 0, 0, 0], [-1, (oh - 1) * sh + 1, (ow - 1) * sw + 1, -1]) as tf.Tensor4D;
}

/** Pad (or crop, for negative amounts) one spatial axis of x. */
function padOrCrop(x: tf.Tensor4D, axis: 1 | 2, before: number, after: number): tf.Tensor4D {
  let out = x;
  if (before < 0 || after < 0) {
    const begin = [0, 0, 0, 0];
    const size = [-1, -1, -1, -1];
    begin[axis] = Math.max(0, -before);
    size[axis] = out.shape[axis] - Math.max(0, -before) - Math.max(0, -after);
    out = tf.slice(out, begin, size);
  }
  if (before > 0 || after > 0) {
    const paddings: [number, number][] = [[0, 0], [0, 0], [0, 0], [0, 0]];
    paddings[axis] = [Math.max(0, before), Math.max(0, after)];
    out = tf.pad(out, paddings);
  }
  return out;
}

/** The input gradient of a depthwise conv (multiplier 1, no dilation) with plain ops on the active backend. */
export function depthwiseBackpropInputViaConv(dy: tf.Tensor4D, filter: tf.Tensor4D, attrs: Attrs): tf.Tensor4D {
  const info = tf.backend_util.computeConv2DInfo(attrs.inputShape, filter.shape, attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode, true);
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, inHeight: h, inWidth: w, padInfo } = info;
  return tf.tidy(() => {
    const up = insertZeros(dy, sh, sw);
    // padded length must be H + K - 1 so a K-tap valid correlation gives H rows
    let p = padOrCrop(up, 1, kh - 1 - padInfo.top, h + kh - 1 - (kh - 1 - padInfo.top) - up.shape[1]);
    p = padOrCrop(p, 2, kw - 1 - padInfo.left, w + kw - 1 - (kw - 1 - padInfo.left) - up.shape[2]);
    const flipped = tf.reverse(filter, [0, 1]) as tf.Tensor4D;
    return tf.depthwiseConv2d(p, flipped, 1, 'valid');
  });
}

interface OutputBackend extends tf.KernelBackend {
  makeOutput?(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap?(info: tf.TensorInfo): tf.backend_util.TypedArray;
  incRef(dataId: tf.DataId): void;
}

/** A Tensor over a kernel input with its own reference, so disposing it leaves the input alone. */
function borrow(info: tf.TensorInfo, backend: OutputBackend): tf.Tensor {
  const t = tf.engine().makeTensorFromTensorInfo(info);
  backend.incRef(info.dataId);
  return t;
}

/** Hand `result` (on the same backend) over as the kernel output. */
function handBack(result: tf.Tensor, backend: OutputBackend): tf.TensorInfo {
  const { dataId, shape, dtype } = result;
  backend.incRef(dataId);
  result.dispose();
  return { dataId, shape, dtype };
}

/** The kernel function this module installed last, to tell whether it is still the registered one. */
let installed: tf.KernelFunc | undefined;

/**
 * Make the wasm backend's DepthwiseConv2dNativeBackpropInput the forward-conv
 * version, keeping the kernel it replaces for depth multipliers > 1 and
 * dilations. Cheap to call repeatedly: it re-installs only when someone (e.g.
 * a later selectBackend) replaced it. A no-op without the wasm backend.
 */
export function registerFastDepthwiseBackpropInput(): void {
  if (!tf.findBackendFactory('wasm')) return;
  const previous = tf.getKernel(KERNEL, 'wasm');
  if (previous && previous.kernelFunc === installed) return;
  const kernelFunc: tf.KernelFunc = (args) => {
    const { inputs, attrs, backend } = args;
    const a = attrs as unknown as Attrs;
    const filterInfo = inputs.filter as tf.TensorInfo;
    const simple = filterInfo.shape[3] === 1 && pair(a.dilations).every((d) => d === 1);
    if (!simple) {
      if (!previous) throw new Error(`${KERNEL}: no wasm kernel for depth multiplier ${filterInfo.shape[3]} / dilations`);
      return previous.kernelFunc(args);
    }
    const b = backend as OutputBackend;
    const dy = borrow(inputs.dy as tf.TensorInfo, b) as tf.Tensor4D;
    const filter = borrow(filterInfo, b) as tf.Tensor4D;
    try {
      return handBack(depthwiseBackpropInputViaConv(dy, filter, a), b);
    } finally {
      tf.dispose([dy, filter]);
    }
  };
  if (previous) tf.unregisterKernel(KERNEL, 'wasm');
  tf.registerKernel({ kernelName: KERNEL, backendName: 'wasm', kernelFunc });
  installed = kernelFunc;
}
