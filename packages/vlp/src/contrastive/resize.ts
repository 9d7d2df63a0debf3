/**
 * Differentiable resize of any NHWC batch to a square input: centre crop to
 * the largest square (CLIP's preprocessing keeps the middle too), then a
 * separable triangle filter widened by the shrink factor (antialiased, like
 * Pillow's bilinear), optionally through a smaller square first (the
 * in-house model reads 32-pixel detail on a 64-pixel input), all folded
 * into one matrix per axis and applied as two matrix products. Upsampling
 * reduces to bilinear interpolation with half-pixel centres.
 *
 * Why not tf.image.resizeBilinear: it aliases when shrinking a large decode
 * to 64 pixels, and in tfjs 4.22 its gradient ignores halfPixelCenters, so
 * the attack would follow a gradient of a different function.
 */
import * as tf from '@tensorflow/tfjs-core';
import { PsicError } from '@psic/entropy';
import { matMulAsConv } from './layers.js';

const matrices = new Map<string, Float32Array>();

/**
 * Row-major [outSize, inSize] resampling matrix over the window
 * [start, start + length) of an axis of `inSize` samples; rows sum to 1.
 */
export function resampleMatrix(inSize: number, outSize: number, start = 0, length = inSize - start): Float32Array {
  const key = `${inSize}:${outSize}:${start}:${length}`;
  const cached = matrices.get(key);
  if (cached) return cached;
  if (start < 0 || length < 1 || start + length > inSize || outSize < 1) {
    throw new RangeError(`bad resample window ${start}+${length} of ${inSize} -> ${outSize}`);
  }
  const m = new Float32Array(outSize * inSize);
  const scale = length / outSize;
  const support = Math.max(scale, 1); // the filter widens when shrinking: antialiasing
  for (let i = 0; i < outSize; i++) {
    const centre = start + (i + 0.5) * scale; // in input pixel units, pixel j spans [j, j + 1)
    const lo = Math.max(start, Math.floor(centre - support));
    const hi = Math.min(start + length - 1, Math.ceil(centre + support));
    let total = 0;
    for (let j = lo; j <= hi; j++) {
      const w = Math.max(0, 1 - Math.abs(j + 0.5 - centre) / support);
      m[i * inSize + j] = w;
      total += w;
    }
    if (total === 0) {
      // a window narrower than a pixel: nearest sample
      m[i * inSize + Math.min(start + length - 1, Math.max(start, Math.floor(centre)))] = 1;
      total = 1;
    }
    for (let j = lo; j <= hi; j++) m[i * inSize + j] /= total;
  }
  matrices.set(key, m);
  return m;
}

/**
 * [size, inSize] matrix: centre `side` window of an axis of `inSize`, resampled
 * to `size`, through `via` samples first when given (a low-pass: the detail
 * left is what `via` samples hold).
 */
export function squareResizeMatrix(inSize: number, side: number, size: number, via?: number): Float32Array {
  const direct = resampleMatrix(inSize, via ?? size, Math.floor((inSize - side) / 2), side);
  if (via === undefined || via === size) return direct;
  const up = resampleMatrix(via, size);
  const out = new Float32Array(size * inSize);
  for (let i = 0; i < size; i++) {
    for (let k = 0; k < via; k++) {
      const w = up[i * via + k]!;
      if (w === 0) continue;
      for (let j = 0; j < inSize; j++) out[i * inSize + j]! += w * direct[k * inSize + j]!;
    }
  }
  return out;
}

/**
 * x [n, h, w, c] -> [n, size, size, c]: centre square crop, antialiased
 * resampling (through `via` x `via` first when given). Identity when x is
 * already size x size and there is no narrower `via`.
 */
export function resizeToSquare(x: tf.Tensor4D, size: number, via?: number): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  if (h < 1 || w < 1) throw new PsicError('BAD_IMAGE', `cannot resize an empty image (${h}x${w})`);
  if (h === size && w === size && (via === undefined || via >= size)) return x;
  const side = Math.min(h, w);
  return tf.tidy((): tf.Tensor4D => {
    const ry = tf.tensor2d(squareResizeMatrix(h, side, size, via), [size, h]);
    const rx = tf.tensor2d(squareResizeMatrix(w, side, size, via), [size, w]);
    // Rows: Ry [size, h] · x as [h, n·w·c] -> [size, n, w, c]. (Products as 1x1 convolutions, see matMulAsConv.)
    const rows = tf.reshape(matMulAsConv(ry, tf.reshape(tf.transpose(x, [1, 0, 2, 3]), [h, n * w * c]) as tf.Tensor2D), [size, n, w, c]);
    // Columns: Rx [size, w] · [w, size·n·c] -> [size(w), size(h), n, c].
    const byColumn = tf.reshape(tf.transpose(rows, [2, 0, 1, 3]), [w, size * n * c]) as tf.Tensor2D;
    const cols = tf.reshape(matMulAsConv(rx, byColumn), [size, size, n, c]);
    return tf.transpose(cols, [2, 1, 0, 3]) as tf.Tensor4D;
  });
}

/** The same resize on plain NHWC floats (data pipelines: no tensors, no tape). */
export function resizeToSquareArray(x: Float32Array, n: number, h: number, w: number, c: number, size: number, via?: number): Float32Array {
  if (x.length !== n * h * w * c) throw new RangeError(`expected ${n}x${h}x${w}x${c} values, got ${x.length}`);
  if (h === size && w === size && (via === undefined || via >= size)) return x;
  const side = Math.min(h, w);
  const ry = squareResizeMatrix(h, side, size, via);
  const rx = squareResizeMatrix(w, side, size, via);
  const rows = new Float32Array(n * size * w * c);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < size; i++) {
      const out = ((b * size + i) * w) * c;
      for (let y = 0; y < h; y++) {
        const weight = ry[i * h + y]!;
        if (weight === 0) continue;
        const src = ((b * h + y) * w) * c;
        for (let k = 0; k < w * c; k++) rows[out + k]! += weight * x[src + k]!;
      }
    }
  }
  const out = new Float32Array(n * size * size * c);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < size; i++) {
      const rowBase = (b * size + i) * w * c;
      for (let j = 0; j < size; j++) {
        const o = ((b * size + i) * size + j) * c;
        for (let xw = 0; xw < w; xw++) {
          const weight = rx[j * w + xw]!;
          if (weight === 0) continue;
          for (let ch = 0; ch < c; ch++) out[o + ch]! += weight * rows[rowBase + xw * c + ch]!;
        }
      }
    }
  }
  return out;
}
