/**
 * The onnxruntime path against tfjs: the shipped models' transforms agree
 * within 1e-4 on a small photo crop, streams made with --runtime onnx decode
 * with --runtime tfjs to the same y-hat (and the reverse) through the built
 * `psic` binary, and `psic export` writes graphs onnxruntime loads.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage, decodeLatent, encodeImage, floatToBytes, paddedSize, padReplicate, readImage, readImageRgb8, selectBackend, type RgbImage } from '@psic/core';
import { OnnxRunner, withOnnxRuntime } from '@psic/onnx';
import { loadModel, QUALITY_MODELS } from '@psic/zoo';
import { runCli } from './run-cli.js';

const KODAK = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../../shared/data/photos');
let dir: string;
let photo: string;
let crop: RgbImage;
const runner = new OnnxRunner({ threads: 1 });

const psic = (...args: string[]) => runCli(args, { PSIC_BACKEND: 'wasm', PSIC_RUNTIME: '' });

beforeAll(async () => {
  await selectBackend('wasm', { log: () => {} });
  dir = mkdtempSync(join(tmpdir(), 'psic-runtime-'));
  // A 100 x 136 crop of a Kodak photo (odd size: padded to 128 x 192).
  photo = join(dir, 'crop.png');
  await sharp(join(KODAK, 'kodim23.png')).extract({ left: 300, top: 150, width: 136, height: 100 }).png().toFile(photo);
  crop = await readImage(photo);
});

afterAll(async () => {
  await runner.dispose();
  rmSync(dir, { recursive: true, force: true });
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

describe.each(QUALITY_MODELS)('shipped model %s on onnxruntime', (name) => {
  it('g_a and the unclipped g_s output match tfjs within 1e-4', async () => {
    const model = await loadModel(name);
    const fast = withOnnxRuntime(model, { runner });
    const ph = paddedSize(crop.height);
    const pw = paddedSize(crop.width);
    const x = tf.tensor4d(padReplicate(crop.data, crop.height, crop.width, 3, ph, pw), [1, ph, pw, 3]);
    const yOrt = await fast.runtime.transforms.analysis({ data: x.dataSync() as Float32Array, dims: [1, ph, pw, 3] });
    const yTf = model.backbone.analysis(x);
    expect(maxAbsDiff(yOrt.data, yTf.dataSync())).toBeLessThan(1e-4);

    const { yHat } = await decodeLatent(model, await encodeImage(model, crop));
    const xOrt = await fast.runtime.transforms.synthesis({ data: yHat.dataSync() as Float32Array, dims: yHat.shape as [number, number, number, number] });
    const xTf = model.backbone.synthesis(yHat);
    expect(xOrt.dims).toEqual(xTf.shape);
    const diff = maxAbsDiff(xOrt.data, xTf.dataSync());
    expect(diff).toBeLessThan(1e-4);
    tf.dispose([x, yTf, yHat, xTf]);
    model.backbone.dispose?.();
  });
});

describe('psic --runtime', () => {
  it('a stream made on either runtime decodes on the other to the same y-hat', { timeout: 180_000 }, async () => {
    const model = await loadModel(QUALITY_MODELS[0]);
    const fast = withOnnxRuntime(model, { runner });
    for (const [madeBy, readBy] of [
      ['onnx', 'tfjs'],
      ['tfjs', 'onnx'],
    ]) {
      const stream = join(dir, `${madeBy}.psic`);
      const enc = await psic('encode', photo, stream, '-q', '1', '--runtime', madeBy, '--threads', '1', '--json');
      expect(enc.code, enc.stderr).toBe(0);
      expect(JSON.parse(enc.stdout).runtime).toBe(madeBy);
      const png = join(dir, `${madeBy}-read-by-${readBy}.png`);
      const dec = await psic('decode', stream, png, '-q', '1', '--runtime', readBy, '--json');
      expect(dec.code, dec.stderr).toBe(0);
      expect(JSON.parse(dec.stdout)).toMatchObject({ runtime: readBy, width: 136, height: 100 });

      // The y-hat is what the stream says: both runtimes' decoders start from the same one,
      // and the float syntheses agree within 1e-4, so 8-bit pixels differ by one level at most, rarely.
      const bytes = new Uint8Array(readFileSync(stream));
      const { yHat } = await decodeLatent(model, bytes);
      expect(yHat.dataSync().some((v) => v !== 0)).toBe(true);
      yHat.dispose();
      const other = await decodeImage(readBy === 'onnx' ? model : fast, bytes);
      const a = (await readImageRgb8(png)).rgb;
      const b = floatToBytes(other.data);
      let differing = 0;
      for (let i = 0; i < a.length; i++) {
        expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(1);
        if (a[i] !== b[i]) differing++;
      }
      expect(differing).toBeLessThan(a.length * 0.01);
    }
    model.backbone.dispose?.();
  });

  it('rejects an unknown runtime as a usage error', { timeout: 120_000 }, async () => {
    const bad = await psic('encode', photo, join(dir, 'x.psic'), '--runtime', 'gpu');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^psic: USAGE: --runtime takes onnx or tfjs/m);
    expect((await psic('eval', '--data', dir, '--runtime', 'gpu')).code).toBe(2);
  });
});

describe('psic export', () => {
  it('writes the ONNX graphs and a manifest, and the graphs load in onnxruntime', { timeout: 120_000 }, async () => {
    const out = join(dir, 'export');
    const r = await psic('export', '--format', 'onnx', '-q', '1', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    const shipped = JSON.parse(readFileSync(join(fileURLToPath(new URL('.', import.meta.url)), '../../../packages/zoo/models/hyperprior-q1.json'), 'utf8'));
    expect(manifest).toMatchObject({ format: 'psic-onnx', model: 'hyperprior-q1', backbone: 'bmshj2018-hyperprior', fingerprint: shipped.fingerprint });
    expect(JSON.parse(r.stdout).fingerprint).toBe(shipped.fingerprint);
    for (const g of manifest.graphs) {
      const session = await runner.session(`export:${g.file}`, () => new Uint8Array(readFileSync(join(out, g.file))));
      expect(session.inputNames[0]).toBe(g.input);
      expect(session.outputNames).toEqual([g.output]);
    }
    expect(manifest.graphs.map((g: { name: string }) => g.name)).toContain('synthesis');
  });

  it('refuses another format', async () => {
    const r = await psic('export', '--format', 'tflite', join(dir, 'nope'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--format takes onnx/);
  });
});
