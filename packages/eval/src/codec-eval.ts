/**
 * Rate-distortion evaluation of a learned codec on real files: encode to
 * .psic bytes, decode, and measure bpp from the byte count (header included)
 * and PSNR / MS-SSIM on the 8-bit image a PNG of the output would hold.
 */
import { bytesToFloat, decodeImage, encodeImage, floatToBytes, type CodecModel, type RgbImage } from '@psic/core';
import { bitsPerPixel } from './bpp.js';
import { msSsim } from './ms-ssim.js';
import { psnr } from './psnr.js';
import { referenceAtBpp, type ReferenceCodec } from './reference-codecs.js';

export interface ImageFigures {
  image: string;
  codec: string;
  bytes: number;
  bpp: number;
  psnr: number;
  msssim: number;
  encodeSeconds?: number;
  decodeSeconds?: number;
  quality?: number;
}

/** Quantize to 8 bits as a saved PNG would, then back to [0, 1]. */
export function as8bit(img: RgbImage): RgbImage {
  return { ...img, data: bytesToFloat(floatToBytes(img.data)) };
}

export function distortion(original: RgbImage, decoded: RgbImage): { psnr: number; msssim: number } {
  const a = as8bit(original).data;
  const b = as8bit(decoded).data;
  return { psnr: psnr(a, b), msssim: msSsim(a, b, original.height, original.width) };
}

export async function evaluateLearned(model: CodecModel & { name: string }, image: string, img: RgbImage): Promise<ImageFigures> {
  const t0 = performance.now();
  const bytes = await encodeImage(model, img);
  const t1 = performance.now();
  const decoded = await decodeImage(model, bytes);
  const t2 = performance.now();
  return {
    image,
    codec: model.name,
    bytes: bytes.length,
    bpp: bitsPerPixel(bytes.length, img.height, img.width),
    ...distortion(img, decoded),
    encodeSeconds: (t1 - t0) / 1000,
    decodeSeconds: (t2 - t1) / 1000,
  };
}

export async function evaluateReference(codec: ReferenceCodec, image: string, img: RgbImage, targetBpp: number): Promise<ImageFigures> {
  const r = await referenceAtBpp(img, codec, targetBpp);
  return { image, codec: codec, bytes: r.bytes, bpp: r.bpp, quality: r.quality, ...distortion(img, r.decoded) };
}

export interface SummaryRow {
  codec: string;
  images: number;
  bpp: number;
  psnr: number;
  msssim: number;
}

/** Mean figures per codec, in first-seen order. */
export function summarise(rows: ImageFigures[]): SummaryRow[] {
  const groups = new Map<string, ImageFigures[]>();
  for (const r of rows) groups.set(r.codec, [...(groups.get(r.codec) ?? []), r]);
  return [...groups].map(([codec, rs]) => ({
    codec,
    images: rs.length,
    bpp: mean(rs.map((r) => r.bpp)),
    psnr: mean(rs.map((r) => r.psnr)),
    msssim: mean(rs.map((r) => r.msssim)),
  }));
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
