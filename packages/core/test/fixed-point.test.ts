/**
 * Fixed-point hyper-synthesis: every check compares the fast runner with an
 * independent reference written straight from the PyTorch definitions
 * (conv: gather, transposed conv: scatter), either exact (BigInt, summed in
 * reverse order) or float64 / tfjs float32 within a derived error bound.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { PsicError, mulberry32 } from '@psic/entropy';
import {
  fixedLayerOutputSize,
  fixedPointOutputShape,
  fixedToFloat,
  packNetwork,
  quantizeNetwork,
  runFixedPoint,
  runFixedPointBatch,
  unpackNetwork,
  type FixedActivation,
  type FixedLayerSpec,
  type FixedPointNetwork,
  type QuantizedLayer,
} from '../src/fixed-point.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// ------------------------------------------------------------------ helpers

type Kind = 'conv' | 'deconv';

/** Float layer with He-like weights (the magnitudes a trained h_s has). */
function randomSpec(
  random: () => number,
  kind: Kind,
  cin: number,
  cout: number,
  kernel: number,
  stride: number,
  activation: FixedActivation = 'none',
  gain = 1,
): FixedLayerSpec {
  const std = gain * Math.sqrt(2 / (cin * kernel * kernel));
  const gauss = () => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
  return {
    kind,
    cin,
    cout,
    kernel,
    stride,
    activation,
    weight: Float32Array.from({ length: kernel * kernel * cin * cout }, () => gauss() * std),
    bias: Float32Array.from({ length: cout }, () => (random() - 0.5) * 0.2),
  };
}

/** Values k / 2^8, so quantizing the input is exact. */
function dyadicInput(random: () => number, length: number, range: number): Float32Array {
  return Float32Array.from({ length }, () => Math.round((random() * 2 - 1) * range * 256) / 256);
}

/** Weights of a float or quantized layer, tfjs layout, as float64 (quantized: the exact dyadic values). */
function tfjsLayoutWeights(layer: QuantizedLayer): Float64Array {
  const { kernel: k, cin, cout } = layer;
  const out = new Float64Array(k * k * cin * cout);
  for (let co = 0; co < cout; co++) {
    for (let t = 0; t < k * k; t++) {
      for (let ci = 0; ci < cin; ci++) {
        const v = layer.weight[(co * k * k + t) * cin + ci] / 2 ** layer.shift[co];
        out[layer.kind === 'conv' ? (t * cin + ci) * cout + co : (t * cout + co) * cin + ci] = v;
      }
    }
  }
  return out;
}

interface FloatLayer {
  kind: Kind;
  kernel: number;
  stride: number;
  cin: number;
  cout: number;
  weight: ArrayLike<number>; // tfjs layout
  bias: ArrayLike<number>;
  activation: FixedActivation;
  negativeSlope?: number;
}

/** Naive float64 op from the PyTorch definition (conv: gather; deconv: scatter). */
function floatLayer(l: FloatLayer, x: ArrayLike<number>, h: number, w: number): { data: Float64Array; h: number; w: number } {
  const { kernel: k, stride: s, cin, cout } = l;
  const p = Math.floor(k / 2);
  const oh = l.kind === 'conv' ? Math.floor((h + 2 * p - k) / s) + 1 : (h - 1) * s - 2 * p + k + s - 1;
  const ow = l.kind === 'conv' ? Math.floor((w + 2 * p - k) / s) + 1 : (w - 1) * s - 2 * p + k + s - 1;
  const out = new Float64Array(oh * ow * cout);
  for (let i = 0; i < oh * ow; i++) for (let co = 0; co < cout; co++) out[i * cout + co] = l.bias[co];
  if (l.kind === 'conv') {
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++)
        for (let ky = 0; ky < k; ky++)
          for (let kx = 0; kx < k; kx++) {
            const iy = oy * s - p + ky;
            const ix = ox * s - p + kx;
            if (iy < 0 || ix < 0 || iy >= h || ix >= w) continue;
            for (let ci = 0; ci < cin; ci++)
              for (let co = 0; co < cout; co++)
                out[(oy * ow + ox) * cout + co] += x[(iy * w + ix) * cin + ci] * l.weight[((ky * k + kx) * cin + ci) * cout + co];
          }
  } else {
    for (let iy = 0; iy < h; iy++)
      for (let ix = 0; ix < w; ix++)
        for (let ky = 0; ky < k; ky++)
          for (let kx = 0; kx < k; kx++) {
            const oy = iy * s - p + ky;
            const ox = ix * s - p + kx;
            if (oy < 0 || ox < 0 || oy >= oh || ox >= ow) continue;
            for (let co = 0; co < cout; co++)
              for (let ci = 0; ci < cin; ci++)
                out[(oy * ow + ox) * cout + co] += x[(iy * w + ix) * cin + ci] * l.weight[((ky * k + kx) * cout + co) * cin + ci];
          }
  }
  const slope = l.negativeSlope ?? 0.01;
  for (let i = 0; i < out.length; i++) {
    if (out[i] < 0 && l.activation === 'relu') out[i] = 0;
    if (out[i] < 0 && l.activation === 'leaky_relu') out[i] *= slope;
  }
  return { data: out, h: oh, w: ow };
}

function floatNetwork(layers: FloatLayer[], x: ArrayLike<number>, h: number, w: number): { data: Float64Array; h: number; w: number } {
  let cur: { data: Float64Array; h: number; w: number } = { data: Float64Array.from(x), h, w };
  for (const l of layers) cur = floatLayer(l, cur.data, cur.h, cur.w);
  return cur;
}

const floorDiv = (a: bigint, b: bigint): bigint => {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
};

/**
 * Exact integer reference of one quantized layer: BigInt arithmetic, terms
 * summed in reverse order (deconv by scattering), then the documented
 * requantization, clamp and activation.
 */
function exactLayer(net: FixedPointNetwork, l: QuantizedLayer, x: Int32Array, h: number, w: number) {
  const { kernel: k, stride: s, cin, cout } = l;
  const p = Math.floor(k / 2);
  const oh = l.kind === 'conv' ? Math.floor((h + 2 * p - k) / s) + 1 : (h - 1) * s - 2 * p + k + s - 1;
  const ow = l.kind === 'conv' ? Math.floor((w + 2 * p - k) / s) + 1 : (w - 1) * s - 2 * p + k + s - 1;
  const acc: bigint[] = new Array(oh * ow * cout);
  for (let i = 0; i < oh * ow; i++) for (let co = 0; co < cout; co++) acc[i * cout + co] = BigInt(l.bias[co]);
  const q = (co: number, ky: number, kx: number, ci: number) => BigInt(l.weight[((co * k + ky) * k + kx) * cin + ci]);
  for (let iy = h - 1; iy >= 0; iy--)
    for (let ix = w - 1; ix >= 0; ix--)
      for (let ky = k - 1; ky >= 0; ky--)
        for (let kx = k - 1; kx >= 0; kx--)
          for (let ci = cin - 1; ci >= 0; ci--) {
            const a = BigInt(x[(iy * w + ix) * cin + ci]);
            if (l.kind === 'deconv') {
              const oy = iy * s - p + ky;
              const ox = ix * s - p + kx;
              if (oy < 0 || ox < 0 || oy >= oh || ox >= ow) continue;
              for (let co = cout - 1; co >= 0; co--) acc[(oy * ow + ox) * cout + co] += a * q(co, ky, kx, ci);
            } else {
              // input (iy, ix) feeds output (oy, ox) through tap (ky, kx) when iy = oy*s - p + ky
              if ((iy + p - ky) % s !== 0 || (ix + p - kx) % s !== 0) continue;
              const oy = (iy + p - ky) / s;
              const ox = (ix + p - kx) / s;
              if (oy < 0 || ox < 0 || oy >= oh || ox >= ow) continue;
              for (let co = cout - 1; co >= 0; co--) acc[(oy * ow + ox) * cout + co] += a * q(co, ky, kx, ci);
            }
          }
  const limit = BigInt(net.activationLimit);
  const out = new Int32Array(acc.length);
  for (let i = 0; i < acc.length; i++) {
    const sh = BigInt(l.shift[i % cout]);
    let v = floorDiv(acc[i] + (sh > 0n ? 1n << (sh - 1n) : 0n), 1n << sh);
    v = v > limit ? limit : v < -limit ? -limit : v;
    if (v < 0n && l.activation === 'relu') v = 0n;
    if (v < 0n && l.activation === 'leaky_relu') v = floorDiv(v * BigInt(l.negativeSlope) + (1n << 19n), 1n << 20n);
    out[i] = Number(v);
  }
  return { data: out, h: oh, w: ow };
}

/** The same exact integers, but summed in float64 in a shuffled order (still exact under the 2^53 bound). */
function shuffledFloatLayer(net: FixedPointNetwork, l: QuantizedLayer, x: Int32Array, h: number, w: number, random: () => number) {
  const { kernel: k, stride: s, cin, cout } = l;
  const p = Math.floor(k / 2);
  const oh = fixedLayerOutputSize(l.kind, h, k, s);
  const ow = fixedLayerOutputSize(l.kind, w, k, s);
  const terms: number[][] = Array.from({ length: oh * ow * cout }, () => []);
  for (let iy = 0; iy < h; iy++)
    for (let ix = 0; ix < w; ix++)
      for (let ky = 0; ky < k; ky++)
        for (let kx = 0; kx < k; kx++) {
          let oy: number, ox: number;
          if (l.kind === 'deconv') {
            oy = iy * s - p + ky;
            ox = ix * s - p + kx;
          } else {
            if ((iy + p - ky) % s !== 0 || (ix + p - kx) % s !== 0) continue;
            oy = (iy + p - ky) / s;
            ox = (ix + p - kx) / s;
          }
          if (oy < 0 || ox < 0 || oy >= oh || ox >= ow) continue;
          for (let ci = 0; ci < cin; ci++)
            for (let co = 0; co < cout; co++)
              terms[(oy * ow + ox) * cout + co].push(x[(iy * w + ix) * cin + ci] * l.weight[((co * k + ky) * k + kx) * cin + ci]);
        }
  const out = new Int32Array(terms.length);
  terms.forEach((t, i) => {
    const co = i % cout;
    t.push(l.bias[co]);
    for (let j = t.length - 1; j > 0; j--) {
      const r = Math.floor(random() * (j + 1));
      [t[j], t[r]] = [t[r], t[j]];
    }
    let acc = 0;
    for (const v of t) acc += v;
    let v = Math.floor((acc + (l.shift[co] > 0 ? 2 ** (l.shift[co] - 1) : 0)) / 2 ** l.shift[co]);
    v = Math.max(-net.activationLimit, Math.min(net.activationLimit, v));
    if (v < 0 && l.activation === 'relu') v = 0;
    if (v < 0 && l.activation === 'leaky_relu') v = Math.floor((v * l.negativeSlope + 2 ** 19) / 2 ** 20);
    out[i] = v;
  });
  return { data: out, h: oh, w: ow };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function expectPsicError(fn: () => unknown, code: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a PsicError').toBeInstanceOf(PsicError);
  expect((caught as PsicError).code).toBe(code);
}

/** Geometries covering both ops, odd and even kernels, strides 1-3, cout and widths not multiples of 4. */
const GEOMETRIES: { kind: Kind; k: number; s: number; cin: number; cout: number; h: number; w: number }[] = [
  { kind: 'conv', k: 3, s: 1, cin: 5, cout: 7, h: 6, w: 9 },
  { kind: 'conv', k: 5, s: 2, cin: 6, cout: 4, h: 7, w: 6 },
  { kind: 'conv', k: 1, s: 1, cin: 3, cout: 5, h: 2, w: 3 },
  { kind: 'deconv', k: 5, s: 2, cin: 6, cout: 5, h: 4, w: 5 },
  { kind: 'deconv', k: 3, s: 2, cin: 4, cout: 9, h: 3, w: 6 },
  { kind: 'deconv', k: 4, s: 2, cin: 3, cout: 3, h: 3, w: 3 },
  { kind: 'deconv', k: 5, s: 3, cin: 2, cout: 6, h: 2, w: 3 },
  { kind: 'deconv', k: 3, s: 1, cin: 5, cout: 6, h: 5, w: 7 },
  { kind: 'deconv', k: 1, s: 2, cin: 3, cout: 5, h: 3, w: 2 }, // odd outputs get no taps: bias only
];

// ------------------------------------------------------------------ (1) ops vs float references

describe('fixed-point ops match float references', () => {
  for (const g of GEOMETRIES) {
    it(`${g.kind} k${g.k} s${g.s} ${g.cin}->${g.cout} on ${g.h}x${g.w}`, () => {
      const random = mulberry32(g.k * 100 + g.s * 10 + g.cin);
      const spec = randomSpec(random, g.kind, g.cin, g.cout, g.k, g.s);
      const net = quantizeNetwork([spec]);
      const layer = net.layers[0];
      const x = dyadicInput(random, g.h * g.w * g.cin, 8);
      const out = runFixedPoint(net, x, g.h, g.w, g.cin);
      const got = fixedToFloat(out.data, net.activationBits);

      // a) quantized weights as exact dyadic floats: only the final rounding differs, <= 2^-(F_A+1)
      const dequantized: FloatLayer = { ...layer, weight: tfjsLayoutWeights(layer), bias: Array.from(layer.bias, (b, co) => b / 2 ** (net.activationBits + layer.shift[co])) };
      const ref = floatLayer(dequantized, x, g.h, g.w);
      expect([out.h, out.w]).toEqual([ref.h, ref.w]);
      expect(maxAbsDiff(got, ref.data)).toBeLessThanOrEqual(2 ** -(net.activationBits + 1));

      // b) the original float weights: add weight and bias rounding, sum|x| * 2^-(s+1) + 2^-(F_A+s+1)
      const exactFloat = floatLayer(spec, x, g.h, g.w);
      const absX = floatLayer({ ...spec, weight: new Float64Array(spec.weight.length).fill(1), bias: new Float64Array(g.cout) }, Array.from(x, Math.abs), g.h, g.w);
      for (let i = 0; i < got.length; i++) {
        const s = layer.shift[i % g.cout];
        const bound = absX.data[i] * 2 ** -(s + 1) + 2 ** -(net.activationBits + s + 1) + 2 ** -(net.activationBits + 1);
        expect(Math.abs(got[i] - exactFloat.data[i])).toBeLessThanOrEqual(bound * (1 + 1e-9));
      }

      // c) tfjs cpu with the padding that reproduces PyTorch
      const p = Math.floor(g.k / 2);
      if (g.kind === 'deconv' && p < g.s - 1) return; // tfjs takes no negative padding
      const y = tf.tidy(() => {
        const xt = tf.tensor4d(x, [1, g.h, g.w, g.cin]);
        if (g.kind === 'conv') {
          const f = tf.tensor4d(Float32Array.from(dequantized.weight as Float64Array), [g.k, g.k, g.cin, g.cout]);
          return tf.add(tf.conv2d(xt, f, g.s, [[0, 0], [p, p], [p, p], [0, 0]]), tf.tensor1d(Float32Array.from(dequantized.bias)));
        }
        const f = tf.tensor4d(Float32Array.from(dequantized.weight as Float64Array), [g.k, g.k, g.cout, g.cin]);
        const extra = p - (g.s - 1);
        const y = tf.conv2dTranspose(xt, f, [1, out.h, out.w, g.cout], g.s, [[0, 0], [p, extra], [p, extra], [0, 0]]);
        return tf.add(y, tf.tensor1d(Float32Array.from(dequantized.bias)));
      });
      expect(y.shape).toEqual([1, out.h, out.w, g.cout]);
      // float32 accumulation adds a little to the rounding bound
      expect(maxAbsDiff(got, y.dataSync())).toBeLessThanOrEqual(2 ** -(net.activationBits + 1) + 1e-4);
      y.dispose();
    });
  }

  it('applies ReLU and LeakyReLU with the documented slope', () => {
    const random = mulberry32(5);
    for (const activation of ['relu', 'leaky_relu'] as const) {
      const spec = { ...randomSpec(random, 'conv', 4, 6, 3, 1, activation), negativeSlope: 0.05 };
      const net = quantizeNetwork([spec]);
      const x = dyadicInput(random, 5 * 5 * 4, 4);
      const got = fixedToFloat(runFixedPoint(net, x, 5, 5, 4).data, net.activationBits);
      const l = net.layers[0];
      const ref = floatLayer({ ...l, negativeSlope: l.negativeSlope / 2 ** 20, weight: tfjsLayoutWeights(l), bias: Array.from(l.bias, (b, co) => b / 2 ** (8 + l.shift[co])) }, x, 5, 5);
      // rounding before and after the slope
      expect(maxAbsDiff(got, ref.data)).toBeLessThanOrEqual(2 ** -9 * 1.06);
      if (activation === 'relu') expect(Math.min(...got)).toBe(0);
      else expect(Math.min(...got)).toBeLessThan(0);
    }
  });

  it('computes the output shape like PyTorch (deconv: s x input for odd k)', () => {
    expect(fixedLayerOutputSize('deconv', 17, 5, 2)).toBe(34);
    expect(fixedLayerOutputSize('deconv', 17, 4, 2)).toBe(33);
    expect(fixedLayerOutputSize('conv', 17, 5, 2)).toBe(9);
    expect(fixedLayerOutputSize('conv', 68, 3, 1)).toBe(68);
    const random = mulberry32(1);
    const net = quantizeNetwork([randomSpec(random, 'deconv', 3, 3, 5, 2), randomSpec(random, 'deconv', 3, 3, 5, 2), randomSpec(random, 'conv', 3, 4, 3, 1)]);
    expect(fixedPointOutputShape(net, 17, 30)).toEqual({ h: 68, w: 120, c: 4 });
  });
});

// ------------------------------------------------------------------ (2) exactness

describe('fixed-point results are exact integers, independent of summation order', () => {
  for (const g of GEOMETRIES) {
    for (const activation of ['none', 'relu', 'leaky_relu'] as const) {
      it(`${g.kind} k${g.k} s${g.s} ${activation}: equals BigInt reverse-order and shuffled float64 sums`, () => {
        const random = mulberry32(g.k * 7 + g.s * 3 + g.cout + activation.length);
        // 16-bit weights and activations up to 2^26 make products ~2^41 and sums ~2^47:
        // float32 (or any lossy order) would differ here, exact float64 must not.
        const net = quantizeNetwork([randomSpec(random, g.kind, g.cin, g.cout, g.k, g.s, activation, 3)], { weightBits: 16, activationIntegerBits: 18 });
        const x = dyadicInput(random, g.h * g.w * g.cin, 2 ** 17);
        const l = net.layers[0];
        const first = runFixedPoint(net, x, g.h, g.w, g.cin);
        const second = runFixedPoint(net, x, g.h, g.w, g.cin);
        expect(second.data).toEqual(first.data);
        const xq = Int32Array.from(x, (v) => v * 2 ** net.activationBits);
        const exact = exactLayer(net, l, xq, g.h, g.w);
        expect([first.h, first.w]).toEqual([exact.h, exact.w]);
        expect(Array.from(first.data)).toEqual(Array.from(exact.data));
        // both kernels (WebAssembly SIMD and plain JS) give the same integers
        for (const kernel of ['wasm', 'js'] as const) {
          expect(Array.from(runFixedPoint(net, x, g.h, g.w, g.cin, { kernel }).data)).toEqual(Array.from(exact.data));
        }
        const shuffled = shuffledFloatLayer(net, l, xq, g.h, g.w, random);
        expect(Array.from(shuffled.data)).toEqual(Array.from(exact.data));
      });
    }
  }

  it('a whole network equals the layer-by-layer BigInt reference, clamping included', () => {
    const random = mulberry32(99);
    const specs = [
      randomSpec(random, 'deconv', 6, 5, 5, 2, 'relu', 4),
      randomSpec(random, 'deconv', 5, 7, 5, 2, 'leaky_relu', 4),
      randomSpec(random, 'conv', 7, 6, 3, 1, 'none', 4),
    ];
    // large inputs and gains drive activations into the clamp
    const net = quantizeNetwork(specs, { activationIntegerBits: 8 });
    const x = dyadicInput(random, 3 * 4 * 6, 200);
    const got = runFixedPoint(net, x, 3, 4, 6);
    let cur = { data: Int32Array.from(x, (v) => Math.max(-net.activationLimit, Math.min(net.activationLimit, v * 256))), h: 3, w: 4 };
    for (const l of net.layers) cur = exactLayer(net, l, cur.data, cur.h, cur.w);
    expect(Array.from(got.data)).toEqual(Array.from(cur.data));
    expect(Math.max(...Array.from(got.data, Math.abs))).toBe(net.activationLimit);
  });

  it('quantizes the input by rounding half away from zero and clamping', () => {
    const spec: FixedLayerSpec = { kind: 'conv', kernel: 1, stride: 1, cin: 1, cout: 1, activation: 'none', weight: Float32Array.of(1), bias: Float32Array.of(0) };
    const net = quantizeNetwork([spec]);
    const x = Float32Array.of(0.5 / 256, -0.5 / 256, 1.5 / 256, -1.5 / 256, 0.49 / 256, 1e9, -1e9);
    expect(Array.from(runFixedPoint(net, x, 1, 7, 1).data)).toEqual([1, -1, 2, -2, 0, net.activationLimit, -net.activationLimit]);
  });

  it('batches run image by image', () => {
    const random = mulberry32(4);
    const net = quantizeNetwork([randomSpec(random, 'deconv', 3, 4, 5, 2, 'relu')]);
    const a = dyadicInput(random, 2 * 3 * 3, 5);
    const b = dyadicInput(random, 2 * 3 * 3, 5);
    const batch = runFixedPointBatch(net, Float32Array.from([...a, ...b]), 2, 2, 3, 3);
    expect(batch.n).toBe(2);
    expect(Array.from(batch.data)).toEqual([...runFixedPoint(net, a, 2, 3, 3).data, ...runFixedPoint(net, b, 2, 3, 3).data]);
  });

  it('rejects inputs that do not fit the network with typed errors', () => {
    const net = quantizeNetwork([randomSpec(mulberry32(2), 'conv', 3, 2, 3, 1)]);
    expectPsicError(() => runFixedPoint(net, new Float32Array(11), 2, 2, 3), 'BAD_INPUT');
    expectPsicError(() => runFixedPoint(net, new Float32Array(8), 2, 2, 2), 'BAD_INPUT');
    expectPsicError(() => runFixedPoint(net, Float32Array.of(NaN, 0, 0), 1, 1, 3), 'BAD_INPUT');
    expectPsicError(() => runFixedPoint(net, new Float32Array(0), 0, 1, 3), 'BAD_INPUT');
  });
});

// ------------------------------------------------------------------ (3) the 2^53 bound

describe('quantizeNetwork enforces the exactness bound', () => {
  it('accepts the largest realistic layer with default bits (cin 320, k 5)', () => {
    const random = mulberry32(3);
    expect(() => quantizeNetwork([randomSpec(random, 'deconv', 320, 2, 5, 2)])).not.toThrow();
  });

  it('throws when a layer could push an accumulator past 2^53', () => {
    const random = mulberry32(3);
    // 24-bit weights and 26-bit activations: 2^25 * 2^23 * 320*25 terms > 2^53
    const spec = randomSpec(random, 'conv', 320, 2, 5, 1);
    expectPsicError(() => quantizeNetwork([spec], { weightBits: 24, activationIntegerBits: 18 }), 'BAD_WEIGHTS');
    // the same layer passes with default bits
    expect(() => quantizeNetwork([spec])).not.toThrow();
  });

  it('rejects malformed specs and options', () => {
    const random = mulberry32(8);
    const good = randomSpec(random, 'conv', 4, 3, 3, 1);
    expectPsicError(() => quantizeNetwork([]), 'BAD_WEIGHTS');
    expectPsicError(() => quantizeNetwork([{ ...good, weight: good.weight.subarray(1) }]), 'BAD_WEIGHTS');
    expectPsicError(() => quantizeNetwork([{ ...good, bias: new Float32Array(2) }]), 'BAD_WEIGHTS');
    expectPsicError(() => quantizeNetwork([good, good]), 'BAD_WEIGHTS'); // cin 4 after cout 3
    expectPsicError(() => quantizeNetwork([{ ...good, weight: good.weight.map((v, i) => (i === 3 ? NaN : v)) }]), 'BAD_WEIGHTS');
    expectPsicError(() => quantizeNetwork([{ ...good, weight: good.weight.map(() => 5000) }]), 'BAD_WEIGHTS');
    expectPsicError(() => quantizeNetwork([good], { weightBits: 40 }), 'BAD_WEIGHTS');
    expectPsicError(() => quantizeNetwork([good], { activationBits: 8, activationIntegerBits: 23 }), 'BAD_WEIGHTS');
  });

  it('uses the full weight range per channel with a power-of-two scale', () => {
    const random = mulberry32(12);
    const spec = randomSpec(random, 'conv', 8, 4, 3, 1);
    const l = quantizeNetwork([spec]).layers[0];
    for (let co = 0; co < 4; co++) {
      const row = l.weight.subarray(co * 72, (co + 1) * 72);
      const max = Math.max(...Array.from(row, Math.abs));
      expect(max).toBeLessThanOrEqual(2047);
      expect(max).toBeGreaterThan(1023); // one more shift bit would overflow 12 bits
    }
  });
});

// ------------------------------------------------------------------ (4) pack / unpack

describe('packNetwork / unpackNetwork', () => {
  const random = mulberry32(21);
  const specs = [randomSpec(random, 'deconv', 4, 6, 5, 2, 'leaky_relu'), randomSpec(random, 'conv', 6, 5, 3, 1, 'relu')];
  specs[0].bias[1] = 3000.25; // needs more than 32 bits at F_A + shift
  specs[0].bias[2] = -2900.5;
  const net = quantizeNetwork(specs);

  /** A pack whose meta went through JSON, as it does inside safetensors. */
  function freshPack() {
    const p = packNetwork(net);
    return { tensors: Object.fromEntries(Object.entries(p.tensors).map(([k, v]) => [k, Int32Array.from(v)])), meta: JSON.parse(JSON.stringify(p.meta)) };
  }

  it('round-trips to the same network and the same outputs', () => {
    expect(Math.abs(net.layers[0].bias[1])).toBeGreaterThan(2 ** 31);
    const back = unpackNetwork(freshPack());
    expect(back.activationBits).toBe(net.activationBits);
    expect(back.activationLimit).toBe(net.activationLimit);
    expect(back.weightBits).toBe(net.weightBits);
    back.layers.forEach((l, i) => {
      const o = net.layers[i];
      expect({ ...l, weight: [...l.weight], bias: [...l.bias], shift: [...l.shift] }).toEqual({ ...o, weight: [...o.weight], bias: [...o.bias], shift: [...o.shift] });
    });
    const x = dyadicInput(random, 3 * 4 * 4, 6);
    expect(runFixedPoint(back, x, 3, 4, 4).data).toEqual(runFixedPoint(net, x, 3, 4, 4).data);
  });

  const corruptions: [string, (p: { tensors: Record<string, Int32Array>; meta: any }) => void][] = [
    ['wrong format', (p) => (p.meta.format = 'other')],
    ['future version', (p) => (p.meta.version = 2)],
    ['meta not an object', (p) => (p.meta = 'x')],
    ['activationBits out of range', (p) => (p.meta.activationBits = 40)],
    ['activationLimit not 2^b - 1', (p) => (p.meta.activationLimit = 12345)],
    ['weightBits fractional', (p) => (p.meta.weightBits = 11.5)],
    ['no layers', (p) => (p.meta.layers = [])],
    ['unknown kind', (p) => (p.meta.layers[0].kind = 'pool')],
    ['unknown activation', (p) => (p.meta.layers[1].activation = 'gelu')],
    ['kernel 0', (p) => (p.meta.layers[0].kernel = 0)],
    ['cin does not chain', (p) => (p.meta.layers[1].cin = 5)],
    ['missing tensor', (p) => delete p.tensors['layers.1.bias']],
    ['extra tensor', (p) => (p.tensors['layers.2.weight'] = new Int32Array(1))],
    ['truncated weights', (p) => (p.tensors['layers.0.weight'] = p.tensors['layers.0.weight'].subarray(1))],
    ['float tensor', (p) => ((p.tensors as any)['layers.0.shift'] = new Float32Array(6))],
    ['weight beyond weightBits', (p) => (p.tensors['layers.1.weight'][7] = 4096)],
    ['shift out of range', (p) => (p.tensors['layers.0.shift'][0] = 99)],
    ['bias low part out of range', (p) => (p.tensors['layers.0.bias'][1] = -1)],
    ['bias beyond 2^48', (p) => (p.tensors['layers.0.bias'][0] = 2 ** 30)],
    ['slope without leaky_relu', (p) => (p.meta.layers[1].negativeSlope = 5)],
    ['bound broken by a larger weightBits', (p) => {
      p.meta.weightBits = 24;
      p.meta.activationLimit = 2 ** 30 - 1;
      p.tensors['layers.1.weight'].fill(2 ** 23 - 1);
    }],
  ];
  for (const [name, corrupt] of corruptions) {
    it(`rejects a pack with ${name} as BAD_WEIGHTS`, () => {
      const p = freshPack();
      corrupt(p);
      expectPsicError(() => unpackNetwork(p), 'BAD_WEIGHTS');
    });
  }
});

// ------------------------------------------------------------------ (5) an h_s-like network

describe('an h_s-like network tracks the float network', () => {
  it('deconv-relu-deconv-relu-conv-relu stays within 1% relative error', () => {
    const random = mulberry32(2024);
    const N = 24;
    const M = 32;
    const specs = [
      randomSpec(random, 'deconv', N, N, 5, 2, 'relu', 1.4),
      randomSpec(random, 'deconv', N, N, 5, 2, 'relu', 1.4),
      randomSpec(random, 'conv', N, M, 3, 1, 'relu', 1.4),
    ];
    const net = quantizeNetwork(specs);
    // z-hat = integer symbols + per-channel medians
    const medians = Float32Array.from({ length: N }, () => (random() - 0.5) * 0.6);
    const h = 3;
    const w = 5;
    const z = Float32Array.from({ length: h * w * N }, (_, i) => Math.round((random() - 0.5) * 12) + medians[i % N]);
    const out = runFixedPoint(net, z, h, w, N);
    expect(runFixedPoint(net, z, h, w, N, { kernel: 'js' }).data).toEqual(out.data);
    const got = fixedToFloat(out.data, net.activationBits);
    const ref = floatNetwork(specs, z, h, w);
    expect([out.h, out.w, out.c]).toEqual([12, 20, M]);
    let err2 = 0;
    let ref2 = 0;
    for (let i = 0; i < got.length; i++) {
      err2 += (got[i] - ref.data[i]) ** 2;
      ref2 += ref.data[i] ** 2;
    }
    const relative = Math.sqrt(err2 / ref2);
    expect(ref2).toBeGreaterThan(0);
    expect(relative).toBeLessThan(0.01);
    // and the scales that decide CDF indexes agree closely element-wise
    const maxRef = Math.max(...ref.data);
    expect(maxAbsDiff(got, ref.data)).toBeLessThan(0.02 * maxRef);
  });
});
