/**
 * The built `psic` binary end to end: encode / decode / info with a small
 * model file, and the failures a user meets (missing file, truncated PNG,
 * corrupt or foreign .psic, wrong model) as one-line typed errors, with no
 * output file left behind.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveModuleWeights, selectBackend } from '@psic/core';
import { writeContainer } from '@psic/entropy';
import { Hyperprior } from '@psic/backbone-hyperprior';
import { demoImage } from '../src/demo-image.js';
import { runCli } from './run-cli.js';

let dir: string;
let modelA: string;
let modelB: string;
let photo: string;

const psic = (...args: string[]) => runCli(args);

async function saveModel(name: string): Promise<string> {
  const model = new Hyperprior({ N: 8, M: 12, architecture: 'bmshj2018-hyperprior' });
  const path = join(dir, `${name}.safetensors`);
  await saveModuleWeights(path, model, { name, architecture: 'bmshj2018-hyperprior', config: { N: 8, M: 12 } });
  model.dispose();
  return path;
}

beforeAll(async () => {
  await selectBackend('cpu', { log: () => {} });
  dir = mkdtempSync(join(tmpdir(), 'psic-cli-'));
  modelA = await saveModel('tiny-a');
  modelB = await saveModel('tiny-b');
  const img = demoImage(96, 80);
  photo = join(dir, 'photo.png');
  await sharp(Buffer.from(img.data.map((v) => Math.round(v * 255))), { raw: { width: 96, height: 80, channels: 3 } }).png().toFile(photo);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('psic', () => {
  it('prints help', async () => {
    const r = await psic('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('encode');
    expect((await psic('encode', '--help')).stdout).toContain('Usage: psic encode');
  });

  it('encodes and decodes an odd-sized photo, reporting real bpp', async () => {
    const out = join(dir, 'a.psic');
    const enc = await psic('encode', photo, out, '--model', modelA, '--json');
    expect(enc.code, enc.stderr).toBe(0);
    const report = JSON.parse(enc.stdout);
    const bytes = readFileSync(out).length;
    expect(report.bytes).toBe(bytes);
    expect(report.bpp).toBeCloseTo((bytes * 8) / (96 * 80), 10);
    const png = join(dir, 'a.png');
    const dec = await psic('decode', out, png, '--model', modelA);
    expect(dec.code, dec.stderr).toBe(0);
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height]).toEqual([96, 80]);
    const info = await psic('info', out, '--json');
    expect(JSON.parse(info.stdout)).toMatchObject({ backbone: 'bmshj2018-hyperprior', width: 96, height: 80 });
  });

  it('refuses a stream made with other weights (WRONG_MODEL) and writes nothing', async () => {
    const out = join(dir, 'b.psic');
    expect((await psic('encode', photo, out, '--model', modelA)).code).toBe(0);
    const png = join(dir, 'wrong.png');
    const r = await psic('decode', out, png, '--model', modelB);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^psic: WRONG_MODEL: /m);
    expect(existsSync(png)).toBe(false);
  });

  it('rejects corrupt and truncated .psic files with typed errors', async () => {
    const good = readFileSync(join(dir, 'a.psic'));
    const flipped = Buffer.from(good);
    flipped[Math.floor(flipped.length / 2)] ^= 0x40;
    const cases: [string, Buffer, RegExp][] = [
      ['flipped.psic', flipped, /CHECKSUM/],
      ['truncated.psic', good.subarray(0, good.length - 9), /TRUNCATED|CHECKSUM|MALFORMED/],
      ['png.psic', readFileSync(photo), /BAD_MAGIC/],
      ['empty.psic', Buffer.alloc(0), /BAD_MAGIC/],
    ];
    for (const [name, bytes, code] of cases) {
      const path = join(dir, name);
      writeFileSync(path, bytes);
      const png = join(dir, `${name}.png`);
      const r = await psic('decode', path, png, '--model', modelA);
      expect(r.code, name).toBe(1);
      expect(r.stderr, name).toMatch(code);
      expect(r.stderr, name).not.toMatch(/\n\s+at /); // no stack trace
      expect(existsSync(png), name).toBe(false);
    }
  });

  it('refuses a valid stream that claims an absurd image size before allocating for it', async () => {
    const fingerprint = Buffer.from(JSON.parse(readFileSync(modelA.replace(/safetensors$/, 'json'), 'utf8')).fingerprint, 'hex');
    const path = join(dir, 'huge.psic');
    // 8192 x 8192 passes the container's own limits but not the codec's (16.7 MP)
    writeFileSync(path, writeContainer({ backbone: 'bmshj2018-hyperprior', fingerprint, height: 8192, width: 8192, sections: [new Uint8Array(8), new Uint8Array(8)] }));
    const png = join(dir, 'huge.png');
    const r = await psic('decode', path, png, '--model', modelA);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^psic: TOO_LARGE: /m);
    expect(existsSync(png)).toBe(false);
  });

  it('rejects a truncated PNG and a missing file without a stack trace', async () => {
    const bad = join(dir, 'cut.png');
    writeFileSync(bad, readFileSync(photo).subarray(0, 100));
    const r = await psic('encode', bad, join(dir, 'cut.psic'), '--model', modelA);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^psic: BAD_IMAGE: /m);
    expect(existsSync(join(dir, 'cut.psic'))).toBe(false);
    const missing = await psic('encode', join(dir, 'nope.png'), join(dir, 'x.psic'), '--model', modelA);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^psic: /m);
    expect(missing.stderr).not.toMatch(/\n\s+at /);
  });

  it('answers usage errors with exit status 2', async () => {
    expect((await psic('encode', photo)).code).toBe(2);
    expect((await psic('frobnicate')).code).toBe(2);
    expect((await psic('encode', photo, 'x.psic', '--bogus')).code).toBe(2);
  });
});
