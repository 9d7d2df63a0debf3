/** The README's usage example must run as written (against the built package). */
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { readmeExample, runExample } from '../../../tools/test-support/readme-example.js';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

it('README example runs', () => {
  expect(runExample(PACKAGE_DIR, readmeExample(PACKAGE_DIR).code)).toContain("4 [ 'joint', 'decoder' ]");
});
