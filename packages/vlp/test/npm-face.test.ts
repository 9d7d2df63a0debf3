import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { readImage, selectBackend, semanticTargets } from '@psic/core';
import {
  CELEBA_ALIGNED_FACE_BOX,
  FaceApiFaceModel,
  faceLabelOf,
  loadFaceApiTarget,
  loadFaceresTarget,
  loadPackageGraphModel,
  loadWeightManifest,
  packageFile,
  packageRoot,
  similarity,
  type FaceAttributeTarget,
} from '../src/index.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const celeba = resolve(repoRoot, '..', 'shared', 'data', 'celeba-sample');

/** The first n CelebA sample images (178x218) and their Male / Smiling labels. */
async function celebaFaces(n: number): Promise<{ x: tf.Tensor4D; male: number[]; smiling: number[] }> {
  const [header, ...rows] = readFileSync(join(celeba, 'attributes.csv'), 'utf8').trim().split('\n').map((l) => l.split(','));
  const picked = rows.slice(0, n);
  const images = await Promise.all(picked.map((r) => readImage(join(celeba, r[0]))));
  const x = tf.stack(images.map((im) => tf.tensor3d(im.data, [im.height, im.width, 3]))) as tf.Tensor4D;
  return { x, male: picked.map((r) => Number(r[header.indexOf('Male')])), smiling: picked.map((r) => Number(r[header.indexOf('Smiling')])) };
}

/** Run `load` with fetch replaced by a function that fails the test if called. */
async function offline<T>(load: () => Promise<T>): Promise<T> {
  const original = globalThis.fetch;
  let used = false;
  globalThis.fetch = (() => {
    used = true;
    throw new Error('network used');
  }) as typeof fetch;
  try {
    const result = await load();
    expect(used).toBe(false);
    return result;
  } finally {
    globalThis.fetch = original;
  }
}

let faceres: FaceAttributeTarget;
let faceApi: FaceAttributeTarget;
let faces: Awaited<ReturnType<typeof celebaFaces>>;

beforeAll(async () => {
  await selectBackend('wasm', { log: () => {} });
  faceres = await offline(() => loadFaceresTarget({ faceBox: CELEBA_ALIGNED_FACE_BOX }));
  faceApi = await offline(() => loadFaceApiTarget({ faceBox: CELEBA_ALIGNED_FACE_BOX }));
  faces = await celebaFaces(6);
});

afterAll(() => {
  faceres?.dispose();
  faceApi?.dispose();
  faces?.x.dispose();
});

describe.each([
  ['faceres', () => faceres],
  ['face-api', () => faceApi],
])('%s target', (name, target) => {
  it('tells gender and expression apart on CelebA faces', async () => {
    const a = target().faceAttributes(faces.x);
    const male = await a.gender.array();
    const age = await a.age.array();
    const happy = (await a.expression.array()).map((p) => p[1]);
    const genderRight = male.filter((p, i) => (p > 0.5 ? 1 : 0) === faces.male[i]).length;
    const smileRight = happy.filter((p, i) => (p > 0.5 ? 1 : 0) === faces.smiling[i]).length;
    expect(genderRight).toBeGreaterThanOrEqual(5);
    expect(smileRight).toBeGreaterThanOrEqual(5);
    for (const years of age) expect(years).toBeGreaterThan(10), expect(years).toBeLessThan(80);
    tf.dispose(Object.values(a));
  });

  it('has similarities that reproduce its own probabilities', async () => {
    const x = tf.slice(faces.x, [0, 0, 0, 0], [2, -1, -1, -1]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const logits = similarity(target(), x, ['male', 'female', 'a smiling person']);
    const a = target().faceAttributes(x);
    const [rows, male, happy] = [logits.arraySync(), a.gender.arraySync(), a.expression.arraySync()];
    tf.dispose([logits, ...Object.values(a)]);
    expect(tf.memory().numTensors).toBe(before); // nothing left behind by a forward pass
    // softmax over the two gender logits = the model's P(male)
    rows.forEach((row, i) => expect(Math.exp(row[0]) / (Math.exp(row[0]) + Math.exp(row[1]))).toBeCloseTo(male[i], 1));
    // logitScale * cosine ~ log p: within a few percent (the embedding's norm is only close to 1)
    rows.map((row) => [row[2]]).forEach((row, i) => expect(Math.abs(row[0] - Math.log(happy[i][1]))).toBeLessThan(0.1 * Math.abs(Math.log(happy[i][1])) + 0.05));
  });

  it('has a non-zero input gradient that moves the score the right way', async () => {
    const x = tf.slice(faces.x, [0, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;
    const candidates = target().embedCandidates(['female']);
    const score = (xx: tf.Tensor4D) => tf.sum(similarity(target(), xx, candidates));
    const g = tf.grad((xx: tf.Tensor) => score(xx as tf.Tensor4D))(x);
    const gMax = tf.max(tf.abs(g)).dataSync()[0];
    expect(Number.isFinite(gMax)).toBe(true);
    expect(gMax).toBeGreaterThan(0);
    // a small step along the gradient raises log p(female) (first order)
    const step = tf.add(x, tf.mul(tf.div(g, gMax), 0.5 / 255)) as tf.Tensor4D;
    expect(score(step).dataSync()[0]).toBeGreaterThan(score(x).dataSync()[0]);
  });
});

describe('face-api networks', () => {
  it('match face-api runtime outputs on the same weights', async () => {
    const faceapi = createRequire(import.meta.url)('@vladmandic/face-api/dist/face-api.node-wasm.js');
    const ref = new faceapi.AgeGenderNet();
    ref.loadFromWeightMap(await loadWeightManifest(packageFile('@vladmandic/face-api', 'model/age_gender_model-weights_manifest.json')));
    const refExpression = new faceapi.FaceExpressionNet();
    refExpression.loadFromWeightMap(await loadWeightManifest(packageFile('@vladmandic/face-api', 'model/face_expression_model-weights_manifest.json')));
    const mine = await FaceApiFaceModel.load();
    const face = tf.image.resizeBilinear(tf.slice(faces.x, [1, 55, 25, 0], [1, 128, 128, -1]), [112, 112]) as tf.Tensor4D;
    const input = await faceapi.toNetInput(tf.mul(face, 255)); // face-api takes 0..255, one image per tensor
    const expected = ref.forwardInput(input);
    const got = mine.ageGender.forward(face);
    expect(got.age.dataSync()[0]).toBeCloseTo(expected.age.dataSync()[0], 2);
    expect(tf.softmax(got.genderLogits).dataSync()[0]).toBeCloseTo(expected.gender.dataSync()[0], 4);
    const expectedExpression = Array.from(refExpression.forwardInput(input).dataSync() as Float32Array);
    Array.from(tf.softmax(mine.expression.forward(face)).dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expectedExpression[i], 4));
    ref.dispose();
    refExpression.dispose();
    mine.dispose();
  });
});

describe('faceres graph', () => {
  it('gives the same features with ReLU6 chains rewritten as without', async () => {
    const plain = await loadPackageGraphModel('@vladmandic/human', 'models/faceres.json', { rewriteReluClips: false });
    const rewritten = await loadPackageGraphModel('@vladmandic/human', 'models/faceres.json');
    const x = tf.randomUniform([1, 224, 224, 3], 0, 255, 'float32', 1);
    const a = plain.execute(x, 'global_pooling/Mean') as tf.Tensor;
    const b = rewritten.execute(x, 'global_pooling/Mean') as tf.Tensor;
    expect(tf.max(tf.abs(a)).dataSync()[0]).toBeGreaterThan(0);
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(1e-5);
    const nodes = (rewritten as unknown as { artifacts: { modelTopology: { node: { op: string }[] } } }).artifacts.modelTopology.node;
    expect(nodes.filter((n) => n.op === 'Minimum')).toHaveLength(0);
    plain.dispose();
    rewritten.dispose();
  });
});

describe('candidates and options', () => {
  it('reads a label from a word, an alias or a prompt naming one attribute', () => {
    expect(faceLabelOf('female')).toBe('female');
    expect(faceLabelOf('a photo of a man')).toBe('male');
    expect(faceLabelOf('A SMILING face')).toBe('happy');
    expect(() => faceLabelOf('a smiling woman')).toThrow(/several/);
    expect(() => faceres.embedCandidates(['a dog'])).toThrow(expect.objectContaining({ code: 'UNKNOWN_CANDIDATE' }));
  });
  it('are registered by name and check their options', async () => {
    expect(semanticTargets.list()).toEqual(expect.arrayContaining(['faceres', 'face-api', 'mobilenet-v2']));
    await expect(semanticTargets.get('face-api')({ faceBox: 'middle' })).rejects.toMatchObject({ code: 'BAD_OPTION' });
    await expect(semanticTargets.get('faceres')({ faceBox: { top: 0.5, left: 0, height: 0.8, width: 1 } })).rejects.toMatchObject({ code: 'BAD_OPTION' });
  });
  it('rejects images that are not NHWC RGB', () => {
    expect(() => faceres.embedImages(tf.zeros([1, 32, 32, 1]) as tf.Tensor4D)).toThrow(expect.objectContaining({ code: 'BAD_INPUT' }));
  });
  it('says which package is missing', () => {
    expect(() => packageRoot('@psic/no-such-model-package')).toThrow(expect.objectContaining({ code: 'MODEL_PACKAGE_MISSING' }));
    expect(() => packageFile('@vladmandic/face-api', 'model/no_such_model.json')).toThrow(expect.objectContaining({ code: 'MODEL_FILE_MISSING' }));
  });
});
