/** The README's CLIP example must run as written (against the built package), from the repository root. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { readmeExample, runExample } from '../../../tools/test-support/readme-example.js';

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

it('README CLIP example runs and prints what it says', () => {
  const { code, text } = readmeExample(pkgDir, '## CLIP');
  const promised = /prints `([^`]*)`/.exec(text)?.[1];
  // cwd = repository root for the example's relative fixture path
  const out = runExample(pkgDir, code, { env: { PSIC_BACKEND: 'cpu' }, cwd: path.resolve(pkgDir, '../..') });
  expect(out.startsWith(promised!)).toBe(true);
  const logits = JSON.parse(out.slice(promised!.length).trim()) as number[][];
  expect(logits[0]).toHaveLength(2);
  for (const l of logits[0]!) expect(Math.abs(l)).toBeLessThanOrEqual(14.3);
});
