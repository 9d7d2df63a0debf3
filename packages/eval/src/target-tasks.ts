/**
 * The tasks a semantic target can be scored on, computed from its unit
 * image embeddings of every sample (one list per decode variant):
 *
 * - classify: zero-shot top-1 when the target embeds texts (each class's
 *   weight is the normalised mean of its captions over the prompt templates,
 *   CLIP's prompt ensembling); otherwise nearest-class-mean, each class's
 *   prototype the normalised mean embedding of its UNCOMPRESSED images in the
 *   set (a target without a text side, e.g. MobileNet features). With one
 *   image per class (imagenet-samples) the uncompressed images score 100% by
 *   construction and a decode scores "still nearest to its own class".
 * - retrieval (class level): image i gets the caption templates[i mod T]
 *   filled with its class name (CelebA: "a photo of a smiling young woman."
 *   from Male / Young / Smiling); image->text R@1 is a hit when the best of
 *   the set's captions has the image's class (attribute combination),
 *   text->image R@1 when the best image has the caption's. Ties with another
 *   class are misses, as in semantic-metrics.ts.
 * - attributes (CelebA): per attribute a pair of prompts; present when the
 *   image is closer to the positive one. For the npm face targets this is
 *   the model's own posterior (their similarity is a log-probability).
 *
 * A task whose texts the target can't embed (PsicError UNKNOWN_CANDIDATE: a
 * face model has no "cat") is left out with a note.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { RgbImage, SemanticTarget } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { fillTemplate, zeroShotClassifier } from '@psic/vlp';
import type { EvalDataset } from './datasets.js';
import { attackSuccess, attributeHits, hitRate, topOneHits, type AttackSuccess } from './semantic-metrics.js';

export type TargetTask = 'classify' | 'retrieval' | 'attributes';
export const TARGET_TASKS: readonly TargetTask[] = ['classify', 'retrieval', 'attributes'];
export type ClassifyMethod = 'zero-shot' | 'nearest-class';

/** CelebA attributes scored, with their prompt pair (present, absent). Each prompt names one attribute word the face targets know. */
export const ATTRIBUTE_PROMPTS: Readonly<Record<string, readonly [string, string]>> = Object.freeze({
  Male: ['a photo of a man.', 'a photo of a woman.'],
  Young: ['a photo of a young person.', 'a photo of an old person.'],
  Smiling: ['a photo of a smiling person.', 'a photo of a person with a neutral expression.'],
});

/** Unit-length embedding of one picture (batch of one: pictures of a set may differ in size). */
export function embedPicture(target: SemanticTarget, img: RgbImage): Float32Array {
  const e = tf.tidy(() => {
    const raw = target.embedImages(tf.tensor4d(img.data, [1, img.height, img.width, 3]));
    return tf.div(raw, tf.maximum(tf.norm(raw, 'euclidean', 1, true), 1e-12));
  });
  const out = e.dataSync() as Float32Array;
  e.dispose();
  return Float32Array.from(out);
}

/** Unit-length text embeddings, in chunks to bound memory. */
export function embedTexts(target: SemanticTarget, texts: string[], chunk = 256): Float32Array[] {
  const out: Float32Array[] = [];
  for (let s = 0; s < texts.length; s += chunk) {
    const e = tf.tidy(() => {
      const raw = target.embedCandidates(texts.slice(s, s + chunk));
      return tf.div(raw, tf.maximum(tf.norm(raw, 'euclidean', 1, true), 1e-12));
    });
    const [n, d] = e.shape;
    const flat = e.dataSync() as Float32Array;
    for (let i = 0; i < n; i++) out.push(Float32Array.from(flat.subarray(i * d, (i + 1) * d)));
    e.dispose();
  }
  return out;
}

function dot(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new RangeError(`embedding sizes differ (${a.length} vs ${b.length})`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function normalised(v: Float64Array | Float32Array): Float32Array {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n) || 1;
  return Float32Array.from(v, (x) => x / n);
}

function isUnknownCandidate(err: unknown): boolean {
  return err instanceof PsicError && err.code === 'UNKNOWN_CANDIDATE';
}

export interface PreparedTasks {
  target: SemanticTarget;
  classify?: { method: ClassifyMethod; weights?: Float32Array[] };
  retrieval?: { texts: Float32Array[]; textGroups: number[]; imageGroups: number[] };
  attributes?: { names: string[]; positive: Float32Array[]; negative: Float32Array[] };
  notes: string[];
}

export interface PrepareOptions {
  templates: string[];
  tasks?: readonly TargetTask[];
  /** 'auto' (default): zero-shot when the target embeds texts, else nearest-class */
  classify?: ClassifyMethod | 'auto';
}

/** The text side of each task that applies to the set (what can be computed before any image is seen). */
export function prepareTargetTasks(target: SemanticTarget, dataset: EvalDataset, opts: PrepareOptions): PreparedTasks {
  const tasks = opts.tasks ?? TARGET_TASKS;
  const prepared: PreparedTasks = { target, notes: [] };
  if (opts.templates.length === 0) throw new PsicError('BAD_PROMPTS', 'no prompt templates');
  const classes = dataset.classes;
  if (classes && tasks.includes('classify')) {
    const method = opts.classify ?? 'auto';
    if (method === 'nearest-class') prepared.classify = { method };
    else {
      try {
        const w = zeroShotClassifier(target, classes, opts.templates);
        const flat = w.dataSync() as Float32Array;
        const d = w.shape[1];
        prepared.classify = { method: 'zero-shot', weights: classes.map((_, c) => Float32Array.from(flat.subarray(c * d, (c + 1) * d))) };
        w.dispose();
      } catch (err) {
        if (!isUnknownCandidate(err) || method === 'zero-shot') throw err;
        prepared.classify = { method: 'nearest-class' };
        prepared.notes.push(`${target.name} embeds no class captions: classification is nearest-class-mean on prototypes of the uncompressed images`);
      }
    }
  }
  if (tasks.includes('retrieval')) {
    const captions = retrievalCaptions(dataset, opts.templates);
    if (captions) {
      try {
        prepared.retrieval = { texts: embedTexts(target, captions.texts), textGroups: captions.groups, imageGroups: captions.groups };
      } catch (err) {
        if (!isUnknownCandidate(err)) throw err;
        prepared.notes.push(`${target.name} cannot embed free captions: no retrieval`);
      }
    }
  }
  const names = Object.keys(ATTRIBUTE_PROMPTS).filter((n) => dataset.attributeNames?.includes(n));
  if (tasks.includes('attributes') && names.length > 0) {
    try {
      const positive = embedTexts(target, names.map((n) => ATTRIBUTE_PROMPTS[n][0]));
      const negative = embedTexts(target, names.map((n) => ATTRIBUTE_PROMPTS[n][1]));
      prepared.attributes = { names, positive, negative };
    } catch (err) {
      if (!isUnknownCandidate(err)) throw err;
      prepared.notes.push(`${target.name} cannot embed the attribute prompts: no attribute accuracy`);
    }
  }
  return prepared;
}

/** One caption per image and its group (class, or CelebA attribute combination); undefined when the set has neither. */
export function retrievalCaptions(dataset: EvalDataset, templates: string[]): { texts: string[]; groups: number[] } | undefined {
  const { classes, samples } = dataset;
  if (classes && samples.every((s) => s.label !== undefined)) {
    return {
      texts: samples.map((s, i) => fillTemplate(templates[i % templates.length], classes[s.label!][0])),
      groups: samples.map((s) => s.label!),
    };
  }
  const needed = ['Male', 'Young', 'Smiling'];
  if (samples.every((s) => s.attributes && needed.every((n) => n in s.attributes!))) {
    return {
      texts: samples.map((s) => {
        const a = s.attributes!;
        return `a photo of a ${a.Smiling ? 'smiling ' : ''}${a.Young ? 'young' : 'old'} ${a.Male ? 'man' : 'woman'}.`;
      }),
      groups: samples.map((s) => (s.attributes!.Male ? 1 : 0) + (s.attributes!.Young ? 2 : 0) + (s.attributes!.Smiling ? 4 : 0)),
    };
  }
  return undefined;
}

/** Nearest-class-mean prototypes from the uncompressed images' embeddings (call once the originals are embedded). */
export function setPrototypes(prepared: PreparedTasks, dataset: EvalDataset, originals: Float32Array[]): void {
  if (prepared.classify?.method !== 'nearest-class' || !dataset.classes) return;
  const dim = originals[0]?.length ?? 0;
  const sums = dataset.classes.map(() => new Float64Array(dim));
  dataset.samples.forEach((s, i) => {
    for (let k = 0; k < dim; k++) sums[s.label!][k] += originals[i][k];
  });
  // classes without an image keep a zero prototype: cosine 0, never a strict winner over a real one
  prepared.classify.weights = sums.map((v) => normalised(v));
}

export interface TaskHits {
  top1?: boolean[];
  i2t?: boolean[];
  t2i?: boolean[];
  attributes?: Record<string, boolean[]>;
}

/** Class-level retrieval hits in both directions, without holding the images x texts matrix. */
export function groupRetrievalHits(images: Float32Array[], imageGroups: number[], texts: Float32Array[], textGroups: number[]): { i2t: boolean[]; t2i: boolean[] } {
  const groups = Math.max(...imageGroups, ...textGroups) + 1;
  const rows = images.map(() => new Float64Array(groups).fill(-Infinity)); // image x best text of each group
  const cols = texts.map(() => new Float64Array(groups).fill(-Infinity)); // text x best image of each group
  images.forEach((img, i) => {
    texts.forEach((txt, j) => {
      const s = dot(img, txt);
      if (s > rows[i][textGroups[j]]) rows[i][textGroups[j]] = s;
      if (s > cols[j][imageGroups[i]]) cols[j][imageGroups[i]] = s;
    });
  });
  return { i2t: topOneHits(rows, imageGroups), t2i: topOneHits(cols, textGroups) };
}

/** Per-sample hits of every prepared task, for one variant's embeddings (one per sample, in dataset order). */
export function targetTaskHits(prepared: PreparedTasks, dataset: EvalDataset, embeddings: Float32Array[]): TaskHits {
  if (embeddings.length !== dataset.samples.length) throw new RangeError(`${embeddings.length} embeddings for ${dataset.samples.length} samples`);
  const hits: TaskHits = {};
  const weights = prepared.classify?.weights;
  if (weights) {
    hits.top1 = topOneHits(embeddings.map((e) => weights.map((w) => dot(e, w))), dataset.samples.map((s) => s.label!));
  }
  if (prepared.retrieval) {
    const { texts, textGroups, imageGroups } = prepared.retrieval;
    Object.assign(hits, groupRetrievalHits(embeddings, imageGroups, texts, textGroups));
  }
  if (prepared.attributes) {
    const { names, positive, negative } = prepared.attributes;
    const scale = prepared.target.logitScale;
    hits.attributes = {};
    names.forEach((name, k) => {
      // P(present) = softmax over the prompt pair
      const p = embeddings.map((e) => 1 / (1 + Math.exp(-scale * (dot(e, positive[k]) - dot(e, negative[k])))));
      hits.attributes![name] = attributeHits(p, dataset.samples.map((s) => s.attributes![name]));
    });
  }
  return hits;
}

export interface TaskScores {
  top1?: number;
  i2t?: number;
  t2i?: number;
  /** accuracy over every (image, attribute) pair */
  attr?: number;
  attributes?: Record<string, number>;
}

function pooled(attributes: Record<string, boolean[]>): boolean[] {
  return Object.values(attributes).flat();
}

export function taskScores(hits: TaskHits): TaskScores {
  const out: TaskScores = {};
  if (hits.top1) out.top1 = hitRate(hits.top1);
  if (hits.i2t) out.i2t = hitRate(hits.i2t);
  if (hits.t2i) out.t2i = hitRate(hits.t2i);
  if (hits.attributes) {
    out.attr = hitRate(pooled(hits.attributes));
    out.attributes = Object.fromEntries(Object.entries(hits.attributes).map(([k, v]) => [k, hitRate(v)]));
  }
  return out;
}

export interface TaskAsr {
  top1?: AttackSuccess;
  i2t?: AttackSuccess;
  t2i?: AttackSuccess;
  attr?: AttackSuccess;
  attributes?: Record<string, AttackSuccess>;
}

/** ASR of `hits` against `reference` for every task both have (semantic-metrics' attackSuccess). */
export function taskAsr(reference: TaskHits, hits: TaskHits): TaskAsr {
  const out: TaskAsr = {};
  for (const k of ['top1', 'i2t', 't2i'] as const) {
    const r = reference[k];
    const h = hits[k];
    if (r && h) out[k] = attackSuccess(r, h);
  }
  if (reference.attributes && hits.attributes) {
    out.attr = attackSuccess(pooled(reference.attributes), pooled(hits.attributes));
    out.attributes = Object.fromEntries(Object.keys(reference.attributes).map((k) => [k, attackSuccess(reference.attributes![k], hits.attributes![k])]));
  }
  return out;
}
