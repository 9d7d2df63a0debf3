/**
 * CIFAR-10 from the shared JPEG archive (`train/<class>/<n>.jpg`,
 * `test/<class>/<n>.jpg`, see shared/data/cifar10-jpeg.md), decoded once with
 * sharp into one 8-bit NHWC array (35,000 training images take 105 MB).
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { PsicError } from '@psic/entropy';
import { findSharedFile } from './shared-data.js';
import { readTarEntries } from './tar.js';

export const CIFAR10_CLASSES: readonly string[] = Object.freeze(['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
export const CIFAR_SIDE = 32;

/** ../shared/data/cifar10-jpeg.tar beside the checkout. */
export function defaultCifarArchivePath(): string {
  return findSharedFile('data/cifar10-jpeg.tar');
}

export interface LabelledImages {
  /** [count, side, side, 3] RGB, row-major. */
  pixels: Uint8Array;
  labels: Uint8Array;
  count: number;
  side: number;
  /** Archive names, in the order of `pixels`. */
  names: string[];
}

export interface CifarLoadOptions {
  /** Keep at most this many images per class (the first ones by file name). */
  perClass?: number;
  /** Decodes in flight at once (sharp runs them on its own threads). */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Load one split of the CIFAR-10 JPEG archive; labels follow CIFAR10_CLASSES. */
export async function loadCifar10(archivePath: string, split: 'train' | 'test', opts: CifarLoadOptions = {}): Promise<LabelledImages> {
  let archive: Uint8Array;
  try {
    archive = new Uint8Array(await readFile(archivePath));
  } catch (err) {
    throw new PsicError('NOT_FOUND', `cannot read CIFAR-10 archive ${archivePath}: ${(err as Error).message}`, { cause: err });
  }
  const perClass = opts.perClass ?? Infinity;
  const taken = new Array<number>(CIFAR10_CLASSES.length).fill(0);
  const wanted: { name: string; data: Uint8Array; label: number }[] = [];
  const pattern = new RegExp(`^(?:\\./)?${split}/([a-z]+)/[^/]+\\.jpe?g$`);
  for (const entry of readTarEntries(archive, archivePath)) {
    const m = pattern.exec(entry.name);
    if (!m) continue;
    const label = CIFAR10_CLASSES.indexOf(m[1]!);
    if (label < 0) throw new PsicError('BAD_DATA', `${archivePath}: ${entry.name} is not in a CIFAR-10 class folder`);
    if (taken[label]! >= perClass) continue;
    taken[label]!++;
    wanted.push({ name: entry.name, data: entry.data, label });
  }
  if (wanted.length === 0) throw new PsicError('BAD_DATA', `${archivePath} has no ${split}/<class>/*.jpg entries`);
  wanted.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const plane = CIFAR_SIDE * CIFAR_SIDE * 3;
  const pixels = new Uint8Array(wanted.length * plane);
  const labels = Uint8Array.from(wanted, (w) => w.label);
  const concurrency = Math.max(1, opts.concurrency ?? 32);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < wanted.length) {
      const i = next++;
      pixels.set(await decodeCifarJpeg(wanted[i]!.data, wanted[i]!.name), i * plane);
      opts.onProgress?.(++done, wanted.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, wanted.length) }, worker));
  return { pixels, labels, count: wanted.length, side: CIFAR_SIDE, names: wanted.map((w) => w.name) };
}

async function decodeCifarJpeg(bytes: Uint8Array, name: string): Promise<Uint8Array> {
  let out: { data: Buffer; info: sharp.OutputInfo };
  try {
    out = await sharp(bytes).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new PsicError('BAD_DATA', `${name} does not decode as an image: ${(err as Error).message}`, { cause: err });
  }
  const { width, height, channels } = out.info;
  if (width !== CIFAR_SIDE || height !== CIFAR_SIDE || channels !== 3) {
    throw new PsicError('BAD_DATA', `${name} is ${width}x${height}x${channels}, CIFAR-10 images are ${CIFAR_SIDE}x${CIFAR_SIDE}x3`);
  }
  return new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.length);
}

/** Images [start, start + n) as floats in [0, 1], NHWC. */
export function imagesAsFloats(set: LabelledImages, start: number, n: number): Float32Array {
  const plane = set.side * set.side * 3;
  const src = set.pixels.subarray(start * plane, (start + n) * plane);
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i]! / 255;
  return out;
}
