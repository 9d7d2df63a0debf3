import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapters, fingerprintWeights, loadModuleWeights } from '@psic/core';
import { Hyperprior } from '@psic/backbone-hyperprior';
import {
  attachConditional,
  ConditionalSynthesis,
  createKeyFile,
  keyCondition,
  loadConditionalModel,
  modeCondition,
  PSIC_MODES,
  readKeyFile,
  saveConditionalModel,
  UGICM_MODES,
  validateModes,
  type KdfParams,
} from '../src/index.js';

// a cheap KDF keeps the unit tests fast; the model file test checks the recorded default
const FAST_KDF: KdfParams = { algorithm: 'scrypt', N: 1024, r: 8, p: 1 };
const salt = new Uint8Array(16).fill(7);
let dir: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'psic-cltg-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const backbone = () => new Hyperprior({ N: 8, M: 12, architecture: 'bmshj2018-hyperprior' });
const image = (n = 1) => tf.randomUniform([n, 64, 64, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

/** Give every projection (or only `block`'s) random weights, as training would. */
function perturbProjections(model: ConditionalSynthesis, block?: number): void {
  for (const [name, v] of Object.entries(model.adapterVariables())) {
    if (name.includes('.proj.') && (block === undefined || name.includes(`.proj.${block}.`))) v.assign(tf.randomNormal(v.shape, 0, 0.5, 'float32', 11));
  }
}

describe('modes', () => {
  it('accept any number of named modes with exactly one default, never a keyed default', () => {
    expect(validateModes([...PSIC_MODES, ...UGICM_MODES.filter((m) => !m.default)]).map((m) => m.name)).toEqual(['protected', 'full', 'machine']);
    expect(() => validateModes([{ name: 'a' }, { name: 'b' }])).toThrow(/exactly one/);
    expect(() => validateModes([{ name: 'a', default: true, keyed: true }, { name: 'b' }])).toThrow(/both/);
    expect(() => validateModes([{ name: 'a', default: true }, { name: 'a' }])).toThrow(/twice/);
    expect(() => validateModes([{ name: 'A!', default: true }, { name: 'b' }])).toThrow(/name/);
  });
});

describe('conditions', () => {
  it('derive β from the key through scrypt, salted per model and per mode', () => {
    const b1 = keyCondition('owner secret', salt, 'full', 16, FAST_KDF);
    expect(b1).toHaveLength(16);
    expect(Array.from(keyCondition('owner secret', salt, 'full', 16, FAST_KDF))).toEqual(Array.from(b1));
    for (const other of [keyCondition('owner secreT', salt, 'full', 16, FAST_KDF), keyCondition('owner secret', new Uint8Array(16), 'full', 16, FAST_KDF), keyCondition('owner secret', salt, 'other', 16, FAST_KDF)]) {
      expect(maxDiffArrays(other, b1)).toBeGreaterThan(0.1);
    }
    expect(Math.max(...b1.map(Math.abs))).toBeLessThanOrEqual(1);
    expect(Array.from(keyCondition(new TextEncoder().encode('owner secret'), salt, 'full', 16, FAST_KDF))).toEqual(Array.from(b1));
  });

  it('fix the keyless modes by the salt', () => {
    expect(Array.from(modeCondition(salt, 'protected', 8))).toEqual(Array.from(modeCondition(salt, 'protected', 8)));
    expect(maxDiffArrays(modeCondition(salt, 'protected', 8), modeCondition(salt, 'machine', 8))).toBeGreaterThan(0.1);
  });

  it('refuse a keyed mode without a key, a key for a keyless mode, and unknown modes (typed errors)', () => {
    const model = new ConditionalSynthesis(backbone(), { modes: PSIC_MODES, salt, kdf: FAST_KDF, hidden: 16, conditionDim: 4 });
    expect(() => model.conditionVector({ mode: 'full' })).toThrow(expect.objectContaining({ code: 'KEY_REQUIRED' }));
    expect(() => model.conditionVector({ mode: 'protected', key: 'k' })).toThrow(expect.objectContaining({ code: 'BAD_CONDITION' }));
    expect(() => model.conditionVector({ mode: 'machine' })).toThrow(expect.objectContaining({ code: 'UNKNOWN_MODE' }));
    expect(() => model.conditionVector({ mode: 'full', key: '' })).toThrow(expect.objectContaining({ code: 'BAD_KEY' }));
  });
});

describe('ConditionalSynthesis', () => {
  it('starts as the plain backbone: zero projections change nothing', () => {
    const b = backbone();
    const model = new ConditionalSynthesis(b, { modes: PSIC_MODES, salt, kdf: FAST_KDF, hidden: 32, conditionDim: 8 });
    const yHat = tf.round(b.analysis(image())) as tf.Tensor4D;
    const plain = b.synthesis(yHat);
    expect(maxDiff(model.decode(yHat, { mode: 'protected' }), plain)).toBe(0);
    expect(maxDiff(model.decode(yHat, { mode: 'full', key: 'k' }), plain)).toBe(0);
  });

  it('adds f_β·W_d to every pixel of a block (eq. 4): on the last block, a constant per channel', () => {
    const b = backbone();
    const model = new ConditionalSynthesis(b, { modes: PSIC_MODES, salt, kdf: FAST_KDF, hidden: 32, conditionDim: 8, seed: 3 });
    perturbProjections(model, 3);
    const yHat = tf.round(b.analysis(image())) as tf.Tensor4D;
    const diff = tf.sub(model.decode(yHat, { mode: 'protected' }), b.synthesis(yHat));
    const perChannel = tf.sub(diff, tf.mean(diff, [1, 2], true));
    expect(tf.max(tf.abs(perChannel)).dataSync()[0]).toBeLessThan(1e-5);
    const [bias] = model.blockBiasValues({ mode: 'protected' }).slice(3);
    expect(Array.from(tf.mean(diff, [0, 1, 2]).dataSync()).map((v, c) => v - bias[c]).every((d) => Math.abs(d) < 1e-5)).toBe(true);
    expect(Math.max(...bias.map(Math.abs))).toBeGreaterThan(1e-3);
  });

  it('decodes one y-hat under several conditions in one pass (shared rate, same y-hat even with training noise)', () => {
    const b = backbone();
    const model = new ConditionalSynthesis(b, { modes: PSIC_MODES, salt, kdf: FAST_KDF, hidden: 32, conditionDim: 8, seed: 3 });
    const x = image(2);
    const protectedBeta = tf.tensor2d(model.modeVector('protected'), [1, 8]);
    const fullBeta = tf.tensor2d(model.conditionVector({ mode: 'full', key: 'k' }), [1, 8]);
    // untrained adapter + noisy training forward: both modes must see the same noise draw
    const same = model.forwardModes(x, { training: true, conditions: [protectedBeta, fullBeta] });
    expect(same.xHats.map((t) => t.shape)).toEqual([[2, 64, 64, 3], [2, 64, 64, 3]]);
    expect(maxDiff(same.xHats[0], same.xHats[1])).toBe(0);
    // evaluation forward: each mode equals its own single-condition forward
    perturbProjections(model);
    const both = model.forwardModes(x, { training: false, conditions: [protectedBeta, fullBeta] });
    const single = model.forward(x, { training: false, condition: { mode: 'full', key: 'k' } });
    expect(maxDiff(both.xHats[1], single.xHat)).toBeLessThan(1e-5);
    expect(maxDiff(both.xHats[0], both.xHats[1])).toBeGreaterThan(1e-3);
    expect(both.likelihoods.map((l) => l.shape[0])).toEqual([2, 2]);
    // per-sample conditions: row i of a [batch, D] tensor conditions image i
    const mixed = model.forwardModes(x, { training: false, conditions: [tf.concat([protectedBeta, fullBeta])] });
    expect(maxDiff(tf.slice(mixed.xHats[0], [1], [1]), tf.slice(single.xHat, [1], [1]))).toBeLessThan(1e-5);
  });

  it('trains: gradients reach the MLP and the projections through the hook', () => {
    const model = new ConditionalSynthesis(backbone(), { modes: UGICM_MODES, salt, kdf: FAST_KDF, hidden: 16, conditionDim: 4, seed: 1 });
    perturbProjections(model);
    const x = image();
    const { grads } = tf.variableGrads(() => tf.mean(model.forward(x, { training: true, condition: { mode: 'machine' } }).xHat) as tf.Scalar, model.variables('adapter'));
    expect(Object.keys(grads)).toHaveLength(model.variables('adapter').length);
    for (const g of Object.values(grads)) expect(tf.max(tf.abs(g)).dataSync()[0]).toBeGreaterThan(0);
  });

  it('reports variables by group: the backbone\'s groups plus "adapter"', () => {
    const b = backbone();
    const model = new ConditionalSynthesis(b, { modes: PSIC_MODES, hidden: 16, conditionDim: 4 });
    const names = Object.keys(model.adapterVariables());
    expect(names).toEqual(['cltg.mlp.0.weight', 'cltg.mlp.0.bias', 'cltg.mlp.2.weight', 'cltg.mlp.2.bias', 'cltg.proj.0.weight', 'cltg.proj.1.weight', 'cltg.proj.2.weight', 'cltg.proj.3.weight']);
    expect(model.adapterVariables()['cltg.mlp.0.weight'].shape).toEqual([16, 4 * 21]);
    expect(model.adapterVariables()['cltg.proj.3.weight'].shape).toEqual([3, 16]);
    expect(model.variables('decoder')).toEqual(b.variables('decoder'));
    expect(model.variables()).toHaveLength(b.variables().length + names.length);
    expect(Object.keys(model.namedVariables())).toHaveLength(Object.keys(b.namedVariables()).length + names.length);
  });

  it('is registered as the "cltg" adapter', () => {
    const model = adapters.get('cltg')(backbone(), { modes: UGICM_MODES, hidden: 8, conditionDim: 2 });
    expect(model).toBeInstanceOf(ConditionalSynthesis);
  });
});

describe('model files', () => {
  it('round-trip backbone + adapter in one safetensors file; the sidecar records salt, modes, KDF and never the key', async () => {
    const model = new ConditionalSynthesis(backbone(), { modes: PSIC_MODES, hidden: 16, conditionDim: 4, seed: 2 });
    perturbProjections(model);
    const path = join(dir, 'psic.safetensors');
    const saved = await saveConditionalModel(path, model, { name: 'tiny', recipe: 'psic', target: 'random' });
    const sidecar = JSON.parse(readFileSync(join(dir, 'psic.json'), 'utf8'));
    expect(sidecar).toMatchObject({ name: 'tiny', architecture: 'bmshj2018-hyperprior', config: { N: 8, M: 12 }, recipe: 'psic', adapter: { name: 'cltg', modes: PSIC_MODES, kdf: { N: 32768, r: 8, p: 1 } } });
    expect(sidecar.adapter.salt).toBe(Buffer.from(model.salt).toString('hex'));
    expect(JSON.stringify(sidecar)).not.toMatch(/"key"/);
    await expect(saveConditionalModel(path, model, { key: 'oops' })).rejects.toThrow(/never/);
    expect(Buffer.from(saved.fingerprint)).toEqual(Buffer.from(fingerprintWeights(new Uint8Array(readFileSync(path)))));

    const loaded = await loadConditionalModel(path);
    const yHat = tf.round(model.backbone.analysis(image())) as tf.Tensor4D;
    const fast = { mode: 'protected' } as const;
    expect(maxDiff(loaded.model.decode(yHat, fast), model.decode(yHat, fast))).toBe(0);
    expect(Buffer.from(loaded.fingerprint)).toEqual(Buffer.from(saved.fingerprint));

    // the plain backbone part loads by itself (what @psic/zoo does), then the adapter attaches
    const plain = backbone();
    await loadModuleWeights(path, plain);
    const attached = await attachConditional(plain, path, sidecar);
    for (const [name, v] of Object.entries(model.namedVariables())) expect(Array.from(attached.namedVariables()[name].dataSync()), name).toEqual(Array.from(v.dataSync()));
  });

  it('refuses sidecars with a broken adapter section', async () => {
    const model = new ConditionalSynthesis(backbone(), { modes: PSIC_MODES, hidden: 8, conditionDim: 2 });
    const path = join(dir, 'bad.safetensors');
    await saveConditionalModel(path, model);
    const sidecar = JSON.parse(readFileSync(join(dir, 'bad.json'), 'utf8'));
    for (const broken of [{ salt: 'zz' }, { kdf: { algorithm: 'scrypt', N: 1 << 24, r: 8, p: 1 } }, { modes: [{ name: 'full', keyed: true, default: true }] }, { version: 2 }]) {
      writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ...sidecar, adapter: { ...sidecar.adapter, ...broken } }));
      await expect(loadConditionalModel(path)).rejects.toMatchObject({ code: 'BAD_WEIGHTS' });
    }
  });
});

describe('key files', () => {
  it('strip one trailing newline, refuse empty ones, and are created 0600 without overwriting', async () => {
    writeFileSync(join(dir, 'k1'), 'secret\r\n');
    expect(new TextDecoder().decode(await readKeyFile(join(dir, 'k1')))).toBe('secret');
    writeFileSync(join(dir, 'k2'), '\n');
    await expect(readKeyFile(join(dir, 'k2'))).rejects.toMatchObject({ code: 'BAD_KEY' });
    await expect(readKeyFile(join(dir, 'missing'))).rejects.toMatchObject({ code: 'BAD_KEY' });
    const made = await createKeyFile(join(dir, 'k3'));
    expect(made).toHaveLength(64);
    expect(Buffer.from(await readKeyFile(join(dir, 'k3')))).toEqual(Buffer.from(made));
    await expect(createKeyFile(join(dir, 'k3'))).rejects.toMatchObject({ code: 'BAD_KEY' });
  });
});

function maxDiffArrays(a: Float32Array, b: Float32Array): number {
  return Math.max(...a.map((v, i) => Math.abs(v - b[i])));
}
