/** The README's CLIP example must run as written (against the built package), from the repository root. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

it('README CLIP example runs and prints what it says', () => {
  const readme = readFileSync(path.join(pkgDir, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## CLIP'));
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  expect(code, 'README has a js example in its CLIP section').toBeTruthy();
  const promised = /prints `([^`]*)`/.exec(section)?.[1];
  // Beside the package so '@psic/vlp' resolves through the workspace; cwd = repository root for the relative fixture path.
  const dir = mkdtempSync(path.join(pkgDir, '.readme-'));
  try {
    const file = path.join(dir, 'example.mjs');
    writeFileSync(file, code!);
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', PSIC_BACKEND: 'cpu' };
    delete env.FORCE_COLOR;
    const out = execFileSync(process.execPath, [file], { encoding: 'utf8', env, cwd: path.resolve(pkgDir, '../..') });
    expect(out.startsWith(promised!)).toBe(true);
    const logits = JSON.parse(out.slice(promised!.length).trim()) as number[][];
    expect(logits[0]).toHaveLength(2);
    for (const l of logits[0]!) expect(Math.abs(l)).toBeLessThanOrEqual(14.3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
