/**
 * The machine evaluation: task plumbing on hand-made pictures with known
 * answers, the mode variants of a conditional model, and one small run with
 * the tiny PSIC model and the real npm models (CenterNet, face-api).
 */
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@psic/backbone-hyperprior'; // registers the fixture's backbone
import { selectBackend, semanticTargets, type CodecModel, type RgbImage, type SemanticTarget } from '@psic/core';
import type { ConditionalSynthesis } from '@psic/cltg';
import { CLTG_FIXTURES, loadTinyPsic } from './tiny-psic.js';
import { PsicError } from '@psic/entropy';
import { beforeAll, describe, expect, it } from 'vitest';
import { CenterNetDetector } from '../../vlp/src/detect/index.js';
import { evaluateMachine, loadDataset, modeVariants, type Detection, type EvalDataset, type ImageTransform, type ObjectDetector, type Variant } from '../src/index.js';

const FIXTURES = CLTG_FIXTURES;
const SHARED = resolve(FIXTURES, '..', '..', '..', '..', '..', 'shared', 'data');

function solid(r: number, g: number, b: number, side = 8): RgbImage {
  const data = new Float32Array(side * side * 3);
  for (let i = 0; i < side * side; i++) data.set([r, g, b], i * 3);
  return { height: side, width: side, data };
}

/** Red left half, black right half. */
function halfRed(side = 8): RgbImage {
  const img = solid(0, 0, 0, side);
  for (let y = 0; y < side; y++) for (let x = 0; x < side / 2; x++) img.data[(y * side + x) * 3] = 1;
  return img;
}

/** Finds the box around red pixels (class 0), if any. */
const redFinder: ObjectDetector = {
  name: 'red-finder',
  async detect(img) {
    let x1 = Infinity;
    let y1 = Infinity;
    let x2 = -Infinity;
    let y2 = -Infinity;
    for (let y = 0; y < img.height; y++) {
      for (let x = 0; x < img.width; x++) {
        const i = (y * img.width + x) * 3;
        if (img.data[i] > 0.5 && img.data[i + 1] < 0.5) [x1, y1, x2, y2] = [Math.min(x1, x), Math.min(y1, y), Math.max(x2, x + 1), Math.max(y2, y + 1)];
      }
    }
    return x1 === Infinity ? [] : [{ x1: x1 / img.width, y1: y1 / img.height, x2: x2 / img.width, y2: y2 / img.height, label: 0, score: 0.9 } satisfies Detection];
  },
};

/** Mean colour; texts naming red / green (or man / woman) as those colours. */
class ColourTarget implements SemanticTarget {
  readonly logitScale = 10;
  constructor(readonly name: string, private readonly texts = true) {}
  embedImages(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => tf.add(tf.mean(x, [1, 2]), 1e-3) as tf.Tensor2D);
  }
  embedCandidates(items: string[]): tf.Tensor2D {
    return tf.tensor2d(
      items.map((t) => {
        const w = t.toLowerCase().match(/[a-z]+/g) ?? [];
        if (this.texts && w.some((x) => x === 'red' || x === 'man')) return [1, 0, 0];
        if (this.texts && w.some((x) => x === 'green' || x === 'woman')) return [0, 1, 0];
        throw new PsicError('UNKNOWN_CANDIDATE', `no colour in ${t}`);
      }),
    );
  }
}

const swap: ImageTransform = {
  name: 'swap',
  apply: async (img) => ({ ...img, data: img.data.map((_, i) => img.data[i % 3 === 0 ? i + 1 : i % 3 === 1 ? i - 1 : i]) }),
  reference: async (img) => img,
};
const same: ImageTransform = { name: 'same', apply: async (img) => img, reference: async (img) => img };
const variants: Variant[] = [
  { kind: 'original', name: 'original' },
  { kind: 'transform', name: 'same', source: 'original', transform: same },
  { kind: 'transform', name: 'swap', source: 'original', transform: swap },
];
const sample = (name: string, img: RgbImage, extra: object) => ({ name, ...extra, load: async () => img });

beforeAll(async () => {
  await selectBackend('wasm', { log: () => {} });
});

describe('evaluateMachine on pictures with known answers', () => {
  it('scores detection against the pseudo ground truth, classification and zero-shot', async () => {
    const dataset: EvalDataset = {
      source: 'colours',
      layout: 'class-folders',
      classes: [['red'], ['green']],
      samples: [sample('a', halfRed(), { label: 0 }), sample('b', solid(0.1, 0.9, 0.1), { label: 1 }), sample('c', solid(0.9, 0.2, 0.1), { label: 0 })],
    };
    const r = await evaluateMachine({ dataset, variants, target: new ColourTarget('colour'), templates: ['a {}.'], detector: redFinder, classifier: new ColourTarget('features', false) });
    expect(r.pseudoTruth).toEqual({ minScore: 0.2, boxes: 2, images: 2 });
    expect(r.rows.map((x) => [x.variant, x.detection, x.classify, x.zeroShot])).toEqual([
      ['original', undefined, 1, 1],
      ['same', 1, 1, 1],
      ['swap', 0, 0, 0], // red became green: nothing found, every class flipped
    ]);
    expect(r.classifier).toBe('features');
    expect(r.target).toBe('colour');
  });

  it('scores face attributes on CelebA-style labels, and says which tasks do not apply', async () => {
    const dataset: EvalDataset = {
      source: 'faces',
      layout: 'celeba',
      attributeNames: ['Male'],
      samples: [sample('m', solid(0.9, 0.1, 0.1), { attributes: { Male: true } }), sample('f', solid(0.1, 0.9, 0.1), { attributes: { Male: false } })],
    };
    const r = await evaluateMachine({ dataset, variants, target: new ColourTarget('colour'), faceTargets: [new ColourTarget('face')], classifier: new ColourTarget('features', false) });
    expect(r.faceModels).toEqual(['face']);
    expect(r.rows.map((x) => [x.variant, x.faces])).toEqual([
      ['original', { face: { attr: 1, attributes: { Male: 1 } } }],
      ['same', { face: { attr: 1, attributes: { Male: 1 } } }],
      ['swap', { face: { attr: 0, attributes: { Male: 0 } } }],
    ]);
    expect(r.rows.every((x) => x.zeroShot === undefined && x.classify === undefined)).toBe(true);
    expect(r.notes.join('\n')).toMatch(/zero-shot: faces has no class labels/);
    expect(r.notes.join('\n')).toMatch(/classification: faces has no class labels/);
  });
});

describe('the tiny PSIC model with real npm models', () => {
  let codec: CodecModel;
  let adapter: ConditionalSynthesis;
  let key: Uint8Array;
  beforeAll(async () => {
    ({ codec, adapter, key } = await loadTinyPsic());
  });

  it('makes the plain decode and one decode per mode; keyed modes need the key', () => {
    expect(modeVariants({ codec, adapter }).map((v) => v.name)).toEqual(['original', 'plain', 'protected']);
    expect(modeVariants({ codec, adapter, key }).map((v) => v.name)).toEqual(['original', 'plain', 'protected', 'full']);
    expect(modeVariants({ codec, adapter, key, modes: ['full'] }).map((v) => v.name)).toEqual(['original', 'plain', 'full']);
    expect(modeVariants({ codec }).map((v) => v.name)).toEqual(['original', 'plain']);
    expect(() => modeVariants({ codec, adapter, modes: ['machine'] })).toThrow(/no mode "machine"/);
    expect(() => modeVariants({ codec, adapter, modes: ['full'] })).toThrow(expect.objectContaining({ code: 'KEY_REQUIRED' }));
    expect(() => modeVariants({ codec, modes: ['full'] })).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });

  it('runs CenterNet and face-api on CelebA decodes of one bitstream', async () => {
    const dataset = await loadDataset(join(SHARED, 'celeba-sample'), { limit: 2 });
    const face = await semanticTargets.get('face-api')({ faceBox: 'celeba' });
    const detector = await CenterNetDetector.load();
    const r = await evaluateMachine({ dataset, variants: modeVariants({ codec, adapter, key }), detector, faceTargets: [face] });
    expect(r.rows.map((x) => x.variant)).toEqual(['original', 'plain', 'protected', 'full']);
    expect(new Set(r.rows.slice(1).map((x) => x.bpp)).size).toBe(1); // one bitstream
    expect(r.pseudoTruth!.boxes).toBeGreaterThan(0); // a person in a portrait
    for (const row of r.rows.slice(1)) {
      expect(row.detection).toBeGreaterThanOrEqual(0);
      expect(row.detection).toBeLessThanOrEqual(1);
      expect(row.faces!['face-api'].attributes).toHaveProperty('Smiling');
    }
    // on the uncompressed faces face-api gets both genders right (97.8% on the whole sample)
    expect(r.rows[0].faces!['face-api'].attributes.Male).toBe(1);
    detector.dispose();
  }, 60_000);
});
