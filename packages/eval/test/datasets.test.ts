import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { readImage, selectBackend } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectLayout, loadDataset, loadTemplates, parseAttributeCsv, upscaleToMinSide } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..', '..');
const shared = resolve(repoRoot, '..', 'shared', 'data');
const pairs = resolve(repoRoot, 'packages', 'cltg', 'test', 'fixtures', 'pairs');
let tmp: string;

beforeAll(async () => {
  await selectBackend('cpu', { log: () => {} });
  tmp = mkdtempSync(join(tmpdir(), 'psic-eval-datasets-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('upscaleToMinSide (the training crops rule)', () => {
  it('matches tf.image.resizeBilinear with half-pixel centres for CIFAR x2', async () => {
    const img = await readImage(join(pairs, 'cat', '0000.jpg'));
    expect([img.height, img.width]).toEqual([32, 32]);
    const up = upscaleToMinSide(img);
    expect([up.height, up.width]).toEqual([64, 64]);
    const want = tf.tidy(() => tf.image.resizeBilinear(tf.tensor4d(img.data, [1, 32, 32, 3]), [64, 64], false, true).dataSync());
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i] - up.data[i]));
    expect(worst).toBeLessThan(1e-5);
  });

  it('scales the short side to 64 keeping the aspect ratio, and leaves large pictures alone', () => {
    const wide = { height: 40, width: 100, data: new Float32Array(40 * 100 * 3).fill(0.25) };
    const up = upscaleToMinSide(wide);
    expect([up.height, up.width]).toEqual([64, 160]);
    expect(Math.max(...up.data.map((v) => Math.abs(v - 0.25)))).toBeLessThan(1e-6);
    const big = { height: 64, width: 70, data: new Float32Array(64 * 70 * 3) };
    expect(upscaleToMinSide(big)).toBe(big);
  });
});

describe('loadDataset', () => {
  it('reads class folders, classes interleaved, images upscaled for the codec', async () => {
    const set = await loadDataset(pairs);
    expect(set.layout).toBe('class-folders');
    expect(set.classes).toEqual([['cat'], ['ship']]);
    expect(set.samples.map((s) => s.name)).toEqual(['cat/0000.jpg', 'ship/0000.jpg', 'cat/0001.jpg', 'ship/0001.jpg']);
    expect(set.samples.map((s) => s.label)).toEqual([0, 1, 0, 1]);
    const img = await set.samples[1].load();
    expect([img.height, img.width]).toEqual([64, 64]);
    const limited = await loadDataset(pairs, { skip: 1, limit: 2 });
    expect(limited.samples.map((s) => s.name)).toEqual(['ship/0000.jpg', 'cat/0001.jpg']);
    expect((await loadDataset(pairs, { perClass: 1 })).samples.map((s) => s.name)).toEqual(['cat/0000.jpg', 'ship/0000.jpg']);
  });

  it('reads the CIFAR-10 archive in place: test split, CIFAR-10 label order', async () => {
    const tar = join(shared, 'cifar10-jpeg.tar');
    expect(detectLayout(tar)).toBe('cifar-tar');
    const set = await loadDataset(tar, { perClass: 1 });
    expect(set.samples.map((s) => s.name)).toEqual(set.classes!.map(([c]) => `test/${c}/0000.jpg`));
    expect(set.samples.map((s) => s.label)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(set.classes![3]).toEqual(['cat']);
    // the same bytes as the fixture's copy of test/cat/0000.jpg
    const fromTar = await set.samples[3].load();
    const fromFile = upscaleToMinSide(await readImage(join(pairs, 'cat', '0000.jpg')));
    expect(Array.from(fromTar.data.subarray(0, 300))).toEqual(Array.from(fromFile.data.subarray(0, 300)));
  }, 30_000);

  it('reads CelebA attributes and ImageNet labels', async () => {
    const celeba = await loadDataset(join(shared, 'celeba-sample'), { limit: 3 });
    expect(celeba.layout).toBe('celeba');
    expect(celeba.attributeNames).toContain('Male');
    const [header, ...rows] = readFileSync(join(shared, 'celeba-sample', 'attributes.csv'), 'utf8').trim().split('\n').map((l) => l.split(','));
    expect(celeba.samples.map((s) => s.name)).toEqual(rows.slice(0, 3).map((r) => r[0]));
    expect(celeba.samples.map((s) => s.attributes!.Smiling)).toEqual(rows.slice(0, 3).map((r) => r[header.indexOf('Smiling')] === '1'));
    expect((await celeba.samples[0].load()).width).toBe(178);

    const imagenet = await loadDataset(join(shared, 'imagenet-samples'), { skip: 207, limit: 1 });
    expect(imagenet.layout).toBe('imagenet');
    expect(imagenet.classes).toHaveLength(1000);
    expect(imagenet.samples[0].name).toBe('n02099601_golden_retriever.jpg');
    expect(imagenet.classes![imagenet.samples[0].label!]).toEqual(['golden retriever']);
  });

  it('reads a flat folder without labels, and refuses what it cannot read', async () => {
    const photos = await loadDataset(join(shared, 'photos'), { limit: 2 });
    expect(photos.layout).toBe('images');
    expect(photos.classes).toBeUndefined();
    await expect(loadDataset(join(tmp, 'missing'))).rejects.toThrow(PsicError);
    await expect(loadDataset(join(shared, 'photos'), { skip: 10_000 })).rejects.toMatchObject({ code: 'BAD_DATA' });
    writeFileSync(join(tmp, 'x.txt'), 'no');
    expect(() => detectLayout(join(tmp, 'x.txt'))).toThrow(/CIFAR-10 .tar/);
  });
});

describe('parseAttributeCsv', () => {
  it('maps 1 to true and 0 / -1 to false', () => {
    expect(parseAttributeCsv('filename,Male,Young\na.jpg,1,-1\nb.jpg,0,1\n')).toEqual([
      { filename: 'a.jpg', attributes: { Male: true, Young: false } },
      { filename: 'b.jpg', attributes: { Male: false, Young: true } },
    ]);
  });
  it('refuses other values, ragged rows, paths and a wrong header', () => {
    expect(() => parseAttributeCsv('filename,Male\na.jpg,2\n')).toThrow(/expected 1, 0 or -1/);
    expect(() => parseAttributeCsv('filename,Male\na.jpg,1,1\n')).toThrow(/3 fields/);
    expect(() => parseAttributeCsv('filename,Male\n../a.jpg,1\n')).toThrow(/plain file name/);
    expect(() => parseAttributeCsv('name,Male\na.jpg,1\n')).toThrow(/header/);
  });
});

describe('loadTemplates', () => {
  it('gives CLIP CIFAR-10 templates, the held-out ones, or a file', async () => {
    const all = await loadTemplates('cifar10');
    expect(all).toHaveLength(18);
    expect(all[0]).toBe('a photo of a {}.');
    const held = await loadTemplates('held-out');
    expect(held.every((t) => all.includes(t))).toBe(true);
    writeFileSync(join(tmp, 't.json'), JSON.stringify(['a {} here.']));
    expect(await loadTemplates(join(tmp, 't.json'))).toEqual(['a {} here.']);
    writeFileSync(join(tmp, 't.txt'), 'a {}.\n\nthe {}!\n');
    expect(await loadTemplates(join(tmp, 't.txt'))).toEqual(['a {}.', 'the {}!']);
    writeFileSync(join(tmp, 'bad.txt'), 'no placeholder\n');
    await expect(loadTemplates(join(tmp, 'bad.txt'))).rejects.toMatchObject({ code: 'BAD_PROMPTS' });
  });
});
