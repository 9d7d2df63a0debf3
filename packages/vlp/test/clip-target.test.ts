/**
 * CLIP as a semantic target: the registry entry, gradients through the
 * differentiable preprocessing, the wasm backend, fp16 and Hugging Face
 * weight files, and the errors bad inputs give.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { readSafetensors, selectBackend, semanticTargets, writeSafetensors, type SafeTensor } from '@psic/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClipModel,
  ClipTarget,
  expectedShapes,
  parseClipConfig,
  parseClipWeights,
  randomClipStateDict,
  readClipConfig,
  similarity,
  type ClipConfig,
} from '../src/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const fixtures = path.resolve(repoRoot, '../shared/fixtures/clip-golden');
const weightsPath = path.join(fixtures, 'tiny-clip.safetensors');
const configPath = path.join(fixtures, 'config.json');
const golden = JSON.parse(readFileSync(path.join(fixtures, 'golden.json'), 'utf8')) as {
  images: { input: number[]; image_embedding: number[] }[];
  texts: { tokenize_truncate: number[]; text_embedding: number[] }[];
};
const quiet = { log: () => {} };

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** A smooth deterministic test image, NHWC in [0, 1]. */
function testImage(h: number, w: number): tf.Tensor4D {
  const data = new Float32Array(h * w * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) {
    data[(y * w + x) * 3 + c] = 0.5 + 0.4 * Math.sin(0.3 * x + 0.2 * y + 2 * c) * Math.cos(0.05 * x * y);
  }
  return tf.tensor4d(data, [1, h, w, 3]);
}

let target: ClipTarget;
let config: ClipConfig;
const bytes = new Uint8Array(readFileSync(weightsPath));

beforeAll(async () => {
  await selectBackend('cpu', quiet);
  config = await readClipConfig(configPath);
  target = (await semanticTargets.get('clip')({ weights: weightsPath, config: configPath })) as ClipTarget;
});
afterAll(() => target.dispose());

describe('the "clip" semantic target', () => {
  it('is registered and loads the weights named in its options', () => {
    expect(semanticTargets.has('clip')).toBe(true);
    expect(target.name).toBe('clip');
    expect(target.model.config).toEqual(config);
    expect(target.logitScale).toBeCloseTo(14.29852294921875, 5);
  });

  it('rejects missing options with BAD_OPTIONS', async () => {
    await expect(semanticTargets.get('clip')({})).rejects.toMatchObject({ code: 'BAD_OPTIONS' });
  });

  it('similarity is logitScale x cosine and differentiable in the image, for any size', () => {
    const x = testImage(40, 52);
    const texts = ['a photo of a cat', 'a diagram'];
    const logits = similarity(target, x, texts);
    expect(logits.shape).toEqual([1, 2]);
    const v = logits.dataSync();
    for (const l of v) expect(Math.abs(l)).toBeLessThanOrEqual(target.logitScale + 1e-4);

    // Precomputed candidate embeddings give the same logits.
    const textEmb = target.embedCandidates(texts);
    expect(maxAbsDiff(similarity(target, x, textEmb).dataSync(), v)).toBeLessThan(1e-5);

    // Gradient of the first logit vs. a central finite difference along a random direction.
    const f = (img: tf.Tensor): tf.Scalar => tf.sum(tf.slice(similarity(target, img as tf.Tensor4D, textEmb), [0, 0], [1, 1])) as tf.Scalar;
    const grad = tf.grad(f)(x);
    const g = grad.dataSync();
    expect(g.every(Number.isFinite)).toBe(true);
    const dir = tf.randomNormal(x.shape, 0, 1, 'float32', 7) as tf.Tensor4D;
    const analytic = tf.sum(tf.mul(grad, dir)).dataSync()[0]!;
    const eps = 1e-2;
    const numeric = (f(tf.add(x, tf.mul(dir, eps)) as tf.Tensor4D).dataSync()[0]! - f(tf.sub(x, tf.mul(dir, eps)) as tf.Tensor4D).dataSync()[0]!) / (2 * eps);
    expect(Math.abs(analytic)).toBeGreaterThan(1e-3);
    expect(Math.abs(analytic - numeric)).toBeLessThan(0.05 * Math.abs(numeric) + 1e-3);
    tf.dispose([x, logits, textEmb, grad, dir]);
  });

  it('embedImages on a [0,1] tensor is close to the exact 8-bit file path', () => {
    const x = testImage(40, 62);
    const rgb = Uint8Array.from(x.dataSync(), (v) => Math.round(v * 255));
    const quantised = tf.div(tf.tensor4d(rgb, [1, 40, 62, 3], 'float32'), 255) as tf.Tensor4D;
    const a = target.embedImages(quantised);
    const b = target.embedRgb8([{ width: 62, height: 40, rgb }]);
    const diff = maxAbsDiff(a.dataSync(), b.dataSync());
    const scale = Math.max(...Array.from(b.dataSync(), Math.abs));
    expect(diff).toBeLessThan(0.05 * scale);
    tf.dispose([x, quantised, a, b]);
  });

  it('embeds long candidate lists in chunks with the same values', () => {
    const texts = Array.from({ length: 260 }, (_, i) => `a photo of number ${i}`);
    const all = target.embedCandidates(texts);
    expect(all.shape).toEqual([260, config.embed_dim]);
    const rows = all.arraySync();
    for (const i of [0, 255, 256, 259]) {
      const one = target.embedCandidates([texts[i]!]);
      expect(maxAbsDiff(rows[i]!, one.dataSync())).toBeLessThan(1e-5);
      one.dispose();
    }
    all.dispose();
  });

  it('handles an empty candidate list and rejects bad token rows', () => {
    const none = target.embedCandidates([]);
    expect(none.shape).toEqual([0, config.embed_dim]);
    none.dispose();
    expect(() => target.model.encodeText([1, 2, 3])).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
    const bad = new Int32Array(77).fill(0);
    bad[0] = 49406;
    bad[1] = 60000;
    expect(() => target.model.encodeText(bad)).toThrow(expect.objectContaining({ code: 'BAD_TOKEN' }));
    expect(() => target.model.encodeImage(tf.zeros([1, 31, 32, 3]))).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
  });
});

describe('CLIP weight files', () => {
  it('reads the sizes off the shapes when no config is given (as build_model)', () => {
    expect(parseClipWeights(bytes).config).toEqual(config);
  });

  it('loads F16 weights to the same values (the fixture is on the fp16 grid)', () => {
    const f32 = readSafetensors(bytes).tensors;
    const f16 = new Map<string, SafeTensor>([...f32].map(([k, t]) => [k, { ...t, dtype: 'F16' }]));
    const a = parseClipWeights(writeSafetensors(f16), config);
    for (const [k, t] of f32) expect(maxAbsDiff(a.tensors.get(k)!.data, t.data as Float32Array)).toBe(0);
  });

  it('maps Hugging Face CLIPModel names onto OpenAI layout', () => {
    const oa = readSafetensors(bytes).tensors;
    const hf = new Map<string, SafeTensor>();
    const f = (t: SafeTensor): SafeTensor => t;
    const transpose = (t: SafeTensor): SafeTensor => {
      const [r, c] = t.shape as [number, number];
      const d = new Float32Array(r * c);
      for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) d[j * r + i] = (t.data as Float32Array)[i * c + j]!;
      return { dtype: 'F32', shape: [c, r], data: d };
    };
    const rows = (t: SafeTensor, part: number): SafeTensor => {
      const n = t.shape[0]! / 3;
      const per = t.data.length / 3;
      return { dtype: 'F32', shape: [n, ...t.shape.slice(1)], data: (t.data as Float32Array).slice(part * per, (part + 1) * per) };
    };
    for (const [name, t] of oa) {
      const m = /^(visual\.)?transformer\.resblocks\.(\d+)\.(.*)$/.exec(name);
      if (m) {
        const h = `${m[1] ? 'vision_model' : 'text_model'}.encoder.layers.${m[2]}`;
        const rest = m[3]!;
        const kind = rest.endsWith('weight') ? 'weight' : 'bias';
        if (rest.startsWith('attn.in_proj')) ['q', 'k', 'v'].forEach((p, i) => hf.set(`${h}.self_attn.${p}_proj.${kind}`, rows(t, i)));
        else {
          const renamed = rest.replace('attn.out_proj', 'self_attn.out_proj').replace('ln_1', 'layer_norm1').replace('ln_2', 'layer_norm2')
            .replace('mlp.c_fc', 'mlp.fc1').replace('mlp.c_proj', 'mlp.fc2');
          hf.set(`${h}.${renamed}`, f(t));
        }
        continue;
      }
      const simple: Record<string, string> = {
        'visual.class_embedding': 'vision_model.embeddings.class_embedding',
        'visual.conv1.weight': 'vision_model.embeddings.patch_embedding.weight',
        'visual.positional_embedding': 'vision_model.embeddings.position_embedding.weight',
        'visual.ln_pre.weight': 'vision_model.pre_layrnorm.weight',
        'visual.ln_pre.bias': 'vision_model.pre_layrnorm.bias',
        'visual.ln_post.weight': 'vision_model.post_layernorm.weight',
        'visual.ln_post.bias': 'vision_model.post_layernorm.bias',
        'ln_final.weight': 'text_model.final_layer_norm.weight',
        'ln_final.bias': 'text_model.final_layer_norm.bias',
        'token_embedding.weight': 'text_model.embeddings.token_embedding.weight',
        'positional_embedding': 'text_model.embeddings.position_embedding.weight',
        logit_scale: 'logit_scale',
      };
      if (name === 'visual.proj') hf.set('visual_projection.weight', transpose(t));
      else if (name === 'text_projection') hf.set('text_projection.weight', transpose(t));
      else hf.set(simple[name]!, t);
    }
    hf.set('text_model.embeddings.position_ids', { dtype: 'I64', shape: [1, 77], data: new BigInt64Array(77) });
    const mapped = parseClipWeights(writeSafetensors(hf), config);
    expect([...mapped.tensors.keys()].sort()).toEqual([...oa.keys()].sort());
    for (const [k, t] of oa) expect(maxAbsDiff(mapped.tensors.get(k)!.data, t.data as Float32Array)).toBe(0);
  });

  it('rejects missing, misshapen and extra tensors with BAD_WEIGHTS', () => {
    const all = readSafetensors(bytes).tensors;
    const without = new Map(all);
    without.delete('visual.proj');
    expect(() => parseClipWeights(writeSafetensors(without), config)).toThrow(expect.objectContaining({ code: 'BAD_WEIGHTS', message: expect.stringMatching(/visual\.proj/) }));
    expect(() => parseClipWeights(bytes, { ...config, embed_dim: 16 })).toThrow(expect.objectContaining({ code: 'BAD_WEIGHTS' }));
    const extra = new Map(all);
    extra.set('visual.attnpool.k_proj.weight', { dtype: 'F32', shape: [1], data: new Float32Array(1) });
    expect(() => parseClipWeights(writeSafetensors(extra), config)).toThrow(expect.objectContaining({ code: 'BAD_WEIGHTS' }));
    expect(() => parseClipWeights(bytes.slice(0, 1000))).toThrow(expect.objectContaining({ code: 'BAD_WEIGHTS' }));
  });

  it('rejects bad configs with BAD_CONFIG', () => {
    expect(() => parseClipConfig({ ...config, vision_layers: [3, 4, 6, 3] })).toThrow(expect.objectContaining({ code: 'BAD_CONFIG' }));
    expect(() => parseClipConfig({ ...config, image_resolution: 30 })).toThrow(expect.objectContaining({ code: 'BAD_CONFIG' }));
    expect(() => parseClipConfig({ ...config, embed_dim: '32' })).toThrow(expect.objectContaining({ code: 'BAD_CONFIG' }));
  });

  it('random init has OpenAI shapes for any config and runs', () => {
    const small = { ...config, image_resolution: 48, vision_patch_size: 16, vocab_size: 49408, context_length: 20 };
    const sd = randomClipStateDict(small, 3);
    const shapes = expectedShapes(small);
    expect(new Set(sd.tensors.keys())).toEqual(new Set(shapes.keys()));
    for (const [k, s] of shapes) expect(sd.tensors.get(k)!.shape).toEqual(s);
    const model = new ClipModel(sd);
    const e = model.encodeImage(tf.zeros([2, 48, 48, 3]));
    expect(e.shape).toEqual([2, small.embed_dim]);
    expect(e.dataSync().every(Number.isFinite)).toBe(true);
    e.dispose();
    model.dispose();
  });
});

describe('CLIP on the wasm backend', () => {
  it('gives the same image gradients as cpu', async () => {
    const grads: Float32Array[] = [];
    for (const backend of ['cpu', 'wasm'] as const) {
      await selectBackend(backend, quiet);
      const t = new ClipTarget(new ClipModel(parseClipWeights(bytes, config)), target.tokenizer);
      const x = tf.tidy(() => tf.add(tf.mul(tf.randomUniform([2, 45, 37, 3], 0, 1, 'float32', 3), 0.5), 0.2)) as tf.Tensor4D;
      const emb = t.embedCandidates(['a cat', 'a dog']);
      const weights = tf.tensor2d([[1, -1], [0.5, 2]]);
      const g = tf.grad((img: tf.Tensor) => tf.sum(tf.mul(similarity(t, img as tf.Tensor4D, emb), weights)))(x);
      grads.push(g.dataSync() as Float32Array);
      tf.dispose([x, emb, weights, g]);
      t.dispose();
    }
    await selectBackend('cpu', quiet);
    expect(Math.max(...Array.from(grads[0]!, Math.abs))).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(grads[0]!, grads[1]!)).toBeLessThan(1e-5);
  });

  it('reproduces the golden embeddings within 1e-4', async () => {
    await selectBackend('wasm', quiet);
    try {
      const model = new ClipModel(parseClipWeights(bytes, config));
      const img = golden.images[2]!;
      const nhwc = new Float32Array(32 * 32 * 3);
      for (let c = 0; c < 3; c++) for (let i = 0; i < 1024; i++) nhwc[i * 3 + c] = img.input[c * 1024 + i]!;
      const ie = model.encodeImage(tf.tensor4d(nhwc, [1, 32, 32, 3]));
      expect(maxAbsDiff(ie.dataSync(), img.image_embedding)).toBeLessThanOrEqual(1e-4);
      const te = model.encodeText(Int32Array.from(golden.texts.slice(0, 3).flatMap((t) => t.tokenize_truncate)));
      const got = te.arraySync();
      golden.texts.slice(0, 3).forEach((t, i) => expect(maxAbsDiff(got[i]!, t.text_embedding)).toBeLessThanOrEqual(1e-4));
      tf.dispose([ie, te]);
      model.dispose();
    } finally {
      await selectBackend('cpu', quiet);
    }
  });
});
