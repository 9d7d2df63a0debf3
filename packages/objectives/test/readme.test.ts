/** The README's usage example must run as written (against the built package). */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('README example runs', () => {
  const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
  const code = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code, 'README has a js example').toBeTruthy();
  // run beside the package so '@psic/objectives' resolves through the workspace
  const dir = mkdtempSync(join(fileURLToPath(new URL('..', import.meta.url)), '.readme-'));
  try {
    const file = join(dir, 'example.mjs');
    writeFileSync(file, code!);
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    delete env.FORCE_COLOR;
    const out = execFileSync(process.execPath, [file], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'ignore'] });
    expect(out).toMatch(/^6\.766\d* \[ true, true, false, false \] \[ 2, 2, 1, 1 \]/);
    expect(out).toContain('\n13\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
