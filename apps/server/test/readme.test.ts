/** The README's usage example runs as written against the built package (dist/). */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { SERVER_ROOT } from './helpers.js';

it('README example encodes and decodes a photo', async () => {
  const readme = readFileSync(join(SERVER_ROOT, 'README.md'), 'utf8');
  const code = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code, 'README has a js example').toBeTruthy();
  // beside the package, so '@psic/server' and the relative photo path resolve as in the README
  const dir = mkdtempSync(join(SERVER_ROOT, '.readme-'));
  try {
    writeFileSync(join(dir, 'example.mjs'), code!);
    const { stdout } = await promisify(execFile)(process.execPath, [join(dir, 'example.mjs')], { cwd: SERVER_ROOT, env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' }, timeout: 90_000 });
    expect(stdout.trim()).toMatch(/^200 0\.\d{4} 200 plain image\/png$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
