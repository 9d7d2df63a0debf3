/**
 * `psic clip` on the tiny golden CLIP: two images written as PNG from the
 * fixture's raw pixels, the fixture's texts; the printed logits must equal
 * logit_scale x cosine of the golden embeddings OpenAI computed (1e-4).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { clipCommand } from '../src/commands/clip.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const fixtures = path.resolve(repoRoot, '../shared/fixtures/clip-golden');
const weights = path.join(fixtures, 'tiny-clip.safetensors');
const config = path.join(fixtures, 'config.json');
const golden = JSON.parse(readFileSync(path.join(fixtures, 'golden.json'), 'utf8')) as {
  logit_scale_exp: number;
  texts: { text: string; text_embedding: number[] }[];
  preprocess: { cases: { name: string; width: number; height: number; pixels_rgb_u8: number[]; image_embedding: number[] }[] };
};

let dir: string;
const pngs: string[] = [];

beforeAll(async () => {
  process.env.PSIC_BACKEND = 'cpu';
  dir = mkdtempSync(path.join(tmpdir(), 'psic-clip-'));
  for (const c of golden.preprocess.cases) {
    const file = path.join(dir, `${c.name}.png`);
    await sharp(Buffer.from(c.pixels_rgb_u8), { raw: { width: c.width, height: c.height, channels: 3 } }).png().toFile(file);
    pngs.push(file);
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

/** Runs the command in-process and returns what it printed. */
async function psicClip(args: string[]): Promise<string> {
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  await clipCommand(args);
  return out;
}

function cosine(a: number[], b: number[]): number {
  const dot = a.reduce((s, v, i) => s + v * b[i]!, 0);
  return dot / Math.sqrt(a.reduce((s, v) => s + v * v, 0) * b.reduce((s, v) => s + v * v, 0));
}

describe('psic clip', () => {
  const texts = golden.texts.slice(0, 4);
  const args = (): string[] => ['--weights', weights, '--config', config, ...pngs.flatMap((p) => ['--image', p]), ...texts.flatMap((t) => ['--text', t.text])];

  it('--json gives OpenAI logits and softmax probabilities', async () => {
    const r = JSON.parse(await psicClip([...args(), '--json'])) as { images: string[]; texts: string[]; logit_scale: number; logits: number[][]; probs: number[][] };
    expect(r.images).toEqual(pngs);
    expect(r.texts).toEqual(texts.map((t) => t.text));
    expect(r.logit_scale).toBeCloseTo(golden.logit_scale_exp, 5);
    golden.preprocess.cases.forEach((c, i) => {
      texts.forEach((t, j) => {
        expect(Math.abs(r.logits[i]![j]! - golden.logit_scale_exp * cosine(c.image_embedding, t.text_embedding))).toBeLessThanOrEqual(1e-4);
      });
      const e = r.logits[i]!.map((l) => Math.exp(l));
      const z = e.reduce((a, b) => a + b, 0);
      r.probs[i]!.forEach((p, j) => expect(p).toBeCloseTo(e[j]! / z, 5));
    });
  });

  it('prints a table per image for people', async () => {
    const out = await psicClip(args());
    for (const p of pngs) expect(out).toContain(p);
    expect(out).toMatch(/text\s+logit\s+prob/);
    expect(out).toContain('a photo of a cat');
  });

  it('usage errors and missing files are typed errors', async () => {
    await expect(psicClip(['--image', pngs[0]!, '--text', 'x'])).rejects.toMatchObject({ code: 'USAGE' });
    await expect(psicClip(['--weights', weights, '--text', 'x'])).rejects.toMatchObject({ code: 'USAGE' });
    await expect(psicClip(['--weights', path.join(dir, 'none.safetensors'), '--image', pngs[0]!, '--text', 'x'])).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(psicClip(['--weights', weights, '--image', path.join(dir, 'none.png'), '--text', 'x'])).rejects.toMatchObject({ code: 'BAD_IMAGE' });
  });
});
