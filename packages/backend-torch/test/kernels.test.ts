/**
 * Each torch kernel against the tfjs cpu backend's own kernel, on both
 * overridden backends: strides 1 and 2, k = 1/3/5, explicit, 'same' (which
 * pads asymmetrically) and uneven explicit pads, dilation, odd sizes, batch > 1.
 * Skipped when the addon isn't built (the fallback test covers that case).
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disableTorchKernels, enableTorchKernels, torchAddon, torchKernelsStatus } from '../src/index.js';
import { relativeError, seededTensor, setupBackends } from './setup-backends.js';

type Pad = 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
interface Case {
  name: string;
  x: [number, number, number, number];
  k: number;
  cout: number;
  stride: number;
  pad: Pad;
  dilation?: number;
}

const CASES: Case[] = [
  { name: 'k5 s2 pad 2, batch 2, odd sizes', x: [2, 9, 11, 3], k: 5, cout: 8, stride: 2, pad: 2 },
  { name: "k5 s2 'same' (asymmetric)", x: [1, 16, 16, 4], k: 5, cout: 6, stride: 2, pad: 'same' },
  { name: 'k3 s1 valid, batch 3', x: [3, 7, 7, 5], k: 3, cout: 4, stride: 1, pad: 'valid' },
  { name: 'k1 (GDN-style 1x1)', x: [2, 10, 8, 6], k: 1, cout: 6, stride: 1, pad: 0 },
  { name: "k3 s2 'same', odd", x: [2, 13, 9, 4], k: 3, cout: 5, stride: 2, pad: 'same' },
  { name: 'k3 dilation 2', x: [1, 12, 12, 3], k: 3, cout: 4, stride: 1, pad: 'same', dilation: 2 },
  { name: 'uneven explicit pads', x: [2, 8, 10, 3], k: 5, cout: 4, stride: 2, pad: [[0, 0], [1, 2], [2, 0], [0, 0]] },
];

const TOLERANCE = 1e-4;
const available = torchAddon() !== null;

/** Runs `fn` on `backend` and returns its output values. */
async function on(backend: string, fn: () => tf.Tensor): Promise<Float32Array> {
  await tf.setBackend(backend);
  const out = tf.tidy(fn);
  const values = (await out.data()) as Float32Array;
  out.dispose();
  return values;
}

/** The reference (tfjs cpu kernels, torch off) and the torch result on each backend. */
async function compare(fn: () => tf.Tensor): Promise<Record<string, number>> {
  disableTorchKernels();
  const expected = await on('cpu', fn);
  // A fallback would compare tfjs with itself: every call must stay in torch.
  const fallbacks: string[] = [];
  // minElementwiseSize 1: the small test tensors take the torch element-wise path too.
  enableTorchKernels({ threads: 2, minElementwiseSize: 1, log: (line) => fallbacks.push(line) });
  const errors: Record<string, number> = {};
  for (const backend of ['wasm', 'cpu']) errors[backend] = relativeError(await on(backend, fn), expected);
  expect(fallbacks).toEqual([]);
  if (process.env.PSIC_TORCH_TEST_VERBOSE) console.log(JSON.stringify(errors));
  return errors;
}

describe.skipIf(!available)('torch kernels match tfjs cpu', () => {
  beforeAll(setupBackends);
  afterAll(disableTorchKernels);

  it('overrides the conv kernels on both backends, and the element-wise ones unless told not to', () => {
    disableTorchKernels();
    enableTorchKernels({ threads: 2, elementwise: false, log: () => {} });
    expect(torchKernelsStatus().overrides.sort()).toEqual(
      ['Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'FusedConv2D'].flatMap((k) => [`cpu/${k}`, `wasm/${k}`]).sort(),
    );
    disableTorchKernels();
    enableTorchKernels({ threads: 2, log: () => {} });
    expect(torchKernelsStatus().overrides).toEqual(expect.arrayContaining(['wasm/Sum', 'cpu/Pow', 'wasm/Rsqrt']));
  });

  for (const c of CASES) {
    const dilation = c.dilation ?? 1;
    const filterShape = [c.k, c.k, c.x[3], c.cout];
    const x = () => seededTensor(c.x, 1) as tf.Tensor4D;
    const filter = () => seededTensor(filterShape, 2) as tf.Tensor4D;
    const conv = () => tf.conv2d(x(), filter(), c.stride, c.pad, 'NHWC', dilation);

    it(`Conv2D: ${c.name}`, async () => {
      const errors = await compare(conv);
      expect(errors.wasm).toBeLessThan(TOLERANCE);
      expect(errors.cpu).toBeLessThan(TOLERANCE);
    });

    it(`FusedConv2D (bias + relu): ${c.name}`, async () => {
      const bias = () => seededTensor([c.cout], 3) as tf.Tensor1D;
      const errors = await compare(() =>
        tf.fused.conv2d({ x: x(), filter: filter(), strides: c.stride, pad: c.pad, dilations: dilation, bias: bias(), activation: 'relu' }));
      expect(errors.wasm).toBeLessThan(TOLERANCE);
      expect(errors.cpu).toBeLessThan(TOLERANCE);
    });

    if (dilation !== 1) continue; // tfjs's backprop kernels are defined for dilation 1 only

    it(`Conv2DBackpropInput (conv2dTranspose): ${c.name}`, async () => {
      disableTorchKernels();
      await tf.setBackend('cpu');
      const outShape = conv().shape;
      const dy = () => seededTensor(outShape, 4) as tf.Tensor4D;
      const errors = await compare(() => tf.conv2dTranspose(dy(), filter(), c.x, c.stride, c.pad as never));
      expect(errors.wasm).toBeLessThan(TOLERANCE);
      expect(errors.cpu).toBeLessThan(TOLERANCE);
    });

    it(`Conv2DBackpropFilter (filter gradient): ${c.name}`, async () => {
      const gradFilter = tf.grad((f: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x(), f as tf.Tensor4D, c.stride, c.pad))));
      const errors = await compare(() => gradFilter(filter()));
      expect(errors.wasm).toBeLessThan(TOLERANCE);
      expect(errors.cpu).toBeLessThan(TOLERANCE);
    });
  }

  it('gradients through a conv2d -> relu -> conv2dTranspose chain', async () => {
    const [n, h, w, c] = [2, 12, 10, 3];
    const loss = (x: tf.Tensor, w1: tf.Tensor, w2: tf.Tensor, b1: tf.Tensor) => {
      const hidden = tf.relu(tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w1 as tf.Tensor4D, strides: 2, pad: 2, bias: b1 as tf.Tensor1D }));
      const y = tf.conv2dTranspose(hidden, w2 as tf.Tensor4D, [n, h, w, c], 2, 2);
      return tf.sum(tf.mul(y, seededTensor([n, h, w, c], 9)));
    };
    const inputs = () => [seededTensor([n, h, w, c], 5), seededTensor([5, 5, c, 7], 6), seededTensor([5, 5, c, 7], 7), seededTensor([7], 8)];
    for (let which = 0; which < 4; which++) {
      const errors = await compare(() => {
        const grads = tf.grads(loss as (...t: tf.Tensor[]) => tf.Scalar)(inputs());
        return grads[which];
      });
      expect(errors.wasm, `gradient ${which} on wasm`).toBeLessThan(TOLERANCE);
      expect(errors.cpu, `gradient ${which} on cpu`).toBeLessThan(TOLERANCE);
    }
  });

  it('hands calls it cannot take (NCHW) back to the tfjs kernel', async () => {
    const lines: string[] = [];
    disableTorchKernels();
    await tf.setBackend('cpu');
    const nchw = () => tf.conv2d(seededTensor([1, 3, 8, 8], 1) as tf.Tensor4D, seededTensor([3, 3, 3, 2], 2) as tf.Tensor4D, 1, 'same', 'NCHW');
    const expected = await on('cpu', nchw);
    enableTorchKernels({ log: (line) => lines.push(line) });
    expect(relativeError(await on('cpu', nchw), expected)).toBe(0);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/cpu\/Conv2D: .*using the tfjs kernel/);
  });
});
