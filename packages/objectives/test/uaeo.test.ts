/**
 * UAEO on a 4×4 batch whose figures are worked out by hand below.
 *
 * Captions are the unit vectors t_j = e_j, so cos(v, t_j) = v_j / |v|.
 * Originals: o0 = [3,1,0,1], o1 = [0,4,1,2], o2 = [1,0,2,3], o3 = [2,1,3,0].
 * Protected: p0 = [1,2,0,1], p1 = [2,0,1,1], p2 = [0,1,1,2], p3 = [1,1,0,2], all |p| = √6.
 *
 * Reference evidence e(s) = exp(10·tanh(s)): e(0) = 1, e(1/√21) ≈ 8.6,
 * e(1/√14) ≈ 13.6, e(1/√11) ≈ 18.7, e(2/√21) ≈ 60.5, e(2/√14) ≈ 132; and
 * e_b,ij = e(s_ij) + e(s_ji) with s_ij = cos(o_i, t_j). Rows 0 and 1 have
 * their largest similarity on their own caption (3/√11, 4/√21) both ways:
 * confident. o2's largest is caption 3 and o3's caption 2 (3/√14): uncertain.
 * Least-believed OTHER caption (smallest e_b in the row):
 *   row 0: e_b = [·, 18.7+1, 1+13.6, 18.7+132]        -> 2
 *   row 1: e_b = [1+18.7, ·, 8.6+1, 60.5+13.6]        -> 2
 *   row 2: e_b = [13.6+1, 1+8.6, ·, …]                 -> 1
 *   row 3: e_b = [132+18.7, 13.6+60.5, e(3/√14)·2, ·]  -> 1
 * and, e_b being symmetric, the same for the text -> image side.
 *
 * With a = (1/0.07)/√6 (the logit of a protected cosine 1/√6):
 *   L_conf = mean(cos(p0,t0), cos(p1,t1)) = (1/√6 + 0) / 2
 *   i2t: p2 -> logits [0, a, a, 2a], target 1: log(1 + 2e^a + e^2a) − a = 2·log(1 + e^a) − a
 *        p3 -> logits [a, a, 0, 2a], target 1: same value
 *   t2i: t2 -> logits over images [0, a, a, 0], target 1: log(2 + 2e^a) − a
 *        t3 -> logits [a, a, 2a, 2a], target 1: log(2e^a + 2e^2a) − a = log 2 + log(1 + e^a)
 *   L = 10·L_conf + 0.5·(i2t + t2i)
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { naiveAttack, uaeo, uaeoBelief } from '../src/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const originals = () => tf.tensor2d([[3, 1, 0, 1], [0, 4, 1, 2], [1, 0, 2, 3], [2, 1, 3, 0]]);
const protectedEmb = () => tf.tensor2d([[1, 2, 0, 1], [2, 0, 1, 1], [0, 1, 1, 2], [1, 1, 0, 2]]);
const texts = () => tf.eye(4) as tf.Tensor2D;
const logitScale = 1 / 0.07;
const a = logitScale / Math.sqrt(6);
const softplus = (v: number) => Math.log(1 + Math.exp(v));

describe('uaeo (reference reading)', () => {
  it('splits confident / uncertain pairs and picks least-believed targets from the originals', () => {
    const r = uaeo({ originalImages: originals(), protectedImages: protectedEmb(), texts: texts(), logitScale });
    expect(r.confidentImages).toEqual([true, true, false, false]);
    expect(r.confidentTexts).toEqual([true, true, false, false]);
    expect(r.textTargets).toEqual([2, 2, 1, 1]);
    expect(r.imageTargets).toEqual([2, 2, 1, 1]);
  });

  it('matches the hand-computed terms', () => {
    const r = uaeo({ originalImages: originals(), protectedImages: protectedEmb(), texts: texts(), logitScale });
    const confident = (1 / Math.sqrt(6) + 0) / 2;
    const i2t = 2 * softplus(a) - a;
    const t2i = (Math.log(2 + 2 * Math.exp(a)) - a + Math.log(2) + softplus(a)) / 2;
    expect(r.confident.dataSync()[0]).toBeCloseTo(confident, 5);
    expect(r.i2t.dataSync()[0]).toBeCloseTo(i2t, 4);
    expect(r.t2i.dataSync()[0]).toBeCloseTo(t2i, 4);
    expect(r.loss.dataSync()[0]).toBeCloseTo(10 * confident + 0.5 * (i2t + t2i), 4);
  });

  it('beliefs are e_b / Σ(e_b + 1) with e = exp(tanh(s) / τ), bidirectional', () => {
    const b = uaeoBelief(originals(), texts());
    // row 0: s_00 = 3/√11 both ways; Σ_j (e_b,0j + 1) by hand from the four cosines of row 0 and column 0
    const e = (s: number) => Math.exp(Math.tanh(s) / 0.1);
    const s0 = [3 / Math.sqrt(11), 1 / Math.sqrt(11), 0, 1 / Math.sqrt(11)]; // row 0
    const c0 = [3 / Math.sqrt(11), 0, 1 / Math.sqrt(14), 2 / Math.sqrt(14)]; // column 0: cos(o_i, t_0)
    const eb = s0.map((s, j) => e(s) + e(c0[j]));
    const total = eb.reduce((acc, v) => acc + v + 1, 0);
    eb.forEach((v, j) => expect(b[0][j]).toBeCloseTo(v / total, 6));
  });

  it('a gradient step moves confident decodes away from their captions and uncertain ones towards their targets', () => {
    const p = tf.variable(protectedEmb());
    const t = texts();
    const o = originals();
    const before = uaeo({ originalImages: o, protectedImages: p, texts: t, logitScale });
    const cosOwn = () => tf.tidy(() => tf.sum(tf.mul(tf.div(p, tf.norm(p, 'euclidean', 1, true)), t), 1).arraySync() as number[]);
    const own0 = cosOwn()[0];
    for (let i = 0; i < 20; i++) {
      const { grads } = tf.variableGrads(() => uaeo({ originalImages: o, protectedImages: p, texts: t, logitScale }).loss, [p]);
      p.assign(tf.sub(p, tf.mul(grads[p.name], 0.5)));
    }
    const after = uaeo({ originalImages: o, protectedImages: p, texts: t, logitScale });
    expect(cosOwn()[0]).toBeLessThan(own0 - 0.1);
    expect(after.i2t.dataSync()[0]).toBeLessThan(before.i2t.dataSync()[0]);
    expect(after.loss.dataSync()[0]).toBeLessThan(before.loss.dataSync()[0]);
    // the selection depends on the originals only, not on the moved decodes
    expect(after.textTargets).toEqual(before.textTargets);
  });

  it('counts a shared caption (same class) as own', () => {
    // images 0 and 1 share one caption: their texts are equal
    const t = tf.tensor2d([[1, 0, 0], [1, 0, 0], [0, 1, 0]]);
    const o = tf.tensor2d([[1, 0.1, 0], [1, 0, 0.1], [0, 1, 0.2]]);
    const positives = [[true, true, false], [true, true, false], [false, false, true]];
    const plain = uaeo({ originalImages: o, protectedImages: o, texts: t, logitScale });
    const shared = uaeo({ originalImages: o, protectedImages: o, texts: t, logitScale, positives });
    expect(shared.confidentImages).toEqual([true, true, true]);
    // without the mask, one of the two twins sees its most-believed text as "another" caption
    expect(plain.confidentImages.filter(Boolean).length).toBeLessThan(3);
  });

  it('ownTargets: true takes the literal argmin, own caption included', () => {
    const r = uaeo({ originalImages: originals(), protectedImages: protectedEmb(), texts: texts(), logitScale }, { ownTargets: true });
    // o3's own caption has s_33 = 0 both ways: e_b,33 = 2, the smallest of its row
    expect(r.textTargets[3]).toBe(3);
  });
});

describe('uaeo (paper reading, eq. 5-9)', () => {
  it('is the cross-entropy of cos/τ towards the least-believed caption, over every image', () => {
    const r = uaeo({ originalImages: originals(), protectedImages: protectedEmb(), texts: texts(), logitScale }, { variant: 'paper' });
    expect(r.textTargets).toEqual([2, 2, 1, 1]);
    const p = [[1, 2, 0, 1], [2, 0, 1, 1], [0, 1, 1, 2], [1, 1, 0, 2]].map((row) => row.map((v) => v / Math.sqrt(6) / 0.1));
    const ce = (logits: number[], target: number) => Math.log(logits.reduce((acc, l) => acc + Math.exp(l), 0)) - logits[target];
    const expected = (ce(p[0], 2) + ce(p[1], 2) + ce(p[2], 1) + ce(p[3], 1)) / 4;
    expect(r.loss.dataSync()[0]).toBeCloseTo(expected, 4);
    expect(r.t2i.dataSync()[0]).toBe(0);
  });
});

describe('naiveAttack', () => {
  it('is the mean cosine of each decode with its own caption', () => {
    // cos(p_i, t_i) = p_ii / √6: 1, 0, 1, 2 over √6
    expect(naiveAttack(protectedEmb(), texts()).dataSync()[0]).toBeCloseTo((1 + 0 + 1 + 2) / 4 / Math.sqrt(6), 6);
  });
});
