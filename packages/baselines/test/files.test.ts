import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { loadModel } from '@psic/zoo';
import { CODEC_FILE, loadTriggerNet, saveBavaftModel, TRIGGER_FILE, triggerPathFor, TriggerNet } from '../src/index.js';
import { syntheticImage, tinyCodec } from './helpers.js';

let dir: string;
beforeAll(async () => {
  await selectBackend('cpu', { log: () => {} });
  dir = mkdtempSync(join(tmpdir(), 'psic-bavaft-files-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('BAvAFT model files', () => {
  it('saves a codec that loads as a normal model and a trigger network that loads back identically', async () => {
    const codec = tinyCodec();
    const trigger = new TriggerNet({ hidden: 8, topK: 10 }, { seed: 3 });
    const out = join(dir, 'model-a');
    const saved = await saveBavaftModel(out, { codec, trigger, architecture: 'bmshj2018-hyperprior', config: { N: 8, M: 12 }, sidecar: { steps: 5, target: 'random' } });
    expect(saved.codec.weightsPath).toBe(join(out, CODEC_FILE));

    const loaded = await loadModel(join(out, CODEC_FILE));
    expect(loaded.info.architecture).toBe('bmshj2018-hyperprior');
    expect(loaded.info.sidecar).toMatchObject({ baseline: 'bavaft', trigger: TRIGGER_FILE, steps: 5, name: 'model-a' });
    const original = codec.namedVariables();
    for (const [name, v] of Object.entries(loaded.backbone.namedVariables())) expect(Array.from(v.dataSync()), name).toEqual(Array.from(original[name].dataSync()));
    expect(Object.keys(loaded.backbone.namedVariables()).some((k) => k.startsWith('trigger'))).toBe(false);

    const { trigger: back, sidecar } = await loadTriggerNet(triggerPathFor(saved.codec.weightsPath), { codecFingerprint: loaded.info.fingerprint });
    expect(sidecar).toMatchObject({ architecture: 'bavaft-trigger', codec: { fingerprint: loaded.info.fingerprint } });
    expect(back.config).toEqual(trigger.config);
    const x = tf.tensor4d(syntheticImage(32, 40, 9).data, [1, 32, 40, 3]);
    expect(Array.from(back.poison(x).dataSync())).toEqual(Array.from(trigger.poison(x).dataSync()));
  });

  it('refuses a trigger from another codec, a codec file as a trigger, and an incomplete config', async () => {
    const out = join(dir, 'model-b');
    await saveBavaftModel(out, { codec: tinyCodec(), trigger: new TriggerNet({ hidden: 8 }), architecture: 'bmshj2018-hyperprior', config: { N: 8, M: 12 } });
    const triggerFile = join(out, TRIGGER_FILE);
    await expect(loadTriggerNet(triggerFile, { codecFingerprint: '0000000000000000' })).rejects.toThrow(/trained with the codec/);
    await expect(loadTriggerNet(join(out, CODEC_FILE))).rejects.toMatchObject({ code: 'BAD_WEIGHTS' });
    const side = join(out, 'trigger.json');
    const json = JSON.parse(readFileSync(side, 'utf8'));
    delete json.config.epsilon;
    writeFileSync(side, JSON.stringify(json));
    await expect(loadTriggerNet(triggerFile)).rejects.toThrow(PsicError);
    await expect(loadTriggerNet(triggerFile)).rejects.toThrow(/epsilon/);
  });
});
