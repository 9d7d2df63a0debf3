/**
 * Evaluating a BAvAFT model the way a victim meets it: every image is
 * encoded twice through the real coder (@psic/core encodeImage, rANS
 * streams in the .psic container, so the rate is the file's bytes), once as
 * it is and once with the trigger added, and each stream is decoded. For
 * the original, both decodes and the poisoned input the target's zero-shot
 * prediction over the class prompts is recorded; the experiment runner
 * derives ASR from these (`summariseEvaluation` gives the usual one too).
 */
import * as tf from '@tensorflow/tfjs-core';
import { crop, decodeImage, encodeImage, padReplicate, type CodecModel, type RgbImage, type SemanticTarget } from '@psic/core';
import { cosineMatrix, l2NormalizeRows } from '@psic/objectives';
import type { TriggerNet } from './trigger-net.js';

export const DEFAULT_EVAL_TEMPLATES = ['a photo of a {}.'];

export interface EvaluationContext {
  codec: CodecModel;
  trigger: TriggerNet;
  target: SemanticTarget;
  /** one row per class: the mean of the class's normalised prompt embeddings, normalised */
  classEmbeddings: tf.Tensor2D;
}

export interface DecodeFigures {
  /** size of the .psic file */
  bytes: number;
  /** bytes × 8 / pixels of the real image */
  bpp: number;
  /** against the clean original */
  psnr: number;
  prediction: number;
}

export interface ImageEvaluation {
  name: string;
  label: number;
  original: { prediction: number };
  /** the trigger-carrying input (before coding) */
  poisonedInput: { psnr: number; prediction: number };
  clean: DecodeFigures;
  poisoned: DecodeFigures;
}

/** Images handed to `onImages` for pictures (the grid of the experiments report). */
export interface EvaluationImages {
  original: RgbImage;
  poisonedInput: RgbImage;
  clean: RgbImage;
  poisoned: RgbImage;
}

/** Class rows for zero-shot prediction: each class's prompts (templates with "{}" = the name) embedded, normalised, averaged, normalised. */
export function classEmbeddings(target: SemanticTarget, classNames: string[], templates: string[] = DEFAULT_EVAL_TEMPLATES): tf.Tensor2D {
  if (classNames.length === 0) throw new RangeError('zero-shot prediction needs at least one class');
  if (templates.length === 0 || templates.some((t) => !t.includes('{}'))) throw new RangeError('every prompt template must contain "{}"');
  return tf.tidy(() => {
    const prompts = classNames.flatMap((name) => templates.map((t) => t.replaceAll('{}', name)));
    const rows = l2NormalizeRows(target.embedCandidates(prompts));
    const perClass = tf.mean(tf.reshape(rows, [classNames.length, templates.length, -1]), 1) as tf.Tensor2D;
    return l2NormalizeRows(perClass);
  });
}

/** Index of the class whose prompts the target finds closest to `img`. */
export function predictClass(target: SemanticTarget, classRows: tf.Tensor2D, img: RgbImage): number {
  return tf.tidy(() => tf.argMax(cosineMatrix(target.embedImages(tf.tensor4d(img.data, [1, img.height, img.width, 3])), classRows), 1).dataSync()[0]);
}

/** `img` with the trigger added (padded to whole DCT blocks by edge replication, then cropped back). */
export function poisonImage(trigger: TriggerNet, img: RgbImage): RgbImage {
  const b = trigger.config.block;
  const ph = Math.ceil(img.height / b) * b;
  const pw = Math.ceil(img.width / b) * b;
  const out = tf.tidy(() => trigger.poison(tf.tensor4d(padReplicate(img.data, img.height, img.width, 3, ph, pw), [1, ph, pw, 3])));
  const data = crop(out.dataSync() as Float32Array, pw, 3, img.height, img.width);
  out.dispose();
  return { height: img.height, width: img.width, data };
}

export function psnrOf(a: RgbImage, b: RgbImage): number {
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += (a.data[i] - b.data[i]) ** 2;
  return 10 * Math.log10(1 / Math.max(sum / a.data.length, 1e-12));
}

/** Two separate encodes (clean, poisoned) of one image, their decodes, and the target's prediction for each. */
export async function evaluateImage(ctx: EvaluationContext, img: RgbImage, label: number, name: string, onImages?: (name: string, images: EvaluationImages) => Promise<void> | void): Promise<ImageEvaluation> {
  const pixels = img.height * img.width;
  const poisonedInput = poisonImage(ctx.trigger, img);
  const code = async (input: RgbImage) => {
    const bytes = await encodeImage(ctx.codec, input);
    const decoded = await decodeImage(ctx.codec, bytes);
    return { bytes: bytes.length, decoded };
  };
  const clean = await code(img);
  const poisoned = await code(poisonedInput);
  const predict = (x: RgbImage) => predictClass(ctx.target, ctx.classEmbeddings, x);
  await onImages?.(name, { original: img, poisonedInput, clean: clean.decoded, poisoned: poisoned.decoded });
  const figures = (c: { bytes: number; decoded: RgbImage }): DecodeFigures => ({ bytes: c.bytes, bpp: (c.bytes * 8) / pixels, psnr: psnrOf(img, c.decoded), prediction: predict(c.decoded) });
  return {
    name,
    label,
    original: { prediction: predict(img) },
    poisonedInput: { psnr: psnrOf(img, poisonedInput), prediction: predict(poisonedInput) },
    clean: figures(clean),
    poisoned: figures(poisoned),
  };
}

export interface EvaluationSummary {
  images: number;
  bppClean: number;
  bppPoisoned: number;
  psnrClean: number;
  psnrPoisoned: number;
  /** poisoned input against the original */
  psnrTrigger: number;
  accuracyOriginal: number;
  accuracyClean: number;
  accuracyPoisoned: number;
  /** images the clean decode classifies correctly (ASR's denominator) */
  referenceCorrect: number;
  /** among those, the share whose poisoned decode is misclassified (NaN when there are none) */
  attackSuccessRate: number;
}

export function summariseEvaluation(records: ImageEvaluation[]): EvaluationSummary {
  const n = records.length;
  const mean = (f: (r: ImageEvaluation) => number) => (n === 0 ? NaN : records.reduce((s, r) => s + f(r), 0) / n);
  const reference = records.filter((r) => r.clean.prediction === r.label);
  return {
    images: n,
    bppClean: mean((r) => r.clean.bpp),
    bppPoisoned: mean((r) => r.poisoned.bpp),
    psnrClean: mean((r) => r.clean.psnr),
    psnrPoisoned: mean((r) => r.poisoned.psnr),
    psnrTrigger: mean((r) => r.poisonedInput.psnr),
    accuracyOriginal: mean((r) => Number(r.original.prediction === r.label)),
    accuracyClean: mean((r) => Number(r.clean.prediction === r.label)),
    accuracyPoisoned: mean((r) => Number(r.poisoned.prediction === r.label)),
    referenceCorrect: reference.length,
    attackSuccessRate: reference.length === 0 ? NaN : reference.filter((r) => r.poisoned.prediction !== r.label).length / reference.length,
  };
}

export interface EvaluateBavaftOptions {
  codec: CodecModel;
  trigger: TriggerNet;
  target: SemanticTarget;
  classNames: string[];
  templates?: string[];
  /** called with each image's pictures (e.g. to write PNGs for a grid) */
  onImages?: (name: string, images: EvaluationImages) => Promise<void> | void;
  /** called after each image (progress) */
  onProgress?: (done: number, total: number) => void;
}

/** Evaluate labelled images (loaded lazily, one at a time): per-image records and their summary. */
export async function evaluateBavaft(
  opts: EvaluateBavaftOptions,
  items: { name: string; label: number; load: () => Promise<RgbImage> | RgbImage }[],
): Promise<{ images: ImageEvaluation[]; summary: EvaluationSummary }> {
  for (const item of items) {
    if (!Number.isInteger(item.label) || item.label < 0 || item.label >= opts.classNames.length) throw new RangeError(`${item.name}: label ${item.label} is not a class index (0..${opts.classNames.length - 1})`);
  }
  const classRows = classEmbeddings(opts.target, opts.classNames, opts.templates);
  const ctx: EvaluationContext = { codec: opts.codec, trigger: opts.trigger, target: opts.target, classEmbeddings: classRows };
  const images: ImageEvaluation[] = [];
  try {
    for (const item of items) {
      images.push(await evaluateImage(ctx, await item.load(), item.label, item.name, opts.onImages));
      opts.onProgress?.(images.length, items.length);
    }
  } finally {
    classRows.dispose();
  }
  return { images, summary: summariseEvaluation(images) };
}
