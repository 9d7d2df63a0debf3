/**
 * `psic eval` end to end: real files, real bytes. bpp is the file size over
 * the pixels, learned models form rate-distortion curves by architecture, and
 * each curve with two points gets a BD-rate against the anchor's.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const KODAK = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../../shared/data/photos');
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'psic-eval-'));
  mkdirSync(join(dir, 'photos'));
  await sharp(join(KODAK, 'kodim23.png')).extract({ left: 300, top: 150, width: 136, height: 100 }).png().toFile(join(dir, 'photos', 'a.png'));
  await sharp(join(KODAK, 'kodim05.png')).extract({ left: 100, top: 100, width: 96, height: 96 }).png().toFile(join(dir, 'photos', 'b.png'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('psic eval', () => {
  it('reports real-file bpp per image and mean, curves by architecture, and BD-rate against the anchor', { timeout: 120_000 }, async () => {
    const r = await runCli(['eval', '--data', join(dir, 'photos'), '-m', 'hyperprior-q1,hyperprior-q2', '--compare', 'jpeg', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    for (const row of out.images) expect(row.bpp).toBeCloseTo((row.bytes * 8) / (row.image === 'a.png' ? 136 * 100 : 96 * 96), 10);
    expect(out.summary.map((s: { codec: string }) => s.codec)).toEqual(['hyperprior-q1', 'jpeg@hyperprior-q1', 'hyperprior-q2', 'jpeg@hyperprior-q2']);
    const curve = out.curves['bmshj2018-hyperprior'];
    expect(curve.map((p: { codec: string }) => p.codec)).toEqual(['hyperprior-q1', 'hyperprior-q2']);
    expect(curve[1].psnr).toBeGreaterThan(curve[0].psnr);
    expect(out.curves.jpeg).toHaveLength(2);
    expect(out.bdRate).toHaveLength(1);
    expect(out.bdRate[0]).toMatchObject({ curve: 'jpeg', points: 2 });
    expect(Number.isFinite(out.bdRate[0].bdRate) || out.bdRate[0].note.length > 0).toBe(true);

    const bad = await runCli(['eval', '--data', join(dir, 'photos'), '-m', 'hyperprior-q1', '--anchor', 'nope', '--limit', '1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--anchor nope: no such curve; curves are bmshj2018-hyperprior/);
  });
});
