#!/usr/bin/env node
/**
 * Ships a trained in-house model: copies <run>/inhouse-cifar.safetensors
 * into packages/vlp/models, measures zero-shot top-1 on the whole CIFAR-10
 * test split (held-out templates, and the training templates for
 * comparison) and records both in the sidecar.
 *
 *   node tools/vlp/ship-inhouse.mjs [--run runs/inhouse-cifar] [--backend wasm]
 *
 * The same figure comes from the command: node apps/cli/dist/cli.js zero-shot
 */
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { readSidecar, selectBackend, sidecarPath, writeSidecar } from '@psic/core';
import {
  CIFAR10_CLASSES,
  CIFAR10_HELD_OUT_TEMPLATES,
  INHOUSE_WEIGHTS_FILE,
  defaultCifarArchivePath,
  evaluateZeroShot,
  loadCifar10,
  loadInhouseTarget,
  readPromptSet,
  splitTemplates,
  zeroShotClassifier,
} from '@psic/vlp';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const run = resolve(option('run', join(root, 'runs', 'inhouse-cifar')));
const source = join(run, INHOUSE_WEIGHTS_FILE);
const target = join(root, 'packages', 'vlp', 'models', INHOUSE_WEIGHTS_FILE);

await selectBackend(option('backend', 'wasm'));
const size = (await stat(source)).size;
if (size >= 20 * 1024 * 1024) throw new Error(`${source} is ${size} bytes; shipped weights must stay under 20 MB`);
await mkdir(dirname(target), { recursive: true });
await copyFile(source, target);
const trained = await readSidecar(sidecarPath(source));
// Runs started before config.image.resolution existed trained on 32-pixel CIFAR upsampled to 64 all the same.
if (trained.config?.image && trained.config.image.resolution === undefined) trained.config.image.resolution = 32;
await writeSidecar(sidecarPath(target), trained);

const model = await loadInhouseTarget(target);
const prompts = await readPromptSet('CIFAR10');
const templates = splitTemplates(prompts.templates, CIFAR10_HELD_OUT_TEMPLATES);
const test = await loadCifar10(defaultCifarArchivePath(), 'test');
const zeroShot = {};
for (const [key, list] of [['heldOutTemplates', templates.heldOut], ['trainingTemplates', templates.train]]) {
  const classifier = zeroShotClassifier(model, prompts.classes, list);
  const result = await evaluateZeroShot(model, test, classifier, { batch: 250 });
  classifier.dispose();
  zeroShot[key] = {
    top1: result.top1,
    correct: result.correct,
    images: result.total,
    templates: list.length,
    perClass: Object.fromEntries(CIFAR10_CLASSES.map((c, i) => [c, Math.round(result.perClass[i] * 1e4) / 1e4])),
  };
  process.stderr.write(`${key}: top-1 ${(result.top1 * 100).toFixed(2)}% on ${result.total} test images\n`);
}
const sidecar = await readSidecar(sidecarPath(target));
await writeSidecar(sidecarPath(target), {
  ...sidecar,
  zeroShot: { ...zeroShot, split: 'CIFAR-10 test (10,000 images)', method: 'prompt ensembling (mean of normalised caption embeddings per class)', command: 'psic zero-shot --templates held-out' },
  weightBytes: size,
});
model.dispose();
process.stdout.write(`${JSON.stringify({ shipped: target, bytes: size, backend: tf.getBackend(), ...zeroShot })}\n`);
