/**
 * What is particular to the checkerboard model: the two-pass structure
 * (non-anchors are coded from the anchors and nothing else of y), and that
 * the fixed-point coding walk computes the same function as the float model
 * that training optimises.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { backbones, convSpec, fixedPointSpecs, quantizeNetwork } from '@psic/core';
import { anchorMask, checkerboardWalk, CHECKERBOARD_NAME, type CheckerboardCodingNets, type CodePass } from '../src/index.js';
import { codecLike } from './codec-like.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function netsOf(model: ReturnType<typeof codecLike>): CheckerboardCodingNets {
  return {
    hyper: quantizeNetwork(fixedPointSpecs(model.h_s)),
    context: quantizeNetwork([convSpec(model.contextPrediction, model.contextPrediction.maskedWeight())]),
    parameters: quantizeNetwork(fixedPointSpecs(model.entropyParameters)),
  };
}

/** A coder that hands out the given symbols per pass and records the means it was asked to code with. */
function scriptedCoder(symbols: [Int32Array, Int32Array], seenMeans: Int32Array[]): CodePass {
  return (pass, _pixels, _indexes, means) => {
    seenMeans[pass] = means.slice();
    return symbols[pass];
  };
}

describe('checkerboard coding walk', () => {
  const M = 12;
  const zShape = { h: 2, w: 3, c: 8 };
  const pixels = (4 * zShape.h * 4 * zShape.w) / 2;

  it('non-anchor parameters depend on the anchors only; anchor parameters on neither', () => {
    const model = codecLike(8, M);
    const nets = netsOf(model);
    const random = mulberry32(7);
    const zHat = Float32Array.from({ length: zShape.h * zShape.w * zShape.c }, () => Math.round(4 * (random() - 0.5)));
    const symbols = () => Int32Array.from({ length: pixels * M }, () => Math.round(6 * (random() - 0.5)));
    const [anchors, nonAnchors, otherAnchors, otherNonAnchors] = [symbols(), symbols(), symbols(), symbols()];
    const run = (a: Int32Array, n: Int32Array) => {
      const seen: Int32Array[] = [];
      const walk = checkerboardWalk(nets, model.gaussianConditional, zHat, zShape, M, scriptedCoder([a, n], seen));
      return { seen, walk };
    };
    const base = run(anchors, nonAnchors);
    const changedNonAnchors = run(anchors, otherNonAnchors);
    const changedAnchors = run(otherAnchors, nonAnchors);
    expect(changedNonAnchors.seen[0]).toEqual(base.seen[0]);
    expect(changedNonAnchors.seen[1]).toEqual(base.seen[1]);
    expect(changedAnchors.seen[0]).toEqual(base.seen[0]);
    expect(changedAnchors.seen[1]).not.toEqual(base.seen[1]);
    // y-hat = symbol + mean, on the right squares
    const { yHat, means, w } = base.walk;
    // (0, 3): (y + x) odd, an anchor, the first pass's pixel number 1 (raster order: (0, 1), (0, 3), ...)
    expect(yHat[3 * M]).toBe(anchors[M] + means[3 * M]);
    // (1, 1): a non-anchor, the second pass's pixel number w / 2 + 0 (row 0 has (0, 0), (0, 2), ...)
    expect(yHat[(w + 1) * M + 5]).toBe(nonAnchors[(w / 2) * M + 5] + means[(w + 1) * M + 5]);
    model.dispose();
  });

  it('computes what the float model computes, within the fixed-point rounding', () => {
    const model = codecLike(8, M);
    const nets = netsOf(model);
    const random = mulberry32(11);
    const zHat = Float32Array.from({ length: zShape.h * zShape.w * zShape.c }, () => Math.round(4 * (random() - 0.5)));
    const walk = checkerboardWalk(nets, model.gaussianConditional, zHat, zShape, M, (_p, px) =>
      Int32Array.from({ length: px.length * M }, () => Math.round(6 * (random() - 0.5))),
    );
    const { h, w } = walk;
    const [scales, means] = tf.tidy(() => {
      const hyper = model.h_s.apply(tf.tensor4d(zHat, [1, zShape.h, zShape.w, zShape.c]));
      const anchors = anchorMask(h, w);
      const yHat = tf.tensor4d(walk.yHat, [1, h, w, M]);
      const context = tf.mul(model.contextPrediction.apply(tf.mul(yHat, anchors) as tf.Tensor4D), tf.sub(1, anchors));
      return tf.split(model.entropyParameters.apply(tf.concat([hyper, context], 3) as tf.Tensor4D), 2, 3).map((t) => t.dataSync());
    });
    let worst = 0;
    let spread = 0;
    for (let i = 0; i < means.length; i++) {
      worst = Math.max(worst, Math.abs(means[i] - walk.means[i]), Math.abs(scales[i] - walk.scales[i]));
      spread = Math.max(spread, Math.abs(means[i]), Math.abs(scales[i]));
    }
    expect(spread).toBeGreaterThan(1); // the comparison is not between near-zeros
    expect(worst).toBeLessThan(0.05 * spread);
    model.dispose();
  });

  it('is registered for the CLI and the zoo', () => {
    const model = backbones.get(CHECKERBOARD_NAME)({ N: 16, M: 24 });
    expect(model.name).toBe('he2021-checkerboard');
    expect(model.synthesisBlocks.map((b) => b.channels)).toEqual([16, 16, 16, 3]);
    (model as ReturnType<typeof codecLike>).dispose();
  });
});
