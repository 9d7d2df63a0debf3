/**
 * Image files in and out, through sharp (libvips). Pixels travel as planar-free
 * interleaved RGB Float32 in [0, 1], height x width x 3 (NHWC without N), the
 * layout tfjs convolutions use. Every size is checked before decoding so a
 * hostile header can't make us allocate gigabytes.
 */
import { readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import sharp from 'sharp';
import { PsicError } from '@psic/entropy';

export interface RgbImage {
  height: number;
  width: number;
  /** interleaved RGB, row-major, values in [0, 1] */
  data: Float32Array;
}

export interface ImageLimits {
  /** largest accepted width or height */
  maxDimension?: number;
  /** largest accepted width x height */
  maxPixels?: number;
}

export const DEFAULT_IMAGE_LIMITS: Required<ImageLimits> = { maxDimension: 16384, maxPixels: 64 * 1024 * 1024 };

export interface Rgb8Image {
  height: number;
  width: number;
  /** interleaved RGB bytes, row-major */
  rgb: Uint8Array;
}

/** Decode a PNG / JPEG / WebP / AVIF / TIFF file or buffer to RGB floats in [0, 1]. */
export async function readImage(input: string | Uint8Array, limits: ImageLimits = {}): Promise<RgbImage> {
  const img = await readImageRgb8(input, limits);
  return { height: img.height, width: img.width, data: bytesToFloat(img.rgb) };
}

/** Decode an image file or buffer to 8-bit RGB. Alpha is dropped, EXIF orientation applied. */
export async function readImageRgb8(input: string | Uint8Array, limits: ImageLimits = {}): Promise<Rgb8Image> {
  const { maxDimension, maxPixels } = { ...DEFAULT_IMAGE_LIMITS, ...limits };
  const source = typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  let meta: sharp.Metadata;
  try {
    meta = await sharp(source, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new PsicError('BAD_IMAGE', `cannot read image${typeof input === 'string' ? ` ${input}` : ''}: ${(err as Error).message}`, { cause: err });
  }
  const { width, height } = meta;
  if (!width || !height) throw new PsicError('BAD_IMAGE', 'image has no size');
  if (width > maxDimension || height > maxDimension || width * height > maxPixels) {
    throw new PsicError('IMAGE_TOO_LARGE', `image is ${width}x${height}; the limit is ${maxDimension} per side and ${maxPixels} pixels`);
  }
  let raw: { data: Buffer; info: sharp.OutputInfo };
  try {
    raw = await sharp(source, { limitInputPixels: maxPixels, failOn: 'error' })
      .rotate()
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new PsicError('BAD_IMAGE', `cannot decode image: ${(err as Error).message}`, { cause: err });
  }
  const { info } = raw;
  if (info.channels !== 3) throw new PsicError('BAD_IMAGE', `expected 3 colour channels, got ${info.channels}`);
  return { height: info.height, width: info.width, rgb: new Uint8Array(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength) };
}

/** Encode RGB floats (clamped, rounded to 8 bits) as PNG bytes. */
export async function encodePng(img: RgbImage): Promise<Buffer> {
  return sharp(floatToBytes(img.data), { raw: { width: img.width, height: img.height, channels: 3 } })
    .png({ compressionLevel: 6 })
    .toBuffer();
}

export function bytesToFloat(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] / 255;
  return out;
}

/** Round half up to 8 bits, clamping to [0, 255] (what a PNG of the image stores). */
export function floatToBytes(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = Math.round(data[i] * 255);
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return out;
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff', '.avif']);

/** Image files directly inside a folder, sorted by name so every machine sees the same order. */
export async function listImages(dir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    throw new PsicError('BAD_DATA', `cannot read image folder ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const files = entries.filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase())).sort();
  if (files.length === 0) throw new PsicError('BAD_DATA', `no images (${[...IMAGE_EXTENSIONS].join(', ')}) in ${dir}`);
  return files.map((f) => join(dir, f));
}
