/**
 * MS-SSIM (Wang, Simoncelli, Bovik 2003) with the usual constants: 11-tap
 * Gaussian window (sigma 1.5), valid filtering, 5 scales with weights
 * [0.0448, 0.2856, 0.3001, 0.2363, 0.1333], 2x2 average-pool downsampling,
 * K1 = 0.01, K2 = 0.03, data range 1. Computed per colour channel and averaged,
 * as pytorch_msssim (which CompressAI's evaluation uses) does.
 */
const WEIGHTS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];
const WINDOW = gaussianWindow(11, 1.5);
const C1 = 0.01 ** 2;
const C2 = 0.03 ** 2;

/** Smallest side MS-SSIM is defined for: the window must fit at the coarsest of 5 scales. */
export const MS_SSIM_MIN_SIDE = (WINDOW.length - 1) * 2 ** (WEIGHTS.length - 1) + 1;

/**
 * MS-SSIM of two interleaved RGB (or any channel count) images in [0, 1].
 * Returns NaN for images smaller than MS_SSIM_MIN_SIDE on a side, where it is undefined.
 */
export function msSsim(a: Float32Array, b: Float32Array, height: number, width: number, channels = 3): number {
  if (a.length !== b.length || a.length !== height * width * channels) {
    throw new RangeError('msSsim: images must have the same size and match height x width x channels');
  }
  if (Math.min(height, width) < MS_SSIM_MIN_SIDE) return NaN;
  let total = 0;
  for (let c = 0; c < channels; c++) {
    let x = plane(a, channels, c, height * width);
    let y = plane(b, channels, c, height * width);
    let h = height;
    let w = width;
    let value = 1;
    for (let s = 0; s < WEIGHTS.length; s++) {
      const { ssim, cs } = ssimAndContrast(x, y, h, w);
      const last = s === WEIGHTS.length - 1;
      value *= Math.max(last ? ssim : cs, 0) ** WEIGHTS[s];
      if (!last) {
        ({ data: x } = avgPool2(x, h, w));
        ({ data: y, h, w } = avgPool2(y, h, w));
      }
    }
    total += value;
  }
  return total / channels;
}

function plane(src: Float32Array, channels: number, c: number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = src[i * channels + c];
  return out;
}

function gaussianWindow(size: number, sigma: number): Float64Array {
  const g = new Float64Array(size);
  let sum = 0;
  for (let i = 0; i < size; i++) {
    const d = i - (size - 1) / 2;
    g[i] = Math.exp(-(d * d) / (2 * sigma * sigma));
    sum += g[i];
  }
  for (let i = 0; i < size; i++) g[i] /= sum;
  return g;
}

/** Separable valid Gaussian filtering: (h - 10) x (w - 10) output. */
function blur(x: Float64Array, h: number, w: number): Float64Array {
  const k = WINDOW.length;
  const ow = w - k + 1;
  const oh = h - k + 1;
  const rows = new Float64Array(h * ow);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < ow; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += WINDOW[t] * x[i * w + j + t];
      rows[i * ow + j] = s;
    }
  }
  const out = new Float64Array(oh * ow);
  for (let i = 0; i < oh; i++) {
    for (let j = 0; j < ow; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += WINDOW[t] * rows[(i + t) * ow + j];
      out[i * ow + j] = s;
    }
  }
  return out;
}

function ssimAndContrast(x: Float64Array, y: Float64Array, h: number, w: number): { ssim: number; cs: number } {
  const n = x.length;
  const xx = new Float64Array(n);
  const yy = new Float64Array(n);
  const xy = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    xx[i] = x[i] * x[i];
    yy[i] = y[i] * y[i];
    xy[i] = x[i] * y[i];
  }
  const mx = blur(x, h, w);
  const my = blur(y, h, w);
  const sxx = blur(xx, h, w);
  const syy = blur(yy, h, w);
  const sxy = blur(xy, h, w);
  let ssimSum = 0;
  let csSum = 0;
  for (let i = 0; i < mx.length; i++) {
    const vx = sxx[i] - mx[i] * mx[i];
    const vy = syy[i] - my[i] * my[i];
    const cov = sxy[i] - mx[i] * my[i];
    const cs = (2 * cov + C2) / (vx + vy + C2);
    csSum += cs;
    ssimSum += ((2 * mx[i] * my[i] + C1) / (mx[i] * mx[i] + my[i] * my[i] + C1)) * cs;
  }
  return { ssim: ssimSum / mx.length, cs: csSum / mx.length };
}

/** 2x2 average pooling; an odd side is zero-padded by one, as avg_pool2d(padding = side % 2) does. */
function avgPool2(x: Float64Array, h: number, w: number): { data: Float64Array; h: number; w: number } {
  const ph = h % 2;
  const pw = w % 2;
  const oh = Math.floor((h + 2 * ph - 2) / 2) + 1;
  const ow = Math.floor((w + 2 * pw - 2) / 2) + 1;
  const out = new Float64Array(oh * ow);
  for (let i = 0; i < oh; i++) {
    for (let j = 0; j < ow; j++) {
      let s = 0;
      for (let di = 0; di < 2; di++) {
        for (let dj = 0; dj < 2; dj++) {
          const r = i * 2 + di - ph;
          const c = j * 2 + dj - pw;
          if (r >= 0 && r < h && c >= 0 && c < w) s += x[r * w + c];
        }
      }
      out[i * ow + j] = s / 4; // count_include_pad, as PyTorch's default
    }
  }
  return { data: out, h: oh, w: ow };
}
