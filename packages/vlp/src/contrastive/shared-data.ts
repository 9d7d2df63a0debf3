/**
 * Locating the project's shared data folder (`../shared` beside the
 * checkout) from wherever the code runs: this module's folder (source or
 * built package) or the working directory, walking up.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The first existing `<ancestor>/../shared/<relative>`, else the first candidate (for the error message). */
export function findSharedFile(relative: string): string {
  const starts = [dirname(fileURLToPath(import.meta.url)), process.cwd()];
  const candidates = starts.flatMap((s) => [...ancestors(s)].map((d) => join(d, '..', 'shared', relative)));
  return candidates.find((p) => existsSync(p)) ?? candidates[0]!;
}

function* ancestors(dir: string): Generator<string> {
  let d = resolve(dir);
  for (;;) {
    yield d;
    const parent = dirname(d);
    if (parent === d) return;
    d = parent;
  }
}
