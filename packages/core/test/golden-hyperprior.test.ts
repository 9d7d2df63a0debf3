/**
 * Correctness proof of the layers against CompressAI itself: the tiny
 * bmshj2018-hyperprior (N=16, M=24) weights in /work/shared/fixtures are
 * read with our safetensors reader, mapped onto our Conv2d / GDN /
 * ConvTranspose2d / IGDN by name, and g_a / g_s must reproduce the outputs
 * CompressAI computed (golden.json) within the fixture's tolerance
 * |a - b| <= 1e-4 * max(1, |b|), on the cpu and the wasm backend.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../src/backend.js';
import { Conv2d, ConvTranspose2d, GDN, Sequential } from '../src/layers.js';
import { assignWeights, readSafetensors } from '../src/safetensors.js';

const FIXTURE_DIR = fileURLToPath(new URL('../../../../shared/fixtures/compressai-golden/bmshj2018-hyperprior/', import.meta.url));
const TOLERANCE = 1e-4;

interface GoldenTensor {
  shape: number[];
  dtype: 'float32' | 'int32';
  data: number[];
}
interface GoldenInput {
  name: string;
  x_u8: GoldenTensor;
  x_float32_sha256: string;
  pad: [number, number, number, number]; // left, right, top, bottom
  forward: { y: GoldenTensor };
  decode: { y_hat: GoldenTensor; x_hat_raw: GoldenTensor };
}

function buildTransforms(N: number, M: number): { g_a: Sequential; g_s: Sequential } {
  const g_a = new Sequential('g_a', [
    new Conv2d(3, N, 5, 2),
    new GDN(N),
    new Conv2d(N, N, 5, 2),
    new GDN(N),
    new Conv2d(N, N, 5, 2),
    new GDN(N),
    new Conv2d(N, M, 5, 2),
  ]);
  const g_s = new Sequential('g_s', [
    new ConvTranspose2d(M, N, 5, 2),
    new GDN(N, { inverse: true }),
    new ConvTranspose2d(N, N, 5, 2),
    new GDN(N, { inverse: true }),
    new ConvTranspose2d(N, N, 5, 2),
    new GDN(N, { inverse: true }),
    new ConvTranspose2d(N, 3, 5, 2),
  ]);
  return { g_a, g_s };
}

/** NCHW golden tensor -> NHWC tfjs tensor. */
function nhwcFromGolden(t: GoldenTensor): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(Float32Array.from(t.data), t.shape as [number, number, number, number]), [0, 2, 3, 1]));
}

/** Largest |a - b| / max(1, |b|) between an NHWC result and an NCHW golden tensor. */
function scaledMaxError(actual: tf.Tensor4D, golden: GoldenTensor): number {
  const nchw = tf.tidy(() => tf.transpose(actual, [0, 3, 1, 2]));
  expect(nchw.shape).toEqual(golden.shape);
  const a = nchw.dataSync();
  nchw.dispose();
  const b = Float32Array.from(golden.data);
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return worst;
}

/** The model input x = float32(u8) / 255 (NCHW), checked against the fixture's hash, as padded NHWC. */
function modelInput(input: GoldenInput): tf.Tensor4D {
  const x = Float32Array.from(input.x_u8.data, (u) => u / 255);
  expect(createHash('sha256').update(new Uint8Array(x.buffer)).digest('hex')).toBe(input.x_float32_sha256);
  const [left, right, top, bottom] = input.pad;
  return tf.tidy(() => {
    const nhwc = tf.transpose(tf.tensor4d(x, input.x_u8.shape as [number, number, number, number]), [0, 2, 3, 1]);
    return tf.pad(nhwc, [[0, 0], [top, bottom], [left, right], [0, 0]]) as tf.Tensor4D;
  });
}

// The fixture is part of the workspace (../shared); a missing one must fail, not skip.
const golden = JSON.parse(readFileSync(`${FIXTURE_DIR}golden.json`, 'utf8')) as { kwargs: { N: number; M: number }; inputs: GoldenInput[] };

describe.each(['cpu', 'wasm'] as const)('CompressAI bmshj2018-hyperprior golden outputs on %s', (backend) => {
  let g_a: Sequential;
  let g_s: Sequential;

  beforeAll(async () => {
    expect(await selectBackend(backend, { log: () => {} })).toBe(backend);
    const { N, M } = golden.kwargs;
    ({ g_a, g_s } = buildTransforms(N, M));
    const file = readSafetensors(new Uint8Array(readFileSync(`${FIXTURE_DIR}state_dict.safetensors`)));
    expect(file.metadata.architecture).toBe('bmshj2018-hyperprior');
    const ga = assignWeights(g_a, file.tensors);
    const gs = assignWeights(g_s, file.tensors);
    // Every g_a / g_s tensor of the state dict is consumed except GDN's constant buffers.
    const leftover = [...ga.unusedKeys].filter((k) => /^g_[as]\./.test(k) && gs.unusedKeys.includes(k));
    expect(leftover.every((k) => /_reparam\.(pedestal|lower_bound\.bound)$/.test(k))).toBe(true);
    expect(leftover).toHaveLength(6 * 4); // 6 GDNs x (beta, gamma) x (pedestal, bound)
  });

  afterAll(() => {
    g_a?.dispose();
    g_s?.dispose();
  });

  it('stores the GDN constants CompressAI stores (pedestal 2^-36, bounds)', () => {
    const file = readSafetensors(new Uint8Array(readFileSync(`${FIXTURE_DIR}state_dict.safetensors`)));
    const gdn = g_a.layers[1] as GDN;
    expect(file.tensors.get('g_a.1.beta_reparam.pedestal')!.data[0]).toBe(2 ** -36);
    expect(file.tensors.get('g_a.1.beta_reparam.lower_bound.bound')!.data[0]).toBe(gdn.betaReparam.bound);
    expect(file.tensors.get('g_a.1.gamma_reparam.lower_bound.bound')!.data[0]).toBe(gdn.gammaReparam.bound);
  });

  for (const name of ['a_64x64', 'b_64x96']) {
    it(`g_a reproduces y for ${name}`, () => {
      const input = golden.inputs.find((i) => i.name === name)!;
      const x = modelInput(input);
      const y = g_a.apply(x);
      const err = scaledMaxError(y, input.forward.y);
      console.log(`[${backend}] ${name} y: max scaled error ${err.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(TOLERANCE);
      tf.dispose([x, y]);
    });

    it(`g_s reproduces x_hat_raw from y_hat for ${name}`, () => {
      const input = golden.inputs.find((i) => i.name === name)!;
      const yHat = nhwcFromGolden(input.decode.y_hat);
      const [left, right, top, bottom] = input.pad;
      const xHat = g_s.apply(yHat);
      expect(xHat.shape).toEqual([1, yHat.shape[1] * 16, yHat.shape[2] * 16, 3]);
      const cropped = tf.slice(xHat, [0, top, left, 0], [1, xHat.shape[1] - top - bottom, xHat.shape[2] - left - right, 3]);
      const err = scaledMaxError(cropped, input.decode.x_hat_raw);
      console.log(`[${backend}] ${name} x_hat_raw: max scaled error ${err.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(TOLERANCE);
      tf.dispose([yHat, xHat, cropped]);
    });
  }

  it('a transform with a misplaced weight misses the golden values (the check can fail)', () => {
    const input = golden.inputs[0];
    const conv = g_a.layers[0] as Conv2d;
    const saved = conv.weight.clone();
    conv.weight.assign(tf.reverse(saved, 0)); // flip the kernel vertically
    const x = modelInput(input);
    const y = g_a.apply(x);
    expect(scaledMaxError(y, input.forward.y)).toBeGreaterThan(1e-2);
    conv.weight.assign(saved);
    tf.dispose([saved, x, y]);
  });

  it('times g_a + g_s on a 64x64 image', () => {
    const x = tf.randomUniform([1, 64, 64, 3]) as tf.Tensor4D;
    const run = () => tf.tidy(() => g_s.apply(g_a.apply(x))).dataSync();
    for (let i = 0; i < 3; i++) run();
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      run();
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    console.log(`[${backend}] g_a + g_s on 1x64x64x3: median ${times[5].toFixed(2)} ms (min ${times[0].toFixed(2)} ms)`);
    x.dispose();
  });
});
