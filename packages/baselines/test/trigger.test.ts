import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { attackLoss, blockDct, psnrFloor, TriggerNet, zigzagOrder } from '../src/index.js';
import { syntheticImage } from './helpers.js';

beforeAll(async () => {
  await selectBackend('cpu', { log: () => {} });
});

function batchOf(...seeds: number[]): tf.Tensor4D {
  return tf.concat(seeds.map((s) => tf.tensor4d(syntheticImage(32, 48, s).data, [1, 32, 48, 3]))) as tf.Tensor4D;
}

/** Blow the last layer up so every score and amount saturates: the bound must hold by construction, not by luck of the initial weights. */
function saturate(net: TriggerNet): void {
  const last = Object.entries(net.namedVariables()).filter(([k]) => k.endsWith('weight')).pop()![1];
  last.assign(tf.mul(last, 1000));
}

describe('trigger network', () => {
  it('changes at most K band coefficients per block, each by less than epsilon', () => {
    const net = new TriggerNet({ epsilon: 0.04, topK: 12 }, { seed: 5 });
    saturate(net);
    const { delta, poisoned } = net.apply(batchOf(1, 2));
    expect(poisoned.shape).toEqual([2, 32, 48, 3]);
    const d = delta.arraySync();
    const band = new Set<number>();
    const zigzag = zigzagOrder(8);
    for (let c = 0; c < 3; c++) for (let z = net.config.bandStart; z < net.config.bandEnd; z++) band.add(c * 64 + zigzag[z]);
    let maxAbs = 0;
    let maxCount = 0;
    let outsideBand = 0;
    for (const img of d) for (const row of img) for (const cell of row) {
      let count = 0;
      cell.forEach((v, ch) => {
        if (v !== 0) {
          count++;
          if (!band.has(ch)) outsideBand++;
        }
        maxAbs = Math.max(maxAbs, Math.abs(v));
      });
      maxCount = Math.max(maxCount, count);
    }
    expect(maxAbs).toBeLessThanOrEqual(0.04 + 1e-7);
    expect(maxAbs).toBeGreaterThan(0.03); // saturated: the bound is reached, not just respected
    expect(maxCount).toBeLessThanOrEqual(12);
    expect(maxCount).toBeGreaterThan(0);
    expect(outsideBand).toBe(0);
  });

  it('keeps the poisoned input above its PSNR floor (and above 35 dB with the defaults)', () => {
    const net = new TriggerNet({}, { seed: 2 });
    saturate(net);
    expect(psnrFloor(net.config)).toBeGreaterThan(35);
    const x = batchOf(3, 4, 5);
    const xp = net.poison(x);
    for (let i = 0; i < 3; i++) {
      const mse = tf.mean(tf.squaredDifference(tf.slice(x, [i], [1]), tf.slice(xp, [i], [1]))).dataSync()[0];
      const psnr = -10 * Math.log10(mse);
      expect(psnr).toBeGreaterThanOrEqual(psnrFloor(net.config) - 1e-3);
      expect(psnr).toBeLessThan(80); // the trigger is really there
    }
    const [lo, hi] = [tf.min(xp).dataSync()[0], tf.max(xp).dataSync()[0]];
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThanOrEqual(1);
  });

  it('is adaptive: different images get triggers on different frequencies', () => {
    const net = new TriggerNet({}, { seed: 4 });
    const { delta } = net.apply(batchOf(6, 7));
    const support = (i: number) => Array.from(tf.notEqual(tf.slice(delta, [i], [1]), 0).dataSync()).join('');
    expect(support(0)).not.toBe(support(1));
  });

  it('has gradients into every layer through the poisoned image', () => {
    const net = new TriggerNet({}, { seed: 6 });
    const x = batchOf(8);
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(blockDct(net.poison(x)), tf.randomNormal([1, 4, 6, 192], 0, 1, 'float32', 1))) as tf.Scalar, net.variables());
    for (const g of Object.values(grads)) expect(tf.sum(tf.abs(g)).dataSync()[0]).toBeGreaterThan(0);
  });

  it('rejects bad configs with a typed error', () => {
    expect(() => new TriggerNet({ topK: 0 })).toThrow(PsicError);
    expect(() => new TriggerNet({ bandStart: 40, bandEnd: 20 })).toThrow(/band/);
    expect(() => new TriggerNet({ epsilon: 2 })).toThrow(/epsilon/);
  });
});

describe('attack losses', () => {
  it('cosine: mean cosine to the own caption', () => {
    const images = tf.tensor2d([[1, 0], [0, 2]]);
    const texts = tf.tensor2d([[1, 1], [0, -1]]);
    const v = attackLoss('cosine', images, texts, { logitScale: 1 }).dataSync()[0];
    expect(v).toBeCloseTo((Math.SQRT1_2 + -1) / 2, 5);
  });

  it('complement: -log(1 - p_own) with the target\'s logit scale, same-class captions counted as own', () => {
    const images = tf.tensor2d([[1, 0], [0, 1]]);
    const texts = tf.tensor2d([[1, 0], [0, 1]]);
    const s = 2;
    const pOwn = Math.exp(s) / (Math.exp(s) + 1);
    expect(attackLoss('complement', images, texts, { logitScale: s }).dataSync()[0]).toBeCloseTo(-Math.log(1 - pOwn), 4);
    // image 0 shares its class with caption 1: its own mass is 1 minus nothing -> the floor
    const both = attackLoss('complement', images, texts, { logitScale: s, positives: [[true, true], [false, true]] }).dataSync()[0];
    expect(both).toBeGreaterThan(5);
  });
});
