/**
 * Training data: every image of a folder decoded once into memory as 8-bit RGB
 * (1,000 ImageNet samples at short side 256 take ~250 MB), then random crops
 * with horizontal flips drawn from a seeded Rng. Decoding once matters: a JPEG
 * decode costs more than the crop it feeds.
 */
import { PsicError } from '@psic/entropy';
import { listImages, readImageRgb8, type Rgb8Image } from '@psic/core';
import type { Rng } from './rng.js';

export type DecodedImage = Rgb8Image;

export class CropDataset {
  private constructor(readonly images: DecodedImage[]) {}

  /** Decode every image of `dir` whose sides are at least `minSide` (smaller ones can't give a crop). */
  static async fromFolder(dir: string, minSide: number, onProgress?: (done: number, total: number) => void): Promise<CropDataset> {
    const files = await listImages(dir);
    const images: DecodedImage[] = [];
    for (let i = 0; i < files.length; i++) {
      const img = await readImageRgb8(files[i]);
      if (img.height >= minSide && img.width >= minSide) images.push(img);
      onProgress?.(i + 1, files.length);
    }
    if (images.length === 0) throw new PsicError('BAD_DATA', `no image in ${dir} is at least ${minSide}x${minSide}`);
    return new CropDataset(images);
  }

  get size(): number {
    return this.images.length;
  }

  /** A batch of random `crop` x `crop` patches (random image, position, horizontal flip) as NHWC floats in [0, 1]. */
  sampleBatch(batchSize: number, crop: number, rng: Rng): Float32Array {
    const out = new Float32Array(batchSize * crop * crop * 3);
    for (let b = 0; b < batchSize; b++) {
      const img = this.images[rng.int(this.images.length)];
      const top = rng.int(img.height - crop + 1);
      const left = rng.int(img.width - crop + 1);
      const flip = rng.next() < 0.5;
      let o = b * crop * crop * 3;
      for (let y = 0; y < crop; y++) {
        const row = (top + y) * img.width;
        for (let x = 0; x < crop; x++) {
          const sx = left + (flip ? crop - 1 - x : x);
          const s = (row + sx) * 3;
          out[o++] = img.rgb[s] / 255;
          out[o++] = img.rgb[s + 1] / 255;
          out[o++] = img.rgb[s + 2] / 255;
        }
      }
    }
    return out;
  }
}
