import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '@psic/core';
import { Hyperprior } from '@psic/backbone-hyperprior';
import { Adam, formatDuration, formatProgress, loadCheckpoint, makeOptimizers, Rng, saveCheckpoint, trainStep } from '../src/index.js';

let dir: string;
beforeAll(async () => {
  await selectBackend('cpu', { log: () => {} });
  dir = mkdtempSync(join(tmpdir(), 'psic-train-unit-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Adam', () => {
  it('takes the bias-corrected first step of size lr against the gradient sign', () => {
    const v = tf.variable(tf.tensor1d([1, -2]));
    const adam = new Adam({ learningRate: 0.1 });
    adam.apply({ v }, { v: tf.tensor1d([3, -0.5]) });
    // first step: m_hat = g, v_hat = g^2, so the update is lr * g / (|g| + eps)
    expect(Array.from(v.dataSync())).toEqual([expect.closeTo(0.9, 6), expect.closeTo(-1.9, 6)]);
  });

  it('minimises a quadratic', () => {
    const v = tf.variable(tf.tensor1d([5]));
    const adam = new Adam({ learningRate: 0.1 });
    for (let i = 0; i < 300; i++) {
      const { grads } = tf.variableGrads(() => tf.sum(tf.square(tf.sub(v, 2))) as tf.Scalar, [v]);
      adam.apply({ v }, { v: grads[v.name] });
    }
    expect(v.dataSync()[0]).toBeCloseTo(2, 2);
  });

  it('restores its moments so a resumed run continues identically', () => {
    const run = (a: Adam, v: tf.Variable, steps: number) => {
      for (let i = 0; i < steps; i++) a.apply({ v }, { v: tf.tensor1d([Math.sin(i + a.step)]) });
    };
    const v1 = tf.variable(tf.tensor1d([1]));
    const a1 = new Adam({ learningRate: 0.05 });
    run(a1, v1, 3);
    const saved = a1.state();
    const v2 = tf.variable(tf.tensor1d(v1.dataSync()));
    const a2 = new Adam({ learningRate: 0.05 });
    a2.restore(saved.step, saved.tensors);
    run(a1, v1, 4);
    run(a2, v2, 4);
    expect(v2.dataSync()[0]).toBe(v1.dataSync()[0]);
  });
});

describe('Rng', () => {
  it('is reproducible from its state', () => {
    const a = new Rng(42);
    a.next();
    const b = new Rng(0);
    b.state = a.state;
    expect([a.next(), a.int(10), a.next()]).toEqual([b.next(), b.int(10), b.next()]);
    const xs = Array.from({ length: 1000 }, () => a.next());
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
  });
});

describe('checkpoints', () => {
  it('round-trip weights, both optimizers and the loop state', async () => {
    const model = new Hyperprior({ N: 8, M: 12, architecture: 'bmshj2018-hyperprior' });
    const opt = makeOptimizers(model, 1e-3, 1e-3);
    const x = tf.randomUniform([2, 64, 64, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    trainStep(model, x, 0.01, opt);
    const path = join(dir, 'ckpt.safetensors');
    const named = model.namedVariables();
    await saveCheckpoint(path, named, opt.main, opt.aux, { step: 1, rngState: 77, meta: { a: 1 }, options: {} });

    const copy = new Hyperprior({ N: 8, M: 12, architecture: 'bmshj2018-hyperprior' });
    const opt2 = makeOptimizers(copy, 1e-3, 1e-3);
    const state = await loadCheckpoint(path, copy.namedVariables(), opt2.main, opt2.aux);
    expect(state).toMatchObject({ step: 1, rngState: 77 });
    for (const [name, v] of Object.entries(named)) expect(Array.from(copy.namedVariables()[name].dataSync()), name).toEqual(Array.from(v.dataSync()));
    // both optimizers come back with the same step count and moments
    for (const [a, b] of [[opt.main, opt2.main], [opt.aux, opt2.aux]] as const) {
      expect(b.step).toBe(a.step);
      const [sa, sb] = [a.state().tensors, b.state().tensors];
      expect(Object.keys(sb).sort()).toEqual(Object.keys(sa).sort());
      for (const key of Object.keys(sa)) expect(Array.from(sb[key].data), key).toEqual(Array.from(sa[key].data));
    }
  });
});

describe('progress', () => {
  it('formats ETA from the rate since start', () => {
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(65)).toBe('01:05');
    expect(formatDuration(Infinity)).toBe('--:--');
    const line = formatProgress(50, 100, 0, 10_000, 'train', { loss: 1.23456 });
    expect(line).toContain('50/100');
    expect(line).toContain('ETA 00:10');
    expect(line).toContain('loss 1.235');
  });
});
