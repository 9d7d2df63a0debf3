import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage, encodeImage, saveModuleWeights, selectBackend } from '@psic/core';
import { Hyperprior } from '@psic/backbone-hyperprior';
import { PsicError } from '@psic/entropy';
import { DEFAULT_MODEL, listModels, loadModel, modelForQuality, QUALITY_MODELS } from '../src/index.js';

let dir: string;
beforeAll(async () => {
  await selectBackend('cpu', { log: () => {} });
  dir = mkdtempSync(join(tmpdir(), 'psic-zoo-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function smallImage(h: number, w: number) {
  const data = new Float32Array(h * w * 3);
  for (let i = 0; i < data.length; i++) data[i] = 0.5 + 0.4 * Math.sin(i * 0.013) * Math.cos(i * 0.0007);
  return { height: h, width: w, data };
}

describe('shipped models', () => {
  it('ships every quality rate point, each with a sidecar that records how it was trained', async () => {
    const models = await listModels();
    expect(models.map((m) => m.name)).toEqual(expect.arrayContaining([...QUALITY_MODELS, DEFAULT_MODEL]));
    for (const m of models) {
      expect(m.sidecar, m.name).toMatchObject({ architecture: expect.any(String), lambda: expect.any(Number), steps: expect.any(Number) });
      // a conditional model (PSIC, UG-ICM) records its validation per decoding mode
      const validation = m.sidecar.recipe ? (m.sidecar.validation as { modes: Record<string, unknown> }).modes.full ?? (m.sidecar.validation as { modes: Record<string, unknown> }).modes.human : m.sidecar.validation;
      expect(validation, m.name).toMatchObject({ psnr: expect.any(Number) });
      expect(m.sidecar.validation, m.name).toMatchObject({ bpp: expect.any(Number) });
    }
  });

  it('loads each one (fingerprint checked against its sidecar) and codes an image', async () => {
    for (const name of QUALITY_MODELS) {
      const model = await loadModel(name);
      expect(model.info.fingerprint).toBe(model.info.sidecar.fingerprint);
      const img = smallImage(70, 90);
      const bytes = await encodeImage(model, img);
      const out = await decodeImage(model, bytes);
      expect([out.height, out.width]).toEqual([70, 90]);
      model.backbone.dispose?.();
    }
  });

  it('orders the rate points: quality 1 makes smaller files than quality 2', async () => {
    const img = smallImage(128, 128);
    const sizes = [];
    for (const q of [1, 2]) {
      const model = await loadModel(modelForQuality(q));
      sizes.push((await encodeImage(model, img)).length);
      model.backbone.dispose?.();
    }
    expect(sizes[0]).toBeLessThan(sizes[1]);
  });
});

describe('loading errors', () => {
  it('names the shipped models when a name is unknown', async () => {
    const err = await loadModel('nope').catch((e) => e);
    expect(err).toBeInstanceOf(PsicError);
    expect(err.code).toBe('UNKNOWN_MODEL');
    expect(err.message).toContain(QUALITY_MODELS[0]);
  });

  it('rejects a quality outside the shipped range', () => {
    expect(() => modelForQuality(0)).toThrow(/quality/);
    expect(() => modelForQuality(QUALITY_MODELS.length + 1)).toThrow(/quality/);
  });

  it('refuses a weight file without a sidecar, and one whose bytes do not match its sidecar', async () => {
    const model = new Hyperprior({ N: 8, M: 12, architecture: 'bmshj2018-hyperprior' });
    const path = join(dir, 'm.safetensors');
    await saveModuleWeights(path, model, { architecture: 'bmshj2018-hyperprior', config: { N: 8, M: 12 } });
    expect((await loadModel(path)).info.architecture).toBe('bmshj2018-hyperprior');

    const bare = join(dir, 'bare.safetensors');
    copyFileSync(path, bare);
    await expect(loadModel(bare)).rejects.toMatchObject({ code: 'BAD_WEIGHTS' });

    const tampered = join(dir, 'tampered.safetensors');
    const bytes = readFileSync(path);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(tampered, bytes);
    copyFileSync(join(dir, 'm.json'), join(dir, 'tampered.json'));
    await expect(loadModel(tampered)).rejects.toMatchObject({ code: 'BAD_WEIGHTS' });
    model.dispose();
  });
});
