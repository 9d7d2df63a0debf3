/**
 * Labelled evaluation sets, read from the layouts of ../shared/data and from
 * plain folders. Images are decoded lazily (`sample.load()`), so a thousand
 * ImageNet photos never sit in memory at once.
 *
 * Layouts (`detectLayout` picks one from what the path holds):
 * - `cifar-tar`      a CIFAR-10 JPEG archive (`test/<class>/<n>.jpg`, read in place, nothing extracted)
 * - `celeba`         a folder with `attributes.csv` (`filename` + 40 binary CelebA attributes)
 * - `imagenet`       a folder with `labels.json` (filename -> { classIndex, className })
 * - `class-folders`  `DIR/<class>/<image>`, the class name is the folder name (underscores read as spaces)
 * - `images`         a flat folder of images without labels (rate and distortion only)
 *
 * Order: labelled sets are listed round-robin over classes (class 0's first
 * image, class 1's first, ...), so `limit` keeps the classes balanced.
 *
 * Small images: the codec pads to 64, and PSIC models are trained on crops of
 * 32x32 CIFAR pictures upscaled to 64x64 (@psic/train pairs.ts). The same rule
 * applies here: an image whose short side is below 64 is upscaled by
 * 64 / short side (CIFAR: x2 to 64x64), bilinear with half-pixel centres. The
 * upscaled picture is then "the original": the codec codes it, PSNR and bpp
 * are measured on it, and the semantic models see it.
 */
import { existsSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { listImages, readImage, type RgbImage } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { CIFAR10_CLASSES, CIFAR10_HELD_OUT_TEMPLATES, readPromptSet, readTarEntries } from '@psic/vlp';

export type DatasetLayout = 'cifar-tar' | 'celeba' | 'imagenet' | 'class-folders' | 'images';

/** Short side below which images are upscaled before coding (the training crop of the CIFAR recipes). */
export const MIN_CODED_SIDE = 64;

export interface EvalSample {
  /** file name (or archive entry) */
  name: string;
  /** class index into `EvalDataset.classes` */
  label?: number;
  /** binary attributes (CelebA) */
  attributes?: Record<string, boolean>;
  /** the picture the codec codes, in [0, 1] (upscaled per the rule above) */
  load(): Promise<RgbImage>;
}

export interface EvalDataset {
  source: string;
  layout: DatasetLayout;
  /** names of each class (one or more), indexed by `EvalSample.label` */
  classes?: string[][];
  /** attribute names present on every sample */
  attributeNames?: string[];
  samples: EvalSample[];
}

export interface DatasetOptions {
  /** keep the first N images of each class (labelled layouts) */
  perClass?: number;
  /** skip the first N samples (after ordering), e.g. the part of a set used in training */
  skip?: number;
  /** then keep at most N samples */
  limit?: number;
  /** CIFAR archive split (default test) */
  split?: 'test' | 'train';
}

/** What a path holds, by the files the shared data sets carry. */
export function detectLayout(path: string): DatasetLayout {
  if (!existsSync(path)) throw new PsicError('BAD_DATA', `no data at ${path}`);
  if (statSync(path).isFile()) {
    if (extname(path).toLowerCase() === '.tar') return 'cifar-tar';
    throw new PsicError('BAD_DATA', `${path} is a file; give a folder of images or a CIFAR-10 .tar archive`);
  }
  if (existsSync(join(path, 'attributes.csv'))) return 'celeba';
  if (existsSync(join(path, 'labels.json'))) return 'imagenet';
  return 'images'; // may still turn out to be class folders, see loadDataset
}

export async function loadDataset(path: string, opts: DatasetOptions = {}): Promise<EvalDataset> {
  let layout = detectLayout(path);
  let set: EvalDataset;
  if (layout === 'cifar-tar') set = await loadCifarArchive(path, opts);
  else if (layout === 'celeba') set = await loadCeleba(path);
  else if (layout === 'imagenet') set = await loadImagenetSamples(path);
  else {
    const flat = await readdir(path, { withFileTypes: true });
    const hasImages = flat.some((e) => e.isFile() && IMAGE_EXT.has(extname(e.name).toLowerCase()));
    layout = hasImages ? 'images' : 'class-folders';
    set = layout === 'images' ? await loadImageFolder(path) : await loadClassFolders(path, opts);
  }
  return select(set, opts);
}

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff', '.avif']);

/** perClass (when the loader did not already apply it), round-robin order, skip, limit. */
function select(set: EvalDataset, opts: DatasetOptions): EvalDataset {
  let samples = set.samples;
  if (set.classes) samples = roundRobin(samples, opts.perClass);
  const skip = opts.skip ?? 0;
  samples = samples.slice(skip, opts.limit === undefined ? undefined : skip + opts.limit);
  if (samples.length === 0) throw new PsicError('BAD_DATA', `${set.source}: no sample left after skip ${skip}${opts.limit !== undefined ? ` / limit ${opts.limit}` : ''}`);
  return { ...set, samples };
}

/** Samples in class-interleaved order, each class's own order kept; at most `perClass` of each. */
export function roundRobin(samples: EvalSample[], perClass = Infinity): EvalSample[] {
  const byClass = new Map<number, EvalSample[]>();
  for (const s of samples) {
    const list = byClass.get(s.label ?? -1) ?? [];
    if (list.length < perClass) list.push(s);
    byClass.set(s.label ?? -1, list);
  }
  const lists = [...byClass.entries()].sort((a, b) => a[0] - b[0]).map(([, l]) => l);
  const longest = Math.max(0, ...lists.map((l) => l.length));
  const out: EvalSample[] = [];
  for (let i = 0; i < longest; i++) for (const l of lists) if (i < l.length) out.push(l[i]);
  return out;
}

/**
 * Upscale so the short side is at least `minSide` (factor minSide / short
 * side, sizes rounded), bilinear with half-pixel centres and edge clamping:
 * the rule @psic/train's pairs.ts applies to training crops.
 */
export function upscaleToMinSide(img: RgbImage, minSide = MIN_CODED_SIDE): RgbImage {
  const short = Math.min(img.height, img.width);
  if (short >= minSide) return img;
  const scale = minSide / short;
  const height = Math.max(minSide, Math.round(img.height * scale));
  const width = Math.max(minSide, Math.round(img.width * scale));
  const data = new Float32Array(height * width * 3);
  let o = 0;
  for (let y = 0; y < height; y++) {
    const sy = Math.min(Math.max((y + 0.5) * (img.height / height) - 0.5, 0), img.height - 1);
    const y0 = Math.floor(sy);
    const y1 = Math.min(y0 + 1, img.height - 1);
    const fy = sy - y0;
    for (let x = 0; x < width; x++) {
      const sx = Math.min(Math.max((x + 0.5) * (img.width / width) - 0.5, 0), img.width - 1);
      const x0 = Math.floor(sx);
      const x1 = Math.min(x0 + 1, img.width - 1);
      const fx = sx - x0;
      for (let c = 0; c < 3; c++) {
        const p = (yy: number, xx: number) => img.data[(yy * img.width + xx) * 3 + c];
        const top = p(y0, x0) * (1 - fx) + p(y0, x1) * fx;
        const bottom = p(y1, x0) * (1 - fx) + p(y1, x1) * fx;
        data[o++] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return { height, width, data };
}

async function loadCoded(input: string | Uint8Array): Promise<RgbImage> {
  return upscaleToMinSide(await readImage(input));
}

function fileSample(file: string, extra: Partial<EvalSample> = {}): EvalSample {
  return { name: basename(file), ...extra, load: () => loadCoded(file) };
}

/** A CIFAR-10 JPEG archive, read in place (see shared/data/cifar10-jpeg.md); labels in CIFAR-10 order. */
export async function loadCifarArchive(path: string, opts: DatasetOptions = {}): Promise<EvalDataset> {
  const split = opts.split ?? 'test';
  let archive: Uint8Array;
  try {
    archive = new Uint8Array(await readFile(path));
  } catch (err) {
    throw new PsicError('BAD_DATA', `cannot read CIFAR-10 archive ${path}: ${(err as Error).message}`, { cause: err });
  }
  const pattern = new RegExp(`^(?:\\./)?${split}/([a-z]+)/[^/]+\\.jpe?g$`);
  const taken = new Array<number>(CIFAR10_CLASSES.length).fill(0);
  const samples: EvalSample[] = [];
  const entries = [...readTarEntries(archive, path)].filter((e) => pattern.test(e.name)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const label = CIFAR10_CLASSES.indexOf(pattern.exec(entry.name)![1]);
    if (label < 0) throw new PsicError('BAD_DATA', `${path}: ${entry.name} is not in a CIFAR-10 class folder`);
    if (taken[label] >= (opts.perClass ?? Infinity)) continue;
    taken[label]++;
    const bytes = entry.data.slice(); // detach from the 70 MB archive buffer
    samples.push({ name: entry.name, label, load: () => loadCoded(bytes) });
  }
  if (samples.length === 0) throw new PsicError('BAD_DATA', `${path} has no ${split}/<class>/*.jpg entries`);
  return { source: path, layout: 'cifar-tar', classes: CIFAR10_CLASSES.map((c) => [c]), samples };
}

/** `DIR/<class>/<image>`; classes sorted by folder name. */
export async function loadClassFolders(dir: string, opts: DatasetOptions = {}): Promise<EvalDataset> {
  const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  if (entries.length === 0) throw new PsicError('BAD_DATA', `${dir} has neither images nor class folders (expected ${dir}/<class>/<image>)`);
  const samples: EvalSample[] = [];
  const classes: string[][] = [];
  for (const folder of entries) {
    const files = await listImages(join(dir, folder)).catch(() => [] as string[]);
    if (files.length === 0) continue;
    const label = classes.length;
    classes.push([folder.replace(/_/g, ' ')]);
    for (const f of files.slice(0, opts.perClass)) samples.push(fileSample(f, { name: `${folder}/${basename(f)}`, label }));
  }
  if (samples.length === 0) throw new PsicError('BAD_DATA', `no image found in the class folders of ${dir}`);
  return { source: dir, layout: 'class-folders', classes, samples };
}

/** A flat folder of images, no labels. */
export async function loadImageFolder(dir: string): Promise<EvalDataset> {
  return { source: dir, layout: 'images', samples: (await listImages(dir)).map((f) => fileSample(f)) };
}

/** CelebA sample: images + `attributes.csv` (header `filename,<40 names>`, values 0/1 or -1/1). */
export async function loadCeleba(dir: string): Promise<EvalDataset> {
  const csv = join(dir, 'attributes.csv');
  const rows = parseAttributeCsv(await readFile(csv, 'utf8'), csv);
  const samples = rows.map((r) => {
    const file = join(dir, r.filename);
    if (!existsSync(file)) throw new PsicError('BAD_DATA', `${csv} lists ${r.filename}, which is not in ${dir}`);
    return fileSample(file, { attributes: r.attributes });
  });
  return { source: dir, layout: 'celeba', attributeNames: rows.length ? Object.keys(rows[0].attributes) : [], samples };
}

export function parseAttributeCsv(text: string, where = 'attributes.csv'): { filename: string; attributes: Record<string, boolean> }[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new PsicError('BAD_DATA', `${where} is empty`);
  const header = lines[0].split(',').map((h) => h.trim());
  if (header[0] !== 'filename' || header.length < 2) throw new PsicError('BAD_DATA', `${where}: the header must be "filename,<attribute>,..."`);
  const names = header.slice(1);
  return lines.slice(1).map((line, i) => {
    const cells = line.split(',').map((c) => c.trim());
    if (cells.length !== header.length) throw new PsicError('BAD_DATA', `${where}:${i + 2}: ${cells.length} fields, the header has ${header.length}`);
    if (basename(cells[0]) !== cells[0] || cells[0] === '') throw new PsicError('BAD_DATA', `${where}:${i + 2}: "${cells[0]}" is not a plain file name`);
    const attributes: Record<string, boolean> = {};
    names.forEach((n, k) => {
      const v = cells[k + 1];
      if (v !== '1' && v !== '0' && v !== '-1') throw new PsicError('BAD_DATA', `${where}:${i + 2}: ${n} is "${v}", expected 1, 0 or -1`);
      attributes[n] = v === '1';
    });
    return { filename: cells[0], attributes };
  });
}

/**
 * ImageNet samples: `labels.json` maps file names to { classIndex, className }.
 * The class list spans every index labels.json names (gaps get a placeholder),
 * so classification is among all its classes, not only the loaded ones.
 */
export async function loadImagenetSamples(dir: string): Promise<EvalDataset> {
  const path = join(dir, 'labels.json');
  let labels: Record<string, { classIndex?: unknown; className?: unknown }>;
  try {
    labels = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new PsicError('BAD_DATA', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) throw new PsicError('BAD_DATA', `${path} must be an object keyed by file name`);
  const classes: string[][] = [];
  const samples: EvalSample[] = [];
  for (const [file, entry] of Object.entries(labels).sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const { classIndex, className } = entry ?? {};
    if (!Number.isInteger(classIndex) || (classIndex as number) < 0 || (classIndex as number) > 100_000 || typeof className !== 'string') {
      throw new PsicError('BAD_DATA', `${path}: "${file}" needs an integer classIndex and a className`);
    }
    if (basename(file) !== file) throw new PsicError('BAD_DATA', `${path}: "${file}" is not a plain file name`);
    classes[classIndex as number] = [className];
    samples.push(fileSample(join(dir, file), { label: classIndex as number }));
  }
  for (let i = 0; i < classes.length; i++) classes[i] ??= [`class ${i}`];
  return { source: dir, layout: 'imagenet', classes, samples };
}

/**
 * Prompt templates ({} = class name) by name: `cifar10` (CLIP's 18 CIFAR-10
 * templates from prompts.md, generic enough for any class names), `held-out`
 * (the 6 of them the in-house model never trained on), or a file holding a
 * JSON array of strings or one template per line.
 */
export async function loadTemplates(which = 'cifar10'): Promise<string[]> {
  if (which === 'cifar10') return (await readPromptSet('CIFAR10')).templates;
  if (which === 'held-out') return [...CIFAR10_HELD_OUT_TEMPLATES];
  let text: string;
  try {
    text = await readFile(which, 'utf8');
  } catch (err) {
    throw new PsicError('BAD_PROMPTS', `templates "${which}": not cifar10 or held-out, and not a readable file (${(err as Error).message})`, { cause: err });
  }
  let templates: unknown;
  try {
    templates = JSON.parse(text);
  } catch {
    templates = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  }
  if (!Array.isArray(templates) || templates.length === 0 || !templates.every((t) => typeof t === 'string' && t.includes('{}'))) {
    throw new PsicError('BAD_PROMPTS', `${which}: templates must be a JSON array of strings or one per line, each with {} where the class name goes`);
  }
  return templates as string[];
}
