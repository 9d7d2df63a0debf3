/**
 * `psic eval-machine` through the built binary, with the tiny shipped PSIC
 * model (its modes stand in for human / machine: the command decodes any
 * modes a model has) and the real npm models on two shared sets.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const FIXTURES = fileURLToPath(new URL('../../../packages/cltg/test/fixtures/', import.meta.url));
const MODEL = join(FIXTURES, 'psic-tiny.safetensors');
const KEY = join(FIXTURES, 'psic-tiny.key');
const PAIRS = join(FIXTURES, 'pairs');
const CELEBA = resolve(FIXTURES, '../../../../../shared/data/celeba-sample');

const psic = (...args: string[]) => runCli(args, { PSIC_BACKEND: 'wasm', PSIC_RUNTIME: 'tfjs' });

describe('psic eval-machine', () => {
  it('scores every decode of one bitstream on detection, faces and zero-shot, per data set', async () => {
    const r = await psic('eval-machine', '--data', `${PAIRS},${CELEBA}`, '--limit', '2', '--model', MODEL, '--key-file', KEY, '--tasks', 'detection,faces,zero-shot', '--face-models', 'face-api', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ model: 'psic-tiny', modes: ['protected', 'full'] });
    const [cifar, celeba] = out.datasets;
    expect(cifar).toMatchObject({ layout: 'class-folders', images: 2, target: 'random', detector: 'centernet' });
    expect(cifar.rows.map((x: { variant: string }) => x.variant)).toEqual(['original', 'plain', 'protected', 'full']);
    for (const x of cifar.rows) expect(x.zeroShot).toBeGreaterThanOrEqual(0); // the model's own target, from its sidecar
    expect(celeba).toMatchObject({ layout: 'celeba', faceModels: ['face-api'], pseudoTruth: { minScore: 0.2 } });
    expect(celeba.pseudoTruth.boxes).toBeGreaterThan(0);
    expect(new Set(celeba.rows.slice(1).map((x: { bpp: number }) => x.bpp)).size).toBe(1);
    for (const x of celeba.rows.slice(1)) {
      expect(x.detection).toBeGreaterThanOrEqual(0);
      expect(x.faces['face-api'].attributes).toEqual({ Male: expect.any(Number), Young: expect.any(Number), Smiling: expect.any(Number) });
    }
    expect(celeba.notes.join('\n')).toMatch(/zero-shot: .* has no class labels/);
  }, 60_000);

  it('prints a Markdown table; unknown modes and tasks are usage errors', async () => {
    const [md, mode, tasks] = await Promise.all([
      psic('eval-machine', '--data', PAIRS, '--limit', '1', '--model', MODEL, '--tasks', 'zero-shot', '--markdown'),
      psic('eval-machine', '--data', PAIRS, '--model', MODEL, '--modes', 'machine'),
      psic('eval-machine', '--data', PAIRS, '--model', MODEL, '--tasks', 'segmentation'),
    ]);
    expect(md.code, md.stderr).toBe(0);
    expect(md.stdout).toMatch(/^\| decode \| images \| bpp \| psnr \| zero-shot top1 \|$/m);
    expect(md.stdout).toMatch(/^\| protected \| 1 \| /m);
    expect(mode.code).toBe(2);
    expect(mode.stderr).toMatch(/no mode "machine"/);
    expect(tasks.code).toBe(2);
    expect(tasks.stderr).toMatch(/--tasks takes detection, faces, classify, zero-shot/);
  }, 60_000);
});
