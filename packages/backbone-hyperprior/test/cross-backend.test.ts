/**
 * The entropy path must be bit-exact across tensor backends: a stream encoded
 * on wasm decodes on cpu to the very same y-hat (and the reverse), because
 * the CDF indexes and means come from the fixed-point hyper-synthesis, never
 * from a backend's float convolutions.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeLatent, encodeImage, paddedSize, padReplicate, selectBackend, synthesizeImage } from '@psic/core';
import { Hyperprior, type HyperpriorArchitecture } from '../src/index.js';

beforeAll(async () => {
  await selectBackend('cpu', { log: () => {} });
  await selectBackend('wasm', { log: () => {} });
});

function textureImage(h: number, w: number): tf.Tensor4D {
  const data = new Float32Array(h * w * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = 0.5 + 0.3 * Math.sin(0.21 * x + 0.13 * y + 2 * c) * Math.cos(0.07 * y - 0.17 * x) + 0.1 * Math.sin(1.3 * x * y);
  return tf.tensor4d(data, [1, h, w, 3]);
}

/** Random weights behave like a trained codec after a few edits (as CompressAI's golden fixtures do): y spans several bins, scales spread over the table. */
function codecLike(architecture: HyperpriorArchitecture): Hyperprior {
  const model = new Hyperprior({ N: 16, M: 24, architecture });
  const v = model.namedVariables();
  const scale = (name: string, f: number, add = 0) => v[name].assign(tf.add(tf.mul(v[name], f), add));
  scale('g_a.6.weight', 24);
  scale('g_a.6.bias', 24);
  scale('h_a.4.weight', 4);
  scale('h_s.4.weight', 30);
  scale('h_s.4.bias', 1, 3);
  model.updateCoding();
  return model;
}

async function encodeOn(backend: string, model: Hyperprior, x: tf.Tensor4D): Promise<Uint8Array[]> {
  await tf.setBackend(backend);
  return model.compress(x);
}

async function decodeOn(backend: string, model: Hyperprior, sections: Uint8Array[], h: number, w: number): Promise<Float32Array> {
  await tf.setBackend(backend);
  const yHat = await model.decompress(sections, { height: h, width: w });
  const data = yHat.dataSync() as Float32Array;
  yHat.dispose();
  return data;
}

describe.each(['bmshj2018-hyperprior', 'mbt2018-mean'] as HyperpriorArchitecture[])('%s across backends', (architecture) => {
  it('encode on wasm, decode on cpu and on wasm: identical y-hat; and the reverse', async () => {
    await tf.setBackend('wasm');
    const model = codecLike(architecture);
    const x = textureImage(128, 192);
    const streamWasm = await encodeOn('wasm', model, x);
    const streamCpu = await encodeOn('cpu', model, x);
    for (const stream of [streamWasm, streamCpu]) {
      const onCpu = await decodeOn('cpu', model, stream, 128, 192);
      const onWasm = await decodeOn('wasm', model, stream, 128, 192);
      expect(onCpu.length).toBe((128 / 16) * (192 / 16) * 24);
      expect(Buffer.from(onCpu.buffer).equals(Buffer.from(onWasm.buffer))).toBe(true);
      // the latents really use the entropy model: several distinct symbols
      expect(new Set(Array.from(onCpu).map(Math.round)).size).toBeGreaterThan(3);
    }
    model.dispose();
  });

  it('decode(encode(x)) gives the y-hat of forward() for an odd-sized image (padded, cropped back)', async () => {
    await tf.setBackend('cpu');
    const model = codecLike(architecture);
    const codec = { backbone: model, fingerprint: new Uint8Array(8).fill(7) };
    const [h, w] = [61, 97];
    const full = textureImage(h, w);
    const img = { height: h, width: w, data: full.dataSync() as Float32Array };
    const bytes = await encodeImage(codec, img);
    const { yHat, height, width } = await decodeLatent(codec, bytes);
    expect([height, width]).toEqual([h, w]);
    const x = tf.tensor4d(padReplicate(img.data, h, w, 3, paddedSize(h), paddedSize(w)), [1, paddedSize(h), paddedSize(w), 3]);
    // forward() in evaluation mode quantizes y exactly as the coder does (rounding around the means)
    // forward() in evaluation mode reconstructs from exactly the y-hat the decoder gets
    const { xHat } = model.forward(x, { training: false });
    const decodedImage = model.synthesis(yHat);
    expect(Buffer.from(xHat.dataSync().buffer).equals(Buffer.from(decodedImage.dataSync().buffer))).toBe(true);
    const y = tf.tidy(() => model.analysis(x));
    const yData = y.dataSync();
    const decoded = yHat.dataSync();
    if (architecture === 'bmshj2018-hyperprior') {
      expect(Array.from(decoded)).toEqual(Array.from(yData).map((v) => Math.round(v) + 0));
    } else {
      for (let i = 0; i < yData.length; i++) expect(Math.abs(decoded[i] - yData[i])).toBeLessThanOrEqual(0.5 + 1e-5);
    }
    const out = synthesizeImage(codec, yHat, h, w);
    expect(out.data.length).toBe(h * w * 3);
    tf.dispose([x, y, xHat, yHat, full, decodedImage]);
    model.dispose();
  });
});
