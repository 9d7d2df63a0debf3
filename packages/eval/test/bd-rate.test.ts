import { describe, expect, it } from 'vitest';
import { bdRate, polyfit } from '../src/bd-rate.js';

const anchor = [
  { bpp: 0.1, psnr: 26 },
  { bpp: 0.2, psnr: 28.5 },
  { bpp: 0.4, psnr: 31 },
  { bpp: 0.8, psnr: 33.5 },
];

describe('BD-rate', () => {
  it('is zero for the same curve and -x% for a curve that needs (1-x) of the bits everywhere', () => {
    expect(bdRate(anchor, anchor)).toBeCloseTo(0, 10);
    expect(bdRate(anchor, anchor.map((p) => ({ ...p, bpp: p.bpp * 0.8 })))).toBeCloseTo(-20, 6);
    expect(bdRate(anchor, anchor.map((p) => ({ ...p, bpp: p.bpp * 1.1 })))).toBeCloseTo(10, 6);
  });

  it('works from two points per curve (linear fit) and over the shared PSNR range only', () => {
    const two = [anchor[0], anchor[2]];
    expect(bdRate(two, two.map((p) => ({ ...p, bpp: p.bpp / 2 })))).toBeCloseTo(-50, 6);
    // a curve shifted up by 1 dB at the same rates: log-rate is linear in PSNR (slope ln2 / 2.5 dB), so 1 dB saves 1 - 2^(-1/2.5)
    const better = anchor.map((p) => ({ ...p, psnr: p.psnr + 1 }));
    expect(bdRate(anchor, better)).toBeCloseTo((2 ** (-1 / 2.5) - 1) * 100, 4);
  });

  it('refuses curves it cannot compare, with typed errors', () => {
    expect(() => bdRate([anchor[0]], anchor)).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(() => bdRate(anchor, [{ bpp: 1, psnr: 40 }, { bpp: 2, psnr: 41 }])).toThrow(/share no PSNR range/);
    expect(() => bdRate(anchor, [{ bpp: 0, psnr: 27 }, { bpp: 1, psnr: 30 }])).toThrow(/non-positive rate/);
  });

  it('fits polynomials exactly when the data is one', () => {
    const x = [0, 1, 2, 3, 4];
    const c = polyfit(x, x.map((v) => 1 - 2 * v + 0.5 * v ** 3), 3);
    [1, -2, 0, 0.5].forEach((want, i) => expect(c[i]).toBeCloseTo(want, 8));
  });
});
