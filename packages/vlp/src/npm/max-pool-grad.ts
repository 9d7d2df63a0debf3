/**
 * MaxPoolGrad (the input gradient of tf.maxPool) as one tight loop over the
 * pooling windows, for the wasm and cpu backends.
 *
 * tfjs-wasm's own kernel is silently wrong when a whole window is negative
 * (FACTS.md), so @psic/core bridges the cpu kernel, which indexes through
 * TensorBuffer.get and took 5.2 of 6.7 s of face-api's age/gender input
 * gradient (batch 8) here. This one routes each output's gradient to the
 * first maximum of its window in row-major order, skipping padding, which is
 * what the cpu kernel (and TensorFlow) do: the same positions, so the same
 * results up to the order of float additions where windows overlap.
 *
 * Like depthwise-backprop-input.ts, this belongs with @psic/core's gradient
 * kernels and lives here until it moves there.
 */
import * as tf from '@tensorflow/tfjs-core';

const KERNEL = 'MaxPoolGrad';

interface Attrs {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/**
 * dx for x [n, h, w, c] (NHWC, flat) and dy [n, oh, ow, c]: each dy value is
 * added at the first maximum of its window.
 */
export function maxPoolGradValues(x: ArrayLike<number>, dy: ArrayLike<number>, info: tf.backend_util.Conv2DInfo): Float32Array {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, effectiveFilterHeight: kh, effectiveFilterWidth: kw, dilationHeight: dh, dilationWidth: dw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const dx = new Float32Array(n * h * w * c);
  for (let b = 0; b < n; b++) {
    const xBatch = b * h * w * c;
    for (let r = 0; r < oh; r++) {
      const rStart = r * sh - top;
      for (let q = 0; q < ow; q++) {
        const cStart = q * sw - left;
        const dyBase = ((b * oh + r) * ow + q) * c;
        for (let ch = 0; ch < c; ch++) {
          let best = -Infinity;
          let at = -1;
          for (let i = 0; i < kh; i += dh) {
            const xr = rStart + i;
            if (xr < 0 || xr >= h) continue;
            for (let j = 0; j < kw; j += dw) {
              const xc = cStart + j;
              if (xc < 0 || xc >= w) continue;
              const idx = xBatch + (xr * w + xc) * c + ch;
              const v = x[idx];
              if (v > best) {
                best = v;
                at = idx;
              }
            }
          }
          if (at >= 0) dx[at] += dy[dyBase + ch];
        }
      }
    }
  }
  return dx;
}

interface IoBackend extends tf.KernelBackend {
  makeOutput?(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap?(info: tf.TensorInfo): tf.backend_util.TypedArray;
  makeTensorInfo?(shape: number[], dtype: tf.DataType, values?: tf.backend_util.BackendValues): tf.TensorInfo;
}

const kernelFunc: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const b = backend as IoBackend;
  const input = inputs.input as tf.TensorInfo;
  const dy = inputs.dy as tf.TensorInfo;
  const a = attrs as unknown as Attrs;
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
  const dx = maxPoolGradValues(b.readSync(input.dataId) as Float32Array, b.readSync(dy.dataId) as Float32Array, info);
  if (b.makeOutput && b.typedArrayFromHeap) {
    const out = b.makeOutput(input.shape, 'float32');
    b.typedArrayFromHeap(out).set(dx);
    return out;
  }
  if (b.makeTensorInfo) return b.makeTensorInfo(input.shape, 'float32', dx);
  throw new Error(`${KERNEL}: unsupported backend`);
};

/**
 * Install this MaxPoolGrad on the wasm and cpu backends (those registered).
 * Cheap to call repeatedly: it re-installs only where someone (e.g. a later
 * selectBackend) replaced it.
 */
export function registerFastMaxPoolGrad(): void {
  for (const backendName of ['wasm', 'cpu']) {
    if (!tf.findBackendFactory(backendName)) continue;
    const current = tf.getKernel(KERNEL, backendName);
    if (current?.kernelFunc === kernelFunc) continue;
    if (current) tf.unregisterKernel(KERNEL, backendName);
    tf.registerKernel({ kernelName: KERNEL, backendName, kernelFunc });
  }
}
