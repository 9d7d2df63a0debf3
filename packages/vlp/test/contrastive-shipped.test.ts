/**
 * The shipped in-house model (packages/vlp/models/inhouse-cifar.*): it loads
 * through the registry, its sidecar says what it was trained on, it
 * classifies CIFAR-10 test images zero-shot with templates it never saw
 * (well above the 10% of chance, also when the images are decoded larger),
 * and its image embedding has a gradient w.r.t. the pixels.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { readSidecar, selectBackend, semanticTargets, sidecarPath, type SemanticTarget } from '@psic/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CIFAR10_HELD_OUT_TEMPLATES,
  INHOUSE_FORMAT,
  defaultInhouseWeightsPath,
  evaluateZeroShot,
  loadCifar10,
  readPromptSet,
  splitTemplates,
  zeroShotClassifier,
  type LabelledImages,
} from '../src/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const archive = path.resolve(repoRoot, '../shared/data/cifar10-jpeg.tar');

let target: SemanticTarget;
let images: LabelledImages;
let classifier: tf.Tensor2D;

beforeAll(async () => {
  await selectBackend('wasm', { log: () => {} });
  target = await semanticTargets.get('inhouse-cifar')();
  images = await loadCifar10(archive, 'test', { perClass: 10 });
  const prompts = await readPromptSet('CIFAR10');
  classifier = zeroShotClassifier(target, prompts.classes, splitTemplates(prompts.templates, CIFAR10_HELD_OUT_TEMPLATES).heldOut);
});

afterAll(() => {
  classifier?.dispose();
  (target as { dispose?: () => void })?.dispose?.();
});

describe('shipped in-house model', () => {
  it('is under 20 MB and its sidecar records the held-out templates and the measured zero-shot top-1', async () => {
    const weights = defaultInhouseWeightsPath();
    expect(statSync(weights).size).toBeLessThan(20 * 1024 * 1024);
    const sidecar = await readSidecar(sidecarPath(weights));
    expect(sidecar.format).toBe(INHOUSE_FORMAT);
    const templates = sidecar.templates as { train: string[]; heldOut: string[] };
    expect(templates.heldOut).toEqual([...CIFAR10_HELD_OUT_TEMPLATES]);
    for (const t of templates.heldOut) expect(templates.train).not.toContain(t);
    const zeroShot = sidecar.zeroShot as { heldOutTemplates: { top1: number; images: number } };
    expect(zeroShot.heldOutTemplates.images).toBe(10_000);
    expect(zeroShot.heldOutTemplates.top1).toBeGreaterThanOrEqual(0.7);
    expect(target.name).toBe('inhouse-cifar');
    expect(target.logitScale).toBeGreaterThan(1);
  });

  it('classifies CIFAR-10 test images zero-shot with unseen templates far above chance', async () => {
    expect(images.count).toBe(100);
    const result = await evaluateZeroShot(target, images, classifier);
    expect(result.top1).toBeGreaterThanOrEqual(0.6);
    expect(result.perClass.filter((a) => a > 0.1).length).toBeGreaterThanOrEqual(8);
  });

  it('still classifies them when they arrive as larger decoded images (128x128, resized inside)', async () => {
    const side = 128;
    const big = new Float32Array(images.count * side * side * 3);
    const plane = images.side * images.side * 3;
    for (let i = 0; i < images.count; i++) {
      const up = await sharp(Buffer.from(images.pixels.subarray(i * plane, (i + 1) * plane)), { raw: { width: 32, height: 32, channels: 3 } })
        .resize(side, side, { kernel: 'cubic' })
        .raw()
        .toBuffer();
      for (let k = 0; k < up.length; k++) big[i * side * side * 3 + k] = up[k]! / 255;
    }
    const predicted = tf.tidy(() => {
      const emb = target.embedImages(tf.tensor4d(big, [images.count, side, side, 3]));
      return tf.argMax(tf.matMul(emb, classifier, false, true), 1).dataSync();
    });
    const correct = Array.from(predicted).filter((p, i) => p === images.labels[i]).length;
    expect(correct / images.count).toBeGreaterThanOrEqual(0.5);
  });

  it('has a non-zero gradient w.r.t. the pixels of a non-square input', () => {
    const x = tf.randomUniform([1, 48, 80, 3], 0, 1, 'float32', 21) as tf.Tensor4D;
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(target.embedImages(t as tf.Tensor4D), tf.slice(classifier, [3, 0], [1, -1]))))(x);
    const values = Array.from(g.dataSync());
    expect(values.every(Number.isFinite)).toBe(true);
    // the centre 48x48 square is what the model sees: the columns outside it get no gradient
    const at = (y: number, xx: number) => Math.abs(values[(y * 80 + xx) * 3]!);
    expect(at(24, 40)).toBeGreaterThan(0);
    expect(at(24, 2)).toBe(0);
    expect(Math.max(...values.map(Math.abs))).toBeGreaterThan(1e-4);
  });
});
