/**
 * Exported graphs load in onnxruntime and compute what the tfjs layers
 * compute: g_a, h_a (with |y|), float h_s, g_s, for every way a transposed
 * convolution can go out, on an odd latent size; the block-bias hook adds
 * graph inputs; unknown layers and backbones fail with typed errors; the
 * export writes graphs and a manifest.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stateless, selectBackend, type LicBackbone } from '@psic/core';
import {
  GraphBuilder,
  OnnxRunner,
  analysisGraph,
  blockBiasInput,
  blockBiasInputs,
  describeTransforms,
  exportModule,
  exportTransforms,
  hyperAnalysisGraph,
  hyperSynthesisGraph,
  synthesisGraph,
  writeOnnxExport,
  type LayerExportContext,
} from '../src/index.js';
import { TinyBackbone, maxAbsDiff, picture, seeded } from './helpers.js';

let model: TinyBackbone;
const runner = new OnnxRunner({ threads: 1 });

beforeAll(async () => {
  await selectBackend('cpu', { log: () => {} });
  model = new TinyBackbone();
});

afterAll(async () => {
  await runner.dispose();
  model.dispose();
});

async function runGraph(bytes: Uint8Array, feeds: Record<string, { data: Float32Array; dims: number[] }>) {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: 1 });
  try {
    const inputs = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float32', v.data, v.dims)]));
    const out = await session.run(inputs);
    return out[session.outputNames[0]];
  } finally {
    await session.release();
  }
}

const H = 80; // not a multiple of 64: latents 5 x 7
const W = 112;

describe('exported transforms on onnxruntime', () => {
  it('g_a and h_a match tfjs', async () => {
    const t = describeTransforms(model);
    const x = picture(H, W);
    const y = await runGraph(analysisGraph(t).toBytes(), { x: { data: x, dims: [1, H, W, 3] } });
    const yRef = tf.tidy(() => model.analysis(tf.tensor4d(x, [1, H, W, 3])));
    expect(y.dims).toEqual(yRef.shape);
    expect(maxAbsDiff(y.data as Float32Array, yRef.dataSync())).toBeLessThan(1e-4);
    // latents wide enough that the comparison means something
    expect(Math.max(...(yRef.dataSync() as Float32Array).map(Math.abs))).toBeGreaterThan(1);

    const z = await runGraph(hyperAnalysisGraph(t).toBytes(), { y: { data: yRef.dataSync() as Float32Array, dims: yRef.shape } });
    const zRef = tf.tidy(() => model.h_a.apply(tf.abs(yRef)));
    expect(z.dims).toEqual(zRef.shape);
    expect(maxAbsDiff(z.data as Float32Array, zRef.dataSync())).toBeLessThan(1e-4);
    tf.dispose([yRef, zRef]);
  });

  for (const deconv of ['phases-split', 'phases', 'ConvTranspose'] as const) {
    it(`g_s and float h_s match tfjs with deconv = ${deconv}`, async () => {
      const t = describeTransforms(model);
      const dims: [number, number, number, number] = [1, 5, 7, model.config.M];
      const yHat = seeded(5 * 7 * model.config.M, 9).map((v) => Math.round(v * 6));
      const xHat = await runGraph(synthesisGraph(t, { deconv }).toBytes(), { y_hat: { data: yHat, dims } });
      const ref = tf.tidy(() => model.synthesis(tf.tensor4d(yHat, dims)));
      expect(xHat.dims).toEqual([1, 80, 112, 3]);
      expect(maxAbsDiff(xHat.data as Float32Array, ref.dataSync())).toBeLessThan(1e-4);

      const zDims: [number, number, number, number] = [1, 3, 2, model.config.N];
      const z = seeded(6 * model.config.N, 4).map((v) => Math.round(v * 4));
      const params = await runGraph(hyperSynthesisGraph(t, { deconv }).toBytes(), { z_hat: { data: z, dims: zDims } });
      const pRef = tf.tidy(() => model.h_s.apply(tf.tensor4d(z, zDims)));
      expect(params.dims).toEqual(pRef.shape);
      expect(maxAbsDiff(params.data as Float32Array, pRef.dataSync())).toBeLessThan(1e-4);
      tf.dispose([ref, pRef]);
    });
  }

  it('a partial range of synthesis blocks reads and writes the features between blocks', async () => {
    const t = describeTransforms(model);
    const feats = seeded(10 * 14 * 8, 5);
    const dims: [number, number, number, number] = [1, 10, 14, 8];
    const g = synthesisGraph(t, { from: 1, to: 3 });
    const out = await runGraph(g.toBytes(), { block0: { data: feats, dims } });
    const ref = tf.tidy(() => model.g_sBlocks[2].apply(model.g_sBlocks[1].apply(tf.tensor4d(feats, dims))));
    expect(out.dims).toEqual([1, 40, 56, 8]);
    expect(maxAbsDiff(out.data as Float32Array, ref.dataSync())).toBeLessThan(1e-4);
    ref.dispose();
    expect(() => synthesisGraph(t, { from: 2, to: 2 })).toThrow(RangeError);
  });

  it('the block-bias hook adds one graph input per block, equal to a tfjs hook adding the same biases', async () => {
    const t = describeTransforms(model);
    const dims: [number, number, number, number] = [1, 2, 3, model.config.M];
    const yHat = seeded(6 * model.config.M, 2).map((v) => Math.round(v * 5));
    const biases = model.synthesisBlocks.map((b, i) => seeded(b.channels, 20 + i).map((v) => v * 0.5));
    const session = await ort.InferenceSession.create(synthesisGraph(t, { hook: blockBiasInputs }).toBytes());
    expect(session.inputNames).toEqual(['y_hat', ...biases.map((_, i) => blockBiasInput(i))]);
    const feeds: Record<string, ort.Tensor> = { y_hat: new ort.Tensor('float32', yHat, dims) };
    biases.forEach((b, i) => (feeds[blockBiasInput(i)] = new ort.Tensor('float32', b, [1, b.length, 1, 1])));
    const out = (await session.run(feeds)).x_hat;
    await session.release();
    const ref = tf.tidy(() => model.synthesis(tf.tensor4d(yHat, dims), (i, f) => tf.add(f, tf.tensor1d(biases[i]))));
    const plain = tf.tidy(() => model.synthesis(tf.tensor4d(yHat, dims)));
    expect(maxAbsDiff(out.data as Float32Array, ref.dataSync())).toBeLessThan(1e-4);
    expect(maxAbsDiff(out.data as Float32Array, plain.dataSync())).toBeGreaterThan(1e-2); // the biases did something
    tf.dispose([ref, plain]);
  });
});

describe('export errors', () => {
  it('a layer without an exporter is a typed error naming it', () => {
    class Mystery extends Stateless {
      apply(x: tf.Tensor4D): tf.Tensor4D {
        return x;
      }
    }
    const ctx: LayerExportContext = { graph: new GraphBuilder('g'), name: 'g_a.9' };
    expect(() => exportModule(new Mystery(), 'x', ctx)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_LAYER', message: expect.stringContaining('Mystery') }));
  });

  it('a backbone without the known transforms is a typed error', () => {
    const odd = { name: 'odd', config: {}, synthesisBlocks: [] } as unknown as LicBackbone;
    expect(() => describeTransforms(odd)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_BACKBONE' }));
  });
});

describe('writeOnnxExport', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'psic-onnx-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes each graph and a manifest that names them, their I/O and the weights', async () => {
    const manifest = await writeOnnxExport(dir, model, { model: 'tiny', fingerprint: '0123456789abcdef' }, { blockBiases: true });
    expect(manifest.graphs.map((g) => g.name)).toEqual(['analysis', 'hyper_analysis', 'hyper_synthesis', 'synthesis', 'synthesis_biased']);
    const onDisk = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(onDisk).toEqual(JSON.parse(JSON.stringify(manifest)));
    expect(onDisk).toMatchObject({ format: 'psic-onnx', model: 'tiny', fingerprint: '0123456789abcdef', layout: 'NHWC', opset: 17 });
    for (const g of manifest.graphs) {
      const bytes = readFileSync(join(dir, g.file));
      expect(bytes.length).toBe(g.bytes);
      const session = await ort.InferenceSession.create(new Uint8Array(bytes));
      expect(session.inputNames[0]).toBe(g.input);
      expect(session.outputNames).toEqual([g.output]);
      await session.release();
    }
    // in memory the same bytes
    const again = exportTransforms(model, { metadata: { model: 'tiny', fingerprint: '0123456789abcdef' } });
    expect(Buffer.compare(Buffer.from(again[0].bytes), readFileSync(join(dir, 'analysis.onnx')))).toBe(0);
  });
});
