/** The README's usage example must run as written (against the built package). */
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { readmeExample, runExample } from '../../../tools/test-support/readme-example.js';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

it('README example runs and round-trips', () => {
  const { code } = readmeExample(PACKAGE_DIR);
  expect(code.trim().split('\n').length).toBeLessThanOrEqual(10);
  expect(runExample(PACKAGE_DIR, code)).toContain('[ 0, -1, 3, 7, 1000 ]');
});
