/**
 * Blockwise 2-D DCT-II / DCT-III (JPEG's 8×8 transform) as differentiable
 * tfjs ops, orthonormal, so a perturbation of the coefficients has the same
 * L2 energy in pixels (Parseval) and the inverse is the transpose.
 *
 * Both directions are one strided convolution with a fixed filter whose
 * output channels are the b² basis images of each input channel: the
 * forward is conv2d(x, basis, stride b), the inverse its transpose
 * (conv2dTranspose with the same filter). The coefficients come out as
 * channels of the block grid, [N, H/b, W/b, C·b²], channel c·b² + u·b + v
 * holding frequency (u vertical, v horizontal) of input channel c — the
 * layout a convolutional trigger network reads and writes directly.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Orthonormal DCT-II matrix: row k is basis k, C[k][i] = α(k)·cos(π(2i+1)k / 2n). */
export function dctMatrix(n: number): Float64Array {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`DCT size must be a positive integer, got ${n}`);
  const m = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const alpha = k === 0 ? Math.sqrt(1 / n) : Math.sqrt(2 / n);
    for (let i = 0; i < n; i++) m[k * n + i] = alpha * Math.cos((Math.PI * (2 * i + 1) * k) / (2 * n));
  }
  return m;
}

/**
 * Frequencies of a b×b block in JPEG's zigzag order (low to high): entry z is
 * the flat index u·b + v of the z-th frequency.
 */
export function zigzagOrder(block = 8): number[] {
  const order: number[] = [];
  for (let s = 0; s <= 2 * (block - 1); s++) {
    // even anti-diagonals run bottom-left to top-right, odd ones the other way
    const cells: number[] = [];
    for (let u = Math.max(0, s - block + 1); u <= Math.min(s, block - 1); u++) cells.push(u * block + (s - u));
    order.push(...(s % 2 === 0 ? cells.reverse() : cells));
  }
  return order;
}

const filters = new Map<string, tf.Tensor4D>();

/** The [b, b, C, C·b²] filter holding every 2-D basis image of each channel (block-diagonal over channels); cached, never disposed. */
function basisFilter(block: number, channels: number): tf.Tensor4D {
  const key = `${block}x${channels}`;
  const cached = filters.get(key);
  if (cached && !cached.isDisposed) return cached;
  const c1 = dctMatrix(block);
  const b2 = block * block;
  const out = channels * b2;
  const values = new Float32Array(block * block * channels * out);
  for (let i = 0; i < block; i++) {
    for (let j = 0; j < block; j++) {
      for (let c = 0; c < channels; c++) {
        for (let u = 0; u < block; u++) {
          for (let v = 0; v < block; v++) {
            // basis (u, v) at pixel (i, j): C[u][i]·C[v][j]
            values[((i * block + j) * channels + c) * out + c * b2 + u * block + v] = c1[u * block + i] * c1[v * block + j];
          }
        }
      }
    }
  }
  const filter = tf.tensor4d(values, [block, block, channels, out]);
  tf.keep(filter);
  filters.set(key, filter);
  return filter;
}

function checkBlocks(height: number, width: number, block: number): void {
  if (height % block !== 0 || width % block !== 0) {
    throw new RangeError(`a ${block}x${block} block DCT needs sides that are multiples of ${block}, got ${height}x${width}`);
  }
}

/** x NHWC (H, W multiples of `block`) -> coefficients [N, H/b, W/b, C·b²]. Differentiable. */
export function blockDct(x: tf.Tensor4D, block = 8): tf.Tensor4D {
  const [, h, w, c] = x.shape;
  checkBlocks(h, w, block);
  return tf.conv2d(x, basisFilter(block, c), block, 'valid');
}

/** Coefficients [N, H/b, W/b, C·b²] -> image [N, H, W, C] (the exact inverse of `blockDct`). Differentiable. */
export function blockIdct(coefficients: tf.Tensor4D, block = 8): tf.Tensor4D {
  const [n, gh, gw, k] = coefficients.shape;
  const b2 = block * block;
  if (k % b2 !== 0) throw new RangeError(`coefficients have ${k} channels, not a multiple of ${b2}`);
  const c = k / b2;
  return tf.conv2dTranspose(coefficients, basisFilter(block, c), [n, gh * block, gw * block, c], block, 'valid');
}
