/**
 * The tiny random CLIP in OpenAI's format must reproduce what openai/CLIP
 * computed for it (fixtures/clip-golden): image and text embeddings and
 * logits within 1e-4, and the Pillow-exact preprocessing pixel for pixel.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '@psic/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClipModel, ClipTarget, clipGeometry, cosineLogits, preprocessRgb8, preprocessTensor, readClipConfig, readClipWeights, resizeBicubicRgb8 } from '../src/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const fixtures = path.resolve(repoRoot, '../shared/fixtures/clip-golden');
const TOL = 1e-4;

interface Golden {
  logit_scale_exp: number;
  texts: { name: string; tokenize_truncate: number[]; text_embedding: number[]; text: string }[];
  images: { name: string; input: number[]; image_embedding: number[] }[];
  logits_per_image: number[][];
  preprocess: {
    cases: {
      name: string;
      width: number;
      height: number;
      pixels_rgb_u8: number[];
      resized_width: number;
      resized_height: number;
      resized_rgb_u8: number[];
      crop_left: number;
      crop_top: number;
      tensor: number[];
      image_embedding: number[];
    }[];
  };
}
const golden = JSON.parse(readFileSync(path.join(fixtures, 'golden.json'), 'utf8')) as Golden;

/** [1,3,R,R] row-major (NCHW) -> NHWC values. */
function nchwToNhwc(data: number[], R: number): Float32Array {
  const out = new Float32Array(R * R * 3);
  for (let c = 0; c < 3; c++) for (let i = 0; i < R * R; i++) out[i * 3 + c] = data[c * R * R + i]!;
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const measured: Record<string, number> = {};
let model: ClipModel;
let target: ClipTarget;

beforeAll(async () => {
  await selectBackend('cpu', { log: () => {} });
  const config = await readClipConfig(path.join(fixtures, 'config.json'));
  model = new ClipModel(await readClipWeights(path.join(fixtures, 'tiny-clip.safetensors'), config));
  target = await ClipTarget.load({ weights: path.join(fixtures, 'tiny-clip.safetensors'), config: path.join(fixtures, 'config.json') });
});
afterAll(() => {
  model.dispose();
  target.dispose();
  console.log(`clip golden max abs errors: ${JSON.stringify(measured)}`);
});

describe('CLIP towers against openai/CLIP (tiny-clip golden)', () => {
  it('exp(logit_scale) matches', () => {
    expect(model.logitScale).toBeCloseTo(golden.logit_scale_exp, 5);
  });

  it('image embeddings of the stored inputs within 1e-4', () => {
    const R = 32;
    const batch = new Float32Array(golden.images.length * R * R * 3);
    golden.images.forEach((img, i) => batch.set(nchwToNhwc(img.input, R), i * R * R * 3));
    const emb = tf.tidy(() => model.encodeImage(tf.tensor4d(batch, [golden.images.length, R, R, 3])));
    const got = emb.arraySync();
    emb.dispose();
    measured.image_embedding = Math.max(...golden.images.map((img, i) => maxAbsDiff(got[i]!, img.image_embedding)));
    expect(measured.image_embedding).toBeLessThanOrEqual(TOL);
  });

  it('text embeddings of the stored token rows within 1e-4 (incl. pooling at the first end token)', () => {
    const rows = Int32Array.from(golden.texts.flatMap((t) => t.tokenize_truncate));
    const emb = model.encodeText(rows);
    const got = emb.arraySync();
    emb.dispose();
    measured.text_embedding = Math.max(...golden.texts.map((t, i) => maxAbsDiff(got[i]!, t.text_embedding)));
    expect(measured.text_embedding).toBeLessThanOrEqual(TOL);
  });

  it('logits_per_image from texts through ClipTarget within 1e-4', () => {
    const R = 32;
    const batch = new Float32Array(golden.images.length * R * R * 3);
    golden.images.forEach((img, i) => batch.set(nchwToNhwc(img.input, R), i * R * R * 3));
    const logits = tf.tidy(() => {
      const images = target.model.encodeImage(tf.tensor4d(batch, [golden.images.length, R, R, 3]));
      return cosineLogits(images, target.embedCandidates(golden.texts.map((t) => t.text)), target.logitScale);
    });
    const got = logits.arraySync();
    logits.dispose();
    measured.logits_per_image = Math.max(...golden.logits_per_image.map((row, i) => maxAbsDiff(got[i]!, row)));
    expect(measured.logits_per_image).toBeLessThanOrEqual(TOL);
  });
});

describe('CLIP preprocessing against clip._transform', () => {
  for (const c of golden.preprocess.cases) {
    it(`${c.name}: Pillow-exact resize, crop offsets, tensor and embedding`, () => {
      const img = { width: c.width, height: c.height, rgb: Uint8Array.from(c.pixels_rgb_u8) };
      const g = clipGeometry(c.width, c.height, 32);
      expect(g).toEqual({ resizedWidth: c.resized_width, resizedHeight: c.resized_height, cropLeft: c.crop_left, cropTop: c.crop_top });
      const resized = resizeBicubicRgb8(img, g.resizedWidth, g.resizedHeight);
      expect(Array.from(resized.rgb)).toEqual(c.resized_rgb_u8);

      const expected = nchwToNhwc(c.tensor, 32);
      const exact = preprocessRgb8(img, 32);
      measured[`preprocess_${c.name}`] = maxAbsDiff(exact, expected);
      expect(measured[`preprocess_${c.name}`]).toBe(0);

      const emb = target.embedRgb8([img]);
      measured[`preprocess_embedding_${c.name}`] = maxAbsDiff(emb.dataSync(), c.image_embedding);
      emb.dispose();
      expect(measured[`preprocess_embedding_${c.name}`]).toBeLessThanOrEqual(TOL);

      // The differentiable float path stays within the fixture's 2e-2 of Pillow's pixels.
      const floatPath = tf.tidy(() => preprocessTensor(tf.div(tf.tensor4d(img.rgb, [1, c.height, c.width, 3], 'float32'), 255) as tf.Tensor4D, 32));
      measured[`float_path_${c.name}`] = maxAbsDiff(floatPath.dataSync(), expected);
      floatPath.dispose();
      expect(measured[`float_path_${c.name}`]).toBeLessThanOrEqual(2e-2);
    });
  }
});
