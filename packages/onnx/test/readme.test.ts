/** The README's usage example must run as written (against the built package). */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('README example runs and its graph matches tfjs', () => {
  const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
  const code = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code, 'README has a js example').toBeTruthy();
  // run beside the package so '@psic/onnx' resolves through the workspace
  const dir = mkdtempSync(join(fileURLToPath(new URL('..', import.meta.url)), '.readme-'));
  try {
    const file = join(dir, 'example.mjs');
    writeFileSync(file, code!);
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    delete env.FORCE_COLOR; // vitest forces colours, which would reach console.log's output
    const out = execFileSync(process.execPath, [file], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'ignore'] });
    expect(out).toContain('y [ 1, 8, 8, 8 ] matches tfjs: true');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
