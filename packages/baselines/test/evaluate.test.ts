import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage, encodeImage, readImage, selectBackend } from '@psic/core';
import { RandomTarget } from '@psic/train';
import { loadModel, type LoadedModel } from '@psic/zoo';
import { evaluateBavaft, listLabelledImages, psnrFloor, psnrOf, summariseEvaluation, TriggerNet, type EvaluationImages, type ImageEvaluation } from '../src/index.js';
import { TINY_CODEC, writeClassFolders } from './helpers.js';

let dir: string;
let codec: LoadedModel;
let target: RandomTarget;

beforeAll(async () => {
  await selectBackend('cpu', { log: () => {} });
  dir = mkdtempSync(join(tmpdir(), 'psic-bavaft-eval-'));
  codec = await loadModel(TINY_CODEC);
  target = new RandomTarget({ seed: 2 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('evaluateBavaft', () => {
  it('codes two labelled images twice (clean, poisoned) through real streams and predicts each version', async () => {
    await writeClassFolders(join(dir, 'data'), ['cat', 'dog'], 1, [40, 52]); // 52 is no whole number of DCT blocks
    const folder = await listLabelledImages(join(dir, 'data'));
    expect(folder.classNames).toEqual(['cat', 'dog']);
    expect(folder.files.map((f) => f.label)).toEqual([0, 1]);
    const trigger = new TriggerNet({ hidden: 8 }, { seed: 1 });
    // an untrained trigger is small enough for quantisation to absorb; saturate it so the poisoned stream must differ
    const last = Object.entries(trigger.namedVariables()).filter(([k]) => k.endsWith('weight')).pop()![1];
    last.assign(tf.mul(last, 1000));
    const pictures = new Map<string, EvaluationImages>();
    const { images, summary } = await evaluateBavaft(
      { codec, trigger, target, classNames: folder.classNames, templates: ['a photo of a {}.', 'a picture of a {}.'], onImages: (name, p) => void pictures.set(name, p) },
      folder.files.map((f) => ({ name: f.path, label: f.label, load: () => readImage(f.path) })),
    );
    expect(images).toHaveLength(2);
    for (const r of images) {
      const original = await readImage(r.name);
      const pixels = original.height * original.width;
      // the clean record is exactly what an independent encode/decode gives
      const bytes = await encodeImage(codec, original);
      expect(r.clean.bytes).toBe(bytes.length);
      expect(r.clean.bpp).toBeCloseTo((bytes.length * 8) / pixels, 10);
      expect(r.clean.psnr).toBeCloseTo(psnrOf(original, await decodeImage(codec, bytes)), 6);
      expect(r.clean.psnr).toBeGreaterThan(10); // a trained codec (a random one decodes to flat grey, ~5 dB)
      // the poisoned input carries the trigger within its bound, and is a separate stream
      const p = pictures.get(r.name)!;
      expect(p.poisonedInput.height).toBe(original.height);
      expect(r.poisonedInput.psnr).toBeGreaterThanOrEqual(psnrFloor(trigger.config) - 1e-3);
      expect(r.poisonedInput.psnr).toBeLessThan(90);
      const poisonedBytes = await encodeImage(codec, p.poisonedInput);
      expect(r.poisoned.bytes).toBe(poisonedBytes.length);
      expect(psnrOf(p.poisoned, p.clean)).toBeLessThan(90);
      expect(r.poisoned.psnr).toBeCloseTo(psnrOf(original, p.poisoned), 6);
      for (const pred of [r.original.prediction, r.poisonedInput.prediction, r.clean.prediction, r.poisoned.prediction]) expect([0, 1]).toContain(pred);
    }
    expect(summary.images).toBe(2);
    expect(summary.bppClean).toBeCloseTo((images[0].clean.bpp + images[1].clean.bpp) / 2, 10);
    expect(summary).toEqual(summariseEvaluation(images));
  });

  it('rejects labels outside the classes', async () => {
    const trigger = new TriggerNet({ hidden: 8 });
    await expect(evaluateBavaft({ codec, trigger, target, classNames: ['a'] }, [{ name: 'x', label: 1, load: () => ({ height: 8, width: 8, data: new Float32Array(192) }) }])).rejects.toThrow(/not a class index/);
  });
});

describe('summariseEvaluation', () => {
  const record = (label: number, clean: number, poisoned: number, bpp = 1): ImageEvaluation => ({
    name: 'x', label, original: { prediction: label }, poisonedInput: { psnr: 40, prediction: label },
    clean: { bytes: 10, bpp, psnr: 30, prediction: clean }, poisoned: { bytes: 11, bpp: bpp + 0.5, psnr: 28, prediction: poisoned },
  });

  it('counts ASR among the images the clean decode gets right', () => {
    const s = summariseEvaluation([record(0, 0, 1), record(1, 1, 1), record(2, 0, 0), record(3, 3, 2, 3)]);
    expect(s.referenceCorrect).toBe(3);
    expect(s.attackSuccessRate).toBeCloseTo(2 / 3, 10);
    expect(s.accuracyClean).toBe(0.75);
    expect(s.accuracyPoisoned).toBe(0.25);
    expect(s.bppClean).toBe(1.5);
    expect(s.bppPoisoned).toBe(2);
    expect(Number.isNaN(summariseEvaluation([record(0, 1, 1)]).attackSuccessRate)).toBe(true);
  });
});
