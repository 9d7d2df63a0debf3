#!/usr/bin/env node
/**
 * How the in-house model (trained on 32-pixel CIFAR-10) reads larger real
 * photos: the ImageNet samples (../shared/data/imagenet-samples, short side
 * 256) of the ImageNet classes that belong to a CIFAR-10 class, classified
 * zero-shot with the held-out templates.
 *
 *   node tools/vlp/inhouse-imagenet-check.mjs [--weights path] [--backend wasm]
 *
 * Two ways in: "asShipped" (embedImages on the full-size photo: centre
 * square, antialiased shrink to 32x32 -- config.image.resolution -- then up
 * to the 64-pixel input, as the training images were made) and "fullDetail"
 * (the centre square shrunk straight to 64x64 and fed to the image tower),
 * which tells whether 64-pixel detail helps or hurts a model that only saw
 * upsampled 32-pixel images. ImageNet-1k has no deer class, so 9 classes.
 * Prints one JSON line.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { readImageRgb8, selectBackend } from '@psic/core';
import { CIFAR10_CLASSES, CIFAR10_HELD_OUT_TEMPLATES, loadInhouseTarget, readPromptSet, resizeToSquare, splitTemplates, zeroShotClassifier } from '@psic/vlp';

const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
/** ImageNet-1k class index -> CIFAR-10 class (CIFAR's automobile excludes pickups, its truck means big trucks). */
const IMAGENET_TO_CIFAR = new Map([
  ...[404, 895].map((i) => [i, 'airplane']),
  ...[436, 468, 511, 609, 627, 656, 661, 751, 817].map((i) => [i, 'automobile']),
  ...[...range(7, 24), ...range(80, 100), ...range(127, 146)].map((i) => [i, 'bird']),
  ...range(281, 285).map((i) => [i, 'cat']),
  ...range(151, 268).map((i) => [i, 'dog']),
  ...range(30, 32).map((i) => [i, 'frog']),
  [339, 'horse'],
  ...[403, 484, 510, 554, 576, 625, 628, 724, 780, 871, 914].map((i) => [i, 'ship']),
  ...[555, 569, 675, 864, 867].map((i) => [i, 'truck']),
]);

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const folder = resolve(root, '..', 'shared', 'data', 'imagenet-samples');

await selectBackend(option('backend', 'wasm'));
const model = await loadInhouseTarget(option('weights', undefined));
const prompts = await readPromptSet('CIFAR10');
const classifier = zeroShotClassifier(model, prompts.classes, splitTemplates(prompts.templates, CIFAR10_HELD_OUT_TEMPLATES).heldOut);
const labels = JSON.parse(await readFile(join(folder, 'labels.json'), 'utf8'));
const picked = Object.entries(labels)
  .filter(([, v]) => IMAGENET_TO_CIFAR.has(v.classIndex))
  .map(([file, v]) => ({ file, label: CIFAR10_CLASSES.indexOf(IMAGENET_TO_CIFAR.get(v.classIndex)) }));

const hits = { asShipped: new Array(10).fill(0), fullDetail: new Array(10).fill(0) };
const counts = new Array(10).fill(0);
for (const { file, label } of picked) {
  const img = await readImageRgb8(join(folder, file));
  const [asShipped, fullDetail] = tf.tidy(() => {
    const x = tf.tensor4d(Float32Array.from(img.rgb, (v) => v / 255), [1, img.height, img.width, 3]);
    const full = model.visual.apply(resizeToSquare(x, model.inputSize), false);
    return [model.embedImages(x), full].map((e) => tf.argMax(tf.matMul(e, classifier, false, true), 1).dataSync()[0]);
  });
  counts[label]++;
  if (asShipped === label) hits.asShipped[label]++;
  if (fullDetail === label) hits.fullDetail[label]++;
}
const summary = (h) => {
  const present = counts.map((n, c) => [n, c]).filter(([n]) => n > 0);
  return {
    top1: h.reduce((a, b) => a + b, 0) / picked.length,
    meanPerClass: present.reduce((s, [n, c]) => s + h[c] / n, 0) / present.length,
    perClass: Object.fromEntries(present.map(([n, c]) => [CIFAR10_CLASSES[c], Math.round((h[c] / n) * 1000) / 1000])),
  };
};
process.stdout.write(
  `${JSON.stringify({ images: picked.length, perClassCounts: Object.fromEntries(counts.map((n, c) => [CIFAR10_CLASSES[c], n]).filter(([, n]) => n)), resolution: model.config.image.resolution, asShipped: summary(hits.asShipped), fullDetail: summary(hits.fullDetail) })}\n`,
);
classifier.dispose();
model.dispose();
