/**
 * What is particular to the channel-wise model: slicing, which decoded slices
 * condition which (and nothing else), the deterministic tanh of the residual
 * prediction, and that the fixed-point coding walk computes the same function
 * as the float model training optimises.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { backbones, concatChannels, fixedPointSpecs, fixedTanh, quantizeNetwork, sliceChannels } from '@psic/core';
import { channelWalk, ChannelContext, CHANNEL_NAME, LRP_GAIN, sliceSizes, supportChannels, type ChannelCodingNets, type CodeSlice } from '../src/index.js';
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

function netsOf(model: ChannelContext): ChannelCodingNets {
  const fixed = (net: Parameters<typeof fixedPointSpecs>[0]) => quantizeNetwork(fixedPointSpecs(net));
  return {
    hyperMeans: fixed(model.h_mean_s),
    hyperScales: fixed(model.h_scale_s),
    means: model.meanTransforms.map(fixed),
    scales: model.scaleTransforms.map(fixed),
    lrp: model.lrpTransforms.map(fixed),
  };
}

describe('slices', () => {
  it('cut M as evenly as possible, the first slices taking the remainder', () => {
    expect(sliceSizes(320, 10)).toEqual(Array(10).fill(32));
    expect(sliceSizes(96, 10)).toEqual([10, 10, 10, 10, 10, 10, 9, 9, 9, 9]);
    expect(() => sliceSizes(4, 5)).toThrow(/slices/);
    expect(supportChannels([3, 3, 2, 2], 0, 2)).toBe(0);
    expect(supportChannels([3, 3, 2, 2], 3, 2)).toBe(6);
    expect(supportChannels([3, 3, 2, 2], 3, 5)).toBe(8);
  });

  it('size the transforms from the config, and refuse configs the container cannot hold', () => {
    const model = new ChannelContext({ N: 8, M: 14, slices: 4, maxSupport: 2 });
    expect(model.sliceSizes).toEqual([4, 4, 3, 3]);
    const cin = (name: string) => model.namedVariables()[name].shape[2];
    expect([0, 1, 2, 3].map((i) => cin(`cc_mean_transforms.${i}.0.weight`))).toEqual([14, 18, 22, 22]);
    expect([0, 1, 2, 3].map((i) => cin(`lrp_transforms.${i}.0.weight`))).toEqual([18, 22, 25, 25]);
    model.dispose();
    expect(() => new ChannelContext({ N: 8, M: 100, slices: 64 })).toThrow(/slices/);
    expect(() => new ChannelContext({ N: 8, M: 12, slices: 3, maxSupport: -1 })).toThrow(/maxSupport/);
  });
});

describe('fixed-point helpers for the channel model', () => {
  it('fixedTanh is gain * tanh rounded to the activation grid, odd, saturating', () => {
    const bits = 8;
    const x = Int32Array.from({ length: 20001 }, (_, i) => i - 10000);
    const out = fixedTanh(x, bits, LRP_GAIN);
    let worst = 0;
    let asymmetric = 0;
    for (let i = 0; i < x.length; i++) {
      worst = Math.max(worst, Math.abs(out[i] - LRP_GAIN * Math.tanh(x[i] / 256) * 256));
      if (out[x.length - 1 - i] + out[i] !== 0) asymmetric++;
    }
    expect(worst).toBeLessThanOrEqual(0.5 + 1e-9);
    expect(asymmetric).toBe(0);
    expect(Array.from(fixedTanh(Int32Array.of(0, 2 ** 30, -(2 ** 30)), bits, LRP_GAIN))).toEqual([0, 128, -128]);
  });

  it('concatChannels and sliceChannels are inverse', () => {
    const a = { data: Int32Array.from({ length: 6 * 2 }, (_, i) => i), h: 2, w: 3, c: 2 };
    const b = { data: Int32Array.from({ length: 6 * 3 }, (_, i) => -i), h: 2, w: 3, c: 3 };
    const ab = concatChannels([a, b]);
    expect(ab.c).toBe(5);
    expect(Array.from(ab.data.subarray(0, 5))).toEqual([0, 1, 0, -1, -2]);
    expect(sliceChannels(ab, 0, 2)).toEqual(a);
    expect(sliceChannels(ab, 2, 3)).toEqual(b);
    expect(() => concatChannels([a, { ...b, h: 3, w: 2 }])).toThrow(/part 1/);
    expect(() => sliceChannels(ab, 3, 3)).toThrow(/outside/);
  });
});

describe('channel coding walk', () => {
  const zShape = { h: 2, w: 2, c: 8 };
  const config = { N: 8, M: 12, slices: 4, maxSupport: 2 };

  it('a slice is conditioned on the first maxSupport decoded slices and on nothing else', () => {
    const model = codecLike(config);
    const nets = netsOf(model);
    const random = mulberry32(5);
    const zHat = Float32Array.from({ length: 2 * 2 * 8 }, () => Math.round(4 * (random() - 0.5)));
    const pixels = 8 * 8;
    const base = model.sliceSizes.map((s) => Int32Array.from({ length: pixels * s }, () => Math.round(6 * (random() - 0.5))));
    const run = (changed: number) => {
      const seen: Int32Array[] = [];
      const code: CodeSlice = (slice, _indexes, means) => {
        seen[slice] = means.slice();
        return slice === changed ? base[slice].map((v) => v + 1) : base[slice];
      };
      channelWalk(nets, model.gaussianConditional, zHat, zShape, model.sliceSizes, config.maxSupport, code);
      return seen;
    };
    const reference = run(-1);
    const afterSlice0 = run(0);
    const afterSlice2 = run(2);
    expect(afterSlice0[0]).toEqual(reference[0]);
    expect(afterSlice0[1]).not.toEqual(reference[1]);
    expect(afterSlice0[3]).not.toEqual(reference[3]);
    // slice 2 is not in anyone's support (maxSupport 2): nothing after it changes
    expect(afterSlice2).toEqual(reference);
    model.dispose();
  });

  it('computes what the float model computes, within the fixed-point rounding', () => {
    const model = codecLike(config);
    const nets = netsOf(model);
    const random = mulberry32(9);
    const zHat = Float32Array.from({ length: 2 * 2 * 8 }, () => Math.round(4 * (random() - 0.5)));
    const walk = channelWalk(nets, model.gaussianConditional, zHat, zShape, model.sliceSizes, config.maxSupport, (slice, indexes) =>
      Int32Array.from({ length: indexes.length }, () => Math.round(6 * (random() - 0.5))),
    );
    const { h, w } = walk;
    const M = config.M;
    // The float networks, fed with the walk's own decoded slices.
    const float = tf.tidy(() => {
      const z = tf.tensor4d(zHat, [1, 2, 2, 8]);
      const latentMeans = model.h_mean_s.apply(z);
      const latentScales = model.h_scale_s.apply(z);
      const yHat = tf.split(tf.tensor4d(walk.yHat, [1, h, w, M]), [...model.sliceSizes], 3);
      const yCoded = tf.split(tf.tensor4d(walk.yCoded, [1, h, w, M]), [...model.sliceSizes], 3);
      const means: tf.Tensor[] = [];
      const scales: tf.Tensor[] = [];
      const residuals: tf.Tensor[] = [];
      model.sliceSizes.forEach((_, i) => {
        const support = yHat.slice(0, Math.min(i, config.maxSupport));
        means.push(model.meanTransforms[i].apply(tf.concat([latentMeans, ...support], 3) as tf.Tensor4D));
        scales.push(model.scaleTransforms[i].apply(tf.concat([latentScales, ...support], 3) as tf.Tensor4D));
        const lrp = model.lrpTransforms[i].apply(tf.concat([latentMeans, ...support, yCoded[i]], 3) as tf.Tensor4D);
        residuals.push(tf.mul(LRP_GAIN, tf.tanh(lrp)));
      });
      return [means, scales, residuals].map((parts) => tf.concat(parts, 3).dataSync());
    });
    const [means, scales, residuals] = float;
    const walkResiduals = walk.yHat.map((v, i) => v - walk.yCoded[i]);
    let spread = 0;
    let worst = 0;
    let worstResidual = 0;
    for (let i = 0; i < means.length; i++) {
      spread = Math.max(spread, Math.abs(means[i]), Math.abs(scales[i]));
      worst = Math.max(worst, Math.abs(means[i] - walk.means[i]), Math.abs(scales[i] - walk.scales[i]));
      worstResidual = Math.max(worstResidual, Math.abs(residuals[i] - walkResiduals[i]));
    }
    expect(spread).toBeGreaterThan(1);
    expect(worst).toBeLessThan(0.05 * spread);
    expect(worstResidual).toBeLessThan(0.05);
    expect(Math.max(...walkResiduals.map(Math.abs))).toBeGreaterThan(0.1); // LRP is really at work
    model.dispose();
  });

  it('is registered with the paper defaults for what a sidecar leaves out', () => {
    const model = backbones.get(CHANNEL_NAME)({ N: 8, M: 20 }) as ChannelContext;
    expect(model.config).toEqual({ N: 8, M: 20, slices: 10, maxSupport: 5 });
    expect(model.synthesisBlocks.map((b) => b.channels)).toEqual([8, 8, 8, 3]);
    model.dispose();
  });
});
