/**
 * The element-wise and Sum kernels against the tfjs cpu backend, including
 * broadcasting (scalar, per-channel, middle axes), keepDims, and a GDN-style
 * gradient, on both overridden backends.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disableTorchKernels, enableTorchKernels, torchAddon } from '../src/index.js';
import { relativeError, seededTensor, setupBackends } from './setup-backends.js';

const TOLERANCE = 1e-5;
const available = torchAddon() !== null;

/** Positive values, for sqrt / log / pow with fractional exponents. */
const positive = (shape: number[], seed: number) => tf.add(tf.abs(seededTensor(shape, seed)), 0.1);

async function valuesOn(backend: string, fn: () => tf.Tensor): Promise<Float32Array> {
  await tf.setBackend(backend);
  const out = tf.tidy(fn);
  const values = (await out.data()) as Float32Array;
  const shape = out.shape.join('x');
  out.dispose();
  return Object.assign(values, { shape });
}

async function expectMatchesCpu(fn: () => tf.Tensor): Promise<void> {
  disableTorchKernels();
  const expected = await valuesOn('cpu', fn);
  const fallbacks: string[] = [];
  enableTorchKernels({ threads: 2, minElementwiseSize: 1, log: (line) => fallbacks.push(line) });
  for (const backend of ['wasm', 'cpu']) {
    const actual = await valuesOn(backend, fn);
    expect((actual as unknown as { shape: string }).shape, backend).toBe((expected as unknown as { shape: string }).shape);
    expect(relativeError(actual, expected), backend).toBeLessThan(TOLERANCE);
  }
  expect(fallbacks).toEqual([]);
}

describe.skipIf(!available)('torch element-wise kernels match tfjs cpu', () => {
  beforeAll(setupBackends);
  afterAll(disableTorchKernels);

  const unary: [string, (x: tf.Tensor) => tf.Tensor][] = [
    ['sqrt', tf.sqrt], ['rsqrt', tf.rsqrt], ['square', tf.square], ['neg', tf.neg], ['exp', tf.exp], ['log', tf.log],
    ['sigmoid', tf.sigmoid], ['relu', tf.relu], ['abs', tf.abs], ['reciprocal', tf.reciprocal],
  ];
  for (const [name, op] of unary) {
    it(`unary ${name}`, () => expectMatchesCpu(() => op(name === 'relu' || name === 'abs' || name === 'neg' ? seededTensor([3, 5, 7, 4], 1) : positive([3, 5, 7, 4], 1))));
  }

  const binary: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor][] = [
    ['add', tf.add], ['sub', tf.sub], ['mul', tf.mul], ['div', tf.div], ['pow', tf.pow],
    ['maximum', tf.maximum], ['minimum', tf.minimum], ['squaredDifference', tf.squaredDifference],
  ];
  const shapes: [string, number[], number[]][] = [
    ['same shape', [2, 6, 5, 3], [2, 6, 5, 3]],
    ['per-channel', [2, 6, 5, 3], [3]],
    ['scalar', [2, 6, 5, 3], []],
    ['both sides broadcast', [2, 1, 5, 1], [1, 6, 1, 3]],
  ];
  for (const [name, op] of binary) {
    for (const [what, aShape, bShape] of shapes) {
      it(`binary ${name}, ${what}`, () => expectMatchesCpu(() => op(positive(aShape, 2), positive(bShape, 3))));
    }
  }

  it('pow with a scalar exponent (the rsqrt gradient)', () => expectMatchesCpu(() => tf.pow(positive([4, 9, 9, 5], 4), tf.scalar(1.5))));

  for (const [axes, keepDims] of [[[0, 1, 2], false], [[1, 2], true], [[3], false], [[0], true], [[0, 1, 2, 3], false]] as const) {
    it(`sum over [${axes}] keepDims ${keepDims}`, () => expectMatchesCpu(() => tf.sum(seededTensor([3, 7, 5, 6], 5), [...axes], keepDims)));
  }

  it('identity and float32 cast (copies on wasm)', async () => {
    await expectMatchesCpu(() => tf.clone(seededTensor([2, 5, 5, 3], 11)));
    await expectMatchesCpu(() => tf.cast(seededTensor([2, 5, 5, 3], 12), 'float32'));
    await expectMatchesCpu(() => tf.cast(tf.cast(tf.mul(seededTensor([2, 5, 5, 3], 13), 10), 'int32'), 'float32'));
  });

  it('int32 and small tensors stay on tfjs without a notice', async () => {
    disableTorchKernels();
    const lines: string[] = [];
    enableTorchKernels({ log: (line) => lines.push(line) });
    await tf.setBackend('wasm');
    expect(Array.from(tf.add(tf.tensor([1, 2], [2], 'int32'), tf.tensor([3, 4], [2], 'int32')).dataSync())).toEqual([4, 6]);
    expect(Array.from(tf.sum(tf.tensor([1, 2, 3])).dataSync())).toEqual([6]);
    expect(lines).toEqual([]);
  });

  it('gradients of a GDN / inverse GDN pair', async () => {
    const gdn = (x: tf.Tensor4D, gamma: tf.Tensor4D, beta: tf.Tensor1D, inverse: boolean): tf.Tensor4D => {
      const norm = tf.fused.conv2d({ x: tf.square(x), filter: tf.square(gamma), bias: tf.square(beta), strides: 1, pad: 'valid' });
      return tf.mul(x, inverse ? tf.sqrt(norm) : tf.rsqrt(norm)) as tf.Tensor4D;
    };
    const loss = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) =>
      tf.sum(tf.mul(gdn(gdn(x as tf.Tensor4D, gamma as tf.Tensor4D, beta as tf.Tensor1D, false), gamma as tf.Tensor4D, beta as tf.Tensor1D, true), seededTensor([2, 6, 6, 4], 9))) as tf.Scalar;
    for (let which = 0; which < 3; which++) {
      await expectMatchesCpu(() => tf.grads(loss)([seededTensor([2, 6, 6, 4], 6), positive([1, 1, 4, 4], 7), positive([4], 8)])[which]);
    }
  });
});
