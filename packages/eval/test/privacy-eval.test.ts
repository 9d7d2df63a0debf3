/**
 * The privacy evaluation end to end: first on hand-made pictures and a
 * colour "target" whose answers are known (a channel swap is a perfect
 * attack, an identity none), then on the tiny shipped PSIC model
 * (packages/cltg/test/fixtures): one bitstream, three decodes.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@psic/backbone-hyperprior'; // registers the fixture's backbone
import { encodeImage, readImage, selectBackend, type CodecModel, type RgbImage, type SemanticTarget } from '@psic/core';
import { decodeWithCondition, type ConditionalSynthesis } from '@psic/cltg';
import { CLTG_FIXTURES, loadTinyPsic } from './tiny-psic.js';
import { PsicError } from '@psic/entropy';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  as8bit,
  decodeVariants,
  evaluatePrivacy,
  jpegTransform,
  loadDataset,
  privacyVariants,
  psnr,
  resizeTransform,
  upscaleToMinSide,
  type EvalDataset,
  type ImageTransform,
  type PrivacyPlan,
} from '../src/index.js';

const FIXTURES = CLTG_FIXTURES;

/** Embeds a picture as its mean colour; texts naming red / green (or man / woman) as those colours. */
class ColourTarget implements SemanticTarget {
  readonly name = 'colour';
  readonly logitScale = 10;
  constructor(private readonly texts = true) {}
  embedImages(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => tf.add(tf.mean(x, [1, 2]), 1e-3) as tf.Tensor2D);
  }
  embedCandidates(items: string[]): tf.Tensor2D {
    const rows = items.map((t) => {
      const words = t.toLowerCase().match(/[a-z]+/g) ?? [];
      if (this.texts && words.some((w) => w === 'red' || w === 'man')) return [1, 0, 0];
      if (this.texts && words.some((w) => w === 'green' || w === 'woman')) return [0, 1, 0];
      throw new PsicError('UNKNOWN_CANDIDATE', `colour target: no colour in ${JSON.stringify(t)}`);
    });
    return tf.tensor2d(rows);
  }
}

function solid(r: number, g: number, b: number, side = 8): RgbImage {
  const data = new Float32Array(side * side * 3);
  for (let i = 0; i < side * side; i++) data.set([r, g, b], i * 3);
  return { height: side, width: side, data };
}

const swap: ImageTransform = {
  name: 'swap',
  apply: async (img) => ({ ...img, data: img.data.map((_, i) => img.data[i % 3 === 0 ? i + 1 : i % 3 === 1 ? i - 1 : i]) }),
  reference: async (img) => img,
};
const same: ImageTransform = { name: 'same', apply: async (img) => img, reference: async (img) => img };

/** original, its channel swap (the "attack") and an untouched copy. */
const colourPlan: PrivacyPlan = {
  variants: [
    { kind: 'original', name: 'original' },
    { kind: 'transform', name: 'swap', source: 'original', transform: swap },
    { kind: 'transform', name: 'same', source: 'original', transform: same },
  ],
  asrPairs: [
    ['swap', 'original'],
    ['same', 'original'],
  ],
  protected: 'swap',
};

const sample = (name: string, img: RgbImage, extra: object) => ({ name, ...extra, load: async () => img });

beforeAll(async () => {
  await selectBackend('cpu', { log: () => {} });
});

describe('evaluatePrivacy on pictures with known answers', () => {
  const classes: EvalDataset = {
    source: 'colours',
    layout: 'class-folders',
    classes: [['red'], ['green']],
    samples: [sample('r1', solid(0.9, 0.1, 0.1), { label: 0 }), sample('g1', solid(0.1, 0.8, 0.2), { label: 1 }), sample('r2', solid(0.7, 0.2, 0.1), { label: 0 }), sample('g2', solid(0.2, 0.9, 0.1), { label: 1 })],
  };

  it('scores zero-shot and class-level retrieval, and the ASR of a perfect and of a null attack', async () => {
    const r = await evaluatePrivacy({ dataset: classes, plan: colourPlan, target: new ColourTarget(), templates: ['a photo of a {}.', 'a {} thing.'] });
    expect(r.classify).toBe('zero-shot');
    const row = (v: string) => r.rows.find((x) => x.variant === v)!;
    expect(row('original')).toMatchObject({ images: 4, top1: 1, i2t: 1, t2i: 1 });
    expect(row('original').bpp).toBeUndefined();
    expect(row('swap')).toMatchObject({ top1: 0, i2t: 0, t2i: 0 });
    expect(row('same')).toMatchObject({ top1: 1, i2t: 1, t2i: 1, psnr: Infinity });
    const asr = (v: string) => r.asr.find((x) => x.variant === v)!;
    expect(asr('swap')).toMatchObject({ reference: 'original', top1: { eligible: 4, fooled: 4, rate: 1 }, i2t: { rate: 1 }, t2i: { eligible: 4, fooled: 4, rate: 1 } });
    expect(asr('same')).toMatchObject({ top1: { eligible: 4, fooled: 0, rate: 0 }, t2i: { rate: 0 } });
  });

  it('falls back to nearest-class prototypes of the originals for a target without texts', async () => {
    const r = await evaluatePrivacy({ dataset: classes, plan: colourPlan, target: new ColourTarget(false), templates: ['a photo of a {}.'] });
    expect(r.classify).toBe('nearest-class');
    expect(r.rows.map((x) => [x.variant, x.top1, x.i2t])).toEqual([
      ['original', 1, undefined],
      ['swap', 0, undefined],
      ['same', 1, undefined],
    ]);
    expect(r.notes.join(' ')).toMatch(/nearest-class/);
    expect(r.notes.join(' ')).toMatch(/no retrieval/);
  });

  it('scores CelebA-style attributes with the prompt pairs', async () => {
    const faces: EvalDataset = {
      source: 'faces',
      layout: 'celeba',
      attributeNames: ['Male', 'Eyeglasses'],
      samples: [sample('m', solid(0.9, 0.1, 0.1), { attributes: { Male: true, Eyeglasses: false } }), sample('f', solid(0.1, 0.9, 0.1), { attributes: { Male: false, Eyeglasses: true } })],
    };
    const r = await evaluatePrivacy({ dataset: faces, plan: colourPlan, target: new ColourTarget(), templates: ['{}'], tasks: ['attributes'] });
    expect(r.rows.map((x) => [x.variant, x.attr, x.attributes])).toEqual([
      ['original', 1, { Male: 1 }],
      ['swap', 0, { Male: 0 }],
      ['same', 1, { Male: 1 }],
    ]);
    expect(r.asr[0].attributes).toEqual({ Male: { eligible: 2, fooled: 2, rate: 1 } });
  });
});

describe('evaluatePrivacy with the tiny PSIC model', () => {
  let codec: CodecModel;
  let adapter: ConditionalSynthesis;
  let key: Uint8Array;
  beforeAll(async () => {
    ({ codec, adapter, key } = await loadTinyPsic());
  });

  it('decodes ONE bitstream plainly, with the key and without, and measures each', async () => {
    const plan = privacyVariants({ codec, adapter, key, transforms: [jpegTransform(85)] });
    expect(plan.variants.map((v) => v.name)).toEqual(['original', 'plain', 'full', 'protected', 'full+jpeg85', 'protected+jpeg85']);
    expect(plan.asrPairs).toEqual([
      ['protected', 'full'],
      ['protected', 'plain'],
      ['protected+jpeg85', 'full'],
      ['protected+jpeg85', 'plain'],
      ['protected+jpeg85', 'full+jpeg85'],
      ['full+jpeg85', 'full'],
    ]);

    const original = upscaleToMinSide(await readImage(join(FIXTURES, 'pairs', 'ship', '0000.jpg')));
    const decoded = await decodeVariants(original, plan.variants);
    const bytes = await encodeImage(codec, original);
    for (const v of ['plain', 'full', 'protected', 'protected+jpeg85']) {
      expect(decoded.get(v)!.bytes).toBe(bytes.length);
      expect(decoded.get(v)!.bpp).toBeCloseTo((bytes.length * 8) / (64 * 64), 12);
    }
    const full = as8bit(await decodeWithCondition(codec, adapter, bytes, { mode: 'full', key }));
    const prot = as8bit(await decodeWithCondition(codec, adapter, bytes, { mode: 'protected' }));
    expect(decoded.get('full')!.image.data).toEqual(full.data);
    expect(decoded.get('protected')!.image.data).toEqual(prot.data);
    expect(psnr(full.data, prot.data)).toBeLessThan(40); // two different pictures
    expect(decoded.get('full')!.psnr).toBeCloseTo(psnr(as8bit(original).data, full.data), 10);
  });

  it('reports rows and ASR pairs over a class-folder set; without the key only plain and protected', async () => {
    const dataset = await loadDataset(join(FIXTURES, 'pairs'));
    const target = new ColourTarget(false);
    const withKey = await evaluatePrivacy({ dataset, plan: privacyVariants({ codec, adapter, key }), target, templates: ['{}'] });
    expect(withKey.rows.map((r) => r.variant)).toEqual(['original', 'plain', 'full', 'protected']);
    const bpps = withKey.rows.slice(1).map((r) => r.bpp!);
    expect(new Set(bpps).size).toBe(1);
    const psnrOf = (v: string) => withKey.rows.find((r) => r.variant === v)!.psnr!;
    expect(psnrOf('full')).toBeGreaterThan(psnrOf('protected')); // the key restores fidelity
    expect(withKey.rows[0].top1).toBe(1); // prototypes are the originals' own class means (2 per class, colour apart)
    expect(withKey.asr.map((a) => [a.variant, a.reference])).toEqual([
      ['protected', 'full'],
      ['protected', 'plain'],
    ]);
    for (const a of withKey.asr) expect(a.top1!.eligible).toBeGreaterThan(0);

    const noKey = privacyVariants({ codec, adapter });
    expect(noKey.variants.map((v) => v.name)).toEqual(['original', 'plain', 'protected']);
    expect(noKey.asrPairs).toEqual([['protected', 'plain']]);
  });
});

describe('robustness transforms', () => {
  it('JPEG keeps the size and changes the pixels a little; resize scales each side', async () => {
    const img = upscaleToMinSide(await readImage(join(FIXTURES, 'pairs', 'cat', '0000.jpg')));
    const j = await jpegTransform(85).apply(img);
    expect([j.height, j.width]).toEqual([64, 64]);
    const q = psnr(as8bit(img).data, j.data);
    expect(q).toBeGreaterThan(30);
    expect(q).toBeLessThan(Infinity);
    expect(psnr(as8bit(img).data, (await jpegTransform(20).apply(img)).data)).toBeLessThan(q);
    const half = await resizeTransform(0.5).apply(img);
    expect([half.height, half.width]).toEqual([32, 32]);
    expect(() => jpegTransform(0)).toThrow(PsicError);
    expect(() => resizeTransform(-1)).toThrow(PsicError);
  });

  it('measures a resized decode against the original resized the same way', async () => {
    const img = solid(0.5, 0.25, 0.75, 16);
    const d = await decodeVariants(img, [
      { kind: 'original', name: 'original' },
      { kind: 'transform', name: 'original+x0.5', source: 'original', transform: resizeTransform(0.5) },
    ]);
    expect(d.get('original+x0.5')!.image.width).toBe(8);
    expect(d.get('original+x0.5')!.psnr).toBe(Infinity); // a flat picture resizes to itself
  });
});
