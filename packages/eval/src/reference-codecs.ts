/**
 * Classic codecs as rate-distortion references, through sharp (libvips):
 * JPEG (libjpeg-turbo, 4:2:0) and WebP. `atBpp` searches the quality whose
 * file comes closest to a target rate, since a fair comparison is at equal
 * bits per pixel.
 */
import sharp from 'sharp';
import { bytesToFloat, floatToBytes, type RgbImage } from '@psic/core';
import { bitsPerPixel } from './bpp.js';

export type ReferenceCodec = 'jpeg' | 'webp';

export interface ReferenceResult {
  codec: ReferenceCodec;
  quality: number;
  bytes: number;
  bpp: number;
  decoded: RgbImage;
}

export async function encodeReference(img: RgbImage, codec: ReferenceCodec, quality: number): Promise<ReferenceResult> {
  const raw = { raw: { width: img.width, height: img.height, channels: 3 as const } };
  const input = sharp(floatToBytes(img.data), raw);
  const file = codec === 'jpeg'
    ? await input.jpeg({ quality, chromaSubsampling: '4:2:0', mozjpeg: false }).toBuffer()
    : await input.webp({ quality }).toBuffer();
  const { data } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return {
    codec,
    quality,
    bytes: file.length,
    bpp: bitsPerPixel(file.length, img.height, img.width),
    decoded: { height: img.height, width: img.width, data: bytesToFloat(data) },
  };
}

/** Binary search over quality 1..100 (bpp grows with quality) for the file closest to `targetBpp`. */
export async function referenceAtBpp(img: RgbImage, codec: ReferenceCodec, targetBpp: number): Promise<ReferenceResult> {
  let lo = 1;
  let hi = 100;
  const tried = new Map<number, ReferenceResult>();
  const at = async (q: number) => {
    let r = tried.get(q);
    if (!r) tried.set(q, (r = await encodeReference(img, codec, q)));
    return r;
  };
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if ((await at(mid)).bpp < targetBpp) lo = mid;
    else hi = mid;
  }
  const [a, b] = [await at(lo), await at(hi)];
  return Math.abs(a.bpp - targetBpp) <= Math.abs(b.bpp - targetBpp) ? a : b;
}
