/**
 * The README example tests every package runs: take the first ```js block of
 * a package's README (or of one section of it), run it with node from a
 * temporary folder inside the package (so `@psic/...` resolves through the
 * workspace as it would for a user), and return what it printed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The first ```js block of `packageDir`/README.md, from `section` (a heading) on when given; throws when there is none. */
export function readmeExample(packageDir: string, section?: string): { code: string; text: string } {
  const readme = readFileSync(join(packageDir, 'README.md'), 'utf8');
  const text = section === undefined ? readme : readme.slice(readme.indexOf(section));
  const code = /```js\n([\s\S]*?)```/.exec(text)?.[1];
  if (!code) throw new Error(`${packageDir}/README.md has no js example${section ? ` in its ${section} section` : ''}`);
  return { code, text };
}

/**
 * Run `code` as an ES module from a temporary folder in `packageDir` and
 * return its stdout. Children print without colours (vitest forces them);
 * a failing example throws with its stderr.
 */
export function runExample(packageDir: string, code: string, opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): string {
  const dir = mkdtempSync(join(packageDir, '.readme-'));
  try {
    const file = join(dir, 'example.mjs');
    writeFileSync(file, code);
    return execFileSync(process.execPath, [file], {
      encoding: 'utf8',
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', ...opts.env },
      cwd: opts.cwd,
      timeout: opts.timeoutMs,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
