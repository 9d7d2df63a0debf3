/**
 * `psic train` survives kill -9: the checkpoint is replaced atomically, so a
 * run killed at any moment resumes from its last checkpoint, and the exported
 * model then encodes.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { demoImage } from '../src/demo-image.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
let dir: string;
let data: string;

/** Run the CLI; `killWhen` is polled every 20 ms and SIGKILLs the process once it returns true. */
function psic(args: string[], killWhen?: () => boolean): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, PSIC_BACKEND: 'cpu' } });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const poll = killWhen && setInterval(() => killWhen() && child.kill('SIGKILL'), 20);
    child.on('close', (code, signal) => {
      if (poll) clearInterval(poll);
      resolve({ code, signal, stderr });
    });
  });
}

function steps(log: string): number[] {
  return readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'step').map((r) => r.step);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'psic-train-'));
  data = join(dir, 'data');
  mkdirSync(data);
  for (const [i, size] of [[0, 96], [1, 112], [2, 80]] as const) {
    const img = demoImage(size + 16, size);
    await sharp(Buffer.from(img.data.map((v) => Math.round(v * 255))), { raw: { width: size + 16, height: size, channels: 3 } }).png().toFile(join(data, `img${i}.png`));
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('resumes after kill -9 and exports a model that encodes', async () => {
  const out = join(dir, 'run');
  const args = ['train', '--data', data, '--out', out, '--N', '8', '--M', '12', '--batch', '2', '--crop', '64', '--checkpoint-every', '2', '--steps', '400'];
  // kill it hard once a few checkpoints exist
  const killed = await psic(args, () => existsSync(join(out, 'train.jsonl')) && steps(join(out, 'train.jsonl')).length >= 7);
  expect(killed.signal).toBe('SIGKILL');
  const before = steps(join(out, 'train.jsonl'));
  expect(existsSync(join(out, 'checkpoint.safetensors'))).toBe(true);

  const resumed = await psic([...args.slice(0, -1), '12', '--resume']);
  expect(resumed.code, resumed.stderr).toBe(0);
  const m = /resumed from .* at step (\d+)/.exec(resumed.stderr);
  expect(m, resumed.stderr).not.toBeNull();
  const resumedAt = Number(m![1]);
  expect(resumedAt % 2).toBe(0); // a checkpoint step
  expect(resumedAt).toBeGreaterThanOrEqual(Math.max(...before) - 2);
  const after = steps(join(out, 'train.jsonl')).slice(before.length);
  expect(after[0]).toBe(resumedAt + 1);
  expect(after[after.length - 1]).toBe(12);
  expect(readdirSync(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);

  const sidecar = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
  expect(sidecar).toMatchObject({ architecture: 'bmshj2018-hyperprior', config: { N: 8, M: 12 }, steps: 12 });
  const enc = await psic(['encode', join(data, 'img0.png'), join(dir, 'x.psic'), '--model', join(out, 'model.safetensors')]);
  expect(enc.code, enc.stderr).toBe(0);
});
