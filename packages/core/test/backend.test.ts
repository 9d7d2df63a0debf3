/**
 * Backend choice, and the wasm gradient kernels: every bridged kernel must
 * give the cpu backend's numbers, including the all-negative max-pool windows
 * where tfjs's own wasm MaxPoolGrad is wrong.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { CPU_BRIDGED_WASM_KERNELS, hasNativeBinding, resolvePreference, selectBackend } from '../src/backend.js';
import { Conv2d, ConvTranspose2d, GDN, Sequential } from '../src/layers.js';

const quiet = { log: () => {} };

// "installed" = with its native binding; a half install (download failed) counts as absent
const HAVE_TFJS_NODE = hasNativeBinding('@tensorflow/tfjs-node') || hasNativeBinding('@tensorflow/tfjs-node-gpu');

async function rejection(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  return p.then(
    () => ({ message: 'resolved' }),
    (e: { code?: string; message: string }) => e,
  );
}

/** Run `f` on a backend and return plain arrays, so results can be compared across backends. */
async function on(backend: 'cpu' | 'wasm', f: () => tf.Tensor[]): Promise<Float32Array[]> {
  await selectBackend(backend, quiet);
  const out = tf.tidy(f);
  const arrays = out.map((t) => t.dataSync() as Float32Array);
  tf.dispose(out);
  return arrays;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('choosing a backend', () => {
  it('an explicit name wins over PSIC_BACKEND; auto defers to it', () => {
    expect(resolvePreference('wasm', 'cpu')).toBe('wasm');
    expect(resolvePreference(undefined, 'cpu')).toBe('cpu');
    expect(resolvePreference('auto', ' CPU ')).toBe('cpu');
    expect(resolvePreference(undefined, undefined)).toBe('auto');
    expect(resolvePreference(undefined, '')).toBe('auto');
  });

  it('an unknown name is PsicError BAD_BACKEND, from the argument or the environment', async () => {
    expect(await rejection(selectBackend('webgpu', quiet))).toMatchObject({ code: 'BAD_BACKEND' });
    const err = await rejection(selectBackend(undefined, { ...quiet, env: { PSIC_BACKEND: 'gpu' } }));
    expect(err).toMatchObject({ code: 'BAD_BACKEND' });
    expect(err.message).toMatch(/PSIC_BACKEND "gpu".*auto, tensorflow, wasm, cpu/);
  });

  it('honours PSIC_BACKEND and logs the choice once per change', async () => {
    const lines: string[] = [];
    const log = (m: string) => lines.push(m);
    expect(await selectBackend(undefined, { log, env: { PSIC_BACKEND: 'cpu' } })).toBe('cpu');
    expect(await selectBackend('cpu', { log })).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(await selectBackend('wasm', { log })).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(lines).toEqual([
      expect.stringMatching(/^backend: cpu( \(torch kernels\))?$/),
      expect.stringMatching(/^backend: wasm \((SIMD|no SIMD)(, torch kernels)?\)$/),
    ]);
  });

  it('auto takes TensorFlow when installed, else wasm', async () => {
    const name = await selectBackend('auto', { ...quiet, env: {} });
    expect(name).toBe(HAVE_TFJS_NODE ? 'tensorflow' : 'wasm');
  });

  it.skipIf(HAVE_TFJS_NODE)('forcing tensorflow without tfjs-node is BACKEND_UNAVAILABLE with an install hint', async () => {
    const err = await rejection(selectBackend('tensorflow', quiet));
    expect(err).toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect(err.message).toMatch(/tfjs-node/);
  });

  it('registers gradients (tfjs-core alone has none)', async () => {
    await selectBackend('cpu', quiet);
    expect(tf.getGradient('Conv2D')).toBeDefined();
    expect(tf.getGradient('Sum')).toBeDefined();
  });
});

describe('wasm gradient kernels match the cpu backend', () => {
  it('bridges exactly the kernels FACTS.md found missing or wrong', async () => {
    await selectBackend('wasm', quiet);
    for (const k of CPU_BRIDGED_WASM_KERNELS) expect(tf.getKernel(k, 'wasm'), k).toBeDefined();
  });

  it('Conv2DBackpropFilter (conv weight gradient), also against a plain-loop reference', async () => {
    const [n, h, w, ci, co, k, s, p] = [2, 9, 8, 3, 4, 5, 2, 2];
    const [oh, ow] = [Math.floor((h + 2 * p - k) / s) + 1, Math.floor((w + 2 * p - k) / s) + 1];
    let xData: ArrayLike<number> = [];
    let rData: ArrayLike<number> = [];
    const run = () => {
      const x = tf.randomUniform([n, h, w, ci], -1, 1, 'float32', 1) as tf.Tensor4D;
      const f = tf.randomUniform([k, k, ci, co], -1, 1, 'float32', 2) as tf.Tensor4D;
      const r = tf.randomUniform([n, oh, ow, co], -1, 1, 'float32', 3);
      xData = x.dataSync();
      rData = r.dataSync();
      const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, p), r)))([x, f]);
      return [dx, dw];
    };
    const cpu = await on('cpu', run);
    const wasm = await on('wasm', run);
    // dW[kh, kw, c, o] = sum over n, i, j of x[n, i*s - p + kh, j*s - p + kw, c] * r[n, i, j, o]
    const ref = new Float64Array(k * k * ci * co);
    for (let b = 0; b < n; b++)
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++)
          for (let kh = 0; kh < k; kh++)
            for (let kw = 0; kw < k; kw++) {
              const [y, xx] = [i * s - p + kh, j * s - p + kw];
              if (y < 0 || y >= h || xx < 0 || xx >= w) continue;
              for (let c = 0; c < ci; c++)
                for (let o = 0; o < co; o++) ref[((kh * k + kw) * ci + c) * co + o] += xData[((b * h + y) * w + xx) * ci + c] * rData[((b * oh + i) * ow + j) * co + o];
            }
    const refF32 = Float32Array.from(ref);
    expect(Math.max(...refF32.map(Math.abs))).toBeGreaterThan(0.1);
    expect(maxAbsDiff(cpu[1], refF32)).toBeLessThan(1e-4);
    expect(maxAbsDiff(wasm[1], refF32)).toBeLessThan(1e-4);
    expect(maxAbsDiff(wasm[0], cpu[0])).toBeLessThan(1e-4);
  });

  it('DepthwiseConv2dNativeBackpropFilter and -Input', async () => {
    const run = () => {
      const x = tf.randomUniform([1, 7, 7, 4], -1, 1, 'float32', 4) as tf.Tensor4D;
      const w = tf.randomUniform([3, 3, 4, 2], -1, 1, 'float32', 5) as tf.Tensor4D;
      const r = tf.randomUniform([1, 4, 4, 8], -1, 1, 'float32', 6);
      const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'), r)))([x, w]);
      return [dx, dw];
    };
    const cpu = await on('cpu', run);
    const wasm = await on('wasm', run);
    expect(maxAbsDiff(wasm[0], cpu[0])).toBeLessThan(1e-4);
    expect(maxAbsDiff(wasm[1], cpu[1])).toBeLessThan(1e-4);
  });

  it('MaxPoolGrad, with windows whose values are all negative', async () => {
    const run = () => {
      // Mostly negative input: many 3x3 windows have no positive value.
      const x = tf.sub(tf.randomUniform([1, 8, 8, 2], 0, 1, 'float32', 7), 0.9) as tf.Tensor4D;
      const r = tf.randomUniform([1, 4, 4, 2], 0.5, 1.5, 'float32', 8);
      return [tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, 3, 2, 'same'), r)))(x)];
    };
    const cpu = await on('cpu', run);
    const wasm = await on('wasm', run);
    expect(maxAbsDiff(wasm[0], cpu[0])).toBe(0);
  });

  it('a GDN / conv / deconv network has the same variable gradients on wasm and cpu', async () => {
    const run = () => {
      const net = new Sequential('g', [new Conv2d(3, 4, 5, 2, { seed: 1 }), new GDN(4), new ConvTranspose2d(4, 3, 5, 2, { seed: 2 }), new GDN(3, { inverse: true })]);
      const x = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
      const { grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(net.apply(x), x))) as tf.Scalar);
      const names = Object.entries(net.namedVariables());
      const out = names.map(([, v]) => grads[v.name]);
      net.dispose();
      return out;
    };
    const cpu = await on('cpu', run);
    const wasm = await on('wasm', run);
    expect(cpu).toHaveLength(8);
    cpu.forEach((g, i) => {
      const scale = Math.max(1e-3, ...Array.from(g, Math.abs));
      expect(maxAbsDiff(wasm[i], g) / scale, `gradient ${i}`).toBeLessThan(1e-4);
    });
  });
});
