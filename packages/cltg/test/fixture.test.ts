/**
 * The PSIC mechanism end to end on a small shipped model (test/fixtures,
 * made by test/fixtures/README.md's command): one .psic stream decodes to the
 * protected image without a key and with each of 20 random wrong keys, and
 * to the full image with the owner's key.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeImage, readImage, type RgbImage } from '@psic/core';
import '@psic/backbone-hyperprior';
import { decodeWithCondition, loadConditionalModel, readKeyFile, type LoadedConditionalModel } from '../src/index.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const repoRoot = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const photo = resolve(repoRoot, '../shared/data/photos/kodim23.png');

let loaded: LoadedConditionalModel;
let stream: Uint8Array;
let key: Uint8Array;
let protectedImage: RgbImage;
let fullImage: RgbImage;

function psnr(a: RgbImage, b: RgbImage): number {
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += (a.data[i] - b.data[i]) ** 2;
  return -10 * Math.log10(Math.max(sum / a.data.length, 1e-12));
}

function centreCrop(img: RgbImage, size: number): RgbImage {
  const top = Math.floor((img.height - size) / 2);
  const left = Math.floor((img.width - size) / 2);
  const data = new Float32Array(size * size * 3);
  for (let y = 0; y < size; y++) data.set(img.data.subarray(((top + y) * img.width + left) * 3, ((top + y) * img.width + left + size) * 3), y * size * 3);
  return { height: size, width: size, data };
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  loaded = await loadConditionalModel(fixture('psic-tiny.safetensors'));
  key = await readKeyFile(fixture('psic-tiny.key'));
  const codec = { backbone: loaded.model.backbone, fingerprint: loaded.fingerprint };
  stream = await encodeImage(codec, centreCrop(await readImage(photo), 128));
  protectedImage = await decodeWithCondition(codec, loaded.model, stream, { mode: 'protected' });
  fullImage = await decodeWithCondition(codec, loaded.model, stream, { mode: 'full', key });
});

describe('a shipped PSIC model', () => {
  it('records what it is, and no key', () => {
    expect(loaded.sidecar).toMatchObject({ recipe: 'psic', adapter: { name: 'cltg', modes: [{ name: 'protected', default: true }, { name: 'full', keyed: true }] } });
    expect(readFileSync(fixture('psic-tiny.json'), 'utf8')).not.toContain(new TextDecoder().decode(key));
    expect(readFileSync(fixture('psic-tiny.safetensors')).includes(Buffer.from(key))).toBe(false);
  });

  it('decodes the full image with the key, visibly apart from the protected one', () => {
    // the two modes are different pictures of the same stream
    expect(psnr(fullImage, protectedImage)).toBeLessThan(32);
  });

  it('decodes to the protected image with each of 20 random wrong keys', async () => {
    const codec = { backbone: loaded.model.backbone, fingerprint: loaded.fingerprint };
    const apart = psnr(fullImage, protectedImage);
    for (let i = 0; i < 20; i++) {
      // arbitrary keys of varied length, fixed so the test can't flake
      const wrong = createHash('sha256').update(`wrong key ${i}`).digest(i % 2 ? 'hex' : 'base64').slice(0, 4 + i * 3);
      const decoded = await decodeWithCondition(codec, loaded.model, stream, { mode: 'full', key: wrong });
      const toProtected = psnr(decoded, protectedImage);
      const toFull = psnr(decoded, fullImage);
      expect(toProtected, `wrong key ${i}`).toBeGreaterThan(toFull + 3);
      expect(toProtected, `wrong key ${i}`).toBeGreaterThan(apart + 3);
    }
  });

  it('refuses a stream written by another model', async () => {
    const other = { backbone: loaded.model.backbone, fingerprint: new Uint8Array(8) };
    await expect(decodeWithCondition(other, loaded.model, stream, { mode: 'protected' })).rejects.toMatchObject({ code: 'WRONG_MODEL' });
  });
});
