/** Shared test fixtures: smooth synthetic pictures, class folders on disk, tiny codecs (random and trained). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePng, loadModuleWeights, type RgbImage } from '@psic/core';
import { Hyperprior } from '@psic/backbone-hyperprior';
import { Rng } from '@psic/train';

/** A tiny trained codec (N=8, M=12; test/fixtures/make-tiny-codec.mjs): meaningful decodes at test speed. */
export const TINY_CODEC = fileURLToPath(new URL('./fixtures/tiny-codec.safetensors', import.meta.url));

/** A smooth random picture (a few sinusoids per channel plus a little noise), values in [0, 1]. */
export function syntheticImage(height: number, width: number, seed: number): RgbImage {
  const rng = new Rng(seed);
  const waves = Array.from({ length: 3 }, () => Array.from({ length: 3 }, () => ({ fy: rng.next() * 0.3, fx: rng.next() * 0.3, phase: rng.next() * 6.28, amp: 0.1 + rng.next() * 0.15 })));
  const data = new Float32Array(height * width * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        let v = 0.5;
        for (const w of waves[c]) v += w.amp * Math.sin(w.fy * y + w.fx * x + w.phase);
        data[(y * width + x) * 3 + c] = Math.min(1, Math.max(0, v + (rng.next() - 0.5) * 0.04));
      }
    }
  }
  return { height, width, data };
}

/** DIR/<class>/<i>.png for each class, `perClass` pictures of `size` each. */
export async function writeClassFolders(dir: string, classes: string[], perClass: number, size: [number, number]): Promise<void> {
  let seed = 100;
  for (const cls of classes) {
    mkdirSync(join(dir, cls), { recursive: true });
    for (let i = 0; i < perClass; i++) writeFileSync(join(dir, cls, `${i}.png`), await encodePng(syntheticImage(size[0], size[1], seed++)));
  }
}

export function tinyCodec(): Hyperprior {
  return new Hyperprior({ N: 8, M: 12, architecture: 'bmshj2018-hyperprior' });
}

export async function trainedTinyCodec(): Promise<Hyperprior> {
  const codec = tinyCodec();
  await loadModuleWeights(TINY_CODEC, codec);
  return codec;
}
