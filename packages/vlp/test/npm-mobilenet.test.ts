import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { readImage, selectBackend, semanticTargets } from '@psic/core';
import { loadMobileNetTarget, MOBILENET_FEATURE_DIM, NSFW_CLASSES, similarity, type MobileNetTarget } from '../src/index.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const imagenet = resolve(repoRoot, '..', 'shared', 'data', 'imagenet-samples');
const CLASSES = ['golden_retriever', 'tabby', 'analog_clock', 'tench', 'racer', 'banana', 'mountain_bike', 'volcano'];
const FILES = ['n02099601_golden_retriever', 'n02123045_tabby', 'n02708093_analog_clock', 'n01440764_tench', 'n04037443_racer', 'n07753592_banana', 'n03792782_mountain_bike', 'n09472597_volcano'];

let target: MobileNetTarget;
/** Centre 256x256 squares of the eight photos. */
let photos: tf.Tensor4D;
/** Another view of each: its centre 160x160, mirrored. */
let zoomed: tf.Tensor4D;

beforeAll(async () => {
  await selectBackend('wasm', { log: () => {} });
  const original = globalThis.fetch;
  globalThis.fetch = (() => {
    throw new Error('network used');
  }) as typeof fetch;
  try {
    target = await loadMobileNetTarget();
  } finally {
    globalThis.fetch = original;
  }
  const squares = await Promise.all(
    FILES.map(async (f) => {
      const im = await readImage(join(imagenet, `${f}.jpg`));
      const s = Math.min(im.height, im.width);
      return tf.slice(tf.tensor3d(im.data, [im.height, im.width, 3]), [Math.floor((im.height - s) / 2), Math.floor((im.width - s) / 2), 0], [s, s, 3]);
    }),
  );
  photos = tf.stack(squares) as tf.Tensor4D;
  zoomed = tf.reverse(tf.slice(photos, [0, 48, 48, 0], [-1, 160, 160, -1]), 2) as tf.Tensor4D;
});

afterAll(() => {
  target?.dispose();
  tf.dispose([photos, zoomed]);
});

describe('mobilenet-v2 target (nsfwjs MobileNetV2)', () => {
  it('loads its weights right: the package head calls everyday photos neutral', async () => {
    const p = await target.net.nsfwProbabilities(photos).array();
    const neutral = p.filter((row) => row.indexOf(Math.max(...row)) === NSFW_CLASSES.indexOf('neutral')).length;
    expect(neutral).toBeGreaterThanOrEqual(7);
  });

  it('finds the class of a different view by its nearest prototype', async () => {
    target.addPrototypes(CLASSES, FILES.map((_, i) => tf.slice(photos, [i, 0, 0, 0], [1, -1, -1, -1])));
    expect(target.labels()).toEqual(CLASSES);
    const logits = await similarity(target, zoomed, CLASSES).array();
    const right = logits.filter((row, i) => row.indexOf(Math.max(...row)) === i).length;
    expect(right).toBeGreaterThanOrEqual(7);
    const two = tf.slice(zoomed, [0, 0, 0, 0], [2, -1, -1, -1]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const features = target.mobilenetFeatures(two);
    expect(features.shape).toEqual([2, MOBILENET_FEATURE_DIM]);
    expect(tf.tidy(() => tf.min(features).dataSync()[0])).toBeGreaterThanOrEqual(0); // pooled ReLU6 activations
    features.dispose();
    expect(tf.memory().numTensors).toBe(before); // nothing left behind by a forward pass
  });

  it('has a non-zero input gradient that moves the image towards a prototype', async () => {
    if (target.labels().length === 0) target.addPrototypes(['banana'], [tf.slice(photos, [5, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D]);
    const x = tf.slice(zoomed, [0, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D; // the dog
    const banana = target.embedCandidates(['banana']);
    const score = (xx: tf.Tensor4D) => tf.sum(similarity(target, xx, banana));
    const g = tf.grad((xx: tf.Tensor) => score(xx as tf.Tensor4D))(x);
    const gMax = tf.max(tf.abs(g)).dataSync()[0];
    expect(Number.isFinite(gMax)).toBe(true);
    expect(gMax).toBeGreaterThan(0);
    const step = tf.add(x, tf.mul(tf.div(g, gMax), 0.5 / 255)) as tf.Tensor4D;
    expect(score(step).dataSync()[0]).toBeGreaterThan(score(x).dataSync()[0]);
  });

  it('refuses candidates without a prototype and bad options', async () => {
    expect(() => target.embedCandidates(['unicorn'])).toThrow(expect.objectContaining({ code: 'UNKNOWN_CANDIDATE' }));
    await expect(semanticTargets.get('mobilenet-v2')({ inputRange: '0..255' })).rejects.toMatchObject({ code: 'BAD_OPTION' });
  });
});
