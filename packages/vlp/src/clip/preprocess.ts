/**
 * CLIP's image preprocessing (`clip._transform`): resize the short side to
 * the input resolution with bicubic resampling, centre-crop, scale to [0, 1],
 * normalise with CLIP's mean and std.
 *
 * Two paths:
 *  - 8-bit images (files): a port of Pillow's bicubic `Image.resize`
 *    (separable, horizontal pass first, a = −0.5 kernel widened by the
 *    downscale factor, 22-bit fixed-point weights, rounding and clamping to
 *    uint8 after each pass), which reproduces OpenAI's pixels exactly;
 *  - tensors in [0, 1] (differentiable): the same antialiased bicubic weights
 *    in floating point, without the uint8 rounding (torchvision's tensor
 *    path), applied as two matrix products with the centre crop folded in.
 *    On the golden cases this is within 0.015 of the Pillow path.
 */
import * as tf from '@tensorflow/tfjs-core';
import { PsicError } from '@psic/entropy';
import type { Rgb8Image } from '@psic/core';

export const CLIP_MEAN: readonly [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
export const CLIP_STD: readonly [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

/** Pillow's bicubic kernel with a = −0.5, support 2. */
function bicubic(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
}

interface Coefficients {
  /** First input index per output index. */
  start: Int32Array;
  /** Number of taps per output index. */
  count: Int32Array;
  /** Normalised weights, `taps` per output index. */
  weights: Float64Array;
  taps: number;
}

/** Pillow's `precompute_coeffs` for the whole input range [0, inSize). */
function resampleCoefficients(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 2 * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const invScale = 1 / filterScale;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * taps);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    // C's (int) truncates toward zero; negatives are clamped to 0 either way.
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const n = Math.min(Math.trunc(center + support + 0.5), inSize) - lo;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const w = bicubic((i + lo - center + 0.5) * invScale);
      weights[o * taps + i] = w;
      total += w;
    }
    if (total !== 0) for (let i = 0; i < n; i++) weights[o * taps + i]! /= total;
    start[o] = lo;
    count[o] = n;
  }
  return { start, count, weights, taps };
}

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;

/** Pillow's `normalize_coeffs_8bpc`: weights to 22-bit fixed point, rounded half away from zero then truncated. */
function fixedPoint(c: Coefficients): Int32Array {
  return Int32Array.from(c.weights, (w) => Math.trunc(w < 0 ? -0.5 + w * ONE : 0.5 + w * ONE));
}

function clip8(sum: number): number {
  const v = Math.floor(sum / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** One separable pass of Pillow's 8-bit resampler along rows (`horizontal`) or columns. */
function resamplePass(src: Uint8Array, width: number, height: number, outSize: number, horizontal: boolean): Uint8Array {
  const inSize = horizontal ? width : height;
  const c = resampleCoefficients(inSize, outSize);
  const k = fixedPoint(c);
  const outW = horizontal ? outSize : width;
  const outH = horizontal ? height : outSize;
  const out = new Uint8Array(outW * outH * 3);
  const half = 2 ** (PRECISION_BITS - 1);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const o = horizontal ? x : y;
      const lo = c.start[o]!;
      const n = c.count[o]!;
      for (let ch = 0; ch < 3; ch++) {
        let sum = half;
        for (let i = 0; i < n; i++) {
          const srcIndex = horizontal ? (y * width + lo + i) * 3 + ch : ((lo + i) * width + x) * 3 + ch;
          sum += src[srcIndex]! * k[o * c.taps + i]!;
        }
        out[(y * outW + x) * 3 + ch] = clip8(sum);
      }
    }
  }
  return out;
}

/** Pillow's `Image.resize(size, Image.BICUBIC)` for an RGB image (no reducing_gap), bit-exact. */
export function resizeBicubicRgb8(img: Rgb8Image, width: number, height: number): Rgb8Image {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new PsicError('BAD_SIZE', `resize target must be positive integers, got ${width}x${height}`);
  }
  let data = img.rgb;
  let w = img.width;
  if (width !== img.width) {
    data = resamplePass(data, img.width, img.height, width, true);
    w = width;
  }
  if (height !== img.height) data = resamplePass(data, w, img.height, height, false);
  return { width, height, rgb: data === img.rgb ? img.rgb.slice() : data };
}

/** Python's round() on a float: half to even (round(8.5) = 8). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface ClipGeometry {
  resizedWidth: number;
  resizedHeight: number;
  cropLeft: number;
  cropTop: number;
}

/** torchvision's Resize(size) (short side to `size`, long side truncated) and CenterCrop(size) offsets. */
export function clipGeometry(width: number, height: number, size: number): ClipGeometry {
  if (width < 1 || height < 1) throw new PsicError('BAD_SIZE', `image must be at least 1x1, got ${width}x${height}`);
  const short = Math.min(width, height);
  const long = Math.max(width, height);
  const newLong = Math.trunc((size * long) / short);
  const resizedWidth = width <= height ? size : newLong;
  const resizedHeight = width <= height ? newLong : size;
  return {
    resizedWidth,
    resizedHeight,
    cropLeft: roundHalfEven((resizedWidth - size) / 2),
    cropTop: roundHalfEven((resizedHeight - size) / 2),
  };
}

/**
 * `clip._transform(size)` on an 8-bit RGB image: NHWC values [size, size, 3]
 * normalised with CLIP's mean/std, computed in float32 as torchvision does.
 */
export function preprocessRgb8(img: Rgb8Image, size: number): Float32Array {
  const g = clipGeometry(img.width, img.height, size);
  const resized = resizeBicubicRgb8(img, g.resizedWidth, g.resizedHeight);
  const out = new Float32Array(size * size * 3);
  const f = Math.fround;
  const mean = CLIP_MEAN.map(f);
  const std = CLIP_STD.map(f);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      for (let ch = 0; ch < 3; ch++) {
        const v = resized.rgb[((y + g.cropTop) * resized.width + x + g.cropLeft) * 3 + ch]!;
        out[(y * size + x) * 3 + ch] = f(f(f(v / 255) - mean[ch]!) / std[ch]!);
      }
    }
  }
  return out;
}

/** Float resampling matrix [outCount, inSize] for output indices [outStart, outStart + outCount). */
function resampleMatrix(inSize: number, outSize: number, outStart: number, outCount: number): tf.Tensor2D {
  const c = resampleCoefficients(inSize, outSize);
  const m = new Float32Array(outCount * inSize);
  for (let r = 0; r < outCount; r++) {
    const o = outStart + r;
    for (let i = 0; i < c.count[o]!; i++) m[r * inSize + c.start[o]! + i] = c.weights[o * c.taps + i]!;
  }
  return tf.tensor2d(m, [outCount, inSize]);
}

/**
 * The differentiable counterpart of `clip._transform(size)`: NHWC images in
 * [0, 1] of any size -> [b, size, size, 3] normalised. Antialiased bicubic
 * (float weights as Pillow's), centre crop, mean/std; no clamping, so
 * gradients pass everywhere.
 */
export function preprocessTensor(x: tf.Tensor4D, size: number): tf.Tensor4D {
  const [b, H, W, C] = x.shape;
  if (C !== 3) throw new PsicError('BAD_SHAPE', `expected NHWC RGB images [b, H, W, 3], got [${x.shape}]`);
  const g = clipGeometry(W, H, size);
  return tf.tidy(() => {
    let h: tf.Tensor4D = x;
    // Rows: [H, b·W·3] -> [size, b·W·3] (resize + crop in one product).
    if (!(H === size && g.cropTop === 0)) {
      const rows = resampleMatrix(H, g.resizedHeight, g.cropTop, size);
      const flat = tf.reshape(tf.transpose(h, [1, 0, 2, 3]), [H, b * W * 3]) as tf.Tensor2D;
      h = tf.transpose(tf.reshape(tf.matMul(rows, flat), [size, b, W, 3]), [1, 0, 2, 3]);
    }
    if (!(W === size && g.cropLeft === 0)) {
      const cols = resampleMatrix(W, g.resizedWidth, g.cropLeft, size);
      const flat = tf.reshape(tf.transpose(h, [2, 0, 1, 3]), [W, b * size * 3]) as tf.Tensor2D;
      h = tf.transpose(tf.reshape(tf.matMul(cols, flat), [size, b, size, 3]), [1, 2, 0, 3]);
    }
    return tf.div(tf.sub(h, tf.tensor1d([...CLIP_MEAN])), tf.tensor1d([...CLIP_STD]));
  });
}
