/**
 * Bjøntegaard delta rate (VCEG-M33): the average bitrate change of a test
 * rate-distortion curve against an anchor at equal quality, in percent
 * (negative = fewer bits). log(rate) is fitted as a polynomial of PSNR
 * (cubic with four or more points, as the original; lower degree with fewer,
 * so two trained rate points still give a figure) and both fits are
 * integrated over the PSNR range the two curves share.
 */
import { PsicError } from '@psic/entropy';

export interface RdPoint {
  bpp: number;
  psnr: number;
}

export function bdRate(anchor: readonly RdPoint[], test: readonly RdPoint[]): number {
  for (const [name, curve] of [['anchor', anchor], ['test', test]] as const) {
    if (curve.length < 2) throw new PsicError('USAGE', `BD-rate needs at least two rate points per curve; the ${name} has ${curve.length}`);
    if (curve.some((p) => !(p.bpp > 0) || !Number.isFinite(p.psnr))) throw new PsicError('USAGE', `BD-rate: the ${name} curve has a point with a non-positive rate or a non-finite PSNR`);
    if (new Set(curve.map((p) => p.psnr)).size !== curve.length) throw new PsicError('USAGE', `BD-rate: the ${name} curve repeats a PSNR`);
  }
  const lo = Math.max(Math.min(...anchor.map((p) => p.psnr)), Math.min(...test.map((p) => p.psnr)));
  const hi = Math.min(Math.max(...anchor.map((p) => p.psnr)), Math.max(...test.map((p) => p.psnr)));
  if (!(hi > lo)) throw new PsicError('USAGE', `BD-rate: the curves share no PSNR range (anchor ${range(anchor)}, test ${range(test)})`);
  const area = (curve: readonly RdPoint[]) => {
    const coefficients = polyfit(curve.map((p) => p.psnr), curve.map((p) => Math.log(p.bpp)), Math.min(3, curve.length - 1));
    return integrate(coefficients, hi) - integrate(coefficients, lo);
  };
  const meanLogDiff = (area(test) - area(anchor)) / (hi - lo);
  return (Math.exp(meanLogDiff) - 1) * 100;
}

function range(curve: readonly RdPoint[]): string {
  const psnrs = curve.map((p) => p.psnr);
  return `${Math.min(...psnrs).toFixed(2)}-${Math.max(...psnrs).toFixed(2)} dB`;
}

/** Least-squares polynomial coefficients c[0] + c[1] x + ... (normal equations; x centred for conditioning is not needed at these sizes). */
export function polyfit(x: readonly number[], y: readonly number[], degree: number): number[] {
  const n = degree + 1;
  const a = Array.from({ length: n }, () => new Array<number>(n + 1).fill(0));
  for (let i = 0; i < x.length; i++) {
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < n; c++) a[r][c] += x[i] ** (r + c);
      a[r][n] += y[i] * x[i] ** r;
    }
  }
  // Gauss-Jordan with partial pivoting
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r][col]) > Math.abs(a[pivot][col])) pivot = r;
    [a[col], a[pivot]] = [a[pivot], a[col]];
    if (a[col][col] === 0) throw new PsicError('USAGE', 'BD-rate: the rate points do not determine the fit');
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = a[r][col] / a[col][col];
      for (let c = col; c <= n; c++) a[r][c] -= f * a[col][c];
    }
  }
  return a.map((row, i) => row[n] / row[i]);
}

function integrate(coefficients: readonly number[], x: number): number {
  return coefficients.reduce((sum, c, k) => sum + (c * x ** (k + 1)) / (k + 1), 0);
}
