import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EntropyBottleneck } from '../src/entropy-bottleneck.js';
import { mulberry32, cdfProblem } from './helpers.js';



const CHANNELS = 3;
const CENTERS = [5, -3, 0.5];
const SPREADS = [2, 0.7, 4];

/** NHWC batch whose channel c is Laplace(CENTERS[c], SPREADS[c]). */
function laplaceBatch(random: () => number, h: number, w: number): tf.Tensor4D {
  const data = new Float32Array(h * w * CHANNELS);
  for (let i = 0; i < data.length; i++) {
    const c = i % CHANNELS;
    const u = random() - 0.5;
    data[i] = CENTERS[c]! - SPREADS[c]! * Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
  }
  return tf.tensor4d(data, [1, h, w, CHANNELS]);
}

function bitsOf(likelihoods: tf.Tensor): number {
  return tf.tidy(() => -tf.sum(tf.log(likelihoods)).dataSync()[0]! / Math.LN2);
}

/** Rate-train the density and the quantiles together, as a codec's training loop does. */
function train(model: EntropyBottleneck, steps: number, random: () => number): number[] {
  const mainOptimizer = tf.train.adam(1e-2);
  const auxOptimizer = tf.train.adam(0.2); // large steps: the tails start ~30 units from their targets
  const auxLosses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const x = laplaceBatch(random, 16, 16);
    mainOptimizer.minimize(() => tf.mean(tf.neg(tf.log(model.forward(x, true).likelihoods))) as tf.Scalar, false, model.variables('main'));
    const aux = auxOptimizer.minimize(() => model.lossAux(), true, model.variables('aux'))!;
    auxLosses.push(aux.dataSync()[0]!);
    aux.dispose();
    x.dispose();
  }
  mainOptimizer.dispose();
  auxOptimizer.dispose();
  return auxLosses;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('EntropyBottleneck parameters', () => {
  it('mirrors CompressAI names, shapes and initialisation', () => {
    const model = new EntropyBottleneck(4, { seed: 1 });
    const named = model.namedVariables();
    expect(Object.keys(named).sort()).toEqual(
      ['_bias0', '_bias1', '_bias2', '_bias3', '_bias4', '_factor0', '_factor1', '_factor2', '_factor3',
        '_matrix0', '_matrix1', '_matrix2', '_matrix3', '_matrix4', 'quantiles'].sort(),
    );
    expect(named['_matrix0']!.shape).toEqual([4, 3, 1]);
    expect(named['_matrix2']!.shape).toEqual([4, 3, 3]);
    expect(named['_matrix4']!.shape).toEqual([4, 1, 3]);
    expect(named['_bias4']!.shape).toEqual([4, 1, 1]);
    expect(named['_factor3']!.shape).toEqual([4, 3, 1]);
    expect(named['quantiles']!.shape).toEqual([4, 1, 3]);
    expect(Array.from(named['quantiles']!.dataSync().slice(0, 3))).toEqual([-10, 0, 10]);
    // softplus(matrix) * width = 1 / 10^(1/5) per layer: the CompressAI start density.
    const scale = 10 ** (1 / 5);
    expect(named['_matrix1']!.dataSync()[0]).toBeCloseTo(Math.log(Math.expm1(1 / scale / 3)), 6);
    expect(named['_matrix4']!.dataSync()[0]).toBeCloseTo(Math.log(Math.expm1(1 / scale)), 6);
    const bias = named['_bias2']!.dataSync();
    expect(Math.max(...bias)).toBeLessThanOrEqual(0.5);
    expect(Math.min(...bias)).toBeGreaterThanOrEqual(-0.5);
    expect(Array.from(named['_factor0']!.dataSync()).every((v) => v === 0)).toBe(true);
    expect(model.variables('aux')).toEqual([named['quantiles']]);
    expect(model.variables('main')).toHaveLength(14);
    expect(model.variables()).toHaveLength(15);
    expect(Array.from(model.medians())).toEqual([0, 0, 0, 0]);
    model.dispose();
    expect(named['quantiles']!.isDisposed).toBe(true);
  });

  it('rejects bad shapes and arguments', () => {
    expect(() => new EntropyBottleneck(0)).toThrow(RangeError);
    const model = new EntropyBottleneck(2);
    expect(() => model.forward(tf.zeros([1, 2, 2, 3]) as tf.Tensor4D, false)).toThrow(/2 channels/);
    expect(() => model.tables()).toThrow(/update\(\)/);
    model.dispose();
  });
});

describe('EntropyBottleneck float model', () => {
  const model = new EntropyBottleneck(CHANNELS, { seed: 2 });
  afterAll(() => model.dispose());

  it('training adds noise in [-0.5, 0.5]; evaluation rounds around the medians', () => {
    const x = laplaceBatch(mulberry32(1), 8, 8);
    const { xHat, likelihoods } = model.forward(x, true);
    const noise = tf.sub(xHat, x).dataSync();
    expect(Math.max(...noise)).toBeLessThanOrEqual(0.5);
    expect(Math.min(...noise)).toBeGreaterThanOrEqual(-0.5);
    expect(likelihoods.shape).toEqual(x.shape);
    const p = likelihoods.dataSync();
    expect(p.every((v) => v >= 1e-9 && v <= 1)).toBe(true);

    model.namedVariables()['quantiles']!.assign(tf.tensor3d([[[-10, 0.25, 10]], [[-10, -1.5, 10]], [[-10, 0, 10]]]));
    const evaluated = model.forward(x, false).xHat.dataSync();
    const xs = x.dataSync();
    const medians = model.medians();
    evaluated.forEach((v, i) => expect(v).toBe(Math.fround(Math.round(xs[i]! - medians[i % CHANNELS]!) + medians[i % CHANNELS]!)));
  });

  it('likelihoods over all integers (around the median) sum to 1 per channel', () => {
    const radius = 400;
    const grid = tf.tidy(() => tf.tile(tf.reshape(tf.range(-radius, radius + 1), [1, 1, 2 * radius + 1, 1]), [1, 1, 1, CHANNELS])) as tf.Tensor4D;
    const shifted = tf.add(grid, tf.tensor1d(model.medians())) as tf.Tensor4D;
    const sums = tf.sum(model.forward(shifted, false).likelihoods, [0, 1, 2]).dataSync();
    for (const s of sums) expect(s).toBeCloseTo(1, 4);
  });

  it('matches the double-precision density, with relative precision deep in the tails', () => {
    // Far from the median both cumulatives are ~0 or ~1; only the sign trick keeps P's relative precision.
    const values = [-260, -190, -150, -110, -40, -3, 0.4, 2, 33, 110, 150, 190, 260];
    const x = tf.tensor4d(values.flatMap((v) => [v, v, v]), [1, 1, values.length, CHANNELS]);
    const p = model.forward(x, false).likelihoods.dataSync();
    const xHat = model.forward(x, false).xHat.dataSync();
    let tailBins = 0;
    p.forEach((got, i) => {
      const expected = model.likelihoodAt(i % CHANNELS, xHat[i]!);
      if (expected < 1e-6) tailBins++;
      const bounded = Math.max(expected, 1e-9);
      expect(Math.abs(got - bounded) / bounded).toBeLessThan(1e-3);
    });
    expect(tailBins).toBeGreaterThan(3);
  });

  it('the rate gradient reaches every main variable and matches finite differences', () => {
    const x = laplaceBatch(mulberry32(4), 2, 3);
    const rate = () => tf.tidy(() => tf.sum(tf.neg(tf.log(model.forward(x, false).likelihoods))) as tf.Scalar);
    const { grads } = tf.variableGrads(rate, model.variables('main'));
    const named = model.namedVariables();
    for (const [name, variable] of Object.entries(named)) {
      if (name === 'quantiles') continue;
      const g = grads[variable.name]!.dataSync();
      expect(g.every(Number.isFinite)).toBe(true);
      expect(g.some((v) => v !== 0)).toBe(true);
    }
    for (const [name, entry] of [['_matrix0', 1], ['_matrix2', 4], ['_bias4', 0], ['_factor1', 2]] as const) {
      const variable = named[name]!;
      const original = variable.dataSync().slice();
      const at = (delta: number) => {
        const moved = original.slice();
        moved[entry] = moved[entry]! + delta;
        variable.assign(tf.tensor(moved, variable.shape));
        return rate().dataSync()[0]!;
      };
      const h = 2e-3;
      const numeric = (at(h) - at(-h)) / (2 * h);
      variable.assign(tf.tensor(original, variable.shape));
      const analytic = grads[variable.name]!.dataSync()[entry]!;
      expect(Math.abs(analytic - numeric)).toBeLessThan(0.02 * Math.abs(numeric) + 2e-3);
    }
  });

  it('the aux loss trains only the quantiles', () => {
    const { grads } = tf.variableGrads(() => model.lossAux(), model.variables());
    const quantiles = model.namedVariables()['quantiles']!;
    expect(grads[quantiles.name]!.dataSync().some((v) => v !== 0)).toBe(true);
    for (const v of model.variables('main')) expect(grads[v.name]!.dataSync().every((g) => g === 0)).toBe(true);
  });
});

describe('EntropyBottleneck training and coding', () => {
  const model = new EntropyBottleneck(CHANNELS, { seed: 3 });
  let auxLosses: number[] = [];
  beforeAll(() => {
    auxLosses = train(model, 300, mulberry32(5));
  });
  afterAll(() => model.dispose());

  it('the aux loss falls and the medians move to the data medians', () => {
    expect(auxLosses[auxLosses.length - 1]!).toBeLessThan(auxLosses[0]! / 5);
    const medians = model.medians();
    CENTERS.forEach((center, c) => expect(Math.abs(medians[c]! - center)).toBeLessThan(0.35 * SPREADS[c]! + 0.2));
  });

  it('update() builds valid CDF tables over [q0, q2], bit-identical on every rebuild', () => {
    const tables = model.update();
    expect(model.tables()).toBe(tables);
    const q = model.namedVariables()['quantiles']!.dataSync();
    for (let c = 0; c < CHANNELS; c++) {
      const { cdf, offset } = tables.table(c);
      const below = Math.ceil(Math.fround(q[3 * c + 1]! - q[3 * c]!));
      const above = Math.ceil(Math.fround(q[3 * c + 2]! - q[3 * c + 1]!));
      expect(offset).toBe(-below);
      expect(cdf.length).toBe(below + above + 1 + 2);
      expect(cdfProblem(cdf)).toBeUndefined();
    }
    // A second build, and a build by a separate model holding the same weights, are bit-identical.
    const twin = new EntropyBottleneck(CHANNELS);
    const source = model.namedVariables();
    for (const [name, variable] of Object.entries(twin.namedVariables())) variable.assign(source[name]!);
    const packs = [tables.pack(), model.update().pack(), twin.update().pack()];
    for (const p of packs.slice(1)) {
      expect(Buffer.from(p.cdfs.buffer, p.cdfs.byteOffset, p.cdfs.byteLength).equals(Buffer.from(packs[0]!.cdfs.buffer, packs[0]!.cdfs.byteOffset, packs[0]!.cdfs.byteLength))).toBe(true);
      expect(Array.from(p.offsets)).toEqual(Array.from(packs[0]!.offsets));
      expect(Array.from(p.lengths)).toEqual(Array.from(packs[0]!.lengths));
    }
    expect(() => twin.setTables(tables)).not.toThrow();
    twin.dispose();
    expect(() => new EntropyBottleneck(2).setTables(tables)).toThrow(/3 tables for 2 channels/);
  });

  it('compress/decompress round-trips exactly, including values far outside the tables', () => {
    model.update();
    const x = laplaceBatch(mulberry32(6), 12, 10);
    const values = x.dataSync().slice();
    const far = [1e4, -1e5, 80.4, -77, 3e5, 2 ** 24];
    far.forEach((v, i) => (values[i * 31] = v));
    const withOutliers = tf.tensor4d(values, x.shape);
    const data = model.compress(withOutliers);
    const decoded = model.decompress(data, [1, 12, 10, CHANNELS]);
    const expected = model.forward(withOutliers, false).xHat;
    expect(Array.from(decoded.dataSync())).toEqual(Array.from(expected.dataSync()));
    expect(() => model.compress(tf.fill([1, 1, 1, CHANNELS], NaN) as tf.Tensor4D)).toThrow(/not codable/);
  });

  it('rounds ties to even around the medians, like the float model', () => {
    const tie = new EntropyBottleneck(CHANNELS, { seed: 9 });
    tie.namedVariables()['quantiles']!.assign(tf.tensor3d([[[-10, 0.25, 10]], [[-10, -1.5, 10]], [[-10, 0, 10]]]));
    tie.update();
    // Per pixel, channel c gets median_c + offset: offsets sit exactly halfway between integers.
    const offsets = [0.5, 1.5, -0.5, -2.5, 7.5];
    const medians = [0.25, -1.5, 0];
    const x = tf.tensor4d(offsets.flatMap((o) => medians.map((m) => m + o)), [1, 1, offsets.length, CHANNELS]);
    const decoded = tie.decompress(tie.compress(x), [1, 1, offsets.length, CHANNELS]).dataSync();
    expect(Array.from(decoded)).toEqual(Array.from(tie.forward(x, false).xHat.dataSync()));
    expect(Array.from(decoded)).toEqual([0, 2, 0, -2, 8].flatMap((r) => medians.map((m) => r + m)));
    tie.dispose();
  });

  it('codes within a few % of -sum log2(likelihood) of the float model', () => {
    model.update();
    const x = laplaceBatch(mulberry32(8), 64, 64);
    const modelBits = bitsOf(model.forward(x, false).likelihoods);
    const codedBits = model.compress(x).length * 8;
    const overhead = codedBits / modelBits - 1;
    console.log(`EntropyBottleneck: ${x.size} symbols, model ${modelBits.toFixed(0)} bits, coded ${codedBits} bits (${(overhead * 100).toFixed(2)} %)`);
    expect(Math.abs(overhead)).toBeLessThan(0.02);
  });
});
