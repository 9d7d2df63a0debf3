/**
 * The in-house model's arithmetic: symmetric InfoNCE against a hand
 * computation, the fused batch-norm gradient against tfjs's own autodiff,
 * and the differentiable resize (values, gradient, plain-array twin).
 */
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '@psic/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchNorm2d, contrastiveTargets, resampleMatrix, resizeToSquare, resizeToSquareArray, symmetricInfoNce } from '../src/index.js';

beforeAll(async () => {
  await selectBackend('wasm', { log: () => {} });
});

/** Cross-entropy of softmax(logits) against a target distribution, in doubles. */
function crossEntropy(logits: number[], target: number[]): number {
  const max = Math.max(...logits);
  const logZ = max + Math.log(logits.reduce((s, l) => s + Math.exp(l - max), 0));
  return -target.reduce((s, t, j) => s + t * (logits[j]! - logZ), 0);
}

function unit(v: number[]): number[] {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

/** CLIP's loss written out: cosine logits, row-wise and column-wise cross-entropy, averaged. */
function handInfoNce(img: number[][], txt: number[][], scale: number, targets: number[][]): number {
  const a = img.map(unit);
  const b = txt.map(unit);
  const logits = a.map((ai) => b.map((bj) => scale * ai.reduce((s, x, k) => s + x * bj[k]!, 0)));
  const n = img.length;
  let rows = 0;
  let cols = 0;
  for (let i = 0; i < n; i++) rows += crossEntropy(logits[i]!, targets[i]!);
  for (let j = 0; j < n; j++) cols += crossEntropy(logits.map((r) => r[j]!), targets.map((r) => r[j]!));
  return (rows / n + cols / n) / 2;
}

describe('symmetric InfoNCE', () => {
  const img = [
    [1, 0.5, -0.2],
    [0.1, -1, 0.3],
    [-0.4, 0.2, 0.9],
  ];
  const txt = [
    [0.8, 0.1, 0.0],
    [0.3, -0.7, 0.5],
    [-0.2, 0.6, 1.1],
  ];

  it('equals the hand-computed loss with positives on the diagonal', () => {
    const identity = [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ];
    const loss = symmetricInfoNce(tf.tensor2d(img), tf.tensor2d(txt), 7.5);
    expect(loss.dataSync()[0]).toBeCloseTo(handInfoNce(img, txt, 7.5, identity), 5);
    // a tiny case by hand: two orthogonal pairs at scale 1 -> log(1 + e^-1) each way
    const two = symmetricInfoNce(tf.tensor2d([[1, 0], [0, 2]]), tf.tensor2d([[3, 0], [0, 1]]), 1);
    expect(two.dataSync()[0]).toBeCloseTo(Math.log(1 + Math.exp(-1)), 6);
  });

  it('spreads the target over a group and matches the hand computation', () => {
    const groups = [4, 9, 4];
    expect(Array.from(contrastiveTargets(3, groups))).toEqual([0.5, 0, 0.5, 0, 1, 0, 0.5, 0, 0.5]);
    const targets = [
      [0.5, 0, 0.5],
      [0, 1, 0],
      [0.5, 0, 0.5],
    ];
    const loss = symmetricInfoNce(tf.tensor2d(img), tf.tensor2d(txt), tf.scalar(3), groups);
    expect(loss.dataSync()[0]).toBeCloseTo(handInfoNce(img, txt, 3, targets), 5);
  });

  it('drives the logit scale and both embeddings through its gradient', () => {
    const [gi, gt, gs] = tf.grads((a: tf.Tensor, b: tf.Tensor, s: tf.Tensor) => symmetricInfoNce(a as tf.Tensor2D, b as tf.Tensor2D, s as tf.Scalar))([
      tf.tensor2d(img),
      tf.tensor2d(txt),
      tf.scalar(2),
    ]);
    for (const g of [gi!, gt!]) expect(Math.max(...Array.from(g.dataSync(), Math.abs))).toBeGreaterThan(1e-3);
    // the pairs are mostly aligned already, so a sharper softmax lowers the loss
    expect(gs!.dataSync()[0]).toBeLessThan(0);
  });

  it('rejects batches of different sizes', () => {
    expect(() => symmetricInfoNce(tf.zeros([2, 3]), tf.zeros([3, 3]), 1)).toThrow(/2 images but 3 texts/);
  });
});

describe('BatchNorm2d', () => {
  it('has the gradient of the plain moments formula (its fused backward is hand-written)', () => {
    const bn = new BatchNorm2d(3);
    bn.weight.assign(tf.tensor1d([1.5, -0.5, 2]));
    bn.bias.assign(tf.tensor1d([0.1, 0.2, -0.3]));
    const x = tf.randomNormal([2, 3, 4, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const weights = tf.randomNormal([2, 3, 4, 3], 0, 1, 'float32', 8);
    const reference = (t: tf.Tensor) => {
      const { mean, variance } = tf.moments(t, [0, 1, 2]);
      const y = tf.add(tf.mul(tf.div(tf.sub(t, mean), tf.sqrt(tf.add(variance, 1e-5))), bn.weight), bn.bias);
      return tf.sum(tf.mul(y, weights));
    };
    const ours = (t: tf.Tensor) => tf.sum(tf.mul(bn.apply(t as tf.Tensor4D, true), weights));
    expect(ours(x).dataSync()[0]).toBeCloseTo(reference(x).dataSync()[0]!, 4);
    const gOurs = tf.grad(ours)(x).dataSync();
    const gRef = tf.grad(reference)(x).dataSync();
    let worst = 0;
    for (let i = 0; i < gRef.length; i++) worst = Math.max(worst, Math.abs(gOurs[i]! - gRef[i]!));
    expect(worst).toBeLessThan(1e-4);
    expect(Math.max(...Array.from(gRef, Math.abs))).toBeGreaterThan(0.1);
  });

  it('updates the running statistics like PyTorch (momentum 0.1, unbiased variance) and uses them in inference', () => {
    const bn = new BatchNorm2d(1);
    const x = tf.tensor4d([1, 2, 3, 6], [1, 2, 2, 1]);
    bn.apply(x, true);
    expect(bn.runningMean.dataSync()[0]).toBeCloseTo(0.3, 6); // 0.9·0 + 0.1·3
    expect(bn.runningVar.dataSync()[0]).toBeCloseTo(0.9 + 0.1 * (14 / 3), 5); // unbiased variance 14/3
    const y = bn.apply(tf.tensor4d([0.3], [1, 1, 1, 1]), false).dataSync()[0];
    expect(y).toBeCloseTo(0, 5);
  });
});

describe('resize to the input size', () => {
  it('builds antialiased resampling rows that sum to 1', () => {
    const m = resampleMatrix(8, 4);
    for (let i = 0; i < 4; i++) expect(m.slice(i * 8, i * 8 + 8).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    // shrinking by 2: a triangle of radius 2 -> weights 1/8, 3/8, 3/8, 1/8 around the centre
    expect(Array.from(m.slice(8, 16)).map((v) => Math.round(v * 8))).toEqual([0, 1, 3, 3, 1, 0, 0, 0]);
    // same size: the identity
    const id = resampleMatrix(5, 5);
    for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) expect(id[i * 5 + j]).toBeCloseTo(i === j ? 1 : 0, 6);
  });

  it('keeps a constant image constant, crops the centre square, and agrees with the plain-array version', () => {
    const flat = resizeToSquare(tf.fill([1, 30, 50, 3], 0.25) as tf.Tensor4D, 16);
    expect(flat.shape).toEqual([1, 16, 16, 3]);
    for (const v of flat.dataSync()) expect(v).toBeCloseTo(0.25, 5);
    // left and right 10 columns are outside the centre 30x30 square: changing them changes nothing
    const base = tf.randomUniform([1, 30, 50, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const edited = tf.concat([tf.zeros([1, 30, 10, 3]), tf.slice(base, [0, 0, 10, 0], [1, 30, 30, 3]), tf.ones([1, 30, 10, 3])], 2) as tf.Tensor4D;
    expect(Array.from(resizeToSquare(edited, 16).dataSync())).toEqual(Array.from(resizeToSquare(base, 16).dataSync()));
    const x = tf.randomUniform([2, 20, 28, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const a = resizeToSquare(x, 40).dataSync();
    const b = resizeToSquareArray(x.dataSync() as Float32Array, 2, 20, 28, 3, 40);
    for (let i = 0; i < a.length; i += 37) expect(a[i]).toBeCloseTo(b[i]!, 5);
  });

  it('through a smaller square keeps only that detail: a 64-pixel image reads as its 32-pixel version upsampled', () => {
    const big = tf.randomUniform([1, 64, 64, 3], 0, 1, 'float32', 15) as tf.Tensor4D;
    const small = resizeToSquare(big, 32);
    const a = resizeToSquare(big, 64, 32).dataSync();
    const b = resizeToSquare(small, 64).dataSync();
    for (let i = 0; i < a.length; i += 17) expect(a[i]).toBeCloseTo(b[i]!, 5);
    // and it is not the identity: the detail above 32 pixels is gone
    const original = big.dataSync();
    expect(Math.max(...Array.from(a, (v, i) => Math.abs(v - original[i]!)))).toBeGreaterThan(0.1);
    // a 32-pixel input goes through unchanged, then up: the training images' path
    const c = resizeToSquare(small, 64, 32).dataSync();
    for (let i = 0; i < c.length; i += 17) expect(c[i]).toBeCloseTo(b[i]!, 5);
    const arr = resizeToSquareArray(big.dataSync() as Float32Array, 1, 64, 64, 3, 64, 32);
    for (let i = 0; i < arr.length; i += 17) expect(arr[i]).toBeCloseTo(a[i]!, 5);
  });

  it('has the gradient of its values (checked along a random direction)', () => {
    const x = tf.randomUniform([1, 24, 18, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const w = tf.randomNormal([1, 10, 10, 3], 0, 1, 'float32', 6);
    const f = (t: tf.Tensor) => tf.sum(tf.mul(resizeToSquare(t as tf.Tensor4D, 10), w));
    const g = tf.grad(f)(x);
    const v = tf.randomNormal(x.shape, 0, 1, 'float32', 9);
    const eps = 1e-2;
    const numeric = (f(tf.add(x, tf.mul(v, eps))).dataSync()[0]! - f(tf.sub(x, tf.mul(v, eps))).dataSync()[0]!) / (2 * eps);
    const analytic = tf.sum(tf.mul(g, v)).dataSync()[0]!;
    expect(Math.abs(analytic)).toBeGreaterThan(0.1);
    expect(analytic).toBeCloseTo(numeric, 2);
  });
});
