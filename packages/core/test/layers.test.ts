/**
 * Layers against plain-loop references written from PyTorch's definitions
 * (double precision, PyTorch weight layouts), on the cpu and wasm backends.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../src/backend.js';
import {
  Conv2d,
  ConvTranspose2d,
  GDN,
  LeakyReLU,
  PEDESTAL,
  ReLU,
  Sequential,
  convTranspose2dTorch,
  convTransposeOutputSize,
  convTransposeWeightFromTorch,
  convTransposeWeightToTorch,
  convWeightFromTorch,
  convWeightToTorch,
  lowerBound,
  permute,
  torchLayoutOf,
  torchShapeOf,
} from '../src/layers.js';

/** Deterministic pseudo-random floats in [-1, 1). */
function randomArray(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/** PyTorch Conv2d on NHWC data with a [out, in, kh, kw] weight. */
function referenceConv(x: Float32Array, [n, h, w, cin]: number[], weight: Float32Array, bias: Float32Array, cout: number, k: number, s: number, p: number) {
  const oh = Math.floor((h + 2 * p - k) / s) + 1;
  const ow = Math.floor((w + 2 * p - k) / s) + 1;
  const out = new Float64Array(n * oh * ow * cout);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let co = 0; co < cout; co++) {
          let acc = bias[co];
          for (let ci = 0; ci < cin; ci++)
            for (let kh = 0; kh < k; kh++)
              for (let kw = 0; kw < k; kw++) {
                const y = i * s - p + kh;
                const xx = j * s - p + kw;
                if (y < 0 || y >= h || xx < 0 || xx >= w) continue;
                acc += x[((b * h + y) * w + xx) * cin + ci] * weight[((co * cin + ci) * k + kh) * k + kw];
              }
          out[((b * oh + i) * ow + j) * cout + co] = acc;
        }
  return { data: out, shape: [n, oh, ow, cout] };
}

/** PyTorch ConvTranspose2d on NHWC data with an [in, out, kh, kw] weight: scatter every input through the kernel. */
function referenceConvTranspose(
  x: Float32Array,
  [n, h, w, cin]: number[],
  weight: Float32Array,
  bias: Float32Array,
  cout: number,
  k: number,
  s: number,
  p: number,
  op: number,
) {
  const oh = (h - 1) * s - 2 * p + k + op;
  const ow = (w - 1) * s - 2 * p + k + op;
  const out = new Float64Array(n * oh * ow * cout);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) for (let co = 0; co < cout; co++) out[((b * oh + i) * ow + j) * cout + co] = bias[co];
  for (let b = 0; b < n; b++)
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++)
        for (let ci = 0; ci < cin; ci++)
          for (let kh = 0; kh < k; kh++)
            for (let kw = 0; kw < k; kw++) {
              const y = i * s - p + kh;
              const xx = j * s - p + kw;
              if (y < 0 || y >= oh || xx < 0 || xx >= ow) continue;
              for (let co = 0; co < cout; co++) {
                out[((b * oh + y) * ow + xx) * cout + co] += x[((b * h + i) * w + j) * cin + ci] * weight[((ci * cout + co) * k + kh) * k + kw];
              }
            }
  return { data: out, shape: [n, oh, ow, cout] };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function loadTorchWeights(layer: Conv2d | ConvTranspose2d, torchWeight: Float32Array, torchShape: number[], bias: Float32Array): void {
  const tfWeight = layer instanceof Conv2d ? convWeightFromTorch({ data: torchWeight, shape: torchShape }) : convTransposeWeightFromTorch({ data: torchWeight, shape: torchShape });
  layer.weight.assign(tf.tensor4d(tfWeight.data, tfWeight.shape as [number, number, number, number]));
  layer.bias.assign(tf.tensor1d(bias));
}

beforeAll(async () => {
  await selectBackend('cpu', { log: () => {} });
});

describe('weight layout helpers', () => {
  it('permute moves axes like a row-major transpose', () => {
    const data = Float32Array.from({ length: 24 }, (_, i) => i);
    const t = permute({ data, shape: [2, 3, 4] }, [2, 0, 1]);
    expect(t.shape).toEqual([4, 2, 3]);
    // out[c][a][b] = in[a][b][c]
    expect(t.data[(3 * 2 + 1) * 3 + 2]).toBe(data[(1 * 3 + 2) * 4 + 3]);
  });

  it('conv weights: torch [out,in,kh,kw] <-> tf [kh,kw,in,out], and back', () => {
    const shape = [5, 3, 2, 4]; // out, in, kh, kw
    const data = randomArray(120, 1);
    const t = convWeightFromTorch({ data, shape });
    expect(t.shape).toEqual([2, 4, 3, 5]);
    // torch w[o=4][i=1][kh=1][kw=3] == tf w[kh=1][kw=3][i=1][o=4]
    expect(t.data[((1 * 4 + 3) * 3 + 1) * 5 + 4]).toBe(data[((4 * 3 + 1) * 2 + 1) * 4 + 3]);
    expect(convWeightToTorch(t)).toEqual({ data, shape });
  });

  it('conv-transpose weights: torch [in,out,kh,kw] <-> tf [kh,kw,out,in], and back', () => {
    const shape = [2, 3, 4, 4]; // in, out, kh, kw
    const data = randomArray(96, 2);
    const t = convTransposeWeightFromTorch({ data, shape });
    expect(t.shape).toEqual([4, 4, 3, 2]);
    expect(t.data[((2 * 4 + 1) * 3 + 2) * 2 + 1]).toBe(data[((1 * 3 + 2) * 4 + 2) * 4 + 1]);
    expect(convTransposeWeightToTorch(t)).toEqual({ data, shape });
  });

  it('layers tag their weights with the PyTorch layout', () => {
    const conv = new Conv2d(3, 8, 5, 2);
    const deconv = new ConvTranspose2d(8, 4, 5, 2);
    expect(torchLayoutOf(conv.weight)).toBe('conv2d');
    expect(torchShapeOf(conv.weight.shape, 'conv2d')).toEqual([8, 3, 5, 5]);
    expect(torchLayoutOf(deconv.weight)).toBe('convTranspose2d');
    expect(torchShapeOf(deconv.weight.shape, 'convTranspose2d')).toEqual([8, 4, 5, 5]);
    expect(torchLayoutOf(conv.bias)).toBe('same');
    conv.dispose();
    deconv.dispose();
  });
});

describe('names', () => {
  it('Sequential keys children by index, from firstIndex, with the layer names CompressAI uses', () => {
    const g_a = new Sequential('g_a', [new Conv2d(3, 4, 5, 2), new GDN(4), new ReLU(), new Conv2d(4, 4, 3)]);
    expect(Object.keys(g_a.namedVariables()).sort()).toEqual(['g_a.0.bias', 'g_a.0.weight', 'g_a.1.beta', 'g_a.1.gamma', 'g_a.3.bias', 'g_a.3.weight']);
    const block = new Sequential('g_s', [new ConvTranspose2d(4, 4, 5, 2), new GDN(4, { inverse: true })], 4);
    expect(Object.keys(block.namedVariables())).toEqual(['g_s.4.weight', 'g_s.4.bias', 'g_s.5.beta', 'g_s.5.gamma']);
    g_a.dispose();
    block.dispose();
  });

  it('nests anonymous sequences and named layers under a prefix', () => {
    const h_s = new Sequential('h_s', [new Conv2d(4, 4, 3), new LeakyReLU(), new Sequential('', [new Conv2d(4, 16, 3)])]);
    expect(Object.keys(h_s.namedVariables('model'))).toEqual(['model.h_s.0.weight', 'model.h_s.0.bias', 'model.h_s.2.0.weight', 'model.h_s.2.0.bias']);
    const ctx = new Conv2d(4, 8, 5, 1, { name: 'context_prediction' });
    expect(Object.keys(ctx.namedVariables())).toEqual(['context_prediction.weight', 'context_prediction.bias']);
    h_s.dispose();
    ctx.dispose();
  });
});

describe('initialisation', () => {
  it('uses PyTorch default bounds 1/sqrt(fan_in) (fan_in = out·k² for a transposed conv)', () => {
    const conv = new Conv2d(3, 16, 5, 2, { seed: 1 });
    const deconv = new ConvTranspose2d(16, 3, 5, 2, { seed: 1 });
    const maxAbs = (v: tf.Variable) => Math.max(...Array.from(v.dataSync(), Math.abs));
    expect(maxAbs(conv.weight)).toBeLessThanOrEqual(1 / Math.sqrt(3 * 25));
    expect(maxAbs(conv.weight)).toBeGreaterThan(0.9 / Math.sqrt(3 * 25));
    expect(maxAbs(conv.bias)).toBeLessThanOrEqual(1 / Math.sqrt(3 * 25));
    expect(maxAbs(deconv.weight)).toBeLessThanOrEqual(1 / Math.sqrt(3 * 25));
    expect(maxAbs(deconv.weight)).toBeGreaterThan(0.9 / Math.sqrt(3 * 25));
    const again = new Conv2d(3, 16, 5, 2, { seed: 1 });
    expect(Array.from(again.weight.dataSync())).toEqual(Array.from(conv.weight.dataSync()));
    [conv, deconv, again].forEach((l) => l.dispose());
  });

  it('GDN starts as CompressAI: stored beta = sqrt(1 + 2^-36), gamma = sqrt(0.1·I + 2^-36)', () => {
    const gdn = new GDN(3);
    expect(Array.from(gdn.beta.dataSync())).toEqual([1, 1, 1]);
    const gamma = gdn.gamma.dataSync();
    expect(gamma[0]).toBe(Math.fround(Math.sqrt(Math.fround(0.1))));
    expect(gamma[1]).toBe(2 ** -18);
    gdn.dispose();
  });

  it('rejects impossible shapes', () => {
    expect(() => new Conv2d(0, 4, 3)).toThrow(RangeError);
    expect(() => new ConvTranspose2d(4, 4, 5, 2, { outputPadding: 2 })).toThrow(RangeError);
    expect(() => new GDN(1.5)).toThrow(RangeError);
  });
});

describe.each(['cpu', 'wasm'] as const)('numerics on %s', (backend) => {
  beforeAll(async () => {
    expect(await selectBackend(backend, { log: () => {} })).toBe(backend);
  });

  it.each([
    [5, 2, 2, 8, 8],
    [5, 2, 2, 7, 9],
    [3, 1, 1, 6, 5],
    [3, 2, 1, 7, 6],
    [4, 2, 1, 8, 6],
    [1, 1, 0, 3, 4],
  ])('Conv2d k=%i s=%i p=%i on %ix%i matches PyTorch semantics', (k, s, p, h, w) => {
    const [cin, cout, n] = [3, 4, 2];
    const conv = new Conv2d(cin, cout, k, s, { padding: p });
    const weight = randomArray(cout * cin * k * k, 10 + k);
    const bias = randomArray(cout, 20);
    loadTorchWeights(conv, weight, [cout, cin, k, k], bias);
    const xData = randomArray(n * h * w * cin, 30);
    const y = conv.apply(tf.tensor4d(xData, [n, h, w, cin]));
    const ref = referenceConv(xData, [n, h, w, cin], weight, bias, cout, k, s, p);
    expect(y.shape).toEqual(ref.shape);
    expect(maxAbsDiff(y.dataSync(), ref.data)).toBeLessThan(1e-5);
    conv.dispose();
  });

  it.each([
    [5, 2, 2, 1],
    [3, 2, 1, 1],
    [4, 2, 1, 0],
    [3, 2, 1, 0],
    [3, 1, 1, 0],
    [5, 2, 0, 0],
  ])('ConvTranspose2d k=%i s=%i p=%i output_padding=%i matches PyTorch semantics', (k, s, p, op) => {
    const [cin, cout, n, h, w] = [3, 2, 2, 4, 5];
    const deconv = new ConvTranspose2d(cin, cout, k, s, { padding: p, outputPadding: op });
    const weight = randomArray(cin * cout * k * k, 40 + k);
    const bias = randomArray(cout, 50);
    loadTorchWeights(deconv, weight, [cin, cout, k, k], bias);
    const xData = randomArray(n * h * w * cin, 60);
    const y = deconv.apply(tf.tensor4d(xData, [n, h, w, cin]));
    const ref = referenceConvTranspose(xData, [n, h, w, cin], weight, bias, cout, k, s, p, op);
    expect(y.shape).toEqual(ref.shape);
    expect(y.shape[1]).toBe(convTransposeOutputSize(h, k, s, p, op));
    expect(maxAbsDiff(y.dataSync(), ref.data)).toBeLessThan(1e-5);
    deconv.dispose();
  });

  it("CompressAI's deconv(k=5, s=2) doubles the size, and tf's 'same' padding would not reproduce it", () => {
    const [cin, cout, h, w, k] = [2, 2, 4, 4, 5];
    const weight = randomArray(cin * cout * k * k, 70);
    const xData = randomArray(h * w * cin, 71);
    const x = tf.tensor4d(xData, [1, h, w, cin]);
    const filter = convTransposeWeightFromTorch({ data: weight, shape: [cin, cout, k, k] });
    const f = tf.tensor4d(filter.data, filter.shape as [number, number, number, number]);
    const ours = convTranspose2dTorch(x, f, 2, 2, 1);
    expect(ours.shape).toEqual([1, 2 * h, 2 * w, cout]);
    const same = tf.conv2dTranspose(x, f, [1, 2 * h, 2 * w, cout], 2, 'same');
    const ref = referenceConvTranspose(xData, [1, h, w, cin], weight, new Float32Array(cout), cout, k, 2, 2, 1);
    expect(maxAbsDiff(ours.dataSync(), ref.data)).toBeLessThan(1e-5);
    expect(maxAbsDiff(same.dataSync(), ref.data)).toBeGreaterThan(1e-2);
    tf.dispose([x, f, ours, same]);
  });

  it.each([false, true])('GDN (inverse=%s) matches y = x / sqrt(beta + gamma·x²) with the reparametrisation', (inverse) => {
    const c = 4;
    const gdn = new GDN(c, { inverse });
    // Stored values, some below the lower bound so the bound matters.
    const beta = Float32Array.from([1.2, 0.5, 1e-4, 0.9]);
    const gamma = Float32Array.from(randomArray(c * c, 80), (v) => v * 0.6);
    gdn.beta.assign(tf.tensor1d(beta));
    gdn.gamma.assign(tf.tensor2d(gamma, [c, c]));
    const [n, h, w] = [2, 3, 5];
    const xData = randomArray(n * h * w * c, 81).map((v) => v * 3);
    const y = gdn.apply(tf.tensor4d(xData, [n, h, w, c])).dataSync();
    const eff = (v: number, bound: number) => Math.max(v, bound) ** 2 - PEDESTAL;
    let worst = 0;
    for (let p = 0; p < n * h * w; p++) {
      for (let i = 0; i < c; i++) {
        let norm = eff(beta[i], gdn.betaReparam.bound);
        for (let j = 0; j < c; j++) norm += eff(gamma[i * c + j], gdn.gammaReparam.bound) * xData[p * c + j] ** 2;
        const expected = inverse ? xData[p * c + i] * Math.sqrt(norm) : xData[p * c + i] / Math.sqrt(norm);
        worst = Math.max(worst, Math.abs(y[p * c + i] - expected) / Math.max(1, Math.abs(expected)));
      }
    }
    expect(worst).toBeLessThan(1e-5);
    gdn.dispose();
  });

  it('lowerBound passes gradients above the bound, or below it when they push the value up', () => {
    const x = tf.tensor1d([0.5, 2, 0.5, 2]);
    const dy = tf.tensor1d([-1, -1, 1, 1]);
    // d/dx sum(lowerBound(x, 1) * c) = c where allowed; gradient descent moves x by -c.
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(lowerBound(t, 1), dy)))(x);
    expect(Array.from(g.dataSync())).toEqual([-1, -1, 0, 1]);
    expect(Array.from(lowerBound(x, 1).dataSync())).toEqual([1, 2, 1, 2]);
    tf.dispose([x, dy, g]);
  });

  it('apply does not leak intermediate tensors', () => {
    const net = new Sequential('g_a', [new Conv2d(3, 4, 5, 2), new GDN(4), new ConvTranspose2d(4, 3, 5, 2), new GDN(3, { inverse: true })]);
    const x = tf.randomUniform([1, 16, 16, 3]) as tf.Tensor4D;
    net.apply(x).dispose();
    const before = tf.memory().numTensors;
    net.apply(x).dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    net.dispose();
  });
});
