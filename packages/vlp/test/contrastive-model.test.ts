/**
 * The in-house model's towers on a small random configuration: shapes for
 * any input size, gradients w.r.t. the input image, the compact vocabulary,
 * and a save / load round trip through the weight file and sidecar.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ClipTokenizer,
  InhouseClip,
  TokenVocabulary,
  UNKNOWN_ROW,
  loadInhouseTarget,
  parseInhouseConfig,
  resizeToSquare,
  saveInhouseTarget,
  type InhouseConfig,
} from '../src/index.js';

let tokenizer: ClipTokenizer;
let vocab: TokenVocabulary;
const L = 16;
const captions = ['a photo of a cat.', 'a photo of the dog.', 'a bad photo of a ship.'];

function smallConfig(vocabSize: number): InhouseConfig {
  return {
    image: { inputSize: 16, resolution: 16, stemChannels: 8, widths: [8, 16], blocksPerStage: 1, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
    text: { contextLength: L, width: 16, layers: 1, heads: 2, mlpRatio: 2, vocabSize },
    embedDim: 12,
  };
}

beforeAll(async () => {
  await selectBackend('wasm', { log: () => {} });
  tokenizer = await ClipTokenizer.default();
  vocab = TokenVocabulary.fromTokenRows(tokenizer.tokenize(captions, L), tokenizer.endTokenId, L);
});

describe('in-house towers', () => {
  it('embed images of any size and texts into the same space', () => {
    const model = new InhouseClip(smallConfig(vocab.size), tokenizer, { vocabulary: vocab, seed: 3 });
    for (const [h, w] of [[16, 16], [32, 32], [23, 41]]) {
      expect(model.embedImages(tf.randomUniform([2, h!, w!, 3]) as tf.Tensor4D).shape).toEqual([2, 12]);
    }
    const texts = model.embedCandidates(captions);
    expect(texts.shape).toEqual([3, 12]);
    expect(Array.from(texts.dataSync()).every(Number.isFinite)).toBe(true);
    // different captions embed differently, at a sensible scale (a float/int mix-up once made them all ~1e-44)
    const [a, b] = texts.arraySync() as number[][];
    const norm = (v: number[]) => Math.hypot(...v);
    expect(norm(a!)).toBeGreaterThan(0.1);
    expect(a!.reduce((s, x, i) => s + x * b![i]!, 0) / (norm(a!) * norm(b!))).toBeLessThan(0.999);
    expect(model.logitScale).toBeCloseTo(1 / 0.07, 4);
    expect(() => model.embedImages(tf.zeros([1, 8, 8, 1]) as tf.Tensor4D)).toThrow(PsicError);
    model.dispose();
  });

  it('read only config.image.resolution worth of detail', () => {
    const config = { ...smallConfig(vocab.size) };
    config.image = { ...config.image, resolution: 8 };
    const model = new InhouseClip(config, tokenizer, { vocabulary: vocab, seed: 3 });
    const x = tf.randomUniform([1, 16, 16, 3], 0, 1, 'float32', 31) as tf.Tensor4D;
    const direct = model.embedImages(x).dataSync();
    const viaSmall = model.embedImages(resizeToSquare(x, 8)).dataSync();
    for (let i = 0; i < direct.length; i++) expect(direct[i]).toBeCloseTo(viaSmall[i]!, 4);
    model.dispose();
  });

  it('give every input pixel a gradient, and the gradient matches finite differences', () => {
    const model = new InhouseClip(smallConfig(vocab.size), tokenizer, { vocabulary: vocab, seed: 4 });
    const x = tf.randomUniform([1, 20, 20, 3], 0, 1, 'float32', 11) as tf.Tensor4D;
    const direction = tf.randomNormal([1, 12], 0, 1, 'float32', 12);
    const f = (t: tf.Tensor) => tf.sum(tf.mul(model.embedImages(t as tf.Tensor4D), direction));
    const g = tf.grad(f)(x);
    const values = g.dataSync();
    expect(Array.from(values).every(Number.isFinite)).toBe(true);
    expect(Array.from(values).filter((v) => v !== 0).length).toBeGreaterThan(values.length * 0.5);
    const v = tf.randomNormal(x.shape, 0, 1, 'float32', 13);
    const eps = 1e-2;
    const numeric = (f(tf.add(x, tf.mul(v, eps))).dataSync()[0]! - f(tf.sub(x, tf.mul(v, eps))).dataSync()[0]!) / (2 * eps);
    const analytic = tf.sum(tf.mul(g, v)).dataSync()[0]!;
    expect(Math.abs(numeric)).toBeGreaterThan(1e-3);
    expect(Math.abs(analytic - numeric)).toBeLessThan(0.05 * Math.abs(numeric) + 1e-3);
    model.dispose();
  });

  it('ignore what follows the end token (causal attention), so padding length does not matter', () => {
    const model = new InhouseClip(smallConfig(vocab.size), tokenizer, { vocabulary: vocab, seed: 5 });
    const one = model.embedCandidates(['a photo of a cat.']).dataSync();
    const withLonger = model.embedCandidates(['a photo of a cat.', 'a bad photo of the dog. a bad photo of the ship.']).dataSync();
    for (let i = 0; i < one.length; i++) expect(withLonger[i]).toBeCloseTo(one[i]!, 5);
    model.dispose();
  });
});

describe('compact vocabulary', () => {
  it('keeps the ids of the captions and sends the rest to the unknown row', () => {
    const cat = tokenizer.encode('cat')[0]!;
    const zebra = tokenizer.encode('zebra')[0]!;
    expect(vocab.row(cat)).toBeGreaterThan(UNKNOWN_ROW);
    expect(vocab.row(zebra)).toBe(UNKNOWN_ROW);
    expect(vocab.clipIds).toContain(tokenizer.startTokenId);
    expect(vocab.clipIds).toContain(tokenizer.endTokenId);
    const encoded = vocab.encode(tokenizer.tokenize(['a zebra.'], L), tokenizer.endTokenId, L);
    expect(encoded.endPositions[0]).toBe(4); // start, a, zebra, ., end
    expect(encoded.rows[2]).toBe(UNKNOWN_ROW);
    expect(() => new TokenVocabulary([5, 5])).toThrow(/twice/);
  });
});

describe('weight file round trip', () => {
  it('reloads the same embeddings and vocabulary, and refuses a sidecar that does not match', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'inhouse-'));
    const file = path.join(dir, 'm.safetensors');
    const model = new InhouseClip(smallConfig(vocab.size), tokenizer, { vocabulary: vocab, seed: 6 });
    model.logitScaleLog.assign(tf.scalar(Math.log(42)));
    await saveInhouseTarget(model, file, { note: 'test' });
    const x = tf.randomUniform([2, 24, 24, 3], 0, 1, 'float32', 14) as tf.Tensor4D;
    const before = { img: model.embedImages(x).dataSync(), txt: model.embedCandidates(captions).dataSync() };

    const loaded = await loadInhouseTarget(file, { tokenizer });
    expect(loaded.vocabulary.clipIds).toEqual(vocab.clipIds);
    expect(loaded.logitScale).toBeCloseTo(42, 3);
    expect(Array.from(loaded.embedImages(x).dataSync())).toEqual(Array.from(before.img));
    expect(Array.from(loaded.embedCandidates(captions).dataSync())).toEqual(Array.from(before.txt));

    const sidecar = JSON.parse(readFileSync(path.join(dir, 'm.json'), 'utf8'));
    expect(parseInhouseConfig(sidecar.config)).toEqual(smallConfig(vocab.size));
    writeFileSync(path.join(dir, 'm.json'), JSON.stringify({ ...sidecar, fingerprint: '0000000000000000' }));
    await expect(loadInhouseTarget(file, { tokenizer })).rejects.toThrow(/does not match its sidecar/);
    writeFileSync(path.join(dir, 'm.json'), JSON.stringify({ ...sidecar, config: { ...sidecar.config, embedDim: 0 } }));
    await expect(loadInhouseTarget(file, { tokenizer })).rejects.toMatchObject({ code: 'BAD_CONFIG' });
    writeFileSync(path.join(dir, 'm.json'), JSON.stringify({ ...sidecar, format: 'something-else' }));
    await expect(loadInhouseTarget(file, { tokenizer })).rejects.toMatchObject({ code: 'BAD_WEIGHTS' });
    await expect(loadInhouseTarget(path.join(dir, 'missing.safetensors'), { tokenizer })).rejects.toMatchObject({ code: 'BAD_WEIGHTS' });
    model.dispose();
    loaded.dispose();
  });
});
