/**
 * `psic bavaft train|eval` through the built binary, on a tiny trained codec
 * (packages/baselines/test/fixtures) and the random target: training writes a
 * codec that `psic encode` takes as a normal model plus a trigger network;
 * eval reports both encodes of every image; bad input is a typed error.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoImage } from '../src/demo-image.js';
import { runCli } from './run-cli.js';

const TINY = fileURLToPath(new URL('../../../packages/baselines/test/fixtures/tiny-codec.safetensors', import.meta.url));
let dir: string;
let data: string;
let out: string;

const psic = (...args: string[]) => runCli(args);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'psic-cli-bavaft-'));
  data = join(dir, 'data');
  out = join(dir, 'run');
  for (const [i, cls] of ['cat', 'dog'].entries()) {
    mkdirSync(join(data, cls), { recursive: true });
    for (const j of [0, 1]) {
      const [w, h] = [72 + 8 * j, 64 + 4 * i];
      const img = demoImage(w, h);
      await sharp(Buffer.from(img.data.map((v) => Math.round(v * 255))), { raw: { width: w, height: h, channels: 3 } }).png().toFile(join(data, cls, `${j}.png`));
    }
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('psic bavaft', () => {
  it('trains a codec + trigger that encode and evaluate', async () => {
    const train = await psic('bavaft', 'train', '--init', TINY, '--target', 'random', '--data', data, '--out', out, '--steps', '2', '--batch', '2', '--crop', '64', '--hidden', '8', '--checkpoint-every', '1', '--json');
    expect(train.code, train.stderr).toBe(0);
    const result = JSON.parse(train.stdout.trim().split('\n').pop()!);
    expect(result).toMatchObject({ codec: join(out, 'model.safetensors'), trigger: join(out, 'trigger.safetensors'), steps: 2 });
    const sidecar = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
    expect(sidecar).toMatchObject({ architecture: 'bmshj2018-hyperprior', config: { N: 8, M: 12 }, baseline: 'bavaft', target: 'random', trainable: ['encoder'], steps: 2 });
    expect(sidecar.lambda).toBe(0.013); // taken from the --init model
    const steps = readFileSync(join(out, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'step');
    expect(steps.map((r) => r.step)).toEqual([1, 2]);

    const enc = await psic('encode', join(data, 'cat', '0.png'), join(dir, 'x.psic'), '--model', join(out, 'model.safetensors'), '--runtime', 'tfjs');
    expect(enc.code, enc.stderr).toBe(0);

    const ev = await psic('bavaft', 'eval', '--model', join(out, 'model.safetensors'), '--target', 'random', '--data', data, '--max-per-class', '1', '--runtime', 'tfjs', '--json');
    expect(ev.code, ev.stderr).toBe(0);
    const report = JSON.parse(ev.stdout);
    expect(report.classNames).toEqual(['cat', 'dog']);
    expect(report.images).toHaveLength(2);
    for (const r of report.images) {
      expect(r.clean.bytes).toBeGreaterThan(0);
      expect(r.poisoned.bytes).toBeGreaterThan(0);
      expect(r.poisonedInput.psnr).toBeGreaterThan(35);
      expect([0, 1]).toContain(r.poisoned.prediction);
    }
    expect(report.summary.images).toBe(2);

    const human = await psic('bavaft', 'eval', '--model', join(out, 'model.safetensors'), '--target', 'random', '--data', data, '--max-per-class', '1', '--runtime', 'tfjs');
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/attackSuccessRate/);
  });

  it('answers usage errors and missing files with typed errors', async () => {
    const noTarget = await psic('bavaft', 'train', '--data', data, '--out', join(dir, 'x'));
    expect(noTarget.code).toBe(2);
    expect(noTarget.stderr).toMatch(/USAGE: --target/);
    const badSub = await psic('bavaft', 'frobnicate');
    expect(badSub.code).toBe(2);
    const badGroup = await psic('bavaft', 'train', '--target', 'random', '--data', data, '--out', join(dir, 'x'), '--trainable', 'adapter');
    expect(badGroup.code).toBe(2);
    const noTrigger = await psic('bavaft', 'eval', '--model', TINY, '--target', 'random', '--data', data, '--runtime', 'tfjs');
    expect(noTrigger.code).toBe(1);
    expect(noTrigger.stderr).toMatch(/UNKNOWN_MODEL: no trigger network/);
    expect(existsSync(join(dir, 'x', 'model.safetensors'))).toBe(false);
    const help = await psic('bavaft', 'train', '--help');
    expect(help.stdout).toMatch(/--warmup-steps/);
    const top = await psic('--help');
    expect(top.stdout).toMatch(/bavaft/);
  });
});
