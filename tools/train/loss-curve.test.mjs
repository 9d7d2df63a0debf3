// node --test tools/train/  — the statistics and the one-ulp perturbation behind loss-curve.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { divergence, judge, oneStepAgreement, quantile, ONE_STEP_TOLERANCE } from './curve-stats.mjs';
import { perturbOneUlp } from './perturb-weights.mjs';

test('quantile interpolates between ranks', () => {
  assert.equal(quantile([1, 2, 3, 4, 5], 0.5), 3);
  assert.equal(quantile([0, 10], 0.9), 9);
  assert.equal(quantile([7], 0.9), 7);
});

test('divergence: zero for identical curves, the offset for a shifted one', () => {
  const ref = Array.from({ length: 120 }, (_, i) => 100 / (i + 1));
  const same = divergence(ref, ref);
  assert.equal(same.p90_rel_diff, 0);
  assert.equal(same.abs_final50_mean_diff, 0);
  const scaled = divergence(ref, ref.map((l) => l * 1.01));
  assert.ok(Math.abs(scaled.median_rel_diff - 0.01) < 1e-12);
  assert.deepEqual(scaled.window_mean_rel_diff.length, 3); // 50 + 50 + 20 steps
  const tailRef = ref.slice(-50).reduce((a, b) => a + b) / 50;
  assert.ok(Math.abs(scaled.abs_final50_mean_diff - 0.01 * tailRef) < 1e-9);
});

test('judge: within at 1.5x the floor, not above; a zero floor only admits zero', () => {
  const floor = { median_rel_diff: 0.1, p90_rel_diff: 0.2, mean_rel_diff: 0.1, abs_final50_mean_diff: 0.2 };
  assert.equal(judge({ ...floor, p90_rel_diff: 0.3 }, floor).within, true);
  const over = judge({ ...floor, abs_final50_mean_diff: 0.31 }, floor);
  assert.equal(over.within, false);
  assert.deepEqual(over.over, ['abs_final50_mean_diff']);
  assert.equal(judge({ ...floor, median_rel_diff: 1e-9 }, { ...floor, median_rel_diff: 0 }).within, false);
});

test('oneStepAgreement: relative to the largest gradient, with the fixed tolerance', () => {
  const ref = { loss: 2, gradNorm: 5, grads: Float32Array.of(4, -3, 0) };
  const close = oneStepAgreement(ref, { loss: 2, gradNorm: 5, grads: Float32Array.of(4, -3, 1e-5) });
  assert.ok(Math.abs(close.grad_max_abs_diff_rel - 2.5e-6) < 1e-9);
  assert.equal(close.within, true);
  assert.equal(oneStepAgreement(ref, { ...ref, loss: 2 * (1 + 2 * ONE_STEP_TOLERANCE) }).within, false);
});

test('perturbOneUlp: each nonzero weight moves by one or two ulps, both ways, fixed by the seed', () => {
  const data = Float32Array.from({ length: 1000 }, (_, i) => (i % 10 === 0 ? 0 : Math.fround(Math.sin(i) * 3)));
  const tensors = new Map([['b', { shape: [1000], data }], ['a', { shape: [1], data: Float32Array.of(1) }]]);
  const p = perturbOneUlp(tensors, 7);
  assert.equal(p.total, 1001);
  assert.equal(p.changed, 901); // every nonzero
  let up = 0;
  const out = p.tensors.get('b').data;
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0) assert.equal(out[i], 0);
    else {
      const ulp = 2 ** (Math.floor(Math.log2(Math.abs(data[i]))) - 23);
      const moved = Math.abs(out[i] - data[i]) / ulp;
      assert.ok(moved >= 0.5 && moved <= 2, `weight ${i} moved ${moved} ulps`);
      if (Math.abs(out[i]) > Math.abs(data[i])) up++;
    }
  }
  assert.ok(up > 350 && up < 550, `${up} of 900 moved up`);
  assert.deepEqual(perturbOneUlp(tensors, 7).tensors.get('b').data, out);
  assert.notDeepEqual(perturbOneUlp(tensors, 8).tensors.get('b').data, out);
});
