/**
 * Conv2DBackpropFilter (the weight gradient of every convolution and of every
 * transposed convolution) as one dilated forward convolution.
 *
 * tfjs's cpu kernel for it is a naive loop that costs ~400x its arithmetic
 * (20 s for a 5x5 32->32 conv on 2x64x64 here), and the wasm backend has none
 * at all. The identity used:
 *   dW[kh, kw, ci, co] = sum_{n, oh, ow} xpad[n, oh*s + kh, ow*s + kw, ci] * dy[n, oh, ow, co]
 * is a stride-1 convolution with dilation s of xpad viewed as [ci, H, W, n]
 * (channels become the batch) by dy viewed as a filter [OH, OW, n, co]; its
 * top-left kh x kw outputs, transposed back, are dW. That runs on the
 * backend's fast forward convolution (XNNPACK on wasm).
 */
import * as tf from '@tensorflow/tfjs-core';
import { borrow, handBack, type OutputBackend } from './kernel-io.js';

interface Conv2DBackpropFilterAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

/** The filter gradient with plain tfjs ops on whatever backend is active. */
export function conv2dBackpropFilterViaConv(x: tf.Tensor4D, dy: tf.Tensor4D, attrs: Conv2DBackpropFilterAttrs): tf.Tensor4D {
  if (attrs.dataFormat !== 'NHWC') throw new Error('Conv2DBackpropFilter: only NHWC is supported');
  const info = tf.backend_util.computeConv2DInfo(x.shape, attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, outHeight: oh, outWidth: ow, padInfo } = info;
  return tf.tidy(() => {
    const [, h, w] = x.shape;
    // rows/columns the dilated conv reads: (OH-1)*s + kh from the padded top/left
    const needH = (oh - 1) * sh + kh;
    const needW = (ow - 1) * sw + kw;
    let xp: tf.Tensor4D = tf.pad(x, [[0, 0], [padInfo.top, Math.max(0, needH - h - padInfo.top)], [padInfo.left, Math.max(0, needW - w - padInfo.left)], [0, 0]]);
    xp = tf.slice(xp, [0, 0, 0, 0], [-1, needH, needW, -1]);
    const input = tf.transpose(xp, [3, 1, 2, 0]); // [ci, H, W, n]
    const filter = tf.transpose(dy, [1, 2, 0, 3]); // [OH, OW, n, co]
    const out = tf.conv2d(input as tf.Tensor4D, filter as tf.Tensor4D, 1, 'valid', 'NHWC', [sh, sw]); // [ci, kh, kw, co]
    return tf.transpose(out, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

const kernelFunc: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const b = backend as OutputBackend;
  const x = borrow(inputs.x as tf.TensorInfo, b) as tf.Tensor4D;
  const dy = borrow(inputs.dy as tf.TensorInfo, b) as tf.Tensor4D;
  const result = conv2dBackpropFilterViaConv(x, dy, attrs as unknown as Conv2DBackpropFilterAttrs);
  tf.dispose([x, dy]);
  return handBack(result, b, 'Conv2DBackpropFilter');
};

/** Replace Conv2DBackpropFilter on the given backends (registered ones only). */
export function registerFastConv2dBackpropFilter(backends: string[] = ['cpu', 'wasm']): void {
  for (const backendName of backends) {
    if (tf.getKernel('Conv2DBackpropFilter', backendName)) tf.unregisterKernel('Conv2DBackpropFilter', backendName);
    tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName, kernelFunc });
  }
}
