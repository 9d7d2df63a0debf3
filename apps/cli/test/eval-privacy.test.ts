/**
 * `psic eval-privacy` through the built binary, on the tiny shipped PSIC
 * model and its four CIFAR pictures (packages/cltg/test/fixtures), against
 * the 'random' target the model was trained with and the tiny golden CLIP.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const FIXTURES = fileURLToPath(new URL('../../../packages/cltg/test/fixtures/', import.meta.url));
const MODEL = join(FIXTURES, 'psic-tiny.safetensors');
const KEY = join(FIXTURES, 'psic-tiny.key');
const PAIRS = join(FIXTURES, 'pairs');
const CLIP = resolve(FIXTURES, '../../../../../shared/fixtures/clip-golden');

const psic = (...args: string[]) => runCli(args, { PSIC_BACKEND: 'cpu', PSIC_RUNTIME: 'tfjs' });

const base = ['eval-privacy', '--data', PAIRS, '--model', MODEL];

describe('psic eval-privacy', () => {
  it('prints plain / full / protected figures and the ASR as one JSON object', async () => {
    const r = await psic(...base, '--target', 'random', '--key-file', KEY, '--jpeg', '85', '--resize', '0.5', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ model: 'psic-tiny', target: 'random', layout: 'class-folders', images: 4, classify: 'zero-shot', templates: 18 });
    expect(out.rows.map((x: { variant: string }) => x.variant)).toEqual(['original', 'plain', 'full', 'protected', 'full+jpeg85', 'protected+jpeg85', 'full+x0.5', 'protected+x0.5']);
    const coded = out.rows.slice(1);
    expect(new Set(coded.map((x: { bpp: number }) => x.bpp)).size).toBe(1); // one bitstream
    expect(coded[0].bpp).toBeGreaterThan(0.05);
    for (const x of out.rows) for (const k of ['top1', 'i2t', 't2i']) expect(x[k]).toBeGreaterThanOrEqual(0);
    const psnr = (v: string) => out.rows.find((x: { variant: string }) => x.variant === v).psnr;
    expect(psnr('full')).toBeGreaterThan(psnr('protected'));
    expect(out.asr.map((a: { variant: string; reference: string }) => `${a.variant}/${a.reference}`)).toEqual([
      'protected/full',
      'protected/plain',
      'protected+jpeg85/full',
      'protected+jpeg85/plain',
      'protected+jpeg85/full+jpeg85',
      'full+jpeg85/full',
      'protected+x0.5/full',
      'protected+x0.5/plain',
      'protected+x0.5/full+x0.5',
      'full+x0.5/full',
    ]);
    for (const a of out.asr) expect(a.top1.fooled).toBeLessThanOrEqual(a.top1.eligible);
  }, 60_000);

  it('prints Markdown tables for a README, here against a (tiny, random) CLIP', async () => {
    const options = JSON.stringify({ weights: join(CLIP, 'tiny-clip.safetensors'), config: join(CLIP, 'config.json') });
    const r = await psic(...base, '--target', 'clip', '--target-options', options, '--limit', '2', '--templates', 'held-out', '--markdown');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\| decode \| images \| bpp \| psnr \| top1 \| R@1 i2t \| R@1 t2i \|$/m);
    expect(r.stdout).toMatch(/^\| protected \| 2 \| /m);
    expect(r.stdout).toMatch(/^\| protected \| plain \| /m);
    expect(r.stdout).not.toMatch(/^\| full /m); // no key, no full decode
    expect(r.stdout).toMatch(/no --key-file/);
  }, 60_000);

  it('refuses a missing target, a plain model, an unknown target and unknown tasks', async () => {
    const [noTarget, plainModel, unknown, tasks] = await Promise.all([
      psic(...base),
      psic('eval-privacy', '--data', PAIRS, '--model', 'hyperprior-q1', '--target', 'random'),
      psic(...base, '--target', 'no-such-target'),
      psic(...base, '--target', 'random', '--tasks', 'classify,juggling'),
    ]);
    expect(noTarget.code).toBe(2);
    expect(noTarget.stderr).toMatch(/--target NAME is required/);
    expect(plainModel.code).toBe(2);
    expect(plainModel.stderr).toMatch(/one decoding only/);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/UNKNOWN_NAME.*no-such-target/);
    expect(tasks.code).toBe(2);
    expect(tasks.stderr).toMatch(/--tasks takes classify, retrieval, attributes/);
  }, 60_000);
});
