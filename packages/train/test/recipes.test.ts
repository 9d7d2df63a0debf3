import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePng, selectBackend, semanticTargets } from '@psic/core';
import { Hyperprior } from '@psic/backbone-hyperprior';
import { ConditionalSynthesis, type KdfParams } from '@psic/cltg';
import {
  Adam,
  getRecipe,
  loadPairs,
  modeConditions,
  NAIVE_RECIPE,
  PairDataset,
  PSIC_RECIPE,
  PSIC_UGICM_RECIPE,
  RandomTarget,
  recipeNeeds,
  recipeStep,
  Rng,
  stagePlan,
  trainRecipe,
  UGICM_RECIPE,
  validateRecipe,
  withFrozen,
  type Recipe,
  type RecipeContext,
} from '../src/index.js';

const FAST_KDF: KdfParams = { algorithm: 'scrypt', N: 1024, r: 8, p: 1 };
let dir: string;
let classes: string;

/** A size×size PNG with a constant green channel and textured red / blue. */
async function writePng(path: string, size: number, rgb: readonly [number, number, number]) {
  const data = new Float32Array(size * size * 3);
  for (let i = 0; i < size * size; i++) data.set([((rgb[0] + (i % 7) * 9) % 256) / 255, rgb[1] / 255, ((rgb[2] + (i % 5) * 11) % 256) / 255], i * 3);
  writeFileSync(path, await encodePng({ height: size, width: size, data }));
}

beforeAll(async () => {
  await selectBackend('cpu', { log: () => {} });
  dir = mkdtempSync(join(tmpdir(), 'psic-recipes-'));
  classes = join(dir, 'classes');
  for (const [cls, colour] of [['red_car', [200, 20, 20]], ['blue_sky', [20, 20, 200]]] as const) {
    mkdirSync(join(classes, cls), { recursive: true });
    for (let i = 0; i < 3; i++) await writePng(join(classes, cls, `${i}.png`), 32, colour);
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tinyModel(recipe: Recipe, seed = 1) {
  return new ConditionalSynthesis(new Hyperprior({ N: 8, M: 12, architecture: 'bmshj2018-hyperprior' }), { modes: recipe.modes, conditionDim: 4, hidden: 16, kdf: FAST_KDF, seed });
}

function context(model: ConditionalSynthesis, recipe: Recipe, target = new RandomTarget()): RecipeContext {
  const betas = new Map(model.modes.map((m) => [m.name, model.conditionVector(m.keyed ? { mode: m.name, key: 'owner' } : { mode: m.name })]));
  return { model, target, hyper: { lambda: 0.01, lambdaClip: 1, lambdaInstance: 1 }, betas, defaultMode: model.defaultMode.name, wrongKeyShare: recipe.wrongKeyShare, textCache: new Map() };
}

describe('recipes as data', () => {
  it('describe the PSIC stages: all groups with both modes, then decoder + adapter at lr 1e-5 balanced by inverse loss', () => {
    const [s1, s2] = PSIC_RECIPE.stages;
    expect(s1.trainable).toEqual(['encoder', 'entropy', 'decoder', 'adapter']);
    expect(s1.alternation[0].terms.map((t) => [t.objective, t.mode, t.weight, t.scale])).toEqual([
      ['rate', undefined, 1, undefined],
      ['mse', 'full', 0.5, ['lambda']],
      ['mse', 'protected', 0.5, ['lambda']],
      ['uaeo', 'protected', 1, ['lambdaClip']],
    ]);
    expect(s2).toMatchObject({ trainable: ['decoder', 'adapter'], learningRate: 1e-5, auxiliary: false });
    expect(s2.alternation[0].balance).toBe('inverse-loss');
    expect(NAIVE_RECIPE.stages.flatMap((s) => s.alternation.flatMap((a) => a.terms.map((t) => t.objective)))).not.toContain('uaeo');
    expect(recipeNeeds(PSIC_RECIPE)).toEqual({ target: true, captions: true, key: true });
    expect(recipeNeeds(UGICM_RECIPE)).toEqual({ target: true, captions: false, key: false });
    expect(recipeNeeds(PSIC_UGICM_RECIPE)).toEqual({ target: true, captions: true, key: true });
    expect(getRecipe('psic-ugicm').modes.map((m) => [m.name, !!m.default, !!m.keyed])).toEqual([['protected', true, false], ['full', false, true], ['machine', false, true]]);
    expect(() => getRecipe('nope')).toThrow(expect.objectContaining({ code: 'USAGE' }));
    for (const r of [PSIC_RECIPE, NAIVE_RECIPE, UGICM_RECIPE, PSIC_UGICM_RECIPE]) expect(() => validateRecipe(r)).not.toThrow();
    const broken: Recipe = { ...PSIC_RECIPE, stages: [{ ...PSIC_RECIPE.stages[0], alternation: [{ terms: [{ objective: 'mse', mode: 'machine', weight: 1 }] }] }] };
    expect(() => validateRecipe(broken)).toThrow(expect.objectContaining({ code: 'BAD_RECIPE' }));
  });

  it('freeze groups in every stage; the quantiles step goes with the entropy group', () => {
    const frozen = withFrozen(UGICM_RECIPE, ['encoder', 'entropy']);
    expect(frozen.stages.map((s) => [s.trainable, s.auxiliary])).toEqual([
      [['decoder', 'adapter'], false],
      [['decoder', 'adapter'], false],
    ]);
    expect(withFrozen(PSIC_RECIPE, ['adapter']).stages.map((s) => [s.trainable, s.auxiliary])).toEqual([
      [['encoder', 'entropy', 'decoder'], true],
      [['decoder'], false],
    ]);
    expect(UGICM_RECIPE.stages[0].trainable).toEqual(['encoder', 'entropy', 'decoder', 'adapter']);
    expect(() => withFrozen(PSIC_RECIPE, ['decoder', 'adapter'])).toThrow(expect.objectContaining({ code: 'BAD_RECIPE' }));
  });

  it('split a run into stages by share or by explicit counts', () => {
    expect(stagePlan(PSIC_RECIPE, 1000).map((p) => [p.start, p.end])).toEqual([[0, 800], [800, 1000]]);
    expect(stagePlan(PSIC_RECIPE, 7).map((p) => [p.start, p.end])).toEqual([[0, 6], [6, 7]]);
    expect(stagePlan(PSIC_RECIPE, 0, [3, 2]).map((p) => [p.start, p.end])).toEqual([[0, 3], [3, 5]]);
    expect(() => stagePlan(PSIC_RECIPE, 10, [3])).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });
});

describe('image-text pairs', () => {
  it('fill prompt templates with class-folder names and upscale small images to the crop', async () => {
    const data = await PairDataset.fromClassFolders(classes, ['a photo of a {}.', 'art of a {}']);
    expect(data.size).toBe(6);
    const batch = data.sampleBatch(6, 64, new Rng(3));
    expect(batch.images).toHaveLength(6 * 64 * 64 * 3);
    for (const c of batch.captions) expect(c).toMatch(/^(a photo of a|art of a) (red car|blue sky)\.?$/);
    expect(new Set(batch.labels)).toEqual(new Set(batch.captions.map((c) => (c.includes('red') ? 'red car' : 'blue sky'))));
    // upscaled red images stay red: green channel is the constant 20/255 everywhere
    const i = batch.labels.indexOf('red car');
    const green = Array.from({ length: 64 * 64 }, (_, p) => batch.images[i * 64 * 64 * 3 + p * 3 + 1]);
    expect(Math.max(...green.map((g) => Math.abs(g - 20 / 255)))).toBeLessThan(1e-6);
    await expect(PairDataset.fromClassFolders(join(dir, 'missing'))).rejects.toMatchObject({ code: 'BAD_DATA' });
    await expect(PairDataset.fromClassFolders(classes, ['no placeholder'])).rejects.toMatchObject({ code: 'BAD_DATA' });
  });

  it('read a folder with labels.json (ImageNet samples) and name a broken entry', async () => {
    const folder = join(dir, 'labelled');
    mkdirSync(folder, { recursive: true });
    await writePng(join(folder, 'a.png'), 16, [200, 20, 20]);
    await writePng(join(folder, 'b.png'), 16, [20, 20, 200]);
    writeFileSync(join(folder, 'labels.json'), JSON.stringify({ 'b.png': { className: 'blue_sky' }, 'a.png': { className: 'red car' } }));
    const data = await loadPairs({ data: folder });
    expect(data.records.map((r) => [r.label, r.captions[0]])).toEqual([['red car', 'a photo of a red car.'], ['blue sky', 'a photo of a blue sky.']]);
    writeFileSync(join(folder, 'labels.json'), JSON.stringify({ 'a.png': { classIndex: 3 } }));
    await expect(PairDataset.fromLabelsFile(folder)).rejects.toThrow(/"a.png" has no className/);
  });

  it('read a captions.jsonl and report the bad line', async () => {
    const file = join(dir, 'captions.jsonl');
    writeFileSync(file, `${JSON.stringify({ image: 'classes/red_car/0.png', caption: 'a red car' })}\n\n${JSON.stringify({ image: 'classes/blue_sky/1.png', captions: ['sky', 'blue'], label: 'sky' })}\n`);
    const data = await PairDataset.fromCaptionsFile(file);
    expect(data.records.map((r) => [r.captions, r.label])).toEqual([[['a red car'], 'a red car'], [['sky', 'blue'], 'sky']]);
    writeFileSync(file, `${JSON.stringify({ image: 'classes/red_car/0.png', caption: 'ok' })}\n{"image": 3}\n`);
    await expect(PairDataset.fromCaptionsFile(file)).rejects.toThrow(/captions.jsonl:2/);
    writeFileSync(file, `${JSON.stringify({ image: 'nope.png', caption: 'x' })}\n`);
    await expect(PairDataset.fromCaptionsFile(file)).rejects.toMatchObject({ code: 'BAD_DATA' });
  });
});

describe('the random semantic target', () => {
  it('is registered, deterministic for texts, and differentiable for images', async () => {
    const target = (await semanticTargets.get('random')({ seed: 4 })) as RandomTarget;
    const a = target.embedCandidates(['a cat', 'a dog']).arraySync();
    expect(target.embedCandidates(['a dog']).arraySync()[0]).toEqual(a[1]);
    const x = tf.randomUniform([2, 40, 40, 3]) as tf.Tensor4D;
    expect(target.embedImages(x).shape).toEqual([2, 16]);
    const g = tf.grad((v) => tf.sum(target.embedImages(v as tf.Tensor4D)))(x);
    expect(tf.sum(tf.abs(g)).dataSync()[0]).toBeGreaterThan(0);
  });
});

describe('recipe steps', () => {
  it('decode every mode of one y-hat and train the stage groups only', async () => {
    const model = tinyModel(PSIC_RECIPE);
    const ctx = context(model, PSIC_RECIPE);
    const data = await PairDataset.fromClassFolders(classes);
    const rng = new Rng(1);
    const batch = data.sampleBatch(4, 64, rng);
    const x = tf.tensor4d(batch.images, [4, 64, 64, 3]);
    const named = model.namedVariables();
    const frozenBefore = model.variables('encoder').map((v) => v.dataSync().slice());
    const trainable = new Set([...model.variables('decoder'), ...model.variables('adapter')].map((v) => v.name));
    const opt = { main: new Adam({ learningRate: 1e-2 }), mainNamed: Object.fromEntries(Object.entries(named).filter(([, v]) => trainable.has(v.name))), auxNamed: {} };
    const figures = recipeStep(ctx, PSIC_RECIPE.stages[1].alternation[0], { x, captions: batch.captions, labels: batch.labels }, rng, opt);
    expect(Object.keys(figures.modes).sort()).toEqual(['full', 'protected']);
    expect(Object.keys(figures.terms).sort()).toEqual(['mse:full', 'mse:protected', 'uaeo:protected']);
    expect(figures.terms['mse:full']).toBeCloseTo(255 * 255 * figures.modes.full.mse, 1);
    // inverse-loss weights are normalised and favour the smaller group
    const { fidelity, privacy } = figures.weights!;
    expect(fidelity + privacy).toBeCloseTo(1, 6);
    const fidelityValue = 0.01 * figures.terms['mse:full'];
    const privacyValue = Math.abs(0.01 * figures.terms['mse:protected'] + figures.terms['uaeo:protected']);
    expect(fidelity / privacy).toBeCloseTo(privacyValue / fidelityValue, 3);
    // the encoder is frozen in stage 2; the adapter moved
    model.variables('encoder').forEach((v, i) => expect(Array.from(v.dataSync())).toEqual(Array.from(frozenBefore[i])));
    expect(Math.max(...model.adapterVariables()['cltg.proj.3.weight'].dataSync().map(Math.abs))).toBeGreaterThan(0); // started at zero
  });

  it('run a UG-ICM instance step: human fidelity, machine semantics globally and on grid crops, no wrong keys', () => {
    const model = tinyModel(UGICM_RECIPE);
    const ctx = context(model, UGICM_RECIPE);
    expect(ctx.wrongKeyShare).toBe(0);
    const x = tf.randomUniform([2, 64, 64, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
    const named = model.namedVariables();
    const opt = { main: new Adam({ learningRate: 1e-3 }), aux: new Adam({ learningRate: 1e-3 }), mainNamed: named, auxNamed: {} };
    const f = recipeStep(ctx, UGICM_RECIPE.stages[1].alternation[0], { x }, new Rng(1), opt);
    expect(Object.keys(f.terms).sort()).toEqual(['mse:human', 'rate', 'semanticGlobal:machine', 'semanticInstances:machine']);
    expect(f.terms['semanticInstances:machine']).toBeGreaterThan(0);
    expect(f.terms['semanticInstances:machine']).toBeLessThanOrEqual(2);
    expect(Object.keys(f.modes).sort()).toEqual(['human', 'machine']);
    expect(Number.isFinite(f.loss)).toBe(true);
  });

  it('mix random wrong keys into the default mode only', () => {
    const model = tinyModel(PSIC_RECIPE);
    const ctx = { ...context(model, PSIC_RECIPE), wrongKeyShare: 0.5 };
    const [protectedRows, fullRows] = modeConditions(ctx, ['protected', 'full'], 64, new Rng(2)).map((t) => t.arraySync());
    expect(fullRows).toHaveLength(1);
    const defaultBeta = Array.from(ctx.betas.get('protected')!);
    const isDefault = protectedRows.map((r) => r.every((v, d) => Math.abs(v - defaultBeta[d]) < 1e-6));
    const share = isDefault.filter(Boolean).length / 64;
    expect(share).toBeGreaterThan(0.3);
    expect(share).toBeLessThan(0.7);
  });
});

describe('trainRecipe', () => {
  it('runs the stages, logs each step, checkpoints, and resumes in the right stage', async () => {
    const out = join(dir, 'run');
    const data = await PairDataset.fromClassFolders(classes);
    const base = { data, outDir: out, steps: 0, stageSteps: [3, 2], lambda: 0.01, batchSize: 2, crop: 64, learningRate: 1e-3, auxLearningRate: 1e-3, checkpointEvery: 2, validateEvery: 100, seed: 5, clipNorm: 1, key: 'owner', target: new RandomTarget(), meta: {}, log: () => {} };
    const first = await trainRecipe(tinyModel(PSIC_RECIPE), PSIC_RECIPE, { ...base, stageSteps: [3, 2], resume: false, steps: 0 });
    expect(first.step).toBe(5);
    const lines = readFileSync(join(out, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const steps = lines.filter((r) => r.type === 'step');
    expect(steps.map((r) => [r.step, r.stage])).toEqual([[1, 1], [2, 1], [3, 1], [4, 2], [5, 2]]);
    expect(steps[0]).toHaveProperty('uaeo:protected');
    expect(steps[0]).toHaveProperty('psnr:full');
    expect(steps[4]).toHaveProperty('weight:privacy');
    expect(JSON.stringify(lines)).not.toContain('owner'); // the key never reaches the log
    expect(Object.keys(first.stageFigures)).toEqual(['joint', 'decoder']);

    // a longer second stage, resumed from the step-5 checkpoint, continues stage 2 with its own optimizer
    const logs: string[] = [];
    const resumed = await trainRecipe(tinyModel(PSIC_RECIPE), PSIC_RECIPE, { ...base, stageSteps: [3, 4], resume: true, log: (l) => logs.push(l) });
    expect(resumed.step).toBe(7);
    expect(logs.join('\n')).toMatch(/resumed from .* at step 5/);
    expect(logs.join('\n')).toMatch(/stage 2\/2 "decoder"/);
  });
});

