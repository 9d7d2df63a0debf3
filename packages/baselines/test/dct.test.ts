import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '@psic/core';
import { blockDct, blockIdct, dctMatrix, zigzagOrder } from '../src/index.js';

beforeAll(async () => {
  await selectBackend('cpu', { log: () => {} });
});

/** 2-D DCT-II of one b×b block straight from the definition (orthonormal scaling). */
function directDct(block: number[][], b: number): number[][] {
  const alpha = (k: number) => (k === 0 ? Math.sqrt(1 / b) : Math.sqrt(2 / b));
  const out: number[][] = [];
  for (let u = 0; u < b; u++) {
    out.push([]);
    for (let v = 0; v < b; v++) {
      let s = 0;
      for (let i = 0; i < b; i++) for (let j = 0; j < b; j++) s += block[i][j] * Math.cos(((2 * i + 1) * u * Math.PI) / (2 * b)) * Math.cos(((2 * j + 1) * v * Math.PI) / (2 * b));
      out[u].push(alpha(u) * alpha(v) * s);
    }
  }
  return out;
}

describe('block DCT', () => {
  it('has an orthonormal 1-D matrix', () => {
    const n = 8;
    const m = dctMatrix(n);
    for (let a = 0; a < n; a++) {
      for (let b = 0; b < n; b++) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += m[a * n + i] * m[b * n + i];
        expect(dot).toBeCloseTo(a === b ? 1 : 0, 12);
      }
    }
  });

  it('matches the direct DCT-II formula on every block and channel', () => {
    const [h, w, b] = [16, 24, 8];
    const x = tf.randomUniform([2, h, w, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const pixels = x.arraySync();
    const coefficients = blockDct(x, b).arraySync(); // [2, 2, 3, 192]
    let worst = 0;
    for (let n = 0; n < 2; n++) {
      for (let by = 0; by < h / b; by++) {
        for (let bx = 0; bx < w / b; bx++) {
          for (let c = 0; c < 3; c++) {
            const block = Array.from({ length: b }, (_, i) => Array.from({ length: b }, (_, j) => pixels[n][by * b + i][bx * b + j][c]));
            const expected = directDct(block, b);
            for (let u = 0; u < b; u++) for (let v = 0; v < b; v++) worst = Math.max(worst, Math.abs(coefficients[n][by][bx][c * b * b + u * b + v] - expected[u][v]));
          }
        }
      }
    }
    expect(worst).toBeLessThan(1e-5);
  });

  it('round-trips through the inverse and keeps the energy (Parseval)', () => {
    for (const b of [8, 4]) {
      const x = tf.randomUniform([1, 32, 16, 3], -1, 1, 'float32', 11) as tf.Tensor4D;
      const f = blockDct(x, b);
      expect(f.shape).toEqual([1, 32 / b, 16 / b, 3 * b * b]);
      const back = blockIdct(f, b);
      expect(back.shape).toEqual(x.shape);
      expect(tf.max(tf.abs(tf.sub(back, x))).dataSync()[0]).toBeLessThan(1e-5);
      expect(tf.sum(tf.square(f)).dataSync()[0]).toBeCloseTo(tf.sum(tf.square(x)).dataSync()[0], 2);
    }
  });

  it('is differentiable: the gradient of the coefficients\' energy is 2x', () => {
    const x = tf.randomUniform([1, 16, 16, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.square(blockDct(t as tf.Tensor4D))))(x);
    expect(tf.max(tf.abs(tf.sub(g, tf.mul(x, 2)))).dataSync()[0]).toBeLessThan(1e-4);
    const gi = tf.grad((t: tf.Tensor) => tf.sum(tf.square(blockIdct(t as tf.Tensor4D))))(blockDct(x));
    expect(tf.max(tf.abs(tf.sub(gi, tf.mul(blockDct(x), 2)))).dataSync()[0]).toBeLessThan(1e-4);
  });

  it('refuses sides that are not whole blocks', () => {
    expect(() => blockDct(tf.zeros([1, 12, 16, 3]) as tf.Tensor4D)).toThrow(/multiples of 8/);
  });

  it('orders frequencies in JPEG zigzag', () => {
    const z = zigzagOrder(8);
    expect(z.slice(0, 10)).toEqual([0, 1, 8, 16, 9, 2, 3, 10, 17, 24]);
    expect(z[63]).toBe(63);
    expect(new Set(z).size).toBe(64);
  });
});
