/**
 * Plug-and-play, proven: every registered backbone is wrapped by the same
 * CLTG adapter with no change to its code; a PSIC, a UG-ICM and a combined
 * PSIC + UG-ICM recipe step train it, and one bitstream decodes in every
 * mode of each recipe.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { backbones, decodeImage, encodeImage, selectBackend, type LicBackbone, type RgbImage } from '@psic/core';
import '@psic/backbone-hyperprior';
import '@psic/backbone-checkerboard';
import '@psic/backbone-channel';
import { ConditionalSynthesis, decodeWithCondition, type KdfParams } from '@psic/cltg';
import { Adam, PSIC_RECIPE, PSIC_UGICM_RECIPE, RandomTarget, recipeStep, Rng, UGICM_RECIPE, type Recipe, type RecipeContext } from '../src/index.js';

const FAST_KDF: KdfParams = { algorithm: 'scrypt', N: 1024, r: 8, p: 1 };
const ARCHITECTURES = ['bmshj2018-hyperprior', 'mbt2018-mean', 'he2021-checkerboard', 'minnen2020-channel'];

beforeAll(async () => {
  await selectBackend('cpu', { log: () => {} });
});

function photoLike(height: number, width: number): RgbImage {
  const data = new Float32Array(height * width * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = 0.5 + 0.4 * Math.sin(x / 5);
      data[i + 1] = 0.5 + 0.4 * Math.cos(y / 7);
      data[i + 2] = ((x * y) % 17) / 17;
    }
  }
  return { height, width, data };
}

function wrap(architecture: string, recipe: Recipe): ConditionalSynthesis {
  const backbone = backbones.get(architecture)({ N: 8, M: 12, slices: 3 }) as unknown as LicBackbone;
  return new ConditionalSynthesis(backbone as never, { modes: recipe.modes, conditionDim: 4, hidden: 16, kdf: FAST_KDF, seed: 3 });
}

function context(model: ConditionalSynthesis, recipe: Recipe): RecipeContext {
  const betas = new Map(model.modes.map((m) => [m.name, model.conditionVector(m.keyed ? { mode: m.name, key: 'owner' } : { mode: m.name })]));
  return { model, target: new RandomTarget(), hyper: { lambda: 0.01, lambdaClip: 1, lambdaInstance: 1 }, betas, defaultMode: model.defaultMode.name, wrongKeyShare: recipe.wrongKeyShare, textCache: new Map() };
}

describe('the CLTG adapter on every registered backbone', () => {
  it('covers every registered backbone', () => {
    expect(backbones.list()).toEqual([...ARCHITECTURES].sort());
  });

  for (const architecture of ARCHITECTURES) {
    for (const recipe of [PSIC_RECIPE, UGICM_RECIPE, PSIC_UGICM_RECIPE]) {
      it(`${architecture}: a ${recipe.name} step trains backbone and adapter; one stream decodes in every mode`, { timeout: 60_000 }, async () => {
        const model = wrap(architecture, recipe);
        const named = model.namedVariables();
        const before = new Map(Object.entries(named).map(([n, v]) => [n, v.dataSync().slice()]));
        const stage = recipe.stages[recipe.stages.length - 1];
        const x = tf.tensor4d(photoLike(64, 64).data, [1, 64, 64, 3]);
        const opt = { main: new Adam({ learningRate: 1e-2 }), aux: new Adam({ learningRate: 1e-3 }), mainNamed: named, auxNamed: {} };
        const figures = recipeStep(context(model, recipe), stage.alternation[0], { x, captions: ['a photo of a cat.'], labels: ['cat'] }, new Rng(1), opt);
        x.dispose();
        expect(Number.isFinite(figures.loss)).toBe(true);
        expect(Object.keys(figures.modes).sort()).toEqual(recipe.modes.map((m) => m.name).sort());
        const moved = (prefix: string) => Object.entries(named).some(([n, v]) => n.startsWith(prefix) && v.dataSync().some((value, i) => value !== before.get(n)![i]));
        expect(moved('g_s'), 'decoder moved').toBe(true);
        expect(moved('cltg'), 'adapter moved').toBe(true);

        (model.backbone as unknown as { updateCoding?(): void }).updateCoding?.();
        const codec = { backbone: model.backbone, fingerprint: new Uint8Array(8).fill(5) };
        const img = photoLike(40, 57); // odd size: padded inside the codec
        const stream = await encodeImage(codec, img);
        const decodes = await Promise.all(
          model.modes.map((m) => decodeWithCondition(codec, model, stream, m.keyed ? { mode: m.name, key: 'owner' } : { mode: m.name })),
        );
        const plain = await decodeImage(codec, stream);
        for (const d of decodes) expect([d.height, d.width]).toEqual([40, 57]);
        const diff = (a: RgbImage, b: RgbImage) => Math.max(...a.data.map((v, i) => Math.abs(v - b.data[i])));
        decodes.forEach((a, i) => decodes.slice(i + 1).forEach((b) => expect(diff(a, b), 'the modes decode differently').toBeGreaterThan(1e-4)));
        expect(Math.min(...decodes.map((d) => diff(d, plain))), 'the adapter changes the plain decode').toBeGreaterThan(1e-4);
      });
    }
  }
});
