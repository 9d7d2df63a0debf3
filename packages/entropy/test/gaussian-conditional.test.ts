import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  GaussianConditional,
  defaultScaleTable,
  gaussianPmfTable,
  lowerBound,
  normalCdf,
} from '../src/gaussian-conditional.js';
import { detErfc, detExp, detLog, standardNormalCdf, standardNormalQuantile } from '../src/erfc.js';
import { mulberry32, cdfProblem } from './helpers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});



function gaussianSampler(random: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** The likelihood in double precision, as an independent reference for the tfjs graph. */
function referenceLikelihood(y: number, scale: number, mean: number, bound = 0.11): number {
  const s = Math.max(scale, bound);
  const v = Math.abs(y - mean);
  return Math.max(standardNormalCdf((0.5 - v) / s) - standardNormalCdf((-0.5 - v) / s), 1e-9);
}

describe('deterministic special functions', () => {
  it('erfc matches reference values to ~1e-15, including deep tails', () => {
    const cases: [number, number][] = [
      [0, 1],
      // mpmath, 30 digits
      [0.5, 0.47950012218695346],
      [0.99, 0.1614919304446302],
      [1.01, 0.1531895037717233],
      [1.9, 0.0072095707647425328],
      [3, 2.2090496998585441e-5],
      [10, 2.0884875837625448e-45],
      [-1, 1.8427007929497149],
    ];
    for (const [x, expected] of cases) expect(Math.abs(detErfc(x) - expected) / expected).toBeLessThan(5e-15);
  });

  it('exp/log agree with Math to ~1 ulp and the normal quantile inverts the CDF', () => {
    for (const x of [-700, -20.5, -1e-9, 0.3, 1, 7.25, 300]) expect(Math.abs(detExp(x) / Math.exp(x) - 1)).toBeLessThan(4e-16);
    for (const x of [1e-300, 0.11, 1, 2.5, 256, 1e300]) expect(Math.abs(detLog(x) - Math.log(x))).toBeLessThanOrEqual(2e-16 * Math.max(1, Math.abs(Math.log(x))));
    expect(standardNormalQuantile(5e-10)).toBeCloseTo(-6.109410204869397, 12);
    expect(standardNormalCdf(standardNormalQuantile(0.975))).toBeCloseTo(0.975, 14);
  });
});

describe('GaussianConditional float model', () => {
  const model = new GaussianConditional();

  it('has the CompressAI scale table: 64 log-spaced levels from 0.11 to 256', () => {
    const table = model.scaleTable;
    expect(table.length).toBe(64);
    expect(table[0]).toBe(0.11);
    expect(table[63]).toBe(256);
    const ratio = Math.exp(Math.log(256 / 0.11) / 63);
    for (let i = 1; i < 64; i++) expect(table[i]! / table[i - 1]!).toBeCloseTo(ratio, 12);
    expect(Array.from(defaultScaleTable())).toEqual(Array.from(table));
  });

  it('likelihoods sum to 1 over the integers (around the mean) for many scales and means', () => {
    for (const [scale, mean] of [[0.05, 0], [0.11, 0.3], [0.7, -2.4], [3, 10.5], [40, -0.25], [250, 3]] as const) {
      const radius = Math.ceil(Math.max(scale, 0.11) * 8) + 2;
      const count = 2 * radius + 1;
      const total = tf.tidy(() => {
        const y = tf.add(tf.range(-radius, radius + 1), mean);
        return tf.sum(model.likelihood(y, tf.fill([count], scale), tf.fill([count], mean))).dataSync()[0]!;
      });
      expect(Math.abs(total - 1)).toBeLessThan(2e-5 + count * 1e-9);
    }
  });

  it('matches the double-precision reference, with relative precision in the tails', () => {
    const ys = [0, 0.4, -1.2, 2, 5.5, -9, 30, 3.7];
    const scales = [0.11, 0.5, 1, 0.3, 2, 1.5, 4, 0.2];
    const means = [0, 0.1, -0.3, 0, 1, 0.5, -2, 0];
    const got = tf.tidy(() => model.likelihood(tf.tensor1d(ys), tf.tensor1d(scales), tf.tensor1d(means)).dataSync());
    ys.forEach((y, i) => {
      const expected = referenceLikelihood(y, scales[i]!, means[i]!);
      expect(Math.abs(got[i]! - expected) / expected).toBeLessThan(2e-5);
    });
  });

  it('gradients w.r.t. y, scales and means match finite differences of the reference', () => {
    const ys = [0.3, -1.7, 2.2, 4.1, -0.6];
    const scales = [0.5, 1.3, 0.9, 2.5, 0.2];
    const means = [0.1, -0.2, 0.4, 0, -0.3];
    const [gy, gs, gm] = tf.grads((y: tf.Tensor, s: tf.Tensor, m: tf.Tensor) => tf.sum(model.likelihood(y, s, m)))([
      tf.tensor1d(ys),
      tf.tensor1d(scales),
      tf.tensor1d(means),
    ]).map((g) => g.dataSync());
    const h = 1e-6;
    ys.forEach((y, i) => {
      const [s, m] = [scales[i]!, means[i]!];
      const dy = (referenceLikelihood(y + h, s, m) - referenceLikelihood(y - h, s, m)) / (2 * h);
      const ds = (referenceLikelihood(y, s + h, m) - referenceLikelihood(y, s - h, m)) / (2 * h);
      const dm = (referenceLikelihood(y, s, m + h) - referenceLikelihood(y, s, m - h)) / (2 * h);
      expect(gy![i]!).toBeCloseTo(dy, 4);
      expect(gs![i]!).toBeCloseTo(ds, 4);
      expect(gm![i]!).toBeCloseTo(dm, 4);
      expect(Math.abs(dy) + Math.abs(ds)).toBeGreaterThan(1e-3); // the points are informative
    });
  });

  it('normalCdf has the exact Gaussian density as its gradient', () => {
    const xs = [-7, -2, -0.1, 0, 1.5, 4];
    const g = tf.grad((x: tf.Tensor) => tf.sum(normalCdf(x)))(tf.tensor1d(xs)).dataSync();
    xs.forEach((x, i) => expect(g[i]!).toBeCloseTo(Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI), 6));
  });

  it('the scale lower bound passes gradients only where they would lift the scale', () => {
    // Below the bound: at the mean a wider scale lowers P (gradient of -log P > 0): blocked.
    // Far from the mean a wider scale raises P (gradient < 0): passed through.
    const rate = (y: number) =>
      tf.grad((s: tf.Tensor) => tf.neg(tf.sum(tf.log(model.likelihood(tf.tensor1d([y]), s)))))(tf.tensor1d([0.05])).dataSync()[0]!;
    expect(rate(0)).toBe(0);
    expect(rate(1)).toBeLessThan(-1);
    const g = tf.grad((x: tf.Tensor) => tf.sum(lowerBound(x, 1)))(tf.tensor1d([0.5, 2])).dataSync();
    expect(Array.from(g)).toEqual([0, 1]);
  });

  it('quantizes by noise, straight-through rounding and dequantization around the means', () => {
    const y = tf.tensor1d([0.2, 1.6, -2.7, 3.49]);
    const means = tf.tensor1d([0.5, 0, 0.25, -0.5]);
    expect(Array.from(model.quantize(y, 'dequantize', means).dataSync())).toEqual(Array.from(new Float32Array([0.5, 2, -2.75, 3.5])));
    const ste = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(model.quantize(x, 'ste', means), tf.tensor1d([1, 2, 3, 4]))))(y).dataSync();
    expect(Array.from(ste)).toEqual([1, 2, 3, 4]);
    const big = tf.randomNormal([4096], 0, 5);
    const noise = tf.sub(model.quantize(big, 'noise'), big).dataSync();
    expect(Math.max(...noise)).toBeLessThanOrEqual(0.5);
    expect(Math.min(...noise)).toBeGreaterThanOrEqual(-0.5);
    expect(Math.max(...noise) - Math.min(...noise)).toBeGreaterThan(0.99);
  });
});

describe('GaussianConditional coding model', () => {
  const model = new GaussianConditional();

  it('builds one valid, deterministic CDF table per scale level', () => {
    const tables = model.tables();
    expect(tables.size).toBe(64);
    expect(model.tables()).toBe(tables); // cached
    for (let i = 0; i < tables.size; i++) {
      const { cdf, offset } = tables.table(i);
      const center = Math.ceil(model.scaleTable[i]! * 6.109410204869397);
      expect(offset).toBe(-center);
      expect(cdf.length).toBe(2 * center + 1 + 2);
      expect(cdfProblem(cdf)).toBeUndefined();
    }
    const again = new GaussianConditional().tables().pack();
    const packed = tables.pack();
    expect(Buffer.from(again.cdfs.buffer).equals(Buffer.from(packed.cdfs.buffer))).toBe(true);
    expect(Array.from(again.offsets)).toEqual(Array.from(packed.offsets));
    expect(Array.from(again.lengths)).toEqual(Array.from(packed.lengths));
  });

  it('gaussianPmfTable puts all probability mass in pmf + tail', () => {
    for (const scale of [0.11, 1, 17.3, 256]) {
      const { pmf, tailMass, offset } = gaussianPmfTable(scale);
      const total = pmf.reduce((a, b) => a + b, 0) + tailMass;
      expect(total).toBeCloseTo(1, 12);
      expect(tailMass).toBeLessThan(1.1e-9);
      expect(pmf[-offset]).toBe(Math.max(...pmf)); // symmetric, peaked at 0
    }
  });

  it('buildIndexes picks the first level >= the scale: monotone, clamped, bound-aware', () => {
    const table = model.scaleTable;
    const scales = [-5, 0, 0.01, 0.11, table[5]!, table[5]! * 1.0000001, 1, 255.9, 256, 257, 1e9, Infinity];
    const indexes = model.buildIndexes(scales);
    expect(Array.from(indexes)).toEqual([0, 0, 0, 0, 5, 6, indexes[6]!, 63, 63, 63, 63, 63]);
    expect(table[indexes[6]!]! >= 1 && table[indexes[6]! - 1]! < 1).toBe(true);
    expect(model.buildIndexes([NaN])[0]).toBe(63);
    const random = mulberry32(7);
    const sorted = Array.from({ length: 2000 }, () => Math.exp(random() * 8 - 3)).sort((a, b) => a - b);
    const idx = model.buildIndexes(sorted);
    for (let i = 1; i < idx.length; i++) expect(idx[i]!).toBeGreaterThanOrEqual(idx[i - 1]!);
  });

  it('round-trips random symbols exactly, including values far outside every table (escape path)', () => {
    const random = mulberry32(11);
    const normal = gaussianSampler(random);
    const n = 5000;
    const scales = Array.from({ length: n }, () => Math.exp(random() * 7 - 2.5));
    const symbols = Int32Array.from(scales, (s) => Math.round(normal() * s));
    const far = [2, 3, -3, 100, -100, 1565, -1565, 4096, -70000, 1 << 20, -(1 << 20)];
    far.forEach((v, i) => (symbols[i * 97] = v));
    const indexes = model.buildIndexes(scales);
    const data = model.compress(symbols, indexes);
    expect(Array.from(model.decompress(data, indexes))).toEqual(Array.from(symbols));
    // The same symbols under the narrowest table all escape but still round-trip.
    const narrow = new Int32Array(n);
    expect(Array.from(model.decompress(model.compress(symbols, narrow), narrow))).toEqual(Array.from(symbols));
  });

  it('rejects indexes that do not fit the table set', () => {
    expect(() => model.compress(new Int32Array(3), new Int32Array(2))).toThrow(RangeError);
    expect(() => model.compress(new Int32Array(1), Int32Array.from([64]))).toThrow(RangeError);
    expect(() => model.decompress(new Uint8Array(8), Int32Array.from([-1]))).toThrow(RangeError);
  });

  it('codes within a few % of -sum log2(likelihood) of the float model', () => {
    const random = mulberry32(3);
    const normal = gaussianSampler(random);
    const n = 20000;
    const scales = Float32Array.from({ length: n }, () => Math.exp(random() * 5 - 1)); // ~0.37 .. 55
    const means = Float32Array.from({ length: n }, () => (random() - 0.5) * 20);
    const y = Float32Array.from(scales, (s, i) => means[i]! + s * normal());
    const symbols = Int32Array.from(y, (v, i) => Math.round(v - means[i]!));
    const data = model.compress(symbols, model.buildIndexes(scales));
    const modelBits = tf.tidy(() => {
      const yHat = tf.add(tf.tensor1d(symbols, 'float32'), tf.tensor1d(means));
      const p = model.likelihood(yHat, tf.tensor1d(scales), tf.tensor1d(means));
      return -tf.sum(tf.log(p)).dataSync()[0]! / Math.LN2;
    });
    const codedBits = data.length * 8;
    const overhead = codedBits / modelBits - 1;
    console.log(`GaussianConditional: ${n} symbols, model ${modelBits.toFixed(0)} bits, coded ${codedBits} bits (${(overhead * 100).toFixed(2)} %)`);
    expect(overhead).toBeGreaterThan(-0.005); // cannot beat the model by more than sampling noise
    expect(overhead).toBeLessThan(0.03);
  });
});
