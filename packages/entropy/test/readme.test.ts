/** The README's usage example must run as written (against the built package). */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('README example runs and round-trips', () => {
  const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
  const code = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code, 'README has a js example').toBeTruthy();
  expect(code!.trim().split('\n').length).toBeLessThanOrEqual(10);
  // run beside the package so '@psic/entropy' resolves through the workspace
  const dir = mkdtempSync(join(fileURLToPath(new URL('..', import.meta.url)), '.readme-'));
  try {
    const file = join(dir, 'example.mjs');
    writeFileSync(file, code!);
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    delete env.FORCE_COLOR; // vitest forces colours, which would reach console.log's output
    const out = execFileSync(process.execPath, [file], { encoding: 'utf8', env });
    expect(out).toContain('[ 0, -1, 3, 7, 1000 ]');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
