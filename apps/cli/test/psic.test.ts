/**
 * PSIC through the built `psic` binary: one .psic file from the small shipped
 * PSIC model (packages/cltg/test/fixtures) decodes to the protected image by
 * default and with a wrong key, to the full image with the owner's key; the
 * keyed mode without a key, an unknown mode, a key for a plain model and a
 * stream from another model are typed errors. And `psic train --recipe psic`
 * writes a conditional model that decodes the same way.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoImage } from '../src/demo-image.js';
import { runCli } from './run-cli.js';

const FIXTURES = fileURLToPath(new URL('../../../packages/cltg/test/fixtures/', import.meta.url));
const MODEL = join(FIXTURES, 'psic-tiny.safetensors');
const KEY = join(FIXTURES, 'psic-tiny.key');
let dir: string;
let photo: string;
let stream: string;

const psic = (...args: string[]) => runCli(args);

async function pixels(path: string): Promise<Uint8Array> {
  return new Uint8Array(await sharp(path).raw().toBuffer());
}

function psnr(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  return 10 * Math.log10((255 * 255) / Math.max(sum / a.length, 1e-9));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'psic-cli-psic-'));
  const img = demoImage(160, 128);
  photo = join(dir, 'photo.png');
  await sharp(Buffer.from(img.data.map((v) => Math.round(v * 255))), { raw: { width: 160, height: 128, channels: 3 } }).png().toFile(photo);
  stream = join(dir, 'photo.psic');
  const enc = await psic('encode', photo, stream, '--model', MODEL);
  expect(enc.code, enc.stderr).toBe(0);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('psic decode with a PSIC model', () => {
  it('gives the protected image without a key or with a wrong one, the full image with the key', async () => {
    const out = (n: string) => join(dir, `${n}.png`);
    writeFileSync(join(dir, 'wrong.key'), 'not the owner\n');
    const [noKey, withKey, wrong] = await Promise.all([
      psic('decode', stream, out('protected'), '--model', MODEL, '--json'),
      psic('decode', stream, out('full'), '--model', MODEL, '--key-file', KEY, '--json'),
      psic('decode', stream, out('wrong'), '--model', MODEL, '--key-file', join(dir, 'wrong.key')),
    ]);
    expect(noKey.code, noKey.stderr).toBe(0);
    expect(JSON.parse(noKey.stdout)).toMatchObject({ mode: 'protected', width: 160, height: 128 });
    expect(withKey.code, withKey.stderr).toBe(0);
    expect(JSON.parse(withKey.stdout)).toMatchObject({ mode: 'full' });
    expect(wrong.code, wrong.stderr).toBe(0);

    const [p, f, w] = await Promise.all(['protected', 'full', 'wrong'].map((n) => pixels(out(n))));
    expect(psnr(p, f)).toBeLessThan(32); // two different pictures
    expect(psnr(w, p)).toBeGreaterThan(psnr(w, f) + 6); // a wrong key lands on the protected one
  });

  it('refuses the keyed mode without a key, unknown modes, and keys for a plain model', async () => {
    const [keyless, unknown, plain] = await Promise.all([
      psic('decode', stream, join(dir, 'x.png'), '--model', MODEL, '--mode', 'full'),
      psic('decode', stream, join(dir, 'x.png'), '--model', MODEL, '--mode', 'machine'),
      psic('decode', stream, join(dir, 'x.png'), '--model', 'hyperprior-q1', '--key-file', KEY),
    ]);
    expect(keyless.code).toBe(1);
    expect(keyless.stderr).toMatch(/^psic: KEY_REQUIRED: /m);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no mode "machine".*protected, full/);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/one decoding only/);
    expect(existsSync(join(dir, 'x.png'))).toBe(false);
  });

  it('refuses a stream from another model, both ways (WRONG_MODEL)', async () => {
    const plainStream = join(dir, 'plain.psic');
    const [foreign, encoded] = await Promise.all([psic('decode', stream, join(dir, 'y.png'), '--model', 'hyperprior-q1'), psic('encode', photo, plainStream, '--model', 'hyperprior-q1')]);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toMatch(/^psic: WRONG_MODEL: /m);
    expect(encoded.code, encoded.stderr).toBe(0);
    const back = await psic('decode', plainStream, join(dir, 'y.png'), '--model', MODEL, '--key-file', KEY);
    expect(back.code).toBe(1);
    expect(back.stderr).toMatch(/^psic: WRONG_MODEL: /m);
  });
});

describe('the shipped PSIC models and their public demo key', () => {
  it('psic-q1 decodes a photo protected by default and closer to the original with packages/zoo/keys/demo.key', { timeout: 120_000 }, async () => {
    const kodak = fileURLToPath(new URL('../../../../shared/data/photos/kodim23.png', import.meta.url));
    const crop = join(dir, 'kodak-crop.png');
    await sharp(kodak).extract({ left: 280, top: 120, width: 192, height: 160 }).png().toFile(crop);
    const demoKey = fileURLToPath(new URL('../../../packages/zoo/keys/demo.key', import.meta.url));
    const coded = join(dir, 'kodak.psic');
    const enc = await psic('encode', crop, coded, '--model', 'psic-q1');
    expect(enc.code, enc.stderr).toBe(0);
    const [prot, full] = await Promise.all([
      psic('decode', coded, join(dir, 'kodak-protected.png'), '--model', 'psic-q1'),
      psic('decode', coded, join(dir, 'kodak-full.png'), '--model', 'psic-q1', '--key-file', demoKey),
    ]);
    expect(prot.code, prot.stderr).toBe(0);
    expect(full.code, full.stderr).toBe(0);
    const [original, p, f] = await Promise.all([crop, join(dir, 'kodak-protected.png'), join(dir, 'kodak-full.png')].map(pixels));
    expect(psnr(original, f)).toBeGreaterThan(psnr(original, p) + 1);
  });
});

describe('psic train --recipe psic', () => {
  it('trains a conditional model that records its adapter (never the key) and decodes by mode', async () => {
    const out = join(dir, 'run');
    const key = join(dir, 'owner.key');
    const args = (stageSteps: string) => ['train', '--recipe', 'psic', '--target', 'random', '--data', join(FIXTURES, 'pairs'), '--out', out, '--key-file', key, '--N', '8', '--M', '12', '--condition-dim', '4', '--hidden', '8', '--crop', '64', '--batch', '2', '--stage-steps', stageSteps, '--checkpoint-every', '1'];
    const r = await psic(...args('2,1'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/created key file/);
    const sidecar = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
    expect(sidecar).toMatchObject({ architecture: 'bmshj2018-hyperprior', recipe: 'psic', target: 'random', steps: 3, adapter: { name: 'cltg', conditionDim: 4 } });
    const keyText = readFileSync(key, 'utf8').trim();
    for (const f of ['model.json', 'train.jsonl', 'adapter.json']) expect(readFileSync(join(out, f), 'utf8')).not.toContain(keyText);

    // --resume keeps the salt (adapter.json) and continues the log
    const resumed = await psic(...args('2,2'), '--resume');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resumed from .* at step 3/);
    expect(JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')).adapter.salt).toBe(sidecar.adapter.salt);

    const s = join(dir, 'trained.psic');
    expect((await psic('encode', photo, s, '--model', join(out, 'model.safetensors'))).code).toBe(0);
    const d = await psic('decode', s, join(dir, 'trained.png'), '--model', join(out, 'model.safetensors'), '--key-file', key, '--json');
    expect(d.code, d.stderr).toBe(0);
    expect(JSON.parse(d.stdout).mode).toBe('full');
  });

  it('needs a target and a key file for psic, and rejects recipe options without --recipe', async () => {
    const [noTarget, noRecipe, badRecipe] = await Promise.all([
      psic('train', '--recipe', 'psic', '--data', join(FIXTURES, 'pairs'), '--out', join(dir, 'r2'), '--key-file', join(dir, 'k2')),
      psic('train', '--data', join(FIXTURES, 'pairs'), '--out', join(dir, 'r3'), '--target', 'random'),
      psic('train', '--recipe', 'nope', '--data', join(FIXTURES, 'pairs'), '--out', join(dir, 'r4')),
    ]);
    expect(noTarget.code).toBe(2);
    expect(noTarget.stderr).toMatch(/--target/);
    expect(noRecipe.code).toBe(2);
    expect(noRecipe.stderr).toMatch(/needs --recipe/);
    expect(badRecipe.code).toBe(2);
    expect(existsSync(join(dir, 'k2'))).toBe(false); // no key file made for a run that never started
  });
});
