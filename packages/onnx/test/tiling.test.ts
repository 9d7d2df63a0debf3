/**
 * Tiling: the plan covers the grid exactly once within the budget, and a
 * tiled g_a / g_s (tiles smaller than the image, halos around them) gives the
 * untiled result up to float summation order.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Conv2d, Sequential, Stateless, selectBackend } from '@psic/core';
import { OnnxRunner, OnnxTransforms, analysisGraph, analysisHalo, cropNhwc, describeTransforms, planTiles, runTiled, synthesisHalo, type NhwcData } from '../src/index.js';
import { TinyBackbone, maxAbsDiff, picture, seeded } from './helpers.js';

describe('planTiles', () => {
  for (const [rows, cols, budget, halo] of [
    [7, 5, 100, 4],
    [188, 252, 5859, 4],
    [68, 120, 3906, 4],
    [1, 40, 7, 2],
    [33, 17, 64, 2],
    [10, 10, 1, 0],
  ]) {
    it(`covers ${rows}x${cols} once with runs of at most ${budget} latents (halo ${halo})`, () => {
      const tiles = planTiles(rows, cols, budget, halo);
      const seen = new Uint8Array(rows * cols);
      for (const t of tiles) {
        const runRows = Math.min(rows, t.r1 + halo) - Math.max(0, t.r0 - halo);
        const runCols = Math.min(cols, t.c1 + halo) - Math.max(0, t.c0 - halo);
        expect(runRows * runCols).toBeLessThanOrEqual(budget);
        expect(t.r1).toBeGreaterThan(t.r0);
        expect(t.c1).toBeGreaterThan(t.c0);
        for (let r = t.r0; r < t.r1; r++) for (let c = t.c0; c < t.c1; c++) seen[r * cols + c]++;
      }
      expect(seen.every((n) => n === 1)).toBe(true);
      if (rows * cols <= budget) expect(tiles).toHaveLength(1);
    });
  }

  it('prefers strips on a long image, where they compute fewer halo latents than squares', () => {
    // 1920 x 1088 at a 1 MP budget: three 68 x 40 strips, not a 2 x 2 grid.
    const tiles = planTiles(68, 120, 3906, 4);
    expect(tiles).toHaveLength(3);
    expect(tiles.every((t) => t.r0 === 0 && t.r1 === 68)).toBe(true);
  });

  it('says so when the halo alone is larger than the budget', () => {
    expect(() => planTiles(40, 40, 50, 4)).toThrow(RangeError);
  });
});

describe('tiled transforms', () => {
  let model: TinyBackbone;
  const runner = new OnnxRunner({ threads: 1 });
  beforeAll(async () => {
    await selectBackend('cpu', { log: () => {} });
    model = new TinyBackbone();
  });
  afterAll(async () => {
    await runner.dispose();
    model.dispose();
  });

  it('derives a 2-latent halo for the hyperprior-shaped g_a and g_s, none for an unknown layer', () => {
    const t = new OnnxTransforms(runner, model, 'halo');
    expect(t.halo).toEqual({ analysis: 2, synthesis: 2 });
    expect(analysisHalo(model.g_a, 16)).toBe(2); // 30 pixels of reach
    expect(synthesisHalo(model.g_sBlocks)).toBe(2); // 1.875 latents of reach
    expect(synthesisHalo([new Sequential('x', [new Conv2d(3, 3, 3, 1)])])).toBe(1);
    class Custom extends Stateless {
      apply(x: tf.Tensor4D): tf.Tensor4D {
        return x;
      }
    }
    expect(analysisHalo(new Sequential('g_a', [new Conv2d(3, 3, 5, 2), new Custom()]), 16)).toBeUndefined();
  });

  it('g_a in many tiles equals g_a in one; a halo narrower than its reach does not', async () => {
    const h = 512;
    const w = 640;
    const x: NhwcData = { data: picture(h, w), dims: [1, h, w, 3] };
    const whole = await new OnnxTransforms(runner, model, 'whole').analysis(x);
    // runs of at most 16 x 16 latents (256 x 256 pixels), 2-latent halos: a grid of tiles
    expect(planTiles(32, 40, 256, 2).length).toBeGreaterThanOrEqual(8);
    const tiled = await new OnnxTransforms(runner, model, 'tiled', { maxTilePixels: 256 * 256 }).analysis(x);
    expect(tiled.dims).toEqual(whole.dims);
    expect(maxAbsDiff(tiled.data, whole.data)).toBeLessThan(1e-4);

    const session = await runner.session('narrow', () => analysisGraph(describeTransforms(model)).toBytes());
    const narrow = await runTiled(x, { inUnit: 16, outUnit: 1, maxTileLatents: 256, halo: 1 }, async (tile) => (await runner.run(session, { x: tile })).y);
    expect(maxAbsDiff(narrow.data, whole.data)).toBeGreaterThan(1e-3);
  });

  it('g_s in tiles equals g_s in one, also with a JS hook between blocks', async () => {
    const dims: NhwcData['dims'] = [1, 12, 9, model.config.M];
    const yHat: NhwcData = { data: seeded(12 * 9 * model.config.M, 3).map((v) => Math.round(v * 6)), dims };
    const whole = await new OnnxTransforms(runner, model, 'whole').synthesis(yHat);
    const small = new OnnxTransforms(runner, model, 'tiled', { maxTilePixels: 16 * 16 * 60 });
    expect(planTiles(12, 9, 60, 2).length).toBeGreaterThan(2);
    const tiled = await small.synthesis(yHat);
    expect(tiled.dims).toEqual([1, 192, 144, 3]);
    expect(maxAbsDiff(tiled.data, whole.data)).toBeLessThan(1e-4);
    // An identity hook through the per-block graphs gives the same image.
    let calls = 0;
    const hooked = await small.synthesis(yHat, {
      hook: (i, f) => {
        calls++;
        expect(f.dims[3]).toBe(model.synthesisBlocks[i].channels);
        return f;
      },
    });
    expect(calls).toBeGreaterThanOrEqual(12); // four blocks per tile, several tiles
    expect(maxAbsDiff(hooked.data, whole.data)).toBeLessThan(1e-4);
  });

  it('cropNhwc keeps the rows and columns asked for', () => {
    const x: NhwcData = { data: Float32Array.from({ length: 4 * 5 * 2 }, (_, i) => i), dims: [1, 4, 5, 2] };
    const c = cropNhwc(x, 1, 3, 2, 4);
    expect(c.dims).toEqual([1, 2, 2, 2]);
    expect([...c.data]).toEqual([14, 15, 16, 17, 24, 25, 26, 27]);
  });
});
