import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../src/backend.js';
import { Conv2d, ConvTranspose2d, GDN, Sequential } from '../src/layers.js';
import {
  assignWeights,
  collectWeights,
  fingerprintWeights,
  loadModuleWeights,
  readSafetensors,
  readSidecar,
  saveModuleWeights,
  sidecarPath,
  writeSafetensors,
  writeSidecar,
} from '../src/safetensors.js';

let dir: string;

beforeAll(async () => {
  await selectBackend('cpu', { log: () => {} });
  dir = await mkdtemp(join(tmpdir(), 'psic-core-weights-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function makeNet(seed: number): Sequential {
  return new Sequential('g_s', [new ConvTranspose2d(4, 3, 5, 2, { seed }), new GDN(3, { inverse: true }), new Conv2d(3, 2, 3, 1, { seed: seed + 10 })]);
}

async function expectCode(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a rejection').toBeDefined();
  expect((err as { code?: string }).code).toBe(code);
  expect((err as Error).message).toMatch(message);
}

describe('fingerprint and sidecar', () => {
  it('fingerprints with the first 8 bytes of SHA-256', () => {
    const bytes = Uint8Array.of(1, 2, 3);
    const sha = createHash('sha256').update(bytes).digest();
    expect(fingerprintWeights(bytes)).toEqual(new Uint8Array(sha.subarray(0, 8)));
  });

  it('pairs model.safetensors with model.json', () => {
    expect(sidecarPath('/m/model.safetensors')).toBe('/m/model.json');
    expect(sidecarPath('/m/weights.bin')).toBe('/m/weights.bin.json');
  });

  it('writes atomically (no temp file left) and reads back; rejects bad JSON and non-objects', async () => {
    const p = join(dir, 'side.json');
    await writeSidecar(p, { config: { N: 16 }, psnr: 30.5 });
    expect(await readSidecar(p)).toEqual({ config: { N: 16 }, psnr: 30.5 });
    expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    await writeFile(join(dir, 'broken.json'), '{"a":');
    await expectCode(readSidecar(join(dir, 'broken.json')), 'BAD_WEIGHTS', /not valid JSON/);
    await writeFile(join(dir, 'array.json'), '[1]');
    await expectCode(readSidecar(join(dir, 'array.json')), 'BAD_WEIGHTS', /JSON object/);
    await expectCode(readSidecar(join(dir, 'missing.json')), 'BAD_WEIGHTS', /cannot read/);
  });
});

describe('module weights', () => {
  it('collects weights in PyTorch layout under CompressAI names', () => {
    const net = makeNet(1);
    const w = collectWeights(net);
    expect([...w.keys()]).toEqual(['g_s.0.weight', 'g_s.0.bias', 'g_s.1.beta', 'g_s.1.gamma', 'g_s.2.weight', 'g_s.2.bias']);
    expect(w.get('g_s.0.weight')!.shape).toEqual([4, 3, 5, 5]); // ConvTranspose2d: [in, out, kh, kw]
    expect(w.get('g_s.2.weight')!.shape).toEqual([2, 3, 3, 3]); // Conv2d: [out, in, kh, kw]
    net.dispose();
  });

  it('save -> load reproduces the outputs exactly, and the sidecar carries the fingerprint', async () => {
    const a = makeNet(1);
    const b = makeNet(2);
    const x = tf.randomUniform([1, 4, 4, 4], 0, 1, 'float32', 3) as tf.Tensor4D;
    const path = join(dir, 'net.safetensors');
    const saved = await saveModuleWeights(path, a, { config: { N: 4 }, step: 100 });
    expect(existsSync(join(dir, 'net.json'))).toBe(true);
    expect(Array.from(a.apply(x).dataSync())).not.toEqual(Array.from(b.apply(x).dataSync()));

    const loaded = await loadModuleWeights(path, b);
    expect(loaded.fingerprint).toEqual(saved.fingerprint);
    expect(loaded.sidecar).toMatchObject({ config: { N: 4 }, step: 100, weights: 'net.safetensors' });
    expect(loaded.sidecar!.fingerprint).toBe(Buffer.from(saved.fingerprint).toString('hex'));
    expect(loaded.unusedKeys).toEqual([]);
    expect(Array.from(b.apply(x).dataSync())).toEqual(Array.from(a.apply(x).dataSync()));
    // Same weights, same bytes, same fingerprint.
    expect((await saveModuleWeights(join(dir, 'again.safetensors'), b)).fingerprint).toEqual(saved.fingerprint);
    tf.dispose(x);
    a.dispose();
    b.dispose();
  });

  it('names the key that is missing or has the wrong shape, and assigns nothing then', () => {
    const net = makeNet(1);
    const before = Array.from(net.namedVariables()['g_s.0.weight'].dataSync());
    const tensors = collectWeights(makeNet(5));
    tensors.delete('g_s.2.bias');
    expect(() => assignWeights(net, tensors)).toThrow(/no tensor "g_s\.2\.bias"/);
    expect(Array.from(net.namedVariables()['g_s.0.weight'].dataSync())).toEqual(before);

    const wrong = collectWeights(makeNet(5));
    wrong.set('g_s.1.gamma', { dtype: 'F32', shape: [4, 4], data: new Float32Array(16) });
    expect(() => assignWeights(net, wrong)).toThrow(/"g_s\.1\.gamma" has shape \[4,4\], the model expects \[3,3\]/);

    const ints = collectWeights(makeNet(5));
    ints.set('g_s.1.beta', { dtype: 'I32', shape: [3], data: new Int32Array(3) });
    expect(() => assignWeights(net, ints)).toThrow(/"g_s\.1\.beta" is I32/);
    expect(Array.from(net.namedVariables()['g_s.0.weight'].dataSync())).toEqual(before);
    net.dispose();
  });

  it('reports unused keys (e.g. CompressAI buffers) without failing', () => {
    const net = makeNet(1);
    const tensors = collectWeights(makeNet(5));
    tensors.set('g_s.1.beta_reparam.pedestal', { dtype: 'F32', shape: [1], data: Float32Array.of(2 ** -36) });
    expect(assignWeights(net, tensors).unusedKeys).toEqual(['g_s.1.beta_reparam.pedestal']);
    net.dispose();
  });

  it('partial: copies the tensors whose name and shape match, leaves and lists the rest', () => {
    const net = makeNet(1);
    const source = makeNet(5);
    const tensors = collectWeights(source);
    tensors.delete('g_s.2.bias');
    tensors.set('g_s.1.gamma', { dtype: 'F32', shape: [4, 4], data: new Float32Array(16) });
    const keptBias = Array.from(net.namedVariables()['g_s.2.bias'].dataSync());
    const keptGamma = Array.from(net.namedVariables()['g_s.1.gamma'].dataSync());
    const { missing } = assignWeights(net, tensors, { partial: true });
    expect(missing.sort()).toEqual(['g_s.1.gamma', 'g_s.2.bias']);
    expect(Array.from(net.namedVariables()['g_s.2.bias'].dataSync())).toEqual(keptBias);
    expect(Array.from(net.namedVariables()['g_s.1.gamma'].dataSync())).toEqual(keptGamma);
    expect(Array.from(net.namedVariables()['g_s.0.weight'].dataSync())).toEqual(Array.from(source.namedVariables()['g_s.0.weight'].dataSync()));
    net.dispose();
    source.dispose();
  });

  it('refuses a weight file that does not match its sidecar fingerprint', async () => {
    const net = makeNet(1);
    const path = join(dir, 'pair.safetensors');
    await saveModuleWeights(path, net, {});
    const other = writeSafetensors(collectWeights(makeNet(7)), { format: 'pt' });
    await writeFile(path, other);
    await expectCode(loadModuleWeights(path, net), 'BAD_WEIGHTS', /does not match its sidecar/);
    net.dispose();
  });

  it('loads a file without a sidecar unless one is required; corrupt files are BAD_WEIGHTS', async () => {
    const net = makeNet(1);
    const path = join(dir, 'bare.safetensors');
    await writeFile(path, writeSafetensors(collectWeights(makeNet(3))));
    expect((await loadModuleWeights(path, net)).sidecar).toBeUndefined();
    await expectCode(loadModuleWeights(path, net, { requireSidecar: true }), 'BAD_WEIGHTS', /no sidecar/);
    const corrupt = join(dir, 'corrupt.safetensors');
    const bytes = new Uint8Array(await readFile(path));
    await writeFile(corrupt, bytes.subarray(0, bytes.length - 3));
    await expectCode(loadModuleWeights(corrupt, net), 'BAD_WEIGHTS', /safetensors:/);
    await expectCode(loadModuleWeights(join(dir, 'absent.safetensors'), net), 'BAD_WEIGHTS', /cannot read/);
    expect(readSafetensors(bytes).tensors.size).toBe(6);
    net.dispose();
  });
});
