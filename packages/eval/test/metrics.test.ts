import { describe, expect, it } from 'vitest';
import { bitsPerPixel, msSsim, MS_SSIM_MIN_SIDE, psnr } from '../src/index.js';

function noiseImage(h: number, w: number, seed: number): Float32Array {
  let s = seed;
  const out = new Float32Array(h * w * 3);
  for (let i = 0; i < out.length; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = s / 2 ** 32;
  }
  return out;
}

describe('psnr', () => {
  it('is 20 log10(1/0.1) = 20 dB for a uniform error of 0.1', () => {
    const a = new Float32Array(100).fill(0.5);
    const b = new Float32Array(100).fill(0.6);
    expect(psnr(a, b)).toBeCloseTo(20, 4);
  });
  it('is Infinity for identical inputs', () => {
    expect(psnr([0.2, 0.3], [0.2, 0.3])).toBe(Infinity);
  });
});

describe('msSsim', () => {
  const h = 176;
  const w = 200;
  const a = noiseImage(h, w, 1);
  it('is 1 for identical images', () => {
    expect(msSsim(a, a, h, w)).toBeCloseTo(1, 10);
  });
  it('decreases as noise grows', () => {
    const noise = noiseImage(h, w, 2);
    const blend = (t: number) => a.map((v, i) => (1 - t) * v + t * noise[i]);
    const s1 = msSsim(a, blend(0.05), h, w);
    const s2 = msSsim(a, blend(0.3), h, w);
    expect(s1).toBeLessThan(1);
    expect(s2).toBeLessThan(s1);
    expect(s2).toBeGreaterThan(0);
  });
  it('is symmetric', () => {
    const b = noiseImage(h, w, 3).map((v, i) => 0.8 * a[i] + 0.2 * v);
    expect(msSsim(a, b, h, w)).toBeCloseTo(msSsim(b, a, h, w), 12);
  });
  it('is NaN below the minimum side', () => {
    const s = MS_SSIM_MIN_SIDE - 1;
    const img = noiseImage(s, s, 4);
    expect(msSsim(img, img, s, s)).toBeNaN();
  });
});

describe('bitsPerPixel', () => {
  it('counts every byte of the file', () => {
    expect(bitsPerPixel(6144, 512, 768)).toBeCloseTo(0.125, 12);
  });
});
