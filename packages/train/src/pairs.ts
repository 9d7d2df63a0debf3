/**
 * Image–text pairs for the semantic recipes, decoded once into memory:
 *
 * - a folder of class folders (`DIR/<class>/*.jpg`): the caption is a
 *   prompt template (`a photo of a {}.`) filled with the class name
 *   (underscores read as spaces), a template drawn per sample;
 * - a `captions.jsonl`: one JSON object per line,
 *   `{"image": "relative/path.jpg", "caption": "..."}` or `"captions": [...]`
 *   (one drawn per sample), optionally `"label"` (images sharing a label
 *   count as sharing a caption). Paths are relative to the jsonl's folder.
 *
 * Images whose short side is below the crop are upscaled (bilinear) on the
 * fly, so 32×32 CIFAR pictures feed 64×64 codec crops without storing them
 * four times larger.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { PsicError } from '@psic/entropy';
import { listImages, readImageRgb8, type Rgb8Image } from '@psic/core';
import type { Rng } from './rng.js';

export const DEFAULT_PROMPT_TEMPLATES = ['a photo of a {}.', 'a blurry photo of a {}.', 'a close-up photo of a {}.', 'a low resolution photo of a {}.', 'a bright photo of a {}.', 'a cropped photo of a {}.'];

export interface PairRecord {
  image: Rgb8Image;
  /** candidate captions (one is drawn per sample) */
  captions: string[];
  /** identity for "same caption" (the class; else the first caption) */
  label: string;
}

export interface PairBatch {
  /** NHWC floats in [0, 1], batch × crop × crop × 3 */
  images: Float32Array;
  captions: string[];
  labels: string[];
}

export class PairDataset {
  private constructor(readonly records: PairRecord[]) {}

  get size(): number {
    return this.records.length;
  }

  /** Class folders + templates. */
  static async fromClassFolders(dir: string, templates: string[] = DEFAULT_PROMPT_TEMPLATES, opts: { maxPerClass?: number } = {}): Promise<PairDataset> {
    checkTemplates(templates);
    const listing = await readdir(dir, { withFileTypes: true }).catch((err: Error) => {
      throw new PsicError('BAD_DATA', `cannot read data folder ${dir}: ${err.message}`);
    });
    const entries = listing.filter((e) => e.isDirectory()).map((e) => e.name).sort();
    if (entries.length === 0) throw new PsicError('BAD_DATA', `${dir} has no class folders (expected ${dir}/<class>/<image>)`);
    const records: PairRecord[] = [];
    for (const cls of entries) {
      const name = cls.replace(/_/g, ' ');
      const files = await listImages(join(dir, cls));
      for (const f of opts.maxPerClass ? files.slice(0, opts.maxPerClass) : files) {
        records.push({ image: await readImageRgb8(f), captions: templates.map((t) => t.replaceAll('{}', name)), label: name });
      }
    }
    if (records.length === 0) throw new PsicError('BAD_DATA', `no image found in the class folders of ${dir}`);
    return new PairDataset(records);
  }

  /** A folder of images with a `labels.json` mapping file name -> { className } (ImageNet samples) + templates. */
  static async fromLabelsFile(dir: string, templates: string[] = DEFAULT_PROMPT_TEMPLATES): Promise<PairDataset> {
    checkTemplates(templates);
    const file = join(dir, 'labels.json');
    let labels: Record<string, { className?: unknown }>;
    try {
      labels = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw new PsicError('BAD_DATA', `cannot read ${file}: ${(err as Error).message}`);
    }
    if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) throw new PsicError('BAD_DATA', `${file} is not an object of file name -> { className }`);
    const records: PairRecord[] = [];
    for (const [name, entry] of Object.entries(labels).sort(([a], [b]) => a.localeCompare(b))) {
      if (typeof entry?.className !== 'string') throw new PsicError('BAD_DATA', `${file}: "${name}" has no className`);
      const cls = entry.className.replace(/_/g, ' ');
      records.push({ image: await readImageRgb8(join(dir, name)), captions: templates.map((t) => t.replaceAll('{}', cls)), label: cls });
    }
    if (records.length === 0) throw new PsicError('BAD_DATA', `${file} names no image`);
    return new PairDataset(records);
  }

  /** A captions.jsonl file. */
  static async fromCaptionsFile(file: string): Promise<PairDataset> {
    const base = dirname(resolve(file));
    const text = await readFile(file, 'utf8').catch((err: Error) => {
      throw new PsicError('BAD_DATA', `cannot read ${file}: ${err.message}`);
    });
    const records: PairRecord[] = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trim();
      if (!line) continue;
      const where = `${basename(file)}:${i + 1}`;
      let obj: { image?: unknown; caption?: unknown; captions?: unknown; label?: unknown };
      try {
        obj = JSON.parse(line);
      } catch (err) {
        throw new PsicError('BAD_DATA', `${where}: not JSON (${(err as Error).message})`);
      }
      if (typeof obj !== 'object' || obj === null || typeof obj.image !== 'string') throw new PsicError('BAD_DATA', `${where}: needs "image" (a path)`);
      const captions = typeof obj.caption === 'string' ? [obj.caption] : Array.isArray(obj.captions) && obj.captions.every((c) => typeof c === 'string') ? (obj.captions as string[]) : [];
      if (captions.length === 0 || captions.some((c) => c.length === 0)) throw new PsicError('BAD_DATA', `${where}: needs "caption" (a non-empty string) or "captions" (a list of them)`);
      const path = resolve(base, obj.image);
      if (!(await stat(path).catch(() => undefined))?.isFile()) throw new PsicError('BAD_DATA', `${where}: image ${obj.image} not found`);
      records.push({ image: await readImageRgb8(path), captions, label: typeof obj.label === 'string' ? obj.label : captions[0] });
    }
    if (records.length === 0) throw new PsicError('BAD_DATA', `${file} lists no image`);
    return new PairDataset(records);
  }

  /** Random crops (upscaled first when an image is smaller), horizontal flips, one caption per sample. */
  sampleBatch(batchSize: number, crop: number, rng: Rng): PairBatch {
    const images = new Float32Array(batchSize * crop * crop * 3);
    const captions: string[] = [];
    const labels: string[] = [];
    for (let b = 0; b < batchSize; b++) {
      const rec = this.records[rng.int(this.records.length)];
      cropInto(rec.image, crop, rng, images.subarray(b * crop * crop * 3, (b + 1) * crop * crop * 3));
      captions.push(rec.captions[rng.int(rec.captions.length)]);
      labels.push(rec.label);
    }
    return { images, captions, labels };
  }
}

/** positives[i][j]: sample j's caption describes sample i too (same label). */
export function samePairs(labels: string[]): boolean[][] {
  return labels.map((a) => labels.map((b) => a === b));
}

/** Read prompt templates: a JSON array of strings, or one template per line. Each must contain "{}". */
export async function readTemplates(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8');
  let templates: unknown;
  try {
    templates = JSON.parse(text);
  } catch {
    templates = text.split('\n').map((l) => l.trim()).filter(Boolean);
  }
  if (!Array.isArray(templates) || !templates.every((t) => typeof t === 'string')) throw new PsicError('BAD_DATA', `${file}: templates must be a JSON array of strings or one per line`);
  checkTemplates(templates as string[]);
  return templates as string[];
}

function checkTemplates(templates: string[]): void {
  if (templates.length === 0 || templates.some((t) => !t.includes('{}'))) throw new PsicError('BAD_DATA', 'every prompt template must contain "{}" (where the class name goes)');
}

/** A random crop × crop window of `img` (after upscaling its short side to `crop` when smaller), flipped half the time. */
function cropInto(img: Rgb8Image, crop: number, rng: Rng, out: Float32Array): void {
  const scale = Math.max(1, crop / Math.min(img.height, img.width));
  const vh = Math.max(crop, Math.round(img.height * scale));
  const vw = Math.max(crop, Math.round(img.width * scale));
  const top = rng.int(vh - crop + 1);
  const left = rng.int(vw - crop + 1);
  const flip = rng.next() < 0.5;
  let o = 0;
  for (let y = 0; y < crop; y++) {
    for (let x = 0; x < crop; x++) {
      const vx = left + (flip ? crop - 1 - x : x);
      const vy = top + y;
      if (scale === 1) {
        const s = (vy * img.width + vx) * 3;
        out[o++] = img.rgb[s] / 255;
        out[o++] = img.rgb[s + 1] / 255;
        out[o++] = img.rgb[s + 2] / 255;
        continue;
      }
      // bilinear, pixel centres aligned (as tf.image.resizeBilinear with halfPixelCenters)
      const sy = Math.min(Math.max((vy + 0.5) * (img.height / vh) - 0.5, 0), img.height - 1);
      const sx = Math.min(Math.max((vx + 0.5) * (img.width / vw) - 0.5, 0), img.width - 1);
      const y0 = Math.floor(sy);
      const x0 = Math.floor(sx);
      const y1 = Math.min(y0 + 1, img.height - 1);
      const x1 = Math.min(x0 + 1, img.width - 1);
      const fy = sy - y0;
      const fx = sx - x0;
      for (let c = 0; c < 3; c++) {
        const p = (yy: number, xx: number) => img.rgb[(yy * img.width + xx) * 3 + c];
        const top2 = p(y0, x0) * (1 - fx) + p(y0, x1) * fx;
        const bottom = p(y1, x0) * (1 - fx) + p(y1, x1) * fx;
        out[o++] = (top2 * (1 - fy) + bottom * fy) / 255;
      }
    }
  }
}

/** The pairs a CLI run names: `captions` (a captions.jsonl) or `data` (class folders, or a folder with labels.json; with `templates` or the default prompts). */
export async function loadPairs(opts: { data?: string; captions?: string; templates?: string }): Promise<PairDataset> {
  if (opts.captions) return PairDataset.fromCaptionsFile(opts.captions);
  if (!opts.data) throw new PsicError('USAGE', 'image-text pairs come from --data DIR (class folders) or --captions FILE (captions.jsonl)');
  const templates = opts.templates ? await readTemplates(opts.templates) : DEFAULT_PROMPT_TEMPLATES;
  if (existsSync(join(opts.data, 'labels.json'))) return PairDataset.fromLabelsFile(opts.data, templates);
  return PairDataset.fromClassFolders(opts.data, templates);
}
