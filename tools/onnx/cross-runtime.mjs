#!/usr/bin/env node
/**
 * Cross-runtime check over a folder of photos (default ../shared/data/photos,
 * the 24 Kodak images) with the shipped models: every image is encoded with
 * the onnxruntime transforms and with the tfjs ones, and each stream is
 * decoded with both. Checked per stream:
 *   - the y-hat decoded on the onnx path and on the tfjs path are identical
 *     (the entropy path is TypeScript integer code either way), and both
 *     equal the encoder's own quantised y (round half to even of its g_a
 *     output: the scale hyperprior codes y with zero means), i.e. the stream
 *     decodes bit-exactly to what its encoder meant, whichever runtime reads it;
 *   - the two decoded images (float) differ by at most --tolerance (1e-4),
 *     and how many 8-bit PNG values differ.
 * Also reported: whether the onnx-made and tfjs-made streams are byte-identical
 * (they may differ where the two g_a round a value differently).
 *
 *   npm run build && node tools/onnx/cross-runtime.mjs [--data DIR] [--models hyperprior-q1,hyperprior-q2] [--tolerance 1e-4]
 *
 * One JSON line per image and model, then a summary line; exit status 1 if a
 * check fails.
 */
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { decodeImage, decodeLatent, encodeImage, floatToBytes, listImages, paddedSize, padReplicate, readImage, selectBackend } from '@psic/core';
import { roundHalfEven } from '@psic/entropy';
import { OnnxRunner, withOnnxRuntime } from '@psic/onnx';
import { loadModel } from '@psic/zoo';

const here = fileURLToPath(new URL('.', import.meta.url));
const { values } = parseArgs({
  options: {
    data: { type: 'string', default: resolve(here, '../../../shared/data/photos') },
    models: { type: 'string', default: 'hyperprior-q1,hyperprior-q2' },
    tolerance: { type: 'string', default: '1e-4' },
  },
});
const tolerance = Number(values.tolerance);

await selectBackend('auto');
const runner = new OnnxRunner();
const files = await listImages(values.data);
const summary = { bench: 'cross-runtime', images: files.length, models: values.models.split(','), streams: 0, yhat_identical: 0, yhat_equals_encoder: 0, same_stream_bytes: 0, max_abs_diff: 0, png_values_differing: 0, png_values: 0, failures: [] };

for (const name of values.models.split(',')) {
  const tfjsModel = await loadModel(name);
  const onnxModel = withOnnxRuntime(tfjsModel, { runner });
  for (const file of files) {
    const img = await readImage(file);
    const x = tf.tensor4d(padReplicate(img.data, img.height, img.width, 3, paddedSize(img.height), paddedSize(img.width)), [1, paddedSize(img.height), paddedSize(img.width), 3]);
    // What each encoder quantises: its own g_a output, rounded half to even.
    const encoderY = {
      onnx: (await onnxModel.runtime.transforms.analysis({ data: x.dataSync(), dims: x.shape })).data.map(roundHalfEven),
      tfjs: tf.tidy(() => tfjsModel.backbone.analysis(x)).dataSync().map(roundHalfEven),
    };
    x.dispose();
    const streams = { onnx: await encodeImage(onnxModel, img), tfjs: await encodeImage(tfjsModel, img) };
    const row = { image: basename(file), model: name, same_stream_bytes: Buffer.compare(Buffer.from(streams.onnx), Buffer.from(streams.tfjs)) === 0 };
    for (const [madeBy, bytes] of Object.entries(streams)) {
      const a = await decodeLatent(onnxModel, bytes);
      const b = await decodeLatent(tfjsModel, bytes);
      const ya = a.yHat.dataSync();
      const yb = b.yHat.dataSync();
      tf.dispose([a.yHat, b.yHat]);
      const identical = ya.length === yb.length && ya.every((v, i) => v === yb[i]);
      const enc = encoderY[madeBy];
      const equalsEncoder = tfjsModel.backbone.name !== 'bmshj2018-hyperprior' ? null : ya.length === enc.length && ya.every((v, i) => v === enc[i]);
      const imgOnnx = await decodeImage(onnxModel, bytes);
      const imgTfjs = await decodeImage(tfjsModel, bytes);
      let maxDiff = 0;
      for (let i = 0; i < imgOnnx.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(imgOnnx.data[i] - imgTfjs.data[i]));
      const p = floatToBytes(imgOnnx.data);
      const q = floatToBytes(imgTfjs.data);
      let pngDiff = 0;
      for (let i = 0; i < p.length; i++) if (p[i] !== q[i]) pngDiff++;
      Object.assign(row, { [`${madeBy}_stream`]: { bytes: bytes.length, yhat_identical: identical, yhat_equals_encoder: equalsEncoder, max_abs_diff: +maxDiff.toExponential(2), png_values_differing: pngDiff } });
      summary.streams++;
      if (identical) summary.yhat_identical++;
      if (equalsEncoder) summary.yhat_equals_encoder++;
      summary.max_abs_diff = Math.max(summary.max_abs_diff, maxDiff);
      summary.png_values_differing += pngDiff;
      summary.png_values += p.length;
      if (!identical || equalsEncoder === false || !(maxDiff <= tolerance)) summary.failures.push(`${name} ${basename(file)} (${madeBy} stream)`);
    }
    if (row.same_stream_bytes) summary.same_stream_bytes++;
    process.stdout.write(`${JSON.stringify(row)}\n`);
  }
}
await runner.dispose();
summary.max_abs_diff = +summary.max_abs_diff.toExponential(2);
process.stdout.write(`${JSON.stringify(summary)}\n`);
if (summary.failures.length) process.exitCode = 1;
